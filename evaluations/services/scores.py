"""Writes for trace and session scores. Every create, edit and delete appends a `ScoreEvent` in the same
transaction, so a score never changes without its history saying who changed it and how, and keeps
the hourly rollups the analytics read (`rollups.py`) equal to the scores."""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from evaluations.models import (
    ScoreConfig,
    ScoreDataType,
    ScoreEvent,
    ScoreFields,
    ScoreSource,
    ScoreStatus,
    TraceScore,
)
from pandaprobe.errors import NotFound, PermissionDenied
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.traces.services import trace_hold

from .history import score_event_record, score_events_record_created, score_snapshot
from .rollups import rollup_key, score_rollups_add, score_rollups_refresh
from .values import check_config_type, validate_score_value

EDITABLE_FIELDS = ("value", "reason", "metadata")
# Who may create a score of each source (the role table is `pandaprobe.projects.access`).
SOURCE_ACTIONS = {
    ScoreSource.ANNOTATION: Action.SCORE_ANNOTATE,
    ScoreSource.PROGRAMMATIC: Action.SCORE_PROGRAMMATIC,
    ScoreSource.AUTOMATED: Action.SCORE_AUTOMATED,
}


def _require_source(access: ProjectAccess, source: str) -> None:
    access.require(SOURCE_ACTIONS[source], f"The {access.actor.value} role may not create {source} scores")


def score_change_allowed(access: ProjectAccess, score: ScoreFields) -> bool:
    """Whether `access` may edit or delete `score`: any score for who may manage scores, else only
    one's own annotation. Pages ask it before offering an edit, so they never offer a refusal."""
    if access.can(Action.SCORE_MANAGE):
        return True
    own = access.user is not None and score.author_id == access.user.pk
    return own and score.source == ScoreSource.ANNOTATION and access.can(Action.SCORE_ANNOTATE)


def _require_change(access: ProjectAccess, score: ScoreFields) -> None:
    if not score_change_allowed(access, score):
        raise PermissionDenied("You may only edit or delete your own annotations")


def _check_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise ValidationError({field: f"'{value}' is not one of {', '.join(choices.values)}"})


def _check_config(config: ScoreConfig | None, access: ProjectAccess) -> None:
    if config is None:
        return
    if config.project_id != access.project.pk:
        raise ValidationError({"config_id": "no such score config in this project"})
    if config.is_archived:
        raise ValidationError({"config_id": f"score config '{config.name}' is archived"})


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a score name is required"})
    if len(name) > TraceScore._meta.get_field("name").max_length:
        raise ValidationError({"name": "must be at most 255 characters"})
    return name


def _require_system_fields(access: ProjectAccess, status: str, eval_run_id) -> None:
    """A status other than SUCCESS and a link to an evaluation run are what only the judge knows."""
    if status != ScoreStatus.SUCCESS or eval_run_id is not None:
        access.require(
            Action.SCORE_AUTOMATED,
            f"The {access.actor.value} role may not set a score's status or evaluation run",
        )


def _check_run_id(eval_run_id) -> uuid.UUID | None:
    if eval_run_id is None or isinstance(eval_run_id, uuid.UUID):
        return eval_run_id
    try:
        return uuid.UUID(str(eval_run_id))
    except ValueError:
        raise ValidationError({"eval_run_id": f"'{eval_run_id}' is not a UUID"}) from None


def _checked_value(
    *, status: str, data_type: str, value: str | None, reason: str | None, config: ScoreConfig | None
) -> tuple[str | None, float | None]:
    """`(value, numeric_value)` of a new score. A SUCCESS score has a valid value; a FAILED or
    PENDING one has none yet (a FAILED one says why in its reason)."""
    if status == ScoreStatus.SUCCESS:
        return validate_score_value(data_type=data_type, value=value, config=config)
    check_config_type(data_type=data_type, config=config)
    if value is not None:
        raise ValidationError({"value": f"a {status} score has no value"})
    if status == ScoreStatus.FAILED and not (reason or "").strip():
        raise ValidationError({"reason": "a FAILED score needs a reason saying why"})
    return None, None


def _new_score(
    model: type[ScoreFields],
    *,
    access: ProjectAccess,
    subject: dict,
    name: str,
    value: str | None,
    data_type: str = ScoreDataType.NUMERIC,
    source: str = ScoreSource.ANNOTATION,
    status: str = ScoreStatus.SUCCESS,
    eval_run_id: uuid.UUID | None = None,
    reason: str | None = None,
    metadata: dict | None = None,
    config: ScoreConfig | None = None,
) -> ScoreFields:
    """A new score, checked and not saved yet (`score_create` says what is checked)."""
    _check_choice("source", source, ScoreSource)
    _check_choice("status", status, ScoreStatus)
    _require_source(access, source)
    _require_system_fields(access, status, eval_run_id)
    name = _check_name(name)
    _check_choice("data_type", data_type, ScoreDataType)
    _check_config(config, access)
    eval_run_id = _check_run_id(eval_run_id)
    value, numeric_value = _checked_value(
        status=status, data_type=data_type, value=value, reason=reason, config=config
    )
    now = timezone.now()
    return model(
        **subject,
        project=access.project,
        name=name,
        value=value,
        numeric_value=numeric_value,
        data_type=data_type,
        source=source,
        status=status,
        eval_run_id=eval_run_id,
        author=access.user,
        reason=reason,
        config=config,
        metadata=metadata or {},
        created_at=now,
        updated_at=now,
    )


