"""Uppy's S3 protocol (the routes ``@uppy/aws-s3`` calls on a Companion endpoint), served on the job API: the
views and their shapes, the path token that is their credential (``tokens``) and its redaction from logs
(``redaction``)."""
