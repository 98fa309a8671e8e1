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
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import QueryDict

from pandaprobe.errors import get_or_not_found
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Project
from pandaprobe.traces.models import Trace
from pandaprobe.traces.selectors import traces_of

from ..models import ItemReview, NotApplicableScore, ReviewQueue, ReviewQueueItem, ScoreConfig, TraceScore
from .annotations import explorer_traces

DONE = ItemReview.Status.DONE
HELD = ItemReview.Status.HELD
SKIPPED = ItemReview.Status.SKIPPED


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated COUNT(*) of `queryset` (already filtered on an OuterRef), 0 when empty."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _done_reviews() -> Coalesce:
    """How many reviews of the outer item are done: the one definition behind every "items done"
    (an item is done when this reaches the queue's reviewers_per_item) on every page."""
    return _count(ItemReview.objects.filter(item=OuterRef("pk"), status=DONE), "item")


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
    done_items = ReviewQueueItem.objects.filter(queue=OuterRef("pk")).alias(d=_done_reviews())
    mine = ItemReview.objects.filter(_reviewer_done_q(), item__queue=OuterRef("pk"), reviewer=access.user)
    assignments = ReviewQueue.reviewers.through.objects
    return (
        queues_visible(access=access)
        .annotate(
            total_items=_count(ReviewQueueItem.objects.filter(queue=OuterRef("pk")), "queue"),
            done_items=_count(done_items.filter(d__gte=OuterRef("reviewers_per_item")), "queue"),
            my_done=_count(mine, "item__queue"),
            # A subquery, not Count("reviewers"): a reviewer's list filters on that join, which would
            # then count only them.
            reviewer_count=_count(assignments.filter(reviewqueue_id=OuterRef("pk")), "reviewqueue_id"),
            is_reviewer=Exists(assignments.filter(reviewqueue_id=OuterRef("pk"), user_id=access.user.pk)),
        )
        .order_by("-created_at")
    )


def queue_get(*, access: ProjectAccess, queue_id) -> ReviewQueue:
    """A queue the user may see (404 otherwise, also for another project's queue)."""
    return get_or_not_found(queues_visible(access=access), "Queue not found", pk=queue_id)


def queue_get_for_manage(*, access: ProjectAccess, queue_id) -> ReviewQueue:
    """A queue of the project an admin may edit, archived ones included (403 for reviewers, 404
    for another project's queue)."""
    access.require(Action.QUEUE_MANAGE, "Only project admins can manage review queues")
    return get_or_not_found(
        ReviewQueue.objects.filter(project=access.project), "Queue not found", pk=queue_id
    )


def archived_queues(*, access: ProjectAccess) -> QuerySet:
    """The project's archived queues, for admins (none for reviewers)."""
    if not is_queue_admin(access):
        return ReviewQueue.objects.none()
    return ReviewQueue.objects.filter(project=access.project, is_archived=True).order_by("-created_at")


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
    skipped = reviews.filter(reviewer=reviewer, status=SKIPPED).values("skipped_at")[:1]
    return ReviewQueueItem.objects.filter(queue=queue).annotate(
        busy_others=_count(reviews.filter(active_reviews_q(now)).exclude(reviewer=reviewer), "item"),
        mine_done=Exists(reviews.filter(reviewer=reviewer, status=DONE)),
        mine_skipped_at=Subquery(skipped),
    )


def workable_items(*, queue: ReviewQueue, reviewer, now: datetime) -> QuerySet:
    """Items the reviewer has not done and may take (fewer than N others busy on it): by position,
    then the ones they skipped, longest-skipped first."""
    return (
        _with_reviewer_state(queue, reviewer, now)
        .filter(mine_done=False, busy_others__lt=queue.reviewers_per_item)
        .order_by(F("mine_skipped_at").asc(nulls_first=True), "position")
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


def not_applicable_marks(*, item: ReviewQueueItem, reviewer) -> dict:
    """The configs the reviewer marked N/A on the item: config id -> their comment."""
    marks = NotApplicableScore.objects.filter(review__item=item, review__reviewer=reviewer)
    return dict(marks.values_list("config_id", "comment"))


def reviewer_scores_for_trace(
    *, project: Project, trace_id, reviewer, names: list[str]
) -> dict[str, TraceScore]:
    """The reviewer's own newest score of each name on the trace (what a re-save updates)."""
    scores = TraceScore.objects.filter(project=project, trace_id=trace_id, author=reviewer, name__in=names)
    latest: dict[str, TraceScore] = {}
    for score in scores.order_by("name", "-created_at"):
        latest.setdefault(score.name, score)
    return latest


def _reviewer_done_q() -> Q:
    return Q(status=DONE)


def reviewer_done_count(*, queue: ReviewQueue, reviewer) -> int:
    """Items the reviewer finished in the queue (counted as in `queue_progress` and the list)."""
    return ItemReview.objects.filter(_reviewer_done_q(), item__queue=queue, reviewer=reviewer).count()


@dataclass(frozen=True)
class ReviewerProgress:
    reviewer: object
    done: int
    holding: int
    share: int  # percent of the queue's reviews (items x reviewers_per_item) this reviewer did
    assigned: bool = True


@dataclass(frozen=True)
class QueueProgress:
    """Counts that add up: each done review is one reviewer's, so the reviewers' `done` sum to
    `reviews_done`, and an item is done once it has reviewers_per_item of them."""

    total: int
    done: int  # items with reviewers_per_item done reviews
    in_progress: int  # items with at least one done or actively held review, not yet done
    reviews_needed: int  # total x reviewers_per_item
    reviewers: list[ReviewerProgress]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def reviews_done(self) -> int:
        return sum(row.done for row in self.reviewers)


def _item_totals(queue: ReviewQueue, now: datetime) -> dict:
    active = _count(ItemReview.objects.filter(active_reviews_q(now), item=OuterRef("pk")), "item")
    counts = ReviewQueueItem.objects.filter(queue=queue).alias(d=_done_reviews(), a=active)
    return counts.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(d__gte=queue.reviewers_per_item)),
        in_progress=Count("pk", filter=Q(a__gt=0, d__lt=queue.reviewers_per_item)),
    )


