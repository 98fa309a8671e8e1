"""Reads for review queues: which queues a user sees, which item a reviewer gets next, progress.

Every query starts from the access's project. An item is "busy" for a reviewer when the reviews
of *other* reviewers that are done or actively held (held_until > now) reach the queue's
reviewers_per_item; the reviewer's own hold never blocks them.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from pandaprobe.errors import get_or_not_found
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Project
from pandaprobe.traces.models import Trace
from pandaprobe.traces.selectors import trace_list, traces_of

from ..models import ItemReview, ReviewQueue, ReviewQueueItem, ScoreConfig, TraceScore

DONE = ItemReview.Status.DONE
HELD = ItemReview.Status.HELD


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated COUNT(*) of `queryset` (already filtered on an OuterRef), 0 when empty."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def active_reviews_q(now: datetime) -> Q:
    """Reviews that occupy an item: done, or held and not yet expired."""
    return Q(status=DONE) | Q(status=HELD, held_until__gt=now)


def is_queue_admin(access: ProjectAccess) -> bool:
    return access.can(Action.QUEUE_MANAGE)


def queues_visible(*, access: ProjectAccess) -> QuerySet:
    """Admins see every open queue of the project; reviewers only the queues they are assigned to."""
    queues = ReviewQueue.objects.filter(project=access.project, is_archived=False)
    if is_queue_admin(access):
        return queues
    return queues.filter(reviewers=access.user)


def queue_list(*, access: ProjectAccess) -> QuerySet:
    """Visible queues with item totals, items done (N reviews done), the user's own done count and
    whether they are one of its reviewers."""
    done_reviews = _count(ItemReview.objects.filter(item=OuterRef("pk"), status=DONE), "item")
    done_items = ReviewQueueItem.objects.filter(queue=OuterRef("pk")).alias(d=done_reviews)
    mine = ItemReview.objects.filter(item__queue=OuterRef("pk"), reviewer=access.user, status=DONE)
    assignments = ReviewQueue.reviewers.through.objects
    return (
        queues_visible(access=access)
        .annotate(
            total_items=_count(ReviewQueueItem.objects.filter(queue=OuterRef("pk")), "queue"),
            done_items=_count(done_items.filter(d__gte=OuterRef("reviewers_per_item")), "queue"),
            my_done=_count(mine, "item__queue"),
            reviewer_count=Count("reviewers", distinct=True),
            is_reviewer=Exists(assignments.filter(reviewqueue_id=OuterRef("pk"), user_id=access.user.pk)),
        )
        .order_by("-created_at")
    )


def queue_get(*, access: ProjectAccess, queue_id) -> ReviewQueue:
    """A queue the user may see (404 otherwise, also for another project's queue)."""
    return get_or_not_found(queues_visible(access=access), "Queue not found", pk=queue_id)


def queue_get_for_work(*, access: ProjectAccess, queue_id) -> ReviewQueue:
    """A queue the user is assigned to review (404 otherwise, admins included)."""
    queues = ReviewQueue.objects.filter(project=access.project, is_archived=False, reviewers=access.user)
    return get_or_not_found(queues, "Queue not found", pk=queue_id)


def queue_item_get(*, queue: ReviewQueue, item_id) -> ReviewQueueItem:
    items = ReviewQueueItem.objects.filter(queue=queue).select_related("trace")
    return get_or_not_found(items, "Queue item not found", pk=item_id)


def queue_score_configs(*, queue: ReviewQueue) -> list[ScoreConfig]:
    return list(queue.score_configs.order_by("name"))


def _with_reviewer_state(queue: ReviewQueue, reviewer, now: datetime) -> QuerySet:
    reviews = ItemReview.objects.filter(item=OuterRef("pk"))
    return ReviewQueueItem.objects.filter(queue=queue).annotate(
        busy_others=_count(reviews.filter(active_reviews_q(now)).exclude(reviewer=reviewer), "item"),
        mine_done=Exists(reviews.filter(reviewer=reviewer, status=DONE)),
    )


def workable_items(*, queue: ReviewQueue, reviewer, now: datetime) -> QuerySet:
    """Items, by position, the reviewer has not done and may take: fewer than N others busy on it."""
    return (
        _with_reviewer_state(queue, reviewer, now)
        .filter(mine_done=False, busy_others__lt=queue.reviewers_per_item)
        .order_by("position")
    )


def openable_items(*, queue: ReviewQueue, reviewer, now: datetime) -> QuerySet:
    """What j/k may move to: workable items plus the ones the reviewer already did (to revise)."""
    return (
        _with_reviewer_state(queue, reviewer, now)
        .filter(Q(mine_done=True) | Q(busy_others__lt=queue.reviewers_per_item))
        .order_by("position")
    )


def item_neighbours(*, queue: ReviewQueue, reviewer, item: ReviewQueueItem, now: datetime) -> dict:
    """The openable items just before and after `item` (None at either end)."""
    items = openable_items(queue=queue, reviewer=reviewer, now=now)
    return {
        "previous": items.filter(position__lt=item.position).order_by("-position").first(),
        "next": items.filter(position__gt=item.position).first(),
    }


def item_review_of(*, item: ReviewQueueItem, reviewer) -> ItemReview | None:
    return ItemReview.objects.filter(item=item, reviewer=reviewer).first()


def reviewer_scores_for_trace(
    *, project: Project, trace_id, reviewer, names: list[str]
) -> dict[str, TraceScore]:
    """The reviewer's own newest score of each name on the trace (what a re-save updates)."""
    scores = TraceScore.objects.filter(project=project, trace_id=trace_id, author=reviewer, name__in=names)
    latest: dict[str, TraceScore] = {}
    for score in scores.order_by("name", "-created_at"):
        latest.setdefault(score.name, score)
    return latest


def reviewer_done_count(*, queue: ReviewQueue, reviewer) -> int:
    return ItemReview.objects.filter(item__queue=queue, reviewer=reviewer, status=DONE).count()


@dataclass(frozen=True)
class ReviewerProgress:
    reviewer: object
    done: int
    holding: int


@dataclass(frozen=True)
class QueueProgress:
    total: int
    done: int  # items with reviewers_per_item done reviews
    in_progress: int  # items with at least one done or actively held review, not yet done
    reviewers: list[ReviewerProgress]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def queue_progress(*, queue: ReviewQueue, now: datetime) -> QueueProgress:
    """Done/total for the queue and, for each assigned reviewer, items done and held (3 queries)."""
    reviews = ItemReview.objects.filter(item=OuterRef("pk"))
    counts = ReviewQueueItem.objects.filter(queue=queue).alias(
        d=_count(reviews.filter(status=DONE), "item"), a=_count(reviews.filter(active_reviews_q(now)), "item")
    )
    totals = counts.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(d__gte=queue.reviewers_per_item)),
        in_progress=Count("pk", filter=Q(a__gt=0, d__lt=queue.reviewers_per_item)),
    )
    per_reviewer = {
        row["reviewer"]: row
        for row in ItemReview.objects.filter(item__queue=queue)
        .values("reviewer")
        .annotate(
            done=Count("pk", filter=Q(status=DONE)),
            holding=Count("pk", filter=Q(status=HELD, held_until__gt=now)),
        )
    }
    reviewers = [
        ReviewerProgress(
            reviewer=user,
            done=per_reviewer.get(user.pk, {}).get("done", 0),
            holding=per_reviewer.get(user.pk, {}).get("holding", 0),
        )
        for user in queue.reviewers.order_by("username")
    ]
    return QueueProgress(
        total=totals["total"], done=totals["done"], in_progress=totals["in_progress"], reviewers=reviewers
    )


def project_members(*, project: Project) -> QuerySet:
    """Users who may be assigned to a project's queues: its members."""
    return get_user_model().objects.filter(memberships__project=project, is_active=True).order_by("username")


def assignable_score_configs(*, project: Project) -> QuerySet:
    return ScoreConfig.objects.filter(project=project, is_archived=False).order_by("name")


def trace_ids_from_filter(*, project: Project, params, limit: int) -> list[UUID]:
    """The first `limit` trace ids the trace filter selects, in its order (422 on a bad filter)."""
    return list(trace_list(project=project, params=params).values_list("pk", flat=True)[:limit])


def traces_in_order(*, project: Project, trace_ids: list[UUID]) -> list[Trace]:
    """The project's traces with these ids in the given order; unknown ids name the field."""
    found = {t.pk: t for t in traces_of(project).filter(pk__in=trace_ids)}
    missing = [str(tid) for tid in trace_ids if tid not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise ValidationError({"trace_ids": f"no such trace in this project: {shown}"})
    return [found[tid] for tid in trace_ids]
