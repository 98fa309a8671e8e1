"""Writes for review queues: build a queue, hold an item for a reviewer, save a reviewer's scores.

Holds are claimed under a lock on the item row (`select_for_update`; on SQLite the IMMEDIATE
transaction serializes writers), and the capacity is re-checked under that lock, so two reviewers
can never both take an item that has room for one.
"""

from datetime import datetime, timedelta
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from evaluations.models import ItemReview, ReviewQueue, ReviewQueueItem, ScoreConfig, ScoreSource, TraceScore
from evaluations.selectors import queues as queue_selectors
from pandaprobe.errors import PermissionDenied
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Membership

from .scores import trace_score_create, trace_score_update

MAX_QUEUE_ITEMS = 5000
MIN_HOLD_SECONDS = 30
MAX_HOLD_SECONDS = 24 * 3600
# How many candidates a reviewer tries when others win the race for the first ones.
CLAIM_ATTEMPTS = 20


def _check_queue_fields(
    *, access: ProjectAccess, name: str, reviewers_per_item: int, hold_seconds: int
) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a queue name is required"})
    if len(name) > ReviewQueue._meta.get_field("name").max_length:
        raise ValidationError({"name": "must be at most 255 characters"})
    if ReviewQueue.objects.filter(project=access.project, name=name).exists():
        raise ValidationError({"name": f"a queue named '{name}' already exists in this project"})
    if not MIN_HOLD_SECONDS <= hold_seconds <= MAX_HOLD_SECONDS:
        raise ValidationError({"hold_seconds": f"must be between {MIN_HOLD_SECONDS} and {MAX_HOLD_SECONDS}"})
    if reviewers_per_item < 1:
        raise ValidationError({"reviewers_per_item": "must be at least 1"})
    return name


def _check_configs(*, access: ProjectAccess, score_configs: list[ScoreConfig]) -> None:
    if not score_configs:
        raise ValidationError({"score_configs": "pick at least one score config"})
    for config in score_configs:
        if config.project_id != access.project.pk or config.is_archived:
            raise ValidationError(
                {"score_configs": f"'{config.name}' is not an open score config of this project"}
            )


def _check_reviewers(*, access: ProjectAccess, reviewers: list, reviewers_per_item: int) -> None:
    if not reviewers:
        raise ValidationError({"reviewers": "pick at least one reviewer"})
    member_ids = set(
        Membership.objects.filter(project=access.project, user__in=reviewers).values_list(
            "user_id", flat=True
        )
    )
    strangers = [user.get_username() for user in reviewers if user.pk not in member_ids]
    if strangers:
        raise ValidationError({"reviewers": f"not members of this project: {', '.join(strangers)}"})
    if reviewers_per_item > len(reviewers):
        raise ValidationError(
            {"reviewers_per_item": f"cannot exceed the number of reviewers picked ({len(reviewers)})"}
        )


def _unique_ids(trace_ids: list[UUID]) -> list[UUID]:
    ids = list(dict.fromkeys(trace_ids))
    if not ids:
        raise ValidationError({"trace_ids": "the queue would be empty: select at least one trace"})
    if len(ids) > MAX_QUEUE_ITEMS:
        raise ValidationError({"trace_ids": f"at most {MAX_QUEUE_ITEMS} traces per queue"})
    return ids


def review_queue_create(
    *,
    access: ProjectAccess,
    name: str,
    score_configs: list[ScoreConfig],
    reviewers: list,
    trace_ids: list[UUID],
    description: str = "",
    reviewers_per_item: int = 1,
    hold_seconds: int = 600,
) -> ReviewQueue:
    """Build a queue of the project's traces, in the order given (duplicates dropped).

    Only project admins may; reviewers must be project members, and reviewers_per_item cannot
    exceed their number (an item could never be finished). Bad input raises ValidationError
    naming the field; nothing is stored unless everything is.
    """
    access.require(Action.QUEUE_MANAGE, "Only project admins can create review queues")
    name = _check_queue_fields(
        access=access, name=name, reviewers_per_item=reviewers_per_item, hold_seconds=hold_seconds
    )
    _check_configs(access=access, score_configs=score_configs)
    _check_reviewers(access=access, reviewers=reviewers, reviewers_per_item=reviewers_per_item)
    traces = queue_selectors.traces_in_order(project=access.project, trace_ids=_unique_ids(trace_ids))
    with transaction.atomic():
        try:
            with transaction.atomic():
                queue = ReviewQueue.objects.create(
                    project=access.project,
                    name=name,
                    description=description.strip(),
                    reviewers_per_item=reviewers_per_item,
                    hold_seconds=hold_seconds,
                    created_by=access.user,
                )
        except IntegrityError:  # another admin took the name since the check above
            raise ValidationError(
                {"name": f"a queue named '{name}' already exists in this project"}
            ) from None
        queue.score_configs.set(score_configs)
        queue.reviewers.set(reviewers)
        ReviewQueueItem.objects.bulk_create(
            ReviewQueueItem(queue=queue, trace=trace, position=index) for index, trace in enumerate(traces, 1)
        )
    return queue


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
    *, queue: ReviewQueue, reviewer, now: datetime | None = None
) -> ReviewQueueItem | None:
    """Hold and return the reviewer's next item: the first by position they have not done, with
    fewer than N reviews done and room among the holders. None when nothing is left for them."""
    now = now or timezone.now()
    candidates = queue_selectors.workable_items(queue=queue, reviewer=reviewer, now=now).select_related(
        "trace"
    )
    for item in candidates[:CLAIM_ATTEMPTS]:
        if queue_item_hold(queue=queue, item=item, reviewer=reviewer, now=now):
            return item
    return None


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


def queue_item_review_submit(
    *,
    access: ProjectAccess,
    queue: ReviewQueue,
    item: ReviewQueueItem,
    values: dict[str, str | None],
    reason: str | None = None,
    now: datetime | None = None,
) -> ItemReview:
    """Save the reviewer's value for every score config of the queue, then mark their review done.

    `values` maps a config's name to the raw value. Each score goes through `trace_score_create`
    (source ANNOTATION, author the reviewer), or `trace_score_update` when the reviewer already
    scored that name on the trace; each writes its history event. All in one transaction: any bad
    value raises ValidationError keyed by config name and nothing is saved.
    """
    now = now or timezone.now()
    reviewer = access.user
    configs = queue_selectors.queue_score_configs(queue=queue)
    reason = (reason or "").strip() or None
    with transaction.atomic():
        _lock_item(item)
        _check_may_submit(queue=queue, item=item, reviewer=reviewer, now=now)
        existing = queue_selectors.reviewer_scores_for_trace(
            project=access.project, trace_id=item.trace_id, reviewer=reviewer, names=[c.name for c in configs]
        )
        errors: dict[str, list[str]] = {}
        for config in configs:
            value = values.get(config.name)
            if value is None or not str(value).strip():
                errors[config.name] = ["a value is required"]
                continue
            try:
                _score_one(
                    access=access,
                    queue=queue,
                    item=item,
                    config=config,
                    value=value,
                    reason=reason,
                    existing=existing.get(config.name),
                )
            except ValidationError as exc:
                errors[config.name] = exc.messages
        if errors:
            # Raising inside the atomic block rolls back the scores already written above.
            raise ValidationError(errors)
        review, _ = ItemReview.objects.update_or_create(
            item=item,
            reviewer=reviewer,
            defaults={"status": ItemReview.Status.DONE, "held_until": None, "completed_at": now},
        )
    return review
