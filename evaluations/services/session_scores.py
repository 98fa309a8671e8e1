"""Writes for session scores, by the same rules as trace scores: one value check
(`validate_score_value`), one edit history (`score_event_record`, target SESSION), written in the
same transaction as the score."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from evaluations.models import ScoreConfig, ScoreDataType, ScoreEvent, ScoreSource, ScoreStatus, SessionScore
from pandaprobe.projects.authentication import ProjectAccess
from pandaprobe.traces.selectors import traces_of

from .history import score_event_record, score_snapshot
from .scores import EDITABLE_FIELDS, _check_choice, _check_config, _check_name
from .values import validate_score_value


def _check_session(access: ProjectAccess, session_id: str) -> str:
    """A session exists in a project when at least one of its traces does (404 otherwise)."""
    session_id = (session_id or "").strip() if isinstance(session_id, str) else ""
    if not session_id or not traces_of(access.project).filter(session_id=session_id).exists():
        raise Http404("Session not found")
    return session_id


def session_score_create(
    *,
    access: ProjectAccess,
    session_id: str,
    name: str,
    value: str,
    data_type: str = ScoreDataType.NUMERIC,
    source: str = ScoreSource.ANNOTATION,
    reason: str | None = None,
    metadata: dict | None = None,
    config: ScoreConfig | None = None,
) -> SessionScore:
    """Score a session of `access.project` as a whole (404 when no trace of it is in the project).

    Same checks as `trace_score_create`: the value against `data_type` and `config` (422 naming the
    field), the author is `access.user` (None for an API key). Which sources a caller may use is
    the caller's rule (the API allows ANNOTATION and PROGRAMMATIC).
    """
    session_id = _check_session(access, session_id)
    name = _check_name(name)
    _check_choice("data_type", data_type, ScoreDataType)
    _check_choice("source", source, ScoreSource)
    _check_config(config, access)
    value, numeric_value = validate_score_value(data_type=data_type, value=value, config=config)
    now = timezone.now()
    with transaction.atomic():
        score = SessionScore.objects.create(
            project=access.project,
            session_id=session_id,
            name=name,
            value=value,
            numeric_value=numeric_value,
            data_type=data_type,
            source=source,
            status=ScoreStatus.SUCCESS,
            author=access.user,
            reason=reason,
            config=config,
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
        )
        score_event_record(access=access, score=score, action=ScoreEvent.Action.CREATE, before=None)
    return score


def _locked(score: SessionScore) -> SessionScore:
    """The score's current row, locked until the transaction ends (404 if it was deleted meanwhile)."""
    locked = SessionScore.objects.select_for_update().filter(pk=score.pk, project_id=score.project_id).first()
    if locked is None:
        raise Http404("Score not found")
    return locked


def _apply_changes(score: SessionScore, changes: dict) -> None:
    if changes.get("value") is not None:
        score.value, score.numeric_value = validate_score_value(
            data_type=score.data_type, value=changes["value"], config=score.config
        )
    elif score.value is None:
        raise ValidationError({"value": "this score has no value yet: send one"})
    if "reason" in changes:
        score.reason = changes["reason"]
    if changes.get("metadata") is not None:
        score.metadata = changes["metadata"]


def session_score_update(*, access: ProjectAccess, score: SessionScore, changes: dict) -> SessionScore:
    """Edit a session score by hand, like `trace_score_update`: `changes` may hold value, reason
    and metadata (omitted means unchanged; reason None clears it; metadata is replaced). The
    score becomes SUCCESS and ANNOTATION, updated_at is now, and a user caller becomes the author.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "this field cannot be changed" for field in sorted(unknown)})
    with transaction.atomic():
        score = _locked(score)
        before = score_snapshot(score)
        _apply_changes(score, changes)
        score.status = ScoreStatus.SUCCESS
        score.source = ScoreSource.ANNOTATION
        score.updated_at = timezone.now()
        if access.user is not None:
            score.author = access.user
        score.save()
        score_event_record(access=access, score=score, action=ScoreEvent.Action.UPDATE, before=before)
    return score


def session_score_delete(*, access: ProjectAccess, score: SessionScore) -> None:
    """Delete a session score; its history keeps a final "delete" event."""
    with transaction.atomic():
        score = _locked(score)
        before = score_snapshot(score)
        score_event_record(access=access, score=score, action=ScoreEvent.Action.DELETE, before=before)
        score.delete()
