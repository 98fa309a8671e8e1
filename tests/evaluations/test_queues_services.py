"""Review queues, service and selector level: building, next item, holds, saving, progress."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.http import QueryDict
from django.utils import timezone

from evaluations.models import ItemReview, ScoreEvent, ScoreSource, TraceScore
from evaluations.selectors import queues as queue_selectors
from evaluations.services.queues import (
    ReviewInput,
    queue_item_hold,
    queue_item_review_submit,
    queue_next_item_claim,
    review_queue_create,
)
from pandaprobe.errors import PermissionDenied
from pandaprobe.traces.models import TraceStatus

from ..factories import TraceFactory
from .queue_factories import GOOD_VALUES, access_of, build_queue, member, score_configs


def _submit(queue, item, user, values=None, comments=None, not_applicable=(), **kwargs):
    given = ReviewInput(
        values=values or GOOD_VALUES, comments=comments or {}, not_applicable=frozenset(not_applicable)
    )
    return queue_item_review_submit(
        access=access_of(user, queue.project), queue=queue, item=item, given=given, **kwargs
    )


# Building ----------------------------------------------------------------------------------------


def test_build_from_filter_keeps_only_matching_traces_in_filter_order(project, admin_user, alice):
    errors = [TraceFactory(project=project, status=TraceStatus.ERROR) for _ in range(3)]
    TraceFactory(project=project, status=TraceStatus.COMPLETED)
    params = QueryDict(mutable=True)
    params.update({"status": "ERROR", "sort_by": "started_at", "sort_order": "asc"})

    ids = queue_selectors.trace_ids_from_filter(project=project, params=params, limit=10)
    queue = review_queue_create(
        access=access_of(admin_user, project),
        name="Errors",
        score_configs=score_configs(project),
        reviewers=[alice],
        trace_ids=ids,
    )

    items = list(queue.items.order_by("position"))
    expected = sorted(errors, key=lambda t: t.started_at)
    assert [i.trace_id for i in items] == [t.pk for t in expected]
    assert [i.position for i in items] == [1, 2, 3]


def test_build_from_filter_respects_the_limit_and_rejects_a_bad_filter(project):
    for _ in range(4):
        TraceFactory(project=project)
    assert len(queue_selectors.trace_ids_from_filter(project=project, params=QueryDict(""), limit=2)) == 2
    with pytest.raises(ValidationError) as exc:
        queue_selectors.trace_ids_from_filter(project=project, params=QueryDict("status=NOPE"), limit=2)
    assert "status" in exc.value.message_dict


def test_build_from_selection_keeps_order_and_drops_duplicates(project, admin_user, alice):
    a, b, c = (TraceFactory(project=project) for _ in range(3))
    queue = build_queue(project, admin_user, [alice], traces=[c, a, c, b])
    assert list(queue.items.order_by("position").values_list("trace_id", flat=True)) == [c.pk, a.pk, b.pk]
    assert set(queue.reviewers.all()) == {alice}
    assert queue.score_configs.count() == 3
    assert queue.created_by == admin_user


def test_selection_with_another_projects_trace_is_refused_and_nothing_is_stored(
    project, other_project, admin_user, alice
):
    mine, theirs = TraceFactory(project=project), TraceFactory(project=other_project)
    with pytest.raises(ValidationError) as exc:
        build_queue(project, admin_user, [alice], traces=[mine, theirs])
    assert "trace_ids" in exc.value.message_dict
    assert str(theirs.pk) in exc.value.message_dict["trace_ids"][0]
    assert not project.review_queues.exists()


def test_only_admins_can_create_a_queue(project, reviewer, alice):
    with pytest.raises(PermissionDenied):
        build_queue(project, reviewer, [alice])
    assert not project.review_queues.exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "  "}, "name"),
        ({"reviewers_per_item": 3}, "reviewers_per_item"),
        ({"reviewers_per_item": 0}, "reviewers_per_item"),
        ({"hold_seconds": 5}, "hold_seconds"),
        ({"configs": []}, "score_configs"),
        ({"reviewers": []}, "reviewers"),
        ({"traces": []}, "trace_ids"),
    ],
)
def test_bad_queue_input_names_the_field(project, admin_user, alice, bob, options, field):
    reviewers = options.pop("reviewers", [alice, bob])
    with pytest.raises(ValidationError) as exc:
        build_queue(project, admin_user, reviewers, **options)
    assert field in exc.value.message_dict
    assert not project.review_queues.exists()


def test_reviewers_and_configs_must_belong_to_the_project(
    project, other_project, admin_user, alice, outsider
):
    with pytest.raises(ValidationError) as exc:
        build_queue(project, admin_user, [alice, outsider])
    assert "outsider" in exc.value.message_dict["reviewers"][0]
    with pytest.raises(ValidationError) as exc:
        build_queue(project, admin_user, [alice], configs=score_configs(other_project))
    assert "score_configs" in exc.value.message_dict


def test_duplicate_queue_name_is_refused(project, admin_user, alice):
    build_queue(project, admin_user, [alice], name="Q")
    with pytest.raises(ValidationError) as exc:
        build_queue(project, admin_user, [alice], name="Q")
    assert "name" in exc.value.message_dict


# Visibility --------------------------------------------------------------------------------------


def test_reviewer_sees_only_assigned_queues_admin_sees_all(project, admin_user, alice, bob):
    mine = build_queue(project, admin_user, [alice], name="for alice")
    build_queue(project, admin_user, [bob], name="for bob")
    assert [q.name for q in queue_selectors.queue_list(access=access_of(alice, project))] == [mine.name]
    assert {q.name for q in queue_selectors.queue_list(access=access_of(admin_user, project))} == {
        "for alice",
        "for bob",
    }


# Next item and holds -----------------------------------------------------------------------------


def test_next_item_is_first_by_position_and_held_for_the_reviewer(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    now = timezone.now()
    item = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    assert item.position == 1
    review = ItemReview.objects.get(item=item, reviewer=alice)
    assert review.status == ItemReview.Status.HELD
    assert review.held_until == now + timedelta(seconds=queue.hold_seconds)
    # Asking again gives the same item back (the reviewer's own hold does not block them).
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=now) == item


def test_two_reviewers_never_hold_the_same_item_with_one_reviewer_per_item(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    now = timezone.now()
    first = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    second = queue_next_item_claim(queue=queue, reviewer=bob, now=now)
    assert (first.position, second.position) == (1, 2)
    assert queue_item_hold(queue=queue, item=first, reviewer=bob, now=now) is False
    assert not ItemReview.objects.filter(item=first, reviewer=bob).exists()


def test_a_hold_expires_and_the_item_goes_to_the_next_reviewer(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob], hold_seconds=60)
    start = timezone.now()
    item = queue_next_item_claim(queue=queue, reviewer=alice, now=start)
    assert queue_next_item_claim(queue=queue, reviewer=bob, now=start + timedelta(seconds=59)).position == 2
    later = start + timedelta(seconds=61)
    assert queue_item_hold(queue=queue, item=item, reviewer=bob, now=later) is True
    # Bob moved to item 1, which released his hold on item 2: that is the first free one for alice.
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=later).position == 2
    assert queue_next_item_claim(queue=queue, reviewer=bob, now=later).position == 1


def test_opening_another_item_releases_the_previous_hold(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    now = timezone.now()
    first = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    second = queue.items.get(position=2)
    assert queue_item_hold(queue=queue, item=second, reviewer=alice, now=now)
    assert queue_next_item_claim(queue=queue, reviewer=bob, now=now) == first


def test_two_reviewers_per_item_let_both_do_the_same_item(project, admin_user, alice, bob):
    carol = member(project, "carol")
    queue = build_queue(project, admin_user, [alice, bob, carol], reviewers_per_item=2)
    now = timezone.now()
    a = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    b = queue_next_item_claim(queue=queue, reviewer=bob, now=now)
    assert a == b
    assert queue_next_item_claim(queue=queue, reviewer=carol, now=now).position == 2  # two holders: full
    _submit(queue, a, alice, now=now)
    _submit(queue, b, bob, now=now)
    assert ItemReview.objects.filter(item=a, status=ItemReview.Status.DONE).count() == 2
    assert TraceScore.objects.filter(trace_id=a.trace_id).count() == 6
    progress = queue_selectors.queue_progress(queue=queue, now=now)
    assert (progress.done, progress.total) == (1, 3)


def test_done_items_are_skipped_and_none_is_returned_when_all_done(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice], n_traces=2)
    now = timezone.now()
    for _ in range(2):
        _submit(queue, queue_next_item_claim(queue=queue, reviewer=alice, now=now), alice, now=now)
    assert queue_next_item_claim(queue=queue, reviewer=alice, now=now) is None
    assert ItemReview.objects.filter(item__queue=queue, status=ItemReview.Status.DONE).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_an_item(project, admin_user):
    """Real threads, each with its own connection, race for the first item of a one-reviewer queue."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("in-memory SQLite shares one cache across threads: no real concurrent transactions")
    users = [member(project, f"racer{i}") for i in range(4)]
    queue = build_queue(project, admin_user, users, n_traces=4)
    barrier, claimed, failures = threading.Barrier(len(users)), {}, []

    def claim(user):
        try:
            barrier.wait()
            claimed[user.username] = queue_next_item_claim(queue=queue, reviewer=user).position
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(claimed.values()) == [1, 2, 3, 4]


