"""A score's environment is its trace's current one: the list and export filter on it and show it."""

import csv
import io

import pytest

from evaluations.models import TraceScore

pytestmark = pytest.mark.django_db


@pytest.fixture
def moved_score(api, ingest_trace):
    """A score given while its trace was in staging; the trace then moved to production."""
    trace_id = ingest_trace(environment="staging")
    body = {"trace_id": trace_id, "name": "accuracy", "value": "0.5", "source": "PROGRAMMATIC"}
    score_id = api.post("/evaluations/trace-scores", body, format="json").json()["id"]
    assert api.patch(f"/traces/{trace_id}", {"environment": "production"}, format="json").status_code == 200
    return score_id


@pytest.fixture
def ingest_trace(api):
    def ingest(**fields) -> str:
        body = {"name": "run", "started_at": "2026-01-01T00:00:00Z", **fields}
        response = api.post("/traces", body, format="json")
        assert response.status_code == 202
        return response.json()["trace_id"]

    return ingest


def listed(api, environment: str) -> list[dict]:
    return api.get("/evaluations/trace-scores", {"environment": environment}).json()["items"]


def test_the_filter_finds_the_score_under_its_traces_current_environment(api, moved_score):
    found = listed(api, "production")
    assert [score["id"] for score in found] == [moved_score]
    assert found[0]["environment"] == "production"
    assert listed(api, "staging") == []
    # The column keeps the environment at scoring time; nothing reads it for filters or responses.
    assert TraceScore.objects.get(pk=moved_score).environment == "staging"


def test_every_score_response_shows_the_current_environment(api, moved_score):
    trace_id = TraceScore.objects.get(pk=moved_score).trace_id
    assert api.get(f"/evaluations/trace-scores/{trace_id}").json()[0]["environment"] == "production"
    patched = api.patch(f"/evaluations/trace-scores/{moved_score}", {"reason": "ok"}, format="json")
    assert patched.json()["environment"] == "production"


def test_the_export_filters_and_shows_the_current_environment(api, moved_score):
    def exported(environment: str) -> list[dict]:
        response = api.get("/evaluations/trace-scores/export", {"format": "csv", "environment": environment})
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    (row,) = exported("production")
    assert (row["id"], row["environment"]) == (moved_score, "production")
    assert exported("staging") == []


def test_the_list_reads_the_environment_without_a_query_per_score(api, ingest_trace, django_assert_max_num_queries):
    for _ in range(5):
        trace_id = ingest_trace(environment="prod")
        api.post("/evaluations/trace-scores", {"trace_id": trace_id, "name": "a", "value": "1"}, format="json")
    with django_assert_max_num_queries(6):
        assert len(listed(api, "prod")) == 5
