"""The hourly score rollups stay equal to a recomputation from the scores (done here in Python, not
with the code under test) after every kind of score write: creates of every source, status and data
type, edits that change what is counted and edits that do not, deletes, and purges with a trace, a
session or a run. Random sequences of writes, seeded; SQLite and PostgreSQL. Then the rebuild (the
service, the command, the migration's backfill) and, on PostgreSQL, writers racing each other."""

import importlib
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections
from django.utils import timezone

from evaluations.models import EvalRun, ScoreRollup, SessionScore, TraceScore
from evaluations.services import runs as run_services
from evaluations.services.rollups import hour_of, score_rollup_rebuild
from evaluations.services.scores import score_delete, score_update, trace_score_create, trace_scores_create
from evaluations.services.session_scores import session_score_create
from pandaprobe.errors import NotFound
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.traces import services as trace_services
from tests.factories import SessionScoreFactory, TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NAMES = ("accuracy", "safety")
TARGETS = ((TraceScore, "TRACE"), (SessionScore, "SESSION"))


def recomputed() -> dict:
    """{(project, target, name, source, hour): counts} of every stored score, worked out in Python."""
    rows: dict = defaultdict(lambda: {"n": 0, "success": 0, "failed": 0, "values": [], "latest": None})
    for model, target in TARGETS:
        for score in model.objects.all():
            row = rows[(score.project_id, target, score.name, score.source, hour_of(score.created_at))]
            row["n"] += 1
            row["success"] += score.status == "SUCCESS"
            row["failed"] += score.status == "FAILED"
            if score.status == "SUCCESS" and score.numeric_value is not None:
                row["values"].append(score.numeric_value)
            row["latest"] = max(filter(None, [row["latest"], score.created_at]))
    return {
        key: (row["n"], row["success"], row["failed"], len(row["values"]), min(row["values"], default=None),
              max(row["values"], default=None), row["latest"], pytest.approx(sum(row["values"])))
        for key, row in rows.items()
    }  # fmt: skip


ROLLUP_COLUMNS = ("score_count", "success_count", "failed_count", "measured_count", "value_min", "value_max",
                  "latest_score_at", "value_sum")  # fmt: skip


def stored() -> dict:
    """The rollup rows that count scores; the rows left empty by deletes count nothing at all."""
    empty = ScoreRollup.objects.filter(score_count=0).values_list(*ROLLUP_COLUMNS[:6], "value_sum")
    assert set(empty) <= {(0, 0, 0, 0, None, None, 0.0)}
    rows = ScoreRollup.objects.exclude(score_count=0)
    return {
        (r.project_id, r.target, r.name, r.source, r.hour): tuple(getattr(r, c) for c in ROLLUP_COLUMNS)
        for r in rows
    }


def assert_rollups_match(context="") -> None:
    assert stored() == recomputed(), context


class Clock:
    """`timezone.now` for the services: moves forward by whole minutes, so scores land in many hours."""

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment


