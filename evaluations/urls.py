"""Annotation pages, mounted at /app/ (the JSON API keeps the root paths)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from pandaprobe.projects.throttling import login_throttled

from .views import explorer as explorer_views
from .views import pages as views

urlpatterns = [
    path(
        "login/",
        login_throttled(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/switch/", views.project_switch, name="project-switch"),
    path("traces/", views.trace_list, name="trace-list"),
    path("traces/selection/", explorer_views.trace_selection, name="trace-selection"),
    path("traces/<uuid:trace_id>/", views.trace_detail, name="trace-detail"),
    path("traces/<uuid:trace_id>/score/", views.trace_score, name="trace-score"),
    path("traces/<uuid:trace_id>/spans/<uuid:span_id>/", views.trace_span, name="trace-span"),
    path(
        "traces/<uuid:trace_id>/scores/<uuid:score_id>/delete/",
        views.trace_score_remove,
        name="trace-score-delete",
    ),
    path("sessions/", views.session_list, name="session-list"),
    # A session id may hold "/" (links send it as %2F, which the server decodes before routing:
    # evaluations/links.py). So nothing may follow the id: a `.../score/` route would also match the
    # page of a session whose id ends in "/score". The page's scoring form posts to the page.
    path("sessions/<session_page:session_id>/", views.session_detail, name="session-detail"),
]

# Review queues (part B of issue 4).
from .views import queues as queue_views  # noqa: E402

urlpatterns += [
    path("queues/", queue_views.queue_list, name="queue-list"),
    path("queues/new/", queue_views.queue_create, name="queue-create"),
    path("queues/<uuid:queue_id>/", queue_views.queue_detail, name="queue-detail"),
    path("queues/<uuid:queue_id>/edit/", queue_views.queue_edit, name="queue-edit"),
    path("queues/<uuid:queue_id>/archive/", queue_views.queue_archive, name="queue-archive"),
    path("queues/<uuid:queue_id>/work/", queue_views.queue_work, name="queue-work"),
    path("queues/<uuid:queue_id>/skip/", queue_views.queue_skip, name="queue-skip"),
]

# Evaluation runs (part of issue 9).
from .views import runs as run_views  # noqa: E402

urlpatterns += [
    path("runs/", run_views.run_list, name="run-list"),
    path("runs/new/", run_views.run_create, name="run-create"),
    path("runs/<uuid:run_id>/", run_views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/progress", run_views.run_progress_json, name="run-progress"),
    path("runs/<uuid:run_id>/retry/", run_views.run_retry, name="run-retry"),
    path("runs/<uuid:run_id>/cancel/", run_views.run_cancel, name="run-cancel"),
    path("runs/<uuid:run_id>/delete/", run_views.run_delete, name="run-delete"),
]
