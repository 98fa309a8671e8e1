"""Score analytics endpoints: parse, call one selector, shape the output.

Trace and session scores share the summary, trend and distribution views (`kind` says which); the
session history and leaderboard, and the judge-vs-human agreement, are one of a kind.
"""

from collections.abc import Callable

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluations.models import ScoreStatus
from pandaprobe.api.pagination import envelope_schema, page_parameters, page_response
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters
from pandaprobe.traces.api.serializers import SESSION_ID_PATH

from .. import filters as f
from ..selectors import agreement
from ..selectors import scores as selectors

TAGS = ["analytics"]
DESCRIPTIONS = {
    "date_from": "ISO 8601 datetime. Include scores created on or after.",
    "date_to": "ISO 8601 datetime. Include scores created before (exclusive); not before date_from.",
    "source": "Only scores of this source",
    "environment": "Only scores of traces in this environment (the trace's current one)",
    "metric_name": "Metric (score name) to analyze",
    "granularity": "Time bucket, in UTC: hour, day, or week (ISO weeks, from Monday)",
    "buckets": "Number of equal-width histogram buckets over the metric's scale (its score config's, "
    "else 0-1); a value at the top of the scale is in the last bucket",
    "limit": "Max data points to return (the newest ones, returned oldest first)",
    "sort_order": "asc (worst first, for finding problems) or desc (best first)",
    "other_metric_name": "Score name of the human scores (ANNOTATION); default: metric_name. E.g. a "
    "`correctness` config compared with the judge's `task_completion`",
    "threshold": "A score passes at or above it (Cohen's kappa and the confusion matrix), on both "
    "sides. Default, per side: the judge metric's default_threshold, else the midpoint of the score "
    "config's range (0.5 without a config)",
}
STATISTICS_NOTE = (
    " Every score counts once at its created_at (a re-scored trace counts each time); only SUCCESS "
    "scores with a numeric value enter averages, medians and histograms, FAILED ones are counted."
)


class ScoreSummaryItemSerializer(serializers.Serializer):
    metric_name = serializers.CharField()
    avg_score = serializers.FloatField(allow_null=True)
    min_score = serializers.FloatField(allow_null=True)
    max_score = serializers.FloatField(allow_null=True)
    median_score = serializers.FloatField(allow_null=True)
    success_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    latest_score_at = serializers.DateTimeField(allow_null=True)


class ScoreTrendItemSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField(allow_null=True, help_text="Start of the time bucket (UTC)")
    metric_name = serializers.CharField()
    avg_score = serializers.FloatField()
    count = serializers.IntegerField()


class ScoreDistributionItemSerializer(serializers.Serializer):
    bucket = serializers.IntegerField(help_text="1-based")
    bucket_min = serializers.FloatField()
    bucket_max = serializers.FloatField()
    count = serializers.IntegerField()


class SessionScoreHistoryItemSerializer(serializers.Serializer):
    metric_name = serializers.CharField(source="name")
    score = serializers.FloatField(source="numeric_value", allow_null=True)
    eval_run_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=ScoreStatus.choices)


class SessionComparisonItemSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    score = serializers.FloatField(source="numeric_value", allow_null=True)
    evaluated_at = serializers.DateTimeField(source="created_at", allow_null=True)
    eval_run_id = serializers.UUIDField(allow_null=True)


SessionComparisonPage = envelope_schema(SessionComparisonItemSerializer, "PaginatedSessionComparisonItem")


class ScoreAggregateView(APIView):
    """A list of aggregates of trace or session scores; subclasses name the selector and the shape."""

    kind: selectors.ScoreKind
    selector: Callable[..., list[dict]]
    serializer: type[serializers.Serializer]

    def get(self, request):
        rows = type(self).selector(kind=self.kind, project=request.auth.project, params=request.query_params)
        return Response(self.serializer(rows, many=True).data)


def _aggregate_view(target: str, operation: str, *, description: str, parameters, serializer) -> type:
    """The view of one aggregate of trace or session scores, as the OpenAPI document shows it."""
    schema = extend_schema(
        operation_id=f"get_{target}_score_analytics_{operation}",
        description=description + STATISTICS_NOTE,
        parameters=query_parameters(*parameters, descriptions=DESCRIPTIONS),
        responses=serializer(many=True),
        tags=TAGS,
    )
    attributes = {
        "kind": selectors.TRACE_SCORES if target == "trace" else selectors.SESSION_SCORES,
        "selector": getattr(selectors, f"score_{operation}"),
        "serializer": serializer,
        "__module__": __name__,
    }
    name = f"{target.capitalize()}Score{operation.capitalize()}View"
    return extend_schema_view(get=schema)(type(name, (ScoreAggregateView,), attributes))


