"""What a trace run does with its targets: which traces match, what a run would cost, and how one
trace is scored and stored. The lifecycle every run shares (create, dispatch, claim, finish, retry,
cancel, delete) is in `runs.py`, which calls this through `TRACE_RUNS`.
"""

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from evaluations import judge
from evaluations.metrics import TRACE_METRICS, build_trace_view, extractions_for, unknown_metrics
from pandaprobe.errors import InvalidRequest, NotFound
from pandaprobe.projects.access import ProjectAccess

from ..models import EvalRun, EvalTarget, EvalTargetType, ScoreDataType, ScoreSource, ScoreStatus
from ..selectors import runs as selectors
from .judging import MetricResult, evaluate_trace
from .scores import trace_score_create, trace_scores_create

# Every chat call carries the trace once, plus its instructions (about 1,500 characters).
INSTRUCTION_CHARS = 1500
ESTIMATE_SAMPLE = 20


def check_names(names: list[str], registry: dict, unknown: list[str], listing: str) -> list[str]:
    """The requested metric names once each, in order; 400 naming any that is not in `registry`."""
    names = list(dict.fromkeys(names))
    if not names:
        raise InvalidRequest(f"metrics: name at least one metric ({listing} lists them)")
    if unknown:
        raise InvalidRequest(f"metrics: unknown metric {', '.join(unknown)}; available: {', '.join(registry)}")
    return names


def ids_matching(select, access: ProjectAccess, filters: dict) -> list:
    """`select(project=, filters=)`, with a bad or unknown filter answered by a 400 naming it."""
    try:
        return select(project=access.project, filters=filters)
    except ValidationError as error:
        raise InvalidRequest(f"filters: {'; '.join(error.messages)}") from None
    except KeyError as error:
        raise InvalidRequest(f"filters: unknown filter {error.args[0]}") from None


def prompt_tokens_per_call(views_chars: list[int]) -> float:
    """Tokens of one chat call, from the characters of the sampled traces' views (4 per token)."""
    return (sum(views_chars) / max(1, len(views_chars)) + INSTRUCTION_CHARS) / 4


def trace_view_chars(project_id, trace_ids: list) -> list[int]:
    """The rendered size of each trace's view (a dry run's sample), loaded in two queries."""
    loaded = selectors.traces_for_judging(project_id=project_id, trace_ids=trace_ids)
    budget = settings.PANDAPROBE_JUDGE_TRACE_TOKENS
    return [len(build_trace_view(trace, spans, token_budget=budget).text) for _, trace, spans in loaded]


def database_idle() -> None:
    """Give this thread's database connection back while it waits seconds on the judge, so a worker's
    many targets in flight hold connections only while they read or write (the next query
    reconnects). Not inside a transaction, and not on SQLite, whose in-memory test databases live
    and die with their connection."""
    if connection.vendor != "sqlite" and not connection.in_atomic_block:
        connection.close()


def score_metadata(result: MetricResult, model: str | None, **extra) -> dict:
    """What an AUTOMATED score records of how it was made (model, prompts, tokens, cost, latency)."""
    usage = result.usage
    metadata = {
        "model": model, "prompt_version": result.prompt_versions.get("judge"),
        "prompt_versions": result.prompt_versions, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "cost": usage.cost if usage.calls else 0.0,
        "latency_ms": round(usage.latency_ms, 1), "judge_calls": usage.calls,
        "threshold": result.metric.default_threshold, **extra,
    }  # fmt: skip
    if result.outcome is not None and result.outcome.details:
        metadata["details"] = result.outcome.details
    return metadata


