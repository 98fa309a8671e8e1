"""PATCH of a trace or session score: an empty body changes nothing and writes no event; sending the
current value again is a human confirmation, an edit like any other."""

import pytest

from evaluations.models import ScoreEvent, SessionScore, TraceScore
from tests.factories import TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trace_score(project):
    return TraceScoreFactory(trace=TraceFactory(project=project), source="PROGRAMMATIC", value="0.5", reason="r")


@pytest.fixture
def session_score(project):
    TraceFactory(project=project, session_id="chat-1")
    return SessionScore.objects.create(
        project=project, session_id="chat-1", name="reliability", value="0.5", numeric_value=0.5,
        source="PROGRAMMATIC", reason="r",
    )  # fmt: skip


def url(score) -> str:
    kind = "trace-scores" if isinstance(score, TraceScore) else "session-scores"
    return f"/evaluations/{kind}/{score.pk}"


@pytest.fixture(params=["trace", "session"])
def score(request):
    return request.getfixturevalue(f"{request.param}_score")


@pytest.mark.parametrize("body", [{}, {"value": None}, {"metadata": None}, {"name": "not editable"}])
def test_a_patch_that_asks_for_nothing_changes_nothing(api, score, body):
    before = type(score).objects.values().get(pk=score.pk)

    response = api.patch(url(score), body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["source"] == "PROGRAMMATIC" and response.json()["value"] == "0.5"
    assert response.json()["id"] == str(score.pk)
    assert type(score).objects.values().get(pk=score.pk) == before  # updated_at included
    assert not ScoreEvent.objects.filter(score_id=score.pk).exists()


def test_repeating_the_current_value_is_a_confirmation(api, score):
    response = api.patch(url(score), {"value": "0.5"}, format="json")

    assert response.status_code == 200
    assert response.json()["source"] == "ANNOTATION" and response.json()["value"] == "0.5"
    event = ScoreEvent.objects.get(score_id=score.pk)
    assert (event.action, event.old_value, event.new_value) == ("update", "0.5", "0.5")
    assert (event.old_source, event.new_source) == ("PROGRAMMATIC", "ANNOTATION")


def test_an_empty_patch_is_still_refused_to_who_may_not_edit_the_score(bearer_client, reviewer, project, score):
    response = bearer_client(reviewer, project).patch(url(score), {}, format="json")
    assert response.status_code == 403
    assert not ScoreEvent.objects.filter(score_id=score.pk).exists()


def test_an_empty_patch_of_another_projects_score_is_404(other_api, score):
    assert other_api.patch(url(score), {}, format="json").status_code == 404
