"""Keys that mean what they say, N/A and skipping, in a real browser (issue 12, items 2 and 5)."""

import json

import pytest

from evaluations.models import ItemReview, NotApplicableScore, ScoreConfig, TraceScore
from evaluations.services.values import score_keys

from ..evaluations.queue_factories import build_queue, member, queue_url
from ..factories import TraceFactory
from .test_queue_keyboard import current_position, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def configs(project) -> list[ScoreConfig]:
    return [
        ScoreConfig.objects.create(project=project, name="a-stars", min_value=1, max_value=5),
        ScoreConfig.objects.create(project=project, name="b-share", min_value=0, max_value=1),
        ScoreConfig.objects.create(project=project, name="c-effort", min_value=0, max_value=2, step=0.5),
    ]


def test_number_keys_set_the_values_the_overlay_shows(
    live_server, page, artifacts, project, admin_user, reviewer, configs
):
    queue = build_queue(project, admin_user, [reviewer], configs=configs, name="Stars", n_traces=2)
    first = queue.items.get(position=1)
    sign_in(page, live_server.url, "reviewer")
    page.goto(f"{live_server.url}{queue_url('queue-work', queue)}")

    page.keyboard.press("?")
    overlay = page.locator("#keys-help")
    assert overlay.is_visible()
    for config in configs:  # the overlay prints exactly the server's key map
        pairs = overlay.locator(f'li[data-name="{config.name}"] .key-pair')
        printed = [pairs.nth(i).inner_text() for i in range(pairs.count())]
        expected = [f"{k} (or Shift+0) {v}" if k == "=" else f"{k} {v}" for k, v in score_keys(config)]
        assert printed == expected
    page.screenshot(path=str(artifacts / "queue-keys.png"), full_page=True)
    page.keyboard.press("Escape")

    # 1–5: key 4 sets 4. 0–1: key 7 sets 0.7. 0–2 by 0.5: key 3 sets the fourth value, 1.5.
    for key in ("4", "7", "3"):
        page.keyboard.press(key)
    assert page.locator('fieldset[data-name="a-stars"] input[type=number]').input_value() == "4"
    assert page.locator('fieldset[data-name="b-share"] input[type=number]').input_value() == "0.7"
    assert page.locator('fieldset[data-name="c-effort"] input[type=number]').input_value() == "1.5"
    keys = json.loads(page.locator('fieldset[data-name="b-share"]').get_attribute("data-keys"))
    assert keys["="] == "1"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert {s.name: s.value for s in TraceScore.objects.filter(trace_id=first.trace_id)} == {
        "a-stars": "4",
        "b-share": "0.7",
        "c-effort": "1.5",
    }


def test_reviewer_skips_with_s_and_marks_na_with_n(
    live_server, page, artifacts, project, admin_user, reviewer, configs
):
    traces = [TraceFactory(project=project, name=f"t{i}") for i in range(3)]
    queue = build_queue(
        project, admin_user, [reviewer, member(project, "bob")], configs=configs, traces=traces
    )
    items = list(queue.items.order_by("position"))
    sign_in(page, live_server.url, "reviewer")
    page.goto(f"{live_server.url}{queue_url('queue-work', queue)}")
    assert current_position(page) == 1

    with page.expect_navigation():
        page.keyboard.press("s")
    assert current_position(page) == 2
    assert page.get_by_text("Skipped item #1: it is back in the pool.").is_visible()
    page.screenshot(path=str(artifacts / "queue-skip.png"), full_page=True)
    assert ItemReview.objects.get(item=items[0], reviewer=reviewer).status == ItemReview.Status.SKIPPED

    # a-stars: 5, b-share: N/A (with a comment), c-effort (0–2 by 0.5): key 4 is the fifth value, 2.
    page.keyboard.press("5")
    page.keyboard.press("n")
    page.locator('fieldset[data-name="b-share"] input.comment').fill("nothing to share")
    page.keyboard.press("Escape")  # leave the comment box: b-share is highlighted again
    page.keyboard.press("ArrowDown")
    page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert current_position(page) == 3, page.locator(".errorlist").all_inner_texts()  # skipped comes last
    assert {s.name: s.value for s in TraceScore.objects.filter(trace_id=items[1].trace_id)} == {
        "a-stars": "5",
        "c-effort": "2",
    }
    mark = NotApplicableScore.objects.get(review__item=items[1])
    assert (mark.config.name, mark.comment) == ("b-share", "nothing to share")
