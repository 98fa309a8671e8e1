"""Where the CPU of one `POST /traces` goes, measured in-process (no HTTP server, no load generator).

    python benchmarks/profile_ingest.py BODY.json API_KEY PROJECT PLACEHOLDER N

with the server's environment (DATABASE_URL, ...). It times N whole requests through Django's WSGI
handler, then each part alone: API-key authentication, validation of the body by the API's
serializer, and the `trace_ingest` service. Python CPU comes from this process, PostgreSQL CPU from
the backend process of its database connection (/proc), so other work on the machine counts in
neither. Prints the rows as JSON; a cProfile of the whole request (CPU clock) goes to
results/ingest/profile.txt for the details.
"""

import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "ingest"


def measure(call: Callable[[], object], repeat: int) -> dict:
    """Per call: wall ms, this process's CPU ms, the PostgreSQL backend's CPU ms, SQL statements."""
    from django.db import connection

    statements = []
    backend = _backend_pid()
    before = (time.perf_counter(), time.process_time(), common.tree_cpu(backend))
    with connection.execute_wrapper(lambda execute, *args: statements.append(1) or execute(*args)):
        for _ in range(repeat):
            call()
    after = (time.perf_counter(), time.process_time(), common.tree_cpu(backend))
    wall, python, postgres = ((end - start) * 1000 / repeat for start, end in zip(before, after, strict=True))
    return {
        "wall": wall,
        "python": python,
        "postgres": postgres if _backend_pid() == backend else None,
        "queries": len(statements) / repeat,
    }


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wsgi_post(app, template: bytes, placeholder: str, key: str, project: str) -> Callable[[], None]:
    """One `POST /traces` through the WSGI handler, with a fresh trace_id each time."""

    def call() -> None:
        body = template.replace(placeholder.encode(), str(uuid.uuid4()).encode(), 1)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/traces",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",  # as a WSGI server sets it; the API-key throttle counts by it
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_API_KEY": key,
            "HTTP_X_PROJECT_NAME": project,
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

    return call


def parts(template: bytes, key: str, project_name: str) -> dict[str, Callable[[], object]]:
    """Each part of the request on its own, called the way the view calls it."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from pandaprobe.api.errors import validated_model
    from pandaprobe.projects.access import ProjectAccess
    from pandaprobe.projects.authentication import ApiKeyAuthentication
    from pandaprobe.projects.models import Project
    from pandaprobe.traces import services
    from pandaprobe.traces.api.schemas import TraceCreate

    body = json.loads(template)
    validated, project = validated_model(TraceCreate, body), Project.objects.get(name=project_name)
    request = RequestFactory().post("/traces", HTTP_X_API_KEY=key, HTTP_X_PROJECT_NAME=project_name)
    return {
        "API key authentication": lambda: ApiKeyAuthentication().authenticate(Request(request)),
        "validation (TraceCreate schema, 10 spans)": lambda: validated_model(TraceCreate, body),
        "trace_ingest service": lambda: services.trace_ingest(
            access=ProjectAccess.system(project), data={**validated, "trace_id": uuid.uuid4()}
        ),
    }


def rows_for(whole: dict, measured: dict[str, dict]) -> list[dict]:
    prefix = f"{NAME} profile:"
    cpu = whole["python"] + (whole["postgres"] or 0.0)
    rows = [
        row(f"{prefix} one request in-process (no HTTP), wall", round(whole["wall"], 2), "ms"),
        row(f"{prefix}   Python CPU", round(whole["python"], 2), "ms"),
        row(f"{prefix}   PostgreSQL CPU ({whole['queries']:g} statements)", _round(whole["postgres"]), "ms"),
        row(
            f"{prefix}   => ceiling on 2 cores, before HTTP and load generator", round(2000 / cpu), "traces/s"
        ),
    ]
    rest = whole["python"]
    for label, timing in measured.items():
        rest -= timing["python"]
        pg = f", PostgreSQL {timing['postgres']:.2f} ms" if timing["queries"] else ""
        rows.append(row(f"{prefix}   Python CPU in {label}{pg}", round(timing["python"], 2), "ms"))
    rows.append(row(f"{prefix}   Python CPU in Django + DRF around them", round(rest, 2), "ms"))
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def write_profile(call: Callable[[], None], repeat: int) -> None:
    profiler = cProfile.Profile(time.process_time)  # CPU clock: waits on PostgreSQL do not count
    profiler.runcall(lambda: [call() for _ in range(repeat)])
    output = io.StringIO()
    stats = pstats.Stats(profiler, stream=output)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    (common.RESULTS / NAME).mkdir(parents=True, exist_ok=True)
    (common.RESULTS / NAME / "profile.txt").write_text(output.getvalue())


def main(body_path: str, key: str, project: str, placeholder: str, repeat: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaprobe.settings")
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    template = Path(body_path).read_bytes()
    request = wsgi_post(WSGIHandler(), template, placeholder, key, project)
    for _ in range(30):  # imports, caches, the database connection
        request()
    whole = measure(request, repeat)
    measured = {label: measure(call, repeat) for label, call in parts(template, key, project).items()}
    print(json.dumps(rows_for(whole, measured)))
    write_profile(request, repeat)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
