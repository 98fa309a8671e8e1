"""Scores go with what they score: deleting traces or a session deletes their trace and session
scores, each with a "delete" history event naming who deleted it.

`scores_purge` is registered with the trace services (`register_trace_dependent`, from
`EvaluationsConfig.ready`), which call it inside the delete's transaction with the traces locked, so
no score can be added to them meanwhile. Bulk throughout: one read, one insert of events and one
delete per kind of score, however many scores a trace or session has.
"""

from django.db.models import QuerySet

from evaluations.models import ScoreEvent, SessionScore, TraceScore
from pandaprobe.projects.access import ProjectAccess

from .history import SNAPSHOT_FIELDS, score_event_build, score_snapshot

# What a "delete" event needs of a score: its id, project, name, subject and snapshot.
EVENT_FIELDS = ("id", "project_id", "name", *SNAPSHOT_FIELDS)


def scores_purge(*, access: ProjectAccess, trace_ids: list, session_ids: list[str]) -> None:
    """Delete the scores of `trace_ids` and the session scores of `session_ids` (sessions left with
    no trace) in `access.project`, recording a "delete" event by `access` for each."""
    project = access.project
    _purge(access, TraceScore.objects.filter(project=project, trace_id__in=trace_ids), "trace_id")
    if session_ids:
        _purge(access, SessionScore.objects.filter(project=project, session_id__in=session_ids), "session_id")


def _purge(access: ProjectAccess, scores: QuerySet, subject_field: str) -> int:
    # Locked as read: an edit or delete of one of them waits for this transaction, then finds the
    # score gone (404), so each score gets exactly one "delete" event.
    doomed = list(scores.select_for_update().only(*EVENT_FIELDS, subject_field).order_by("pk"))
    if not doomed:
        return 0
    ScoreEvent.objects.bulk_create(
        score_event_build(
            access=access, score=score, action=ScoreEvent.Action.DELETE, before=score_snapshot(score)
        )
        for score in doomed
    )
    scores.delete()  # no new score can match meanwhile: its trace or session is locked by the caller
    return len(doomed)
