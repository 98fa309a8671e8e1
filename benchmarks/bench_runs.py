"""An evaluation run end to end, against a bare litellm loop making the same calls (issue 9).

The judge is the OpenAI-compatible stub of the tests (`tests/judge_stub.py`) in a process of its
own, answering every call after 200 ms. The service runs as in production: PostgreSQL, gunicorn for
the API, Redis broker, a worker as `make worker` runs it (`manage.py rundramatiq`, 2 processes x 4
threads, prefetch = threads) whose processes share the 32 calls in flight
(`PANDAPROBE_JUDGE_CONCURRENCY=16` each).
The traces (the demo's 10-span support-agent trace, with tool calls) are ingested over
`POST /traces`; a warm-up run over them, untimed, reaches every worker process (a process's first
judge calls set up its clients and connections); then the run is created
with `POST /evaluations/trace-runs/batch` and timed from that POST until
`GET /evaluations/trace-runs/{id}` says COMPLETED.

The default metrics (task_completion, tool_correctness, step_efficiency) all ask the judge (none
takes a shortcut on these traces) and share one extraction (`task`): 4 calls per trace, 1.33 per
trace-metric. Then, with the service stopped, a bare loop (a child process) makes as many
`litellm.completion` calls as the stub saw, with the run's own prompts, model, api_base and JSON
`response_format`, from 32 threads; and a sequential sample times the reference design (one call
after another), extrapolated to the run's calls. The judge makes its calls with litellm's async API
on an event loop (`evaluations/judge.py`), which costs less CPU per call than threads: an asyncio
loop making the same calls, 32 at once, is measured too, and the efficiency against it shown.

Targets: service efficiency (bare threaded loop's wall time / service wall time) >= 0.8; >= 16x
faster than the sequential reference. The stub reports the calls it saw, the most in flight at once, and the mean in
flight during each measurement (its busy time over the wall time), which says whether the
service keeps 32 calls going.

Each side is measured `repeat` times (a new run over the same traces; the bare loop again) and
compared by its median: on a shared two-core machine one measurement of ten seconds varies by a
fifth from the next. The other rows describe the service run of median wall time.

Options (`-o key=value`): traces=100 latency=0.2 concurrency=32 processes=2 threads=4
metrics=task_completion,tool_correctness,step_efficiency sequential=20 repeat=3 database=bench_runs,
and per_message (PANDAPROBE_RUN_TARGETS_PER_MESSAGE; the setting's default when absent).
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ingest  # noqa: E402
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "runs"
PROJECT = "bench-runs"
MODEL = "bench-judge"
DEFAULTS = {
    "traces": "100",
    "latency": "0.2",
    "concurrency": "32",
    "processes": "2",
    "threads": "4",
    "metrics": "task_completion,tool_correctness,step_efficiency",
    "sequential": "20",
    "repeat": "3",
    "database": "bench_runs",
}
QUICK = {"traces": "20", "sequential": "5", "repeat": "1"}
MIN_EFFICIENCY = 0.8
MIN_SPEED_UP = 16
RUN_TIMEOUT_SECONDS = 600
# Each poll is a request the service serves on the same two cores: often enough to time the run to
# within a few percent, not so often that the polling itself slows the run.
POLL_SECONDS = 0.1
# gunicorn and the worker import Django and the project; on a busy machine that takes a while.
SERVER_START_SECONDS = 180


def run(args) -> list[dict]:
    opts = {**DEFAULTS, **(QUICK if args.quick else {}), **args.options}
    work = common.RESULTS / NAME
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    with _Stub(float(opts["latency"]), work / "stub.log") as stub:
        env = common.server_env(
            common.database_ensure(args.database_url, opts["database"], fresh=True),
            redis_url=args.redis_url,
            namespace=f"bench-{NAME}",
            PANDAPROBE_JUDGE_MODEL=MODEL,
            PANDAPROBE_JUDGE_API_BASE=stub.url,
            # The run's calls in flight in all, shared by the worker's processes (each has its own).
            PANDAPROBE_JUDGE_CONCURRENCY=str(int(opts["concurrency"]) // int(opts["processes"])),
            # As `make worker`: a process takes no more messages than it has threads, so a run's few,
            # long messages spread over both processes (dramatiq's default prefetch is twice that).
            dramatiq_queue_prefetch=opts["threads"],
            # While all its threads are busy a consumer backs off, up to this many ms (default 1000),
            # before it looks again: a thread that frees up would wait that long for its next message.
            dramatiq_worker_timeout="100",
            **({"PANDAPROBE_RUN_TARGETS_PER_MESSAGE": opts["per_message"]} if "per_message" in opts else {}),
        )
        common.manage("migrate", "--noinput", "-v0", env=env)
        services = _service(env, opts, stub, work)
        bare = common.child(env, __file__, "--bare", json.dumps({**opts, "calls": services[0]["stub"]["calls"]}))
        for loop in (*bare["loops"]["threads"], *bare["loops"]["asyncio"]):
            loop["stub"] = stub.seen(loop["started"], loop["ended"])
    return rows + _rows(opts, services, bare)


def _median(measurements: list[dict]) -> dict:
    """The measurement of median wall time (the lower middle one of an even count)."""
    return sorted(measurements, key=lambda m: m["wall_s"])[(len(measurements) - 1) // 2]


# --- the stub judge, a process of its own ---------------------------------------------------------


class _Stub:
    """`tests/judge_stub.py` in a child process; it answers over stdin/stdout what it saw when."""

    def __init__(self, latency: float, log: Path):
        self.latency, self.log = latency, log

    def __enter__(self) -> "_Stub":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [common.PYTHON, __file__, "--stub", str(self.latency)], cwd=common.ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log.open("w"),
        )  # fmt: skip
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"the stub judge did not start (see {self.log})")
        return self

    def seen(self, start: float, end: float) -> dict:
        """Calls that arrived between two `time.monotonic()` readings (one clock for every process),
        the most in flight at once, and the mean in flight over the window."""
        self.process.stdin.write(json.dumps([start, end]) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=15)


def _window(intervals: list[tuple[float, float]], start: float, end: float) -> dict:
    inside = [(max(a, start), min(b, end)) for a, b in intervals if start <= a <= end]
    edges = sorted([(a, 1) for a, _ in inside] + [(b, -1) for _, b in inside])
    in_flight = peak = 0
    for _, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    busy = sum(b - a for a, b in inside)
    tenth = max(end - start, 1e-9) / 10
    tenths = [sum(max(0.0, min(b, start + (i + 1) * tenth) - max(a, start + i * tenth)) for a, b in inside) / tenth
              for i in range(10)]  # fmt: skip
    return {"calls": len(inside), "peak": peak, "mean": round(busy / max(end - start, 1e-9), 2),
            "tenths": [round(t, 1) for t in tenths]}  # fmt: skip


def _stub_main(latency: float) -> None:
    from tests import judge_stub

    stub = judge_stub.StubJudge()
    stub.latency = latency
    intervals: list[tuple[float, float]] = []
    answer = judge_stub._Handler.do_POST

    def timed(handler) -> None:
        started = time.monotonic()
        answer(handler)
        with stub.lock:
            intervals.append((started, time.monotonic()))
            stub.calls.clear()  # the stub keeps every body; this one needs only the times

    judge_stub._Handler.do_POST = timed
    stub.start()
    print(stub.url, flush=True)
    for line in sys.stdin:
        with stub.lock:
            print(json.dumps(_window(intervals, *json.loads(line))), flush=True)
    stub.stop()


# --- the service ----------------------------------------------------------------------------------


def _service(env: dict, opts: dict, stub: _Stub, work: Path) -> list[dict]:
    key = common.api_key_issue(env, PROJECT)
    body = json.loads(bench_ingest._write_body(work / "trace.json", env).read_text())
    port = common.free_port()
    server_args = common.gunicorn_args("sync", 2, 1, port)
    with (
        common.process(server_args, env, log=work / "gunicorn.log") as server,
        common.process(common.dramatiq_worker_args(int(opts["processes"]), int(opts["threads"])), env, log=work / "dramatiq.log") as worker,
    ):
        common.wait_for_http(f"http://127.0.0.1:{port}/health", timeout=SERVER_START_SECONDS, process=server)
        api = _Api(f"http://127.0.0.1:{port}", key)
        trace_ids = [api.ingest({**body, "trace_id": str(uuid.uuid4())}) for _ in range(int(opts["traces"]))]
        metrics = opts["metrics"].split(",")
        _run_to_end(api, trace_ids, metrics)  # warm-up
        pids = {"worker": worker.pid, "API server": server.pid, "stub judge": stub.process.pid}
        return [_measured(api, trace_ids, metrics, pids, stub) for _ in range(int(opts["repeat"]))]


def _measured(api: "_Api", trace_ids: list[str], metrics: list[str], pids: dict, stub: _Stub) -> dict:
    """One run over `trace_ids`, timed from its POST until it is COMPLETED, with the CPU it took."""
    cpu, machine, started = _cpu(pids), common.machine_busy(), time.monotonic()
    run = _run_to_end(api, trace_ids, metrics)
    ended, after, machine_after = time.monotonic(), _cpu(pids), common.machine_busy()
    spent = {name: after[name] - cpu[name] for name in cpu}
    cores = (machine_after[0] - machine[0]) / (machine_after[1] - machine[1]) * os.cpu_count()
    return {"wall_s": ended - started, "cpu_s": spent["worker"], "cpu": spent, "machine_cores": cores,
            "run": run, "stub": stub.seen(started, ended)}  # fmt: skip


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process tree of `pids`, and by PostgreSQL's processes."""
    table = common._processes()
    return {**{name: common.tree_cpu(pid, table) for name, pid in pids.items()},
            "PostgreSQL": common.command_cpu("postgres", table)}  # fmt: skip


