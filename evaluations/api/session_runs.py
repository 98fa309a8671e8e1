"""Session metrics and session evaluation runs: the run views of `runs.py` for sessions."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..metrics.session import SESSION_METRICS, SIGNALS
from ..models import EvalTargetType
from ..services import runs as services
from .runs import MetricSummarySerializer, RunRequestSerializer, run_views, run_views_schema
from .session_scores import SessionScoreResponseSerializer

TAGS = ["session-runs"]


class SessionEvalRunFiltersSerializer(serializers.Serializer):
    """The shape only; the service reads the dates (400 naming a bad one)."""

    date_from = serializers.CharField(required=False, allow_null=True, help_text="ISO 8601 datetime.")
    date_to = serializers.CharField(required=False, allow_null=True, help_text="ISO 8601 datetime (exclusive).")
    user_id = serializers.CharField(required=False, allow_null=True)
    has_error = serializers.BooleanField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    min_trace_count = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10**6)


@extend_schema_field({"type": "string", "enum": list(SESSION_METRICS)})
class SessionMetricNameField(serializers.CharField):
    """A session metric's name; an unknown one is the service's 400 naming it, as the guide says."""


class SessionRunRequestSerializer(RunRequestSerializer):
    metrics = serializers.ListField(child=SessionMetricNameField(max_length=100), min_length=1, max_length=20)
    signal_weights = serializers.DictField(
        child=serializers.FloatField(), required=False, allow_null=True,
        help_text=f"Override default signal weights ({', '.join(SIGNALS)}); each >= 0.",
    )  # fmt: skip


class CreateSessionEvalRunRequestSerializer(SessionRunRequestSerializer):
    filters = SessionEvalRunFiltersSerializer(required=False)
    sampling_rate = serializers.FloatField(min_value=0.0, max_value=1.0, default=1.0)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**62)


class CreateBatchSessionEvalRunRequestSerializer(SessionRunRequestSerializer):
    session_ids = serializers.ListField(
        child=serializers.CharField(max_length=255, trim_whitespace=False), min_length=1, max_length=10_000
    )


class SessionMetricsView(APIView):
    @extend_schema(operation_id="get_available_session_metrics", responses=MetricSummarySerializer(many=True),
                   tags=["evaluations"])  # fmt: skip
    def get(self, request):
        return Response(MetricSummarySerializer(SESSION_METRICS.values(), many=True).data)


SESSION_SCHEMA = run_views_schema(
    TAGS, create="create_session_eval_run", list_="list_session_eval_runs",
    batch="create_batch_session_eval_run", get="get_session_eval_run", delete="delete_session_eval_run",
    retry="retry_failed_session_eval_run", cancel="cancel_session_eval_run",
    scores="get_session_scores_for_run",
    requests=(CreateSessionEvalRunRequestSerializer, CreateBatchSessionEvalRunRequestSerializer),
    score_response=SessionScoreResponseSerializer,
)  # fmt: skip
SESSION_RUN_VIEWS = run_views(
    "Session", SESSION_SCHEMA, target_type=EvalTargetType.SESSION,
    create=staticmethod(services.session_eval_run_create),
    create_batch=staticmethod(services.session_eval_run_create_batch),
    create_request=CreateSessionEvalRunRequestSerializer, batch_request=CreateBatchSessionEvalRunRequestSerializer,
    score_response=SessionScoreResponseSerializer,
)  # fmt: skip
