"""The REST API (DRF): the video-jobs viewset, request and response serializers (and the schema of a job's
``result``), the OpenAPI declarations, the error body and its one exception handler, the request parsers,
pagination, throttling, the URLs under ``/api/`` with its index, and the fallbacks there (JSON 400/404/500
pages, every route with or without its trailing slash). It validates and translates; every state change is
a call into ``services``.
"""
