"""`manage.py rebuild_trace_rollup [--project NAME]`: recompute the hourly rollup the operations
analytics read from the stored traces, after writes that bypassed the services (a SQL bulk load,
as `benchmarks/bench_ops_analytics.py` does) or to repair it. Ingestion waits while it runs."""

import time

from django.core.management.base import BaseCommand, CommandError

from pandaprobe.projects.models import Project
from pandaprobe.traces.rollup import trace_rollup_rebuild


class Command(BaseCommand):
    help = "Recompute the traces' hourly rollup (one project's, or every project's) from the stored traces."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Project name (default: every project)")

    def handle(self, *args, project: str | None, **options):
        target = None
        if project is not None:
            target = Project.objects.filter(name=project).first()
            if target is None:
                raise CommandError(f"No project named {project!r}")
        started = time.monotonic()
        rows = trace_rollup_rebuild(project=target)
        seconds = time.monotonic() - started
        self.stdout.write(f"{rows} hourly rows rebuilt in {seconds:.1f} s")
