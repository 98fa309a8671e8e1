"""The trace as the trace page and the queue item show it (issue 12, items 4 and 8): one template,
span bodies loaded on demand, long content folded, tool calls, copy buttons, next/previous trace,
times with their time zone."""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evaluations.links import page_url
from evaluations.selectors.annotations import INLINE_SPAN_BODIES
from pandaprobe.traces.models import Span

from ..factories import SpanFactory, TraceFactory
from .queue_factories import build_queue, queue_url, signed_in

pytestmark = pytest.mark.django_db

PAGE_LIMIT = 500_000  # bytes of HTML for a 500-span trace (issue 12, item 8)


@pytest.fixture
def browser(reviewer, project):
    return signed_in(reviewer, project)


def trace_url(trace, query: str = "") -> str:
    return page_url("trace-detail", trace.project_id, trace.pk) + query


def span_url(span, project=None) -> str:
    """The span's body, under its project's path (or `project`'s)."""
    return page_url("trace-span", project or span.trace.project_id, span.trace_id, span.span_id)


def section(html: str, section_id: str) -> str:
    """The HTML of `<section ... id="<section_id>">` up to its closing tag (sections do not nest)."""
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


def lorem(words: int) -> str:
    return " ".join(f"word{i % 50}" for i in range(words))


def big_trace(project, spans: int = 500):
    """An agent run of `spans` spans, one root and chains of 10, each span 1-2 KB of input/output."""
    start = timezone.now() - timedelta(minutes=5)
    trace = TraceFactory(project=project, name="big", started_at=start, span_count=spans,
                         ended_at=start + timedelta(seconds=spans))  # fmt: skip
    root, rows = uuid.uuid4(), []
    for index in range(spans):
        kind = "TOOL" if index % 3 == 2 else "LLM"
        rows.append(Span(
            trace=trace, span_id=root if index == 0 else uuid.uuid4(),
            parent_span_id=None if index == 0 else root, name=f"{kind.lower()}-{index}", kind=kind,
            status="OK", model="gpt-4o-mini" if kind == "LLM" else None,
            input={"messages": [{"role": "user", "content": f"question-{index} {lorem(100)}"}]},
            output={"messages": [{"role": "assistant", "content": f"answer-{index} {lorem(100)}"}]},
            metadata={"attempt": 1}, started_at=start + timedelta(milliseconds=index * 100),
            ended_at=start + timedelta(milliseconds=index * 100 + 80), total_tokens=300, total_cost=0.0004,
        ))  # fmt: skip
    Span.objects.bulk_create(rows)
    return trace, rows


# --- span bodies on demand ------------------------------------------------------------------------


def test_a_500_span_trace_page_stays_under_500_kb_and_loads_span_bodies_on_demand(browser, project):
    trace, spans = big_trace(project)
    assert len(json.dumps(spans[250].input)) + len(json.dumps(spans[250].output)) > 1000
    response = browser.get(trace_url(trace))
    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.content) < PAGE_LIMIT, len(response.content)
    # Every span is in the tree, with its name, kind, timing, tokens and cost ...
    assert html.count("data-span-id=") == 500
    assert "llm-499" in html and "80 ms · gpt-4o-mini · 300 tok · $0.0004" in html
    # ... the first bodies inline, the others behind a link to the span's own endpoint.
    assert "question-0 " in html and f"question-{INLINE_SPAN_BODIES - 1} " in html
    assert "question-250 " not in html and "answer-250 " not in html
    late = spans[250]
    assert f'<a class="span-load" href="{span_url(late)}">' in html

    body = browser.get(span_url(late))
    assert body.status_code == 200
    fragment = body.content.decode()
    assert "question-250 " in fragment and "answer-250 " in fragment
    assert "question-251 " not in fragment and "<html" not in fragment
    assert f'data-copy="{late.span_id}"' in fragment  # the span id, with its copy button


