from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from video_jobs.ops_views import live_view, metrics_view, ready_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("video_jobs.urls")),
    path("app/", include("video_jobs.app.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", ready_view, name="healthz"),
    path("healthz/live", live_view, name="healthz-live"),
    path("healthz/ready", ready_view, name="healthz-ready"),
]
