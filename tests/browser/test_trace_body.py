"""A long trace in a real browser: span bodies load when a span is opened, "Expand all" unfolds long
content, copy buttons fill the clipboard; the queue item shows the same trace with its scoring
panel kept on screen while the trace scrolls."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.links import page_url
from pandaprobe.traces.models import Span

from ..evaluations.queue_factories import build_queue, queue_url
from ..factories import TraceFactory
from .test_run_from_explorer import sign_in

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytestmark = pytest.mark.django_db(transaction=True)
SPANS = 120


def long_trace(project):
    """An agent run: 120 spans under one root, LLM calls with tool calls, tools with JSON arguments."""
    start = timezone.now() - timedelta(minutes=5)
    history = [{"role": "system", "content": "You are a support agent."}]
    history += [{"role": "user" if i % 2 else "assistant", "content": f"turn {i}"} for i in range(1, 14)]
    trace = TraceFactory(project=project, name="support-agent", started_at=start, span_count=SPANS,
                         ended_at=start + timedelta(seconds=SPANS / 10), total_tokens=36000, total_cost=0.048,
                         input={"messages": history}, metadata={"customer": "acme", "plan": "pro"})  # fmt: skip
    root = uuid.uuid4()
    rows = []
    for index in range(SPANS):
        kind = "AGENT" if index == 0 else ("TOOL" if index % 2 == 0 else "LLM")
        call = {"id": f"c{index}", "type": "function",
                "function": {"name": "lookup_order", "arguments": f'{{"order_id": {index}}}'}}  # fmt: skip
        rows.append(Span(
            trace=trace, span_id=root if index == 0 else uuid.uuid4(), parent_span_id=None if index == 0 else root,
            name="agent" if index == 0 else ("lookup_order" if kind == "TOOL" else f"llm-{index}"), kind=kind,
            model="gpt-4o-mini" if kind == "LLM" else None, total_tokens=300 if kind == "LLM" else 0,
            input={"messages": [{"role": "user", "content": f"question {index}"}]} if kind == "LLM"
            else f'{{"order_id": {index}}}',
            output={"role": "assistant", "content": None, "tool_calls": [call]} if kind == "LLM"
            else {"status": "shipped", "index": index},
            started_at=start + timedelta(milliseconds=index * 100),
            ended_at=start + timedelta(milliseconds=index * 100 + 80),
        ))  # fmt: skip
    Span.objects.bulk_create(rows)
    return trace, rows


def test_a_long_trace_loads_span_bodies_expands_and_copies(live_server, page, artifacts, project, reviewer):
    trace, spans = long_trace(project)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server.url, "reviewer", page_url("trace-detail", project, trace.pk))

    # A late span's body is not in the page: opening the span fetches it.
    late = page.locator(f"#span-{spans[101].span_id}")
    assert late.locator("a.span-load").count() == 1
    late.locator("summary").first.click()
    body = late.locator(".span-body")
    body.get_by_text("question 101").wait_for()
    assert late.locator("a.span-load").count() == 0
    tool = page.locator(f"#span-{spans[100].span_id}")
    tool.locator("summary").first.click()
    arguments = tool.locator(".span-body pre.arguments")
    arguments.wait_for()
    assert arguments.inner_text() == '{"order_id": 100}'  # the tool's arguments, parsed

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "trace-page-long.png"))

    # The conversation's middle is folded until "Expand all".
    folded = page.locator("#input details.more-messages")
    assert not folded.evaluate("el => el.open")
    page.get_by_role("button", name="Expand all").click()
    assert folded.evaluate("el => el.open")
    assert page.get_by_role("button", name="Collapse all").is_visible()

    # Copy the trace id, then a span's id (its button comes with the loaded body).
    page.locator(f'button.copy[data-copy="{trace.pk}"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == str(trace.pk)
    late.locator(f'button.copy[data-copy="{spans[101].span_id}"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == str(spans[101].span_id)
    page.locator("#input .message .copy-block").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == "You are a support agent."

    # "Open all spans" loads every body, a few at a time.
    page.get_by_role("button", name="Open all spans").click()
    expect(page.locator("a.span-load")).to_have_count(0)
    assert page.locator(".span-load-error").count() == 0
    page.locator(f"#span-{spans[30].span_id}").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "trace-page-long-spans.png"))


def test_queue_item_shows_the_trace_with_the_scores_on_screen(
    live_server, page, artifacts, project, admin_user, reviewer
):
    trace, spans = long_trace(project)
    queue = build_queue(project, admin_user, [reviewer], traces=[trace], name="Support review")
    sign_in(page, live_server.url, "reviewer", queue_url("queue-work", queue))
    assert page.locator(".trace-view .span-tree > li").count() == 1
    assert page.locator(".trace-view [data-span-id]").count() == SPANS
    late = page.locator(f"#span-{spans[99].span_id}")
    late.scroll_into_view_if_needed()
    late.locator("summary").first.click()
    late.locator(".span-body").get_by_text("question 99").wait_for()
    # Far down the trace, the scoring panel is still in view.
    panel = page.locator(".score-panel").bounding_box()
    assert page.evaluate("window.scrollY") > 2000
    assert 0 <= panel["y"] and panel["y"] + 100 < page.viewport_size["height"]
    assert page.locator("#review-form").is_visible()
    page.screenshot(path=str(artifacts / "queue-item.png"))
