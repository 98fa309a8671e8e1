"""The OpenAPI document matches the reference API for what is implemented, and /docs runs offline."""

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve
from rest_framework.views import APIView

REPO = Path(__file__).resolve().parents[1]
# A copy of the published reference document (shared/spec/reference-openapi.json), kept with the tests
# so that a lone clone can run them.
REFERENCE = json.loads((REPO / "tests" / "fixtures" / "reference-openapi.json").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}
# Routes of this part of the service, which must match the reference exactly.
FOUNDATION = ("/health", "/traces", "/sessions")


def normalized(path: str) -> str:
    """`/traces/{trace_id}/spans/{span_id}` -> `/traces/{}/spans/{}`: parameter names may differ."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def methods_by_path(document: dict) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for path, operations in document["paths"].items():
        merged.setdefault(normalized(path), set()).update(set(operations) & METHODS)
    return merged


def routed_methods(reference_path: str) -> set[str]:
    """The methods our URLconf serves for this reference path with a DRF view of that very shape
    (so that `/sessions/analytics` caught by `/sessions/{session_id}` does not count)."""
    sample = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), reference_path)
    try:
        match = resolve(sample)
    except Resolver404:
        return set()
    view_class = getattr(match.func, "cls", None)
    route = "/" + re.sub(r"<[^>]+>", "{}", match.route)
    if view_class is None or not issubclass(view_class, APIView) or route != normalized(reference_path):
        return set()
    actions = getattr(match.func, "actions", None)  # a viewset maps methods to actions
    return set(actions) if actions else {m for m in METHODS if hasattr(view_class, m)}


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return json.loads(response.content)


def test_the_document_is_openapi_3(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "PandaProbe Eval"


def test_every_implemented_reference_path_is_documented_with_the_reference_methods(document):
    ours, reference = methods_by_path(document), methods_by_path(REFERENCE)
    checked = set()
    for path in REFERENCE["paths"]:
        routed = routed_methods(path)
        if not routed:
            continue
        key = normalized(path)
        checked.add(key)
        assert key in ours, f"{path} is routed but missing from /openapi.json"
        if path.startswith(FOUNDATION):
            assert ours[key] == reference[key], path
        else:  # routes other parts are still building: what they serve of the reference is documented
            assert reference[key] & routed <= ours[key], path
    foundation = {"/traces", "/traces/{}", "/traces/{}/spans", "/traces/{}/spans/{}", "/traces/batch/delete",
                  "/traces/batch/tags", "/sessions", "/sessions/{}", "/health"}  # fmt: skip
    assert foundation <= checked


def test_trace_operations_use_the_reference_status_codes(document):
    expected = {
        ("/traces", "post"): "202",
        ("/traces", "get"): "200",
        ("/traces/{trace_id}", "get"): "200",
        ("/traces/{trace_id}", "patch"): "200",
        ("/traces/{trace_id}", "delete"): "204",
        ("/traces/{trace_id}/spans", "post"): "201",
        ("/traces/{trace_id}/spans/{span_id}", "patch"): "200",
        ("/traces/batch/delete", "post"): "200",
        ("/traces/batch/tags", "post"): "200",
        ("/sessions", "get"): "200",
        ("/sessions/{session_id}", "get"): "200",
        ("/sessions/{session_id}", "delete"): "200",
    }
    for (path, method), code in expected.items():
        assert code in document["paths"][path][method]["responses"], (path, method)


def test_schemas_carry_the_reference_enum_names_and_fields(document):
    schemas = document["components"]["schemas"]
    for name in ("TraceStatus", "SpanKind", "SpanStatusCode"):
        assert sorted(schemas[name]["enum"]) == sorted(REFERENCE["components"]["schemas"][name]["enum"])
    pairs = {
        "TraceListItem": "TraceListItem",
        "TraceResponse": "TraceResponse",
        "SpanResponse": "SpanResponse",
        "SessionSummary": "SessionSummary",
        "SessionDetail": "SessionDetail",
    }
    for ours, theirs in pairs.items():
        component = schemas[ours]
        assert set(component["properties"]) == set(
            REFERENCE["components"]["schemas"][theirs]["properties"]
        ), ours


def test_every_operation_declares_the_three_ways_in(document):
    for path, operations in document["paths"].items():
        if not path.startswith(("/traces", "/sessions")):
            continue
        for operation in operations.values():
            assert {"ApiKey": [], "ProjectName": []} in operation["security"]
            assert {"HTTPBearer": [], "ProjectID": []} in operation["security"]


def test_schema_generation_has_no_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_docs_page_loads_only_local_assets(client, db):
    response = client.get("/docs")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(not re.match(r"(https?:)?//", url) for url in assets), assets
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        b"".join(asset.streaming_content) if asset.streaming else asset.content


# The document tells the truth -----------------------------------------------------------------------

AUTH_ERRORS = {"401", "403", "429"}
BODY_ERRORS = {"400", "413", "415", "422"}


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def schema_of(document: dict, name: str) -> dict:
    """A component as a standalone JSON Schema whose `$ref`s resolve inside the document."""
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def assert_valid(document: dict, name: str, instance) -> None:
    from jsonschema import Draft202012Validator

    errors = [e.message for e in Draft202012Validator(schema_of(document, name)).iter_errors(instance)]
    assert not errors, (name, errors[:5])


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_nullable_fields_are_any_of_with_null(document):
    for node in walk(document):
        assert not (isinstance(node.get("type"), list) and "null" in node["type"]), node
        for alternatives in (node.get("oneOf"), node.get("anyOf")):
            if isinstance(alternatives, list) and {"type": "null"} in alternatives:
                assert "oneOf" not in node and {} not in alternatives, node


def test_a_trace_with_null_input_and_a_create_event_fit_their_own_schemas(api, project, document):
    from tests.factories import SpanFactory, TraceFactory

    trace = TraceFactory(project=project, input=None, output=None, session_id=None)
    SpanFactory(trace=trace, input=None, token_usage=None, cost={"input": 0.5})
    trace_body = api.get(f"/traces/{trace.trace_id}").json()
    assert trace_body["input"] is None and trace_body["spans"][0]["input"] is None
    assert_valid(document, "TraceResponse", trace_body)
    score = api.post(
        "/evaluations/trace-scores", {"trace_id": str(trace.trace_id), "name": "q", "value": "1"}, format="json"
    ).json()
    history = api.get(f"/evaluations/trace-scores/{score['id']}/history").json()
    assert history[0]["action"] == "create" and history[0]["old_metadata"] is None
    for event in history:
        assert_valid(document, "ScoreEvent", event)
    assert_valid(document, "PaginatedTraceListItem", api.get("/traces").json())


def test_response_shapes_require_every_field_they_always_send(document):
    schemas = document["components"]["schemas"]
    for name in ("TraceResponse", "SpanResponse", "TraceScoreResponse", "ScoreEvent", "SessionDetail"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name


def test_validation_errors_are_the_reference_components(document):
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        assert schemas[name] == REFERENCE["components"]["schemas"][name], name
    assert schemas["ErrorDetail"]["required"] == ["detail"]


def test_every_operation_documents_its_error_responses(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        if path == "/health":
            assert set(responses) == {"200"}, label
            continue
        assert AUTH_ERRORS <= set(responses), label
        assert responses["429"]["headers"]["Retry-After"]["required"] is True, label
        if "{" in path:
            assert "404" in responses, label
        if "requestBody" in operation:
            assert BODY_ERRORS <= set(responses), label
        for status in set(responses) - {"200", "201", "202", "204"}:
            (body,) = responses[status]["content"].values()
            assert body["schema"], label
        if "parameters" in operation or "requestBody" in operation:
            unprocessable = json.dumps(responses["422"]["content"]["application/json"]["schema"])
            assert "HTTPValidationError" in unprocessable, label
        else:  # nothing to validate (GET /evaluations/trace-metrics): no 422, as in the reference
            assert "422" not in responses, label
    conflicts = {op["operationId"] for _, _, op in operations(document) if "409" in op["responses"]}
    assert {"ingest_trace", "create_score_config", "update_score_config"} <= conflicts


def test_a_rule_error_is_documented_beside_the_validation_error(document):
    schema = document["paths"]["/evaluations/trace-scores"]["post"]["responses"]["422"]["content"]
    alternatives = schema["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/ErrorDetail"} in alternatives
    listed = document["paths"]["/traces"]["get"]["responses"]["422"]["content"]["application/json"]
    assert listed["schema"] == {"$ref": "#/components/schemas/HTTPValidationError"}


def parameter(document: dict, path: str, method: str, name: str) -> dict:
    found = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    assert len(found) == 1, (path, method, name)
    return found[0]


def test_bounds_are_schema_constraints(document):
    from pandaprobe.api.pagination import MAX_OFFSET

    for path in ("/traces", "/sessions", "/evaluations/trace-scores", "/evaluations/session-scores",
                 "/evaluations/score-configs"):  # fmt: skip
        limit, offset = (parameter(document, path, "get", name)["schema"] for name in ("limit", "offset"))
        assert limit == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, path
        assert offset == {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, path
    limit = parameter(document, "/sessions/{session_id}", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 200)
    session_id = parameter(document, "/sessions/{session_id}", "get", "session_id")["schema"]
    assert (session_id["minLength"], session_id["maxLength"]) == (1, 255)
    assert parameter(document, "/traces", "get", "status")["schema"]["enum"] == [
        "PENDING", "RUNNING", "COMPLETED", "ERROR"
    ]  # fmt: skip
    assert parameter(document, "/traces", "get", "started_after")["schema"]["format"] == "date-time"
    assert parameter(document, "/evaluations/trace-scores", "get", "trace_id")["schema"]["format"] == "uuid"
    export_format = parameter(document, "/evaluations/trace-scores/export", "get", "format")
    assert export_format["required"] is True and export_format["schema"]["enum"] == ["csv", "jsonl"]
    create = document["components"]["schemas"]["CreateTraceScoreRequest"]
    assert create["properties"]["name"]["minLength"] == 1 and create["properties"]["name"]["maxLength"] == 255
    assert set(create["required"]) == {"name", "value", "trace_id"}


@pytest.mark.parametrize("kind", ["trace", "session"])
def test_score_edits_take_a_score_id_and_reads_the_scored_thing(document, kind):
    reads, edits = (document["paths"][f"/evaluations/{kind}-scores/{{{name}}}"] for name in (f"{kind}_id", "score_id"))
    assert set(reads) == {"get"} and set(edits) == {"patch", "delete"}
    for method in ("patch", "delete"):
        assert parameter(document, f"/evaluations/{kind}-scores/{{score_id}}", method, "score_id")["schema"] == {
            "type": "string", "format": "uuid"
        }  # fmt: skip


UUID_SEGMENT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def path_formats(document: dict, path: str) -> dict[str, str | None]:
    return {
        p["name"]: p["schema"].get("format")
        for operation in document["paths"][path].values()
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    }


def sample_url(document: dict, path: str) -> str:
    """The path with a value for each parameter: a UUID where the document says uuid, else a word."""
    formats = path_formats(document, path)
    return re.sub(r"\{([^}]+)\}", lambda m: str(uuid.uuid4()) if formats[m.group(1)] == "uuid" else "a-word", path)


def documented_methods(document: dict, url: str) -> set[str]:
    """Every method that some path template of the document routes this URL to."""
    methods = set()
    for path, item in document["paths"].items():
        formats = path_formats(document, path)
        segments = list(zip(path.split("/"), url.split("/"), strict=False))
        if len(path.split("/")) != len(url.split("/")):
            continue
        if all(
            template == segment
            or (template.startswith("{") and (formats[template[1:-1]] != "uuid" or UUID_SEGMENT.fullmatch(segment)))
            for template, segment in segments
        ):
            methods |= {method.upper() for method in item if method in METHODS}
    return methods


def test_options_and_allow_list_exactly_the_methods_of_each_url(api, document):
    for path in document["paths"]:
        url = sample_url(document, path)
        expected = documented_methods(document, url)
        expected |= {"HEAD"} if "GET" in expected else set()
        response = api.options(url)
        assert response.status_code == 200, url
        assert set(response["Allow"].split(", ")) == expected | {"OPTIONS"}, url


def test_a_shared_url_lists_all_its_methods_on_every_answer(api, project):
    from tests.factories import TraceFactory, TraceScoreFactory

    score = TraceScoreFactory(trace=TraceFactory(project=project))
    url = f"/evaluations/trace-scores/{score.pk}"
    all_methods = "GET, PATCH, DELETE, HEAD, OPTIONS"
    assert api.options(url)["Allow"] == all_methods
    refused = api.put(url, {}, format="json")
    assert refused.status_code == 405 and refused["Allow"] == all_methods
    edited = api.patch(url, {"value": "0.9"}, format="json")
    assert edited.status_code == 200 and edited["Allow"] == all_methods
    session_url = "/evaluations/session-scores/not-a-score-id"
    assert api.options(session_url)["Allow"] == "GET, HEAD, OPTIONS"
    refused = api.delete(session_url)
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD, OPTIONS"
    assert api.options(f"/evaluations/session-scores/{uuid.uuid4()}")["Allow"] == all_methods
