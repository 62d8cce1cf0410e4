from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# Under /api/ Django's error pages are the API's JSON error body; elsewhere they stay Django's.
handler400 = "video_jobs.api.fallbacks.bad_request"
handler404 = "video_jobs.api.fallbacks.not_found"
handler500 = "video_jobs.api.fallbacks.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("video_jobs.api.urls")),
    path("app/", include("video_jobs.app.urls")),
    path("", RedirectView.as_view(pattern_name="coach:home"), name="root"),
    path("", include("video_jobs.ops.urls")),
]
