"""The summary and the trend answer alike whether they add up the hourly rollups (with the part-hours
at the ends of a date range read from the scores) or read every score: random scores over three days,
every filter and granularity, date ranges on and off the hour. Averages may differ in the last bits
(floats summed in another order); everything else is equal. Runs on SQLite and PostgreSQL."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from analytics.selectors import scores as selectors
from evaluations.services.scores import score_delete, score_update
from pandaprobe.projects.access import ProjectAccess
from tests.factories import SessionScoreFactory, TraceFactory, TraceScoreFactory

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
NAMES = ("accuracy", "safety")
SOURCES = ("AUTOMATED", "ANNOTATION", "PROGRAMMATIC")
SPAN_MINUTES = 3 * 24 * 60  # ~4 scores an hour: most part-hours at a range's ends hold some


def _fields(rng: random.Random) -> dict:
    status = rng.choice(["SUCCESS"] * 6 + ["FAILED", "PENDING"])
    data_type = rng.choice(["NUMERIC"] * 4 + ["BOOLEAN", "CATEGORICAL"])
    value = {
        "NUMERIC": rng.randint(0, 1000) / 1000,
        "BOOLEAN": float(rng.random() < 0.5),
        "CATEGORICAL": None,
    }
    number = value[data_type] if status == "SUCCESS" else None
    text = None if status != "SUCCESS" else ("good" if data_type == "CATEGORICAL" else str(number))
    return {
        "name": rng.choice(NAMES), "source": rng.choice(SOURCES), "status": status, "data_type": data_type,
        "value": text, "numeric_value": number,
        "created_at": T0 + timedelta(minutes=rng.randint(0, SPAN_MINUTES), microseconds=rng.randint(0, 10**6)),
    }  # fmt: skip


def _scores(project, rng: random.Random) -> None:
    traces = [TraceFactory(project=project, environment=rng.choice(["prod", "staging"])) for _ in range(6)]
    scores = [TraceScoreFactory(trace=rng.choice(traces), **_fields(rng)) for _ in range(150)]
    for _ in range(40):
        SessionScoreFactory(project=project, session_id=f"s-{rng.randint(0, 3)}", **_fields(rng))
    access = ProjectAccess.system(project)
    for score in rng.sample(scores, 15):  # the services' recomputes, not only the factory's adds
        if rng.random() < 0.5:
            score_delete(access=access, score=score)
        elif score.data_type == "NUMERIC":
            score_update(access=access, score=score, changes={"value": str(rng.randint(0, 100) / 100)})
    moved = traces[0]
    moved.environment = "staging" if moved.environment == "prod" else "prod"  # its scores go with it
    moved.save(update_fields=["environment"])


def _ranges(rng: random.Random) -> list[dict]:
    def moment(minutes: int, seconds: int = 0) -> str:
        return (T0 + timedelta(minutes=minutes, seconds=seconds)).isoformat()

    ranges = [{}, {"date_from": T0.isoformat()}, {"date_to": (T0 + timedelta(days=3)).isoformat()}]
    for _ in range(8):  # on the hour, on the minute or not, from empty to two days long
        start, length = rng.randint(-60, SPAN_MINUTES), rng.choice([0, 20, 59, 60, 61, 24 * 60, 3000])
        start -= start % 60 if rng.random() < 0.3 else 0
        seconds = rng.choice([0, 17])
        ranges.append({"date_from": moment(start, seconds), "date_to": moment(start + length, seconds)})
    ranges.append({"date_from": moment(rng.randint(0, SPAN_MINUTES), 5)})
    ranges.append({"date_to": moment(rng.randint(0, SPAN_MINUTES), 5)})
    return ranges


def _same(with_rollups: list[dict], from_scores: list[dict]) -> None:
    assert len(with_rollups) == len(from_scores)
    for rolled, read in zip(with_rollups, from_scores, strict=True):
        assert rolled.keys() == read.keys()
        assert {k: v for k, v in rolled.items() if k != "avg_score"} == {
            k: v for k, v in read.items() if k != "avg_score"
        }
        if read["avg_score"] is None:
            assert rolled["avg_score"] is None
        else:
            assert rolled["avg_score"] == pytest.approx(read["avg_score"], rel=1e-12, abs=1e-12)


def _both(selector, used: list, **kwargs) -> tuple[list[dict], list[dict]]:
    """The answer with the rollups (noting in `used` whether it read them) and from the scores."""
    with CaptureQueriesContext(connection) as captured:
        rolled = selector(**kwargs)
    used.append(any("scorerollup" in query["sql"] for query in captured.captured_queries))
    # The rollups do not know a trace's current environment: that filter reads the scores.
    assert not (used[-1] and "environment" in kwargs["params"]), kwargs["params"]
    return rolled, selector(**kwargs, rollups=False)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(3))
def test_rollups_and_scores_answer_alike(project, seed):
    rng = random.Random(seed)
    _scores(project, rng)
    answers, used = 0, []
    for window in _ranges(rng):
        for extra in ({}, {"source": rng.choice(SOURCES)}, {"environment": "staging"}):
            params = QueryDict(mutable=True)
            params.update({**window, **extra})
            kinds = [selectors.TRACE_SCORES] + (
                [selectors.SESSION_SCORES] if "environment" not in extra else []
            )
            for kind in kinds:
                rolled, read = _both(selectors.score_summary, used, kind=kind, project=project, params=params)
                _same(rolled, read)
                answers += bool(read)
                for name in NAMES:
                    for granularity in ("hour", "day", "week"):
                        trend = params.copy()
                        trend.update({"metric_name": name, "granularity": granularity})
                        _same(*_both(selectors.score_trend, used, kind=kind, project=project, params=trend))
    assert answers > 20  # most windows hold scores: the comparison is not of empty lists
    assert sum(used) > len(used) / 3  # and many answers came from the rollups (not the environment's)
