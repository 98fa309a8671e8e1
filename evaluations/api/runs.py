"""Metrics, providers and trace evaluation runs: parse, call one service or selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.errors import validated
from pandaprobe.api.pagination import PAGE_PARAMETERS, envelope_schema, page_params, page_response, paginate
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters
from pandaprobe.projects.throttling import eval_run_writes_wait
from pandaprobe.traces.models import TraceStatus

from .. import judge
from ..filters import DeleteRunParams, EvalRunFilter
from ..metrics import TRACE_METRICS
from ..metrics.previews import prompt_previews
from ..models import EvalRunStatus, EvalTargetType
from ..selectors import runs as selectors
from ..services import runs as services
from .serializers import TraceScoreResponseSerializer

TAGS = ["trace-runs"]
TRACE = EvalTargetType.TRACE


class MetricSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()


class PromptPreviewSerializer(serializers.Serializer):
    stage = serializers.CharField()
    prompt = serializers.CharField()


class MetricInfoSerializer(MetricSummarySerializer):
    default_threshold = serializers.FloatField()
    prompt_preview = PromptPreviewSerializer(many=True)


@extend_schema_field({"type": "string", "format": "date-time"})
class FilterTimeField(serializers.CharField):
    """A filter's time as sent; the trace filters parse it (400 naming it when they cannot)."""


@extend_schema_field({"type": "string", "enum": TraceStatus.values})
class FilterStatusField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "enum": list(TRACE_METRICS)})
class MetricNameField(serializers.CharField):
    """A metric's name; an unknown one is the service's 400 naming it, as the guide says."""


class EvalRunFiltersSerializer(serializers.Serializer):
    """The shape only; what the values mean (dates, statuses) the service checks, answering 400."""

    date_from = FilterTimeField(required=False, allow_null=True)
    date_to = FilterTimeField(required=False, allow_null=True)
    status = FilterStatusField(required=False, allow_null=True)
    session_id = serializers.CharField(required=False, allow_null=True)
    user_id = serializers.CharField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True)


class EvalRunTemplateSerializer(serializers.Serializer):
    metric = MetricInfoSerializer()
    filters = EvalRunFiltersSerializer()
    sampling_rate = serializers.FloatField()
    model = serializers.CharField(allow_null=True)


class ProviderInfoSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    available = serializers.BooleanField()
    message = serializers.CharField()


class RunRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_null=True, max_length=255)
    metrics = serializers.ListField(child=MetricNameField(max_length=100), min_length=1, max_length=20)
    model = serializers.CharField(required=False, allow_null=True, max_length=255)
    dry_run = serializers.BooleanField(default=False)


class CreateEvalRunRequestSerializer(RunRequestSerializer):
    filters = EvalRunFiltersSerializer(required=False)
    sampling_rate = serializers.FloatField(min_value=0.0, max_value=1.0, default=1.0)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**62)


class CreateBatchEvalRunRequestSerializer(RunRequestSerializer):
    trace_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=services.MAX_BATCH_TRACES
    )


class EvalRunResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=EvalRunStatus.choices)
    metric_names = serializers.ListField(child=serializers.CharField())
    total_targets = serializers.IntegerField()
    total_traces = serializers.IntegerField(source="total_targets", help_text="The docs' name of total_targets.")
    evaluated_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    project_id = serializers.UUIDField()
    target_type = serializers.CharField()
    filters = serializers.DictField()
    sampling_rate = serializers.FloatField()
    seed = serializers.IntegerField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    monitor_id = serializers.UUIDField(allow_null=True)
    retry_of_id = serializers.UUIDField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    judge_calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="USD; calls of a model without a known price are not in it.")
    unpriced_calls = serializers.IntegerField()


class RunPlanSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=True)
    total_targets = serializers.IntegerField()
    metric_names = serializers.ListField(child=serializers.CharField())
    judge_calls = serializers.IntegerField(help_text="At most this many: some metrics need no call.")
    estimated_prompt_tokens = serializers.IntegerField()
    estimated_completion_tokens = serializers.IntegerField()
    estimated_cost = serializers.FloatField(allow_null=True)
    model = serializers.CharField()
    sample_trace_ids = serializers.ListField(child=serializers.CharField())


EvalRunPage = envelope_schema(EvalRunResponseSerializer, "PaginatedResponse_EvalRunResponse_")


def run_created(result) -> Response:
    if isinstance(result, services.RunPlan):
        return Response({"dry_run": True, **RunPlanSerializer(result).data}, status=status.HTTP_200_OK)
    return Response(EvalRunResponseSerializer(result).data, status=status.HTTP_202_ACCEPTED)


