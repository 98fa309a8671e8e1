"""`manage.py evaluate`: start a trace (or, with `--sessions`, a session) evaluation run from the shell
and follow it with a progress bar."""

import argparse
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


def _weight(value: str) -> tuple[str, float]:
    name, _, weight = value.partition("=")
    try:
        return name.strip(), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected signal=weight, e.g. coherence=0.5") from None


# Filters by option: (the run's filter, the option), for trace runs and for session runs.
TRACE_FILTERS = (("date_from", "date_from"), ("date_to", "date_to"), ("status", "status"),
                 ("session_id", "session_id"), ("user_id", "user_id"), ("tags", "tags"), ("name", "trace_name"))
SESSION_FILTERS = (("date_from", "date_from"), ("date_to", "date_to"), ("user_id", "user_id"), ("tags", "tags"),
                   ("has_error", "has_error"), ("min_trace_count", "min_trace_count"))  # fmt: skip


class Command(BaseCommand):
    help = "Evaluate a project's traces (or sessions) with judge metrics, showing progress until the run ends."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument("--metrics", required=True, type=_csv, help="Comma-separated metric names")
        parser.add_argument("--trace-id", action="append", dest="trace_ids", help="Evaluate these traces only")
        parser.add_argument("--date-from", help="Traces started on or after (ISO 8601)")
        parser.add_argument("--date-to", help="Traces started before (ISO 8601, exclusive)")
        parser.add_argument("--status", help="Trace status")
        parser.add_argument("--session-id", action="append", dest="session_ids",
                            help="Traces of this session; with --sessions, evaluate these sessions only")
        parser.add_argument("--sessions", action="store_true", help="A session run (session metrics)")
        parser.add_argument("--has-error", choices=["true", "false"], help="Sessions with (or without) errors")
        parser.add_argument("--min-trace-count", type=int, help="Sessions with at least this many traces")
        parser.add_argument("--signal-weight", action="append", type=_weight, dest="signal_weights",
                            help="Session runs: override a signal's weight, e.g. coherence=0.5")
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
        noun = "sessions" if options["sessions"] else "traces"
        self.stdout.write(f"Run {result.pk}: {result.total_targets} {noun} x {', '.join(result.metric_names)}")
        if not options["no_wait"]:
            self._follow(result)

    def _create(self, access: ProjectAccess, options: dict):
        common = {"metrics": options["metrics"], "model": options["model"], "name": options["name"],
                  "dry_run": options["dry_run"]}  # fmt: skip
        if options["sessions"]:
            return self._create_session_run(access, options, common)
        if options["trace_ids"]:
            return runs.eval_run_create_batch(access=access, trace_ids=options["trace_ids"], **common)
        if options["session_ids"]:
            options["session_id"] = options["session_ids"][-1]
        filters = {key: options[option] for key, option in TRACE_FILTERS if options.get(option)}
        return runs.eval_run_create(access=access, filters=filters, sampling_rate=options["sampling_rate"],
                                    seed=options["seed"], **common)  # fmt: skip

    def _create_session_run(self, access: ProjectAccess, options: dict, common: dict):
        common["signal_weights"] = dict(options["signal_weights"] or []) or None
        if options["session_ids"]:
            return runs.session_eval_run_create_batch(access=access, session_ids=options["session_ids"], **common)
        if options["has_error"]:
            options["has_error"] = options["has_error"] == "true"
        filters = {key: options[option] for key, option in SESSION_FILTERS if options.get(option) is not None}
        return runs.session_eval_run_create(access=access, filters=filters, sampling_rate=options["sampling_rate"],
                                            seed=options["seed"], **common)  # fmt: skip

    def _plan_text(self, plan: runs.RunPlan) -> str:
        cost = "unknown" if plan.estimated_cost is None else f"${plan.estimated_cost:.4f}"
        return (f"Dry run: {plan.total_targets} {plan.target_type.lower()}s, up to {plan.judge_calls} judge calls on {plan.model}, "
                f"about {plan.estimated_prompt_tokens} prompt + {plan.estimated_completion_tokens} "
                f"completion tokens, estimated cost {cost}. Nothing was created.")  # fmt: skip

    def _follow(self, run: EvalRun) -> None:
        worker = start_inprocess_worker(threads=4)  # no Redis: this process does the work
        try:
            with tqdm(total=run.total_targets, unit=run.target_type.lower(), file=self.stdout) as bar:
                while run.status not in runs.FINISHED:
                    time.sleep(POLL_SECONDS)
                    run.refresh_from_db()
                    bar.update(run.evaluated_count - bar.n)
                    bar.set_postfix(failed=run.failed_count, calls=run.judge_calls)
        finally:
            if worker is not None:
                worker.stop()
        self.stdout.write(f"Run {run.pk} {run.status}: {run.evaluated_count} {run.target_type.lower()}s evaluated, "
                          f"{run.failed_count} failed scores, {run.judge_calls} judge calls, cost ${run.cost:.4f}")  # fmt: skip
