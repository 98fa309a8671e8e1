"""Ingestion over HTTP: `POST /traces` with 10 spans (~7 KB), on PostgreSQL behind gunicorn.

Target: at least 333 traces/s sustained with p99 under 100 ms, load generator on the same 2-core
machine. For each server set-up (`-o servers=sync:2,gthread:2x4`): a warm-up, then an open-loop
run at the target rate (latency counted from when each request was due), the CPU each party used
meanwhile, then a closed-loop run for the ceiling (wrk when installed, else `loadgen.py`). Last, an
in-process profile of one request (no network) says where the time goes.

Options (`-o key=value`): rate=333 duration=30 warmup=5 servers=sync:2,gthread:2x4 ceiling=10
connections=8 (closed loop) lighter=200 (open-loop rates below the target, for latency when not
saturated; empty skips) profile=300 (requests; 0 skips).
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
    "servers": "sync:2,gthread:2x4",
    "ceiling": "10",
    "connections": "8",
    "profile": "300",
    "lighter": "200",
}
QUICK = {"duration": "5", "warmup": "2", "servers": "sync:2", "ceiling": "3", "profile": "50", "lighter": ""}
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
        lighter = [(float(r), _loadgen(url, key, body, rate=float(r), duration=float(opts["duration"])))
                   for r in filter(None, opts["lighter"].split(","))]  # fmt: skip
    return _server_rows(label, result, cpu, ceiling, rate) + [_lighter_row(label, *pair) for pair in lighter]


def _lighter_row(label: str, rate: float, result: dict) -> dict:
    """Latency at a rate below the target, to show the service's latency when it is not saturated."""
    latency, lost = result["latency_ms"], result["completed"] - result["ok"] + result["unfinished"]
    value = f"{result['throughput']:g}/s, {latency['p50']} / {latency['p99']}" + (
        f", {lost} failed" if lost else ""
    )
    return row(f"{NAME} [{label}] at {rate:g}/s offered: throughput, p50 / p99", value, "ms")


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
        row(f"{name} CPU per trace: gunicorn / PostgreSQL", _per_trace(cpu, result["throughput"]), "ms"),
        row(f"{name} ceiling, closed loop ({ceiling['tool']})", ceiling["throughput"], "traces/s"),
        row(f"{name} ceiling p50 / p99",
            f"{ceiling['latency_ms'].get('p50')} / {ceiling['latency_ms'].get('p99')}", "ms"),
    ]  # fmt: skip
    if result["overloaded"]:
        rows.append(row(f"{name} offered load stopped early: 5 s of requests waiting", "yes"))
    if result["late_sends"]:
        rows.append(row(f"{name} load generator sent late (> 10 ms)", result["late_sends"], "requests"))
    return rows


def _per_trace(cpu: dict, throughput: float) -> str:
    if not throughput:
        return "-"
    return f"{cpu['gunicorn'] * 1000 / throughput:.2f} / {cpu['postgres'] * 1000 / throughput:.2f}"


def _profile(env: dict, key: str, body: Path, requests: int) -> list[dict]:
    """`profile_ingest.py` in a process of its own, Django set up with the server's settings."""
    args = [common.PYTHON, str(Path(__file__).with_name("profile_ingest.py")), str(body), key, PROJECT]
    args += [PLACEHOLDER, str(requests)]
    env = {**env, "DB_CONN_MAX_AGE": "3600"}  # one connection throughout, so its backend's CPU can be read
    done = subprocess.run(args, cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return [row(f"{NAME} profile failed: {done.stderr.strip().splitlines()[-1:]}", None, ok=False)]
    return json.loads(done.stdout)
