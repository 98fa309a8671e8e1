"""The SQL the ORM does not spell, written once for PostgreSQL and SQLite, so the rest of the
analytics is plain ORM: `percentile_cont`, histogram buckets (`width_bucket`), a timestamp's epoch
in milliseconds, the newest score per (trace, author) (DISTINCT ON) and queries without JIT. SQLite
learns `percentile_cont` on each new connection (as Django itself teaches it `STDDEV_POP`) and gets
PostgreSQL's bucket arithmetic, so both databases answer value for value; the suite runs on both."""

import math
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction
from django.db.models import Aggregate, FloatField, Func, IntegerField, QuerySet

NEWEST_FIRST_SQL = "created_at DESC, id DESC"


class PercentileCont(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the continuous percentile,
    interpolated between the two nearest values; NULLs are ignored; `filter=` works as for any
    aggregate. SQLite has no such aggregate: `SQLitePercentileCont` is registered on its connections
    (analytics/apps.py) and computes the same value."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        plain = self.copy()  # Aggregate.as_sql reads the template from the instance when it adds FILTER
        plain.template = "%(function)s(%(expressions)s, %(fraction)s)"
        return super(PercentileCont, plain).as_sql(compiler, connection, **extra_context)


class SQLitePercentileCont:
    """The SQLite side of `PercentileCont`: PostgreSQL's interpolation, value for value."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.0

    def step(self, value, fraction) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = self.fraction * (len(ordered) - 1)
        lower, upper = math.floor(position), math.ceil(position)
        return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def sqlite_functions_register(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: SQLite connections learn `percentile_cont`."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("percentile_cont", 2, SQLitePercentileCont)


class EpochMs(Func):
    """A timestamp as milliseconds since 1970-01-01 UTC (a float), so durations are plain subtraction."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(EXTRACT(EPOCH FROM {sql}) * 1000)::double precision", params

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC text ('2026-01-01 10:00:00.123456'); SQLite keeps milliseconds of it:
        # whole seconds from '%s', the milliseconds from '%f' ('SS.SSS').
        sql, params = compiler.compile(self.source_expressions[0])
        seconds = f"CAST(strftime('%%s', {sql}) AS INTEGER)"
        millis = f"CAST(substr(strftime('%%f', {sql}), 4) AS INTEGER)"
        return f"({seconds} * 1000.0 + {millis})", [*params, *params]


class BucketIndex(Func):
    """The 1-based histogram bucket of a value among `buckets` equal widths over [low, high).

    A value of exactly `high` (a score of 1.0 on a 0-1 scale) belongs to the last bucket, and a value
    outside the span (a config narrowed after scoring) to the nearest end bucket, so the histogram
    counts every value the summary counts.
    """

    output_field = IntegerField()

    def __init__(self, expression, *, low: float, high: float, buckets: int):
        super().__init__(expression)
        self.low, self.high, self.buckets = float(low), float(high), int(buckets)

    def _value(self, compiler, connection):
        return compiler.compile(self.get_source_expressions()[0])

    def as_postgresql(self, compiler, connection, **extra_context):
        value, params = self._value(compiler, connection)
        sql = (
            f"LEAST(GREATEST(WIDTH_BUCKET(({value})::double precision, "
            "%s::double precision, %s::double precision, %s::integer), 1), %s::integer)"
        )
        return sql, (*params, self.low, self.high, self.buckets, self.buckets)

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL's float `width_bucket` (14+): truncate(count * ((x - low) / (high - low))) + 1.
        value, params = self._value(compiler, connection)
        sql = f"MIN(MAX(CAST(%s * ((({value}) - %s) / (%s - %s)) AS INTEGER) + 1, 1), %s)"
        return sql, (self.buckets, *params, self.low, self.high, self.low, self.buckets)


def newest_values(scores: QuerySet) -> tuple[str, tuple]:
    """SQL and params of the newest score (created_at, then id) of each (trace, author) among
    `scores`: columns trace_id, author_id, value.

    PostgreSQL gets DISTINCT ON, whose rows it estimates as the number of groups. It guesses
    `ROW_NUMBER() ... = 1` at 0.5% of the rows and joined two such sides with a nested loop: 3.4 s
    for 1,000 judge-vs-human pairs, quadratic beyond. SQLite has no DISTINCT ON.
    """
    columns = "trace_id, author_id, numeric_value AS value"
    scores = scores.values("trace_id", "author_id", "numeric_value", "created_at", "id")
    sql, params = scores.order_by().query.sql_with_params()
    if connections[scores.db].vendor == "postgresql":
        newest = f"DISTINCT ON (trace_id, author_id) {columns} FROM ({sql}) s"
        return f"SELECT {newest} ORDER BY trace_id, author_id, {NEWEST_FIRST_SQL}", params
    ranked = (
        f"SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY trace_id, author_id "
        f"ORDER BY {NEWEST_FIRST_SQL}) AS position FROM ({sql}) s"
    )
    return f"SELECT trace_id, author_id, value FROM ({ranked}) r WHERE position = 1", params


@contextmanager
def without_jit(using: str) -> Iterator[None]:
    """A transaction in which PostgreSQL runs queries without compiling them to machine code (JIT).

    PostgreSQL compiles a query whose estimated cost passes `jit_above_cost`, and optimizes the code
    past `jit_optimize_above_cost`. The agreement's estimate is far too high (it cannot know that
    DISTINCT ON leaves one row per trace: 8.7M joined rows estimated for 100,000), so at 100,000
    pairs compiling took 854 ms of a 903 ms query that runs in ~100 ms without it.
    """
    with transaction.atomic(using=using):
        if connections[using].vendor == "postgresql":
            with connections[using].cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield
