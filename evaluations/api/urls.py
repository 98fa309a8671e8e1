from django.urls import path

from . import configs, runs, session_runs, session_scores, views


def run_routes(prefix: str, views: dict, template=None) -> list:
    """One kind's run routes (`trace-runs`, `session-runs`), named `<prefix>`, `<prefix>-detail`..."""
    fixed = [path(f"{prefix}/template", template.as_view(), name=f"{prefix}-template")] if template else []
    return [
        path(prefix, views["collection"].as_view(), name=prefix),
        # Before the {run_id} patterns.
        *fixed,
        path(f"{prefix}/batch", views["batch"].as_view(), name=f"{prefix}-batch"),
        *(path(f"{prefix}/<api_uuid:run_id>{suffix}", views[view].as_view(), name=f"{prefix}-{view}")
          for suffix, view in (("", "detail"), ("/retry", "retry"), ("/cancel", "cancel"), ("/scores", "scores"))),
    ]  # fmt: skip

urlpatterns = [
    path("trace-metrics", runs.TraceMetricsView.as_view(), name="trace-metrics"),
    path("providers", runs.ProvidersView.as_view(), name="providers"),
    *run_routes("trace-runs", runs.TRACE_RUN_VIEWS, template=runs.TraceRunTemplateView),
    path("session-metrics", session_runs.SessionMetricsView.as_view(), name="session-metrics"),
    *run_routes("session-runs", session_runs.SESSION_RUN_VIEWS),
    path("trace-scores", views.TraceScoreCollectionView.as_view(), name="trace-scores"),
    # Before the {id} patterns, or "export" would be read as an id.
    path("trace-scores/export", views.TraceScoreExportView.as_view(), name="trace-scores-export"),
    # GET takes a trace id; PATCH/DELETE on the same URL take a score id and are dispatched by method.
    path(
        "trace-scores/<api_uuid:trace_id>",
        views.TraceScoresForTraceView.as_view(),
        name="trace-scores-for-trace",
    ),
    # Never matched (the pattern above answers first): it documents PATCH/DELETE as {score_id}.
    path("trace-scores/<api_uuid:score_id>", views.TraceScoreDetailView.as_view(), name="trace-score-detail"),
    path(
        "trace-scores/<api_uuid:score_id>/history",
        views.TraceScoreHistoryView.as_view(),
        name="trace-score-history",
    ),
    # Score configs and session scores (annotation, part A).
    path("score-configs", configs.ScoreConfigCollectionView.as_view(), name="score-configs"),
    path(
        "score-configs/<api_uuid:config_id>",
        configs.ScoreConfigDetailView.as_view(),
        name="score-config-detail",
    ),
    path("session-scores", session_scores.SessionScoreCollectionView.as_view(), name="session-scores"),
    # GET takes a session id; PATCH/DELETE on the same URL take a score id (the reference's paths).
    # A session id may hold "/" (sent as %2F, which the server decodes before routing).
    path(
        "session-scores/<session:session_id>",
        session_scores.SessionScoresForSessionView.as_view(),
        name="session-scores-for-session",
    ),
    # Never matched (the pattern above answers first): it documents PATCH/DELETE as {score_id}.
    path(
        "session-scores/<api_uuid:score_id>",
        session_scores.SessionScoreDetailView.as_view(),
        name="session-score-detail",
    ),
]