def test_span_body_endpoint_is_project_scoped(browser, project, other_project, reviewer):
    mine = SpanFactory(trace=TraceFactory(project=project), input={"q": "my question"})
    theirs = SpanFactory(trace=TraceFactory(project=other_project), input={"q": "their secret"})
    assert browser.get(span_url(mine)).status_code == 200  # the control
    for response in (browser.get(span_url(theirs)), browser.get(span_url(theirs, project))):
        assert response.status_code == 404 and b"their secret" not in response.content
    # A span id under another trace of the project is not found either.
    other_trace = TraceFactory(project=project)
    response = browser.get(page_url("trace-span", project, other_trace.pk, mine.span_id))
    assert response.status_code == 404
    # Signed out: the login page, not the span.
    response = Client().get(span_url(mine))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_span_body_endpoint_runs_few_queries(browser, project, django_assert_max_num_queries):
    span = SpanFactory(trace=TraceFactory(project=project))
    with django_assert_max_num_queries(6):
        assert browser.get(span_url(span)).status_code == 200


# --- one template for the trace page and the queue item --------------------------------------------


def test_queue_item_shows_the_whole_trace_as_the_trace_page_does(project, admin_user, reviewer):
    trace = TraceFactory(project=project, name="support-run", total_tokens=1234, total_cost=0.0567,
                         metadata={"customer": "acme-corp"}, session_id="chat-9",
                         input={"messages": [{"role": "user", "content": "Where is my order?"}]})  # fmt: skip
    root = SpanFactory(trace=trace, name="agent", kind="AGENT")
    SpanFactory(trace=trace, name="lookup", kind="TOOL", parent_span_id=root.span_id, input={"order": 7})
    for index in range(INLINE_SPAN_BODIES + 5):
        SpanFactory(trace=trace, name=f"llm-{index}", parent_span_id=root.span_id, total_tokens=10,
                    started_at=trace.started_at + timedelta(seconds=1, milliseconds=index))  # fmt: skip
    queue = build_queue(project, admin_user, [reviewer], traces=[trace])
    client = signed_in(reviewer, project)
    work = client.get(queue_url("queue-work", queue)).content.decode()
    page = client.get(trace_url(trace)).content.decode()

    # The same span tree (lazy bodies included), input, output and metadata, byte for byte.
    for section_id in ("input", "output", "spans", "metadata"):
        assert section(work, section_id) == section(page, section_id), section_id
    spans = section(work, "spans")
    assert spans.count("data-span-id=") == INLINE_SPAN_BODIES + 7 and 'class="span-load"' in spans
    assert "Where is my order?" in work and "acme-corp" in work
    assert "1234" in work and "$0.0567" in work and "chat-9" in work
    assert "data-trace-body" in work and "js/trace.js" in work
    assert f'href="{trace_url(trace)}" class="mono">{trace.pk}</a>' in work  # the id links to the page
    assert f'data-copy="{trace.pk}"' in work and f'data-copy="{trace.pk}"' in page
    # The scoring panel sits beside the trace (kept on screen by queue.css: `position: sticky`).
    assert work.index('class="trace-view"') < work.index('class="panel score-panel"')


