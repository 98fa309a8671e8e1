"""Ingestion over HTTP: `POST /traces` with 10 spans (~7 KB), on PostgreSQL behind gunicorn.

Target: at least 333 traces/s sustained with p99 under 100 ms, load generator on the same 2-core
machine. For each server set-up (`-o servers=sync:3,gthread:2x4`): a warm-up, then an open-loop
run at the target rate (latency counted from when each request was due), the CPU each party used
meanwhile, then a closed-loop run for the ceiling (wrk when installed, else `loadgen.py`). Last, an
in-process profile of one request (no network) says where the time goes.

Options (`-o key=value`): rate=333 duration=30 warmup=5 servers=sync:3,gthread:2x4 ceiling=10
connections=8 (closed loop) profile=300 (requests; 0 skips).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "ingest"
DATABASE = "bench_ingest"
PROJECT = "bench-ingest"
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
DEFAULTS = {
    "rate": "333",
    "duration": "30",
    "warmup": "5",
    "servers": "sync:3,gthread:2x4",
    "ceiling": "10",
    "connections": "8",
    "profile": "300",
}
QUICK = {"duration": "5", "warmup": "2", "servers": "sync:3", "ceiling": "3", "profile": "50"}
TARGET_RATE = 333
TARGET_P99_MS = 100


def run(args) -> list[dict]:
    opts = {**DEFAULTS, **(QUICK if args.quick else {}), **args.options}
    work = common.RESULTS / NAME
    work.mkdir(parents=True, exist_ok=True)
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    env = common.server_env(
        common.database_ensure(args.database_url, DATABASE, fresh=True),
        redis_url=args.redis_url,
        namespace=f"bench-{NAME}",
    )
    if common.migrations_pending(env):
        rows.append(row(f"{NAME}: WARNING models have changes without migrations", "yes", ok=False))
    common.manage("migrate", "--noinput", "-v0", env=env)
    key = common.api_key_issue(env, PROJECT)
    body = _write_body(work / "body.json", env)
    with common.process(common.dramatiq_worker_args(), env, log=work / "dramatiq.log"):
        for server in filter(None, (spec.strip() for spec in opts["servers"].split(","))):
            rows += _bench_server(server, env, key, body, opts, work)
    if int(opts["profile"]):
        rows += _profile(env, key, body, int(opts["profile"]))
    return rows


def _write_body(path: Path, env: dict) -> Path:
    """The benchmark body from the demo builder, its trace_id replaced by a placeholder."""
    code = (
        "import django, json; django.setup(); from pandaprobe.traces.demo import bench_trace_body; "
        f"b = bench_trace_body(); b['trace_id'] = {PLACEHOLDER!r}; print(json.dumps(b))"
    )
    done = subprocess.run(
        [common.PYTHON, "-c", code],
        cwd=common.ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "pandaprobe.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    path.write_text(done.stdout.strip())
    return path


def _parse_server(spec: str) -> tuple[str, int, int, str]:
    """`sync:3` or `gthread:2x4` -> (worker class, workers, threads, label)."""
    worker_class, _, size = spec.partition(":")
    workers, _, threads = size.partition("x")
    if worker_class not in {"sync", "gthread"} or not workers.isdigit():
        raise ValueError(f"server set-up {spec!r}: expected sync:N or gthread:NxT")
    label = f"gunicorn {worker_class} -w {workers}" + (f" --threads {threads}" if threads else "")
    return worker_class, int(workers), int(threads or 1), label


def _bench_server(spec: str, env: dict, key: str, body: Path, opts: dict, work: Path) -> list[dict]:
    worker_class, workers, threads, label = _parse_server(spec)
    port = common.free_port()
    url = f"http://127.0.0.1:{port}"
    args = common.gunicorn_args(worker_class, workers, threads, port)
    with common.process(args, env, log=work / f"gunicorn-{spec.replace(':', '-')}.log") as server:
        common.wait_for_http(f"{url}/health", process=server)
        rate = float(opts["rate"])
        _loadgen(url, key, body, rate=rate, duration=float(opts["warmup"]))
        before = _cpu_snapshot(server.pid)
        result = _loadgen(url, key, body, rate=rate, duration=float(opts["duration"]))
        cpu = _cpu_split(before, _cpu_snapshot(server.pid), result)
        ceiling = _ceiling(url, key, body, int(opts["connections"]), float(opts["ceiling"]), work)
    return _server_rows(label, result, cpu, ceiling, rate)


def _loadgen(
    url: str, key: str, body: Path, *, rate: float | None, duration: float, connections: int = 256
) -> dict:
    args = [common.PYTHON, str(Path(__file__).with_name("loadgen.py")), f"{url}/traces", "--body", str(body)]
    args += [
        "--header",
        f"X-API-Key: {key}",
        "--header",
        f"X-Project-Name: {PROJECT}",
        "--unique",
        PLACEHOLDER,
    ]
    args += ["--duration", str(duration), "--connections", str(connections)]
    args += ["--rate", str(rate)] if rate else []
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 120)
    return json.loads(done.stdout)


def _cpu_snapshot(server_pid: int) -> dict:
    table = common._processes()
    return {
        "gunicorn": common.tree_cpu(server_pid, table),
        "postgres": common.command_cpu("postgres", table),
        "machine": common.machine_busy()[0],
        "at": time.monotonic(),
    }


def _cpu_split(before: dict, after: dict, result: dict) -> dict:
    """Cores used on average by each party during the sustained run."""
    seconds = after["at"] - before["at"]
    split = {name: (after[name] - before[name]) / seconds for name in ("gunicorn", "postgres", "machine")}
    split["loadgen"] = result["cpu_s"] / seconds
    split["other"] = split["machine"] - split["gunicorn"] - split["postgres"] - split["loadgen"]
    return split


def _ceiling(url: str, key: str, body: Path, connections: int, duration: float, work: Path) -> dict:
    """Closed-loop throughput with `connections` clients: wrk when it can be had, else loadgen.py."""
    if _wrk_available():
        return _wrk(url, key, body, connections, duration, work)
    result = _loadgen(url, key, body, rate=None, duration=duration, connections=connections)
    return {"tool": "loadgen.py", "throughput": result["throughput"], "latency_ms": result["latency_ms"]}


def _wrk_available() -> bool:
    """wrk on PATH, installed from Debian's packages when it is missing and this runs as root."""
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
            subprocess.run(install, capture_output=True, env=env)
    return shutil.which("wrk") is not None