class _Api:
    def __init__(self, url: str, key: str):
        self.url, self.headers = url, {"X-API-Key": key, "X-Project-Name": PROJECT}

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, "Content-Type": "application/json"} if data else self.headers
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def ingest(self, body: dict) -> str:
        self.call("POST", "/traces", body)
        return body["trace_id"]


def _run_to_end(api: _Api, trace_ids: list[str], metrics: list[str]) -> dict:
    """Create a batch trace run and poll it until it ends; its last state."""
    return run_to_end(api, "/evaluations/trace-runs", {"trace_ids": trace_ids, "metrics": metrics})


def run_to_end(api: _Api, runs_path: str, body: dict) -> dict:
    """Create a batch run (`runs_path`: trace-runs or session-runs) and poll it until it ends."""
    run = api.call("POST", f"{runs_path}/batch", body)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while run["status"] not in ("COMPLETED", "FAILED", "CANCELLED"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run['id']} not finished after {RUN_TIMEOUT_SECONDS} s: {run['status']}")
        time.sleep(POLL_SECONDS)
        run = api.call("GET", f"{runs_path}/{run['id']}")
    if run["status"] != "COMPLETED":
        raise RuntimeError(f"run {run['id']} ended {run['status']}: {run.get('error_message')}")
    return run


# --- the bare loop, in a Django child (for the run's own prompts) ---------------------------------


