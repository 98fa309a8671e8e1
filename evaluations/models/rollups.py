"""Per-hour aggregates of scores, kept by the score services, read by the score analytics."""

from django.db import models

from pandaprobe.projects.models import Project

from .scores import ScoreEvent


class ScoreRollup(models.Model):
    """What the scores of one (project, trace or session, name, source, UTC hour) add up to.

    Every score service keeps it in the score's transaction (`evaluations/services/rollups.py`): a
    create adds to its row, an edit, delete or purge recomputes the rows it touched from the scores
    (a row left with no score stays, with `score_count` 0, until a rebuild).
    The analytics summary and trend add rows up instead of reading every score (1,000,000 scores:
    ~19,000 rows; benchmarks/README.md). "Measured" is what enters averages: a SUCCESS score with a
    numeric value. An hour, not a day: the hour trend and a range that starts mid-day need no scores.
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by the unique constraint, which starts with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    target = models.CharField(max_length=8, choices=ScoreEvent.Target.choices)
    name = models.CharField(max_length=255)
    source = models.CharField(max_length=16)
    hour = models.DateTimeField(help_text="Start of the UTC hour of the scores' created_at")
    score_count = models.IntegerField(default=0, help_text="Every score, PENDING ones too")
    success_count = models.IntegerField(default=0)
    failed_count = models.IntegerField(default=0)
    measured_count = models.IntegerField(default=0)
    value_sum = models.FloatField(default=0.0)
    value_min = models.FloatField(null=True, blank=True)
    value_max = models.FloatField(null=True, blank=True)
    latest_score_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of every read: a project's rows (summary), a metric's hours (trend).
            models.UniqueConstraint(
                fields=["project", "target", "name", "source", "hour"], name="uniq_score_rollup"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.name} {self.source} {self.hour:%Y-%m-%d %H}:00: {self.score_count}"
