"""Evaluation runs: create (by filter or by ids), dispatch, process, retry, cancel, delete, resume.

A run is split into one `EvalTarget` per trace. Workers claim an item with a conditional update and a
lease (`PENDING` -> `RUNNING`, or a `RUNNING` item whose lease ran out), score the metrics the run has
not scored on it yet, and finish it with another conditional update that alone moves the run's
counters, so a message delivered twice, or redelivered after a worker was killed, never scores or
counts twice. The database's unique (run, trace, name) constraint is the last guard.
"""

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from evaluations import judge
from evaluations.metrics import TRACE_METRICS, build_trace_view, extractions_for, unknown_metrics
from pandaprobe.errors import Conflict, InvalidRequest, NotFound, RuleViolation
from pandaprobe.projects.access import Action, ProjectAccess

from ..models import (
    EvalRun,
    EvalRunStatus,
    EvalTarget,
    EvalTargetStatus,
    EvalTargetType,
    ScoreDataType,
    ScoreSource,
    ScoreStatus,
    TraceScore,
)
from ..selectors import runs as selectors
from .judging import MetricResult, evaluate_trace
from .purge import scores_delete
from .scores import trace_score_create

FINISHED = (EvalRunStatus.COMPLETED, EvalRunStatus.FAILED, EvalRunStatus.CANCELLED)
# Targets per message: a worker scores one message's targets side by side.
TARGETS_PER_MESSAGE = 8
# Traces a run made from a list of ids may hold (the batch API's limit too).
MAX_BATCH_TRACES = 10_000
# Expected size of a judge's answer, for dry-run estimates.
COMPLETION_TOKENS_ESTIMATE = 200


@dataclass(frozen=True)
class RunPlan:
    """What a run would do (`dry_run`), created nothing."""

    total_targets: int
    metric_names: list[str]
    judge_calls: int
    estimated_prompt_tokens: int
    estimated_completion_tokens: int
    estimated_cost: float | None
    model: str
    sample_trace_ids: list


def _check_metrics(metric_names: list[str]) -> list[str]:
    names = list(dict.fromkeys(metric_names))
    if not names:
        raise InvalidRequest("metrics: name at least one metric (GET /evaluations/trace-metrics lists them)")
    unknown = unknown_metrics(names)
    if unknown:
        raise InvalidRequest(
            f"metrics: unknown metric {', '.join(unknown)}; available: {', '.join(TRACE_METRICS)}"
        )
    return names


def metric_for_template(name: str | None):
    """The metric a run template is built for (400 naming it when there is no such metric)."""
    if not name:
        raise InvalidRequest("metric: name a metric (GET /evaluations/trace-metrics lists them)")
    _check_metrics([name])
    return TRACE_METRICS[name]


def _judge_config(model: str | None) -> judge.JudgeConfig:
    config = judge.JudgeConfig.from_settings(model)
    problem = config.problem()
    if problem:
        raise RuleViolation(problem)
    return config


def _matching_trace_ids(access: ProjectAccess, filters: dict, sampling_rate: float, seed: int | None) -> list:
    try:
        ids = selectors.trace_ids_matching(project=access.project, filters=filters)
    except ValidationError as error:
        raise InvalidRequest(f"filters: {'; '.join(error.messages)}") from None
    except KeyError as error:
        raise InvalidRequest(f"filters: unknown filter {error.args[0]}") from None
    return _sampled(ids, sampling_rate, seed)


def _sampled(ids: list, sampling_rate: float, seed: int | None) -> list:
    ids = selectors.sample(ids, sampling_rate, seed)
    if not ids:
        raise RuleViolation("No trace matches the filters (after sampling): nothing to evaluate")
    return ids


def _plan(access: ProjectAccess, config: judge.JudgeConfig, trace_ids: list, metric_names: list[str]) -> RunPlan:
    metrics = [TRACE_METRICS[name] for name in metric_names]
    calls_per_target = len(extractions_for(metrics)) + len(metrics)
    sample_ids = trace_ids[:20]
    prompt_chars = 0
    for trace_id in sample_ids:
        loaded = selectors.trace_for_judging(project_id=access.project.pk, trace_id=trace_id)
        if loaded is not None:
            prompt_chars += len(build_trace_view(*loaded, token_budget=settings.PANDAPROBE_JUDGE_TRACE_TOKENS).text)
    # Every chat call carries the trace once, plus its instructions (about 1,500 characters).
    per_call = (prompt_chars / max(1, len(sample_ids)) + 1500) / 4
    calls = calls_per_target * len(trace_ids)
    prompt_tokens, completion_tokens = math.ceil(per_call * calls), COMPLETION_TOKENS_ESTIMATE * calls
    return RunPlan(
        total_targets=len(trace_ids), metric_names=metric_names, judge_calls=calls,
        estimated_prompt_tokens=prompt_tokens, estimated_completion_tokens=completion_tokens,
        estimated_cost=judge.estimate_cost(config.model, prompt_tokens, completion_tokens), model=config.model,
        sample_trace_ids=[str(t) for t in sample_ids[:5]],
    )  # fmt: skip


