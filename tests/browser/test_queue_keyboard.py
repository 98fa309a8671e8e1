"""A reviewer works a review queue in a real browser with the keyboard only."""

import re

import pytest
from django.urls import reverse

from evaluations.links import page_url
from evaluations.models import ItemReview, ScoreEvent, ScoreSource, TraceScore

from ..evaluations.queue_factories import build_queue, queue_url
from ..factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db(transaction=True)

# correct (BOOLEAN): 1 = true, 0 = false; quality (NUMERIC 0..1): n = n/10; tone: n = nth label.
KEYS_PER_ITEM = [("1", "7", "2"), ("0", "3", "1"), ("1", "=", "3")]
EXPECTED = [
    {"correct": "true", "quality": "0.7", "tone": "neutral"},
    {"correct": "false", "quality": "0.3", "tone": "polite"},
    {"correct": "true", "quality": "1", "tone": "rude"},
]


def sign_in(page, base_url: str, username: str) -> None:
    # An old bookmark (no project in it): it opens the queues of the user's current project.
    page.goto(f"{base_url}{reverse('login')}?next=/app/queues/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-correct-horse")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/app/p/[0-9a-f-]{36}/queues/$", page.url), page.url


def current_position(page) -> int:
    return int(page.get_by_test_id("item-position").inner_text())


def test_reviewer_works_three_items_with_the_keyboard(
    live_server, page, artifacts, project, admin_user, reviewer
):
    traces = [
        TraceFactory(
            project=project,
            name=f"support-{i}",
            input={"messages": [{"role": "user", "content": f"Question {i} <b>bold?</b>"}]},
        )
        for i in range(3)
    ]
    SpanFactory(trace=traces[0], name="llm-call", model="gpt-4o")
    queue = build_queue(project, admin_user, [reviewer], traces=traces, name="Support review")
    items = list(queue.items.order_by("position"))
    base = live_server.url

    sign_in(page, base, "reviewer")
    page.get_by_role("link", name="Support review").click()
    page.get_by_role("link", name="Start reviewing").click()
    page.wait_for_url(re.compile(r"/work/$"))
    assert current_position(page) == 1
    assert page.get_by_text("Question 0 <b>bold?</b>").is_visible()  # shown as text, not markup

    # `?` shows the keys, Esc hides them again.
    overlay = page.locator("#keys-help")
    page.keyboard.press("?")
    assert overlay.is_visible()
    assert "next item" in overlay.inner_text() and "1 true" in overlay.inner_text().replace("\n", " ")
    page.keyboard.press("Escape")
    assert overlay.is_hidden()

    # j / k move between items without saving anything.
    with page.expect_navigation():
        page.keyboard.press("j")
    assert current_position(page) == 2
    with page.expect_navigation():
        page.keyboard.press("k")
    assert current_position(page) == 1
    assert not TraceScore.objects.exists()

    for index, keys in enumerate(KEYS_PER_ITEM):
        assert current_position(page) == index + 1
        for key in keys:
            page.keyboard.press(key)
        if index == 1:
            page.screenshot(path=str(artifacts / "queue_work_page.png"), full_page=True)
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert page.get_by_text("Nothing left for you").is_visible()
    page.screenshot(path=str(artifacts / "queue_done_page.png"), full_page=True)

    for item, expected in zip(items, EXPECTED, strict=True):
        scores = TraceScore.objects.filter(trace_id=item.trace_id)
        assert {s.name: s.value for s in scores} == expected
        assert {(s.source, s.author_id) for s in scores} == {(ScoreSource.ANNOTATION, reviewer.pk)}
    assert ItemReview.objects.filter(item__queue=queue, reviewer=reviewer, status="done").count() == 3
    assert ScoreEvent.objects.filter(actor_user=reviewer, action="create").count() == 9

    page.goto(f"{base}{queue_url('queue-detail', queue)}")
    assert page.get_by_test_id("queue-done").inner_text() == "3/3"
    page.screenshot(path=str(artifacts / "queue_progress_page.png"), full_page=True)
    response = page.goto(f"{base}{page_url('trace-detail', project, traces[0].pk)}")
    page.screenshot(path=str(artifacts / "trace_page.png"), full_page=True)
    assert response.status == 200
