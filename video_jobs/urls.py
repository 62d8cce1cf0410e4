from rest_framework.routers import SimpleRouter

from .views import VideoJobViewSet

router = SimpleRouter()
router.register("video-jobs", VideoJobViewSet, basename="video-job")

urlpatterns = router.urls