def _create(access: ProjectAccess, *, trace_ids: list, metric_names, fields: dict, per_target=None) -> EvalRun:
    with transaction.atomic():
        run = EvalRun.objects.create(
            project=access.project, target_type=EvalTargetType.TRACE, metric_names=metric_names,
            total_targets=len(trace_ids), created_by=access.user, **fields,
        )  # fmt: skip
        EvalTarget.objects.bulk_create(
            EvalTarget(run=run, trace_id=trace_id, metric_names=(per_target or {}).get(trace_id))
            for trace_id in trace_ids
        )
        transaction.on_commit(lambda: eval_run_dispatch(run_id=run.pk))
    return run


def eval_run_create(
    *, access: ProjectAccess, metrics: list[str], filters: dict | None = None, sampling_rate: float = 1.0,
    seed: int | None = None, model: str | None = None, name: str | None = None, dry_run: bool = False,
) -> EvalRun | RunPlan:  # fmt: skip
    """A run over the project's traces matching `filters`, sampled at `sampling_rate` (the same sample
    for the same `seed`). 400 for an unknown metric or a bad filter; 422 when nothing matches or no
    judge is configured. With `dry_run`, the plan, and nothing is created."""
    access.require(Action.RUN_MANAGE)
    metric_names = _check_metrics(metrics)
    config = _judge_config(model)
    trace_ids = _matching_trace_ids(access, filters or {}, sampling_rate, seed)
    if dry_run:
        return _plan(access, config, trace_ids, metric_names)
    fields = {"name": name, "filters": filters or {}, "sampling_rate": sampling_rate, "seed": seed,
              "model": config.model}  # fmt: skip
    return _create(access, trace_ids=trace_ids, metric_names=metric_names, fields=fields)


def eval_run_create_batch(
    *, access: ProjectAccess, trace_ids: list, metrics: list[str], model: str | None = None,
    name: str | None = None, dry_run: bool = False,
) -> EvalRun | RunPlan:  # fmt: skip
    """A run over the listed traces (duplicates removed). 404 naming any that is not the project's."""
    access.require(Action.RUN_MANAGE)
    metric_names = _check_metrics(metrics)
    config = _judge_config(model)
    trace_ids = list(dict.fromkeys(trace_ids))
    found = selectors.traces_found(project=access.project, trace_ids=trace_ids)
    missing = [str(t) for t in trace_ids if t not in found]
    if missing:
        raise NotFound(f"Trace not found: {', '.join(missing[:10])}")
    if dry_run:
        return _plan(access, config, trace_ids, metric_names)
    fields = {"name": name, "filters": {"trace_ids": [str(t) for t in trace_ids]}, "model": config.model}
    return _create(access, trace_ids=trace_ids, metric_names=metric_names, fields=fields)


def eval_run_create_from_explorer(
    *, access: ProjectAccess, scope: selectors.ExplorerScope, metrics: list[str], sampling_rate: float = 1.0,
    seed: int | None = None, model: str | None = None, name: str | None = None, dry_run: bool = False,
) -> EvalRun | RunPlan:  # fmt: skip
    """A run over exactly the traces the trace explorer shows for a query (`explorer_run_scope`):
    a filter run when a run's filters can say the same, else a run of the matching ids, sampled the
    way a filter run samples; 422 when more than `MAX_BATCH_TRACES` would be evaluated by id."""
    access.require(Action.RUN_MANAGE)
    options = {"access": access, "metrics": metrics, "model": model, "name": name, "dry_run": dry_run}
    if scope.filters is not None:
        return eval_run_create(filters=scope.filters, sampling_rate=sampling_rate, seed=seed, **options)
    expected = round(scope.total * min(sampling_rate, 1.0))
    if expected > MAX_BATCH_TRACES:
        raise RuleViolation(
            f"This filter ({', '.join(scope.unsupported)}) cannot be stored as a run's filters, so the run "
            f"would list its {expected:,} traces by id; at most {MAX_BATCH_TRACES:,} can be: narrow the "
            "filter or lower the sampling rate"
        )
    # In id order, as a filter run samples them: the same seed picks the same traces.
    ids = _sampled(list(scope.traces.order_by("pk").values_list("pk", flat=True)), sampling_rate, seed)
    return eval_run_create_batch(trace_ids=ids, **options)


