"""Bad input gets a 4xx naming the field, never a 500, and nothing is stored."""

import json
import uuid

import pytest

from pandaprobe.traces.models import Span, Trace

from ..errors import error_locs
from .conftest import T0, span_body, trace_body

BAD_TRACE_BODIES = [
    # (body, field the 422 must name)
    pytest.param({"started_at": T0}, "name", id="missing-name"),
    pytest.param({"name": "t"}, "started_at", id="missing-started-at"),
    pytest.param(trace_body(name=""), "name", id="empty-name"),
    pytest.param(trace_body(name="x" * 513), "name", id="long-name"),
    pytest.param(trace_body(name=123), "name", id="name-number"),
    pytest.param(trace_body(status="DONE"), "status", id="trace-status-enum"),
    pytest.param(trace_body(status="completed"), "status", id="trace-status-case"),
    pytest.param(trace_body(trace_id="not-a-uuid"), "trace_id", id="trace-id"),
    pytest.param(trace_body(trace_id=5), "trace_id", id="trace-id-int"),
    pytest.param(trace_body(started_at="yesterday"), "started_at", id="timestamp"),
    pytest.param(trace_body(started_at="2026-13-01T00:00:00Z"), "started_at", id="timestamp-month"),
    pytest.param(trace_body(ended_at=1700000000), "ended_at", id="timestamp-number"),
    pytest.param(trace_body(started_at="0001-01-01T00:00:00+05:00"), "started_at", id="timestamp-range"),
    pytest.param(trace_body(metadata=["a"]), "metadata", id="metadata-list"),
    pytest.param(trace_body(metadata="a"), "metadata", id="metadata-string"),
    pytest.param(trace_body(tags="prod"), "tags", id="tags-string"),
    pytest.param(trace_body(tags=[1]), "tags.0", id="tags-number"),
    pytest.param(trace_body(tags=["x" * 256]), "tags.0", id="tag-long"),
    pytest.param(trace_body(session_id="s" * 256), "session_id", id="session-long"),
    pytest.param(trace_body(user_id={"id": 1}), "user_id", id="user-object"),
    pytest.param(trace_body(session_id="a\u0000b"), "session_id", id="session-nul"),
    pytest.param(trace_body(input={"text": "a\u0000b"}), "input.text", id="json-nul"),
    pytest.param(trace_body(metadata={"k\u0000": 1}), "metadata", id="json-key-nul"),
    pytest.param(trace_body(output=["\ud800"]), "output.0", id="json-surrogate"),
    pytest.param(trace_body(spans={"name": "s"}), "spans", id="spans-object"),
    pytest.param(trace_body(span_body(kind="ROBOT")), "spans.0.kind", id="span-kind-enum"),
    pytest.param(trace_body(span_body(status="FAILED")), "spans.0.status", id="span-status-enum"),
    pytest.param(trace_body(span_body(span_id="xyz")), "spans.0.span_id", id="span-id"),
    pytest.param(trace_body(span_body(parent_span_id="1")), "spans.0.parent_span_id", id="parent-id"),
    pytest.param(trace_body(span_body(started_at=None)), "spans.0.started_at", id="span-started-null"),
    pytest.param(trace_body(span_body(), "oops"), "spans.1", id="span-not-object"),
    pytest.param(trace_body(span_body(cost={"total": "cheap"})), "spans.0.cost.total", id="cost-text"),
    pytest.param(
        json.dumps(trace_body(span_body(cost={"total": 1.0}))).replace("1.0", "1e400"),
        "spans.0.cost.total",
        id="cost-overflows-to-inf",
    ),
    pytest.param(json.dumps(trace_body(input={"x": 1.0})).replace("1.0", "-1e400"), "input.x", id="json-inf"),
    pytest.param(trace_body(span_body(cost={"total": 1e300})), "spans.0.cost.total", id="cost-huge"),
    pytest.param(trace_body(span_body(cost={"total": -1})), "spans.0.cost.total", id="cost-negative"),
    pytest.param(trace_body(span_body(cost=[1])), "spans.0.cost", id="cost-list"),
    pytest.param(
        trace_body(span_body(token_usage={"total_tokens": "many"})),
        "spans.0.token_usage.total_tokens",
        id="tokens-text",
    ),
    pytest.param(
        trace_body(span_body(token_usage={"prompt_tokens": 10**30})),
        "spans.0.token_usage.prompt_tokens",
        id="tokens-huge",
    ),
    pytest.param(
        trace_body(span_body(token_usage={"completion_tokens": 1.5})),
        "spans.0.token_usage.completion_tokens",
        id="tokens-fraction",
    ),
    pytest.param(
        trace_body(span_body(token_usage={"input_tokens": True})),
        "spans.0.token_usage.input_tokens",
        id="tokens-bool",
    ),
    pytest.param(trace_body(span_body(token_usage=[1, 2])), "spans.0.token_usage", id="tokens-list"),
    pytest.param(trace_body(span_body(model_parameters=3)), "spans.0.model_parameters", id="params-number"),
    pytest.param(trace_body(span_body(metadata=None, input=float("nan"))), None, id="nan-literal"),
]


