"""The session list and session page, and scoring a session as a whole."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evaluations.models import ScoreConfig, ScoreEvent, SessionScore
from evaluations.views.pages import SESSION_TRACES_PER_PAGE, SPAN_LINKS_PER_TRACE
from tests.factories import SpanFactory, TraceFactory, TraceScoreFactory

from .queue_factories import signed_in

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def browser(reviewer, project):
    # Signed in with `project` current: its pages' first visit has no session to update.
    return signed_in(reviewer, project)


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
    response = browser.get(f"/app/p/{project.pk}/sessions/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-session-id="chat-1"' in html and "chat-secret" not in html
    assert "reliability <b>0.8</b>" in html
    assert browser.get(f"/app/p/{project.pk}/sessions/?has_error=maybe").status_code == 400


def test_session_page_lists_traces_in_time_order_with_their_scores(browser, project):
    traces = session_traces(project, "chat-1", 3)
    TraceFactory(project=project, session_id="other-chat", name="not-this-one")
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    assert re.findall(r">(turn-\d)</a>", html) == ["turn-0", "turn-1", "turn-2"]
    assert "not-this-one" not in html
    assert "accuracy <b>0.2</b>" in html
    assert f'href="/app/p/{project.pk}/traces/{traces[0].pk}/?session_id=chat-1"' in html


def test_session_of_another_project_is_404(browser, project, other_project):
    session_traces(other_project, "chat-secret", 1)
    assert browser.get(f"/app/p/{project.pk}/sessions/chat-secret/").status_code == 404
    assert browser.get(f"/app/p/{project.pk}/sessions/no-such-session/").status_code == 404
    response = browser.post(
        f"/app/p/{project.pk}/sessions/chat-secret/", {"kind": "free:NUMERIC", "name": "a", "value": "1"}
    )
    assert response.status_code == 404
    assert SessionScore.objects.count() == 0


def test_session_ids_with_slashes_and_spaces_have_pages(browser, project):
    session_traces(project, "team/a b", 1)
    html = browser.get(f"/app/p/{project.pk}/sessions/").content.decode()
    link = re.search(rf'href="(/app/p/{project.pk}/sessions/team[^"]+)"', html).group(1)
    assert browser.get(link).status_code == 200


def test_scoring_a_session_creates_then_edits_the_users_annotation(browser, project, reviewer):
    session_traces(project, "chat-1", 1)
    reliable = ScoreConfig.objects.create(project=project, name="reliable", data_type="BOOLEAN")
    response = browser.post(f"/app/p/{project.pk}/sessions/chat-1/", {"kind": f"config:{reliable.pk}", "value": "false",
                                                            "reason": "looped twice"})  # fmt: skip
    assert response.status_code == 302 and response.url == f"/app/p/{project.pk}/sessions/chat-1/#scores"
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
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    assert "Update score" in html and '<input type="radio" name="value" value="false" checked>' in html
    browser.post(f"/app/p/{project.pk}/sessions/chat-1/", {"kind": f"config:{reliable.pk}", "value": "true",
                                                "reason": "looped twice", "reason_shown": "True"})  # fmt: skip
    score.refresh_from_db()
    assert score.value == "true" and SessionScore.objects.count() == 1
    events = list(ScoreEvent.objects.order_by("id").values_list("target", "session_id", "action"))
    assert events == [("SESSION", "chat-1", "create"), ("SESSION", "chat-1", "update")]
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    assert "History (2)" in html and "false → true" in html


def test_session_score_validation_error_is_shown_and_nothing_saved(browser, project):
    session_traces(project, "chat-1", 1)
    response = browser.post(
        f"/app/p/{project.pk}/sessions/chat-1/", {"kind": "free:NUMERIC", "name": "x", "value": "1.5"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    value_field = html[html.index('data-type="NUMERIC"') : html.index('for="id_reason"')]
    assert "outside the allowed range" in value_field
    assert SessionScore.objects.count() == 0 and ScoreEvent.objects.count() == 0


def test_session_page_escapes_untrusted_content(browser, project, reviewer):
    TraceFactory(project=project, session_id="chat-1", name=XSS, tags=[XSS])
    browser.post(
        f"/app/p/{project.pk}/sessions/chat-1/",
        {"kind": "free:CATEGORICAL", "name": XSS, "value": XSS, "reason": XSS},
    )
    assert SessionScore.objects.count() == 1
    for url in [f"/app/p/{project.pk}/sessions/chat-1/", f"/app/p/{project.pk}/sessions/"]:
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

    assert (
        count(f"/app/p/{project.pk}/sessions/small/?view=table")
        == count(f"/app/p/{project.pk}/sessions/large/?view=table")
        <= 12
    )
    few = count(f"/app/p/{project.pk}/sessions/")
    session_traces(project, "more", 3)
    assert count(f"/app/p/{project.pk}/sessions/") == few


# --- the conversation view (issue 12, item 6) ------------------------------------------------------


def chat(*messages: tuple[str, str]) -> dict:
    return {"messages": [{"role": role, "content": content} for role, content in messages]}


def turns(html: str) -> list[str]:
    """The page's turns, one chunk of HTML each, in page order."""
    return html.split('<li class="turn"')[1:]


