"""Everything that talks to S3: classified object calls (``storage``: HeadObject, downloads, artifacts, the
bucket), presigned URLs (``presign``), multipart calls and the part plan (``multipart``), the artifacts a job
offers (``artifacts``) and the embedded development store (``embedded``). The only package that reads
botocore errors; it imports ``models`` and ``refusals`` at most, never services or the API.
"""