class Writer:
    """One random score write per `step`, through the services, in two projects."""

    def __init__(self, rng: random.Random, projects: list, clock: Clock):
        self.rng, self.projects, self.clock = rng, projects, clock
        self.sessions = 0
        self.runs = {project.pk: EvalRun.objects.create(project=project) for project in projects}

    def access(self) -> ProjectAccess:
        return ProjectAccess.system(self.rng.choice(self.projects))

    def trace(self, project):
        traces = list(project.traces.all())
        if not traces or self.rng.random() < 0.2:
            self.sessions += 1
            return TraceFactory(project=project, session_id=f"s-{self.sessions % 4}")
        return self.rng.choice(traces)

    def fields(self, access: ProjectAccess) -> dict:
        kind = self.rng.choice(["numeric", "numeric", "boolean", "label", "failed", "pending"])
        source = self.rng.choice(["AUTOMATED", "ANNOTATION", "PROGRAMMATIC"])
        fields = {"name": self.rng.choice(NAMES), "source": source}
        if self.rng.random() < 0.3:
            fields["eval_run_id"] = self.runs[access.project.pk].pk
        if kind in ("failed", "pending"):
            return {**fields, "value": None, "status": kind.upper(), "reason": "the judge timed out"}
        value = {"numeric": str(self.rng.randint(0, 20) / 20), "boolean": self.rng.choice(["true", "false"]),
                 "label": self.rng.choice(["good", "bad"])}[kind]  # fmt: skip
        data_type = {"numeric": "NUMERIC", "boolean": "BOOLEAN", "label": "CATEGORICAL"}[kind]
        return {**fields, "value": value, "data_type": data_type}

    def create(self) -> str:
        access = self.access()
        fields = self.fields(access)
        trace = self.trace(access.project)
        try:
            if self.rng.random() < 0.3:
                session_score_create(access=access, session_id=trace.session_id, **fields)
                return "create a session score"
            if self.rng.random() < 0.3:  # as the judge stores a trace's metrics: one transaction
                more = self.fields(access)
                trace_scores_create(access=access, trace_id=trace.pk, scores=[fields, more])
                return "create two trace scores at once"
            trace_score_create(access=access, trace_id=trace.pk, **fields)
            return "create a trace score"
        except IntegrityError:  # the run scored this target on this metric already
            return "create a second score of a run: refused, counted nowhere"

    def score(self):
        model = self.rng.choice([TraceScore, SessionScore])
        return model.objects.order_by("?").first()

    def edit(self) -> str:
        score = self.score()
        if score is None:
            return self.create()
        access = ProjectAccess.system(score.project)
        if score.value is not None and self.rng.random() < 0.3:
            score_update(access=access, score=score, changes={"reason": "checked"})  # counted the same
            return "edit the reason"
        value = {"NUMERIC": str(self.rng.randint(0, 20) / 20), "BOOLEAN": self.rng.choice(["true", "false"]),
                 "CATEGORICAL": "fine"}[score.data_type]  # fmt: skip
        score_update(access=access, score=score, changes={"value": value})
        return "edit the value"

    def delete(self) -> str:
        score = self.score()
        if score is None:
            return self.create()
        score_delete(access=ProjectAccess.system(score.project), score=score)
        return "delete a score"

    def purge(self) -> str:
        access = self.access()
        what = self.rng.choice(["trace", "session", "run"])
        if what == "trace" and (trace := access.project.traces.order_by("?").first()):
            trace_services.trace_delete(access=access, trace=trace)
        elif what == "session" and (trace := access.project.traces.order_by("?").first()):
            trace_services.session_delete(access=access, session_id=trace.session_id)
        else:
            run_services.eval_run_delete(access=access, run=self.runs[access.project.pk], delete_scores=True)
            self.runs[access.project.pk] = EvalRun.objects.create(project=access.project)
        return f"purge a {what}"

    def step(self) -> str:
        self.clock.moment += timedelta(minutes=self.rng.choice([0, 1, 7, 45, 70, 600]))
        action = self.rng.choices([self.create, self.edit, self.delete, self.purge], weights=[6, 3, 2, 1])[0]
        return action()


@pytest.mark.parametrize("seed", range(5))
def test_rollups_equal_the_scores_after_every_write(project, other_project, monkeypatch, seed):
    clock = Clock(T0)
    monkeypatch.setattr(timezone, "now", clock.now)
    writer = Writer(random.Random(seed), [project, other_project], clock)
    done = []
    for _ in range(70):
        done.append(writer.step())
        assert_rollups_match(done)
    assert ScoreRollup.objects.exists()


def test_an_edit_moves_a_score_to_the_annotation_row_and_recomputes_min_and_max(project, monkeypatch):
    clock = Clock(T0)
    monkeypatch.setattr(timezone, "now", clock.now)
    access, trace = ProjectAccess.system(project), TraceFactory(project=project)
    judged = [
        trace_score_create(access=access, trace_id=trace.pk, name="accuracy", value=value, source="AUTOMATED")
        for value in ("0.1", "0.9", "0.5")
    ]
    row = ScoreRollup.objects.get(source="AUTOMATED")
    assert (row.measured_count, row.value_min, row.value_max) == (3, 0.1, 0.9)
    clock.moment += timedelta(hours=5)  # edited later: the score stays in the hour it was made
    score_update(access=access, score=judged[1], changes={"value": "0.3"})
    automated, annotation = (
        ScoreRollup.objects.get(source="AUTOMATED"),
        ScoreRollup.objects.get(source="ANNOTATION"),
    )
    assert (automated.measured_count, automated.value_min, automated.value_max) == (2, 0.1, 0.5)
    assert (annotation.hour, annotation.value_sum, annotation.latest_score_at) == (hour_of(T0), 0.3, T0)
    score_delete(access=access, score=judged[1])
    assert ScoreRollup.objects.get(source="ANNOTATION").score_count == 0  # no score left in that row
    assert_rollups_match()


