from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from video_jobs.ops_views import live_view, metrics_view, ready_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("video_jobs.urls")),
    path("app/", include("video_jobs.app.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Reference pages for the schema, with their scripts from our own static files (no CDN).
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", ready_view, name="healthz"),
    path("healthz/live", live_view, name="healthz-live"),
    path("healthz/ready", ready_view, name="healthz-ready"),
]
