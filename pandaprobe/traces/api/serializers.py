"""Request and response shapes of the trace API, field for field as the reference OpenAPI document.

Trace and span request bodies are pydantic models (schemas.py); these are the responses and the
batch requests.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from pandaprobe.api.fields import StrictCharField, StrictUUIDField

from ..models import Span, Trace
from .schemas import CONTROL_CHARACTERS, LABEL_PATTERN

# A session id in a path: one that ingestion can have stored.
SESSION_ID_PATH = OpenApiParameter(
    "session_id",
    {"type": "string", "minLength": 1, "maxLength": Trace._meta.get_field("session_id").max_length},
    OpenApiParameter.PATH,
)


class TraceAcceptedSerializer(serializers.Serializer):
    trace_id = serializers.UUIDField()
    task_id = serializers.CharField()


class SpansAcceptedSerializer(serializers.Serializer):
    span_ids = serializers.ListField(child=serializers.UUIDField())


class SpanResponseSerializer(serializers.ModelSerializer):
    trace_id = serializers.UUIDField()
    token_usage = serializers.DictField(allow_null=True)
    metadata = serializers.DictField()
    model_parameters = serializers.DictField(allow_null=True)
    cost = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    latency_ms = serializers.SerializerMethodField()
    time_to_first_token_ms = serializers.SerializerMethodField()

    class Meta:
        model = Span
        fields = [
            "span_id", "trace_id", "parent_span_id", "name", "kind", "status", "input", "output", "model",
            "token_usage", "metadata", "started_at", "ended_at", "error", "completion_start_time",
            "model_parameters", "cost", "latency_ms", "time_to_first_token_ms",
        ]  # fmt: skip

    def get_latency_ms(self, span: Span) -> float | None:
        if span.ended_at is None:
            return None
        return (span.ended_at - span.started_at).total_seconds() * 1000

    def get_time_to_first_token_ms(self, span: Span) -> float | None:
        if span.completion_start_time is None:
            return None
        return (span.completion_start_time - span.started_at).total_seconds() * 1000


class TraceListItemSerializer(serializers.ModelSerializer):
    tags = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Trace
        fields = [
            "trace_id", "name", "status", "started_at", "ended_at", "session_id", "user_id", "tags",
            "environment", "release", "latency_ms", "span_count", "total_tokens", "total_cost",
        ]  # fmt: skip


class TraceResponseSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField()
    metadata = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    spans = SpanResponseSerializer(many=True)

    class Meta:
        model = Trace
        fields = [
            "trace_id", "project_id", "name", "status", "input", "output", "metadata", "started_at",
            "ended_at", "session_id", "user_id", "tags", "environment", "release", "spans",
            "total_tokens", "total_cost",
        ]  # fmt: skip


class TraceIdsSerializer(serializers.Serializer):
    trace_ids = serializers.ListField(child=StrictUUIDField(), min_length=1, max_length=500)


@extend_schema_field({"type": "string", "maxLength": 255, "pattern": LABEL_PATTERN})
class LabelField(StrictCharField):
    """A tag: the rule of every tag ingested (schemas.Label), stated in the document too."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if CONTROL_CHARACTERS.search(value):
            raise serializers.ValidationError("Must not contain control characters (newline, tab, NUL...).")
        return value


class BatchTagsSerializer(TraceIdsSerializer):
    # As at ingestion: any printable text, taken as sent.
    add_tags = serializers.ListField(
        child=LabelField(max_length=255, allow_blank=True, trim_whitespace=False), required=False, default=list
    )
    remove_tags = serializers.ListField(child=StrictCharField(max_length=255), required=False, default=list)


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class UpdatedSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class SessionSummarySerializer(serializers.Serializer):
    session_id = serializers.CharField()
    trace_count = serializers.IntegerField()
    first_trace_at = serializers.DateTimeField()
    last_trace_at = serializers.DateTimeField(allow_null=True)
    total_latency_ms = serializers.FloatField(allow_null=True)
    has_error = serializers.BooleanField()
    user_id = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    total_span_count = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()


class SessionDetailSerializer(SessionSummarySerializer):
    traces = TraceResponseSerializer(many=True)
