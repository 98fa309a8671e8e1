import uuid

from django.contrib.postgres.indexes import GinIndex
from django.db import models

from pandaprobe.projects.models import Project

from .lookups import PayloadJSONField, TagListField


class TagsIndex(GinIndex):
    """The `tags` filter's index: GIN on PostgreSQL, whose default jsonb operator class serves the
    `?|` of `tags__any_of`. Other databases have no GIN; they get a plain index (unused, harmless),
    so one model and one migration serve both."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return models.Index.create_sql(self, model, schema_editor, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class TraceStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"


class SpanKind(models.TextChoices):
    AGENT = "AGENT"
    TOOL = "TOOL"
    LLM = "LLM"
    RETRIEVER = "RETRIEVER"
    CHAIN = "CHAIN"
    EMBEDDING = "EMBEDDING"
    OTHER = "OTHER"


class SpanStatus(models.TextChoices):
    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


class Trace(models.Model):
    """One agent run. `trace_id` is the client's id and unique across projects.

    `latency_ms`, `span_count`, the token counts and `total_cost` are kept by the ingestion service
    so lists, sorts and session aggregates never have to read spans.
    """

    trace_id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # Found by the (project, ...) indexes below; an index of its own would only cost inserts.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces", db_index=False)
    name = models.CharField(max_length=512)
    status = models.CharField(max_length=16, choices=TraceStatus.choices, default=TraceStatus.COMPLETED)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    tags = TagListField(default=list, blank=True)
    environment = models.CharField(max_length=255, null=True, blank=True)
    release = models.CharField(max_length=255, null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    span_count = models.IntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    # Kept like total_tokens so the token analytics read traces only: summed from the spans, a
    # 30-day chart over 1,000,000 traces joined a span each (benchmarks/bench_ops_analytics.py).
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_cost = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # `latency_ms` included: the analytics' percentiles read it from the index alone (an
            # index-only scan of the window), not from a million heap pages.
            models.Index(
                fields=["project", "-started_at"], name="trace_project_started", include=["latency_ms"]
            ),
            models.Index(fields=["project", "session_id", "started_at"], name="trace_project_session"),
            models.Index(fields=["project", "user_id"], name="trace_project_user"),
            models.Index(fields=["project", "status", "-started_at"], name="trace_project_status"),
            models.Index(fields=["project", "environment"], name="trace_project_env"),
            TagsIndex(fields=["tags"], name="trace_tags"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.trace_id})"


class Span(models.Model):
    """A step of a trace. Parents are referenced by id only: children may arrive first."""

    id = models.BigAutoField(primary_key=True)
    # Found by `uniq_span_per_trace` (trace, span_id); an index of its own would only cost inserts.
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans", db_index=False)
    span_id = models.UUIDField()
    parent_span_id = models.UUIDField(null=True, blank=True)
    name = models.CharField(max_length=512)
    kind = models.CharField(max_length=16, choices=SpanKind.choices, default=SpanKind.OTHER)
    status = models.CharField(max_length=8, choices=SpanStatus.choices, default=SpanStatus.UNSET)
    input = PayloadJSONField(null=True, blank=True)
    output = PayloadJSONField(null=True, blank=True)
    model = models.CharField(max_length=255, null=True, blank=True)
    token_usage = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    completion_start_time = models.DateTimeField(null=True, blank=True)
    model_parameters = models.JSONField(null=True, blank=True)
    cost = models.JSONField(null=True, blank=True)
    total_tokens = models.BigIntegerField(default=0)
    # The first prompt/completion pair of token_usage (`span_token_split`); 0 when none is given.
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_cost = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trace", "span_id"], name="uniq_span_per_trace")]
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class TraceHourStats(models.Model):
    """The project's traces that started in one UTC hour in one environment, summed: what the
    operations analytics add up instead of reading every trace (`analytics/selectors/operations.py`).
    The row with model "" counts the traces themselves; a row with a model counts the calls, tokens
    and cost of that model's spans in those traces (the top models), and only those.

    Kept exact by every service that writes traces, in its own transaction (`rollup.py`: a trace's
    contribution is added, subtracted on delete, and swapped for its new one on a merge), and rebuilt
    from the traces by `trace_rollup_rebuild` (`manage.py rebuild_trace_rollup`) after writes that
    bypass the services (a SQL bulk load). A row left counting nothing is deleted.
    """

    id = models.BigAutoField(primary_key=True)
    # Found by `trace_hour_stats_key` (project, ...); an index of its own would only cost writes.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    # The trace's environment, "" for none (a unique key treats NULLs as distinct: no upsert).
    environment = models.CharField(max_length=255, blank=True, default="")
    model = models.CharField(max_length=255, blank=True, default="")
    # The traces' row: traces, errors, and those with a latency (ended ones) with their sum (for the
    # average; percentiles cannot be summed).
    trace_count = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)
    latency_count = models.BigIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0.0)
    # A model's row: its spans.
    call_count = models.BigIntegerField(default=0)
    # Both: the traces' totals, or the model's spans'.
    total_tokens = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_cost = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "hour", "environment", "model"], name="trace_hour_stats_key"
            )
        ]

    def __str__(self) -> str:
        counted = f"{self.call_count} {self.model} calls" if self.model else f"{self.trace_count} traces"
        return f"{counted} at {self.hour:%Y-%m-%d %H:00} UTC ({self.environment or 'no environment'})"
