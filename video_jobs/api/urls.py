from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .views import VideoJobViewSet
from .webhooks.views import WebhookEndpointViewSet

router = SimpleRouter()
router.register("video-jobs", VideoJobViewSet, basename="video-job")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path(
        "video-jobs/<str:pk>/artifacts/<str:name>",
        VideoJobViewSet.as_view({"get": "artifact"}, detail=True, basename="video-job"),
        name="video-job-artifact",
    ),
    path("uppy/", include("video_jobs.uppy.urls")),
    *router.urls,
]
