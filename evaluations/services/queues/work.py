"""A reviewer's work in a queue: hold an item, claim the next one, skip one, save their answers.

Holds are claimed under a lock on the item row (`select_for_update`; on SQLite the IMMEDIATE
transaction serializes writers), and the capacity is re-checked under that lock, so two reviewers
can never both take an item that has room for one.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from evaluations.models import (
    ItemReview,
    NotApplicableScore,
    ReviewQueue,
    ReviewQueueItem,
    ScoreConfig,
    ScoreSource,
    TraceScore,
)
from evaluations.selectors import queues as queue_selectors
from pandaprobe.errors import PermissionDenied
from pandaprobe.projects.access import ProjectAccess

from ..scores import trace_score_create, trace_score_delete, trace_score_update

# How many candidates a reviewer tries when others win the race for the first ones.
CLAIM_ATTEMPTS = 20


def _others_busy(item: ReviewQueueItem, reviewer, now: datetime) -> int:
    active = ItemReview.objects.filter(item=item).filter(queue_selectors.active_reviews_q(now))
    return active.exclude(reviewer=reviewer).count()


def _lock_item(item: ReviewQueueItem) -> None:
    # Serializes every hold and submit on this item until the surrounding transaction ends.
    ReviewQueueItem.objects.select_for_update().filter(pk=item.pk).values_list("pk").first()


def queue_item_hold(
    *, queue: ReviewQueue, item: ReviewQueueItem, reviewer, now: datetime | None = None
) -> bool:
    """Reserve `item` for `reviewer` for the queue's hold time; False when others fill it.

    A reviewer holds one item per queue at a time (opening another releases the previous one).
    An item the reviewer already finished needs no hold: they may always reopen it to revise.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_item(item)
        mine = ItemReview.objects.filter(item=item, reviewer=reviewer).first()
        done = mine is not None and mine.status == ItemReview.Status.DONE
        if not done and _others_busy(item, reviewer, now) >= queue.reviewers_per_item:
            return False
        held = ItemReview.objects.filter(item__queue=queue, reviewer=reviewer, status=ItemReview.Status.HELD)
        held.exclude(item=item).update(held_until=now)
        if done:
            return True
        ItemReview.objects.update_or_create(
            item=item,
            reviewer=reviewer,
            defaults={
                "status": ItemReview.Status.HELD,
                "held_until": now + timedelta(seconds=queue.hold_seconds),
            },
        )
    return True


def queue_next_item_claim(
    *, queue: ReviewQueue, reviewer, now: datetime | None = None, exclude: ReviewQueueItem | None = None
) -> ReviewQueueItem | None:
    """Hold and return the reviewer's next item: the first by position they have not done, with
    fewer than N reviews done and room among the holders; items they skipped come last, the
    longest-skipped first, and `exclude` (the one just skipped) not at all. None when nothing is left."""
    now = now or timezone.now()
    candidates = queue_selectors.workable_items(queue=queue, reviewer=reviewer, now=now).select_related(
        "trace"
    )
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude.pk)
    for item in candidates[:CLAIM_ATTEMPTS]:
        if queue_item_hold(queue=queue, item=item, reviewer=reviewer, now=now):
            return item
    return None


def queue_item_skip(
    *, access: ProjectAccess, queue: ReviewQueue, item: ReviewQueueItem, now: datetime | None = None
) -> None:
    """Give the item back: the reviewer's hold ends at once, so others may take it, and it comes last
    among the reviewer's own next items. An item the reviewer already finished stays done."""
    now = now or timezone.now()
    reviewer = access.user
    if not queue.reviewers.filter(pk=reviewer.pk).exists():
        raise PermissionDenied("You are not a reviewer of this queue")
    with transaction.atomic():
        _lock_item(item)
        mine = ItemReview.objects.filter(item=item, reviewer=reviewer).first()
        if mine is not None and mine.status == ItemReview.Status.DONE:
            return
        ItemReview.objects.update_or_create(
            item=item,
            reviewer=reviewer,
            defaults={"status": ItemReview.Status.SKIPPED, "held_until": None, "skipped_at": now},
        )


def _score_one(
    *,
    access: ProjectAccess,
    queue: ReviewQueue,
    item: ReviewQueueItem,
    config: ScoreConfig,
    value: str | None,
    reason: str | None,
    existing: TraceScore | None,
) -> None:
    if existing is not None:
        metadata = {**(existing.metadata or {}), "review_queue_id": str(queue.pk)}
        trace_score_update(
            access=access, score=existing, changes={"value": value, "reason": reason, "metadata": metadata}
        )
        return
    trace_score_create(
        access=access,
        trace_id=item.trace_id,
        name=config.name,
        value=value,
        data_type=config.data_type,
        source=ScoreSource.ANNOTATION,
        reason=reason,
        metadata={"review_queue_id": str(queue.pk)},
        config=config,
    )


