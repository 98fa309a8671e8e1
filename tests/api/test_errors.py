"""The API's two error shapes, as the reference sends them: a request of the wrong shape is a 422
`HTTPValidationError` (its schema from the reference document), a request a rule refuses is
`{"detail": "..."}`. One handler owns both (pandaprobe/api/errors.py)."""

import json
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from evaluations.models import TraceScore
from pandaprobe import errors as domain
from pandaprobe.api.errors import exception_handler
from pandaprobe.traces.models import Trace

from ..factories import TraceFactory

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "reference-openapi.json").read_text())
# The reference component, its `$ref`s resolved inside the reference document's components.
HTTP_VALIDATION_ERROR = Draft202012Validator(
    {"$ref": "#/components/schemas/HTTPValidationError", "components": REFERENCE["components"]}
)
T0 = "2026-01-01T00:00:00Z"
UNKNOWN = "6f1c1d7e-0000-4000-8000-000000000001"


def _trace_body(**fields) -> dict:
    return {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": T0, **fields}


@pytest.fixture
def trace(project):
    return TraceFactory(project=project)


def _score_body(trace, **fields) -> dict:
    return {"trace_id": str(trace.pk), "name": "accuracy", "value": "0.5", **fields}


# (method, path, body, the first error's loc, its type): one request for each place that validates.
SHAPE_ERRORS = [
    pytest.param(
        "post", "/traces", _trace_body(spans=[{"name": "s", "started_at": T0, "kind": "ROBOT"}]),
        ["body", "spans", 0, "kind"], "literal_error", id="pydantic-body",
    ),
    pytest.param("post", "/traces", [], ["body"], "model_type", id="pydantic-whole-body"),
    pytest.param(
        "post", "/evaluations/trace-scores", {"name": "x", "value": "1"}, ["body", "trace_id"], "required",
        id="serializer-body",
    ),
    pytest.param(
        "post", "/traces/batch/delete", {"trace_ids": ["x"]}, ["body", "trace_ids", 0], "invalid",
        id="serializer-list-index",
    ),
    pytest.param(
        "post", "/traces", _trace_body(input={"messages": [{"text": "a\u0000b"}]}),
        ["body", "input", "messages", 0, "text"], "null_character", id="parser-unstorable",
    ),
    pytest.param("get", "/traces?status=FOO", None, ["query", "status"], "invalid_choice", id="filterset"),
    pytest.param("get", "/traces?limit=0", None, ["query", "limit"], "min_value", id="page-params"),
    pytest.param("get", "/sessions?has_error=maybe", None, ["query", "has_error"], "invalid_choice", id="form"),
    pytest.param(
        "get", "/evaluations/trace-scores?date_from=0001-01-01T00:00:00%2B01:00", None,
        ["query", "date_from"], "datetime_range", id="datetime-out-of-range",
    ),
    pytest.param(
        "get", "/evaluations/trace-scores/export?format=xlsx", None, ["query", "format"], "invalid_choice",
        id="export-format",
    ),
    pytest.param("get", "/traces/not-a-uuid", None, ["path", "trace_id"], "uuid_parsing", id="path"),
    pytest.param(
        "patch", "/evaluations/trace-scores/not-a-uuid", {}, ["path", "score_id"], "uuid_parsing",
        id="path-by-method",
    ),
]  # fmt: skip


@pytest.mark.parametrize("method, path, body, loc, kind", SHAPE_ERRORS)
def test_a_request_of_the_wrong_shape_is_the_references_http_validation_error(
    api, trace, method, path, body, loc, kind
):
    response = getattr(api, method)(path, body, format="json") if body is not None else api.get(path)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    HTTP_VALIDATION_ERROR.validate(payload)
    first = payload["detail"][0]
    assert first["loc"] == loc and first["type"] == kind and first["msg"]
    # Indexes are numbers, names strings: what a generated client expects of `loc`.
    assert [type(part) for part in first["loc"]] == [type(part) for part in loc]
    assert set(payload) == {"detail"}  # the old `{"detail": "Validation error", "errors": [...]}` is gone


def test_every_bad_parameter_is_listed_with_its_location(api):
    response = api.get("/traces?limit=0&status=FOO&sort_by=x")
    HTTP_VALIDATION_ERROR.validate(response.json())
    assert response.status_code == 422
    assert sorted(error["loc"] for error in response.json()["detail"]) == [
        ["query", "limit"], ["query", "sort_by"], ["query", "status"],
    ]  # fmt: skip


def test_every_bad_field_of_a_body_is_listed(api):
    body = _trace_body(status="Y", metadata=1, spans=[{"name": "s", "started_at": T0, "kind": "X"}])
    response = api.post("/traces", body, format="json")
    HTTP_VALIDATION_ERROR.validate(response.json())
    assert sorted(map(str, (error["loc"] for error in response.json()["detail"]))) == sorted(
        map(str, (["body", "status"], ["body", "metadata"], ["body", "spans", 0, "kind"]))
    )
    assert not Trace.objects.exists()


def test_a_value_a_rule_refuses_is_a_detail_string_naming_the_field(api, trace):
    response = api.post("/evaluations/trace-scores", _score_body(trace, value="1.5"), format="json")
    assert response.status_code == 422
    assert response.json() == {"detail": "value: 1.5 is outside the allowed range [0.0, 1.0]"}
    assert not HTTP_VALIDATION_ERROR.is_valid(response.json())  # a client tells the two shapes apart
    assert not TraceScore.objects.exists()


def test_a_rule_about_a_foreign_config_names_it(api, trace):
    response = api.post("/evaluations/trace-scores", _score_body(trace, config_id=UNKNOWN), format="json")
    assert response.status_code == 422
    assert response.json() == {"detail": "config_id: no such score config in this project"}


@pytest.mark.parametrize(
    "error, status",
    [
        (domain.RuleViolation("run has no failed items to retry"), 422),
        (domain.NotFound("Trace not found"), 404),
        (domain.Conflict("a config named 'x' exists"), 409),
        (domain.PermissionDenied(), 403),
    ],
)
def test_domain_errors_are_a_detail_string(error, status):
    response = exception_handler(error, {})
    assert (response.status_code, response.data) == (status, {"detail": error.message})