def scores_create(model: type[ScoreFields], *, access: ProjectAccess, subject: dict, scores: list[dict]) -> list:
    """Several scores of one subject (each dict holds `score_create`'s fields), with their "create"
    events, in one transaction and one INSERT each for the scores and the events: all or none. The
    judge stores a trace's metrics this way: one by one, the writes cost as much CPU as the calls."""
    created = [_new_score(model, access=access, subject=subject, **fields) for fields in scores]
    # No savepoint inside a caller's transaction (two round trips per judged trace): an error here
    # leaves through the caller's own `atomic`, which every caller lets roll back.
    with transaction.atomic(savepoint=False):
        model.objects.bulk_create(created)
        score_events_record_created(access=access, scores=created)
        score_rollups_add(created)
    return created


def score_create(model: type[ScoreFields], *, access: ProjectAccess, subject: dict, **fields) -> ScoreFields:
    """Create a trace or session score (`subject` holds what it scores) with its "create" event.

    The value is validated against `data_type` and `config` (`ValidationError` naming the field);
    the author is `access.user` (None for an API key or the system). The role table decides who may
    use which `source`; only the system actor (the judge) may create AUTOMATED scores, a FAILED or
    PENDING `status` (no value; a FAILED score's `reason` says why) or link an `eval_run_id`.
    """
    return scores_create(model, access=access, subject=subject, scores=[fields])[0]


def trace_scores_create(*, access: ProjectAccess, trace_id, scores: list[dict]) -> list[TraceScore]:
    """Several scores of a trace of `access.project` at once (`scores_create`; 404 when the trace
    is not in it); the environment is copied from the trace."""
    with transaction.atomic():
        # Held until the scores are stored: a concurrent delete of the trace waits and deletes these
        # scores too, or happened first and this is a 404 rather than a foreign-key violation.
        trace = trace_hold(project=access.project, trace_id=trace_id)
        subject = {"trace": trace, "environment": trace.environment}
        return scores_create(TraceScore, access=access, subject=subject, scores=scores)


def trace_score_create(*, access: ProjectAccess, trace_id, **fields) -> TraceScore:
    """Score a trace of `access.project` (404 when the trace is not in it); the environment is
    copied from the trace. `fields` are those of `score_create`."""
    return trace_scores_create(access=access, trace_id=trace_id, scores=[fields])[0]


def _locked(score: ScoreFields) -> ScoreFields:
    """The score's current row, locked until the transaction ends (404 if it was deleted meanwhile)."""
    model = type(score)
    locked = model.objects.select_for_update().filter(pk=score.pk, project_id=score.project_id).first()
    if locked is None:
        raise NotFound("Score not found")
    return locked


def _apply_changes(score: ScoreFields, changes: dict) -> None:
    if changes.get("value") is not None:
        score.value, score.numeric_value = validate_score_value(
            data_type=score.data_type, value=changes["value"], config=score.config
        )
    elif score.value is None:
        # A FAILED score has no value; it cannot become SUCCESS without one.
        raise ValidationError({"value": "this score has no value yet: send one"})
    if "reason" in changes:
        score.reason = changes["reason"]
    if changes.get("metadata") is not None:
        score.metadata = changes["metadata"]


def _has_changes(changes: dict) -> bool:
    """Whether a PATCH asks for anything: a value or metadata that is not null, or a reason (null
    clears it). Sending the current value again is a change: a human confirmed the score."""
    return changes.get("value") is not None or "reason" in changes or changes.get("metadata") is not None


def score_update(*, access: ProjectAccess, score: ScoreFields, changes: dict) -> ScoreFields:
    """Edit a trace or session score by hand: `changes` may hold value, reason and metadata.

    A value is validated against the score's data type and config; `value` None means unchanged,
    `reason` None clears the reason, metadata is replaced. Whatever changed, the score becomes
    status SUCCESS and source ANNOTATION (a human edit), updated_at is now, and the author becomes
    `access.user` when the caller is a user (an API key caller leaves the author as it was).
    A PATCH that asks for nothing (`{}`) changes nothing, writes no event, and returns the score.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "this field cannot be changed" for field in sorted(unknown)})
    with transaction.atomic():
        score = _locked(score)
        _require_change(access, score)
        if not _has_changes(changes):
            return score
        before, counted = score_snapshot(score), _counted(score)
        _apply_changes(score, changes)
        score.status = ScoreStatus.SUCCESS
        score.source = ScoreSource.ANNOTATION
        score.updated_at = timezone.now()
        if access.user is not None:
            score.author = access.user
        score.save()
        score_event_record(access=access, score=score, action=ScoreEvent.Action.UPDATE, before=before)
        if _counted(score) != counted:
            keys = {rollup_key(score), (score.name, counted[0], counted[1])}
            score_rollups_refresh(type(score), project_id=score.project_id, keys=keys)
    return score


def _counted(score: ScoreFields) -> tuple:
    """What the rollups count of a score: its row's source and hour, its status and value."""
    _, source, hour = rollup_key(score)
    return source, hour, score.status, score.numeric_value


def score_delete(*, access: ProjectAccess, score: ScoreFields) -> None:
    """Delete a trace or session score; its history (with a final "delete" event) stays readable
    by admins."""
    with transaction.atomic():
        score = _locked(score)
        _require_change(access, score)
        before = score_snapshot(score)
        score_event_record(access=access, score=score, action=ScoreEvent.Action.DELETE, before=before)
        key = rollup_key(score)
        score.delete()
        score_rollups_refresh(type(score), project_id=score.project_id, keys=[key])


# Trace scores are edited and deleted like any score.
trace_score_update = score_update
trace_score_delete = score_delete
