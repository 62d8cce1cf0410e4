"""The REST API (DRF): the video-jobs viewset, request and response serializers (and the schema of a job's
``result``), the OpenAPI declarations, the error body and its one exception handler, pagination, throttling,
and the URLs under ``/api/``. It validates and translates; every state change is a call into ``services``.
"""
