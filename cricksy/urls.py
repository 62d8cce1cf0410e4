from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from video_jobs.ops_views import healthz_view, metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("video_jobs.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz_view, name="healthz"),
]
