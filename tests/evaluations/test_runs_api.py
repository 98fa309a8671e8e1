"""The trace-run API: metrics, providers, template, create (filter / batch / dry run), list, detail,
scores, retry, cancel, delete, the rate limit and isolation."""

import pytest

from evaluations.models import EvalRun, EvalTarget, TraceScore
from evaluations.services import runs

from ..factories import TraceFactory

URL = "/evaluations/trace-runs"


@pytest.fixture
def traces(project):
    return [TraceFactory(project=project, name=f"agent-{i}", tags=["prod"], input="hi", output="hello")
            for i in range(3)]  # fmt: skip


def process_all(run_id):
    for target_id in EvalTarget.objects.filter(run_id=run_id).values_list("pk", flat=True):
        runs.eval_target_process(target_id=target_id)


def test_metrics_and_providers_are_listed(api, judge_stub):
    metrics = api.get("/evaluations/trace-metrics").json()
    assert {m["name"] for m in metrics} >= {"task_completion", "coherence"}
    assert set(metrics[0]) == {"name", "description", "category"} and metrics[0]["category"] == "trace"
    providers = {p["key"]: p for p in api.get("/evaluations/providers").json()}
    assert providers["openai_compatible"]["available"] and set(providers["openai"]) == {
        "key", "name", "description", "available", "message"}  # fmt: skip


def test_the_template_shows_the_metric_prompts_and_defaults(api, judge_stub):
    body = api.get(f"{URL}/template", {"metric": "plan_quality"}).json()
    assert body["metric"]["name"] == "plan_quality" and body["metric"]["default_threshold"] == 0.5
    stages = [p["stage"] for p in body["metric"]["prompt_preview"]]
    assert stages == ["extract_task@v1", "extract_plan@v1", "plan_quality@v1"]
    assert "Look the order up" in body["metric"]["prompt_preview"][-1]["prompt"]
    assert (body["filters"], body["sampling_rate"], body["model"]) == ({}, 1.0, "stub-judge")
    assert api.get(f"{URL}/template", {"metric": "nope"}).status_code == 400


