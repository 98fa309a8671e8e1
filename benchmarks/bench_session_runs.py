"""A session evaluation run end to end, then the same run again (issue 10).

100 sessions of 10 traces (the demo's support-agent trace, ingested over `POST /traces`), the stub
judge at 200 ms in a process of its own, PostgreSQL, gunicorn, Redis and one real `rundramatiq`
worker, as `bench_runs.py` sets them up. The first run (`POST /evaluations/session-runs/batch`,
agent_reliability and agent_consistency) computes every trace's signals: its task extraction,
confidence and tool_correctness (chat), coherence (an embedding) and, per session, one embedding
call for loop detection. The second run over the same sessions finds every signal made by the same
model and prompt versions and reuses it: target, no judge call at all.

Options (`-o key=value`): sessions=100 traces=10 latency=0.2 concurrency=32 database=bench_session_runs.
"""

import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ingest  # noqa: E402
import bench_runs  # noqa: E402
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "session_runs"
PROJECT = bench_runs.PROJECT  # bench_runs._Api names its project
DEFAULTS = {"sessions": "100", "traces": "10", "latency": "0.2", "concurrency": "32",
            "database": "bench_session_runs"}  # fmt: skip
QUICK = {"sessions": "10", "traces": "5"}
METRICS = ["agent_reliability", "agent_consistency"]
RUNS = "/evaluations/session-runs"


def run(args) -> list[dict]:
    opts = {**DEFAULTS, **(QUICK if args.quick else {}), **args.options}
    work = common.RESULTS / NAME
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    with bench_runs._Stub(float(opts["latency"]), work / "stub.log") as stub:
        env = common.server_env(
            common.database_ensure(args.database_url, opts["database"], fresh=True),
            redis_url=args.redis_url, namespace=f"bench-{NAME}", PANDAPROBE_JUDGE_MODEL=bench_runs.MODEL,
            PANDAPROBE_JUDGE_API_BASE=stub.url, PANDAPROBE_JUDGE_CONCURRENCY=opts["concurrency"],
        )  # fmt: skip
        common.manage("migrate", "--noinput", "-v0", env=env)
        first, second = _service(env, opts, stub, work)
    return rows + _rows(opts, first, second)


def _service(env: dict, opts: dict, stub, work: Path) -> tuple[dict, dict]:
    key = common.api_key_issue(env, PROJECT)
    body = json.loads(bench_ingest._write_body(work / "trace.json", env).read_text())
    port = common.free_port()
    with (
        common.process(common.gunicorn_args("sync", 2, 1, port), env, log=work / "gunicorn.log") as server,
        common.process(common.dramatiq_worker_args(), env, log=work / "dramatiq.log"),
    ):
        common.wait_for_http(f"http://127.0.0.1:{port}/health", timeout=bench_runs.SERVER_START_SECONDS,
                             process=server)  # fmt: skip
        api = bench_runs._Api(f"http://127.0.0.1:{port}", key)
        sessions = [_ingest_session(api, body, f"bench-session-{i}", int(opts["traces"]))
                    for i in range(int(opts["sessions"]) + 1)]  # fmt: skip
        bench_runs.run_to_end(api, RUNS, {"session_ids": sessions[:1], "metrics": METRICS})  # warm-up
        return tuple(_timed(api, stub, sessions[1:]) for _ in range(2))


def _ingest_session(api, body: dict, session_id: str, traces: int) -> str:
    for _ in range(traces):
        api.ingest({**body, "trace_id": str(uuid.uuid4()), "session_id": session_id})
    return session_id


def _timed(api, stub, sessions: list[str]) -> dict:
    started = time.monotonic()
    run = bench_runs.run_to_end(api, RUNS, {"session_ids": sessions, "metrics": METRICS})
    ended = time.monotonic()
    return {"wall_s": ended - started, "run": run, "stub": stub.seen(started, ended)}


def _rows(opts: dict, first: dict, second: dict) -> list[dict]:
    label = f"{NAME} [{opts['sessions']} sessions x {opts['traces']} traces, {float(opts['latency']) * 1000:g} ms judge]"
    traces = int(opts["sessions"]) * int(opts["traces"])
    calls = first["stub"]["calls"]
    return [
        row(f"{label} first run: wall time, POST to COMPLETED", round(first["wall_s"], 2), "s"),
        row(f"{label} first run: judge calls (stub) / reported by the run", f"{calls} / {first['run']['judge_calls']}",
            "", "equal", calls == first["run"]["judge_calls"]),
        row(f"{label} first run: judge calls per trace", round(calls / traces, 2), ""),
        row(f"{label} first run: calls in flight at the stub, peak / mean",
            f"{first['stub']['peak']} / {first['stub']['mean']}", ""),
        row(f"{label} first run: failed session-metric pairs", first["run"]["failed_count"], "", "0",
            first["run"]["failed_count"] == 0),
        row(f"{label} second run (signals reused): wall time", round(second["wall_s"], 2), "s"),
        row(f"{label} second run (signals reused): judge calls", second["stub"]["calls"], "", "0",
            second["stub"]["calls"] == 0 and second["run"]["judge_calls"] == 0),
    ]  # fmt: skip