def test_rebuild_restores_rollups_that_missed_writes(project, other_project):
    trace, other = TraceFactory(project=project), TraceFactory(project=other_project)
    TraceScoreFactory(trace=trace, created_at=T0)
    TraceScoreFactory(trace=other, created_at=T0)
    SessionScoreFactory(project=project, session_id="s-1", created_at=T0 + timedelta(hours=3))
    TraceScore.objects.create(
        project=project, trace=trace, name="accuracy", value="1", numeric_value=1.0
    )  # bypasses
    ScoreRollup.objects.filter(project=other_project).update(value_sum=42.0)  # drifted
    assert stored() != recomputed()
    assert score_rollup_rebuild(project=project) == ScoreRollup.objects.filter(project=project).count() == 3
    assert stored() != recomputed()  # the other project is left alone
    call_command("rebuild_score_rollups")
    assert_rollups_match()
    ScoreRollup.objects.all().delete()
    call_command("rebuild_score_rollups", project=project.name)
    assert set(ScoreRollup.objects.values_list("project", flat=True)) == {project.pk}
    with pytest.raises(CommandError, match="No project named 'nope'"):
        call_command("rebuild_score_rollups", project="nope")


def test_the_migration_backfills_what_the_rebuild_computes(project):
    trace = TraceFactory(project=project)
    for i, (status, value) in enumerate(
        [("SUCCESS", 0.2), ("SUCCESS", 0.7), ("FAILED", None), ("PENDING", None)]
    ):
        TraceScoreFactory(trace=trace, status=status, value=None if value is None else str(value),
                          created_at=T0 + timedelta(minutes=40 * i))  # fmt: skip
    SessionScoreFactory(project=project, session_id="s-1", created_at=T0)
    ScoreRollup.objects.all().delete()
    migration = importlib.import_module("evaluations.migrations.0007_score_rollup")
    migration.backfill(apps, None)
    assert_rollups_match()


# Writers racing each other (PostgreSQL only: SQLite runs one writer at a time) -------------------

THREADS = 8
WRITES_PER_THREAD = 15


@pytest.mark.django_db(transaction=True)
def test_racing_writers_leave_rollups_equal_to_the_scores(project):
    """Creates, edits, deletes and trace deletes of one metric in one hour from many threads: the
    first score's INSERT race, a recompute racing an add, a purge racing both."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    access = ProjectAccess.system(project)
    traces = [TraceFactory(project=project, session_id="s-1") for _ in range(4)]
    barrier, failures = threading.Barrier(THREADS), []

    def write(seed: int):
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(WRITES_PER_THREAD):
                _race_step(rng, access, traces)
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert TraceScore.objects.exists()
    assert_rollups_match()


def _race_step(rng: random.Random, access: ProjectAccess, traces: list) -> None:
    action = rng.choices(["create", "judge", "edit", "delete", "purge"], weights=[6, 3, 3, 2, 1])[0]
    score = TraceScore.objects.order_by("?").first()
    try:
        if action == "edit" and score is not None:
            score_update(access=access, score=score, changes={"value": str(rng.randint(0, 10) / 10)})
        elif action == "delete" and score is not None:
            score_delete(access=access, score=score)
        elif action == "purge":
            index = rng.randrange(len(traces))
            trace_services.trace_delete(access=access, trace=traces[index])
            traces[index] = TraceFactory(project=access.project, session_id="s-1")
        elif action == "judge":  # several rows locked by one transaction, in key order
            names = rng.sample(["accuracy", "safety", "tone"], 3)
            scores = [
                {"name": name, "value": str(rng.randint(0, 10) / 10), "source": "AUTOMATED"} for name in names
            ]
            trace_scores_create(access=access, trace_id=rng.choice(traces).pk, scores=scores)
        else:
            source = rng.choice(["AUTOMATED", "PROGRAMMATIC"])
            trace_score_create(access=access, trace_id=rng.choice(traces).pk, name="accuracy",
                               value=str(rng.randint(0, 10) / 10), source=source)  # fmt: skip
    except NotFound:
        pass  # lost a race with a delete: what the API answers with a 404