def eval_run_retry(*, access: ProjectAccess, run: EvalRun) -> EvalRun:
    """A new run for only the trace+metric pairs that FAILED in `run` (422 when none did)."""
    access.require(Action.RUN_MANAGE)
    pairs = selectors.failed_pairs(run=run)
    if not pairs:
        raise RuleViolation("This run has no failed trace+metric pairs to retry")
    names = list(dict.fromkeys(name for names in pairs.values() for name in names))
    fields = {"name": f"Retry of {run.name or run.pk}", "filters": run.filters, "sampling_rate": 1.0,
              "model": run.model, "retry_of": run}  # fmt: skip
    return _create(access, trace_ids=list(pairs), metric_names=names, fields=fields, per_target=pairs)


def eval_run_cancel(*, access: ProjectAccess, run: EvalRun) -> EvalRun:
    """Stop a run: work not started is dropped, finished scores stay. 409 once the run has ended."""
    access.require(Action.RUN_MANAGE)
    now = timezone.now()
    with transaction.atomic():
        if not EvalRun.objects.filter(pk=run.pk).exclude(status__in=FINISHED).update(
            status=EvalRunStatus.CANCELLED, completed_at=now
        ):
            raise Conflict(f"This run has already ended ({EvalRun.objects.get(pk=run.pk).status})")
        EvalTarget.objects.filter(run=run, status=EvalTargetStatus.PENDING).update(
            status=EvalTargetStatus.CANCELLED, finished_at=now
        )
    run.refresh_from_db()
    return run


def eval_run_delete(*, access: ProjectAccess, run: EvalRun, delete_scores: bool = False) -> None:
    """Delete a run; its scores stay, with `eval_run_id` null, unless `delete_scores`."""
    access.require(Action.RUN_MANAGE)
    with transaction.atomic():
        if delete_scores:
            scores_delete(access=access, scores=TraceScore.objects.filter(eval_run=run))
        EvalRun.objects.filter(pk=run.pk).delete()


# --- execution -----------------------------------------------------------------------------------


def eval_run_dispatch(*, run_id) -> int:
    """Send the run's pending items to the workers, a few per message; returns how many were sent."""
    ids = list(
        EvalTarget.objects.filter(run_id=run_id, status=EvalTargetStatus.PENDING).order_by("pk").values_list("pk", flat=True)
    )
    return _send(ids)


def _send(target_ids: list[int]) -> int:
    from evaluations.tasks import evaluate_targets  # tasks import this module

    EvalTarget.objects.filter(pk__in=target_ids).update(dispatched_at=timezone.now())
    for start in range(0, len(target_ids), TARGETS_PER_MESSAGE):
        evaluate_targets.send(target_ids[start : start + TARGETS_PER_MESSAGE])
    return len(target_ids)


def eval_runs_resume(*, after_restart: bool = False) -> int:
    """Send again the work no live worker holds; returns how many items went.

    After a restart of the in-process worker every pending item is orphaned (its queue was in
    memory). With Redis, pending messages survive; only items left waiting a whole lease, or held
    by a worker whose lease ran out (killed mid-item), are sent again.
    """
    now = timezone.now()
    stale_before = None if after_restart else now - timedelta(seconds=settings.PANDAPROBE_RUN_LEASE_SECONDS)
    targets = selectors.targets_to_resume(now=now, stale_before=stale_before)
    return _send(list(targets.order_by("pk").values_list("pk", flat=True)))


def _claim(target_id: int) -> EvalTarget | None:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PANDAPROBE_RUN_LEASE_SECONDS)
    claimable = EvalTarget.objects.filter(pk=target_id).filter(
        status__in=[EvalTargetStatus.PENDING, EvalTargetStatus.RUNNING]
    ).exclude(status=EvalTargetStatus.RUNNING, lease_until__gte=now)
    if not claimable.update(status=EvalTargetStatus.RUNNING, lease_until=lease, attempts=F("attempts") + 1):
        return None
    return EvalTarget.objects.select_related("run", "run__project").get(pk=target_id)


def _score_metadata(result: MetricResult, run: EvalRun) -> dict:
    usage = result.usage
    metadata = {
        "model": run.model, "prompt_version": result.prompt_versions.get("judge"),
        "prompt_versions": result.prompt_versions, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "cost": usage.cost if usage.calls else 0.0,
        "latency_ms": round(usage.latency_ms, 1), "judge_calls": usage.calls,
        "threshold": result.metric.default_threshold,
    }  # fmt: skip
    if result.outcome is not None and result.outcome.details:
        metadata["details"] = result.outcome.details
    return metadata


