"""Request and response shapes of the trace-score API, field for field as the reference document."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pandaprobe.api.fields import StrictCharField, StrictUUIDField
from pandaprobe.api.schema import NOT_BLANK_PATTERN

from ..models import ScoreDataType, ScoreEvent, ScoreSource, ScoreStatus

# What an API caller may send: AUTOMATED is the judge's, and no API caller's role may create it
# (`SOURCE_ACTIONS` in the score services enforces that for every caller; the API's schema says so).
CALLER_SOURCES = [ScoreSource.ANNOTATION, ScoreSource.PROGRAMMATIC]

@extend_schema_field(
    {"anyOf": [{"type": "string", "minLength": 1, "pattern": NOT_BLANK_PATTERN}, {"type": "number"}, {"type": "boolean"}]}
)
class ScoreValueField(serializers.CharField):
    """A score value as a string; JSON numbers and booleans are taken as their text."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            data = "true" if data else "false"
        return super().to_internal_value(data)


class CreateScoreRequestSerializer(serializers.Serializer):
    """What every score creation takes; trace and session scores add what they score.

    `status` and `eval_run_id` are not among them: only the judge sets them (the role table in
    `pandaprobe.projects.access`), so a client's are ignored like any unknown field, as by the
    reference API."""

    name = StrictCharField(max_length=255, help_text="Metric/score name.")
    value = ScoreValueField(help_text="NUMERIC: '0.85', BOOLEAN: 'true', CATEGORICAL: 'PASS'.")
    data_type = serializers.ChoiceField(
        choices=ScoreDataType.choices, required=False, help_text="Default: the config's, else NUMERIC."
    )
    source = serializers.ChoiceField(
        choices=CALLER_SOURCES,
        default=ScoreSource.ANNOTATION,
        error_messages={"invalid_choice": "Only ANNOTATION or PROGRAMMATIC may be sent; AUTOMATED is the judge's."},
    )
    reason = StrictCharField(required=False, allow_null=True, allow_blank=True)
    metadata = serializers.DictField(required=False, allow_null=True)
    config_id = StrictUUIDField(
        required=False, allow_null=True, help_text="A score config to check against."
    )


class CreateTraceScoreRequestSerializer(CreateScoreRequestSerializer):
    trace_id = StrictUUIDField(help_text="Trace UUID to attach the score to.")


class UpdateTraceScoreRequestSerializer(serializers.Serializer):
    value = ScoreValueField(required=False, allow_null=True, help_text="New value; null leaves it unchanged.")
    reason = StrictCharField(required=False, allow_null=True, allow_blank=True, help_text="null clears it.")
    metadata = serializers.DictField(
        required=False, allow_null=True, help_text="Replaces the metadata; null leaves it unchanged."
    )


class TraceScoreResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    trace_id = serializers.UUIDField()
    name = serializers.CharField()
    value = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=ScoreStatus.choices)
    source = serializers.ChoiceField(choices=ScoreSource.choices)
    created_at = serializers.DateTimeField()
    project_id = serializers.UUIDField()
    data_type = serializers.ChoiceField(choices=ScoreDataType.choices)
    eval_run_id = serializers.UUIDField(allow_null=True)
    author_user_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    # The trace's current environment (what the `environment` filter matches).
    environment = serializers.CharField(source="trace.environment", allow_null=True)
    config_id = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    updated_at = serializers.DateTimeField()


class ScoreActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "api_key", "system"])
    id = serializers.CharField(allow_null=True)
    label = serializers.CharField()


def event_actor(event: ScoreEvent) -> dict:
    """Who made a change; a deleted user or key keeps its label but loses its id."""
    if event.actor_user_id is not None:
        return {"type": "user", "id": str(event.actor_user_id), "label": event.actor_label}
    if event.actor_api_key_id is not None or event.actor_label.startswith("api-key:"):
        key_id = str(event.actor_api_key_id) if event.actor_api_key_id is not None else None
        return {"type": "api_key", "id": key_id, "label": event.actor_label}
    actor_type = "system" if event.actor_label == "system" else "user"
    return {"type": actor_type, "id": None, "label": event.actor_label}


class ScoreEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    score_id = serializers.UUIDField()
    score_name = serializers.CharField()
    trace_id = serializers.UUIDField(allow_null=True)
    action = serializers.ChoiceField(choices=ScoreEvent.Action.choices)
    actor = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    old_value = serializers.CharField(allow_null=True)
    new_value = serializers.CharField(allow_null=True)
    old_reason = serializers.CharField(allow_null=True)
    new_reason = serializers.CharField(allow_null=True)
    old_source = serializers.CharField(allow_null=True)
    new_source = serializers.CharField(allow_null=True)
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField(allow_null=True)
    old_metadata = serializers.DictField(allow_null=True)
    new_metadata = serializers.DictField(allow_null=True)

    @extend_schema_field(ScoreActorSerializer)
    def get_actor(self, event: ScoreEvent) -> dict:
        return event_actor(event)
