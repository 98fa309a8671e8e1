"""Statistics on the time buckets of `started_at` (PostgreSQL 14+), for the analytics' GROUP BY.

Without them PostgreSQL guesses one group per trace for `date_trunc('day', started_at AT TIME ZONE
'UTC')`, sorts every trace of the window and adds JIT compilation; with them it knows there are 30
days in a month and hashes. At 1,000,000 traces the 30-day chart by day took 6.9 s before and 2.6 s
after on the same (heavily shared) machine (benchmarks/bench_ops_analytics.py). The expressions are
exactly what Django writes for `Trunc(..., tzinfo=UTC)` (analytics/selectors/operations.py): the
planner matches them as text. ANALYZE (autovacuum's, or the benchmark's) fills them in.
"""

from django.db import migrations

KINDS = ("hour", "day", "week")


def _supported(schema_editor) -> bool:
    connection = schema_editor.connection
    return connection.vendor == "postgresql" and connection.pg_version >= 140000


def create(apps, schema_editor):
    if _supported(schema_editor):
        for kind in KINDS:
            schema_editor.execute(
                f"CREATE STATISTICS IF NOT EXISTS trace_started_{kind} "
                f"ON (DATE_TRUNC('{kind}', started_at AT TIME ZONE 'UTC')) FROM traces_trace"
            )


def drop(apps, schema_editor):
    if _supported(schema_editor):
        for kind in KINDS:
            schema_editor.execute(f"DROP STATISTICS IF EXISTS trace_started_{kind}")


class Migration(migrations.Migration):
    dependencies = [("traces", "0003_token_split")]

    operations = [migrations.RunPython(create, drop)]
