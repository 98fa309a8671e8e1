"""Metrics, providers and trace evaluation runs: parse, call one service or selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
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
    """A trace run's plan; `SessionRunPlanSerializer` names its sample `sample_session_ids`."""

    dry_run = serializers.BooleanField(default=True)
    total_targets = serializers.IntegerField()
    metric_names = serializers.ListField(child=serializers.CharField())
    judge_calls = serializers.IntegerField(help_text="At most this many: some metrics need no call.")
    estimated_prompt_tokens = serializers.IntegerField()
    estimated_completion_tokens = serializers.IntegerField()
    estimated_cost = serializers.FloatField(allow_null=True)
    model = serializers.CharField()
    sample_trace_ids = serializers.ListField(child=serializers.CharField(), source="sample_ids")


class SessionRunPlanSerializer(RunPlanSerializer):
    sample_trace_ids = None
    sample_session_ids = serializers.ListField(child=serializers.CharField(), source="sample_ids")


PLAN_SERIALIZERS = {EvalTargetType.TRACE: RunPlanSerializer, EvalTargetType.SESSION: SessionRunPlanSerializer}
EvalRunPage = envelope_schema(EvalRunResponseSerializer, "PaginatedResponse_EvalRunResponse_")


def run_created(result) -> Response:
    if isinstance(result, services.RunPlan):
        serializer = PLAN_SERIALIZERS[result.target_type]
        return Response({"dry_run": True, **serializer(result).data}, status=status.HTTP_200_OK)
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


class RunViews:
    """What the run views of one kind (trace or session runs) differ in; the views are shared."""

    target_type = TRACE
    create = staticmethod(services.eval_run_create)
    create_batch = staticmethod(services.eval_run_create_batch)
    create_request = CreateEvalRunRequestSerializer
    batch_request = CreateBatchEvalRunRequestSerializer
    score_response = TraceScoreResponseSerializer

    def run_of(self, request, run_id):
        return selectors.eval_run_get(project=request.auth.project, run_id=run_id, target_type=self.target_type)


class RunCollectionView(RunViews, APIView):
    def post(self, request):
        return create_run(request, self.create_request, self.create)

    def get(self, request):
        limit, offset = page_params(request.query_params)
        runs = selectors.eval_run_list(
            project=request.auth.project, target_type=self.target_type, params=request.query_params
        )
        return page_response(paginate(runs, limit=limit, offset=offset), EvalRunResponseSerializer)


class RunBatchView(RunViews, APIView):
    def post(self, request):
        return create_run(request, self.batch_request, self.create_batch)


class RunDetailView(RunViews, ApiView):
    def get(self, request, run_id):
        return Response(EvalRunResponseSerializer(self.run_of(request, run_id)).data)

    def delete(self, request, run_id):
        run = self.run_of(request, run_id)
        delete_scores = selectors.delete_scores_param(request.query_params)
        services.eval_run_delete(access=request.auth, run=run, delete_scores=delete_scores)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunRetryView(RunViews, ApiView):
    def post(self, request, run_id):
        run = self.run_of(request, run_id)
        _throttle(request)
        return run_created(services.eval_run_retry(access=request.auth, run=run))


class RunCancelView(RunViews, ApiView):
    def post(self, request, run_id):
        run = services.eval_run_cancel(access=request.auth, run=self.run_of(request, run_id))
        return Response(EvalRunResponseSerializer(run).data)


class RunScoresView(RunViews, ApiView):
    def get(self, request, run_id):
        scores = selectors.run_scores(run=self.run_of(request, run_id))
        return Response(self.score_response(scores, many=True).data)


DELETE_SCORES = query_parameters(DeleteRunParams, descriptions={"delete_scores": "Also delete the run's scores"})


def run_views_schema(tags: list[str], *, create: str, list_: str, batch: str, get: str, delete: str, retry: str,
                     cancel: str, scores: str, requests: tuple, score_response) -> dict:  # fmt: skip
    """The OpenAPI operations of one kind's run views, by view: `extend_schema_view` arguments."""
    created = {202: EvalRunResponseSerializer, 200: RunPlanSerializer}
    return {
        "collection": {
            "post": extend_schema(operation_id=create, request=requests[0], responses=created, tags=tags),
            "get": extend_schema(operation_id=list_, parameters=[*query_parameters(EvalRunFilter), *PAGE_PARAMETERS],
                                 responses=EvalRunPage, tags=tags),
        },
        "batch": {"post": extend_schema(operation_id=batch, request=requests[1], responses=created, tags=tags)},
        "detail": {
            "get": extend_schema(operation_id=get, responses=EvalRunResponseSerializer, tags=tags),
            "delete": extend_schema(operation_id=delete, parameters=DELETE_SCORES, responses={204: None}, tags=tags),
        },
        "retry": {"post": extend_schema(operation_id=retry, request=None, responses={202: EvalRunResponseSerializer},
                                        tags=tags)},
        "cancel": {"post": extend_schema(operation_id=cancel, request=None, responses=EvalRunResponseSerializer,
                                         tags=tags)},
        "scores": {"get": extend_schema(operation_id=scores, responses=score_response(many=True), tags=tags)},
    }  # fmt: skip


TRACE_SCHEMA = run_views_schema(
    TAGS, create="create_eval_run", list_="list_eval_runs", batch="create_batch_eval_run", get="get_eval_run",
    delete="delete_eval_run", retry="retry_failed_eval_run", cancel="cancel_eval_run", scores="get_scores_for_run",
    requests=(CreateEvalRunRequestSerializer, CreateBatchEvalRunRequestSerializer),
    score_response=TraceScoreResponseSerializer,
)  # fmt: skip
VIEW_BASES = {"collection": RunCollectionView, "batch": RunBatchView, "detail": RunDetailView,
              "retry": RunRetryView, "cancel": RunCancelView, "scores": RunScoresView}  # fmt: skip


def run_views(prefix: str, schema: dict, **kind) -> dict[str, type]:
    """One kind's run views: the shared ones with its `RunViews` attributes and its OpenAPI operations."""
    return {
        name: extend_schema_view(**schema[name])(type(f"{prefix}{base.__name__}", (base,), dict(kind)))
        for name, base in VIEW_BASES.items()
    }


TRACE_RUN_VIEWS = run_views("Trace", TRACE_SCHEMA)