WRK_SCRIPT = """
local body = io.open("%(body)s"):read("*a")
local nonce = %(nonce)d
local counter = 0
local thread_number = 0
local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  local id = string.format("%%08x-%%04x-4000-8000-%%012x", nonce, thread_number, counter)
  local unique = body:gsub("%(placeholder)s", id, 1)
  return wrk.format("POST", "/traces", {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = "%(key)s",
    ["X-Project-Name"] = "%(project)s",
  }, unique)
end
"""


def _wrk(url: str, key: str, body: Path, connections: int, duration: float, work: Path) -> dict:
    script = work / "ingest.lua"
    values = {
        "body": body,
        "nonce": int(time.time()) & 0xFFFFFFFF,
        "placeholder": PLACEHOLDER.replace("-", "%-"),
    }
    script.write_text(WRK_SCRIPT % {**values, "key": key, "project": PROJECT})
    threads = min(2, connections)
    args = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--latency",
        "-s",
        str(script),
    ]
    done = subprocess.run([*args, f"{url}/traces"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {(done.stderr or done.stdout).strip()[:300]}")
    output = done.stdout
    (work / "wrk.txt").write_text(output)
    return {"tool": f"wrk -c {connections}", **_parse_wrk(output)}


def _parse_wrk(output: str) -> dict:
    latency, throughput, failed = {}, 0.0, 0
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in {"50%", "90%", "99%"}:
            number = parts[1].rstrip("usm")
            latency[f"p{parts[0][:-1]}"] = round(float(number) * units[parts[1][len(number) :]], 2)
        elif line.startswith("Requests/sec:"):
            throughput = float(parts[1])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            failed = int(parts[-1])
    return {"throughput": throughput, "latency_ms": latency, "failed": failed}


def _server_rows(label: str, result: dict, cpu: dict, ceiling: dict, rate: float) -> list[dict]:
    latency, name = result["latency_ms"], f"{NAME} [{label}]"
    failures = result["completed"] - result["ok"] + sum(result["errors"].values()) + result["unfinished"]
    split = " / ".join(f"{part} {cpu[part]:.2f}" for part in ("gunicorn", "postgres", "loadgen", "other"))
    p99_ok = latency["p99"] is not None and latency["p99"] < TARGET_P99_MS
    rows = [
        row(f"{name} at {rate:g}/s offered: throughput", result["throughput"], "traces/s",
            f">= {TARGET_RATE}", result["throughput"] >= TARGET_RATE * 0.99),
        row(f"{name} p50 latency", latency["p50"], "ms"),
        row(f"{name} p99 latency" + (" (at least)" if result["unfinished"] else ""), latency["p99"], "ms",
            f"< {TARGET_P99_MS}", p99_ok),
        row(f"{name} failed or unanswered requests", failures, "", "0", failures == 0),
        row(f"{name} CPU cores used ({split})", round(cpu["machine"], 2), "cores"),
        row(f"{name} ceiling, closed loop ({ceiling['tool']})", ceiling["throughput"], "traces/s"),
        row(f"{name} ceiling p50 / p99",
            f"{ceiling['latency_ms'].get('p50')} / {ceiling['latency_ms'].get('p99')}", "ms"),
    ]  # fmt: skip
    if result["overloaded"]:
        rows.append(row(f"{name} offered load stopped early: 5 s of requests waiting", "yes"))
    if result["late_sends"]:
        rows.append(row(f"{name} load generator sent late (> 10 ms)", result["late_sends"], "requests"))
    return rows


def _profile(env: dict, key: str, body: Path, requests: int) -> list[dict]:
    """Run `profile_main` in a process of its own (Django set up with the server's settings)."""
    args = [common.PYTHON, __file__, "profile", str(body), key, str(requests)]
    env = {**env, "DB_CONN_MAX_AGE": "3600"}  # one connection throughout, so its backend's CPU can be read
    done = subprocess.run(args, cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return [row(f"{NAME} profile failed: {done.stderr.strip().splitlines()[-1:]}", None, ok=False)]
    return json.loads(done.stdout)


# --- profiling one request in-process (run as `bench_ingest.py profile BODY KEY N`) -------------

PROFILED = [
    # (label, file suffix, function): CPU time spent inside each (callees included), per request
    ("whole request (WSGI handler)", "django/core/handlers/wsgi.py", "__call__"),
    ("API key authentication", "pandaprobe/projects/authentication.py", "authenticate"),
    ("JSON parsing", "parsers.py", "parse"),
    ("serializer validation (TraceCreateSerializer)", "rest_framework/serializers.py", "is_valid"),
    ("trace_ingest service", "pandaprobe/traces/services.py", "trace_ingest"),
    (
        "  of which: Trace/Span objects (_new_span, _merge_span)",
        "pandaprobe/traces/services.py",
        "_merge_span",
    ),
    ("  trace_ingest: Span bulk_create", "django/db/models/query.py", "bulk_create"),
    ("  trace_ingest: JSONField values encoded", "django/db/models/fields/json.py", "get_db_prep_value"),
    ("ORM SQL compilation (everywhere)", "django/db/models/sql/compiler.py", "as_sql"),
    ("psycopg execute, client side (everywhere)", "psycopg/cursor.py", "execute"),
    ("response rendering", "rest_framework/response.py", "rendered_content"),
]


def profile_main(body_path: str, key: str, requests: int) -> None:
    import cProfile
    import io
    import pstats

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaprobe.settings")
    sys.path.insert(0, str(common.ROOT))
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    app, template = WSGIHandler(), Path(body_path).read_bytes()
    for _ in range(30):  # warm caches and the database connection
        _call(app, template, key)
    timing = _timed(lambda: _call(app, template, key), requests)
    profiler = cProfile.Profile(time.process_time)  # CPU only: waits on PostgreSQL do not count
    profiler.runcall(lambda: [_call(app, template, key) for _ in range(requests)])
    stats = pstats.Stats(profiler, stream=io.StringIO())
    print(json.dumps(_profile_rows(stats, timing)))
    _write_profile_text(stats)


def _timed(call, requests: int) -> dict:
    """Per request: wall time, this process's CPU, the PostgreSQL backend's CPU, SQL statements."""
    from django.db import connection

    queries: list[float] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(time.perf_counter() - started)

    backend = _backend_pid()
    before = (time.perf_counter(), time.process_time(), common.tree_cpu(backend))
    with connection.execute_wrapper(timed):
        for _ in range(requests):
            call()
    after = (time.perf_counter(), time.process_time(), common.tree_cpu(backend))
    same_backend = _backend_pid() == backend
    wall, python, postgres = (
        (end - start) * 1000 / requests for start, end in zip(before, after, strict=True)
    )
    return {
        "wall_ms": wall,
        "python_cpu_ms": python,
        "postgres_cpu_ms": postgres if same_backend else None,
        "queries": len(queries) / requests,
        "sql_ms": sum(queries) * 1000 / requests,
    }


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _call(app, template: bytes, key: str) -> None:
    import io
    import uuid

    body = template.replace(PLACEHOLDER.encode(), str(uuid.uuid4()).encode(), 1)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/traces",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_API_KEY": key,
        "HTTP_X_PROJECT_NAME": PROJECT,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    statuses = []
    response = app(environ, lambda status, headers: statuses.append(status))
    b"".join(response)
    response.close()
    if not statuses[0].startswith("202"):
        raise RuntimeError(f"POST /traces answered {statuses[0]}")


def _profile_rows(stats, timing: dict) -> list[dict]:
    """Each part's share of the request's Python CPU (profiled), applied to the unprofiled CPU time."""
    cumulative = {}
    for (filename, _, function), (_, _, _, cumtime, _) in stats.stats.items():
        for label, suffix, name in PROFILED:
            if function == name and filename.endswith(suffix):
                cumulative[label] = cumulative.get(label, 0.0) + cumtime
    whole, wall = cumulative.get(PROFILED[0][0]) or 1.0, timing["wall_ms"]
    python = timing["python_cpu_ms"]
    cpu = timing["python_cpu_ms"] + (timing["postgres_cpu_ms"] or 0.0)
    rows = [
        row(f"{NAME} profile: one request in-process (no HTTP), wall time", round(wall, 2), "ms"),
        row(f"{NAME} profile:   Python CPU per request", round(timing["python_cpu_ms"], 2), "ms"),
        row(
            f"{NAME} profile:   PostgreSQL backend CPU per request", _rounded(timing["postgres_cpu_ms"]), "ms"
        ),
        row(
            f"{NAME} profile:   => at most, with 2 cores and no HTTP or load generator",
            round(2000 / cpu),
            "traces/s",
        ),
    ]
    for label, _, _ in PROFILED[1:]:
        share = cumulative.get(label, 0.0) / whole
        rows.append(
            row(f"{NAME} profile:   CPU in {label}", round(share * python, 2), "ms", share=round(share, 3))
        )
    rows.append(
        row(
            f"{NAME} profile:   SQL ({timing['queries']:g} statements), wall",
            round(timing["sql_ms"], 2),
            "ms",
        )
    )
    return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _write_profile_text(stats) -> None:
    import io

    output = io.StringIO()
    stats.stream = output
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    (common.RESULTS / NAME / "profile.txt").write_text(output.getvalue())


if __name__ == "__main__":
    if sys.argv[1:2] == ["profile"]:
        profile_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(
            "usage: bench_ingest.py profile BODY KEY N  (the benchmark itself runs from benchmarks/run.py)"
        )
