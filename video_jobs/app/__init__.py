"""The coaches' web app: upload videos with Uppy straight to S3, follow their jobs, see each analysis.

Plain Django views and templates over the REST API: the pages render what the server knows at request
time and the page's scripts (``static/video_jobs/app/``) keep it current through ``/api/video-jobs/``.
"""
