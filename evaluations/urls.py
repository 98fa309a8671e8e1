"""Annotation pages. Sign-in and the project switcher are mounted at /app/; every other page is a
project's, under /app/p/<project id>/ (`project_urlpatterns`, wrapped in `project_page`: see
pandaprobe/urls.py). The old project-less paths redirect there. The JSON API keeps the root paths."""

from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from pandaprobe.projects.access import project_page
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
    # Bookmarks of the pages from before they named their project: the same page of the current one.
    # (A session id may hold a line break: `[\s\S]`, not `.`.)
    re_path(r"^(?P<rest>(?:traces|sessions|queues|runs|analytics)/[\s\S]*)$", views.moved_page),
]

project_urlpatterns = [
    path("", project_page(views.project_home), name="project-home"),
    path("traces/", project_page(views.trace_list), name="trace-list"),
    path("traces/selection/", project_page(explorer_views.trace_selection), name="trace-selection"),
    path("traces/<uuid:trace_id>/", project_page(views.trace_detail), name="trace-detail"),
    path("traces/<uuid:trace_id>/score/", project_page(views.trace_score), name="trace-score"),
    # A span's body, fetched by static/js/trace.js from the trace page: not a page of its own.
    path(
        "traces/<uuid:trace_id>/spans/<uuid:span_id>/",
        project_page(views.trace_span, make_current=False),
        name="trace-span",
    ),
    path(
        "traces/<uuid:trace_id>/scores/<uuid:score_id>/delete/",
        project_page(views.trace_score_remove),
        name="trace-score-delete",
    ),
    path("sessions/", project_page(views.session_list), name="session-list"),
    # A session id may hold "/" (links send it as %2F, which the server decodes before routing:
    # evaluations/links.py). So nothing may follow the id: a `.../score/` route would also match the
    # page of a session whose id ends in "/score". The page's scoring form posts to the page.
    path("sessions/<session_page:session_id>/", project_page(views.session_detail), name="session-detail"),
]

# Review queues (part B of issue 4).
from .views import queues as queue_views  # noqa: E402

project_urlpatterns += [
    path("queues/", project_page(queue_views.queue_list), name="queue-list"),
    path("queues/new/", project_page(queue_views.queue_create), name="queue-create"),
    path("queues/<uuid:queue_id>/", project_page(queue_views.queue_detail), name="queue-detail"),
    path("queues/<uuid:queue_id>/edit/", project_page(queue_views.queue_edit), name="queue-edit"),
    path("queues/<uuid:queue_id>/archive/", project_page(queue_views.queue_archive), name="queue-archive"),
    path("queues/<uuid:queue_id>/work/", project_page(queue_views.queue_work), name="queue-work"),
    path("queues/<uuid:queue_id>/skip/", project_page(queue_views.queue_skip), name="queue-skip"),
]

# Evaluation runs (part of issue 9).
from .views import runs as run_views  # noqa: E402

project_urlpatterns += [
    path("runs/", project_page(run_views.run_list), name="run-list"),
    path("runs/new/", project_page(run_views.run_create), name="run-create"),
    path("runs/<uuid:run_id>/", project_page(run_views.run_detail), name="run-detail"),
    path(
        "runs/<uuid:run_id>/progress",
        project_page(run_views.run_progress_json, make_current=False),
        name="run-progress",
    ),
    path("runs/<uuid:run_id>/retry/", project_page(run_views.run_retry), name="run-retry"),
    path("runs/<uuid:run_id>/cancel/", project_page(run_views.run_cancel), name="run-cancel"),
    path("runs/<uuid:run_id>/delete/", project_page(run_views.run_delete), name="run-delete"),
]
