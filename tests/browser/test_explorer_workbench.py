"""An admin works the trace explorer in a real browser: a time-range preset fills the date box, a
score value filter narrows the rows, two rows are ticked and added to a review queue, and the queue's
page lists them."""

import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evaluations.links import page_url
from evaluations.models import ReviewQueueItem

from ..evaluations.queue_factories import build_queue, member
from ..factories import TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}{reverse('login')}?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-correct-horse")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_admin_filters_by_score_selects_two_rows_and_adds_them_to_a_queue(
    live_server, page, artifacts, project, admin_user
):
    alice = member(project, "alice")
    queue = build_queue(
        project, admin_user, [alice], name="Low correctness", traces=[TraceFactory(project=project)]
    )
    values = {"refund-policy": "1", "order-status": "2", "greeting": "5"}
    traces = {name: TraceFactory(project=project, name=name, environment="production") for name in values}
    for name, value in values.items():
        TraceScoreFactory(trace=traces[name], name="correctness", value=value)
    TraceFactory(project=project, name="unscored")
    expect = pytest.importorskip("playwright.sync_api").expect

    explorer = page_url("trace-list", project)
    sign_in(page, live_server.url, "owner", explorer)
    assert page.locator("tr[data-trace-id]").count() == 5

    # The preset fills the date box at once (the script), and the server filters on the same moment.
    page.select_option("#f-range", "24h")
    filled = datetime.fromisoformat(page.input_value("#f-after"))
    assert abs(filled - (timezone.localtime() - timedelta(hours=24)).replace(tzinfo=None)) < timedelta(
        minutes=2
    )
    page.fill("#f-env", "PRODUCTION")  # case-insensitive; the box suggests the project's values
    assert page.locator("#f-env-options option[value=production]").count() == 1
    page.fill("#f-score", "correctness < 3")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    rows = page.locator("tr[data-trace-id]")
    expect(rows).to_have_count(2)
    assert set(rows.locator("td:nth-child(3) a").all_inner_texts()) == {"refund-policy", "order-status"}

    page.get_by_label("Select refund-policy").check()
    page.get_by_label("Select order-status").check()
    expect(page.locator("input[data-select-all]")).to_be_checked()  # every row of the page is ticked
    page.select_option("#selection-queue", label="Low correctness")
    page.screenshot(path=str(artifacts / "explorer-workbench.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add to queue").click()

    expect(page.locator(".messages")).to_contain_text("Added 2 traces to 'Low correctness'.")
    # Back on the same filtered explorer of the project.
    assert page.url.startswith(f"{live_server.url}{explorer}?") and re.search(r"score=correctness", page.url)
    expected = {traces["refund-policy"].pk, traces["order-status"].pk}
    assert (
        set(ReviewQueueItem.objects.filter(queue=queue, position__gt=1).values_list("trace_id", flat=True))
        == expected
    )

    page.get_by_role("link", name="Queues").click()
    page.get_by_role("link", name="Low correctness").click()
    items = page.locator(".queue-items tr[data-position]")
    expect(items).to_have_count(3)
    assert {"refund-policy", "order-status"} <= set(items.locator("td:nth-child(2) a").all_inner_texts())
    page.screenshot(path=str(artifacts / "explorer-added-to-queue.png"), full_page=True)
