"""Operations analytics endpoints: parse, call one selector, shape the output."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.pagination import PAGE_PARAMETERS, envelope_schema, page_params, page_response, paginate
from pandaprobe.api.schema import query_parameters
from pandaprobe.api.views import SharedRouteView
from pandaprobe.traces.api.views import SessionDetailView

from ..operations_filters import AnalyticsTraceFilter, GranularityParams, TraceAnalyticsParams
from ..selectors import operations as selectors

WINDOW_DESCRIPTIONS = {
    "started_after": "Start of the window (inclusive), ISO 8601",
    "started_before": "End of the window (exclusive), ISO 8601; later than started_after",
    "granularity": "Bucket size, edges in UTC (weeks start on Monday); default day",
    "metric": "What to compute; default volume",
    "tags": "Traces with ANY of these tags",
}


class AnalyticsBucketSerializer(serializers.Serializer):
    """Time-bucketed trace volume, error, and latency statistics (latency only for `metric=latency`)."""

    bucket = serializers.DateTimeField(help_text="Start of the bucket (UTC)")
    trace_count = serializers.IntegerField(default=0)
    error_count = serializers.IntegerField(default=0)
    avg_latency_ms = serializers.FloatField(allow_null=True, default=None)
    p50_latency_ms = serializers.FloatField(allow_null=True, default=None)
    p90_latency_ms = serializers.FloatField(allow_null=True, default=None)
    p99_latency_ms = serializers.FloatField(allow_null=True, default=None)


class TokenCostBucketSerializer(serializers.Serializer):
    """Time-bucketed token usage and cost aggregation."""

    bucket = serializers.DateTimeField(help_text="Start of the bucket (UTC)")
    total_tokens = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()


class TopModelSerializer(serializers.Serializer):
    """LLM model ranked by call count within a time window."""

    model = serializers.CharField()
    call_count = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()


class SessionAnalyticsBucketSerializer(serializers.Serializer):
    """Time-bucketed session statistics."""

    bucket = serializers.DateTimeField(help_text="Start of the bucket (UTC)")
    session_count = serializers.IntegerField()
    avg_traces_per_session = serializers.FloatField(allow_null=True)
    avg_session_duration_ms = serializers.FloatField(allow_null=True)


class UserSummarySerializer(serializers.Serializer):
    """Aggregated trace statistics for a single end-user."""

    user_id = serializers.CharField()
    trace_count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    error_count = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()


SERIALIZERS = {
    "volume": AnalyticsBucketSerializer,
    "errors": AnalyticsBucketSerializer,
    "latency": AnalyticsBucketSerializer,
    "cost": TokenCostBucketSerializer,
    "tokens": TokenCostBucketSerializer,
    "models": TopModelSerializer,
}
TraceAnalyticsResponse = PolymorphicProxySerializer(
    component_name="TraceAnalyticsItem",
    serializers=[AnalyticsBucketSerializer, TokenCostBucketSerializer, TopModelSerializer],
    resource_type_field_name=None,
    many=True,
)
UserSummaryPage = envelope_schema(UserSummarySerializer, "PaginatedUserSummary")


class TraceAnalyticsView(APIView):
    @extend_schema(
        operation_id="get_trace_analytics",
        description=(
            "Trace statistics per time bucket, oldest first; buckets without traces are left out. "
            "`volume` and `errors`: trace and error counts (AnalyticsBucket); `latency`: the same with "
            "the average and p50/p90/p99 latency; `cost` and `tokens`: TokenCostBucket; `models`: the "
            f"{selectors.TOP_MODELS} models with the most calls in the window (TopModel; no buckets)."
        ),
        parameters=query_parameters(
            TraceAnalyticsParams, AnalyticsTraceFilter, descriptions=WINDOW_DESCRIPTIONS
        ),
        responses=TraceAnalyticsResponse,
        tags=["traces"],
    )
    def get(self, request):
        metric, rows = selectors.trace_analytics(project=request.auth.project, params=request.query_params)
        return Response(SERIALIZERS[metric](rows, many=True).data)


class SessionAnalyticsView(SharedRouteView):
    """GET is the analytics; DELETE still deletes the session named "analytics", as the reference's
    `/sessions/{session_id}` does (its GET is the one thing this route takes over)."""

    delegate = SessionDetailView
    delegated_methods = ("DELETE",)
    delegate_kwarg = "session_id"

    def _path_id(self) -> str:
        return "analytics"

    def delegates(self) -> bool:
        return True  # any text is a session id

    @extend_schema(
        operation_id="get_session_analytics",
        description=(
            "Sessions per time bucket of their first trace in the window, oldest first; buckets without "
            "sessions are left out. A session's duration runs from its first trace's start to its last "
            "trace's end, over the window's traces."
        ),
        parameters=query_parameters(
            GranularityParams, AnalyticsTraceFilter, descriptions=WINDOW_DESCRIPTIONS
        ),
        responses=SessionAnalyticsBucketSerializer(many=True),
        tags=["sessions"],
    )
    def get(self, request):
        rows = selectors.session_analytics(project=request.auth.project, params=request.query_params)
        return Response(SessionAnalyticsBucketSerializer(rows, many=True).data)


class TraceUsersView(APIView):
    @extend_schema(
        operation_id="list_trace_users",
        description="The project's end users (traces' `user_id`) with their trace statistics, most recently seen first.",
        parameters=PAGE_PARAMETERS,
        responses=UserSummaryPage,
        tags=["traces"],
    )
    def get(self, request):
        limit, offset = page_params(request.query_params)
        users = selectors.trace_users(project=request.auth.project)
        return page_response(paginate(users, limit=limit, offset=offset), UserSummarySerializer)