UNKNOWN = "6f1c1d7e-0000-4000-8000-000000000001"  # a fixed id keeps test ids stable under xdist


def _stored() -> tuple[int, int]:
    return Trace.objects.count(), Span.objects.count()


@pytest.mark.parametrize("body, field", BAD_TRACE_BODIES)
def test_bad_trace_body_is_refused_naming_the_field(api, body, field):
    before = _stored()
    raw = body if isinstance(body, str) else json.dumps(body)
    response = api.post("/traces", raw, content_type="application/json")
    if field is None:  # NaN is not JSON: refused by the parser
        assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    else:
        assert field in error_locs(response), response.json()
    assert _stored() == before


@pytest.mark.parametrize(
    "raw, status",
    [
        pytest.param('{"name": "t", "started_at": ', 400, id="truncated"),
        pytest.param("not json", 400, id="text"),
        pytest.param('{"name": "t", "started_at": "' + T0 + '", "input": NaN}', 400, id="nan"),
        pytest.param("[" * 100_000 + "]" * 100_000, 400, id="deep-for-the-parser"),
        pytest.param("1" * 5000, 400, id="int-too-long"),
        pytest.param("[]", 422, id="array"),
        pytest.param("null", 422, id="null"),
        pytest.param('"a string"', 422, id="string"),
    ],
)
def test_malformed_json_is_a_4xx_and_stores_nothing(api, raw, status):
    response = api.post("/traces", raw, content_type="application/json")
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert _stored() == (0, 0)


def test_a_json_array_where_an_object_is_expected_names_the_body(api):
    response = api.post("/traces", [trace_body()], format="json")
    assert error_locs(response) == ["body"]


def test_nesting_deeper_than_the_limit_is_refused_naming_the_field(api):
    deep = "[" * 100 + "]" * 100
    raw = '{"name": "t", "started_at": "' + T0 + '", "metadata": {"a": ' + deep + "}}"
    response = api.post("/traces", raw, content_type="application/json")
    assert error_locs(response)[0].startswith("metadata.a.0.0")
    assert _stored() == (0, 0)


def test_a_form_body_is_unsupported(api):
    response = api.post("/traces", {"name": "t", "started_at": T0})
    assert response.status_code == 415
    assert _stored() == (0, 0)


def test_all_errors_of_a_body_are_listed(api):
    body = trace_body(span_body(kind="X"), status="Y", metadata=1)
    assert set(error_locs(api.post("/traces", body, format="json"))) == {"spans.0.kind", "status", "metadata"}


