import uuid


def test_ingest_then_read_back(api):
    trace_id = str(uuid.uuid4())
    body = {
        "trace_id": trace_id,
        "name": "t",
        "started_at": "2026-01-01T00:00:00Z",
        "spans": [{"name": "s", "started_at": "2026-01-01T00:00:00Z", "token_usage": {"total_tokens": 7}}],
    }
    assert api.post("/traces", body, format="json").status_code == 202
    got = api.get(f"/traces/{trace_id}").json()
    assert got["total_tokens"] == 7 and len(got["spans"]) == 1
