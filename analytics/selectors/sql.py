"""The SQL that differs by database, behind small expressions: the rest of the analytics is plain ORM.

PostgreSQL has `width_bucket` and DISTINCT ON; SQLite gets the same bucket arithmetic as
`width_bucket`, so both databases put every value in the same bucket, and a window function for
DISTINCT ON. The suite runs on both.
"""

from django.db import connections
from django.db.models import Func, IntegerField, QuerySet

NEWEST_FIRST_SQL = "created_at DESC, id DESC"


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