def test_a_batch_run_is_accepted_polled_and_its_scores_listed(api, traces, judge_stub):
    response = api.post(f"{URL}/batch", {"trace_ids": [str(t.pk) for t in traces], "metrics": ["confidence"]},
                        format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    run = response.json()
    assert run["total_targets"] == run["total_traces"] == 3 and run["status"] == "PENDING"
    assert run["target_type"] == "TRACE" and run["metric_names"] == ["confidence"]
    process_all(run["id"])
    detail = api.get(f"{URL}/{run['id']}").json()
    assert (detail["status"], detail["evaluated_count"], detail["failed_count"]) == ("COMPLETED", 3, 0)
    assert detail["judge_calls"] == 3 and detail["completed_at"]
    scores = api.get(f"{URL}/{run['id']}/scores").json()
    assert isinstance(scores, list) and len(scores) == 3 and {s["eval_run_id"] for s in scores} == {run["id"]}
    listed = api.get(URL, {"status": "COMPLETED"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == run["id"]
    assert api.get(URL, {"status": "NOPE"}).status_code == 422


def test_a_filtered_run_and_a_dry_run(api, traces, judge_stub):
    TraceFactory(project=api.project, tags=["dev"])
    body = {"metrics": ["confidence", "task_completion"], "filters": {"tags": ["prod"]}, "seed": 3}
    plan = api.post(URL, {**body, "dry_run": True}, format="json")
    assert plan.status_code == 200 and plan.json()["dry_run"] is True
    assert plan.json()["total_targets"] == 3 and plan.json()["judge_calls"] == 9
    assert EvalRun.objects.count() == 0
    created = api.post(URL, body, format="json")
    assert created.status_code == 202 and created.json()["total_targets"] == 3
    assert created.json()["filters"] == {"tags": ["prod"]} and created.json()["seed"] == 3


@pytest.mark.parametrize(
    "body, status, word",
    [
        ({"metrics": ["nope"]}, 400, "nope"),
        ({"metrics": ["confidence"], "filters": {"date_from": "yesterday"}}, 400, "date"),
        ({"metrics": ["confidence"], "filters": {"status": "DONE"}}, 400, "DONE"),
        ({"metrics": ["confidence"], "filters": {"name": "no-such-trace"}}, 422, "No trace"),
        ({"metrics": []}, 422, "metrics"),
        ({"metrics": ["confidence"], "sampling_rate": 2}, 422, "sampling_rate"),
    ],
)
def test_bad_runs_are_refused_naming_the_problem(api, traces, judge_stub, body, status, word):
    response = api.post(URL, body, format="json")
    assert response.status_code == status and word in response.content.decode()
    assert EvalRun.objects.count() == 0


def test_no_judge_configured_says_how_to_configure_one(api, traces, settings):
    settings.PANDAPROBE_JUDGE_MODEL = ""
    response = api.post(f"{URL}/batch", {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"]},
                        format="json")  # fmt: skip
    assert response.status_code == 422 and "PANDAPROBE_JUDGE_MODEL" in response.json()["detail"]


def test_retry_cancel_and_delete(api, traces, judge_stub):
    judge_stub.failures.extend([500] * 3)
    run = api.post(f"{URL}/batch", {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"]},
                   format="json").json()  # fmt: skip
    process_all(run["id"])
    retry = api.post(f"{URL}/{run['id']}/retry")
    assert retry.status_code == 202 and retry.json()["total_targets"] == 1
    process_all(retry.json()["id"])
    assert api.post(f"{URL}/{retry.json()['id']}/retry").status_code == 422
    assert api.post(f"{URL}/{retry.json()['id']}/cancel").status_code == 409
    # Delete keeps the scores (run id cleared) unless asked.
    assert api.delete(f"{URL}/{run['id']}").status_code == 204
    assert TraceScore.objects.filter(eval_run_id=None, name="confidence").count() == 1
    assert api.delete(f"{URL}/{retry.json()['id']}?delete_scores=true").status_code == 204
    assert TraceScore.objects.filter(name="confidence").count() == 1


def test_cancel_a_pending_run(api, traces, judge_stub):
    run = api.post(f"{URL}/batch", {"trace_ids": [str(t.pk) for t in traces], "metrics": ["confidence"]},
                   format="json").json()  # fmt: skip
    cancelled = api.post(f"{URL}/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    process_all(run["id"])
    assert TraceScore.objects.count() == 0


def test_another_projects_runs_and_traces_are_not_found(api, other_api, traces, judge_stub):
    run = api.post(f"{URL}/batch", {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"]},
                   format="json").json()  # fmt: skip
    for path in (f"{URL}/{run['id']}", f"{URL}/{run['id']}/scores"):
        assert other_api.get(path).status_code == 404 and api.get(path).status_code == 200
    assert other_api.post(f"{URL}/{run['id']}/cancel").status_code == 404
    assert other_api.delete(f"{URL}/{run['id']}").status_code == 404
    stolen = other_api.post(f"{URL}/batch", {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"]},
                            format="json")  # fmt: skip
    assert stolen.status_code == 404 and str(traces[0].pk) in stolen.json()["detail"]


def test_reviewers_cannot_start_runs(bearer_client, reviewer, project, traces, judge_stub):
    client = bearer_client(reviewer, project)
    response = client.post(f"{URL}/batch", {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"]},
                           format="json")  # fmt: skip
    assert response.status_code == 403 and EvalRun.objects.count() == 0


def test_run_creation_is_rate_limited_per_credential(api, other_api, traces, judge_stub, settings):
    settings.RATELIMIT_EVAL_RUNS = "2/h"  # an hour: a minute may end between slow requests
    body = {"trace_ids": [str(traces[0].pk)], "metrics": ["confidence"], "dry_run": True}
    assert [api.post(f"{URL}/batch", body, format="json").status_code for _ in range(3)] == [200, 200, 429]
    limited = api.post(f"{URL}/batch", body, format="json")
    assert int(limited["Retry-After"]) > 0
    theirs = TraceFactory(project=other_api.project)
    assert other_api.post(f"{URL}/batch", {**body, "trace_ids": [str(theirs.pk)]}, format="json").status_code == 200
