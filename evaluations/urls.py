"""Annotation pages, mounted at /app/ (the JSON API keeps the root paths)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from pandaprobe.projects.throttling import login_throttled

from .views import pages as views

urlpatterns = [
    path(
        "login/", login_throttled(auth_views.LoginView.as_view(redirect_authenticated_user=True)), name="login"
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/switch/", views.project_switch, name="project-switch"),
    path("traces/", views.trace_list, name="trace-list"),
    path("traces/<uuid:trace_id>/", views.trace_detail, name="trace-detail"),
    path("traces/<uuid:trace_id>/score/", views.trace_score, name="trace-score"),
    path("sessions/", views.session_list, name="session-list"),
    # `path`, not `str`: a session id may hold "/". The score URL comes first so it is not read
    # as part of a session id.
    path("sessions/<path:session_id>/score/", views.session_score, name="session-score"),
    path("sessions/<path:session_id>/", views.session_detail, name="session-detail"),
]

# Review queues (part B of issue 4).
from .views import queues as queue_views  # noqa: E402

urlpatterns += [
    path("queues/", queue_views.queue_list, name="queue-list"),
    path("queues/new/", queue_views.queue_create, name="queue-create"),
    path("queues/<uuid:queue_id>/", queue_views.queue_detail, name="queue-detail"),
    path("queues/<uuid:queue_id>/work/", queue_views.queue_work, name="queue-work"),
]
