"""Review queues: a fixed list of traces that assigned reviewers score item by item."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from pandaprobe.projects.models import Project
from pandaprobe.traces.models import Trace

from .scores import ScoreConfig

# Review queues ------------------------------------------------------------------------------------
# A queue is a fixed list of traces that assigned reviewers score item by item with the queue's
# score configs. Scores themselves are ordinary TraceScores (source ANNOTATION) written through the
# score services; these models only track who holds and who has done which item.


class ReviewQueue(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_queues")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    score_configs = models.ManyToManyField(ScoreConfig, related_name="review_queues")
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_queues")
    # How many reviewers must finish an item before it counts as done.
    reviewers_per_item = models.PositiveSmallIntegerField(default=1)
    # How long an opened item stays reserved for its reviewer before others may take it.
    hold_seconds = models.PositiveIntegerField(default=600)
    # Whether a reviewer may finish an item with some scores left blank (neither valued nor N/A).
    allow_partial = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    is_archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_review_queue_name")]

    def __str__(self) -> str:
        return self.name


class ReviewQueueItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="items")
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["queue", "position"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "trace"], name="uniq_queue_item_trace"),
            models.UniqueConstraint(fields=["queue", "position"], name="uniq_queue_item_position"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.trace_id}"


class ItemReview(models.Model):
    """One reviewer's work on one queue item: held while open (until `held_until`), then done, or
    skipped (back in the pool; it comes last among the reviewer's next items).

    N/A is not a value: a config the reviewer marked not applicable has no score from them on the
    trace and is listed in `not_applicable`, so analytics never average a made-up number.
    """

    class Status(models.TextChoices):
        HELD = "held"
        DONE = "done"
        SKIPPED = "skipped"

    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(ReviewQueueItem, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.HELD)
    held_until = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    not_applicable = models.ManyToManyField(
        ScoreConfig, through="NotApplicableScore", blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="uniq_item_review_reviewer")]
        indexes = [models.Index(fields=["item", "status", "held_until"], name="item_review_state")]

    def __str__(self) -> str:
        return f"{self.reviewer_id} {self.status} {self.item_id}"


class NotApplicableScore(models.Model):
    """A score config a reviewer marked N/A on an item, with their comment saying why."""

    review = models.ForeignKey(ItemReview, on_delete=models.CASCADE, related_name="not_applicable_marks")
    config = models.ForeignKey(ScoreConfig, on_delete=models.CASCADE, related_name="+")
    comment = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "config"], name="uniq_not_applicable")]

    def __str__(self) -> str:
        return f"N/A {self.config_id} on {self.review_id}"


# Evaluation runs ----------------------------------------------------------------------------------
# A run evaluates a set of targets (traces, or sessions) with judge metrics. It is split into one work
# item per target, so several worker processes share a run; each item is claimed with a conditional
# update and a lease, and the database allows one score per (run, target, metric), so a redelivered
# message or a killed worker never scores twice.