def _judge_calls(opts: dict) -> list[tuple[list[dict], dict, str]]:
    """(messages, schema, name) of every judge call the run makes, trace by trace, as the service
    builds them; the metrics' inputs from the extractions are the stub's answers."""
    from django.conf import settings

    from evaluations.metrics import TRACE_METRICS, build_trace_view, extractions_for
    from evaluations.selectors.runs import trace_for_judging
    from pandaprobe.projects.services import project_get_or_create
    from pandaprobe.traces.models import Trace
    from tests.judge_stub import sample_instance

    project = project_get_or_create(name=PROJECT)
    metrics = [TRACE_METRICS[name] for name in opts["metrics"].split(",")]
    extractions = extractions_for(metrics)
    shared = {e.name: sample_instance(e.output_schema, {}) for e in extractions}
    calls = []
    for trace_id in Trace.objects.filter(project=project).values_list("pk", flat=True):
        view = build_trace_view(*trace_for_judging(project_id=project.pk, trace_id=trace_id),
                                token_budget=settings.PANDAPROBE_JUDGE_TRACE_TOKENS)  # fmt: skip
        calls += [(step.messages(view, shared), step.output_schema, step.prompt_name)
                  for step in (*extractions, *metrics) if not getattr(step, "embedding", False)]  # fmt: skip
    return calls


