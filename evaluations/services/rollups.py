"""The hourly score rollups (`ScoreRollup`), kept in the transaction of every score write.

A create adds its score to its hour's row in one upsert (INSERT ... ON CONFLICT DO UPDATE).

Edits, deletes and purges recompute the rows they touch from the scores: a min or max cannot be
un-added, and a sum that is recomputed rather than subtracted from does not drift. A recompute
makes sure each of its rows exists, locks them in key order (two recomputes cannot deadlock), and
only then reads the scores, in a later statement (PostgreSQL's READ COMMITTED takes a snapshot per
statement): a create that added to a row committed before the lock was granted, so its score is
read; a create that comes later waits for the lock and adds to the recomputed row. A row left with
no score stays, empty, until a rebuild (see `_empty`).

`score_rollup_rebuild` recomputes a whole project, for what bypasses the services (a bulk load, a
restore, a database made before the rollups): see `manage.py rebuild_score_rollups`.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import groupby

from django.db import connections, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from evaluations.models import ScoreEvent, ScoreFields, ScoreRollup, ScoreStatus, SessionScore, TraceScore
from pandaprobe.projects.models import Project

TARGETS = {TraceScore: ScoreEvent.Target.TRACE, SessionScore: ScoreEvent.Target.SESSION}
KEY_FIELDS = ["project", "target", "name", "source", "hour"]
VALUE_FIELDS = [
    "score_count", "success_count", "failed_count", "measured_count", "value_sum", "value_min", "value_max",
    "latest_score_at",
]  # fmt: skip
HOUR = timedelta(hours=1)
UPSERT_SQL: dict[tuple[str, int], str] = {}  # by database vendor and rows: `_upsert_sql`
# (name, source, first hour, last hour) spans recomputed per statement: SQLite parses an OR of
# conditions as a tree no deeper than 1,000.
SPANS_PER_REFRESH = 200
ENSURE_ATTEMPTS = 5
MEASURED = Q(status=ScoreStatus.SUCCESS, numeric_value__isnull=False)

# A rollup key within a project and target: (name, source, hour).
RollupKey = tuple[str, str, datetime]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour of `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_key(score: ScoreFields) -> RollupKey:
    return score.name, score.source, hour_of(score.created_at)


def rollup_keys(scores: QuerySet) -> set[RollupKey]:
    """The keys of the rows that count `scores` (one query)."""
    hours = scores.order_by().annotate(rollup_hour=Trunc("created_at", "hour", tzinfo=UTC))
    return set(hours.values_list("name", "source", "rollup_hour").distinct())


def _upsert_sql(connection, rows: int) -> str:
    """One INSERT ... ON CONFLICT DO UPDATE (PostgreSQL and SQLite alike) that adds scores' counts to
    `rows` rows, or stores them. Written out rather than an ORM update-else-create: compiling that
    took ~0.9 ms of the ~1.2 ms it cost each judge score (benchmarks/bench_score_insert.py)."""
    quote = connection.ops.quote_name
    table = quote(ScoreRollup._meta.db_table)
    keys = ", ".join(quote(ScoreRollup._meta.get_field(f).column) for f in KEY_FIELDS)

    def lower(column: str, pick: str) -> str:  # nulls ignored: the new value, the stored one, or both
        new, old = f"excluded.{column}", f"{table}.{column}"
        return f"{column} = COALESCE(CASE WHEN {new} {pick} {old} THEN {new} ELSE {old} END, {new}, {old})"

    added = [f"{c} = {table}.{c} + excluded.{c}" for c in VALUE_FIELDS[:5]]
    kept = [lower("value_min", "<"), lower("value_max", ">"), lower("latest_score_at", ">")]
    row = "(" + ", ".join(["%s"] * 13) + ")"
    return (
        f"INSERT INTO {table} ({keys}, {', '.join(VALUE_FIELDS)}) VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(added + kept)}"
    )


def _added(key: tuple, scores: list[ScoreFields], connection) -> list:
    """The upsert's parameters for scores of one row."""
    project_id, target, (name, source, hour) = key
    values = [
        s.numeric_value for s in scores if s.status == ScoreStatus.SUCCESS and s.numeric_value is not None
    ]
    moments = [connection.ops.adapt_datetimefield_value(m) for m in (hour, max(s.created_at for s in scores))]
    return [
        ScoreRollup._meta.get_field("project").get_db_prep_value(project_id, connection), target, name, source,
        moments[0], len(scores), sum(s.status == ScoreStatus.SUCCESS for s in scores),
        sum(s.status == ScoreStatus.FAILED for s in scores), len(values), sum(values, 0.0),
        min(values, default=None), max(values, default=None), moments[1],
    ]  # fmt: skip