def _check_may_submit(*, queue: ReviewQueue, item: ReviewQueueItem, reviewer, now: datetime) -> None:
    if not queue.reviewers.filter(pk=reviewer.pk).exists():
        raise PermissionDenied("You are not a reviewer of this queue")
    mine = ItemReview.objects.filter(item=item, reviewer=reviewer).first()
    if mine is not None and mine.status == ItemReview.Status.DONE:
        return
    if _others_busy(item, reviewer, now) >= queue.reviewers_per_item:
        raise ValidationError({"item": "this item was taken by another reviewer after your hold expired"})


@dataclass(frozen=True)
class ReviewInput:
    """A reviewer's answers on an item, by config name: raw values, a comment per score (its
    reason), and the configs marked N/A."""

    values: dict[str, str | None]
    comments: dict[str, str | None] = field(default_factory=dict)
    not_applicable: frozenset[str] = frozenset()

    def value_of(self, config: ScoreConfig) -> str | None:
        return str(self.values.get(config.name) or "").strip() or None

    def comment_of(self, config: ScoreConfig) -> str | None:
        return (self.comments.get(config.name) or "").strip() or None


def _not_applicable(
    *, access: ProjectAccess, config: ScoreConfig, value: str | None, existing: TraceScore | None
) -> None:
    if value:
        raise ValidationError({config.name: "give a value or mark it N/A, not both"})
    if existing is not None:  # an N/A replaces the reviewer's earlier score of this config
        trace_score_delete(access=access, score=existing)


def _check_blank(*, queue: ReviewQueue, config: ScoreConfig, comment: str | None) -> None:
    if not queue.allow_partial:
        raise ValidationError({config.name: "a value is required (or mark it N/A)"})
    if comment:
        raise ValidationError({config.name: "a comment goes with a value or an N/A"})


def _save_config(
    *,
    access: ProjectAccess,
    queue: ReviewQueue,
    item: ReviewQueueItem,
    config: ScoreConfig,
    given: ReviewInput,
    existing: TraceScore | None,
) -> None:
    """Save the reviewer's answer for one config: a score, an N/A, or (when allowed) nothing."""
    value, comment = given.value_of(config), given.comment_of(config)
    if config.name in given.not_applicable:
        _not_applicable(access=access, config=config, value=value, existing=existing)
    elif not value:
        _check_blank(queue=queue, config=config, comment=comment)
    else:
        try:
            _score_one(
                access=access,
                queue=queue,
                item=item,
                config=config,
                value=value,
                reason=comment,
                existing=existing,
            )
        except ValidationError as exc:
            raise ValidationError({config.name: exc.messages}) from None


def _mark_done(
    *, item: ReviewQueueItem, reviewer, configs: list[ScoreConfig], given: ReviewInput, now: datetime
) -> ItemReview:
    review, _ = ItemReview.objects.update_or_create(
        item=item,
        reviewer=reviewer,
        defaults={"status": ItemReview.Status.DONE, "held_until": None, "completed_at": now},
    )
    review.not_applicable_marks.all().delete()
    NotApplicableScore.objects.bulk_create(
        NotApplicableScore(review=review, config=config, comment=given.comment_of(config) or "")
        for config in configs
        if config.name in given.not_applicable
    )
    return review


def queue_item_review_submit(
    *,
    access: ProjectAccess,
    queue: ReviewQueue,
    item: ReviewQueueItem,
    given: ReviewInput,
    now: datetime | None = None,
) -> ItemReview:
    """Save the reviewer's answer for every score config of the queue, then mark their review done.

    Each value becomes a score through `trace_score_create` (source ANNOTATION, author the reviewer,
    its comment as the reason), or `trace_score_update` when the reviewer already scored that name
    on the trace; each writes its history event. A config marked N/A gets no score (an earlier one of
    the reviewer's is deleted, with its history) and is recorded on the review. A blank config is
    refused unless the queue allows partial reviews. All in one transaction: any error raises
    ValidationError keyed by config name and nothing is saved.
    """
    now = now or timezone.now()
    configs = queue_selectors.queue_score_configs(queue=queue)
    with transaction.atomic():
        _lock_item(item)
        _check_may_submit(queue=queue, item=item, reviewer=access.user, now=now)
        existing = queue_selectors.reviewer_scores_for_trace(
            project=access.project,
            trace_id=item.trace_id,
            reviewer=access.user,
            names=[c.name for c in configs],
        )
        errors: dict[str, list[str]] = {}
        for config in configs:
            try:
                _save_config(
                    access=access, queue=queue, item=item, config=config, given=given,
                    existing=existing.get(config.name),
                )  # fmt: skip
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            # Raising inside the atomic block rolls back the scores already written above.
            raise ValidationError(errors)
        return _mark_done(item=item, reviewer=access.user, configs=configs, given=given, now=now)
