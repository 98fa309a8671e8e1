"""A reviewer's "save" on the scoring forms: edit their own latest score of that name, else add one.

Both paths are the ordinary score services, so the rules and the edit history are the same as
through the API.
"""

from evaluations.models import ScoreConfig, ScoreSource, SessionScore, TraceScore
from evaluations.selectors.scores import latest_scores_for_trace
from evaluations.selectors.sessions import latest_session_scores
from pandaprobe.projects.authentication import ProjectAccess

from .scores import trace_score_create, trace_score_update
from .session_scores import session_score_create, session_score_update


def own_annotation(scores: list, *, user, name: str, data_type: str, config: ScoreConfig | None):
    """The latest score of `name` among `scores` when `user` gave it by hand with the same data type
    and config, else None. Anything else (a judge's score, a teammate's) is never overwritten."""
    latest = next((score for score in scores if score.name == name), None)
    if (
        latest is not None
        and latest.source == ScoreSource.ANNOTATION
        and latest.author_id is not None
        and latest.author_id == getattr(user, "pk", None)
        and latest.data_type == data_type
        and latest.config_id == (config.pk if config else None)
    ):
        return latest
    return None


def _changes(value: str, reason: str | None, reason_given: bool) -> dict:
    # PATCH semantics: the reason changes only when the reviewer gave (or cleared) one.
    return {"value": value, "reason": reason} if reason_given else {"value": value}


def trace_score_annotate(
    *,
    access: ProjectAccess,
    trace_id,
    name: str,
    value: str,
    data_type: str,
    config: ScoreConfig | None = None,
    reason: str | None = None,
    reason_given: bool = True,
) -> tuple[TraceScore, bool]:
    """Save a reviewer's score of a trace; returns (score, created).

    Edits (trace_score_update) when the latest score of that name is this user's own annotation
    of the same type and config; otherwise creates one with source ANNOTATION.
    """
    name = (name or "").strip()
    latest = latest_scores_for_trace(project=access.project, trace_id=trace_id)
    own = own_annotation(latest, user=access.user, name=name, data_type=data_type, config=config)
    if own is not None:
        changes = _changes(value, reason, reason_given)
        return trace_score_update(access=access, score=own, changes=changes), False
    score = trace_score_create(
        access=access,
        trace_id=trace_id,
        name=name,
        value=value,
        data_type=data_type,
        source=ScoreSource.ANNOTATION,
        reason=reason,
        config=config,
    )
    return score, True


def session_score_annotate(
    *,
    access: ProjectAccess,
    session_id: str,
    name: str,
    value: str,
    data_type: str,
    config: ScoreConfig | None = None,
    reason: str | None = None,
    reason_given: bool = True,
) -> tuple[SessionScore, bool]:
    """Save a reviewer's score of a whole session; returns (score, created). Same rule as
    `trace_score_annotate`."""
    name = (name or "").strip()
    latest = latest_session_scores(project=access.project, session_id=session_id)
    own = own_annotation(latest, user=access.user, name=name, data_type=data_type, config=config)
    if own is not None:
        changes = _changes(value, reason, reason_given)
        return session_score_update(access=access, score=own, changes=changes), False
    score = session_score_create(
        access=access,
        session_id=session_id,
        name=name,
        value=value,
        data_type=data_type,
        source=ScoreSource.ANNOTATION,
        reason=reason,
        config=config,
    )
    return score, True
