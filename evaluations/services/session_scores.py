"""Writes for session scores, by the same rules as trace scores: one value check
(`validate_score_value`), one edit history (`score_event_record`, target SESSION), written in the
same transaction as the score."""

from django.db import transaction

from evaluations.models import SessionScore
from pandaprobe.errors import NotFound
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.traces.services import session_hold

from .scores import score_create, score_delete, score_update


def _check_session(access: ProjectAccess, session_id: str) -> str:
    """A session exists in a project when at least one of its traces does (404 otherwise); it is held
    until the caller's transaction ends, so a concurrent delete of the session purges the new score
    or happened first (404)."""
    session_id = (session_id or "").strip() if isinstance(session_id, str) else ""
    if not session_id:
        raise NotFound("Session not found")
    session_hold(project=access.project, session_id=session_id)
    return session_id


def session_score_create(*, access: ProjectAccess, session_id: str, **fields) -> SessionScore:
    """Score a session of `access.project` as a whole (404 when no trace of it is in the project).
    `fields` are those of `score_create`."""
    with transaction.atomic():
        session_id = _check_session(access, session_id)
        return score_create(SessionScore, access=access, subject={"session_id": session_id}, **fields)


# Session scores are edited and deleted like any score.
session_score_update = score_update
session_score_delete = score_delete
