"""The SQL that differs by database, behind small expressions: the rest of the analytics is plain ORM.

PostgreSQL has what the statistics need (`percentile_cont`, `width_bucket`); SQLite gets a median
aggregate registered on each new connection (as Django itself does for `STDDEV_POP` there) and the
same bucket arithmetic as PostgreSQL's `width_bucket`, so both databases put every value in the
same bucket. The suite runs on both.
"""

import statistics

from django.db.models import Aggregate, FloatField, Func, IntegerField

SQLITE_MEDIAN = "analytics_median"


class Median(Aggregate):
    """The median (the mean of the two middle values of an even count); NULLs are skipped."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        plain = self.copy()  # Aggregate.as_sql reads the template from the instance when it adds FILTER
        plain.function, plain.template = SQLITE_MEDIAN, Aggregate.template
        return super(Median, plain).as_sql(compiler, connection, **extra_context)


class _SqliteMedian:
    """The aggregate behind `Median` on SQLite (`sqlite3.Connection.create_aggregate`)."""

    def __init__(self):
        self.values: list[float] = []

    def step(self, value):
        if value is not None:
            self.values.append(value)

    def finalize(self):
        return statistics.median(self.values) if self.values else None


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: SQLite connections learn the median aggregate."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_MEDIAN, 1, _SqliteMedian)


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
