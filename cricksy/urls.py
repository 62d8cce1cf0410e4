from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("video_jobs.api.urls")),
    path("app/", include("video_jobs.app.urls")),
    path("", include("video_jobs.ops.urls")),
]