def _throttle(request) -> None:
    wait = eval_run_writes_wait(request)
    if wait is not None:
        raise Throttled(wait, detail=f"Too many run requests: try again in {wait} seconds")


def create_run(request, serializer_class, create) -> Response:
    """Validate the body, count the request against the rate limit, then create (or plan) the run."""
    data = validated(serializer_class, request.data)
    _throttle(request)
    return run_created(create(access=request.auth, **data))


class TraceMetricsView(APIView):
    @extend_schema(operation_id="get_available_metrics", responses=MetricSummarySerializer(many=True),
                   tags=["evaluations"])  # fmt: skip
    def get(self, request):
        return Response(MetricSummarySerializer(TRACE_METRICS.values(), many=True).data)


class ProvidersView(APIView):
    @extend_schema(operation_id="get_available_providers", responses=ProviderInfoSerializer(many=True),
                   tags=["evaluations"])  # fmt: skip
    def get(self, request):
        return Response(ProviderInfoSerializer(judge.provider_statuses(), many=True).data)


class TraceRunTemplateView(APIView):
    @extend_schema(
        operation_id="get_eval_run_template",
        parameters=[OpenApiParameter("metric", str, required=True, enum=list(TRACE_METRICS), description="Metric name")],
        responses=EvalRunTemplateSerializer,
        tags=TAGS,
    )
    def get(self, request):
        metric = services.metric_for_template(request.query_params.get("metric"))
        info = {"name": metric.name, "description": metric.description, "category": metric.category,
                "default_threshold": metric.default_threshold, "prompt_preview": prompt_previews(metric)}  # fmt: skip
        model = judge.JudgeConfig.from_settings().model or None
        return Response({"metric": info, "filters": {}, "sampling_rate": 1.0, "model": model})


class TraceRunCollectionView(APIView):
    @extend_schema(
        operation_id="create_eval_run",
        request=CreateEvalRunRequestSerializer,
        responses={202: EvalRunResponseSerializer, 200: RunPlanSerializer},
        tags=TAGS,
    )
    def post(self, request):
        return create_run(request, CreateEvalRunRequestSerializer, services.eval_run_create)

    @extend_schema(
        operation_id="list_eval_runs",
        parameters=[*query_parameters(EvalRunFilter), *PAGE_PARAMETERS],
        responses=EvalRunPage,
        tags=TAGS,
    )
    def get(self, request):
        limit, offset = page_params(request.query_params)
        runs = selectors.eval_run_list(
            project=request.auth.project, target_type=TRACE, params=request.query_params
        )
        return page_response(paginate(runs, limit=limit, offset=offset), EvalRunResponseSerializer)


class TraceRunBatchView(APIView):
    @extend_schema(
        operation_id="create_batch_eval_run",
        request=CreateBatchEvalRunRequestSerializer,
        responses={202: EvalRunResponseSerializer, 200: RunPlanSerializer},
        tags=TAGS,
    )
    def post(self, request):
        return create_run(request, CreateBatchEvalRunRequestSerializer, services.eval_run_create_batch)


class TraceRunDetailView(ApiView):
    @extend_schema(operation_id="get_eval_run", responses=EvalRunResponseSerializer, tags=TAGS)
    def get(self, request, run_id):
        run = selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=TRACE)
        return Response(EvalRunResponseSerializer(run).data)

    @extend_schema(
        operation_id="delete_eval_run",
        parameters=query_parameters(DeleteRunParams, descriptions={"delete_scores": "Also delete the run's scores"}),
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request, run_id):
        run = selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=TRACE)
        delete_scores = selectors.delete_scores_param(request.query_params)
        services.eval_run_delete(access=request.auth, run=run, delete_scores=delete_scores)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TraceRunRetryView(ApiView):
    @extend_schema(operation_id="retry_failed_eval_run", request=None,
                   responses={202: EvalRunResponseSerializer}, tags=TAGS)  # fmt: skip
    def post(self, request, run_id):
        run = selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=TRACE)
        _throttle(request)
        return run_created(services.eval_run_retry(access=request.auth, run=run))


class TraceRunCancelView(ApiView):
    @extend_schema(operation_id="cancel_eval_run", request=None, responses=EvalRunResponseSerializer, tags=TAGS)
    def post(self, request, run_id):
        run = selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=TRACE)
        run = services.eval_run_cancel(access=request.auth, run=run)
        return Response(EvalRunResponseSerializer(run).data)


class TraceRunScoresView(ApiView):
    @extend_schema(operation_id="get_scores_for_run", responses=TraceScoreResponseSerializer(many=True), tags=TAGS)
    def get(self, request, run_id):
        run = selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=TRACE)
        return Response(TraceScoreResponseSerializer(selectors.run_scores(run=run), many=True).data)
