"""Request and response shapes of the trace API, field for field as the reference OpenAPI document.

Input serializers leave out defaults on purpose: an upsert must tell "not sent" from "sent", so
the ingestion service applies defaults only when it creates a row.
"""

from rest_framework import serializers

from ..models import Span, SpanKind, SpanStatus, Trace, TraceStatus

MAX_SPANS_PER_BODY = 500


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value != value or value in (float("inf"), float("-inf")):
            raise serializers.ValidationError("A finite number is required.")
        return value


def _optional_text(max_length: int) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_null=True, allow_blank=True)


def _optional_json() -> serializers.JSONField:
    return serializers.JSONField(required=False, allow_null=True)


def _optional_dict() -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True)


class SpanUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512, min_length=1, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=SpanKind.choices, required=False, allow_null=True)
    status = serializers.ChoiceField(choices=SpanStatus.choices, required=False, allow_null=True)
    input = _optional_json()
    output = _optional_json()
    model = _optional_text(255)
    token_usage = _optional_dict()
    metadata = _optional_dict()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    completion_start_time = serializers.DateTimeField(required=False, allow_null=True)
    model_parameters = _optional_dict()
    cost = serializers.DictField(child=FiniteFloatField(), required=False, allow_null=True)


class SpanCreateSerializer(SpanUpdateSerializer):
    span_id = serializers.UUIDField(required=False)
    parent_span_id = serializers.UUIDField(required=False, allow_null=True)
    name = serializers.CharField(max_length=512, min_length=1)
    started_at = serializers.DateTimeField()


class TraceUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512, min_length=1, required=False, allow_null=True)
    status = serializers.ChoiceField(choices=TraceStatus.choices, required=False, allow_null=True)
    input = _optional_json()
    output = _optional_json()
    metadata = _optional_dict()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    session_id = _optional_text(255)
    user_id = _optional_text(255)
    tags = serializers.ListField(child=serializers.CharField(max_length=255), required=False, allow_null=True)
    environment = _optional_text(255)
    release = _optional_text(255)


class TraceCreateSerializer(TraceUpdateSerializer):
    trace_id = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=512, min_length=1)
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
    trace_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)


class BatchTagsSerializer(TraceIdsSerializer):
    add_tags = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, default=list
    )
    remove_tags = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, default=list
    )


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
