from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "coach"

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="video_jobs/app/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="coach:login"), name="logout"),
]
