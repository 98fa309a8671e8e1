"""The annotation pages under load of data: a trace of 500 spans, and the lists around it.

Figures: time to first byte of the trace page for a trace with 500 spans (target under 150 ms) and
the size of its HTML (target under 500 KB: span bodies are fetched when opened, each 1-2 KB of
input and output here), the SQL queries each page runs (explorer, trace page, session page, one
span's body), and the same page times for the explorer, the session page and a span's body. Measured in-process with Django's test client (middleware,
session auth, view, template: the whole response, which Django renders before its first byte),
DEBUG off, against SQLite and, when a PostgreSQL server is given (`--database-url`, or
DATABASE_URL when run alone), PostgreSQL.

Each database is built in a child process (`--child`), so the runner never imports Django.
Run it alone (`python benchmarks/bench_trace_page.py`) or through `benchmarks/run.py`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "trace_page"
PG_DATABASE = "bench_trace_page"
SPANS = 500
TARGET_MS = 150
TARGET_KB = 500
SAMPLES, QUICK_SAMPLES = 40, 10
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _row(name: str, value, unit: str = "", target: str | None = None, ok: bool | None = None) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok}


def _is_postgres(url: str | None) -> bool:
    return bool(url) and urlparse(url).scheme in ("postgres", "postgresql", "pgsql")


def _child(database_url: str, samples: int, redis_url: str) -> list[dict]:
    """Run in a fresh process: set up Django on `database_url`, seed, measure, return rows.
    DEBUG off needs a REDIS_URL; the pages measured here never reach Redis."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"},
        "DJANGO_SETTINGS_MODULE": "pandaprobe.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-not-for-production",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": redis_url,
        "DRAMATIQ_NAMESPACE": f"bench-{NAME}",
        "SECURE_SSL_REDIRECT": "false",  # the test client speaks plain HTTP
    }
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
    code = [sys.executable, str(Path(__file__).resolve()), "--measure", "--samples", str(samples)]
    done = subprocess.run(code, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"measuring failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- inside the measuring process (Django set up) --------------------------------------------------


def _message(role: str, index: int) -> dict:
    # About 600 characters: an LLM span's input and output come to 1-2 KB, as the issue sizes them.
    return {"role": role, "content": f"Step {index}: " + "lorem ipsum dolor sit amet " * 22}


def _payloads(kind: str, index: int) -> tuple[dict, dict]:
    """A span's input and output: 1-2 KB together (an LLM call's messages, a tool's query and rows)."""
    if kind == "LLM":
        return {"messages": [_message("user", index)]}, {"messages": [_message("assistant", index)]}
    rows = [{"id": index * 100 + row, "title": f"result {row}", "score": 0.5} for row in range(12)]
    return {"query": f"q{index} " * 40}, {"rows": rows}


def _seed_trace(project, session_id: str, spans: int):
    """A trace shaped like an agent run: one root, chains of 9 LLM/tool calls under it."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from pandaprobe.traces.models import Span, Trace

    start = timezone.now() - timedelta(minutes=10)
    trace = Trace.objects.create(
        project=project,
        name="support-agent",
        session_id=session_id,
        started_at=start,
        ended_at=start + timedelta(seconds=spans / 10),
        latency_ms=spans * 100,
        span_count=spans,
        input={"messages": [_message("system", 0), _message("user", 1)]},
        output={"messages": [_message("assistant", 2)]},
        metadata={"customer": "bench", "plan": "pro"},
    )
    root = uuid.uuid4()
    rows, chain = [], root
    for index in range(spans):
        parent = None if index == 0 else (chain if index % 10 else root)
        span_id = root if index == 0 else uuid.uuid4()
        if index and index % 10 == 0:
            chain = span_id
        kind = "AGENT" if index == 0 else ("CHAIN" if index % 10 == 0 else ("LLM" if index % 2 else "TOOL"))
        payload_in, payload_out = _payloads(kind, index)
        rows.append(
            Span(
                trace=trace,
                span_id=span_id,
                parent_span_id=parent,
                name=f"{kind.lower()}-{index}",
                kind=kind,
                status="ERROR" if index % 97 == 0 and index else "OK",
                error="Timeout calling tool" if index % 97 == 0 and index else None,
                model="gpt-4o-mini" if kind == "LLM" else None,
                input=payload_in,
                output=payload_out,
                metadata={"attempt": 1},
                started_at=start + timedelta(milliseconds=index * 100),
                ended_at=start + timedelta(milliseconds=index * 100 + 80),
                total_tokens=300 if kind == "LLM" else 0,
                total_cost=0.0004 if kind == "LLM" else 0.0,
            )
        )
    Span.objects.bulk_create(rows, batch_size=500)
    return trace


def _seed(samples: int):
    from django.contrib.auth import get_user_model

    from evaluations.services.scores import trace_score_create, trace_score_update
    from pandaprobe.projects.access import ProjectAccess
    from pandaprobe.projects.models import Membership, Project

    Project.objects.filter(name="bench-trace-page").delete()
    project = Project.objects.create(name="bench-trace-page")
    user, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    Membership.objects.update_or_create(user=user, project=project, defaults={"role": "reviewer"})
    big = _seed_trace(project, "bench-session", SPANS)
    for _ in range(49):
        _seed_trace(project, "bench-session", 5)
    access = ProjectAccess(project=project, user=user, role="reviewer")
    for name in ("accuracy", "helpfulness", "tone"):
        score = trace_score_create(
            access=access, trace_id=big.pk, name=name, value="0.4", reason="first pass"
        )
        trace_score_update(access=access, score=score, changes={"value": "0.8", "reason": "second pass"})
    return user, big


def _measure(client, url: str, samples: int) -> tuple[float, float, int, int]:
    """(median ms, p95 ms, SQL queries, bytes of the response) of GET url."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm-up: template loading, connection
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        size = len(client.get(url).content)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], len(queries), size


