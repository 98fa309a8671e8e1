"""`manage.py serve` for real: a subprocess on its own SQLite file, its in-process worker included."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until(check, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def serve_env(tmp_path) -> dict:
    """The newcomer's set-up: SQLite and no Redis, so the worker runs inside the web process."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}", DEBUG="true", LOG_LEVEL="WARNING")
    manage("migrate", "--noinput", "-v0", env=env)
    return env


@pytest.fixture
def server(serve_env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=serve_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(base, process), timeout=30, what="/health")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(base: str, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        pytest.fail(f"serve exited with {process.returncode}:\n{process.stdout.read()}")
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def last_used_at(database: str, key_prefix: str) -> str | None:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT last_used_at FROM projects_apikey WHERE key_prefix = ?", (key_prefix,)
        ).fetchone()
    return row[0]


def test_serve_answers_the_api_and_runs_actors_in_process(server, serve_env):
    raw_key = manage("create_api_key", "--project", "acme", env=serve_env).strip()
    database = serve_env["DATABASE_URL"].removeprefix("sqlite:///")
    assert last_used_at(database, raw_key[:12]) is None
    headers = {"X-API-Key": raw_key, "X-Project-Name": "acme"}
    trace_id = str(uuid.uuid4())
    body = {"trace_id": trace_id, "name": "served", "started_at": "2026-01-01T00:00:00Z", "spans": []}

    assert httpx.post(f"{server}/traces", json=body, headers=headers).status_code == 202
    listed = httpx.get(f"{server}/traces", headers=headers).json()
    assert [item["trace_id"] for item in listed["items"]] == [trace_id]
    assert httpx.get(f"{server}/traces", headers={**headers, "X-API-Key": "sk_pp_wrong"}).status_code == 401

    # The key-usage actor was sent on commit; only the in-process worker can have run it.
    wait_until(lambda: last_used_at(database, raw_key[:12]), timeout=10, what="ApiKey.last_used_at")
