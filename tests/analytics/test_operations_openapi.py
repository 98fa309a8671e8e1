"""The operations analytics and `/me` in /openapi.json: the reference's parameters, enums and fields."""

import json
from pathlib import Path

import pytest
from django.test import Client

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "reference-openapi.json").read_text()
)
THEIRS = REFERENCE["components"]["schemas"]
# Fields beyond the reference's, and why: the issue asks for each user's cost; tokens come with it.
EXTRA_FIELDS = {"UserSummary": {"total_tokens", "total_cost"}}


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return json.loads(Client().get("/openapi.json").content)


def parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation.get("parameters", [])}


@pytest.mark.parametrize("path", ["/traces/analytics", "/sessions/analytics", "/traces/users", "/me"])
def test_each_reference_parameter_is_documented_as_required_as_in_the_reference(document, path):
    ours, theirs = parameters(document["paths"][path]["get"]), parameters(REFERENCE["paths"][path]["get"])
    assert set(theirs) <= set(ours)
    for name, parameter in theirs.items():
        assert ours[name].get("required", False) == parameter.get("required", False), name


@pytest.mark.parametrize(
    "path, name, enum",
    [
        ("/traces/analytics", "metric", "AnalyticsMetric"),
        ("/sessions/analytics", "granularity", "AnalyticsGranularity"),
    ],
)
def test_enums_are_the_references(document, path, name, enum):
    assert parameters(document["paths"][path]["get"])[name]["schema"]["enum"] == THEIRS[enum]["enum"]


@pytest.mark.parametrize(
    "name",
    [
        "AnalyticsBucket",
        "TokenCostBucket",
        "TopModel",
        "SessionAnalyticsBucket",
        "UserSummary",
        "UserProfileResponse",
    ],
)
def test_response_shapes_carry_the_references_fields(document, name):
    ours = set(document["components"]["schemas"][name]["properties"])
    assert ours == set(THEIRS[name]["properties"]) | EXTRA_FIELDS.get(name, set())


def test_trace_analytics_answers_one_of_the_three_shapes(document):
    schema = document["paths"]["/traces/analytics"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    item = document["components"]["schemas"][schema["items"]["$ref"].rsplit("/", 1)[1]]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in item["oneOf"]} == {
        "AnalyticsBucket",
        "TokenCostBucket",
        "TopModel",
    }


def test_me_takes_a_bearer_token_alone(document):
    assert document["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "401" in document["paths"]["/me"]["get"]["responses"]
