"""`manage.py rebuild_score_rollups`: recompute the hourly score rollups the analytics read from the
scores, after a change that bypassed the score services (a bulk load, a restore, old code that wrote
scores while the rollups' migration ran)."""

from django.core.management.base import BaseCommand, CommandError

from evaluations.services.rollups import score_rollup_rebuild
from pandaprobe.projects.models import Project


class Command(BaseCommand):
    help = "Recompute the hourly score rollups (of one project, else of every project) from the scores."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Project name (default: every project)")

    def handle(self, *args, project: str | None, **options):
        chosen = None
        if project is not None:
            chosen = Project.objects.filter(name=project).first()
            if chosen is None:
                raise CommandError(f"No project named {project!r}")
        rows = score_rollup_rebuild(project=chosen)
        self.stdout.write(f"{rows} rollup rows")
