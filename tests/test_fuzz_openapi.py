"""Schemathesis runs every operation of `/openapi.json` against a live server with all of its checks on,
and any finding fails the test: what the document says is what the server does.

The requests carry an API key of a project with traces, sessions, scores and a config, so reads find
things and writes change them. Runs on the PostgreSQL pass only (`make test` with
DATABASE_URL=postgres://...), in about a minute with the default `FUZZ_MAX_EXAMPLES`; `make fuzz` runs
it with many more examples.

Two settings of the run are deliberate:
- NUL characters are not generated: the JSON parser refuses them in every string of every body
  (tests/test_unstorable_values.py), which the document states once rather than on every string.
- `allow_header_conformance` is off for the two URLs the reference API gives two path templates
  (`/evaluations/trace-scores/{trace_id}` GET and `{score_id}` PATCH/DELETE; the same for session
  scores): `Allow` lists all three methods of the URL, and schemathesis compares it with one template's
  methods. tests/test_openapi.py checks `Allow` on those URLs instead.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from evaluations.models import ScoreConfig, SessionScore
from pandaprobe.projects import services as project_services
from pandaprobe.traces.demo import demo_seed
from pandaprobe.traces.models import Trace
from tests.factories import ProjectFactory, TraceScoreFactory

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
# A hard stop far above the expected time, so that a hung run fails instead of blocking CI.
TIMEOUT_SECONDS = int(os.environ.get("FUZZ_TIMEOUT_SECONDS", "1800"))
SHARED_ROUTES = [
    "/evaluations/trace-scores/{trace_id}", "/evaluations/trace-scores/{score_id}",
    "/evaluations/session-scores/{session_id}", "/evaluations/session-scores/{score_id}",
]  # fmt: skip


def seed_project() -> str:
    """A project with the demo traces (sessions, errors, nulls), a score config, trace and session
    scores; returns a raw API key of it."""
    project = ProjectFactory(name="fuzz")
    demo_seed(project=project)
    ScoreConfig.objects.create(project=project, name="accuracy", min_value=0, max_value=1)
    for trace in Trace.objects.filter(project=project).order_by("started_at")[:5]:
        TraceScoreFactory(trace=trace, name="accuracy", value="0.8", numeric_value=0.8)
    session_id = Trace.objects.filter(project=project, session_id__isnull=False).values_list(
        "session_id", flat=True
    )[0]
    SessionScore.objects.create(project=project, session_id=session_id, name="helpful", value="1")
    return project_services.api_key_create(project=project, name="fuzz").raw_key


def rule_operations(document: dict) -> list[str]:
    """Operations whose 422 may be a rule's `{"detail": "..."}`: a request the schema allows can still
    break a rule it cannot state (a value outside its config's range), so 422 is an expected answer."""
    found = []
    for item in document["paths"].values():
        for operation in item.values():
            schema = operation.get("responses", {}).get("422", {}).get("content", {})
            if "ErrorDetail" in json.dumps(schema):
                found.append(operation["operationId"])
    return found


def config(document: dict) -> str:
    positive = '["2xx", "401", "403", "404", "409", "422", "429"]'
    return "\n".join(
        [
            "[generation]",
            "allow-x00 = false",
            "database = \"none\"",
            "[cache]",
            "enabled = false",
            "[[operations]]",
            f"include-operation-id = {json.dumps(rule_operations(document))}",
            f"checks.positive_data_acceptance.expected-statuses = {positive}",
            "[[operations]]",
            f"include-path = {json.dumps(SHARED_ROUTES)}",
            "checks.allow_header_conformance.enabled = false",
        ]
    )


def schemathesis(url: str, raw_key: str, workdir: Path, document: dict) -> subprocess.CompletedProcess:
    (workdir / "schemathesis.toml").write_text(config(document))
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", "schemathesis.toml", "--no-color",
        "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1", "--header", f"X-API-Key: {raw_key}", "--header", "X-Project-Name: fuzz",
        "--report", "json", "--report-json-path", "report.json", "--request-timeout", "30",
        *(["--seed", os.environ["FUZZ_SEED"]] if os.environ.get("FUZZ_SEED") else []),
    ]  # fmt: skip
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def figures(report: dict) -> str:
    cases = report.get("test_cases", {})
    return (
        f"schemathesis: {report.get('operations', {}).get('tested')} operations, "
        f"{cases.get('generated')} cases, {cases.get('unique_failures')} findings "
        f"in {report.get('running_time', 0):.0f} s (seed {report.get('seed')})"
    )


@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_the_document_says(live_server, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the fuzz run belongs to the PostgreSQL pass")
    # Hundreds of deliberately bad credentials come from one address: the throttle would answer them.
    settings.RATELIMIT_ENABLE = False
    raw_key = seed_project()
    document = json.loads(Client().get("/openapi.json").content)
    result = schemathesis(live_server.url, raw_key, tmp_path, document)
    report_file = tmp_path / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    print(figures(report))
    assert result.returncode == 0, f"{figures(report)}\n{result.stdout[-30000:]}\n{result.stderr[-3000:]}"
    assert report["operations"]["tested"] == report["operations"]["total"] > 0
