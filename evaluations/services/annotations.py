"""A reviewer's "save" on the scoring forms: edit their own latest score of that name, else add one.

Both paths are the ordinary score services, so the rules and the edit history are the same as
through the API.
"""

from functools import partial

from evaluations.models import ScoreConfig, ScoreFields, ScoreSource, SessionScore, TraceScore
from evaluations.selectors.scores import latest_scores_per_reviewer
from evaluations.selectors.sessions import latest_session_scores
from pandaprobe.projects.access import ProjectAccess

from .scores import score_change_allowed, score_update, trace_score_create
from .session_scores import session_score_create


def own_annotation(
    scores: list, *, access: ProjectAccess, name: str, data_type: str, config: ScoreConfig | None
):
    """The acting user's own annotation of `name` among `scores` (the latest per name, source and
    author; or per name) when it has the same data type and config and they may still change it,
    else None. Anything else (a judge's score, a teammate's) is never overwritten."""
    user_id = getattr(access.user, "pk", None)
    latest = next((score for score in scores if score.name == name and _own(score, user_id)), None)
    if (
        latest is not None
        and latest.data_type == data_type
        and latest.config_id == (config.pk if config else None)
        and score_change_allowed(access, latest)
    ):
        return latest
    return None


def _own(score: ScoreFields, user_id) -> bool:
    return score.source == ScoreSource.ANNOTATION and user_id is not None and score.author_id == user_id


def _annotate(access: ProjectAccess, latest: list, create, fields: dict, reason_given: bool):
    """Edit the user's own latest score of that name (PATCH semantics), else create one."""
    own = own_annotation(
        latest, access=access, name=fields["name"], data_type=fields["data_type"], config=fields["config"]
    )
    if own is not None:
        changes = (
            {"value": fields["value"], "reason": fields["reason"]}
            if reason_given
            else {"value": fields["value"]}
        )
        return score_update(access=access, score=own, changes=changes), False
    return create(access=access, source=ScoreSource.ANNOTATION, **fields), True


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

    Edits the latest score of that name when it is this user's own annotation of the same type and
    config (the reason changes only when the reviewer gave or cleared one); otherwise creates one
    with source ANNOTATION.
    """
    fields = {
        "name": (name or "").strip(),
        "value": value,
        "data_type": data_type,
        "config": config,
        "reason": reason,
    }
    latest = latest_scores_per_reviewer(project=access.project, trace_ids=[trace_id])[trace_id]
    create = partial(trace_score_create, trace_id=trace_id)
    return _annotate(access, latest, create, fields, reason_given)


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
    fields = {
        "name": (name or "").strip(),
        "value": value,
        "data_type": data_type,
        "config": config,
        "reason": reason,
    }
    latest = latest_session_scores(project=access.project, session_id=session_id)
    create = partial(session_score_create, session_id=session_id)
    return _annotate(access, latest, create, fields, reason_given)
