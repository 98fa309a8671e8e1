"""A reviewer's day in a queue (issue 12, items 2, 5, 9): keys, skipping, N/A, partial reviews,
per-score comments, progress that adds up, and queues edited and archived in the app."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from evaluations.forms import comment_field_name, not_applicable_field_name, score_field_name
from evaluations.links import page_url
from evaluations.models import (
    ItemReview,
    NotApplicableScore,
    ReviewQueue,
    ScoreConfig,
    ScoreEvent,
    TraceScore,
)
from evaluations.selectors import queues as queue_selectors
from evaluations.services.queues import (
    ReviewInput,
    queue_item_hold,
    queue_item_review_submit,
    queue_item_skip,
    queue_next_item_claim,
)
from evaluations.services.values import score_keys

from .queue_factories import GOOD_VALUES, access_of, build_queue, queue_url, signed_in

pytestmark = pytest.mark.django_db


def submit(queue, item, user, values=None, **given):
    return queue_item_review_submit(
        access=access_of(user, queue.project),
        queue=queue,
        item=item,
        given=ReviewInput(values=GOOD_VALUES if values is None else values, **given),
    )


def work_url(queue) -> str:
    return queue_url("queue-work", queue)


# Keys that mean what they say ----------------------------------------------------------------------


def test_work_page_passes_the_keys_as_data_and_the_overlay_prints_the_same(project, admin_user, alice):
    stars = ScoreConfig.objects.create(project=project, name="stars", min_value=1, max_value=5)
    share = ScoreConfig.objects.create(project=project, name="share", min_value=0, max_value=1)
    queue = build_queue(project, admin_user, [alice], configs=[stars, share])
    page = signed_in(alice, project).get(work_url(queue))
    controls = {c["config"].name: c for c in page.context["controls"]}
    assert json.loads(controls["stars"]["keys_json"]) == {str(k): str(k) for k in range(1, 6)}
    assert json.loads(controls["share"]["keys_json"])["7"] == "0.7"
    html = page.content.decode()
    assert "data-keys=" in html and "<script>" not in html.split("</header>")[1].split("<script src")[0]
    overlay = html[html.index('id="keys-help"') :]
    for key, value in score_keys(stars):
        assert f'data-key="{key}" data-value="{value}"><kbd>{key}</kbd> {value}</span>' in overlay
    assert "<kbd>=</kbd> (or <kbd>Shift</kbd>+<kbd>0</kbd>) 1</span>" in overlay


def test_a_value_off_the_configs_step_is_refused_on_the_page(project, admin_user, alice):
    stars = ScoreConfig.objects.create(project=project, name="stars", min_value=1, max_value=5, step=1)
    queue = build_queue(project, admin_user, [alice], configs=[stars])
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    response = client.post(work_url(queue), {"item": str(item.pk), score_field_name(stars): "2.5"})
    assert (
        response.status_code == 422
        and "stars: 2.5 is not a multiple of the step 1" in response.content.decode()
    )
    assert not TraceScore.objects.exists()


# Skipping -------------------------------------------------------------------------------------------


def test_skipping_releases_the_item_to_others_and_not_back_to_the_same_reviewer(
    project, admin_user, alice, bob
):
    queue = build_queue(project, admin_user, [alice, bob], n_traces=3)
    now = timezone.now()
    first = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    queue_item_skip(access=access_of(alice, project), queue=queue, item=first, now=now)

    review = ItemReview.objects.get(item=first, reviewer=alice)
    assert (review.status, review.held_until, review.skipped_at) == (ItemReview.Status.SKIPPED, None, now)
    assert queue_next_item_claim(queue=queue, reviewer=bob, now=now) == first  # back in the pool
    second = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    assert second.position == 2
    # Once everything else is done, the skipped item comes back to her (if still open).
    ItemReview.objects.filter(item=first, reviewer=bob).delete()  # bob lets it go
    submit(queue, second, alice)
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=now).position == 3
    submit(queue, queue.items.get(position=3), alice)
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=now) == first
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=now, exclude=first) is None


def test_skipping_a_done_item_keeps_it_done(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    submit(queue, item, alice)
    queue_item_skip(access=access_of(alice, project), queue=queue, item=item)
    assert ItemReview.objects.get(item=item, reviewer=alice).status == ItemReview.Status.DONE


def test_skip_page_opens_the_next_item_and_the_other_reviewer_gets_the_skipped_one(
    project, admin_user, alice, bob
):
    queue = build_queue(project, admin_user, [alice, bob], n_traces=2)
    client = signed_in(alice, project)
    first = client.get(work_url(queue)).context["item"]
    response = client.post(queue_url("queue-skip", queue), {"item": str(first.pk)})
    second = queue.items.get(position=2)
    assert response.status_code == 302 and response["Location"] == f"{work_url(queue)}?item={second.pk}"
    assert client.get(response["Location"]).context["item"] == second
    assert signed_in(bob, project).get(work_url(queue)).context["item"] == first
    # Nothing else left for her: the skip lands on the queue page, not on the same item.
    response = client.post(queue_url("queue-skip", queue), {"item": str(second.pk)})
    assert response["Location"] == queue_url("queue-detail", queue)


def test_skip_needs_a_post_an_assigned_reviewer_and_the_right_project(
    project, other_project, admin_user, alice, bob, outsider
):
    queue = build_queue(project, admin_user, [alice])
    item = queue.items.first()
    url = queue_url("queue-skip", queue)
    assert signed_in(alice, project).get(url).status_code == 405
    assert signed_in(bob, project).post(url, {"item": str(item.pk)}).status_code == 404
    assert signed_in(outsider, other_project).post(url, {"item": str(item.pk)}).status_code == 404
    assert signed_in(alice, project).post(url, {"item": "not-an-id"}).status_code == 404
    assert not ItemReview.objects.exists()
    assert signed_in(alice, project).post(url, {"item": str(item.pk)}).status_code == 302  # control


# N/A, partial reviews, comments ------------------------------------------------------------------


def test_not_applicable_stores_no_score_and_records_the_mark_with_its_comment(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    values = {"correct": "true", "tone": "polite"}
    review = submit(
        queue,
        item,
        alice,
        values=values,
        comments={"quality": "no answer to grade"},
        not_applicable={"quality"},
    )
    assert review.status == ItemReview.Status.DONE
    assert {s.name for s in TraceScore.objects.filter(trace_id=item.trace_id)} == {"correct", "tone"}
    mark = NotApplicableScore.objects.get(review=review)
    assert (mark.config.name, mark.comment) == ("quality", "no answer to grade")


def test_marking_na_after_scoring_deletes_the_reviewers_score_with_history(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    submit(queue, item, alice)
    queue_item_hold(queue=queue, item=item, reviewer=alice)
    submit(queue, item, alice, values={"correct": "true", "tone": "polite"}, not_applicable={"quality"})
    assert not TraceScore.objects.filter(trace_id=item.trace_id, name="quality").exists()
    assert ScoreEvent.objects.filter(score_name="quality", action="delete", actor_user=alice).count() == 1
    # ...and scoring it again replaces the N/A.
    submit(queue, item, alice)
    assert not NotApplicableScore.objects.exists()


def test_a_value_and_na_together_or_a_blank_score_are_refused_naming_the_config(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    with pytest.raises(ValidationError) as exc:
        submit(queue, item, alice, not_applicable={"quality"})
    assert exc.value.message_dict == {"quality": ["give a value or mark it N/A, not both"]}
    with pytest.raises(ValidationError) as exc:
        submit(queue, item, alice, values={"correct": "true"})
    assert set(exc.value.message_dict) == {"quality", "tone"}
    assert not TraceScore.objects.exists() and not NotApplicableScore.objects.exists()


def test_a_queue_that_allows_partial_reviews_takes_some_scores(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice], allow_partial=True)
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    with pytest.raises(ValidationError) as exc:  # a comment with nothing to go with is not lost silently
        submit(queue, item, alice, values={"correct": "true"}, comments={"tone": "hm"})
    assert list(exc.value.message_dict) == ["tone"]
    review = submit(queue, item, alice, values={"correct": "true"})
    assert review.status == ItemReview.Status.DONE
    assert [s.name for s in TraceScore.objects.all()] == ["correct"]
    assert queue_selectors.queue_progress(queue=queue, now=timezone.now()).done == 1


def test_the_page_saves_na_and_per_score_comments_and_prefills_them(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    configs = {c.name: c for c in queue.score_configs.all()}
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    data = {
        "item": str(item.pk),
        score_field_name(configs["correct"]): "true",
        comment_field_name(configs["correct"]): "checked the docs",
        not_applicable_field_name(configs["quality"]): "on",
        comment_field_name(configs["quality"]): "empty answer",
        score_field_name(configs["tone"]): "rude",
    }
    assert client.post(work_url(queue), data).status_code == 302
    reasons = {s.name: s.reason for s in TraceScore.objects.filter(trace_id=item.trace_id)}
    assert reasons == {"correct": "checked the docs", "tone": None}
    reopened = client.get(work_url(queue), {"item": str(item.pk)})
    controls = {c["config"].name: c for c in reopened.context["controls"]}
    assert controls["quality"]["not_applicable"].value() is True
    assert controls["quality"]["comment"].value() == "empty answer"
    assert controls["correct"]["comment"].value() == "checked the docs"


# Progress that adds up ---------------------------------------------------------------------------


def test_two_reviewers_splitting_13_items_show_their_share(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob], n_traces=13)
    now = timezone.now()
    for user in [alice] * 7 + [bob] * 6:
        submit(queue, queue_next_item_claim(queue=queue, reviewer=user, now=now), user)
    progress = queue_selectors.queue_progress(queue=queue, now=now)
    assert (progress.done, progress.total, progress.reviews_done, progress.reviews_needed) == (13, 13, 13, 13)
    assert [(r.reviewer.username, r.done, r.share) for r in progress.reviewers] == [
        ("alice", 7, 54),
        ("bob", 6, 46),
    ]
    listed = {q.pk: q for q in queue_selectors.queue_list(access=access_of(alice, project))}[queue.pk]
    assert (listed.done_items, listed.my_done, listed.reviewer_count) == (13, 7, 2)
    # Bob taken off the queue: his six reviews still count and he is still listed.
    queue.reviewers.set([alice])
    progress = queue_selectors.queue_progress(queue=queue, now=now)
    assert [(r.reviewer.username, r.done, r.assigned) for r in progress.reviewers] == [
        ("alice", 7, True),
        ("bob", 6, False),
    ]
    page = signed_in(admin_user, project).get(queue_url("queue-detail", queue)).content.decode()
    assert 'data-testid="reviews-done">13/13<' in page and "no longer assigned" in page


def test_detail_page_lists_the_items_with_their_state(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice], n_traces=3, hold_seconds=1800)
    first = queue_next_item_claim(queue=queue, reviewer=alice)
    submit(queue, first, alice)
    queue_next_item_claim(queue=queue, reviewer=alice)
    response = signed_in(admin_user, project).get(queue_url("queue-detail", queue))
    items = list(response.context["items"])
    assert [(i.position, i.done_reviews, i.holders) for i in items] == [(1, 1, 0), (2, 0, 1), (3, 0, 0)]
    page = response.content.decode()
    assert page.count("data-position=") == 3 and "30 min" in page and " s</dd>" not in page


# Editing and archiving in the app ------------------------------------------------------------------


def settings_post(queue, **changes) -> dict:
    data = {
        "name": queue.name,
        "description": queue.description,
        "score_configs": [str(c.pk) for c in queue.score_configs.all()],
        "reviewers": [str(u.pk) for u in queue.reviewers.all()],
        "reviewers_per_item": queue.reviewers_per_item,
        "hold_minutes": queue.hold_seconds // 60,
    }
    return {**data, **changes}


def test_admin_edits_a_queue_in_the_app(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice])
    client = signed_in(admin_user, project)
    url = queue_url("queue-edit", queue)
    page = client.get(url)
    assert page.status_code == 200 and page.context["form"]["hold_minutes"].value() == 10
    body = settings_post(
        queue, name="Renamed", hold_minutes=5, allow_partial="on", reviewers=[alice.pk, bob.pk]
    )
    response = client.post(url, body)
    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.hold_seconds, queue.allow_partial) == ("Renamed", 300, True)
    assert set(queue.reviewers.values_list("username", flat=True)) == {"alice", "bob"}
    assert queue.items.count() == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reviewers_per_item": 2}, "reviewers_per_item"),
        ({"name": ""}, "name"),
        ({"hold_minutes": 0}, "hold_minutes"),
    ],
)
def test_bad_edit_is_422_naming_the_field(project, admin_user, alice, changes, field):
    queue = build_queue(project, admin_user, [alice])
    build_queue(project, admin_user, [alice], name="Taken")
    response = signed_in(admin_user, project).post(
        queue_url("queue-edit", queue), settings_post(queue, **changes)
    )
    assert response.status_code == 422 and field in response.context["form"].errors
    assert ReviewQueue.objects.get(pk=queue.pk).reviewers_per_item == 1


def test_edit_refuses_another_queues_name(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    build_queue(project, admin_user, [alice], name="Taken")
    response = signed_in(admin_user, project).post(
        queue_url("queue-edit", queue), settings_post(queue, name="Taken")
    )
    assert response.status_code == 422 and "already exists" in str(response.context["form"].errors["name"])


def test_archiving_hides_the_queue_and_restoring_brings_it_back(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    admin = signed_in(admin_user, project)
    assert admin.post(queue_url("queue-archive", queue)).status_code == 302
    assert ReviewQueue.objects.get(pk=queue.pk).is_archived
    assert signed_in(alice, project).get(work_url(queue)).status_code == 404
    listing = admin.get(page_url("queue-list", project)).content.decode()
    assert "Restore" in listing and queue_url("queue-edit", queue) in listing
    assert admin.post(queue_url("queue-archive", queue), {"archived": "0"}).status_code == 302
    assert signed_in(alice, project).get(work_url(queue)).status_code == 200


def test_reviewers_get_403_on_edit_and_archive(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    client = signed_in(alice, project)
    assert client.get(queue_url("queue-edit", queue)).status_code == 403
    assert client.post(queue_url("queue-edit", queue), settings_post(queue, name="x")).status_code == 403
    assert client.post(queue_url("queue-archive", queue)).status_code == 403
    queue.refresh_from_db()
    assert (queue.name, queue.is_archived) == ("Weekly review", False)
    detail = client.get(queue_url("queue-detail", queue)).content.decode()
    assert queue_url("queue-edit", queue) not in detail


def test_another_projects_admin_gets_404_on_edit_and_archive(
    project, other_project, admin_user, alice, outsider
):
    queue = build_queue(project, admin_user, [alice])
    theirs = build_queue(other_project, outsider, [outsider], name="theirs")
    client = signed_in(outsider, other_project)
    for project_id in (queue.project_id, other_project.pk):  # not a member; not the queue's project
        assert client.get(page_url("queue-edit", project_id, queue.pk)).status_code == 404
        assert client.post(page_url("queue-archive", project_id, queue.pk)).status_code == 404
    assert not ReviewQueue.objects.get(pk=queue.pk).is_archived
    assert client.get(queue_url("queue-edit", theirs)).status_code == 200  # control


# Admin, the staff link, the favicon --------------------------------------------------------------


def test_django_admin_edits_the_hold_in_minutes(project, admin_user, alice, django_user_model):
    queue = build_queue(project, admin_user, [alice])
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client = signed_in(root, project)
    url = reverse("admin:evaluations_reviewqueue_change", args=[queue.pk])
    page = client.get(url).content.decode()
    assert 'name="hold_minutes"' in page and 'value="10"' in page and 'name="hold_seconds"' not in page
    body = {"name": queue.name, "description": "", "hold_minutes": "15", "allow_partial": "on",
            "items-TOTAL_FORMS": "3", "items-INITIAL_FORMS": "3", "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for index, item in enumerate(queue.items.order_by("position")):
        body[f"items-{index}-id"] = str(item.pk)
        body[f"items-{index}-queue"] = str(queue.pk)
    response = client.post(url, body)
    assert response.status_code == 302, response.content.decode()[:2000]
    queue.refresh_from_db()
    assert (queue.hold_seconds, queue.allow_partial) == (900, True)


def test_staff_see_a_link_to_the_admin_and_every_page_has_a_favicon(project, admin_user, alice):
    admin_user.is_staff = True
    admin_user.save()
    staff_page = signed_in(admin_user, project).get(page_url("queue-list", project)).content.decode()
    reviewer_page = signed_in(alice, project).get(page_url("queue-list", project)).content.decode()
    assert f'href="{reverse("admin:index")}"' in staff_page
    assert f'href="{reverse("admin:index")}"' not in reviewer_page
    assert 'rel="icon"' in reviewer_page
    response = signed_in(alice, project).get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