def test_session_page_shows_each_trace_as_a_turn_in_time_order(browser, project):
    now = timezone.now()
    # Created out of order: the page orders by started_at. Each input repeats the history.
    TraceFactory(project=project, session_id="chat-1", started_at=now, input=chat(
        ("system", "be kind"), ("user", "Q-zero"), ("assistant", "A-zero"), ("user", "Q-one")),
        output=chat(("assistant", "A-one")))  # fmt: skip
    TraceFactory(project=project, session_id="chat-1", started_at=now - timedelta(minutes=1),
                 input=chat(("system", "be kind"), ("user", "Q-zero")), output=chat(("assistant", "A-zero")))  # fmt: skip
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    first, second = turns(html)
    assert first.index("Q-zero") < first.index("A-zero") and "Q-one" not in first
    assert second.index("Q-one") < second.index("A-one")
    # The history the second input repeats is not shown again, nor the system prompt.
    assert "Q-zero" not in second and "A-zero" not in second and "be kind" not in html
    assert 'class="message role-user"' in first and 'class="message role-assistant"' in first


def test_turns_show_plain_strings_and_other_json_compactly(browser, project):
    now = timezone.now()
    TraceFactory(project=project, session_id="chat-1", input="What is the plan?", started_at=now,
                 output={"answer": 42, "sources": ["wiki"]})  # fmt: skip
    TraceFactory(project=project, session_id="chat-1", input=None, started_at=now + timedelta(seconds=1),
                 output={"role": "assistant", "content": "bare"})  # fmt: skip
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    first, second = turns(html)
    assert '<div class="content">What is the plan?</div>' in first
    assert "{&quot;answer&quot;:42,&quot;sources&quot;:[&quot;wiki&quot;]}" in first
    assert "No user message" in second and '<div class="content">bare</div>' in second


def test_tool_calls_in_a_turn_show_name_and_arguments(browser, project):
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    output = {"messages": [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21C"},
        {"role": "assistant", "content": "It is sunny in Paris."},
    ]}  # fmt: skip
    TraceFactory(project=project, session_id="chat-1", input=chat(("user", "Weather?")), output=output)
    (turn,) = turns(browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode())
    tool_call = turn[turn.index('<li class="tool-call"') :]
    assert '<span class="mono">get_weather</span>' in tool_call
    assert '<pre class="arguments">{&quot;city&quot;: &quot;Paris&quot;}</pre>' in tool_call
    assert turn.index("get_weather") < turn.index("sunny, 21C") < turn.index("It is sunny in Paris.")


def test_messages_and_tool_calls_come_out_escaped(browser, project):
    call = {"function": {"name": XSS, "arguments": XSS}}
    TraceFactory(project=project, session_id="chat-1", input=chat(("user", XSS)), output={"messages": [
        {"role": "assistant", "content": XSS, "tool_calls": [call]}]})  # fmt: skip
    TraceFactory(project=project, session_id="chat-1", input=XSS, output={XSS: XSS})
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5


