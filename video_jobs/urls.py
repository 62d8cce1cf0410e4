from rest_framework.routers import SimpleRouter

from .views import VideoJobViewSet
from .webhooks.views import WebhookEndpointViewSet

router = SimpleRouter()
router.register("video-jobs", VideoJobViewSet, basename="video-job")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = router.urls
