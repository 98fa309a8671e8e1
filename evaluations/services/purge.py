"""Scores go with what they score: deleting traces or a session deletes their trace and session
scores, each with a "delete" history event naming who deleted it.

`scores_purge` is registered with the trace services (`register_trace_dependent`, from
`EvaluationsConfig.ready`), which call it inside the delete's transaction with the traces locked, so
no score can be added to them meanwhile. Bulk throughout: one locking read, one INSERT ... SELECT of
events and one DELETE per kind of score, however many scores a trace or session has, then the
hourly rollups of the deleted scores are recomputed (`rollups.py`).
"""

from django.db.models import QuerySet

from evaluations.models import SessionScore, TraceScore
from pandaprobe.projects.access import ProjectAccess

from .history import score_events_record_deleted
from .rollups import rollup_keys, score_rollups_refresh


def scores_purge(*, access: ProjectAccess, trace_ids: list, session_ids: list[str]) -> None:
    """Delete the scores of `trace_ids` and the session scores of `session_ids` (sessions left with
    no trace) in `access.project`, recording a "delete" event by `access` for each."""
    project = access.project
    _purge(access, TraceScore.objects.filter(project=project, trace_id__in=trace_ids))
    if session_ids:
        _purge(access, SessionScore.objects.filter(project=project, session_id__in=session_ids))


def scores_delete(*, access: ProjectAccess, scores: QuerySet) -> int:
    """Delete these scores (of `access.project`) with a "delete" event each; returns how many."""
    return _purge(access, scores.filter(project=access.project))


def _purge(access: ProjectAccess, scores: QuerySet) -> int:
    # Locked first: an edit being saved finishes before its score's "delete" event copies it, and
    # an edit or delete that comes later finds the score gone (404): one "delete" event per score.
    if not list(scores.select_for_update().values_list("pk", flat=True)):
        return 0
    score_events_record_deleted(access=access, scores=scores)
    keys = rollup_keys(scores)
    # No new score can match meanwhile: its trace or session is locked by the caller.
    deleted, _ = scores.delete()
    score_rollups_refresh(scores.model, project_id=access.project.pk, keys=keys)
    return deleted
