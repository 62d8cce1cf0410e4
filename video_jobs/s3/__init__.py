"""Everything that talks to S3: classified object calls (``storage``: HeadObject, downloads, artifacts,
deletion, listing), the bucket's creation and its CORS and lifecycle rules (``bucket_setup``), presigned URLs
(``presign``), multipart calls and the part plan (``multipart``), the artifacts a job offers
(``artifacts``), and the development stores: SeaweedFS, the embedded S3 of ``make run`` and of the tests' S3
proofs (``seaweedfs``), and moto's lenient server (``embedded``). The only package that reads botocore
errors; it imports ``models`` and ``refusals`` at most, never services or the API.
"""