# Saving ------------------------------------------------------------------------------------------


def test_save_creates_annotation_scores_by_the_reviewer_with_history(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    review = _submit(queue, item, alice, comments={"tone": "looks fine"})

    assert review.status == ItemReview.Status.DONE and review.completed_at is not None
    scores = {s.name: s for s in TraceScore.objects.filter(trace_id=item.trace_id)}
    assert {n: s.value for n, s in scores.items()} == GOOD_VALUES
    assert {s.source for s in scores.values()} == {ScoreSource.ANNOTATION}
    assert {s.author for s in scores.values()} == {alice}
    assert scores["quality"].numeric_value == pytest.approx(0.7)
    assert scores["correct"].numeric_value == 1.0
    assert scores["tone"].config.name == "tone"
    assert scores["tone"].reason == "looks fine"
    assert scores["quality"].reason is None and scores["correct"].reason is None  # one comment per score
    assert scores["tone"].metadata == {"review_queue_id": str(queue.pk)}
    events = ScoreEvent.objects.filter(trace_id=item.trace_id)
    assert sorted(events.values_list("score_name", "action", "actor_label")) == [
        ("correct", "create", "alice"),
        ("quality", "create", "alice"),
        ("tone", "create", "alice"),
    ]


def test_saving_again_updates_the_reviewers_own_scores(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    _submit(queue, item, alice)
    assert queue_item_hold(queue=queue, item=item, reviewer=alice) is True  # reopen a done item
    _submit(queue, item, alice, values={**GOOD_VALUES, "quality": "0.2", "correct": "FALSE"})

    scores = {s.name: s for s in TraceScore.objects.filter(trace_id=item.trace_id)}
    assert len(scores) == 3 and TraceScore.objects.filter(trace_id=item.trace_id).count() == 3
    assert (scores["quality"].value, scores["correct"].value) == ("0.2", "false")
    updates = ScoreEvent.objects.filter(trace_id=item.trace_id, action="update")
    assert updates.count() == 3
    assert updates.get(score_name="quality").old_value == "0.7"


@pytest.mark.parametrize(
    ("bad", "field"),
    [({"quality": "1.5"}, "quality"), ({"tone": "sarcastic"}, "tone"), ({"correct": ""}, "correct")],
)
def test_a_bad_value_saves_nothing(project, admin_user, alice, bad, field):
    queue = build_queue(project, admin_user, [alice])
    item = queue_next_item_claim(queue=queue, reviewer=alice)
    with pytest.raises(ValidationError) as exc:
        _submit(queue, item, alice, values={**GOOD_VALUES, **bad})
    assert list(exc.value.message_dict) == [field]
    assert not TraceScore.objects.exists()
    assert not ScoreEvent.objects.exists()
    assert ItemReview.objects.get(item=item, reviewer=alice).status == ItemReview.Status.HELD


def test_cannot_submit_an_item_another_reviewer_took_after_the_hold_expired(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob], hold_seconds=60)
    start = timezone.now()
    item = queue_next_item_claim(queue=queue, reviewer=alice, now=start)
    assert queue_item_hold(queue=queue, item=item, reviewer=bob, now=start + timedelta(seconds=90))
    with pytest.raises(ValidationError) as exc:
        _submit(queue, item, alice, now=start + timedelta(seconds=95))
    assert "item" in exc.value.message_dict
    assert not TraceScore.objects.exists()


def test_a_reviewer_not_assigned_cannot_submit(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice])
    item = queue.items.first()
    with pytest.raises(PermissionDenied):
        _submit(queue, item, bob)
    assert not TraceScore.objects.exists()


