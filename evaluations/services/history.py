"""The append-only edit history of scores (`ScoreEvent`), for trace and session scores alike."""

from django.db import connections
from django.db.models import F, QuerySet, Value
from django.utils import timezone

from evaluations.models import ScoreEvent, SessionScore, TraceScore
from pandaprobe.projects.access import ProjectAccess

SNAPSHOT_FIELDS = ("value", "reason", "source", "status", "metadata")
# What a score's events name as its subject, by kind of score.
SUBJECTS = {
    TraceScore: (ScoreEvent.Target.TRACE, "trace_id"),
    SessionScore: (ScoreEvent.Target.SESSION, "session_id"),
}


def score_snapshot(score: TraceScore | SessionScore) -> dict:
    """What the history keeps of a score: take it before a change and pass it as `before`."""
    return {field: getattr(score, field) for field in SNAPSHOT_FIELDS}


def _target(score: TraceScore | SessionScore) -> dict:
    target, field = SUBJECTS[type(score)]
    return {"target": target, field: getattr(score, field)}


def _actor(access: ProjectAccess) -> dict:
    return {
        "actor_user_id": access.user.pk if access.user is not None else None,
        "actor_api_key_id": access.api_key.pk if access.api_key is not None else None,
        "actor_label": access.actor_label,
    }


def _sides(action: str, score, before: dict | None) -> dict:
    old = before or {}
    # A deleted score has no "new" side: the event shows what was removed.
    new = {} if action == ScoreEvent.Action.DELETE else score_snapshot(score)
    fields = {}
    for field in SNAPSHOT_FIELDS:
        fields[f"old_{field}"] = old.get(field)
        fields[f"new_{field}"] = new.get(field)
    return fields


def _event(*, access: ProjectAccess, score: TraceScore | SessionScore, action: str, before: dict | None) -> ScoreEvent:
    if action not in ScoreEvent.Action.values:
        raise ValueError(f"unknown score event action {action!r}")
    return ScoreEvent(
        project_id=score.project_id,
        score_id=score.pk,
        score_name=score.name,
        action=action,
        created_at=timezone.now(),
        **_actor(access),
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
    event = _event(access=access, score=score, action=action, before=before)
    event.save(force_insert=True)
    return event


def score_events_record_created(*, access: ProjectAccess, scores: list) -> None:
    """The "create" event of each of `scores`, just created together, in one INSERT (as
    `score_event_record` would one by one). Call it in the transaction that created them."""
    ScoreEvent.objects.bulk_create(
        _event(access=access, score=score, action=ScoreEvent.Action.CREATE, before=None) for score in scores
    )


def score_events_record_deleted(*, access: ProjectAccess, scores: QuerySet) -> int:
    """Append the "delete" event of every score in `scores` (all trace or all session scores), as
    `score_event_record` would one by one, in a single INSERT ... SELECT; returns how many.

    The rows never leave the database: 10k scores cost one statement, not 10k model instances and a
    2 MB query (that took seconds). Call it with the scores locked, in the transaction that deletes
    them. `new_*` stay NULL, as for every delete.
    """
    target, subject = SUBJECTS[scores.model]
    constants = {
        "action": ScoreEvent.Action.DELETE.value,
        "created_at": timezone.now(),
        "target": target.value,
        **_actor(access),
    }
    columns = {
        "project_id": F("project_id"),
        "score_id": F("id"),
        "score_name": F("name"),
        subject: F(subject),
        **{f"old_{field}": F(field) for field in SNAPSHOT_FIELDS},
        **{name: Value(value, output_field=ScoreEvent._meta.get_field(name)) for name, value in constants.items()},
    }
    select = scores.order_by().annotate(**{f"event_{name}": value for name, value in columns.items()})
    select = select.values(*(f"event_{name}" for name in columns))
    compiler = select.query.get_compiler(select.db)
    sql, params = compiler.as_sql()
    # The SELECT's own column order (not assumed): its aliases name the event columns.
    order = [alias.removeprefix("event_") for _, _, alias in compiler.select]
    quote = compiler.connection.ops.quote_name
    names = ", ".join(quote(ScoreEvent._meta.get_field(name).column) for name in order)
    with connections[select.db].cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(ScoreEvent._meta.db_table)} ({names}) {sql}", params)
        return cursor.rowcount