def _three_views(target: str, summary_filter, metric_filter) -> tuple[type, type, type]:
    return (
        _aggregate_view(target, "summary", description=f"Aggregated {target} score statistics per metric.",
                        parameters=[summary_filter], serializer=ScoreSummaryItemSerializer),
        _aggregate_view(target, "trend", description=f"Average {target} score and count per time bucket, "
                        "for one metric; buckets without scores are left out.",
                        parameters=[metric_filter, f.TrendParams], serializer=ScoreTrendItemSerializer),
        _aggregate_view(target, "distribution", description=f"Histogram of {target} score values for one "
                        "metric: every bucket, empty ones with count 0.",
                        parameters=[metric_filter, f.DistributionParams], serializer=ScoreDistributionItemSerializer),
    )  # fmt: skip


TraceScoreSummaryView, TraceScoreTrendView, TraceScoreDistributionView = _three_views(
    "trace", f.TraceScoreAnalyticsFilter, f.TraceMetricFilter
)
SessionScoreSummaryView, SessionScoreTrendView, SessionScoreDistributionView = _three_views(
    "session", f.SessionScoreAnalyticsFilter, f.SessionMetricFilter
)


class SessionScoreHistoryView(ApiView):
    @extend_schema(
        operation_id="get_session_score_history",
        description="A session's scores across re-evaluations, oldest first: one row per score (each "
        "run's, and hand-made ones), FAILED ones included. 404 when the project has no such session.",
        parameters=[SESSION_ID_PATH, *query_parameters(f.SessionHistoryFilter, f.HistoryParams, descriptions=DESCRIPTIONS)],
        responses=SessionScoreHistoryItemSerializer(many=True),
        tags=TAGS,
    )  # fmt: skip
    def get(self, request, session_id):
        scores = selectors.session_score_history(
            project=request.auth.project, session_id=session_id, params=request.query_params
        )
        return Response(SessionScoreHistoryItemSerializer(scores, many=True).data)


class SessionScoreComparisonView(APIView):
    @extend_schema(
        operation_id="get_session_score_comparison",
        description="Leaderboard: each session's latest score of a metric, ranked by value (ties by "
        "session id). A session whose latest score FAILED has no value and comes last either way.",
        parameters=[
            *query_parameters(f.SessionComparisonFilter, f.ComparisonParams, descriptions=DESCRIPTIONS),
            *page_parameters(max_limit=selectors.COMPARISON_MAX_LIMIT, default_limit=selectors.COMPARISON_DEFAULT_LIMIT),
        ],
        responses=SessionComparisonPage,
        tags=TAGS,
    )  # fmt: skip
    def get(self, request):
        page = selectors.session_score_comparison(project=request.auth.project, params=request.query_params)
        return page_response(page, SessionComparisonItemSerializer)


class ConfusionMatrixSerializer(serializers.Serializer):
    pass_pass = serializers.IntegerField(help_text="a passes, b passes")
    pass_fail = serializers.IntegerField(help_text="a passes, b fails")
    fail_pass = serializers.IntegerField(help_text="a fails, b passes")
    fail_fail = serializers.IntegerField(help_text="a fails, b fails")


class AgreementStatisticsSerializer(serializers.Serializer):
    pair_count = serializers.IntegerField()
    mean_absolute_difference = serializers.FloatField(allow_null=True)
    pearson_r = serializers.FloatField(allow_null=True, help_text="Null when a side does not vary")
    cohen_kappa = serializers.FloatField(allow_null=True, help_text="Null when chance agreement is certain")
    confusion = ConfusionMatrixSerializer()


class ReviewerSerializer(serializers.Serializer):
    user_id = serializers.CharField(allow_null=True, help_text="Null: annotations made with an API key")
    username = serializers.CharField(allow_null=True)


class ReviewerAgreementSerializer(AgreementStatisticsSerializer):
    reviewer = ReviewerSerializer()


class ReviewerPairAgreementSerializer(AgreementStatisticsSerializer):
    reviewer_a = ReviewerSerializer()
    reviewer_b = ReviewerSerializer()


class TraceScoreAgreementSerializer(serializers.Serializer):
    metric_name = serializers.CharField(help_text="The judge's (AUTOMATED) score name: side a")
    other_metric_name = serializers.CharField(help_text="The reviewers' (ANNOTATION) score name: side b")
    threshold = serializers.FloatField()
    other_threshold = serializers.FloatField()
    judge_vs_human = AgreementStatisticsSerializer()
    by_reviewer = ReviewerAgreementSerializer(many=True)
    between_reviewers = ReviewerPairAgreementSerializer(
        many=True, help_text="Reviewer a has the lower user id"
    )


class TraceScoreAgreementView(APIView):
    @extend_schema(
        operation_id="get_trace_score_agreement",
        description="Judge vs human agreement on traces that carry both a judge (AUTOMATED) score "
        "named `metric_name` and a reviewer's (ANNOTATION) score named `other_metric_name`: per trace "
        "the judge's latest and each reviewer's latest SUCCESS score form a pair. Overall, per "
        "reviewer, and between reviewers who scored the same trace.",
        parameters=query_parameters(f.AgreementParams, f.AgreementFilter, descriptions=DESCRIPTIONS),
        responses=TraceScoreAgreementSerializer,
        tags=TAGS,
    )
    def get(self, request):
        result = agreement.trace_score_agreement(project=request.auth.project, params=request.query_params)
        return Response(TraceScoreAgreementSerializer(result).data)
