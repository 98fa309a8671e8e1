"""Any JSON body, on any endpoint: a value PostgreSQL cannot store (NUL, lone surrogate) or the API
cannot render back (non-finite numbers) is a 422 naming its path, never a 500, and nothing is stored."""

import json

import pytest

from evaluations.models import ScoreConfig, SessionScore, TraceScore

from .errors import error_locs
from .factories import TraceFactory

NUL, SURROGATE = "x\u0000y", "\ud800"


@pytest.fixture
def trace(project):
    return TraceFactory(project=project, session_id="s1")


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/evaluations/trace-scores", {"metadata": {"a": NUL}}, "metadata.a"),
        ("/evaluations/trace-scores", {"metadata": {"k\u0000": 1}}, "metadata"),
        ("/evaluations/trace-scores", {"metadata": {"a": [SURROGATE]}}, "metadata.a.0"),
        ("/evaluations/trace-scores", {"reason": NUL}, "reason"),
        ("/evaluations/session-scores", {"session_id": "s1", "metadata": {"a": NUL}}, "metadata.a"),
        ("/evaluations/score-configs", {"categories": [NUL]}, "categories.0"),
    ],
)
def test_unstorable_values_are_refused_naming_the_path(api, trace, path, body, field):
    base = {"trace_id": str(trace.pk), "name": "q", "value": "0.5", "data_type": "CATEGORICAL"}
    if path.endswith("score-configs"):
        base = {"name": "c", "data_type": "CATEGORICAL"}
    # json.dumps escapes the surrogate as `\ud800`, as a real client sends it
    response = api.post(path, json.dumps({**base, **body}), content_type="application/json")
    assert field in error_locs(response)
    assert not TraceScore.objects.exists() and not SessionScore.objects.exists()
    assert not ScoreConfig.objects.exists()


def test_a_non_finite_number_anywhere_is_refused(api, trace):
    raw = '{"trace_id": "TRACE", "name": "q", "value": "0.5", "metadata": {"n": 1e400}}'.replace(
        "TRACE", str(trace.pk)
    )
    response = api.post("/evaluations/trace-scores", raw, content_type="application/json")
    assert error_locs(response) == ["metadata.n"]
