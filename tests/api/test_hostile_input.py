"""Hostile query strings on every list, export and page: a clear 4xx (JSON on the API), never a 500.

Each request runs in its own savepoint, so on PostgreSQL one failure cannot hide the next."""

import pytest
from django.db import transaction

from ..factories import TraceFactory, TraceScoreFactory

API_PATHS = [
    "/traces", "/sessions", "/sessions/s-1", "/traces/TRACE", "/evaluations/trace-scores",
    "/evaluations/trace-scores/TRACE", "/evaluations/trace-scores/export?format=csv",
    "/evaluations/session-scores", "/evaluations/session-scores/s-1", "/evaluations/score-configs",
]  # fmt: skip
PAGES = [
    "/app/p/PROJECT/traces/", "/app/p/PROJECT/traces/TRACE/", "/app/p/PROJECT/sessions/",
    "/app/p/PROJECT/sessions/s-1/", "/app/p/PROJECT/queues/",
]  # fmt: skip
LONG = "x" * 60_000  # SQLite refuses LIKE patterns over 50,000 bytes
HOSTILE_QUERIES = [
    "limit=1e3", "limit=99999999999999999999", "offset=1e3", "limit=1&limit=x", "limit=x&limit=1",
    "page=99999999999999999999", "page=-1", "page=1e3", f"name={LONG}", f"query={LONG}", f"a={LONG}",
    f"session_id={LONG}", "tags=" + "&tags=".join(["x"] * 500), "name=%ff%fe", "%ff=1", "session_id=%ED%A0%80",
    "status=%00", "environment=%00", "user_id=%00", "has_score=%00", "tags=%00", "format=%00",
    "date_from=0001-01-01T00:00:00%2B01:00", "date_to=9999-12-31T23:59:59-01:00",
    "started_after=0001-01-01T00:00:00%2B01:00", "started_before=9999-12-31T23:59:59-01:00",
    "date_from=2026-01-01T00:00:00%2B99:00", "date_from=99999-01-01", "started_before=" + "9" * 50,
    "trace_id=" + "1" * 40, "eval_run_id=%00", "is_archived=maybe", "has_error=%00", "sort_by=%00",
]  # fmt: skip


def _get(client, path: str, query: str):
    url = path + ("&" if "?" in path else "?") + query
    with transaction.atomic():
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return url, response, body


@pytest.fixture
def trace(project):
    trace = TraceFactory(project=project, session_id="s-1")
    TraceScoreFactory(trace=trace)
    return trace


@pytest.mark.parametrize("path", API_PATHS)
def test_no_hostile_query_is_a_500_on_the_api(api, trace, path):
    for query in HOSTILE_QUERIES:
        url, response, body = _get(api, path.replace("TRACE", str(trace.pk)), query)
        assert response.status_code < 500, (url[:200], body[:300])
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/json", url[:200]


@pytest.mark.parametrize("path", PAGES)
def test_no_hostile_query_is_a_500_on_the_pages(client, admin_user, trace, path):
    client.force_login(admin_user)
    for query in HOSTILE_QUERIES:
        page = path.replace("PROJECT", str(trace.project_id)).replace("TRACE", str(trace.pk))
        url, response, body = _get(client, page, query)
        assert response.status_code < 500, (url[:200], body[:300])


@pytest.mark.parametrize("path", ["sessions/", "sessions/s-1/"])
def test_a_page_number_no_list_can_reach_is_a_400(client, admin_user, trace, path):
    client.force_login(admin_user)
    path = f"/app/p/{trace.project_id}/{path}"
    assert client.get(path, {"page": "99999999999999999999"}).status_code == 400
    assert client.get(path, {"page": "2"}).status_code == 200  # past the end: an empty page, as before


def test_the_explorer_shows_its_last_page_for_a_huge_number(client, admin_user, trace):
    client.force_login(admin_user)
    response = client.get(f"/app/p/{trace.project_id}/traces/", {"page": "99999999999999999999"})
    assert response.status_code == 200 and response.context["page"].number == 1


@pytest.mark.parametrize(
    "path, query, field",
    [
        ("/traces", f"name={LONG}", "name"),
        ("/sessions", f"query={LONG}", "query"),
        ("/evaluations/score-configs", f"name={LONG}", "name"),
    ],
)
def test_a_substring_longer_than_its_column_is_a_422_naming_it(api, path, query, field):
    response = api.get(f"{path}?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
