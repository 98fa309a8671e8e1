"""Building review queues: create one from the project's traces, edit its settings, archive it."""

from dataclasses import dataclass
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evaluations.models import ReviewQueue, ReviewQueueItem, ScoreConfig
from evaluations.selectors import queues as queue_selectors
from pandaprobe.errors import NotFound
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Membership

MAX_QUEUE_ITEMS = 5000
MIN_HOLD_SECONDS = 30
MAX_HOLD_SECONDS = 24 * 3600


def _check_queue_fields(
    *, access: ProjectAccess, name: str, reviewers_per_item: int, hold_seconds: int, queue_id=None
) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a queue name is required"})
    if len(name) > ReviewQueue._meta.get_field("name").max_length:
        raise ValidationError({"name": "must be at most 255 characters"})
    if ReviewQueue.objects.filter(project=access.project, name=name).exclude(pk=queue_id).exists():
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


def _name_taken(name: str) -> ValidationError:
    return ValidationError({"name": f"a queue named '{name}' already exists in this project"})


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
    allow_partial: bool = False,
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
                    allow_partial=allow_partial,
                    created_by=access.user,
                )
        except IntegrityError:  # another admin took the name since the check above
            raise _name_taken(name) from None
        queue.score_configs.set(score_configs)
        queue.reviewers.set(reviewers)
        ReviewQueueItem.objects.bulk_create(
            ReviewQueueItem(queue=queue, trace=trace, position=index) for index, trace in enumerate(traces, 1)
        )
    return queue


@dataclass(frozen=True)
class QueueItemsAdded:
    """What `review_queue_items_add` did with each id it was given."""

    added: int
    already_queued: int
    not_found: int  # not a trace of the project: left out


def review_queue_items_add(
    *, access: ProjectAccess, queue: ReviewQueue, trace_ids: list[UUID]
) -> QueueItemsAdded:
    """Append the project's traces with these ids to an open queue, after its last item and in the
    order given; traces already in it are skipped, ids of no trace of the project left out (never
    added). Only project admins may; a ValidationError naming `queue` for an archived queue and
    `trace_ids` when the queue would pass `MAX_QUEUE_ITEMS`."""
    access.require(Action.QUEUE_MANAGE, "Only project admins can add traces to review queues")
    if queue.project_id != access.project.pk:
        raise NotFound("Queue not found")
    ids = list(dict.fromkeys(trace_ids))
    found = queue_selectors.traces_found(project=access.project, trace_ids=ids)
    with transaction.atomic():
        # The queue's row lock orders concurrent additions: each numbers its items after the other's.
        queue = ReviewQueue.objects.select_for_update().get(pk=queue.pk)
        if queue.is_archived:
            raise ValidationError({"queue": f"'{queue.name}' is archived: restore it to add traces"})
        queued = queue_selectors.queued_trace_ids(queue=queue, trace_ids=found)
        new = [trace_id for trace_id in ids if trace_id in found and trace_id not in queued]
        count, last = queue_selectors.queue_size(queue=queue)
        if count + len(new) > MAX_QUEUE_ITEMS:
            raise ValidationError(
                {"trace_ids": f"at most {MAX_QUEUE_ITEMS} traces per queue ({count} already)"}
            )
        ReviewQueueItem.objects.bulk_create(
            ReviewQueueItem(queue=queue, trace_id=trace_id, position=last + index)
            for index, trace_id in enumerate(new, 1)
        )
    return QueueItemsAdded(added=len(new), already_queued=len(queued), not_found=len(ids) - len(found))


def review_queue_update(
    *,
    access: ProjectAccess,
    queue: ReviewQueue,
    name: str,
    score_configs: list[ScoreConfig],
    reviewers: list,
    description: str = "",
    reviewers_per_item: int = 1,
    hold_seconds: int = 600,
    allow_partial: bool = False,
) -> ReviewQueue:
    """Change a queue's settings, configs and reviewers; its items stay. Same rules as
    `review_queue_create`. Scores and reviews already given stay, also those of a reviewer or a
    config taken off the queue (progress still counts them)."""
    access.require(Action.QUEUE_MANAGE, "Only project admins can edit review queues")
    name = _check_queue_fields(
        access=access,
        name=name,
        reviewers_per_item=reviewers_per_item,
        hold_seconds=hold_seconds,
        queue_id=queue.pk,
    )
    _check_configs(access=access, score_configs=score_configs)
    _check_reviewers(access=access, reviewers=reviewers, reviewers_per_item=reviewers_per_item)
    queue.name, queue.description = name, (description or "").strip()
    queue.reviewers_per_item, queue.hold_seconds = reviewers_per_item, hold_seconds
    queue.allow_partial = allow_partial
    with transaction.atomic():
        try:
            with transaction.atomic():
                queue.save()
        except IntegrityError:
            raise _name_taken(name) from None
        queue.score_configs.set(score_configs)
        queue.reviewers.set(reviewers)
    return queue


def review_queue_archive(*, access: ProjectAccess, queue: ReviewQueue, archived: bool = True) -> ReviewQueue:
    """Archive a queue (it leaves every list and its work page; nothing is deleted) or restore it."""
    access.require(Action.QUEUE_MANAGE, "Only project admins can archive review queues")
    ReviewQueue.objects.filter(pk=queue.pk, project=access.project).update(is_archived=archived)
    queue.is_archived = archived
    return queue