def _threads_loop(complete, calls: list, concurrency: int):
    def loop() -> None:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(complete, calls))

    return loop


def _bare_main(opts: dict) -> None:
    import django

    django.setup()
    from evaluations import judge

    config = judge.JudgeConfig.from_settings()
    litellm = judge._litellm()  # litellm set up as the service has it (telemetry off, ...)
    prompts = _judge_calls(opts)
    calls = [prompts[i % len(prompts)] for i in range(int(opts["calls"]))]

    def arguments(call) -> dict:
        messages, schema, name = call
        return {"model": config.litellm_model(config.model), "messages": messages, "temperature": 0,
                "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
                **config.call_options()}  # fmt: skip

    def complete(call) -> None:
        litellm.completion(**arguments(call))

    async def complete_all() -> None:
        in_flight = asyncio.Semaphore(int(opts["concurrency"]))

        async def one(call) -> None:
            async with in_flight:
                await litellm.acompletion(**arguments(call))

        await asyncio.gather(*(one(call) for call in calls))

    def timed(loop) -> dict:
        cpu, started = time.process_time(), time.monotonic()
        loop()
        cpu, ended = time.process_time() - cpu, time.monotonic()
        return {"started": started, "ended": ended, "wall_s": ended - started, "cpu_s": cpu}

    # The threaded loops and the sequential sample first, then the asyncio loops on one event loop
    # (litellm keeps its async client per loop): a threaded loop after an asyncio one met a
    # connection error once.
    complete(calls[0])  # warm-up: the first call builds litellm's client
    repeat, threads = int(opts["repeat"]), _threads_loop(complete, calls, int(opts["concurrency"]))
    loops = {"threads": [timed(threads) for _ in range(repeat)]}
    sequential = []
    for call in calls[: int(opts["sequential"])]:
        began = time.monotonic()
        complete(call)
        sequential.append(time.monotonic() - began)
    event_loop = asyncio.new_event_loop()
    event_loop.run_until_complete(litellm.acompletion(**arguments(calls[0])))
    loops["asyncio"] = [timed(lambda: event_loop.run_until_complete(complete_all())) for _ in range(repeat)]
    print(json.dumps({"loops": loops, "sequential_s": statistics.mean(sequential)}))


# --- the table ------------------------------------------------------------------------------------


