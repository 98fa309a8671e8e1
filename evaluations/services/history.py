"""The append-only edit history of scores (`ScoreEvent`), for trace and session scores alike."""

from django.utils import timezone

from evaluations.models import ScoreEvent, SessionScore, TraceScore
from pandaprobe.projects.access import ProjectAccess

SNAPSHOT_FIELDS = ("value", "reason", "source", "status", "metadata")


def score_snapshot(score: TraceScore | SessionScore) -> dict:
    """What the history keeps of a score: take it before a change and pass it as `before`."""
    return {field: getattr(score, field) for field in SNAPSHOT_FIELDS}


def _target(score: TraceScore | SessionScore) -> dict:
    if isinstance(score, TraceScore):
        return {"target": ScoreEvent.Target.TRACE, "trace_id": score.trace_id}
    return {"target": ScoreEvent.Target.SESSION, "session_id": score.session_id}


def _sides(action: str, score, before: dict | None) -> dict:
    old = before or {}
    # A deleted score has no "new" side: the event shows what was removed.
    new = {} if action == ScoreEvent.Action.DELETE else score_snapshot(score)
    fields = {}
    for field in SNAPSHOT_FIELDS:
        fields[f"old_{field}"] = old.get(field)
        fields[f"new_{field}"] = new.get(field)
    return fields


def score_event_build(
    *, access: ProjectAccess, score: TraceScore | SessionScore, action: str, before: dict | None
) -> ScoreEvent:
    """The unsaved history event of `score_event_record`, for writing many in one insert."""
    if action not in ScoreEvent.Action.values:
        raise ValueError(f"unknown score event action {action!r}")
    return ScoreEvent(
        project_id=score.project_id,
        score_id=score.pk,
        score_name=score.name,
        action=action,
        actor_user=access.user,
        actor_api_key=access.api_key,
        actor_label=access.actor_label,
        created_at=timezone.now(),
        **_target(score),
        **_sides(action, score, before),
    )


def score_event_record(
    *, access: ProjectAccess, score: TraceScore | SessionScore, action: str, before: dict | None
) -> ScoreEvent:
    """Append one history event for `score` (a TraceScore or a SessionScore).

    `action` is "create", "update" or "delete"; `before` is `score_snapshot(score)` taken before
    the change (None for a create). The actor is `access.user`, else `access.api_key`, else the
    system. Call it inside the transaction that changes the score, so both or neither are stored.
    """
    event = score_event_build(access=access, score=score, action=action, before=before)
    event.save(force_insert=True)
    return event
