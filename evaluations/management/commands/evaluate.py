"""`manage.py evaluate`: start a trace evaluation run from the shell and follow it with a progress bar."""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluations.models import EvalRun
from evaluations.services import runs
from pandaprobe.errors import DomainError
from pandaprobe.management.commands.serve import start_inprocess_worker
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.projects.models import Project

POLL_SECONDS = 0.5


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Evaluate a project's traces with judge metrics, showing progress until the run ends."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument("--metrics", required=True, type=_csv, help="Comma-separated metric names")
        parser.add_argument("--trace-id", action="append", dest="trace_ids", help="Evaluate these traces only")
        parser.add_argument("--date-from", help="Traces started on or after (ISO 8601)")
        parser.add_argument("--date-to", help="Traces started before (ISO 8601, exclusive)")
        parser.add_argument("--status", help="Trace status")
        parser.add_argument("--session-id")
        parser.add_argument("--user-id")
        parser.add_argument("--tag", action="append", dest="tags", help="Traces with any of these tags")
        parser.add_argument("--trace-name", help="Substring of the trace name")
        parser.add_argument("--sampling-rate", type=float, default=1.0)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--model", help="Judge model (default PANDAPROBE_JUDGE_MODEL)")
        parser.add_argument("--name", help="A label for the run")
        parser.add_argument("--dry-run", action="store_true", help="Show what the run would do; create nothing")
        parser.add_argument("--no-wait", action="store_true", help="Start the run and return")

    def handle(self, *args, **options):
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"No project named {options['project']!r}")
        try:
            result = self._create(ProjectAccess.system(project), options)
        except DomainError as error:
            raise CommandError(str(error)) from None
        if isinstance(result, runs.RunPlan):
            self.stdout.write(self._plan_text(result))
            return
        self.stdout.write(f"Run {result.pk}: {result.total_targets} traces x {', '.join(result.metric_names)}")
        if not options["no_wait"]:
            self._follow(result)

    def _create(self, access: ProjectAccess, options: dict):
        common = {"metrics": options["metrics"], "model": options["model"], "name": options["name"],
                  "dry_run": options["dry_run"]}  # fmt: skip
        if options["trace_ids"]:
            return runs.eval_run_create_batch(access=access, trace_ids=options["trace_ids"], **common)
        filters = {key: options[option] for key, option in (
            ("date_from", "date_from"), ("date_to", "date_to"), ("status", "status"),
            ("session_id", "session_id"), ("user_id", "user_id"), ("tags", "tags"), ("name", "trace_name"),
        ) if options[option]}  # fmt: skip
        return runs.eval_run_create(access=access, filters=filters, sampling_rate=options["sampling_rate"],
                                    seed=options["seed"], **common)  # fmt: skip

    def _plan_text(self, plan: runs.RunPlan) -> str:
        cost = "unknown" if plan.estimated_cost is None else f"${plan.estimated_cost:.4f}"
        return (f"Dry run: {plan.total_targets} traces, up to {plan.judge_calls} judge calls on {plan.model}, "
                f"about {plan.estimated_prompt_tokens} prompt + {plan.estimated_completion_tokens} "
                f"completion tokens, estimated cost {cost}. Nothing was created.")  # fmt: skip

    def _follow(self, run: EvalRun) -> None:
        worker = start_inprocess_worker(threads=4)  # no Redis: this process does the work
        try:
            with tqdm(total=run.total_targets, unit="trace", file=self.stdout) as bar:
                while run.status not in runs.FINISHED:
                    time.sleep(POLL_SECONDS)
                    run.refresh_from_db()
                    bar.update(run.evaluated_count - bar.n)
                    bar.set_postfix(failed=run.failed_count, calls=run.judge_calls)
        finally:
            if worker is not None:
                worker.stop()
        self.stdout.write(f"Run {run.pk} {run.status}: {run.evaluated_count} traces evaluated, "
                          f"{run.failed_count} failed scores, {run.judge_calls} judge calls, cost ${run.cost:.4f}")  # fmt: skip
