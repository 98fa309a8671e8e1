"""Evaluation runs through the services, with the stub judge over HTTP and the items processed here."""

import pytest

from evaluations.models import EvalRun, EvalTarget, ScoreEvent, TraceScore
from evaluations.services import runs
from pandaprobe.errors import Conflict, InvalidRequest, NotFound, RuleViolation
from pandaprobe.projects.access import ProjectAccess

from ..factories import SpanFactory, TraceFactory


@pytest.fixture
def system(project):
    return ProjectAccess.system(project)


@pytest.fixture
def traces(project):
    made = []
    for index in range(3):
        trace = TraceFactory(project=project, name=f"support-{index}", tags=["prod"] if index else ["dev"],
                             input={"messages": [{"role": "user", "content": "where is my order"}]},
                             output={"messages": [{"role": "assistant", "content": "your order ships"}]})  # fmt: skip
        SpanFactory(trace=trace, kind="TOOL", name="lookup_order", input={"order": "PO-1"}, output={"ok": 1})
        made.append(trace)
    return made


def process_all(run):
    for target_id in EvalTarget.objects.filter(run=run).values_list("pk", flat=True):
        runs.eval_target_process(target_id=target_id)
    run.refresh_from_db()
    return run


def test_a_batch_run_scores_every_pair_once_and_completes(system, traces, judge_stub):
    judge_stub.answers["task_completion"] = {"rating": "good", "reason": "Mostly done."}
    run = runs.eval_run_create_batch(
        access=system, trace_ids=[t.pk for t in traces] + [traces[0].pk],
        metrics=["task_completion", "argument_correctness", "coherence"],
    )
    assert run.total_targets == 3 and run.status == "PENDING" and run.model == "stub-judge"
    run = process_all(run)
    assert (run.status, run.evaluated_count, run.failed_count) == ("COMPLETED", 3, 0)
    scores = TraceScore.objects.filter(eval_run=run)
    assert scores.count() == 9
    completion = scores.filter(name="task_completion").first()
    assert (completion.value, completion.source, completion.status) == ("0.75", "AUTOMATED", "SUCCESS")
    assert completion.reason == "Mostly done."
    meta = completion.metadata
    assert meta["model"] == "stub-judge" and meta["prompt_version"] == "task_completion@v1"
    assert meta["prompt_versions"]["task"] == "extract_task@v1" and meta["prompt_tokens"] > 0
    # Task extraction once per trace, then one call per chat metric; coherence is one embedding call.
    assert len(judge_stub.calls_named("extract_task")) == 3
    assert len(judge_stub.calls_named("task_completion")) == 3
    assert len([c for c in judge_stub.calls if c["kind"] == "embedding"]) == 3
    assert run.judge_calls == len(judge_stub.calls) and run.prompt_tokens > 0
    assert ScoreEvent.objects.filter(score_id=completion.pk, actor_label="system").exists()


def test_a_redelivered_item_neither_scores_nor_counts_twice(system, traces, judge_stub):
    run = runs.eval_run_create_batch(access=system, trace_ids=[traces[0].pk], metrics=["step_efficiency"])
    target = EvalTarget.objects.get(run=run)
    runs.eval_target_process(target_id=target.pk)
    runs.eval_target_process(target_id=target.pk)  # delivered again
    run.refresh_from_db()
    assert TraceScore.objects.filter(eval_run=run).count() == 1 and run.evaluated_count == 1
    assert len(judge_stub.calls_named("step_efficiency")) == 1


def test_an_item_another_worker_holds_is_left_to_it(system, traces, judge_stub):
    from datetime import timedelta

    from django.utils import timezone

    run = runs.eval_run_create_batch(access=system, trace_ids=[traces[0].pk], metrics=["step_efficiency"])
    target = EvalTarget.objects.get(run=run)
    held_until = timezone.now() + timedelta(minutes=5)
    EvalTarget.objects.filter(pk=target.pk).update(status="RUNNING", lease_until=held_until, attempts=1)
    runs.eval_target_process(target_id=target.pk)  # its lease has not run out: not claimable
    target.refresh_from_db()
    assert (target.status, target.attempts, target.lease_until) == ("RUNNING", 1, held_until)
    assert not judge_stub.calls and not TraceScore.objects.filter(eval_run=run).exists()


