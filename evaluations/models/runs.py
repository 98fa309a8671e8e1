"""Evaluation runs and their per-target work items."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from pandaprobe.projects.models import Project


class EvalTargetType(models.TextChoices):
    TRACE = "TRACE"
    SESSION = "SESSION"


class EvalRunStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class EvalRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="eval_runs")
    name = models.CharField(max_length=255, null=True, blank=True)
    target_type = models.CharField(max_length=8, choices=EvalTargetType.choices, default=EvalTargetType.TRACE)
    status = models.CharField(max_length=16, choices=EvalRunStatus.choices, default=EvalRunStatus.PENDING)
    metric_names = models.JSONField(default=list)
    filters = models.JSONField(default=dict, blank=True)
    sampling_rate = models.FloatField(default=1.0)
    seed = models.BigIntegerField(null=True, blank=True)
    model = models.CharField(max_length=255, null=True, blank=True)
    # Options of the kind of run (session runs: signal weights).
    options = models.JSONField(default=dict, blank=True)
    monitor_id = models.UUIDField(null=True, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    total_targets = models.PositiveIntegerField(default=0)
    evaluated_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    judge_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    # Calls whose price litellm did not know: `cost` then covers only the others.
    unpriced_calls = models.PositiveIntegerField(default=0)
    error_message = models.TextField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "target_type", "-created_at"], name="eval_run_project")]

    def __str__(self) -> str:
        return f"{self.name or self.pk} ({self.status})"


class EvalTargetStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class EvalTarget(models.Model):
    """One target of a run: a trace (or a session) and the metrics still to score on it."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="targets")
    # Ids, not foreign keys: a trace deleted mid-run makes its item finish empty, not vanish uncounted.
    trace_id = models.UUIDField(null=True, blank=True)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    # A retry scores only the metrics that failed on this target; None means the run's metrics.
    metric_names = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=EvalTargetStatus.choices, default=EvalTargetStatus.PENDING)
    # While RUNNING, the worker holds the item until then; after it, the reaper may hand it out again.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a message for it was last sent: the reaper sends again only what has waited a full lease.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "status"], name="eval_target_run_status")]
        constraints = [
            models.UniqueConstraint(fields=["run", "trace_id"], name="uniq_eval_target_trace"),
            models.UniqueConstraint(fields=["run", "session_id"], name="uniq_eval_target_session"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id or self.session_id} in {self.run_id} ({self.status})"
