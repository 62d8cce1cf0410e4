"""Uppy's S3 protocol (the routes ``@uppy/aws-s3`` calls on a Companion endpoint), served on the job API."""