@pytest.fixture
def trace(api, ingest):
    span = span_body()
    return {"trace_id": ingest(trace_body(span)), "span_id": span["span_id"]}


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({"kind": "ROBOT"}, "kind", id="kind"),
        pytest.param({"status": "DONE"}, "status", id="status"),
        pytest.param({"ended_at": "soon"}, "ended_at", id="ended-at"),
        pytest.param({"metadata": [1]}, "metadata", id="metadata"),
        pytest.param({"cost": {"total": "x"}}, "cost.total", id="cost"),
        pytest.param({"token_usage": {"total_tokens": -1}}, "token_usage.total_tokens", id="tokens"),
        pytest.param({"input": {"a": "\u0000"}}, "input.a", id="nul"),
    ],
)
def test_bad_span_patch_names_the_field_and_changes_nothing(api, trace, body, field):
    before = api.get(f"/traces/{trace['trace_id']}").json()
    response = api.patch(f"/traces/{trace['trace_id']}/spans/{trace['span_id']}", body, format="json")
    assert field in error_locs(response)
    assert api.get(f"/traces/{trace['trace_id']}").json() == before


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({"status": "DONE"}, "status", id="status"),
        pytest.param({"tags": "x"}, "tags", id="tags"),
        pytest.param({"metadata": "x"}, "metadata", id="metadata"),
        pytest.param({"name": ""}, "name", id="name"),
        pytest.param({"ended_at": "x"}, "ended_at", id="ended-at"),
    ],
)
def test_bad_trace_patch_names_the_field_and_changes_nothing(api, trace, body, field):
    before = api.get(f"/traces/{trace['trace_id']}").json()
    response = api.patch(f"/traces/{trace['trace_id']}", body, format="json")
    assert field in error_locs(response)
    assert api.get(f"/traces/{trace['trace_id']}").json() == before


@pytest.mark.parametrize(
    "body, status, field",
    [
        pytest.param({"name": "s", "started_at": T0}, 422, "body", id="object-not-array"),
        pytest.param([], 422, "body", id="empty"),
        pytest.param([span_body() for _ in range(501)], 422, "body", id="501"),
        pytest.param([span_body(kind="ROBOT")], 422, "0.kind", id="kind"),
        pytest.param([span_body(), {"name": "s"}], 422, "1.started_at", id="second"),
    ],
)
def test_bad_spans_body_names_the_field_and_stores_nothing(api, trace, body, status, field):
    response = api.post(f"/traces/{trace['trace_id']}/spans", body, format="json")
    assert response.status_code == status
    assert field in error_locs(response), response.json()
    assert Span.objects.count() == 1


@pytest.mark.parametrize(
    "path, body, field",
    [
        pytest.param("/traces/batch/delete", {}, "trace_ids", id="delete-missing"),
        pytest.param("/traces/batch/delete", {"trace_ids": []}, "trace_ids", id="delete-empty"),
        pytest.param("/traces/batch/delete", {"trace_ids": ["x"]}, "trace_ids.0", id="delete-uuid"),
        pytest.param(
            "/traces/batch/delete",
            {"trace_ids": [str(uuid.uuid4()) for _ in range(501)]},
            "trace_ids",
            id="delete-501",
        ),
        pytest.param("/traces/batch/tags", {"trace_ids": [1]}, "trace_ids.0", id="tags-uuid"),
        pytest.param(
            "/traces/batch/tags", {"trace_ids": [str(uuid.uuid4())], "add_tags": "x"}, "add_tags", id="add"
        ),
        pytest.param(
            "/traces/batch/tags",
            {"trace_ids": [str(uuid.uuid4())], "remove_tags": [None]},
            "remove_tags.0",
            id="remove",
        ),
    ],
)
def test_bad_batch_body_names_the_field_and_changes_nothing(api, trace, path, body, field):
    response = api.post(path, body, format="json")
    assert field in error_locs(response), response.json()
    assert _stored() == (1, 1)


