"""Request bodies for the trace API, built the way the SDK sends them."""

import uuid

import pytest

T0 = "2026-01-01T00:00:00Z"


def span_body(**fields) -> dict:
    return {"span_id": str(uuid.uuid4()), "name": "step", "started_at": T0, **fields}


def trace_body(*spans: dict, **fields) -> dict:
    body = {"trace_id": str(uuid.uuid4()), "name": "agent-run", "started_at": T0, **fields}
    if spans:
        body["spans"] = list(spans)
    return body


@pytest.fixture
def ingest(api):
    """`ingest(body)`: POST /traces as the project's client; asserts 202 and returns the trace id."""

    def post(body: dict, client=None) -> str:
        response = (client or api).post("/traces", body, format="json")
        assert response.status_code == 202, response.content
        return response.json()["trace_id"]

    return post
