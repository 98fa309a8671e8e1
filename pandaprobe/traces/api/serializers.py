"""Request and response shapes of the trace API, field for field as the reference OpenAPI document.

Input serializers leave out defaults on purpose: an upsert must tell "not sent" from "sent", so
the ingestion service applies defaults only when it creates a row.
"""

from rest_framework import serializers

from pandaprobe.api.fields import SafeDictField, SafeJSONField, StrictCharField, StrictUUIDField

from ..models import Span, SpanKind, SpanStatus, Trace, TraceStatus
from ..services import TOKEN_COUNT_KEYS

MAX_SPANS_PER_BODY = 500
# Bounds that keep per-trace sums inside a BIGINT and a finite float, however many spans a trace has.
MAX_TOKEN_COUNT = 10**12
MAX_COST = 1e9


def _optional_text(max_length: int | None = None) -> StrictCharField:
    return StrictCharField(max_length=max_length, required=False, allow_null=True, allow_blank=True)


def _optional_json() -> SafeJSONField:
    return SafeJSONField(required=False, allow_null=True)


def _optional_dict() -> SafeDictField:
    return SafeDictField(required=False, allow_null=True)


def _name(**kwargs) -> StrictCharField:
    return StrictCharField(max_length=512, min_length=1, **kwargs)


class TokenUsageField(SafeDictField):
    """Free-form usage, except that the counts the totals are made of must be whole numbers."""

    def to_internal_value(self, data):
        usage = super().to_internal_value(data)
        errors = {
            key: [f"Must be a whole number from 0 to {MAX_TOKEN_COUNT}."]
            for key in TOKEN_COUNT_KEYS
            if key in usage and usage[key] is not None and not _is_token_count(usage[key])
        }
        if errors:
            raise serializers.ValidationError(errors)
        return usage


def _is_token_count(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return float(value).is_integer() and 0 <= value <= MAX_TOKEN_COUNT


def _cost_field() -> SafeDictField:
    amount = serializers.FloatField(min_value=0, max_value=MAX_COST)
    return SafeDictField(child=amount, required=False, allow_null=True)


class SpanUpdateSerializer(serializers.Serializer):
    name = _name(required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=SpanKind.choices, required=False, allow_null=True)
    status = serializers.ChoiceField(choices=SpanStatus.choices, required=False, allow_null=True)
    input = _optional_json()
    output = _optional_json()
    model = _optional_text(255)
    token_usage = TokenUsageField(required=False, allow_null=True)
    metadata = _optional_dict()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    error = _optional_text()
    completion_start_time = serializers.DateTimeField(required=False, allow_null=True)
    model_parameters = _optional_dict()
    cost = _cost_field()


class SpanCreateSerializer(SpanUpdateSerializer):
    span_id = StrictUUIDField(required=False)
    parent_span_id = StrictUUIDField(required=False, allow_null=True)
    name = _name()
    started_at = serializers.DateTimeField()


class TraceUpdateSerializer(serializers.Serializer):
    name = _name(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=TraceStatus.choices, required=False, allow_null=True)
    input = _optional_json()
    output = _optional_json()
    metadata = _optional_dict()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    session_id = _optional_text(255)
    user_id = _optional_text(255)
    tags = serializers.ListField(child=StrictCharField(max_length=255), required=False, allow_null=True)
    environment = _optional_text(255)
    release = _optional_text(255)


class TraceCreateSerializer(TraceUpdateSerializer):
    trace_id = StrictUUIDField(required=False)
    name = _name()
    started_at = serializers.DateTimeField()
    spans = serializers.ListField(child=SpanCreateSerializer(), required=False, max_length=MAX_SPANS_PER_BODY)


class SpanListSerializer(serializers.ListSerializer):
    """The body of `POST /traces/{trace_id}/spans`: a JSON array of spans."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("child", SpanCreateSerializer())
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", MAX_SPANS_PER_BODY)
        super().__init__(*args, **kwargs)


class TraceAcceptedSerializer(serializers.Serializer):
    trace_id = serializers.UUIDField()
    task_id = serializers.CharField()


class SpansAcceptedSerializer(serializers.Serializer):
    span_ids = serializers.ListField(child=serializers.UUIDField())


class SpanResponseSerializer(serializers.ModelSerializer):
    trace_id = serializers.UUIDField()
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
    class Meta:
        model = Trace
        fields = [
            "trace_id", "name", "status", "started_at", "ended_at", "session_id", "user_id", "tags",
            "environment", "release", "latency_ms", "span_count", "total_tokens", "total_cost",
        ]  # fmt: skip


class TraceResponseSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField()
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


class BatchTagsSerializer(TraceIdsSerializer):
    add_tags = serializers.ListField(child=StrictCharField(max_length=255), required=False, default=list)
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
