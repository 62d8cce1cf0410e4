from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from ..webhooks.views import WebhookEndpointViewSet
from .index import ApiIndex
from .openapi import SWAGGER
from .views import VideoJobViewSet

router = SimpleRouter()
router.register("video-jobs", VideoJobViewSet, basename="video-job")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path("", ApiIndex.as_view(), name="api-index"),
    path(
        "video-jobs/<str:pk>/artifacts/<str:name>",
        VideoJobViewSet.as_view({"get": "artifact"}, detail=True, basename="video-job"),
        name="video-job-artifact",
    ),
    path("uppy/", include("video_jobs.uppy.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Reference pages for the schema, with their scripts from our own static files (no CDN).
    # Swagger UI reads the schema with the token as its one scheme (one box in Authorize: openapi.SWAGGER).
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url=f"{settings.FORCE_SCRIPT_NAME or ''}/api/schema/?for={SWAGGER}"),
        name="api-docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    *router.urls,
]
