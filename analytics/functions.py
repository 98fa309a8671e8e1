"""SQL the ORM does not spell, written once for PostgreSQL and SQLite: `percentile_cont` and a
timestamp's epoch in milliseconds."""

import math

from django.db.models import Aggregate, FloatField, Func


class PercentileCont(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the continuous percentile,
    interpolated between the two nearest values; NULLs are ignored. SQLite has no such aggregate:
    `percentile_cont_sqlite` is registered on its connections (analytics/apps.py) and computes the
    same value."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        self.fraction = fraction
        super().__init__(expression, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"percentile_cont({self.fraction!r}) WITHIN GROUP (ORDER BY {sql})", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"percentile_cont({sql}, {self.fraction!r})", params


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
