"""Evaluation runs: create (by filter or by ids), dispatch, process, retry, cancel, delete, resume.

A run is split into one `EvalTarget` per target (a trace, or a session: `KINDS` says what each kind
of run does with one; the rest is here, shared). Workers claim an item with a conditional update and a
lease (`PENDING` -> `RUNNING`, or a `RUNNING` item whose lease ran out), score the metrics the run has
not scored on it yet, and finish it with another conditional update that alone moves the run's
counters, so a message delivered twice, or redelivered after a worker was killed, never scores or
counts twice. The database's unique (run, target, name) constraints are is the last guard.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from evaluations import judge
from pandaprobe.errors import Conflict, InvalidRequest, NotFound, RuleViolation
from pandaprobe.projects.access import Action, ProjectAccess

from ..models import (
    EvalRun,
    EvalRunStatus,
    EvalTarget,
    EvalTargetStatus,
    ScoreStatus,
    SessionScore,
    TraceScore,
)
from ..selectors import runs as selectors
from .purge import scores_delete
from .session_runs import SESSION_RUNS
from .trace_runs import TRACE_RUNS

FINISHED = (EvalRunStatus.COMPLETED, EvalRunStatus.FAILED, EvalRunStatus.CANCELLED)
# Traces a run made from a list of ids may hold (the batch API's limit too).
MAX_BATCH_TRACES = 10_000
# Expected size of a judge's answer, for dry-run estimates.
COMPLETION_TOKENS_ESTIMATE = 200
# The kinds of run: what their targets are and how one is evaluated. Everything else is shared.
KINDS = {kind.target_type: kind for kind in (TRACE_RUNS, SESSION_RUNS)}


@dataclass(frozen=True)
class RunPlan:
    """What a run would do (`dry_run`), created nothing."""

    target_type: str
    total_targets: int
    metric_names: list[str]
    judge_calls: int
    estimated_prompt_tokens: int
    estimated_completion_tokens: int
    estimated_cost: float | None
    model: str
    sample_ids: list


def metric_for_template(name: str | None):
    """The trace metric a run template is built for (400 naming it when there is no such metric)."""
    if not name:
        raise InvalidRequest("metric: name a metric (GET /evaluations/trace-metrics lists them)")
    TRACE_RUNS.check_metrics([name])
    return TRACE_RUNS.metrics[name]


def _judge_config(model: str | None) -> judge.JudgeConfig:
    config = judge.JudgeConfig.from_settings(model)
    problem = config.problem()
    if problem:
        raise RuleViolation(problem)
    return config


def _plan(kind, access: ProjectAccess, config: judge.JudgeConfig, ids: list, metric_names: list[str]) -> RunPlan:
    calls, prompt_tokens = kind.estimate(access, ids, metric_names)
    completion_tokens = COMPLETION_TOKENS_ESTIMATE * calls
    return RunPlan(
        target_type=kind.target_type, total_targets=len(ids), metric_names=metric_names, judge_calls=calls,
        estimated_prompt_tokens=prompt_tokens, estimated_completion_tokens=completion_tokens,
        estimated_cost=judge.estimate_cost(config.model, prompt_tokens, completion_tokens), model=config.model,
        sample_ids=[str(t) for t in ids[:5]],
    )  # fmt: skip


def _create(kind, access: ProjectAccess, *, ids: list, metric_names, fields: dict, per_target=None) -> EvalRun:
    with transaction.atomic():
        run = EvalRun.objects.create(
            project=access.project, target_type=kind.target_type, metric_names=metric_names,
            total_targets=len(ids), created_by=access.user, **fields,
        )  # fmt: skip
        EvalTarget.objects.bulk_create(
            EvalTarget(run=run, metric_names=(per_target or {}).get(target_id), **{kind.key: target_id})
            for target_id in ids
        )
        transaction.on_commit(lambda: eval_run_dispatch(run_id=run.pk))
    return run


def _sampled(kind, ids: list, sampling_rate: float, seed: int | None) -> list:
    ids = selectors.sample(ids, sampling_rate, seed)
    if not ids:
        raise RuleViolation(f"No {kind.noun} matches the filters (after sampling): nothing to evaluate")
    return ids


def _prepare(kind, access: ProjectAccess, metrics: list[str], model: str | None, options: dict):
    access.require(Action.RUN_MANAGE)
    metric_names = kind.check_metrics(metrics)
    checked = kind.check_options(options)
    return metric_names, _judge_config(model), checked


def _start(kind, access, config, ids: list, metric_names: list[str], dry_run: bool, fields: dict):
    if dry_run:
        return _plan(kind, access, config, ids, metric_names)
    return _create(kind, access, ids=ids, metric_names=metric_names, fields={"model": config.model, **fields})


def run_by_filter(
    kind, *, access: ProjectAccess, metrics: list[str], filters: dict | None = None, sampling_rate: float = 1.0,
    seed: int | None = None, model: str | None = None, name: str | None = None, dry_run: bool = False, **options,
) -> EvalRun | RunPlan:  # fmt: skip
    """A run over the project's targets matching `filters`, sampled at `sampling_rate` (the same sample
    for the same `seed`). 400 for an unknown metric or a bad filter; 422 when nothing matches or no
    judge is configured. With `dry_run`, the plan, and nothing is created."""
    metric_names, config, options = _prepare(kind, access, metrics, model, options)
    ids = _sampled(kind, kind.matching(access, filters or {}), sampling_rate, seed)
    fields = {"name": name, "filters": filters or {}, "sampling_rate": sampling_rate, "seed": seed, "options": options}
    return _start(kind, access, config, ids, metric_names, dry_run, fields)


def run_by_ids(
    kind, *, access: ProjectAccess, ids: list, metrics: list[str], model: str | None = None,
    name: str | None = None, dry_run: bool = False, sampled_at: float = 1.0, seed: int | None = None, **options,
) -> EvalRun | RunPlan:  # fmt: skip
    """A run over the listed targets (duplicates removed). 404 naming any that is not the project's.
    `sampled_at` and `seed` record how the caller sampled the ids (the explorer's runs by id)."""
    metric_names, config, options = _prepare(kind, access, metrics, model, options)
    ids = list(dict.fromkeys(ids))
    found = kind.found(access, ids)
    missing = [str(t) for t in ids if t not in found]
    if missing:
        raise NotFound(f"{kind.noun.capitalize()} not found: {', '.join(missing[:10])}")
    fields = {"name": name, "filters": {f"{kind.noun}_ids": [str(t) for t in ids]}, "options": options,
              "sampling_rate": sampled_at, "seed": seed}  # fmt: skip
    return _start(kind, access, config, ids, metric_names, dry_run, fields)


def eval_run_create(**arguments) -> EvalRun | RunPlan:
    """A trace run by filter (`run_by_filter`)."""
    return run_by_filter(TRACE_RUNS, **arguments)


def eval_run_create_batch(*, trace_ids: list, **arguments) -> EvalRun | RunPlan:
    """A trace run over the listed traces (`run_by_ids`)."""
    return run_by_ids(TRACE_RUNS, ids=trace_ids, **arguments)


def session_eval_run_create(**arguments) -> EvalRun | RunPlan:
    """A session run by filter (`run_by_filter`), with optional `signal_weights`."""
    return run_by_filter(SESSION_RUNS, **arguments)


def session_eval_run_create_batch(*, session_ids: list, **arguments) -> EvalRun | RunPlan:
    """A session run over the listed sessions (`run_by_ids`), with optional `signal_weights`."""
    return run_by_ids(SESSION_RUNS, ids=session_ids, **arguments)


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
    ids = _sampled(TRACE_RUNS, list(scope.traces.order_by("pk").values_list("pk", flat=True)), sampling_rate, seed)
    return eval_run_create_batch(trace_ids=ids, sampled_at=sampling_rate, seed=seed, **options)


def eval_run_retry(*, access: ProjectAccess, run: EvalRun) -> EvalRun:
    """A new run for only the target+metric pairs that FAILED in `run` (422 when none did)."""
    access.require(Action.RUN_MANAGE)
    pairs = selectors.failed_pairs(run=run)
    kind = KINDS[run.target_type]
    if not pairs:
        raise RuleViolation(f"This run has no failed {kind.noun}+metric pairs to retry")
    names = list(dict.fromkeys(name for names in pairs.values() for name in names))
    fields = {"name": f"Retry of {run.name or run.pk}", "filters": run.filters, "sampling_rate": 1.0,
              "model": run.model, "options": run.options, "retry_of": run}  # fmt: skip
    return _create(kind, access, ids=list(pairs), metric_names=names, fields=fields, per_target=pairs)


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
            for model in (TraceScore, SessionScore):  # a session run's trace signals go with it
                scores_delete(access=access, scores=model.objects.filter(eval_run=run))
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
    size = settings.PANDAPROBE_RUN_TARGETS_PER_MESSAGE
    for start in range(0, len(target_ids), size):
        evaluate_targets.send(target_ids[start : start + size])
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


# Claiming and finishing an item are every item's statements, written in SQL: composed by the ORM
# they took 7 ms of the worker's CPU per item, run by the database 0.4 ms (PostgreSQL, measured
# for the runs benchmark). A claim takes an item that is PENDING, or RUNNING with its lease run out.
CLAIM_SQL = """UPDATE {target} SET status = %s, lease_until = %s, attempts = attempts + 1
WHERE id = %s AND (status = %s OR (status = %s AND (lease_until IS NULL OR lease_until < %s)))"""
# Finishing: the item is marked DONE only if still RUNNING (a second delivery, or a cancel, may have
# ended it), and only then is the run counted, its FAILED scores on the target included. The item
# that counts the last one completes the run in the same statement (SET sees the row as it was).
TARGET_DONE_SQL = "UPDATE {target} SET status = %s, finished_at = %s, lease_until = NULL WHERE id = %s AND status = %s"
RUN_COUNTED_SQL = """UPDATE {run} SET
  evaluated_count = evaluated_count + 1,
  failed_count = failed_count + (SELECT COUNT(*) FROM {scores} WHERE eval_run_id = %s AND {key} = %s AND status = %s),
  judge_calls = judge_calls + %s, prompt_tokens = prompt_tokens + %s, completion_tokens = completion_tokens + %s,
  cost = cost + %s, unpriced_calls = unpriced_calls + %s,
  completed_at = CASE WHEN {last} THEN {greatest}(%s, started_at) ELSE completed_at END,
  status = CASE WHEN {last} THEN %s ELSE status END
WHERE id = %s"""
LAST_ITEM = "status = %s AND evaluated_count >= total_targets - 1"


def _claim(target_id: int) -> EvalTarget | None:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PANDAPROBE_RUN_LEASE_SECONDS)
    sql = CLAIM_SQL.format(target=EvalTarget._meta.db_table)
    running, pending = EvalTargetStatus.RUNNING, EvalTargetStatus.PENDING
    with connection.cursor() as cursor:
        cursor.execute(sql, [running, _when(lease), target_id, pending, running, _when(now)])
        if not cursor.rowcount:
            return None
    return EvalTarget.objects.select_related("run", "run__project").get(pk=target_id)


