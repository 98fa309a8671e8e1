"""Schemathesis runs every operation of `/openapi.json` against a live server with all of its checks on,
and any finding fails the test: what the document says is what the server does.

Two projects, each with traces, sessions, errors, scores and a config, and an API key each: the first
makes the requests, so reads find things and writes change them; `object_level_authorization` replays
its reads with the second's key. Runs on the PostgreSQL pass only (skipped on SQLite).

`make test` runs the examples, fuzzing and stateful phases with `FUZZ_MAX_EXAMPLES` (default 15)
examples per operation: about a minute on a 2-core machine. `make fuzz` adds the coverage phase
(every boundary and wrong type of every parameter and field, every undeclared method, wrong content
types: some 2,500 more requests) and many more examples. `FUZZ_SEED` replays a run.

Deliberate settings of the run:
- NUL characters are not generated: the JSON parser refuses them in every string of every body
  (tests/test_unstorable_values.py); the document says so once, not on every string.
- Only the keys authenticate: no generated values for the other schemes' headers and cookie.
- A 422 for input the schema allows is expected of the operations whose 422 may be a rule's
  `{"detail": "..."}` (a value outside its config's range): the document lists them.
- `allow_header_conformance` is off for the two URLs the reference API gives two path templates
  (`/evaluations/trace-scores/{trace_id}` GET and `{score_id}` PATCH/DELETE, and the same for
  session scores): `Allow` lists all three methods of the URL, and schemathesis compares it with one
  template's methods. tests/test_openapi.py checks `Allow` on every URL instead.
- The API-key throttle is off: the run sends hundreds of bad keys from one address on purpose.
"""

import json
import os
import random
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

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing,stateful")
# A hard stop well above the expected time, so that a hung run fails instead of blocking CI.
TIMEOUT_SECONDS = int(os.environ.get("FUZZ_TIMEOUT_SECONDS", "900"))
PROJECTS = ["fuzz", "other"]
SHARED_ROUTES = [
    "/evaluations/trace-scores/{trace_id}", "/evaluations/trace-scores/{score_id}",
    "/evaluations/session-scores/{session_id}", "/evaluations/session-scores/{score_id}",
]  # fmt: skip
# What input the schema allows may get from an operation whose rules JSON Schema cannot state.
RULE_STATUSES = ["2xx", "401", "403", "404", "409", "422", "429"]


def seed_project(name: str, seed: int) -> str:
    """A project with the demo traces (sessions, errors, nulls), a score config, trace and session
    scores; returns a raw API key of it."""
    project = ProjectFactory(name=name)
    demo_seed(project=project, seed=seed)  # the seed makes the trace ids
    ScoreConfig.objects.create(project=project, name="accuracy", min_value=0, max_value=1)
    for trace in Trace.objects.filter(project=project).order_by("started_at")[:5]:
        TraceScoreFactory(trace=trace, name="accuracy", value="0.8", numeric_value=0.8)
    session_id = Trace.objects.filter(project=project, session_id__isnull=False).values_list(
        "session_id", flat=True
    )[0]
    SessionScore.objects.create(project=project, session_id=session_id, name="helpful", value="1")
    return project_services.api_key_create(project=project, name="fuzz").raw_key


def wfc_auth(keys: dict[str, str]) -> dict:
    """Schemathesis' users, in the Web Fuzzing Commons format: each project's key."""
    return {
        "auth": [
            {
                "name": name,
                "fixedHeaders": [
                    {"name": "X-API-Key", "value": key},
                    {"name": "X-Project-Name", "value": name},
                ],
            }
            for name, key in keys.items()
        ]
    }


def rule_operations(document: dict) -> list[str]:
    """Operations whose documented 422 may also be a rule's `{"detail": "..."}`."""
    return [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if "ErrorDetail" in json.dumps(operation.get("responses", {}).get("422", {}))
    ]


def config(document: dict, auth_file: Path) -> str:
    return "\n".join(
        [
            "[generation]",
            "allow-x00 = false",
            "with-security-parameters = false",
            'database = "none"',
            "[cache]",
            "enabled = false",
            "[checks]",
            "enabled = true",
            "[auth.wfc]",
            f"path = {json.dumps(str(auth_file))}",
            f"peers = {json.dumps(PROJECTS)}",
            "[[operations]]",
            f"include-operation-id = {json.dumps(rule_operations(document))}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(RULE_STATUSES)}",
            "[[operations]]",
            f"include-path = {json.dumps(SHARED_ROUTES)}",
            "checks.allow_header_conformance.enabled = false",
        ]
    )


# Inside `make test` the run is a gate: the same cases every time, so a submission's result does not
# depend on the draw. `make fuzz` (FUZZ_PHASES set) draws new ones; FUZZ_SEED replays any run.
GATE_SEED = "20261202"


def schemathesis(
    url: str, keys: dict[str, str], workdir: Path, document: dict
) -> subprocess.CompletedProcess:
    (workdir / "auth.json").write_text(json.dumps(wfc_auth(keys)))
    (workdir / "schemathesis.toml").write_text(config(document, workdir / "auth.json"))
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", "schemathesis.toml", "--no-color",
        "run", f"{url}/openapi.json", "--phases", PHASES, "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
        "--request-timeout", "30", "--report", "json", "--report-json-path", "report.json",
        "--seed", os.environ.get("FUZZ_SEED") or (GATE_SEED if "FUZZ_PHASES" not in os.environ else str(random.getrandbits(64))),
    ]  # fmt: skip
    # Its own directory: schemathesis keeps state there.
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def figures(report: dict) -> str:
    cases = report.get("test_cases", {})
    return (
        f"schemathesis ({PHASES}; {MAX_EXAMPLES} examples): {report.get('operations', {}).get('tested')} "
        f"operations, {cases.get('generated')} cases, {cases.get('unique_failures')} findings "
        f"in {report.get('running_time', 0):.0f} s (FUZZ_SEED={report.get('seed')})"
    )


@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_the_document_says(live_server, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the schemathesis run belongs to the PostgreSQL pass")
    settings.RATELIMIT_ENABLE = False
    keys = {name: seed_project(name, seed) for seed, name in enumerate(PROJECTS)}
    document = json.loads(Client().get("/openapi.json").content)
    # 127.0.0.1, not localhost: each new connection would try ::1 first.
    result = schemathesis(live_server.url.replace("localhost", "127.0.0.1"), keys, tmp_path, document)
    report_file = tmp_path / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    print(figures(report))
    assert result.returncode == 0, f"{figures(report)}\n{result.stdout[-30000:]}\n{result.stderr[-3000:]}"
    assert (
        report["operations"]["tested"]
        == report["operations"]["total"]
        == len([op for item in document["paths"].values() for op in item])
    )