def _reviewer_rows(queue: ReviewQueue, now: datetime, reviews_needed: int) -> list[ReviewerProgress]:
    """One row per assigned reviewer, then anyone taken off the queue who still has reviews done."""
    counts = {
        row["reviewer"]: row
        for row in ItemReview.objects.filter(item__queue=queue)
        .values("reviewer")
        .annotate(
            done=Count("pk", filter=_reviewer_done_q()),
            holding=Count("pk", filter=Q(status=HELD, held_until__gt=now)),
        )
    }
    with_done = [pk for pk, row in counts.items() if row["done"]]
    assignment = ReviewQueue.reviewers.through.objects.filter(reviewqueue_id=queue.pk, user_id=OuterRef("pk"))
    users = (
        get_user_model()
        .objects.annotate(assigned=Exists(assignment))
        .filter(Q(assigned=True) | Q(pk__in=with_done))
        .order_by("username")
    )
    rows = []
    for user in users:
        row = counts.get(user.pk, {"done": 0, "holding": 0})
        share = round(100 * row["done"] / reviews_needed) if reviews_needed else 0
        rows.append(ReviewerProgress(user, row["done"], row["holding"], share, assigned=user.assigned))
    return rows


def queue_progress(*, queue: ReviewQueue, now: datetime) -> QueueProgress:
    """Done/total for the queue and, for each reviewer, items done, held and their share (3 queries)."""
    totals = _item_totals(queue, now)
    needed = totals["total"] * queue.reviewers_per_item
    return QueueProgress(
        total=totals["total"],
        done=totals["done"],
        in_progress=totals["in_progress"],
        reviews_needed=needed,
        reviewers=_reviewer_rows(queue, now, needed),
    )


def queue_items_with_state(*, queue: ReviewQueue, now: datetime) -> QuerySet:
    """The queue's items by position with their trace, done reviews and active holds (one query)."""
    held = ItemReview.objects.filter(item=OuterRef("pk"), status=HELD, held_until__gt=now)
    return (
        ReviewQueueItem.objects.filter(queue=queue)
        .select_related("trace")
        .annotate(done_reviews=_done_reviews(), holders=_count(held, "item"))
        .order_by("position")
    )


def project_members(*, project: Project) -> QuerySet:
    """Users who may be assigned to a project's queues: its members."""
    return get_user_model().objects.filter(memberships__project=project, is_active=True).order_by("username")


def assignable_score_configs(*, project: Project) -> QuerySet:
    return ScoreConfig.objects.filter(project=project, is_archived=False).order_by("name")


def traces_for_queue(*, project: Project, params: QueryDict) -> QuerySet:
    """The traces the explorer's filter (`explorer_params`) selects, oldest first: the order a queue
    built from it is reviewed in. A ValidationError naming each bad parameter."""
    params = params.copy()
    params.setlist("sort_by", ["started_at"])
    params.setlist("sort_order", ["asc"])
    return explorer_traces(project=project, params=params)


def trace_ids_from_filter(*, project: Project, params: QueryDict, limit: int) -> list[UUID]:
    """The first `limit` ids of `traces_for_queue`."""
    return list(traces_for_queue(project=project, params=params).values_list("pk", flat=True)[:limit])


def traces_found(*, project: Project, trace_ids: list[UUID]) -> set[UUID]:
    """Which of these ids are traces of the project."""
    return set(traces_of(project).filter(pk__in=trace_ids).values_list("pk", flat=True))


def queued_trace_ids(*, queue: ReviewQueue, trace_ids) -> set[UUID]:
    """Which of these traces the queue already holds."""
    items = ReviewQueueItem.objects.filter(queue=queue, trace_id__in=list(trace_ids))
    return set(items.values_list("trace_id", flat=True))


def queue_size(*, queue: ReviewQueue) -> tuple[int, int]:
    """The queue's number of items and its last position (0 when empty)."""
    totals = ReviewQueueItem.objects.filter(queue=queue).aggregate(count=Count("pk"), last=Max("position"))
    return totals["count"], totals["last"] or 0


def open_queues(*, access: ProjectAccess) -> QuerySet:
    """The project's open queues by name, for an admin to add traces to (none for reviewers)."""
    if not is_queue_admin(access):
        return ReviewQueue.objects.none()
    return (
        ReviewQueue.objects.filter(project=access.project, is_archived=False)
        .only("id", "name")
        .order_by("name")
    )


def traces_in_order(*, project: Project, trace_ids: list[UUID]) -> list[Trace]:
    """The project's traces with these ids in the given order; unknown ids name the field."""
    found = {t.pk: t for t in traces_of(project).filter(pk__in=trace_ids)}
    missing = [str(tid) for tid in trace_ids if tid not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise ValidationError({"trace_ids": f"no such trace in this project: {shown}"})
    return [found[tid] for tid in trace_ids]