def score_rollups_add(scores: list[ScoreFields]) -> None:
    """Count newly stored scores in their hours' rows, in one upsert, rows in key order (two writers of
    the same rows cannot deadlock). Call it in the transaction that stores them, as late as possible:
    the rows stay locked until it ends. Two first scores of an hour cannot both insert: the second
    waits for the first and adds to its row."""
    rows: dict[tuple, list] = {}
    for score in scores:
        rows.setdefault((score.project_id, TARGETS[type(score)], rollup_key(score)), []).append(score)
    if not rows:
        return
    connection = connections[ScoreRollup.objects.db]
    statement = (connection.vendor, len(rows))
    if statement not in UPSERT_SQL:
        UPSERT_SQL[statement] = _upsert_sql(connection, len(rows))
    ordered = sorted(rows, key=lambda key: (str(key[0]), key[1], key[2]))
    with connection.cursor() as cursor:
        cursor.execute(UPSERT_SQL[statement], [v for key in ordered for v in _added(key, rows[key], connection)])


def rollup_rows(scores: QuerySet, *, project_id, target: str) -> list[ScoreRollup]:
    """Unsaved rows that count `scores`, computed by the database (one grouped query). Counts are of
    `status`, never null, rather than of `id`: the covering `<prefix>_project_name` index holds it."""
    grouped = (
        scores.order_by()
        .annotate(rollup_hour=Trunc("created_at", "hour", tzinfo=UTC))
        .values("name", "source", "rollup_hour")
        .annotate(
            score_count=Count("status"),
            success_count=Count("status", filter=Q(status=ScoreStatus.SUCCESS)),
            failed_count=Count("status", filter=Q(status=ScoreStatus.FAILED)),
            measured_count=Count("numeric_value", filter=Q(status=ScoreStatus.SUCCESS)),
            value_sum=Sum("numeric_value", filter=MEASURED),
            value_min=Min("numeric_value", filter=MEASURED),
            value_max=Max("numeric_value", filter=MEASURED),
            latest_score_at=Max("created_at"),
        )
    )
    key = {"project_id": project_id, "target": target}
    return [
        ScoreRollup(
            **key,
            name=row["name"],
            source=row["source"],
            hour=row["rollup_hour"],
            **{field: row[field] for field in VALUE_FIELDS if field != "value_sum"},
            value_sum=row["value_sum"] or 0.0,
        )  # fmt: skip
        for row in grouped
    ]


def _spans(keys: Iterable[RollupKey]) -> list[tuple[str, str, datetime, datetime]]:
    """Sorted keys as (name, source, first hour, last hour) runs of consecutive hours."""
    spans = []
    for (name, source), group in groupby(sorted(keys), key=lambda key: key[:2]):
        for _, _, hour in group:
            if spans and spans[-1][:2] == (name, source) and spans[-1][3] + HOUR == hour:
                spans[-1] = (name, source, spans[-1][2], hour)
            else:
                spans.append((name, source, hour, hour))
    return spans