def test_long_messages_start_folded(browser, project):
    long_answer = "word " * 400
    TraceFactory(project=project, session_id="chat-1", input=chat(("user", "short question")),
                 output=chat(("assistant", long_answer)))  # fmt: skip
    (turn,) = turns(browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode())
    folded = turn[turn.index('<details class="long-message">') :]
    assert long_answer.strip() in folded and "2000 characters" in folded
    assert "short question" not in folded  # short messages stay open


def test_each_turn_carries_its_own_trace_scores_status_and_link(browser, project):
    traces = session_traces(project, "chat-1", 3)
    traces[1].status = "ERROR"
    traces[1].save()
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    for index, (trace, turn) in enumerate(zip(traces, turns(html), strict=True)):
        assert f'data-trace-id="{trace.pk}"' in turn
        assert f"accuracy <b>0.{index}</b>" in turn and turn.count("accuracy <b>") == 1
        assert f'href="/app/p/{project.pk}/traces/{trace.pk}/?session_id=chat-1">turn-{index}</a>' in turn
    assert 'status-ERROR">error</span>' in turns(html)[1]


def test_span_links_lead_to_anchors_on_the_trace_page(browser, project):
    trace = TraceFactory(project=project, session_id="chat-1", span_count=SPAN_LINKS_PER_TRACE + 2)
    spans = [SpanFactory(trace=trace, started_at=trace.started_at + timedelta(seconds=i))
             for i in range(SPAN_LINKS_PER_TRACE + 2)]  # fmt: skip
    lone = TraceFactory(project=project, session_id="chat-1", span_count=1)
    SpanFactory(trace=lone)
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/").content.decode()
    links = re.findall(r'href="([^"#]+)#span-([0-9a-f-]+)"', html)
    expected = [str(span.span_id) for span in spans[:SPAN_LINKS_PER_TRACE]]
    assert [span_id for url, span_id in links if str(trace.pk) in url] == expected
    assert len(links) == SPAN_LINKS_PER_TRACE + 1
    assert f"all {SPAN_LINKS_PER_TRACE + 2} spans" in html
    for url, span_id in links:
        page = browser.get(url)
        assert page.status_code == 200 and f'id="span-{span_id}"' in page.content.decode()


def test_the_table_view_is_kept_and_an_unknown_view_is_a_400_naming_it(browser, project):
    traces = session_traces(project, "chat-1", 2)
    html = browser.get(f"/app/p/{project.pk}/sessions/chat-1/?view=table").content.decode()
    assert '<table class="list">' in html and '<li class="turn"' not in html
    assert f'<tr data-trace-id="{traces[0].pk}">' in html and "accuracy <b>0.1</b>" in html
    assert 'href="?view=conversation"' in html
    response = browser.get(f"/app/p/{project.pk}/sessions/chat-1/?view=slides")
    assert response.status_code == 400
    assert "Choose one of: conversation, table." in response.content.decode()


def test_conversation_of_another_projects_session_is_404(browser, project, other_project):
    session_traces(project, "chat-mine", 1)
    session_traces(other_project, "chat-secret", 1)
    for view in ("conversation", "table"):
        assert (
            browser.get(f"/app/p/{project.pk}/sessions/chat-mine/?view={view}").status_code == 200
        )  # control
        assert browser.get(f"/app/p/{project.pk}/sessions/chat-secret/?view={view}").status_code == 404


def test_conversation_queries_do_not_grow_with_turns_or_spans(
    browser, project, django_assert_max_num_queries
):
    session_traces(project, "short", 1)
    for trace in session_traces(project, "long", SESSION_TRACES_PER_PAGE + 1):
        SpanFactory.create_batch(2, trace=trace)
    counts = []
    for session_id in ("short", "long"):
        with django_assert_max_num_queries(12) as queries:
            html = browser.get(f"/app/p/{project.pk}/sessions/{session_id}/").content.decode()
        counts.append(len(queries.captured_queries))
    assert html.count('<li class="turn"') == SESSION_TRACES_PER_PAGE and html.count("#span-") == 200
    assert counts[0] + 1 == counts[1]  # the long session's second page costs one COUNT, nothing more