def score_value(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def judged_score_fields(*, run: EvalRun, name: str, outcome, error: str | None, metadata: dict) -> dict:
    """A score service's fields for one AUTOMATED score of `run` (FAILED, value null, when there is
    no value)."""
    failed = outcome is None or outcome.value is None
    return {
        "name": name, "value": None if failed else score_value(outcome.value), "data_type": ScoreDataType.NUMERIC,
        "source": ScoreSource.AUTOMATED, "status": ScoreStatus.FAILED if failed else ScoreStatus.SUCCESS,
        "reason": (error or (outcome.reason if outcome else None)) if failed else outcome.reason,
        "metadata": metadata, "eval_run_id": run.pk,
    }  # fmt: skip


def _store(create, access: ProjectAccess, fields: dict, **subject) -> None:
    try:
        with transaction.atomic():
            create(access=access, **fields, **subject)
    except IntegrityError:
        pass  # another delivery of this item stored it first
    except NotFound:
        pass  # the trace (or the whole session) was deleted meanwhile


def judged_score_store(create, *, access: ProjectAccess, run: EvalRun, name: str, outcome, error: str | None,
                       metadata: dict, **subject) -> None:  # fmt: skip
    """Store one AUTOMATED score of `run` through the score service `create`. A second delivery of
    the same work finds it stored: one score per (run, target, name)."""
    _store(create, access, judged_score_fields(run=run, name=name, outcome=outcome, error=error, metadata=metadata),
           **subject)  # fmt: skip


def _result_fields(run: EvalRun, result: MetricResult, **extra) -> dict:
    metadata = score_metadata(result, run.model, **extra)
    return judged_score_fields(run=run, name=result.metric.name, outcome=result.outcome, error=result.error,
                               metadata=metadata)  # fmt: skip


def metric_result_store(access: ProjectAccess, run: EvalRun, trace_id, result: MetricResult, **extra) -> None:
    _store(trace_score_create, access, _result_fields(run, result, **extra), trace_id=trace_id)


def metric_results_store(access: ProjectAccess, run: EvalRun, trace_id, results: list[MetricResult]) -> None:
    """A trace's scores of `run`, stored together (one transaction). When a second delivery of the
    item stored some of them first, the rest are stored one by one."""
    try:
        trace_scores_create(access=access, trace_id=trace_id, scores=[_result_fields(run, r) for r in results])
    except IntegrityError:
        for result in results:
            metric_result_store(access, run, trace_id, result)
    except NotFound:
        pass  # the trace was deleted meanwhile


class TraceRuns:
    """Runs whose targets are traces, scored with the judge's trace metrics."""

    target_type = EvalTargetType.TRACE
    key = "trace_id"  # names a target on EvalTarget and on its scores
    noun = "trace"
    metrics = TRACE_METRICS

    def check_metrics(self, names: list[str]) -> list[str]:
        return check_names(names, TRACE_METRICS, unknown_metrics(names), "GET /evaluations/trace-metrics")

    def check_options(self, options: dict) -> dict:
        return {}

    def matching(self, access: ProjectAccess, filters: dict) -> list:
        return ids_matching(selectors.trace_ids_matching, access, filters)

    def found(self, access: ProjectAccess, ids: list) -> set:
        return selectors.traces_found(project=access.project, trace_ids=ids)

    def estimate(self, access: ProjectAccess, ids: list, metric_names: list[str]) -> tuple[int, int]:
        """Judge calls (at most) and prompt tokens of a run over `ids`."""
        metrics = [TRACE_METRICS[name] for name in metric_names]
        calls = (len(extractions_for(metrics)) + len(metrics)) * len(ids)
        per_call = prompt_tokens_per_call(trace_view_chars(access.project.pk, ids[:ESTIMATE_SAMPLE]))
        return calls, math.ceil(per_call * calls)

    def evaluate(self, run: EvalRun, target: EvalTarget) -> judge.Usage:
        """Score the trace with the metrics the run has not scored on it yet, and store the scores."""
        loaded = selectors.trace_for_judging(project_id=run.project_id, trace_id=target.trace_id)
        if loaded is None:
            return judge.Usage()  # deleted since the run was created: nothing to score
        done = selectors.metrics_scored(run=run, target=target)
        metrics = [TRACE_METRICS[name] for name in (target.metric_names or run.metric_names) if name not in done]
        if not metrics:
            return judge.Usage()
        view = build_trace_view(*loaded, token_budget=settings.PANDAPROBE_JUDGE_TRACE_TOKENS)
        database_idle()
        evaluation = evaluate_trace(judge.JudgeConfig.from_settings(run.model), view, metrics)
        access = ProjectAccess.system(run.project)
        metric_results_store(access, run, target.trace_id, evaluation.results)
        return evaluation.usage


TRACE_RUNS = TraceRuns()
