"""The trace explorer's row actions: add the ticked traces to a review queue, or evaluate them.

The rows' checkboxes belong to a plain form that posts here (CSRF, no JavaScript needed;
static/js/trace_filters.js only adds "select all"). The form's URL carries the explorer's query
string, so a refused action shows the same explorer again, with the error and the boxes still ticked.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from pandaprobe.projects.access import Action, ProjectAccess, browser_access

from ..forms import TraceSelectionForm
from ..links import page_url
from ..selectors import queues as queue_selectors
from ..services.queues import QueueItemsAdded, review_queue_items_add
from .pages import render_explorer

UNPROCESSABLE = 422
# Who may do what with a selection: the same roles as the queue builder and the run form.
SELECTION_ACTIONS = {
    TraceSelectionForm.QUEUE: Action.QUEUE_MANAGE,
    TraceSelectionForm.EVALUATE: Action.RUN_MANAGE,
}


def _back_to_explorer(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    query = request.GET.urlencode()
    return redirect(f"{page_url('trace-list', access.project)}{'?' + query if query else ''}")


@login_required
@require_POST
def trace_selection(request: HttpRequest) -> HttpResponse:
    """Add the selected traces to a queue (`action=queue`), or open the run form for exactly them
    (`action=evaluate`). A reviewer gets 403; a bad selection, the explorer again with a 400."""
    access = browser_access(request)
    needed = SELECTION_ACTIONS.get(request.POST.get("action", ""))
    if needed is None:
        raise BadRequest("Choose an action: add to queue, or evaluate selected")
    access.require(needed)
    form = TraceSelectionForm(request.POST)
    if not form.is_valid():
        return render_explorer(request, access, selection=form, status=400)
    if form.cleaned_data["action"] == TraceSelectionForm.EVALUATE:
        return _evaluate(request, access, form)
    return _add_to_queue(request, access, form)


def _add_to_queue(request: HttpRequest, access: ProjectAccess, form: TraceSelectionForm) -> HttpResponse:
    queue = queue_selectors.queue_get_for_manage(access=access, queue_id=form.cleaned_data["queue"])
    try:
        result = review_queue_items_add(access=access, queue=queue, trace_ids=form.cleaned_data["trace_ids"])
    except ValidationError as error:
        for key, texts in error.message_dict.items():
            for text in texts:
                form.add_error(key if key in form.fields else None, text)
        return render_explorer(request, access, selection=form, status=UNPROCESSABLE)
    messages.success(request, _added_message(queue.name, result))
    if result.not_found:
        messages.warning(request, _not_in_project(result.not_found))
    return _back_to_explorer(request, access)


def _added_message(queue_name: str, result: QueueItemsAdded) -> str:
    text = f"Added {result.added} trace{pluralize(result.added)} to '{queue_name}'"
    if result.already_queued:
        text += f"; skipped {result.already_queued} already in it"
    return text + "."


def _not_in_project(count: int) -> str:
    return f"{count} selected trace{pluralize(count)} {pluralize(count, 'is,are')} not in this project: left out."


def _evaluate(request: HttpRequest, access: ProjectAccess, form: TraceSelectionForm) -> HttpResponse:
    """The run form over the selected traces of the project (the explorer's `trace_ids` filter)."""
    chosen = form.cleaned_data["trace_ids"]
    found = queue_selectors.traces_found(project=access.project, trace_ids=chosen)
    if not found:
        form.add_error("trace_ids", "None of the selected traces is in this project.")
        return render_explorer(request, access, selection=form, status=400)
    if len(found) < len(chosen):
        messages.warning(request, _not_in_project(len(chosen) - len(found)))
    query = urlencode([("trace_ids", str(trace_id)) for trace_id in chosen if trace_id in found])
    return redirect(f"{page_url('run-create', access.project)}?{query}")
