"""`manage.py serve` for real: a subprocess on its own SQLite file, its in-process worker included."""

import http.client
import json
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


def serving(args: list[str], env: dict):
    """Start a web server (`args` after the Python interpreter, with `{port}` for its port); yield its
    base URL once /health answers; stop it at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *(arg.format(port=port) for arg in args)],
        cwd=ROOT,
        env=env,
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


@pytest.fixture
def server(serve_env):
    yield from serving(["manage.py", "serve", "127.0.0.1:{port}"], serve_env)


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


@pytest.fixture
def gunicorn_server(serve_env):
    """The production web server (README, "Production layout") on the same settings."""
    args = ["-m", "gunicorn", "pandaprobe.wsgi", "--bind", "127.0.0.1:{port}", "--workers", "1"]
    yield from serving(args, serve_env)


def _send(base: str, method: str, path: str, body: bytes, headers: dict, *, chunked: bool):
    """One request on its own connection by `http.client`, its body in one chunk when `chunked`.

    Headers and body go out in one write: a server that answers before reading the body (and then
    closes) must not turn the test into a race with a broken pipe."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(method, path)
        length = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))}
        for name, value in {**headers, **length}.items():
            connection.putheader(name, value)
        connection.endheaders(message_body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.mark.parametrize("which", ["serve", "gunicorn"])
def test_a_chunked_body_is_refused_with_411_never_read_as_empty(request, serve_env, which):
    """Django reads a body without a Content-Length as empty under either server (without the
    refusal this trace is a 422 "Field required": its body was never read). It is a 411 instead."""
    base = request.getfixturevalue("server" if which == "serve" else "gunicorn_server")
    raw_key = manage("create_api_key", "--project", "acme", env=serve_env).strip()
    headers = {"X-API-Key": raw_key, "X-Project-Name": "acme", "Content-Type": "application/json"}
    body = json.dumps({"name": "chunked", "started_at": "2026-01-01T00:00:00Z"}).encode()
    huge = json.dumps(
        {"name": "huge", "started_at": "2026-01-01T00:00:00Z", "input": "x" * 11_000_000}
    ).encode()

    status, answer = _send(base, "POST", "/traces", body, headers, chunked=True)
    assert status == 411 and "Content-Length" in answer["detail"]
    assert _send(base, "GET", "/traces", b"", headers, chunked=False)[1]["total"] == 0
    assert _send(base, "POST", "/traces", body, headers, chunked=False)[0] == 202  # control

    # Over the size limit either way: refused before it is read (the server may answer and close
    # while the client is still sending, which the client sees as a broken connection).
    for chunked, refused in ((True, 411), (False, 413)):
        try:
            assert _send(base, "POST", "/traces", huge, headers, chunked=chunked)[0] == refused
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert _send(base, "GET", "/traces", b"", headers, chunked=False)[1]["total"] == 1
