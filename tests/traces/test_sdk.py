"""The real `pandaprobe` SDK (PyPI) against a live server.

The SDK's import name collides with our Django package, so it runs in a subprocess started with
`-P` (the checkout stays off sys.path) and without PYTHONPATH: `import pandaprobe` is then the SDK
from site-packages.
"""

import json
import os
import subprocess
import sys

import pytest

from pandaprobe.projects import services as project_services
from pandaprobe.projects.models import Project

from ..conftest import ProjectClient

SDK_SCRIPT = r"""
import json, sys
import pandaprobe

assert "site-packages" in pandaprobe.__file__, pandaprobe.__file__
pandaprobe.init(flush_interval=0.2, environment="test-env", release="r1")
ids = {}

def conversation(session, user, turns):
    for turn in range(turns):
        question = f"{session} question {turn}"
        with pandaprobe.start_trace(
            f"chat-{session}-{turn}",
            input={"messages": [{"role": "user", "content": question}]},
            session_id=session,
            user_id=user,
            tags=["sdk", session],
            metadata={"turn": turn},
        ) as t:
            with t.span("agent", kind="AGENT") as agent:
                with t.span("llm", kind="LLM", model="gpt-test") as llm:
                    llm.set_input({"messages": [{"role": "user", "content": question}]})
                    llm.set_token_usage(prompt_tokens=10, completion_tokens=5)
                    llm.set_cost(total=0.25, input=0.1, output=0.15)
                    llm.set_output({"messages": [{"role": "assistant", "content": "answer"}]})
                with t.span("search", kind="TOOL") as tool:
                    tool.set_input({"query": question})
                    tool.set_output({"hits": 3})
            t.set_output({"messages": [{"role": "assistant", "content": "answer"}]})
            ids.setdefault(session, []).append(t.trace_id)
            ids.setdefault("spans", {})[t.trace_id] = {
                "agent": agent.span_id, "llm": llm.span_id, "search": tool.span_id,
            }

conversation("sess-a", "user-1", 2)
conversation("sess-b", "user-2", 1)
if len(sys.argv) > 1:
    pandaprobe.score(ids["sess-a"][0], "quality", "0.9", reason="looks right")
pandaprobe.flush()
pandaprobe.shutdown()
print(json.dumps(ids))
"""


def run_sdk(live_server, tmp_path, project: Project, *args: str) -> dict:
    raw_key = project_services.api_key_create(project=project, name="sdk").raw_key
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PANDAPROBE_API_KEY": raw_key,
        "PANDAPROBE_PROJECT_NAME": project.name,
        "PANDAPROBE_ENDPOINT": live_server.url,
    }
    result = subprocess.run(
        [sys.executable, "-P", "-c", SDK_SCRIPT, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The SDK only logs when a call failed ("POST /traces → 422", "transport error").
    assert "→" not in result.stderr and "transport error" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def api_client(project: Project) -> ProjectClient:
    return ProjectClient(project, project_services.api_key_create(project=project).raw_key)


@pytest.fixture
def sdk_project(transactional_db):
    return Project.objects.create(name="sdk-project")


def test_the_sdk_ingests_nested_traces_in_sessions(live_server, tmp_path, sdk_project):
    ids = run_sdk(live_server, tmp_path, sdk_project)
    api = api_client(sdk_project)

    listed = api.get("/traces?limit=200").json()
    assert listed["total"] == 3
    assert {t["trace_id"] for t in listed["items"]} == {*ids["sess-a"], *ids["sess-b"]}
    for item in listed["items"]:
        assert (item["span_count"], item["total_tokens"], item["total_cost"]) == (3, 15, 0.25)
        assert (item["environment"], item["release"], item["status"]) == ("test-env", "r1", "COMPLETED")

    trace_id = ids["sess-a"][1]
    trace = api.get(f"/traces/{trace_id}").json()
    assert (trace["session_id"], trace["user_id"], trace["tags"]) == ("sess-a", "user-1", ["sdk", "sess-a"])
    assert trace["metadata"] == {"turn": 1}
    assert trace["input"] == {"messages": [{"role": "user", "content": "sess-a question 1"}]}
    spans = {s["name"]: s for s in trace["spans"]}
    expected = ids["spans"][trace_id]
    assert {name: s["span_id"] for name, s in spans.items()} == expected
    assert spans["agent"]["parent_span_id"] is None
    assert spans["llm"]["parent_span_id"] == expected["agent"]
    assert spans["search"]["parent_span_id"] == expected["agent"]
    llm = spans["llm"]
    assert (llm["kind"], llm["model"], llm["status"]) == ("LLM", "gpt-test", "OK")
    assert llm["token_usage"] == {"prompt_tokens": 10, "completion_tokens": 5}
    assert llm["cost"] == {"total": 0.25, "input": 0.1, "output": 0.15}
    assert llm["latency_ms"] is not None and llm["latency_ms"] >= 0
    assert (trace["total_tokens"], trace["total_cost"]) == (15, 0.25)

    sessions = {s["session_id"]: s for s in api.get("/sessions").json()["items"]}
    assert set(sessions) == {"sess-a", "sess-b"}
    assert (sessions["sess-a"]["trace_count"], sessions["sess-a"]["user_id"]) == (2, "user-1")
    assert (sessions["sess-a"]["total_tokens"], sessions["sess-a"]["total_cost"]) == (30, 0.5)
    assert sessions["sess-a"]["total_span_count"] == 6 and sessions["sess-a"]["has_error"] is False
    detail = api.get("/sessions/sess-b").json()
    assert [t["trace_id"] for t in detail["traces"]] == ids["sess-b"]


def test_the_sdk_scores_a_trace(live_server, tmp_path, sdk_project):
    pytest.importorskip("evaluations.services.scores")
    ids = run_sdk(live_server, tmp_path, sdk_project, "--score")
    trace_id = ids["sess-a"][0]
    response = api_client(sdk_project).get(f"/evaluations/trace-scores/{trace_id}")
    assert response.status_code == 200, response.content
    scores = response.json()
    assert [(s["name"], s["value"], s["source"], s["trace_id"]) for s in scores] == [
        ("quality", "0.9", "PROGRAMMATIC", trace_id)
    ]
    assert scores[0]["reason"] == "looks right"