@pytest.mark.parametrize(
    "query, fields",
    [
        ("limit=0", {"limit"}),
        ("limit=201", {"limit"}),
        ("offset=-1", {"offset"}),
        ("limit=abc", {"limit"}),
        ("status=FOO", {"status"}),
        ("sort_by=cost", {"sort_by"}),
        ("sort_order=up", {"sort_order"}),
        ("started_after=yesterday", {"started_after"}),
        ("tags=a%00b", {"tags"}),
        ("name=a%00b", {"name"}),
        ("offset=99999999999999999999999", {"offset"}),
        ("started_after=0001-01-01T00:00:00%2B05:00", {"started_after"}),
        ("started_before=9999-12-31T23:59:59-05:00", {"started_before"}),
        ("limit=0&status=FOO&sort_by=x", {"limit", "status", "sort_by"}),
    ],
)
def test_bad_trace_list_params_are_all_named(api, query, fields):
    response = api.get(f"/traces?{query}")
    assert set(error_locs(response)) == fields


@pytest.mark.parametrize(
    "query, fields",
    [
        ("limit=0", {"limit"}),
        ("has_error=maybe", {"has_error"}),
        ("sort_by=name", {"sort_by"}),
        ("started_before=x", {"started_before"}),
        ("offset=9223372036854775808", {"offset"}),
        ("started_after=0001-01-01T00:00:00%2B05:00", {"started_after"}),
        ("limit=500&sort_order=x&has_error=2", {"limit", "sort_order", "has_error"}),
    ],
)
def test_bad_session_list_params_are_all_named(api, query, fields):
    response = api.get(f"/sessions?{query}")
    assert set(error_locs(response)) == fields


@pytest.mark.parametrize(
    "query, field",
    [("limit=1001", "limit"), ("offset=x", "offset"), ("offset=9223372036854775808", "offset")],
)
def test_bad_session_detail_params_are_named(api, ingest, query, field):
    ingest(trace_body(session_id="s-1"))
    response = api.get(f"/sessions/s-1?{query}")
    assert error_locs(response) == [field]


def _send_to(api, method: str, path: str):
    return getattr(api, method)(path, [span_body()] if path.endswith("/spans") else {}, format="json")


