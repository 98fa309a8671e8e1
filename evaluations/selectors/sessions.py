"""Reads for session scores and the session page. Every query starts from a project."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from pandaprobe.api.errors import require_valid
from pandaprobe.errors import NotFound, get_or_not_found
from pandaprobe.traces.models import Span
from pandaprobe.traces.selectors import traces_of

from ..filters import SessionScoreFilter
from ..metrics.session import SESSION_METRICS, SIGNALS
from ..models import ScoreSource, SessionScore
from .scores import NEWEST_FIRST, latest_per_name


def session_scores_of(project) -> QuerySet:
    return SessionScore.objects.filter(project=project)


def session_exists(*, project, session_id: str) -> bool:
    return traces_of(project).filter(session_id=session_id).exists()


def session_score_get(*, project, score_id) -> SessionScore:
    """One session score of the project (404 otherwise)."""
    return get_or_not_found(session_scores_of(project), "Score not found", pk=score_id)


def session_scores_list(*, project, params) -> QuerySet:
    """The project's session scores filtered by query parameters (422 on a bad one), newest first."""
    filterset = require_valid(SessionScoreFilter(params, queryset=session_scores_of(project)))
    return filterset.qs.order_by(*NEWEST_FIRST)


def session_scores_for_session(*, project, session_id: str) -> list[SessionScore]:
    """Every score of one session, newest first; 404 when the project knows nothing of it."""
    scores = list(session_scores_of(project).filter(session_id=session_id).order_by(*NEWEST_FIRST))
    if not scores and not session_exists(project=project, session_id=session_id):
        raise NotFound("Session not found")
    return scores


def latest_session_scores(*, project, session_id: str) -> list[SessionScore]:
    """The newest score of each name on one session, by name, with its author (one query)."""
    scores = session_scores_of(project).filter(session_id=session_id).select_related("author")
    return list(latest_per_name(scores, partition=[F("name")]))


def latest_scores_for_sessions(*, project, session_ids: Iterable[str]) -> dict[str, list[SessionScore]]:
    """`latest_session_scores` for many sessions in one query (list badges)."""
    session_ids = list(session_ids)
    result: dict[str, list[SessionScore]] = defaultdict(list)
    # The badges' titles name each score's author.
    scores = session_scores_of(project).filter(session_id__in=session_ids).select_related("author")
    for score in latest_per_name(scores, partition=[F("session_id"), F("name")]):
        result[score.session_id].append(score)
    return {session_id: result.get(session_id, []) for session_id in session_ids}


def session_traces(
    *, project, session_id: str, limit: int, offset: int, payloads: bool = False
) -> tuple[list, int]:
    """A page of a session's traces, oldest first, and their total; 404 for an unknown session.
    Their input and output only with `payloads` (the conversation reads them; a table does not)."""
    deferred = ("metadata",) if payloads else ("input", "output", "metadata")  # payloads can be large
    traces = traces_of(project).filter(session_id=session_id).defer(*deferred).order_by("started_at", "pk")
    page = list(traces[offset : offset + limit])
    # A short first page is the whole session: no COUNT needed.
    total = len(page) if offset == 0 and len(page) < limit else traces.count()
    if total == 0:
        raise NotFound("Session not found")
    return page, total


def first_spans(*, project, trace_ids: Iterable, per_trace: int) -> dict:
    """The first `per_trace` spans of each trace by start time, without payloads, for links to
    the trace page's span anchors (one query; traces without spans map to an empty list)."""
    trace_ids = list(trace_ids)
    ranked = (
        Span.objects.filter(trace__project=project, trace_id__in=trace_ids)
        .only("trace_id", "span_id", "name", "kind", "status", "started_at")
        .annotate(rank=Window(RowNumber(), partition_by=[F("trace_id")], order_by=[F("started_at"), F("id")]))
    )
    result: dict = defaultdict(list)
    for span in ranked.filter(rank__lte=per_trace).order_by("trace_id", "started_at", "id"):
        result[span.trace_id].append(span)
    return {trace_id: result.get(trace_id, []) for trace_id in trace_ids}


@dataclass(frozen=True)
class SessionEvaluation:
    """The judge's newest verdicts on a session (agent_reliability, agent_consistency) and the
    per-trace signals behind them, as the session page shows them."""

    scores: list[SessionScore]
    signals: tuple[str, ...]
    rows: list[dict]


def session_evaluation(*, project, session_id: str) -> SessionEvaluation | None:
    """None until a session run has scored the session."""
    automated = session_scores_of(project).filter(
        session_id=session_id, source=ScoreSource.AUTOMATED, name__in=list(SESSION_METRICS)
    )
    scores = {score.name: score for score in latest_per_name(automated, partition=[F("name")])}
    if not scores:
        return None
    ordered = [scores[name] for name in SESSION_METRICS if name in scores]
    rows: dict[str, dict] = {}
    for score in ordered:  # reliability's risk and consistency's u, by trace, in session order
        for trace in (score.metadata.get("details") or {}).get("traces", []):
            values = [trace["signals"].get(name) for name in SIGNALS]
            row = rows.setdefault(trace["trace_id"], {"trace_id": trace["trace_id"], "values": values})
            row.update({key: trace[key] for key in ("risk", "flagged", "worst_signal", "u") if key in trace})
    return SessionEvaluation(scores=ordered, signals=SIGNALS, rows=list(rows.values()))
