"""Score analytics, mounted at /evaluations/analytics/ (pandaprobe/urls.py)."""

from django.urls import path

from .api import scores

urlpatterns = [
    path("trace-scores/summary", scores.TraceScoreSummaryView.as_view(), name="trace-score-summary"),
    path("trace-scores/trend", scores.TraceScoreTrendView.as_view(), name="trace-score-trend"),
    path(
        "trace-scores/distribution",
        scores.TraceScoreDistributionView.as_view(),
        name="trace-score-distribution",
    ),
    path("trace-scores/agreement", scores.TraceScoreAgreementView.as_view(), name="trace-score-agreement"),
    path("session-scores/summary", scores.SessionScoreSummaryView.as_view(), name="session-score-summary"),
    path("session-scores/trend", scores.SessionScoreTrendView.as_view(), name="session-score-trend"),
    path(
        "session-scores/distribution",
        scores.SessionScoreDistributionView.as_view(),
        name="session-score-distribution",
    ),
    # A session id may hold "/" (sent as %2F): the route ends with it.
    path(
        "session-scores/history/<session:session_id>",
        scores.SessionScoreHistoryView.as_view(),
        name="session-score-history",
    ),
    path(
        "session-scores/comparison",
        scores.SessionScoreComparisonView.as_view(),
        name="session-score-comparison",
    ),
]