@pytest.mark.parametrize(
    "method, path, name",
    [
        ("get", "/traces/not-a-uuid", "trace_id"),
        ("patch", "/traces/123", "trace_id"),
        ("delete", "/traces/xyz", "trace_id"),
        ("post", "/traces/xyz/spans", "trace_id"),
        ("patch", f"/traces/{UNKNOWN}/spans/not-a-uuid", "span_id"),
        ("patch", "/traces/x/spans/y", "trace_id"),
        ("get", "/sessions/a%00b", "session_id"),
        ("delete", "/sessions/a%00b", "session_id"),
    ],
)
def test_bad_ids_in_the_path_are_422s_naming_them_and_change_nothing(api, ingest, method, path, name):
    ingest(trace_body(span_body(), session_id="a"))
    before = _stored()
    response = _send_to(api, method, path)
    assert response["Content-Type"] == "application/json"
    assert name in error_locs(response) and response.json()["detail"][0]["loc"] == ["path", name]
    assert _stored() == before


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", f"/traces/{UNKNOWN}"),
        ("patch", f"/traces/{UNKNOWN}"),
        ("delete", f"/traces/{UNKNOWN}"),
        ("post", f"/traces/{UNKNOWN}/spans"),
        ("patch", f"/traces/{UNKNOWN}/spans/{UNKNOWN}"),
        ("get", "/sessions/unknown"),
        ("delete", "/sessions/unknown"),
    ],
)
def test_unknown_ids_in_the_path_are_json_404s(api, method, path):
    response = _send_to(api, method, path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


ODD_QUERIES = [
    "limit=99999999999999999999", "offset=9223372036854775807", "limit=1e3", "limit=%20", "name=" + "a" * 5000,
    "tags=" + "&tags=".join("x" * 500), "session_id=%ED%A0%80", "user_id=%F0%9F%90%BC", "sort_by=",
    "status=", "has_error=", "query=%25", "name=%25_", "started_after=2026-02-30", "started_before=now",
    "tags=", "limit=&offset=", "sort_order=DESC", "has_error=True",
]  # fmt: skip


@pytest.mark.parametrize("path", ["/traces", "/sessions", "/sessions/s-1"])
def test_no_odd_query_gets_a_500(api, ingest, path):
    ingest(trace_body(session_id="s-1", tags=["x"]))
    for query in ODD_QUERIES:
        response = api.get(f"{path}?{query}")
        assert response.status_code in (200, 422), (query, response.content)


ODD_VALUES = [
    None, True, 0, -1, 2**63, 10**30, -(10**30), 1e308, -1e308, 1.5, "", " ", "NaN", "Infinity",
    "-inf", "1e400", "\u0000", "\ud83d", "é" * 600, [], {}, [None], {"": None}, [[[[[]]]]],
    {"a": {"b": {"c": [1, {"d": None}]}}}, ["x"] * 50, "2026-02-30T00:00:00Z", "00000000-0000-0000-0000-000000000000",
]  # fmt: skip
FIELDS = [
    "trace_id", "name", "status", "input", "output", "metadata", "started_at", "ended_at", "session_id",
    "user_id", "tags", "environment", "release", "spans",
]  # fmt: skip
SPAN_FIELDS = [
    "span_id", "parent_span_id", "name", "kind", "status", "model", "token_usage", "metadata", "started_at",
    "ended_at", "error", "completion_start_time", "model_parameters", "cost",
]  # fmt: skip


def _odd_bodies():
    for field in FIELDS:
        for value in ODD_VALUES:
            yield trace_body(**{field: value})
    for field in SPAN_FIELDS:
        for value in ODD_VALUES:
            yield trace_body(span_body(**{field: value}))
        yield trace_body(span_body(**{field: {"total": ODD_VALUES[5], "prompt_tokens": "NaN"}}))
    yield from ODD_VALUES


def _send(api, method: str, path: str, body):
    # json.dumps escapes lone surrogates (\ud83d) as a client would; DRF's test renderer cannot.
    return getattr(api, method)(path, json.dumps(body), content_type="application/json")


def test_no_odd_body_gets_a_500(api, ingest):
    """A crude fuzz over every field and a zoo of odd values: every answer is < 500 and whatever
    was accepted reads back."""
    accepted = []
    for body in _odd_bodies():
        response = _send(api, "post", "/traces", body)
        assert response.status_code < 500, (body, response.content)
        if response.status_code == 202:
            accepted.append(response.json()["trace_id"])
    assert accepted  # the zoo holds valid values too
    for trace_id in accepted:
        assert api.get(f"/traces/{trace_id}").status_code == 200
    assert api.get("/traces?limit=200").status_code == 200
    assert api.get("/sessions?limit=200").status_code == 200

    trace_id = accepted[0]
    for field in SPAN_FIELDS:
        for value in ODD_VALUES:
            posted = _send(api, "post", f"/traces/{trace_id}/spans", [span_body(**{field: value})])
            assert posted.status_code < 500, (field, value, posted.content)
    span_id = api.get(f"/traces/{trace_id}").json()["spans"][0]["span_id"]
    for field, value in [(f, v) for f in SPAN_FIELDS for v in ODD_VALUES]:
        patched = _send(api, "patch", f"/traces/{trace_id}/spans/{span_id}", {field: value})
        assert patched.status_code < 500, (field, value, patched.content)
    for field, value in [(f, v) for f in FIELDS for v in ODD_VALUES]:
        patched = _send(api, "patch", f"/traces/{trace_id}", {field: value})
        assert patched.status_code < 500, (field, value, patched.content)
    assert api.get(f"/traces/{trace_id}").status_code == 200
