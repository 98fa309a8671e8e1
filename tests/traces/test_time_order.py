"""A trace or span never ends before it starts: refused in the body (422 naming `ended_at`) and, for
a PATCH or a merge, against the stored other end; nothing is stored."""

from datetime import timedelta

import pytest

from pandaprobe.traces.models import Span, Trace

from ..factories import SpanFactory, TraceFactory
from .conftest import T0, span_body, trace_body

BEFORE_T0 = "2025-12-31T23:59:59Z"


def refused(response, *fields: str) -> bool:
    text = response.content.decode()
    return response.status_code == 422 and all(field in text for field in fields)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (trace_body(ended_at=BEFORE_T0), ["ended_at"]),
        (trace_body(span_body(ended_at=BEFORE_T0)), ["spans", "ended_at"]),
        (trace_body(span_body(), span_body(started_at=T0, ended_at="2026-01-01T00:00:10+01:00")), ["ended_at"]),
    ],
    ids=["trace", "span", "span-offset"],
)
def test_ingestion_refuses_an_end_before_the_start(api, body, fields):
    assert refused(api.post("/traces", body, format="json"), *fields)
    assert not Trace.objects.exists() and not Span.objects.exists()


def test_an_end_equal_to_the_start_is_fine(ingest):
    ingest(trace_body(span_body(ended_at=T0), ended_at=T0))
    assert Trace.objects.get().latency_ms == 0


def test_adding_spans_refuses_an_end_before_the_start(api, ingest):
    trace_id = ingest(trace_body())
    response = api.post(f"/traces/{trace_id}/spans", [span_body(), span_body(ended_at=BEFORE_T0)], format="json")
    assert refused(response, "1", "ended_at")
    assert not Span.objects.exists()


def test_a_patch_is_checked_against_the_stored_start(api, project):
    trace = TraceFactory(project=project)
    span = SpanFactory(trace=trace, ended_at=None)
    early = (trace.started_at - timedelta(seconds=1)).isoformat()

    assert refused(api.patch(f"/traces/{trace.pk}", {"ended_at": early}, format="json"), "ended_at")
    response = api.patch(f"/traces/{trace.pk}/spans/{span.span_id}", {"ended_at": early}, format="json")
    assert refused(response, "ended_at")

    ended_at = trace.ended_at
    trace.refresh_from_db()
    span.refresh_from_db()
    assert trace.ended_at == ended_at and span.ended_at is None


def test_a_redelivery_that_moves_the_start_past_the_stored_end_is_refused(api, ingest):
    trace_id = ingest(trace_body(ended_at="2026-01-01T00:00:10Z"))
    later = trace_body(trace_id=trace_id, started_at="2026-01-01T00:00:20Z")  # no ended_at: the stored one stays
    assert refused(api.post("/traces", later, format="json"), "ended_at")
    assert Trace.objects.get().started_at.isoformat() == "2026-01-01T00:00:00+00:00"
