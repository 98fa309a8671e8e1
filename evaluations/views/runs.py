"""Evaluation-run pages: the runs, a run's page with its live progress, and a run started from the
trace explorer's filter.

Writes go through the run services (POST + CSRF), which check the role: a reviewer reads runs, is
offered no button, and gets the 403 page on a write. static/js/runs.js polls `run_progress_json`
while a run is working; without it the page shows the figures as they were at load.
"""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from pandaprobe.errors import Conflict, InvalidRequest, NotFound, RuleViolation
from pandaprobe.projects.access import Action, ProjectAccess, browser_access
from pandaprobe.projects.throttling import run_writes_throttled

from ..forms import RunCreateForm
from ..links import page_url
from ..metrics import TRACE_METRICS
from ..models import EvalRun, EvalRunStatus
from ..selectors import runs as selectors
from ..selectors.annotations import explorer_params
from ..services import runs as services
from ..templatetags.pages import cost
from .pages import error_messages

RUNS_PER_PAGE = 25
SCORES_PER_PAGE = 50
UNPROCESSABLE = 422


def _time(value) -> str:
    return dateformat.format(timezone.localtime(value), "Y-m-d H:i:s") if value else "–"


def run_progress(run: EvalRun) -> dict:
    """A run's figures as the pages show them: the same for the page at load and for its poller."""
    total = run.total_targets
    return {
        "status": run.status,
        "finished": run.status in services.FINISHED,
        # Rounded down: 100 % only once every target is done.
        "percent": run.evaluated_count * 100 // total if total else 0,
        "evaluated_count": run.evaluated_count,
        "total_targets": total,
        "failed_count": run.failed_count,
        "judge_calls": run.judge_calls,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "cost": cost(run.cost),
        "unpriced_calls": run.unpriced_calls,
        "started_at": _time(run.started_at),
        "completed_at": _time(run.completed_at),
    }


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    access = browser_access(request)
    errors: dict[str, list[str]] = {}
    try:
        runs = selectors.eval_run_list(project=access.project, params=request.GET)
        page = Paginator(runs.select_related("created_by"), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    except ValidationError as error:
        errors, page = error_messages(error), Paginator([], RUNS_PER_PAGE).get_page(1)
    context = {
        "nav": "runs",
        "access": access,
        "page": page,
        "rows": [(run, run_progress(run)) for run in page],
        "can_manage": access.can(Action.RUN_MANAGE),
        "statuses": EvalRunStatus.values,
        "filters": request.GET,
        "errors": errors,
    }
    return render(request, "runs/list.html", context, status=400 if errors else 200)


def _filter_rows(filters: dict) -> list[tuple[str, str]]:
    """A run's filters as text; a run of listed ids says how many rather than printing them all."""
    rows = []
    for key, value in filters.items():
        if key == "trace_ids":
            value = f"{len(value)} trace(s) listed by id"
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        rows.append((key, str(value)))
    return rows


@login_required
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    access = browser_access(request)
    run = selectors.eval_run_get(project=access.project, run_id=run_id)
    scores = Paginator(selectors.run_scores(run=run), SCORES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "nav": "runs",
        "access": access,
        "run": run,
        "progress": run_progress(run),
        "metrics": [(name, TRACE_METRICS.get(name)) for name in run.metric_names],
        "filter_rows": _filter_rows(run.filters),
        "scores": scores,
        "can_manage": access.can(Action.RUN_MANAGE),
    }
    return render(request, "runs/detail.html", context)


@never_cache
@login_required
def run_progress_json(request: HttpRequest, run_id: uuid.UUID) -> JsonResponse:
    """What the run page's poller reads every ~2 s (session auth, same origin)."""
    run = selectors.eval_run_get(project=browser_access(request).project, run_id=run_id)
    return JsonResponse({"id": str(run.pk), **run_progress(run)})


# --- retry, cancel, delete -----------------------------------------------------------------------


def _run_of(request: HttpRequest, run_id: uuid.UUID) -> tuple[ProjectAccess, EvalRun]:
    access = browser_access(request)
    return access, selectors.eval_run_get(project=access.project, run_id=run_id)


def _write(request: HttpRequest, run_id: uuid.UUID, write, message: str) -> HttpResponse:
    """Call a run service: its refusal (a 409 or 422 in the API) is a message on the run's page;
    otherwise the page of the run it returns (a retry is a new run)."""
    access, run = _run_of(request, run_id)
    try:
        result = write(access=access, run=run)
    except (Conflict, RuleViolation) as error:
        messages.error(request, str(error))
        return redirect(page_url("run-detail", access.project, run.pk))
    messages.success(request, message.format(run=result))
    return redirect(page_url("run-detail", access.project, result.pk))


@login_required
@require_POST
@run_writes_throttled
def run_retry(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    message = "Retrying the failed metrics of {run.total_targets} trace(s)."
    return _write(request, run_id, services.eval_run_retry, message)


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    message = "Run cancelled: work not started was dropped, finished scores stay."
    return _write(request, run_id, services.eval_run_cancel, message)


@login_required
@require_POST
def run_delete(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    access, run = _run_of(request, run_id)
    try:
        delete_scores = selectors.delete_scores_param(request.POST)
    except ValidationError:
        raise BadRequest("delete_scores: true or false") from None
    services.eval_run_delete(access=access, run=run, delete_scores=delete_scores)
    kept = "and its scores were deleted" if delete_scores else "its scores were kept"
    messages.success(request, f"Run {run.name or run.pk} deleted; {kept}.")
    return redirect(page_url("run-list", access.project))


# --- a run from the trace explorer's filter ------------------------------------------------------


def _create_form(request: HttpRequest) -> RunCreateForm:
    data = request.POST if request.method == "POST" else None
    return RunCreateForm(data, metrics=TRACE_METRICS, default_model=settings.PANDAPROBE_JUDGE_MODEL)


def _submit(access: ProjectAccess, scope, form: RunCreateForm):
    """The run (or its plan) the valid form asks for; None when the service refused (on the form)."""
    try:
        return services.eval_run_create_from_explorer(access=access, scope=scope, **form.run_options())
    except (InvalidRequest, NotFound, RuleViolation) as error:
        form.add_service_error(str(error))
        return None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@run_writes_throttled
def run_create(request: HttpRequest) -> HttpResponse:
    """The form for a run over the explorer's query (this page's query string); Preview is a dry run."""
    access = browser_access(request)
    access.require(Action.RUN_MANAGE, "Only project admins can start evaluation runs")
    context = {"nav": "runs", "access": access, "query": request.GET.urlencode(), "form": _create_form(request),
               "max_batch": services.MAX_BATCH_TRACES}  # fmt: skip
    try:
        scope = selectors.explorer_run_scope(project=access.project, params=explorer_params(request.GET))
    except ValidationError as error:
        context["filter_errors"] = error_messages(error)
        return render(request, "runs/create.html", context, status=400)
    form, result = context["form"], None
    if form.is_bound and form.is_valid():
        result = _submit(access, scope, form)
        if isinstance(result, EvalRun):
            messages.success(request, f"Run started over {result.total_targets} trace(s).")
            return redirect(page_url("run-detail", access.project, result.pk))
    context.update(scope=scope, plan=result)
    return render(request, "runs/create.html", context, status=UNPROCESSABLE if form.errors else 200)
