"""GET /evaluations/trace-scores/export: streamed CSV and JSON lines with the list's filters."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..errors import error_locs
from ..factories import TraceFactory, TraceScoreFactory, eval_run

URL = "/evaluations/trace-scores/export"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COLUMNS = [
    "id", "trace_id", "trace_name", "session_id", "user_id", "name", "value", "numeric_value",
    "data_type", "source", "status", "eval_run_id", "author_user_id", "reason", "environment",
    "config_id", "metadata", "created_at", "updated_at",
]  # fmt: skip


def body_of(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    text = body_of(response)
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def jsonl_rows(response) -> list[dict]:
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in body_of(response).splitlines()]


@pytest.fixture
def trace(project):
    return TraceFactory(
        project=project, name="checkout-agent", session_id="sess-1", user_id="u-42", environment="prod"
    )


def test_csv_has_every_column_and_the_trace_beside_each_score(api, trace, admin_user):
    score = TraceScoreFactory(
        trace=trace, value="0.75", reason="=cmd()", metadata={"a": 1}, author=admin_user, created_at=T0
    )
    response = api.get(URL, {"format": "csv"})
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="trace-scores.csv"'
    (row,) = csv_rows(response)
    assert row["id"] == str(score.pk) and row["trace_id"] == str(trace.pk)
    assert (row["trace_name"], row["session_id"], row["user_id"]) == ("checkout-agent", "sess-1", "u-42")
    assert (row["name"], row["value"], row["numeric_value"]) == ("accuracy", "0.75", "0.75")
    assert row["author_user_id"] == str(admin_user.pk) and row["environment"] == "prod"
    assert json.loads(row["metadata"]) == {"a": 1}
    assert row["reason"] == "'=cmd()"  # a spreadsheet must not run it as a formula
    assert row["created_at"] == "2026-03-01T12:00:00Z" and row["eval_run_id"] == "" and row["config_id"] == ""


def test_jsonl_rows(api, trace):
    run = eval_run(trace.project)
    score = TraceScoreFactory(trace=trace, eval_run_id=run, source="AUTOMATED", created_at=T0)
    response = api.get(URL, {"format": "jsonl"})
    assert response["Content-Disposition"] == 'attachment; filename="trace-scores.jsonl"'
    (row,) = jsonl_rows(response)
    assert list(row) == COLUMNS
    assert row["id"] == str(score.pk) and row["eval_run_id"] == str(run) and row["source"] == "AUTOMATED"
    assert (row["trace_name"], row["session_id"], row["user_id"]) == ("checkout-agent", "sess-1", "u-42")
    assert row["metadata"] == {} and row["author_user_id"] is None and row["numeric_value"] == 0.5
    assert row["created_at"] == "2026-03-01T12:00:00Z"


def test_filters_apply_and_rows_are_newest_first(api, trace, project):
    old = TraceScoreFactory(trace=trace, name="accuracy", created_at=T0)
    new = TraceScoreFactory(trace=trace, name="accuracy", created_at=T0 + timedelta(hours=1))
    TraceScoreFactory(trace=trace, name="relevance", created_at=T0)
    TraceScoreFactory(trace=TraceFactory(project=project), name="accuracy", created_at=T0 - timedelta(days=1))
    params = {"format": "jsonl", "name": "accuracy", "trace_id": str(trace.pk)}
    assert [r["id"] for r in jsonl_rows(api.get(URL, params))] == [str(new.pk), str(old.pk)]
    params = {"format": "csv", "date_from": T0.isoformat(), "date_to": (T0 + timedelta(hours=1)).isoformat()}
    assert {r["id"] for r in csv_rows(api.get(URL, params))} == {str(old.pk)} | {
        str(s.pk) for s in trace.scores.filter(name="relevance")
    }


def test_limit_and_offset_do_not_apply(api, trace):
    TraceScoreFactory.create_batch(3, trace=trace)
    assert len(jsonl_rows(api.get(URL, {"format": "jsonl", "limit": 1, "offset": 2}))) == 3


def test_only_the_projects_scores(api, other_api, trace):
    TraceScoreFactory(trace=trace)
    assert jsonl_rows(other_api.get(URL, {"format": "jsonl"})) == []
    assert csv_rows(other_api.get(URL, {"format": "csv"})) == []


def test_empty_csv_has_the_header(api):
    assert body_of(api.get(URL, {"format": "csv"})).strip() == ",".join(COLUMNS)


@pytest.mark.parametrize("params", [{}, {"format": "xlsx"}, {"format": ""}])
def test_bad_format_is_422_naming_format(api, params):
    response = api.get(URL, params)
    assert error_locs(response) == ["format"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source": "X"}, "source"),
        ({"date_to": "soon"}, "date_to"),
        ({"date_from": "0001-01-01T00:00:00+01:00"}, "date_from"),
        ({"date_from": "9999-12-31T23:59:59-01:00"}, "date_from"),
        ({"eval_run_id": "x"}, "eval_run_id"),
        ({"name": "a\x00b"}, "name"),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_bad_filter_is_a_422_before_any_of_the_file_is_sent(api, trace, fmt, params, field):
    for index in range(3):
        TraceScoreFactory(trace=trace, name=f"n{index}")
    response = api.get(URL, {"format": fmt, **params})
    assert not response.streaming  # never a 200 whose file stops short
    assert error_locs(response) == [field]


def test_errors_are_json_whatever_the_client_accepts(api):
    response = api.get(URL, {"format": "nope"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 422 and response["Content-Type"] == "application/json"


def _reads(api, params) -> tuple[int, list[dict]]:
    """SQL statements run to export (savepoints aside: PostgreSQL streams inside a transaction)."""
    with CaptureQueriesContext(connection) as context:
        rows = jsonl_rows(api.get(URL, params))
    statements = [
        q["sql"] for q in context.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    return len(statements), rows


def test_export_queries_do_not_grow_with_rows(api, project):
    for index in range(25):
        TraceScoreFactory(trace=TraceFactory(project=project, name=f"t{index}"))
    few, _ = _reads(api, {"format": "jsonl", "limit": 1, "name": "none"})
    many, rows = _reads(api, {"format": "jsonl"})
    assert few == many <= 2  # the key lookup and one joined SELECT
    assert sorted(r["trace_name"] for r in rows) == sorted(f"t{i}" for i in range(25))