def _measure_all(samples: int) -> list[dict]:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    user, big = _seed(samples)
    client = Client()
    client.force_login(user)
    db = connection.vendor
    rows = []
    from evaluations.links import page_url

    late_span = big.spans.order_by("-started_at").first()  # beyond the inline ones: fetched when opened
    pages = [
        (f"trace page ({SPANS} spans)", page_url("trace-detail", big.project_id, big.pk), True),
        ("explorer (50 traces)", page_url("trace-list", big.project_id), False),
        ("session page (50 traces)", page_url("session-detail", big.project_id, "bench-session"), False),
        ("span body (1 span)", page_url("trace-span", big.project_id, big.pk, late_span.span_id), False),
    ]
    for label, url, targeted in pages:
        median, p95, queries, size = _measure(client, url, samples)
        ok = median < TARGET_MS if targeted else None
        target = f"< {TARGET_MS}" if targeted else None
        rows.append(
            _row(f"{NAME} [{db}]: {label} time to first byte, median", round(median, 1), "ms", target, ok)
        )
        if targeted:
            kb = round(size / 1000, 1)
            rows.append(_row(f"{NAME} [{db}]: {label} HTML size", kb, "KB", f"< {TARGET_KB}", kb < TARGET_KB))
        rows.append(_row(f"{NAME} [{db}]: {label} time to first byte, p95", round(p95, 1), "ms"))
        rows.append(_row(f"{NAME} [{db}]: {label} SQL queries", queries, "queries"))
    return rows


# --- the runner's side ----------------------------------------------------------------------------


def run(args) -> list[dict]:
    samples = QUICK_SAMPLES if getattr(args, "quick", False) else SAMPLES
    redis_url = getattr(args, "redis_url", None) or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    with tempfile.TemporaryDirectory() as tmp:
        rows = _child(f"sqlite:///{tmp}/bench_trace_page.sqlite3", samples, redis_url)
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL")
    if _is_postgres(server):
        sys.path.insert(0, str(HERE))
        import common

        try:
            url = common.database_ensure(server, PG_DATABASE, fresh=True)  # small: rebuilt every run
        except Exception as exc:  # no server there: say so rather than fail the SQLite figures
            return rows + [_row(f"{NAME} [postgresql]: skipped ({type(exc).__name__})", None, ok=None)]
        rows += _child(url, samples, redis_url)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=SAMPLES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_measure_all(args.samples)))
        return 0
    for row in run(args):
        verdict = {True: "ok", False: "MISSED", None: ""}[row["ok"]]
        print(f"{row['name']:<80} {row['value']!s:>10} {row['unit']:<8} {row['target'] or '':<8} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
