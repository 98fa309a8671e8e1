"""The session list and session page, and scoring a session as a whole."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evaluations.models import ScoreConfig, ScoreEvent, SessionScore
from tests.factories import TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def browser(client, reviewer):
    client.force_login(reviewer)
    return client


def session_traces(project, session_id: str, count: int, *, scored: bool = True) -> list:
    now = timezone.now()
    traces = []
    for index in range(count):
        trace = TraceFactory(project=project, session_id=session_id, name=f"turn-{index}",
                             started_at=now - timedelta(minutes=count - index))  # fmt: skip
        if scored:
            TraceScoreFactory(trace=trace, name="accuracy", value=f"0.{index % 10}")
        traces.append(trace)
    return traces


def test_session_list_shows_the_projects_sessions_with_score_badges(browser, project, other_project):
    session_traces(project, "chat-1", 2)
    session_traces(other_project, "chat-secret", 1)
    SessionScore.objects.create(project=project, session_id="chat-1", name="reliability", value="0.8")
    response = browser.get("/app/sessions/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-session-id="chat-1"' in html and "chat-secret" not in html
    assert "reliability <b>0.8</b>" in html
    assert browser.get("/app/sessions/?has_error=maybe").status_code == 400


def test_session_page_lists_traces_in_time_order_with_their_scores(browser, project):
    traces = session_traces(project, "chat-1", 3)
    TraceFactory(project=project, session_id="other-chat", name="not-this-one")
    html = browser.get("/app/sessions/chat-1/").content.decode()
    assert re.findall(r">(turn-\d)</a>", html) == ["turn-0", "turn-1", "turn-2"]
    assert "not-this-one" not in html
    assert "accuracy <b>0.2</b>" in html
    assert f'href="/app/traces/{traces[0].pk}/?session_id=chat-1"' in html


def test_session_of_another_project_is_404(browser, project, other_project):
    session_traces(other_project, "chat-secret", 1)
    assert browser.get("/app/sessions/chat-secret/").status_code == 404
    assert browser.get("/app/sessions/no-such-session/").status_code == 404
    response = browser.post(
        "/app/sessions/chat-secret/", {"kind": "free:NUMERIC", "name": "a", "value": "1"}
    )
    assert response.status_code == 404
    assert SessionScore.objects.count() == 0


def test_session_ids_with_slashes_and_spaces_have_pages(browser, project):
    session_traces(project, "team/a b", 1)
    html = browser.get("/app/sessions/").content.decode()
    link = re.search(r'href="(/app/sessions/team[^"]+)"', html).group(1)
    assert browser.get(link).status_code == 200


def test_scoring_a_session_creates_then_edits_the_users_annotation(browser, project, reviewer):
    session_traces(project, "chat-1", 1)
    reliable = ScoreConfig.objects.create(project=project, name="reliable", data_type="BOOLEAN")
    response = browser.post("/app/sessions/chat-1/", {"kind": f"config:{reliable.pk}", "value": "false",
                                                            "reason": "looped twice"})  # fmt: skip
    assert response.status_code == 302 and response.url == "/app/sessions/chat-1/#scores"
    score = SessionScore.objects.get()
    assert (score.session_id, score.name, score.value, score.numeric_value) == (
        "chat-1",
        "reliable",
        "false",
        0.0,
    )
    assert (score.source, score.author, score.config, score.reason) == (
        "ANNOTATION",
        reviewer,
        reliable,
        "looped twice",
    )
    html = browser.get("/app/sessions/chat-1/").content.decode()
    assert "Update score" in html and '<input type="radio" name="value" value="false" checked>' in html
    browser.post("/app/sessions/chat-1/", {"kind": f"config:{reliable.pk}", "value": "true",
                                                "reason": "looped twice", "reason_shown": "True"})  # fmt: skip
    score.refresh_from_db()
    assert score.value == "true" and SessionScore.objects.count() == 1
    events = list(ScoreEvent.objects.order_by("id").values_list("target", "session_id", "action"))
    assert events == [("SESSION", "chat-1", "create"), ("SESSION", "chat-1", "update")]
    html = browser.get("/app/sessions/chat-1/").content.decode()
    assert "History (2)" in html and "false → true" in html


def test_session_score_validation_error_is_shown_and_nothing_saved(browser, project):
    session_traces(project, "chat-1", 1)
    response = browser.post(
        "/app/sessions/chat-1/", {"kind": "free:NUMERIC", "name": "x", "value": "1.5"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    value_field = html[html.index('data-type="NUMERIC"') : html.index('for="id_reason"')]
    assert "outside the allowed range" in value_field
    assert SessionScore.objects.count() == 0 and ScoreEvent.objects.count() == 0


def test_session_page_escapes_untrusted_content(browser, project, reviewer):
    TraceFactory(project=project, session_id="chat-1", name=XSS, tags=[XSS])
    browser.post(
        "/app/sessions/chat-1/", {"kind": "free:CATEGORICAL", "name": XSS, "value": XSS, "reason": XSS}
    )
    assert SessionScore.objects.count() == 1
    for url in ["/app/sessions/chat-1/", "/app/sessions/"]:
        html = browser.get(url).content.decode()
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_session_page_runs_a_constant_number_of_queries(browser, project):
    session_traces(project, "small", 5)
    session_traces(project, "large", 50)
    for session_id in ("small", "large"):
        SessionScore.objects.create(project=project, session_id=session_id, name="reliability", value="0.5")

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(url).status_code == 200
        return len(queries)

    assert count("/app/sessions/small/") == count("/app/sessions/large/") <= 12
    few = count("/app/sessions/")
    session_traces(project, "more", 3)
    assert count("/app/sessions/") == few
