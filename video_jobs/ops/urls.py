from django.urls import path

from .views import live_view, metrics_view, ready_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("healthz", ready_view, name="healthz"),
    path("healthz/live", live_view, name="healthz-live"),
    path("healthz/ready", ready_view, name="healthz-ready"),
]
