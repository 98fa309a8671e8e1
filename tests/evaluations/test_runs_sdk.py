"""The public SDK's PlatformClient flow against a live server, a real worker and the stub judge:
list metrics, create a batch run, poll it to COMPLETED and read its scores as a plain list."""

import json
import os
import subprocess
import sys

import pytest

from pandaprobe.projects import services as project_services
from pandaprobe.projects.models import Project

from ..factories import TraceFactory

PLATFORM_SCRIPT = r"""
import asyncio, json, sys
import pandaprobe
from pandaprobe.api import PlatformClient

assert "site-packages" in pandaprobe.__file__, pandaprobe.__file__
trace_ids, metrics = sys.argv[1].split(","), ["task_completion", "coherence"]
pandaprobe.init()

async def main():
    async with PlatformClient() as client:
        names = [metric.name for metric in await client.evaluations.metrics()]
        run = await client.evaluations.create(trace_ids, metrics, name="from the sdk")
        result = await client.evaluations.wait(
            run.id, trace_ids=trace_ids, metrics=metrics, timeout=90, poll_interval=0.2
        )
        print(json.dumps({
            "names": names, "run_id": str(run.id), "status": result.run.status,
            "total": result.run.total_targets,
            "scores": sorted([str(s.trace_id), s.name, s.numeric_value] for s in result.scores),
        }))

asyncio.run(main())
"""


@pytest.fixture
def sdk_project(transactional_db):
    return Project.objects.create(name="sdk-runs")


def test_the_sdk_runs_an_evaluation_to_completion(live_server, tmp_path, sdk_project, worker, judge_stub):
    traces = [TraceFactory(project=sdk_project, input="where is my order", output="your order ships")
              for _ in range(2)]  # fmt: skip
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path),
        "PANDAPROBE_API_KEY": project_services.api_key_create(project=sdk_project).raw_key,
        "PANDAPROBE_PROJECT_NAME": sdk_project.name, "PANDAPROBE_ENDPOINT": live_server.url,
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-P", "-c", PLATFORM_SCRIPT, ",".join(str(t.pk) for t in traces)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "task_completion" in body["names"] and body["status"] == "COMPLETED" and body["total"] == 2
    assert len(body["scores"]) == 4
    assert {(trace_id, name) for trace_id, name, _ in body["scores"]} == {
        (str(t.pk), name) for t in traces for name in ("task_completion", "coherence")
    }
    assert all(value is not None and 0 <= value <= 1 for _, _, value in body["scores"])