def _when(moment):
    return connection.ops.adapt_datetimefield_value(moment)


def _finish(target: EvalTarget, usage: judge.Usage) -> None:
    run = target.run
    scores, key = selectors.RUN_SCORES[run.target_type]
    now = _when(timezone.now())
    done_sql = TARGET_DONE_SQL.format(target=EvalTarget._meta.db_table)
    done = [EvalTargetStatus.DONE, now, target.pk, EvalTargetStatus.RUNNING]
    run_id = EvalRun._meta.pk.get_db_prep_value(run.pk, connection)
    subject = scores._meta.get_field(key).get_db_prep_value(getattr(target, key), connection)
    running = EvalRunStatus.RUNNING  # LAST_ITEM's parameter, in both CASEs
    counted = [
        run_id, subject, ScoreStatus.FAILED, usage.calls, usage.prompt_tokens, usage.completion_tokens,
        usage.cost or 0.0, usage.calls if usage.cost is None else 0, running, now, running, EvalRunStatus.COMPLETED,
        run_id,
    ]  # fmt: skip
    counted_sql = RUN_COUNTED_SQL.format(
        run=EvalRun._meta.db_table, scores=scores._meta.db_table, key=scores._meta.get_field(key).column,
        last=LAST_ITEM, greatest="GREATEST" if connection.vendor == "postgresql" else "MAX",
    )  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement, one round trip
            cursor.execute(f"WITH done AS ({done_sql} RETURNING id) {counted_sql} AND EXISTS (SELECT 1 FROM done)",
                           [*done, *counted])  # fmt: skip
            return
        with transaction.atomic():
            cursor.execute(done_sql, done)
            if cursor.rowcount:  # else finished (or cancelled) by someone else: count nothing twice
                cursor.execute(counted_sql, counted)


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
    if run.status == EvalRunStatus.PENDING:
        EvalRun.objects.filter(pk=run.pk, status=EvalRunStatus.PENDING).update(
            status=EvalRunStatus.RUNNING, started_at=timezone.now()
        )
        run.status = EvalRunStatus.RUNNING
    usage = KINDS[run.target_type].evaluate(run, target)
    _finish(target, usage)


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
