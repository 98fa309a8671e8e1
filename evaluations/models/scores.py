"""Scores, their configs and their edit history."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pandaprobe.projects.models import ApiKey, Project
from pandaprobe.traces.models import Trace


class ScoreDataType(models.TextChoices):
    NUMERIC = "NUMERIC"
    BOOLEAN = "BOOLEAN"
    CATEGORICAL = "CATEGORICAL"


class ScoreSource(models.TextChoices):
    AUTOMATED = "AUTOMATED"  # the LLM judge
    ANNOTATION = "ANNOTATION"  # a human reviewer
    PROGRAMMATIC = "PROGRAMMATIC"  # external code through the API or SDK


class ScoreStatus(models.TextChoices):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PENDING = "PENDING"


class ScoreConfig(models.Model):
    """A project's named score definition (what Langfuse calls a score config)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="score_configs")
    name = models.CharField(max_length=255)
    data_type = models.CharField(max_length=16, choices=ScoreDataType.choices, default=ScoreDataType.NUMERIC)
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    # NUMERIC only: values lie on a grid of this spacing from min_value (else from 0); None: any value.
    step = models.FloatField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True, default="")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_score_config_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.data_type})"


class ScoreFields(models.Model):
    """What trace and session scores share. `numeric_value` is the value as a number (NUMERIC, and
    BOOLEAN as 1/0) so analytics aggregate in the database."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Foreign keys are indexed in `Meta.indexes` (see `score_indexes`), not one index each.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False)
    name = models.CharField(max_length=255)
    value = models.TextField(null=True, blank=True)
    numeric_value = models.FloatField(null=True, blank=True)
    data_type = models.CharField(max_length=16, choices=ScoreDataType.choices, default=ScoreDataType.NUMERIC)
    source = models.CharField(max_length=16, choices=ScoreSource.choices, default=ScoreSource.ANNOTATION)
    status = models.CharField(max_length=16, choices=ScoreStatus.choices, default=ScoreStatus.SUCCESS)
    # The run that made it (the judge's scores); the column is `eval_run_id` as in the API. Indexed by
    # `<prefix>_run` (only where set) and, per target, by the one-score-per-run unique constraint.
    eval_run = models.ForeignKey(
        "EvalRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        db_column="eval_run_id", db_index=False,
    )  # fmt: skip
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reason = models.TextField(null=True, blank=True)
    config = models.ForeignKey(
        ScoreConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    @property
    def author_user_id(self) -> str | None:
        return str(self.author_id) if self.author_id is not None else None


def score_indexes(prefix: str) -> list[models.Index]:
    """What trace and session scores are both found by; every insert pays for each of these.

    Each is here because a query uses it (tests/test_indexes.py; plans at 1M scores:
    benchmarks/bench_score_queries.py): the lists, newest first, by project, by name, by run;
    deleting a user or a config finds its scores by `author` and `config`. Columns many scores leave
    empty are indexed only where set: the judge's scores have no author and skip that index.
    PostgreSQL reads a (project, ...) index for `project_id = x` alone, so `project` has no index of
    its own.
    """
    return [
        models.Index(fields=["project", "-created_at"], name=f"{prefix}_project_created"),
        # Covering: the analytics trend and distribution (and the summary's pass over every score)
        # read a metric's scores from the index alone, never the table.
        models.Index(
            fields=["project", "name", "-created_at"],
            name=f"{prefix}_project_name",
            include=["numeric_value", "status", "source"],
        ),
        # A metric's measured values in order: the summary's median reads the middle one or two
        # (an exact median over a million scores took seconds as `percentile_cont`).
        models.Index(
            fields=["project", "name", "numeric_value"],
            name=f"{prefix}_project_value",
            include=["created_at", "source"],
            condition=Q(status=ScoreStatus.SUCCESS, numeric_value__isnull=False),
        ),
        models.Index(
            fields=["eval_run", "-created_at"],
            name=f"{prefix}_run",
            condition=Q(eval_run__isnull=False),
        ),
        models.Index(fields=["author"], name=f"{prefix}_author", condition=Q(author__isnull=False)),
        models.Index(fields=["config"], name=f"{prefix}_config", condition=Q(config__isnull=False)),
    ]


class TraceScore(ScoreFields):
    # Indexed by `tscore_trace_name`: a trace's scores (and deleting a trace) need no other index.
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="scores", db_index=False)
    environment = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            *score_indexes("tscore"),
            # A trace's latest score per name, list badges, "has/missing score", the trace filter.
            # A trace id is unique across projects: `project` would only make the index bigger.
            models.Index(fields=["trace", "name", "-created_at"], name="tscore_trace_name"),
            # Judge-vs-human agreement: each side's latest measured score per (trace, author), read in
            # this order (DISTINCT ON without a sort) and merge-joined on the trace. At 100,000 pairs
            # the two sorts of ~100,000 rows each took most of the query (benchmarks/README.md).
            models.Index(
                fields=["project", "name", "source", "trace", "author", "-created_at", "-id"],
                name="tscore_agreement",
                include=["numeric_value"],
                condition=Q(status=ScoreStatus.SUCCESS, numeric_value__isnull=False),
            ),
            # Low-cardinality filters: an index only finds the rare values fast, so it holds only
            # those; the judge's usual score (AUTOMATED, SUCCESS, NUMERIC) is in none of them.
            models.Index(
                fields=["project", "source", "-created_at"],
                name="tscore_project_source",
                condition=~Q(source=ScoreSource.AUTOMATED),
            ),
            models.Index(
                fields=["project", "status", "-created_at"],
                name="tscore_project_status",
                condition=~Q(status=ScoreStatus.SUCCESS),
            ),
            models.Index(
                fields=["project", "data_type", "-created_at"],
                name="tscore_project_dtype",
                condition=~Q(data_type=ScoreDataType.NUMERIC),
            ),
        ]
        constraints = [
            # One judge score per (run, trace, metric), whatever the workers do.
            models.UniqueConstraint(
                fields=["eval_run", "trace", "name"],
                condition=models.Q(eval_run__isnull=False),
                name="uniq_tscore_run_trace_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} on {self.trace_id}"


class SessionScore(ScoreFields):
    session_id = models.CharField(max_length=255)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            *score_indexes("sscore"),
            # A session id is unique only within its project. Covering for the session leaderboard
            # (each session's latest score of a metric: `-id` breaks created_at ties, as NEWEST_FIRST
            # does), read from the index alone in window order with no sort.
            models.Index(
                fields=["project", "session_id", "name", "-created_at", "-id"],
                name="sscore_session_name",
                include=["numeric_value", "eval_run"],
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["eval_run", "session_id", "name"],
                condition=models.Q(eval_run__isnull=False),
                name="uniq_sscore_run_session_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} on session {self.session_id}"


class ScoreEvent(models.Model):
    """Append-only edit history of every score, trace or session, whatever made it.

    It keeps the score's id, not a foreign key, so a deleted score's history stays readable.
    """

    class Target(models.TextChoices):
        TRACE = "TRACE"
        SESSION = "SESSION"

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    id = models.BigAutoField(primary_key=True)
    # Foreign keys are indexed in `Meta.indexes`, not one index each.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    target = models.CharField(max_length=8, choices=Target.choices, default=Target.TRACE)
    score_id = models.UUIDField()
    trace_id = models.UUIDField(null=True, blank=True)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    score_name = models.CharField(max_length=255)
    action = models.CharField(max_length=8, choices=Action.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    actor_label = models.CharField(max_length=255)
    old_value = models.TextField(null=True, blank=True)
    new_value = models.TextField(null=True, blank=True)
    old_reason = models.TextField(null=True, blank=True)
    new_reason = models.TextField(null=True, blank=True)
    old_source = models.CharField(max_length=16, null=True, blank=True)
    new_source = models.CharField(max_length=16, null=True, blank=True)
    old_status = models.CharField(max_length=16, null=True, blank=True)
    new_status = models.CharField(max_length=16, null=True, blank=True)
    old_metadata = models.JSONField(null=True, blank=True)
    new_metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # A score's history; also what deleting a project finds its events by.
            models.Index(fields=["project", "score_id", "created_at"], name="score_event_score"),
            # The history panels of a trace page and a session page (every score of the subject).
            models.Index(
                fields=["trace_id", "created_at"],
                name="score_event_trace",
                condition=Q(trace_id__isnull=False),
            ),
            models.Index(
                fields=["project", "session_id", "created_at"],
                name="score_event_session",
                condition=Q(session_id__isnull=False),
            ),
            # Deleting a user or an API key sets their events' actor to NULL; the judge's have none.
            models.Index(
                fields=["actor_user"], name="score_event_user", condition=Q(actor_user__isnull=False)
            ),
            models.Index(
                fields=["actor_api_key"], name="score_event_api_key", condition=Q(actor_api_key__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.score_name} by {self.actor_label}"