def _store(access: ProjectAccess, run: EvalRun, trace_id, result: MetricResult) -> None:
    failed = result.failed
    outcome = result.outcome
    try:
        with transaction.atomic():
            trace_score_create(
                access=access, trace_id=trace_id, name=result.metric.name,
                value=None if failed else f"{outcome.value:.4f}".rstrip("0").rstrip(".") or "0",
                data_type=ScoreDataType.NUMERIC, source=ScoreSource.AUTOMATED,
                status=ScoreStatus.FAILED if failed else ScoreStatus.SUCCESS,
                reason=(result.error or (outcome.reason if outcome else None)) if failed else outcome.reason,
                metadata=_score_metadata(result, run), eval_run_id=run.pk,
            )  # fmt: skip
    except IntegrityError:
        pass  # another delivery of this item stored it first: one score per (run, trace, metric)
    except NotFound:
        pass  # the trace was deleted meanwhile


def _finish(target: EvalTarget, usage: judge.Usage) -> None:
    run = target.run
    now = timezone.now()
    with transaction.atomic():
        if not EvalTarget.objects.filter(pk=target.pk, status=EvalTargetStatus.RUNNING).update(
            status=EvalTargetStatus.DONE, finished_at=now, lease_until=None
        ):
            return  # finished (or cancelled) by someone else: count nothing twice
        EvalRun.objects.filter(pk=run.pk).update(
            evaluated_count=F("evaluated_count") + 1,
            failed_count=F("failed_count") + selectors.failed_count(run=run, trace_id=target.trace_id),
            judge_calls=F("judge_calls") + usage.calls,
            prompt_tokens=F("prompt_tokens") + usage.prompt_tokens,
            completion_tokens=F("completion_tokens") + usage.completion_tokens,
            cost=F("cost") + (usage.cost or 0.0),
            unpriced_calls=F("unpriced_calls") + (usage.calls if usage.cost is None else 0),
        )
        EvalRun.objects.filter(
            pk=run.pk, status=EvalRunStatus.RUNNING, evaluated_count__gte=F("total_targets")
        ).update(status=EvalRunStatus.COMPLETED, completed_at=Greatest(Value(now), F("started_at")))


def eval_target_process(*, target_id: int) -> None:
    """Score one item of a run (the actor's work); returns at once if it is not claimable."""
    target = _claim(target_id)
    if target is None:
        return
    run = target.run
    if run.status in FINISHED:
        EvalTarget.objects.filter(pk=target.pk, status=EvalTargetStatus.RUNNING).update(
            status=EvalTargetStatus.CANCELLED, finished_at=timezone.now()
        )
        return
    EvalRun.objects.filter(pk=run.pk, status=EvalRunStatus.PENDING).update(
        status=EvalRunStatus.RUNNING, started_at=timezone.now()
    )
    run.status = EvalRunStatus.RUNNING
    usage = _evaluate_target(run, target)
    _finish(target, usage)


def _evaluate_target(run: EvalRun, target: EvalTarget) -> judge.Usage:
    loaded = selectors.trace_for_judging(project_id=run.project_id, trace_id=target.trace_id)
    if loaded is None:
        return judge.Usage()  # deleted since the run was created: nothing to score
    done = selectors.metrics_scored(run=run, trace_id=target.trace_id)
    metrics = [TRACE_METRICS[name] for name in (target.metric_names or run.metric_names) if name not in done]
    if not metrics:
        return judge.Usage()
    view = build_trace_view(*loaded, token_budget=settings.PANDAPROBE_JUDGE_TRACE_TOKENS)
    evaluation = evaluate_trace(judge.JudgeConfig.from_settings(run.model), view, metrics)
    access = ProjectAccess.system(run.project)
    for result in evaluation.results:
        _store(access, run, target.trace_id, result)
    return evaluation.usage


def eval_targets_process(*, target_ids: list[int]) -> None:
    """Several items side by side (one message's worth). On SQLite one after the other: it takes one
    writer at a time, and its shared in-memory databases (the tests') fail a second one at once."""
    if len(target_ids) == 1 or connection.vendor == "sqlite":
        for target_id in target_ids:
            eval_target_process(target_id=target_id)
        return
    with ThreadPoolExecutor(max_workers=len(target_ids)) as pool:
        list(pool.map(_in_thread, target_ids))


def _in_thread(target_id: int) -> None:
    try:
        eval_target_process(target_id=target_id)
    finally:
        connections.close_all()  # this thread's own connections; the pool's threads end with the message
