"""A real `rundramatiq` worker killed with SIGKILL mid-run, then restarted: the run completes with
exactly one score per (trace, metric). PostgreSQL + Redis only (separate processes share them)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from evaluations.models import EvalRun, TraceScore
from evaluations.services import runs
from pandaprobe.projects.access import ProjectAccess

from ..factories import TraceFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (settings.REDIS_URL and settings.DATABASES["default"]["ENGINE"].endswith("postgresql")),
    reason="needs PostgreSQL and Redis shared with a worker process",
)


def start_worker(judge_url: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PANDAPROBE_JUDGE_MODEL": "stub-judge", "PANDAPROBE_JUDGE_EMBEDDING_MODEL": "stub-embedding",
        "PANDAPROBE_JUDGE_API_BASE": judge_url, "PANDAPROBE_JUDGE_API_KEY": "stub",
        "PANDAPROBE_RUN_LEASE_SECONDS": "3", "PANDAPROBE_REAPER_SECONDS": "1",
    }  # fmt: skip
    log = tempfile.TemporaryFile()  # not a pipe: nobody reads one while the worker runs, and a full one blocks it
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "4",
         "--queues", "evaluations"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    process.log = log
    return process


def log_of(process: subprocess.Popen) -> str:
    process.log.seek(0)
    return process.log.read().decode(errors="replace")[-2000:]


def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    os.killpg(process.pid, sig)  # the dramatiq CLI forks worker processes: kill the whole group
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # leave no worker behind to hold the test database
        process.wait(timeout=30)
        raise AssertionError(f"the worker did not stop within 30 s of signal {sig}: {log_of(process)}") from None


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_killed_worker_is_replaced_and_every_pair_is_scored_once(transactional_db, project, broker, judge_stub):
    judge_stub.latency = 0.3
    traces = [TraceFactory(project=project, input="where is my order", output="it ships") for _ in range(12)]
    run = runs.eval_run_create_batch(access=ProjectAccess.system(project), trace_ids=[t.pk for t in traces],
                                     metrics=["confidence", "coherence"])  # fmt: skip
    first = start_worker(judge_stub.url)
    try:
        # A worker's start (Django, Dramatiq, litellm) takes seconds, and minutes on a loaded machine.
        progress = wait_for(lambda: TraceScore.objects.filter(eval_run=run).count() >= 4, 240)
    finally:
        kill(first)
    assert progress, f"no progress: {log_of(first)}"
    assert EvalRun.objects.get(pk=run.pk).status == "RUNNING"
    second = start_worker(judge_stub.url)
    try:
        done = wait_for(lambda: EvalRun.objects.get(pk=run.pk).status == "COMPLETED", 240)
    finally:
        kill(second, signal.SIGTERM)
    run.refresh_from_db()
    assert done, (run.status, run.evaluated_count, log_of(second))
    pairs = list(TraceScore.objects.filter(eval_run=run).values_list("trace_id", "name"))
    assert len(pairs) == len(set(pairs)) == 24
    assert (run.evaluated_count, run.total_targets) == (12, 12)