def _rows(opts: dict, services: list[dict], bare_loops: dict) -> list[dict]:
    service, bare = _median(services), {**_median(bare_loops["loops"]["threads"]), "sequential_s": bare_loops["sequential_s"]}
    bare_async = _median(bare_loops["loops"]["asyncio"])
    run, stub, calls = service["run"], service["stub"], service["stub"]["calls"]
    latency, concurrency = float(opts["latency"]), int(opts["concurrency"])
    pairs = run["total_targets"] * len(run["metric_names"])
    efficiency = bare["wall_s"] / service["wall_s"]
    efficiency_async = bare_async["wall_s"] / service["wall_s"]
    sequential = calls * bare["sequential_s"]
    speed_up = sequential / service["wall_s"]
    label = f"{NAME} [{run['total_targets']} traces x {len(run['metric_names'])} metrics, {latency * 1000:g} ms judge]"
    each = f"median of {len(services)}: " if len(services) > 1 else ""
    return [
        row(f"{label} service wall time, POST to COMPLETED ({each}{_walls(services)})", round(service["wall_s"], 2), "s"),
        row(f"{label} bare litellm loop, same calls, litellm.completion from {concurrency} threads "
            f"({each}{_walls(bare_loops['loops']['threads'])})", round(bare["wall_s"], 2), "s"),
        row(f"{label} efficiency, bare / service (medians)", round(efficiency, 3), "",
            f">= {MIN_EFFICIENCY}", efficiency >= MIN_EFFICIENCY),
        row(f"{label} bare asyncio loop, same calls, litellm.acompletion {concurrency} at once, as the judge "
            f"calls it ({each}{_walls(bare_loops['loops']['asyncio'])})", round(bare_async["wall_s"], 2), "s"),
        row(f"{label} efficiency against the asyncio loop", round(efficiency_async, 3), ""),
        row(f"{label} bound, calls x {latency:g} s / {concurrency}", round(calls * latency / concurrency, 2), "s"),
        row(f"{label} bare loop / bound", round(calls * latency / concurrency / bare["wall_s"], 3), ""),
        row(f"{label} sequential reference ({opts['sequential']} sequential calls' mean "
            f"{bare['sequential_s'] * 1000:.0f} ms x {calls} calls, extrapolated)", round(sequential, 1), "s"),
        row(f"{label} speed-up vs sequential", round(speed_up, 1), "x", f">= {MIN_SPEED_UP}",
            speed_up >= MIN_SPEED_UP),
        row(f"{label} judge calls (stub) / reported by the run", f"{calls} / {run['judge_calls']}", "",
            "equal", calls == run["judge_calls"]),
        row(f"{label} judge calls per trace-metric ({', '.join(run['metric_names'])})",
            round(calls / pairs, 3), ""),
        row(f"{label} failed trace-metric pairs", run["failed_count"], "", "0", run["failed_count"] == 0),
        row(f"{label} calls in flight at the stub: service peak / mean", _in_flight(stub), ""),
        row(f"{label} calls in flight at the stub: bare peak / mean", _in_flight(bare["stub"]), ""),
        row(f"{label} calls in flight at the stub: asyncio loop peak / mean", _in_flight(bare_async["stub"]), ""),
        row(f"{label} calls in flight at the stub, mean by tenth of the run: service",
            " ".join(f"{t:g}" for t in stub["tenths"]), ""),
        row(f"{label} calls in flight at the stub, mean by tenth of the run: asyncio loop",
            " ".join(f"{t:g}" for t in bare_async["stub"]["tenths"]), ""),
        row(f"{label} CPU during the service run, seconds: "
            + " / ".join(service["cpu"]), " / ".join(f"{v:.2f}" for v in service["cpu"].values()), "s"),
        row(f"{label} cores busy on the machine during the service run", round(service["machine_cores"], 2), ""),
        row(f"{label} CPU per judge call: service worker / bare loop / asyncio loop",
            f"{service['cpu_s'] * 1000 / calls:.1f} / {bare['cpu_s'] * 1000 / calls:.1f} / "
            f"{bare_async['cpu_s'] * 1000 / calls:.1f}", "ms"),
        row(f"{label} run's tokens, prompt / completion", f"{run['prompt_tokens']} / {run['completion_tokens']}", ""),
        row(f"{label} run's cost (unpriced calls: {run['unpriced_calls']})", run["cost"], "USD"),
    ]  # fmt: skip


def _walls(measurements: list[dict]) -> str:
    return " / ".join(f"{m['wall_s']:.2f}" for m in measurements)


def _in_flight(stub: dict) -> str:
    return f"{stub['peak']} / {stub['mean']}"


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))  # the project's `pandaprobe` and `tests`
    if sys.argv[1:2] == ["--stub"]:
        _stub_main(float(sys.argv[2]))
    elif sys.argv[1:2] == ["--bare"]:
        _bare_main(json.loads(sys.argv[2]))
    else:
        sys.exit('run it with `make bench BENCH_ARGS="--only runs"`')