# Progress ----------------------------------------------------------------------------------------


def test_progress_counts_per_queue_and_per_reviewer(
    project, admin_user, alice, bob, django_assert_max_num_queries
):
    queue = build_queue(project, admin_user, [alice, bob], n_traces=4)
    now = timezone.now()
    for user in (alice, alice, bob):
        _submit(queue, queue_next_item_claim(queue=queue, reviewer=user, now=now), user, now=now)
    queue_next_item_claim(queue=queue, reviewer=bob, now=now)  # bob holds item 4

    with django_assert_max_num_queries(3):
        progress = queue_selectors.queue_progress(queue=queue, now=now)
    assert (progress.done, progress.total, progress.in_progress, progress.percent) == (3, 4, 1, 75)
    assert [(p.reviewer.username, p.done, p.holding) for p in progress.reviewers] == [
        ("alice", 2, 0),
        ("bob", 1, 1),
    ]
    rows = {q.name: q for q in queue_selectors.queue_list(access=access_of(alice, project))}
    assert (rows[queue.name].total_items, rows[queue.name].done_items, rows[queue.name].my_done) == (4, 3, 2)


def test_queue_list_query_count_does_not_grow_with_queues(
    project, admin_user, alice, django_assert_max_num_queries
):
    for i in range(5):
        queue = build_queue(project, admin_user, [alice], name=f"q{i}", n_traces=2)
        _submit(queue, queue_next_item_claim(queue=queue, reviewer=alice), alice)
    access = access_of(admin_user, project)
    with django_assert_max_num_queries(1):
        rows = list(queue_selectors.queue_list(access=access))
    assert [(r.total_items, r.done_items, r.my_done, r.reviewer_count) for r in rows] == [(2, 1, 0, 1)] * 5


def test_reopening_a_done_item_releases_the_hold_on_the_current_one(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    now = timezone.now()
    first = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    _submit(queue, first, alice, now=now)
    second = queue_next_item_claim(queue=queue, reviewer=alice, now=now)
    assert queue_item_hold(queue=queue, item=first, reviewer=alice, now=now) is True
    assert ItemReview.objects.get(item=first, reviewer=alice).status == ItemReview.Status.DONE
    assert queue_next_item_claim(queue=queue, reviewer=bob, now=now) == second