def _either(conditions: list[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def _empty(row: ScoreRollup) -> ScoreRollup:
    """`row` counting no score. Emptied rows stay (only a rebuild removes them): a row that a
    recompute could delete might vanish between another recompute making sure it exists and locking
    it. Reads skip them (`score_count` 0)."""
    row.score_count = row.success_count = row.failed_count = row.measured_count = 0
    row.value_sum, row.value_min, row.value_max, row.latest_score_at = 0.0, None, None, row.hour
    return row


def _locked_rows(project_id, target: str, spans: list) -> dict[RollupKey, ScoreRollup]:
    """The rows of `spans`, each made to exist (an empty one where none did), locked in key order."""
    keys = [
        (n, s, first + HOUR * i) for n, s, first, last in spans for i in range((last - first) // HOUR + 1)
    ]
    rows = ScoreRollup.objects.filter(project_id=project_id, target=target).filter(
        _either([Q(name=n, source=s, hour__gte=first, hour__lte=last) for n, s, first, last in spans])
    )
    locked: dict[RollupKey, ScoreRollup] = {}
    for _ in range(ENSURE_ATTEMPTS):
        missing = [key for key in keys if key not in locked]
        if not missing:
            return locked
        ScoreRollup.objects.bulk_create(
            [
                _empty(ScoreRollup(project_id=project_id, target=target, name=n, source=s, hour=h))
                for n, s, h in missing
            ],
            ignore_conflicts=True,
        )
        # A row can still be missing here only if a rebuild replaced it meanwhile: try again.
        locked.update(
            {
                (row.name, row.source, row.hour): row
                for row in rows.select_for_update().order_by("name", "source", "hour")
            }
        )
    raise RuntimeError(f"score rollup rows kept disappearing while being locked: {missing[:3]}")


def _refresh(model: type[ScoreFields], project_id, spans: list) -> None:
    target = TARGETS[model]
    locked = _locked_rows(project_id, target, spans)
    # Read after the rows are locked: see the module's docstring.
    scores = model.objects.filter(project_id=project_id).filter(
        _either(
            [
                Q(name=n, source=s, created_at__gte=first, created_at__lt=last + HOUR)
                for n, s, first, last in spans
            ]
        )
    )
    counted = {
        (row.name, row.source, row.hour): row
        for row in rollup_rows(scores, project_id=project_id, target=target)
    }
    for key, row in locked.items():
        recomputed = counted.get(key)
        if recomputed is None:
            _empty(row)
        else:
            for field in VALUE_FIELDS:
                setattr(row, field, getattr(recomputed, field))
    ScoreRollup.objects.bulk_update(list(locked.values()), VALUE_FIELDS, batch_size=500)


def score_rollups_refresh(model: type[ScoreFields], *, project_id, keys: Iterable[RollupKey]) -> None:
    """Recompute these rows of `model`'s scores in a project from the scores, after an edit, a
    delete or a purge, in its transaction."""
    spans = _spans(keys)
    with transaction.atomic():
        for start in range(0, len(spans), SPANS_PER_REFRESH):
            _refresh(model, project_id, spans[start : start + SPANS_PER_REFRESH])


def score_rollup_rebuild(*, project: Project | None = None) -> int:
    """Recompute every row of `project` (of every project when None) from its scores; returns how many
    rows there are now. Each project's score inserts wait meanwhile: the project row is locked
    FOR UPDATE, which a foreign key check (FOR KEY SHARE) waits for."""
    projects = [project] if project is not None else list(Project.objects.order_by("pk"))
    total = 0
    for each in projects:
        with transaction.atomic():
            list(Project.objects.select_for_update().filter(pk=each.pk).values_list("pk"))
            ScoreRollup.objects.filter(project=each).delete()
            for model, target in TARGETS.items():
                rows = rollup_rows(model.objects.filter(project=each), project_id=each.pk, target=target)
                ScoreRollup.objects.bulk_create(rows, batch_size=2000)
                total += len(rows)
    return total
