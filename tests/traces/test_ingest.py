"""POST /traces: stored before the answer, upserted by trace_id, totals kept on the trace."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from pandaprobe.traces.models import Span, Trace

from ..errors import error_locs
from .conftest import T0, span_body, trace_body


def test_ingest_answers_202_and_the_trace_is_readable_at_once(api):
    body = trace_body(
        span_body(name="plan", kind="AGENT"),
        input={"messages": [{"role": "user", "content": "hi"}]},
        session_id="s-1",
        user_id="u-1",
        tags=["prod"],
        environment="production",
        release="1.2.3",
        ended_at="2026-01-01T00:00:02.500Z",
        status="RUNNING",
    )
    response = api.post("/traces", body, format="json")

    assert response.status_code == 202
    assert response.json()["trace_id"] == body["trace_id"]
    assert response.json()["task_id"]
    got = api.get(f"/traces/{body['trace_id']}").json()
    assert got["project_id"] == str(api.project.pk)
    assert (got["name"], got["status"], got["session_id"], got["user_id"]) == (
        "agent-run", "RUNNING", "s-1", "u-1",
    )  # fmt: skip
    assert (got["tags"], got["environment"], got["release"]) == (["prod"], "production", "1.2.3")
    assert got["input"] == body["input"]
    assert [s["name"] for s in got["spans"]] == ["plan"]
    assert got["spans"][0]["kind"] == "AGENT" and got["spans"][0]["trace_id"] == body["trace_id"]
    listed = api.get("/traces").json()["items"][0]
    assert listed["latency_ms"] == 2500.0 and listed["span_count"] == 1


def test_trace_id_is_generated_when_absent(api):
    body = trace_body()
    del body["trace_id"]
    response = api.post("/traces", body, format="json")
    assert response.status_code == 202
    assert Trace.objects.get(pk=response.json()["trace_id"]).project == api.project


def test_defaults_apply_only_when_a_trace_or_span_is_created(api, ingest):
    span = span_body()
    trace_id = ingest(trace_body(span))
    trace = Trace.objects.get(pk=trace_id)
    assert trace.status == "COMPLETED" and trace.metadata == {} and trace.tags == []
    assert Span.objects.get(span_id=span["span_id"]).kind == "OTHER"
    assert Span.objects.get(span_id=span["span_id"]).status == "UNSET"


def test_second_post_without_status_or_kind_keeps_them(api, ingest):
    span = span_body(kind="LLM", status="ERROR", model="gpt-x")
    trace_id = ingest(trace_body(span, status="ERROR"))
    again = {"span_id": span["span_id"], "name": "step", "started_at": T0}
    ingest({"trace_id": trace_id, "name": "agent-run", "started_at": T0, "spans": [again]})

    got = api.get(f"/traces/{trace_id}").json()
    assert got["status"] == "ERROR"
    assert (got["spans"][0]["kind"], got["spans"][0]["status"], got["spans"][0]["model"]) == (
        "LLM", "ERROR", "gpt-x",
    )  # fmt: skip


def test_upsert_overwrites_non_null_fields_and_keeps_the_rest(api, ingest):
    trace_id = ingest(trace_body(session_id="s-1", user_id="u-1", output={"a": 1}))
    ingest({"trace_id": trace_id, "name": "renamed", "started_at": T0, "user_id": "u-2", "session_id": None})
    got = api.get(f"/traces/{trace_id}").json()
    assert (got["name"], got["user_id"], got["session_id"], got["output"]) == (
        "renamed", "u-2", "s-1", {"a": 1},
    )  # fmt: skip


def test_upsert_merges_metadata_and_unions_tags(api, ingest):
    trace_id = ingest(trace_body(metadata={"a": 1, "b": 1}, tags=["x", "y"]))
    ingest(trace_body(trace_id=trace_id, metadata={"b": 2, "c": 3}, tags=["y", "z"]))
    got = api.get(f"/traces/{trace_id}").json()
    assert got["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert got["tags"] == ["x", "y", "z"]


def test_upsert_merges_spans_by_span_id(api, ingest):
    first = span_body(name="llm", metadata={"a": 1}, token_usage={"total_tokens": 5}, output={"v": 1})
    trace_id = ingest(trace_body(first))
    update = {"span_id": first["span_id"], "name": "llm", "started_at": T0, "metadata": {"b": 2}}
    ingest(trace_body(update, span_body(name="tool"), trace_id=trace_id))

    got = api.get(f"/traces/{trace_id}").json()
    spans = {s["name"]: s for s in got["spans"]}
    assert set(spans) == {"llm", "tool"}
    assert spans["llm"]["metadata"] == {"a": 1, "b": 2}
    assert spans["llm"]["output"] == {"v": 1} and spans["llm"]["token_usage"] == {"total_tokens": 5}
    assert Span.objects.filter(trace_id=trace_id).count() == 2


def test_spans_may_arrive_children_first(api, ingest):
    root, child, grandchild = (str(uuid.uuid4()) for _ in range(3))
    trace_id = ingest(
        trace_body(
            span_body(span_id=grandchild, parent_span_id=child, name="c2"),
            span_body(span_id=child, parent_span_id=root, name="c1"),
            span_body(span_id=root, name="root"),
        )
    )
    parents = {s["span_id"]: s["parent_span_id"] for s in api.get(f"/traces/{trace_id}").json()["spans"]}
    assert parents == {root: None, child: root, grandchild: child}


def test_the_last_of_two_spans_with_one_id_in_a_body_wins(api, ingest):
    span_id = str(uuid.uuid4())
    trace_id = ingest(trace_body(span_body(span_id=span_id, name="a"), span_body(span_id=span_id, name="b")))
    assert [s["name"] for s in api.get(f"/traces/{trace_id}").json()["spans"]] == ["b"]


def test_token_and_cost_totals_per_span_and_per_trace(api, ingest):
    trace_id = ingest(
        trace_body(
            span_body(token_usage={"prompt_tokens": 10, "completion_tokens": 5}, cost={"total": 0.25}),
            span_body(
                token_usage={"input_tokens": 3, "output_tokens": 4}, cost={"input": 0.1, "output": 0.2}
            ),
            span_body(token_usage={"total_tokens": 100, "prompt_tokens": 1}, cost=None),
            span_body(token_usage={"details": {"cached": 9}}),
        )
    )
    got = api.get(f"/traces/{trace_id}").json()
    assert got["total_tokens"] == 15 + 7 + 100
    assert got["total_cost"] == pytest.approx(0.55)
    assert sorted(Span.objects.filter(trace_id=trace_id).values_list("total_tokens", flat=True)) == [
        0, 7, 15, 100,
    ]  # fmt: skip
    item = api.get("/traces").json()["items"][0]
    assert (item["span_count"], item["total_tokens"]) == (4, 122)
    assert item["total_cost"] == pytest.approx(0.55)


def test_totals_follow_spans_added_later_and_patched(api, ingest):
    first = span_body(token_usage={"total_tokens": 10}, cost={"total": 1.0})
    trace_id = ingest(trace_body(first))
    added = api.post(
        f"/traces/{trace_id}/spans",
        [span_body(token_usage={"total_tokens": 5}, cost={"total": 0.5})],
        format="json",
    )
    assert added.status_code == 201
    listed = api.get("/traces").json()["items"][0]
    assert (listed["span_count"], listed["total_tokens"], listed["total_cost"]) == (2, 15, 1.5)

    patched = api.patch(
        f"/traces/{trace_id}/spans/{first['span_id']}",
        {"token_usage": {"total_tokens": 40}, "cost": {"total": 2.0}},
        format="json",
    )
    assert patched.status_code == 200
    got = api.get(f"/traces/{trace_id}").json()
    assert (got["total_tokens"], got["total_cost"]) == (45, 2.5)


def test_a_body_of_500_spans_is_accepted(api, ingest):
    trace_id = ingest(trace_body(*(span_body(token_usage={"total_tokens": 1}) for _ in range(500))))
    assert Trace.objects.get(pk=trace_id).span_count == 500
    assert Span.objects.filter(trace_id=trace_id).count() == 500


def test_501_spans_are_refused_naming_spans_and_nothing_is_stored(api):
    body = trace_body(*(span_body() for _ in range(501)))
    response = api.post("/traces", body, format="json")
    assert error_locs(response) == ["spans"]
    assert Trace.objects.count() == 0 and Span.objects.count() == 0


@override_settings(MAX_REQUEST_BODY_BYTES=2048)
def test_an_oversized_body_gets_413_and_nothing_is_stored(api):
    response = api.post("/traces", trace_body(input="x" * 4096), format="json")
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert Trace.objects.count() == 0
    assert api.post("/traces", trace_body(input="x" * 100), format="json").status_code == 202


def test_ingest_uses_bulk_inserts(api):
    """Spans go in with multi-row INSERTs: 200 spans cost a few statements more than 1, not 199.
    (SQLite splits a bulk insert into batches under its bound-variable limit.)"""

    def queries_for(span_count: int) -> int:
        body = trace_body(*(span_body() for _ in range(span_count)))
        with CaptureQueriesContext(connection) as ctx:
            assert api.post("/traces", body, format="json").status_code == 202
        return len(ctx.captured_queries)

    assert queries_for(200) <= queries_for(1) + 4
