"""``/api/``: where a newcomer lands, the API's docs and its main collections as links."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# Route names, by the name the index gives each.
LINKS = {
    "docs": "api-docs",
    "redoc": "api-redoc",
    "schema": "schema",
    "video_jobs": "video-job-list",
    "webhook_endpoints": "webhook-endpoint-list",
    "uppy_endpoint": "uppy:endpoint",
    "coaches_page": "coach:home",
}


class ApiIndex(APIView):
    """Links, open to anyone: the collections themselves still ask for a token."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {name: request.build_absolute_uri(reverse(route)) for name, route in LINKS.items()}
        return Response({**links, "guide": "Start with the docs: initiate, PUT, upload-complete, follow."})
