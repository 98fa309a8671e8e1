from django.urls import path

from . import configs, runs, session_scores, views

urlpatterns = [
    path("trace-metrics", runs.TraceMetricsView.as_view(), name="trace-metrics"),
    path("providers", runs.ProvidersView.as_view(), name="providers"),
    path("trace-runs", runs.TraceRunCollectionView.as_view(), name="trace-runs"),
    # Before the {run_id} patterns.
    path("trace-runs/template", runs.TraceRunTemplateView.as_view(), name="trace-run-template"),
    path("trace-runs/batch", runs.TraceRunBatchView.as_view(), name="trace-runs-batch"),
    path("trace-runs/<api_uuid:run_id>", runs.TraceRunDetailView.as_view(), name="trace-run-detail"),
    path("trace-runs/<api_uuid:run_id>/retry", runs.TraceRunRetryView.as_view(), name="trace-run-retry"),
    path("trace-runs/<api_uuid:run_id>/cancel", runs.TraceRunCancelView.as_view(), name="trace-run-cancel"),
    path("trace-runs/<api_uuid:run_id>/scores", runs.TraceRunScoresView.as_view(), name="trace-run-scores"),
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