def test_an_item_whose_worker_died_is_taken_over_and_skips_what_was_scored(system, traces, judge_stub):
    run = runs.eval_run_create_batch(access=system, trace_ids=[traces[0].pk],
                                     metrics=["step_efficiency", "confidence"])  # fmt: skip
    target = EvalTarget.objects.get(run=run)
    runs.eval_target_process(target_id=target.pk)
    # Pretend the worker died after storing one score: the item is RUNNING, its lease expired.
    TraceScore.objects.filter(eval_run=run, name="confidence").delete()
    EvalTarget.objects.filter(pk=target.pk).update(status="RUNNING", lease_until="2000-01-01T00:00:00Z")
    EvalRun.objects.filter(pk=run.pk).update(status="RUNNING", evaluated_count=0)
    judge_stub.calls.clear()
    assert runs.eval_runs_resume() == 1
    runs.eval_target_process(target_id=target.pk)
    run.refresh_from_db()
    assert [c["name"] for c in judge_stub.calls] == ["confidence"]
    assert TraceScore.objects.filter(eval_run=run).count() == 2 and run.status == "COMPLETED"


def test_a_failed_metric_stores_a_failed_score_and_a_retry_scores_only_it(system, traces, judge_stub):
    judge_stub.failures.extend([500, 500, 500])  # the first call fails for good (3 attempts)
    run = runs.eval_run_create_batch(access=system, trace_ids=[traces[0].pk], metrics=["confidence"])
    run = process_all(run)
    failed = TraceScore.objects.get(eval_run=run)
    assert (failed.status, failed.value, run.failed_count, run.status) == ("FAILED", None, 1, "COMPLETED")
    assert "InternalServerError" in failed.reason or "500" in failed.reason
    retry = runs.eval_run_retry(access=system, run=run)
    assert retry.retry_of_id == run.pk and retry.metric_names == ["confidence"] and retry.total_targets == 1
    retry = process_all(retry)
    assert TraceScore.objects.get(eval_run=retry).status == "SUCCESS" and retry.failed_count == 0
    with pytest.raises(RuleViolation):
        runs.eval_run_retry(access=system, run=retry)


def test_filters_sampling_and_seed_choose_the_targets(system, project, traces, judge_stub):
    run = runs.eval_run_create(access=system, metrics=["confidence"], filters={"tags": ["prod"]})
    assert run.total_targets == 2
    ids = lambda r: set(EvalTarget.objects.filter(run=r).values_list("trace_id", flat=True))  # noqa: E731
    one = runs.eval_run_create(access=system, metrics=["confidence"], sampling_rate=0.34, seed=7)
    again = runs.eval_run_create(access=system, metrics=["confidence"], sampling_rate=0.34, seed=7)
    assert one.total_targets == 1 and ids(one) == ids(again)
    with pytest.raises(RuleViolation, match="No trace matches"):
        runs.eval_run_create(access=system, metrics=["confidence"], filters={"name": "nothing-like-this"})
    with pytest.raises(InvalidRequest, match="nope"):
        runs.eval_run_create(access=system, metrics=["nope"])


def test_a_dry_run_plans_and_creates_nothing(system, traces, judge_stub):
    plan = runs.eval_run_create_batch(access=system, trace_ids=[t.pk for t in traces],
                                      metrics=["task_completion", "plan_quality"], dry_run=True)  # fmt: skip
    # Per trace: task + plan extraction, then two metrics.
    assert plan.total_targets == 3 and plan.judge_calls == 12 and plan.estimated_prompt_tokens > 0
    assert EvalRun.objects.count() == 0 and judge_stub.calls == []


def test_another_projects_traces_and_an_unconfigured_judge_are_refused(
    system, other_project, settings, traces, judge_stub
):
    stranger = TraceFactory(project=other_project)
    with pytest.raises(NotFound, match=str(stranger.pk)):
        runs.eval_run_create_batch(access=system, trace_ids=[stranger.pk], metrics=["confidence"])
    settings.PANDAPROBE_JUDGE_MODEL = ""
    with pytest.raises(RuleViolation, match="PANDAPROBE_JUDGE_MODEL"):
        runs.eval_run_create_batch(access=system, trace_ids=[traces[0].pk], metrics=["confidence"])


def test_cancel_drops_pending_work_and_keeps_finished_scores(system, traces, judge_stub):
    run = runs.eval_run_create_batch(access=system, trace_ids=[t.pk for t in traces], metrics=["confidence"])
    first = EvalTarget.objects.filter(run=run).order_by("pk").first()
    runs.eval_target_process(target_id=first.pk)
    run = runs.eval_run_cancel(access=system, run=run)
    assert run.status == "CANCELLED"
    run = process_all(run)
    assert TraceScore.objects.filter(eval_run=run).count() == 1 and run.status == "CANCELLED"
    with pytest.raises(Conflict):
        runs.eval_run_cancel(access=system, run=run)


def test_a_batch_run_checks_its_traces_in_one_query(system, project, judge_stub, django_assert_max_num_queries):
    many = [TraceFactory(project=project).pk for _ in range(30)]
    with django_assert_max_num_queries(8):
        run = runs.eval_run_create_batch(access=system, trace_ids=many, metrics=["confidence"])
    assert run.total_targets == 30