def test_queue_item_runs_as_many_queries_for_a_big_trace_as_for_a_small_one(project, admin_user, reviewer):
    small = TraceFactory(project=project)
    SpanFactory(trace=small)
    large, _ = big_trace(project, spans=60)
    counts = []
    for trace in (small, large):
        queue = build_queue(project, admin_user, [reviewer], traces=[trace], name=f"review {trace.name}")
        client = signed_in(reviewer, project)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(queue_url("queue-work", queue)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- long content ---------------------------------------------------------------------------------


def test_a_long_message_list_folds_its_middle(browser, project):
    messages = [{"role": "system", "content": "You are terse."}]
    messages += [{"role": "user" if i % 2 else "assistant", "content": f"message-{i}"} for i in range(1, 20)]
    trace = TraceFactory(project=project, input={"messages": messages})
    html = section(browser.get(trace_url(trace)).content.decode(), "input")
    folded = html[html.index('<details class="more-messages">') : html.index("</details>")]
    assert "<summary>16 more messages</summary>" in folded
    assert "message-1<" in folded and "message-16<" in folded
    assert "message-17<" not in folded and "You are terse." not in folded
    assert html.index("You are terse.") < html.index("more-messages") < html.index("message-19<")


def test_long_json_and_long_messages_start_folded_and_short_ones_open(browser, project):
    long_json = {f"key-{i}": i for i in range(40)}
    trace = TraceFactory(project=project, input={"short": 1}, output=long_json,
                         metadata={"messages": [{"role": "user", "content": "x " * 1000}]})  # fmt: skip
    html = browser.get(trace_url(trace)).content.decode()
    assert '<details class="json" open><summary>JSON</summary><pre>{&quot;short&quot;: 1}</pre>' in section(
        html, "input"
    )
    assert '<details class="json"><summary>JSON · 42 lines</summary>' in section(html, "output")
    assert "data-expand-all" in html  # the page's "Expand all" (static/js/trace.js)
    long_message = TraceFactory(
        project=project, output={"messages": [{"role": "assistant", "content": "y " * 900}]}
    )
    output = section(browser.get(trace_url(long_message)).content.decode(), "output")
    assert (
        '<details class="long-message"><summary><b>assistant</b> y y' in output
        and "1800 characters" in output
    )


def test_tool_calls_show_name_and_arguments_not_escaped_json(browser, project):
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    broken = {"id": "c2", "type": "function", "function": {"name": "broken", "arguments": "{not json"}}
    output = {"role": "assistant", "content": None, "tool_calls": [call, broken]}
    trace = TraceFactory(project=project, output=output)
    tool = SpanFactory(trace=trace, name="search_docs", kind="TOOL", input='{"query": "refund policy", "k": 3}',
                       output='{"hits": 2}')  # fmt: skip
    named = SpanFactory(trace=trace, name="tool-step", kind="TOOL",
                        input={"name": "lookup_order", "arguments": '{"order_id": 42}'})  # fmt: skip
    html = browser.get(trace_url(trace)).content.decode()
    out = section(html, "output")
    assert (
        '<span class="mono">get_weather</span><pre class="arguments">{&quot;city&quot;: &quot;Paris&quot;}</pre>'
        in out
    )
    assert '<span class="mono">broken</span><pre class="arguments">{not json</pre>' in out  # as sent
    assert "\\&quot;" not in out and "tool_calls" not in out  # no escaped JSON string, no raw field
    tool_body = browser.get(span_url(tool)).content.decode()
    assert "<h3>Arguments</h3>" in tool_body and '<span class="mono">search_docs</span>' in tool_body
    assert "{&quot;query&quot;: &quot;refund policy&quot;, &quot;k&quot;: 3}" in tool_body
    assert "<h3>Result</h3>" in tool_body and "<pre>{&quot;hits&quot;: 2}</pre>" in tool_body
    named_body = browser.get(span_url(named)).content.decode()
    assert (
        '<span class="mono">lookup_order</span><pre class="arguments">{&quot;order_id&quot;: 42}</pre>'
        in named_body
    )


def test_span_bodies_are_escaped(browser, project):
    xss = "<script>alert(1)</script>"
    span = SpanFactory(trace=TraceFactory(project=project), kind="TOOL", name=xss, input=json.dumps({xss: xss}),
                       output=xss, error=xss, metadata={xss: xss})  # fmt: skip
    fragment = browser.get(span_url(span)).content.decode()
    assert "<script" not in fragment and fragment.count("&lt;script&gt;") >= 5


# --- next and previous trace ----------------------------------------------------------------------


def nav_links(html: str) -> tuple[str | None, str | None]:
    previous = re.search(r'id="previous-trace" rel="prev" href="([^"]+)"', html)
    following = re.search(r'id="next-trace" rel="next" href="([^"]+)"', html)
    return (
        previous and previous.group(1).replace("&amp;", "&"),
        following and following.group(1).replace("&amp;", "&"),
    )


def test_next_and_previous_trace_follow_the_explorers_order(browser, project, other_project):
    now = timezone.now()
    old, middle, new = (
        TraceFactory(project=project, name=name, started_at=now - timedelta(hours=hours))
        for name, hours in (("old", 3), ("middle", 2), ("new", 1))
    )
    TraceFactory(project=other_project, started_at=now - timedelta(minutes=90))  # never a neighbour
    assert nav_links(browser.get(trace_url(middle)).content.decode()) == (trace_url(new), trace_url(old))
    # The newest trace has no previous one, the oldest no next one: both ends are disabled.
    newest = browser.get(trace_url(new)).content.decode()
    assert nav_links(newest) == (None, trace_url(middle))
    assert '<span class="btn secondary small disabled" aria-disabled="true">← Previous trace</span>' in newest
    oldest = browser.get(trace_url(old)).content.decode()
    assert nav_links(oldest) == (trace_url(middle), None)
    assert '<span class="btn secondary small disabled" aria-disabled="true">Next trace →</span>' in oldest


def test_next_and_previous_keep_the_explorers_filters_and_sort(browser, project):
    now = timezone.now()
    a = TraceFactory(project=project, name="a", environment="prod", started_at=now - timedelta(hours=1))
    TraceFactory(project=project, name="b", environment="dev", started_at=now - timedelta(hours=2))
    c = TraceFactory(project=project, name="c", environment="prod", started_at=now - timedelta(hours=3))
    query = "?environment=prod"
    assert nav_links(browser.get(trace_url(a, query)).content.decode()) == (None, trace_url(c, query))
    assert nav_links(browser.get(trace_url(c, query)).content.decode()) == (trace_url(a, query), None)
    # By name, ascending: a, b, c whatever their times.
    query = "?sort_by=name&sort_order=asc"
    html = browser.get(trace_url(a, query)).content.decode()
    previous, following = nav_links(html)
    assert previous is None and following is not None
    assert browser.get(following).context["trace"].name == "b"


def test_next_and_previous_with_a_nullable_sort_key_and_equal_values(browser, project):
    now = timezone.now()
    fast = TraceFactory(project=project, name="fast", latency_ms=100)
    slow = TraceFactory(project=project, name="slow", latency_ms=900)
    # Two traces of the same latency, and one still running (no latency: sorted last).
    tie = [TraceFactory(project=project, name=f"tie-{i}", latency_ms=500, started_at=now) for i in range(2)]
    running = TraceFactory(project=project, name="running", latency_ms=None)
    query = "?sort_by=latency&sort_order=desc"
    order, trace = [], slow
    while trace is not None:
        order.append(trace.name)
        following = nav_links(browser.get(trace_url(trace, query)).content.decode())[1]
        trace = browser.get(following).context["trace"] if following else None
    expected_ties = [t.name for t in sorted(tie, key=lambda t: str(t.pk), reverse=True)]
    assert order == ["slow", *expected_ties, "fast", "running"]
    assert nav_links(browser.get(trace_url(running, query)).content.decode())[0] == trace_url(fast, query)


def test_a_bad_explorer_query_falls_back_to_the_projects_order(browser, project):
    now = timezone.now()
    older = TraceFactory(project=project, started_at=now - timedelta(hours=2))
    newer = TraceFactory(project=project, started_at=now - timedelta(hours=1))
    response = browser.get(trace_url(newer, "?status=BOGUS"))
    assert response.status_code == 200
    assert nav_links(response.content.decode()) == (None, trace_url(older, "?status=BOGUS"))


# --- times with their time zone -------------------------------------------------------------------


def test_times_show_their_time_zone_on_the_trace_queue_and_session_pages(project, admin_user, reviewer):
    started = timezone.now().replace(microsecond=0) - timedelta(days=1)
    trace = TraceFactory(project=project, session_id="chat-1", started_at=started)
    span = SpanFactory(trace=trace, started_at=started, ended_at=started + timedelta(milliseconds=1500))
    queue = build_queue(project, admin_user, [reviewer], traces=[trace])
    client = signed_in(reviewer, project)
    shown = f'<time datetime="{started.isoformat()}">{started:%Y-%m-%d %H:%M:%S} UTC</time>'
    pages = [
        client.get(trace_url(trace)).content.decode(),
        client.get(queue_url("queue-work", queue)).content.decode(),
        client.get(page_url("session-detail", project, "chat-1")).content.decode(),
        client.get(page_url("session-detail", project, "chat-1") + "?view=table").content.decode(),
    ]
    for html in pages:
        assert shown in html
    ended = started + timedelta(milliseconds=1500)
    assert f"{ended:%Y-%m-%d %H:%M:%S}.500 UTC</time>" in client.get(span_url(span)).content.decode()
