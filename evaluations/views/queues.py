"""Review-queue pages: the list, the admin's builder, progress, and the reviewer's work page.

The work page is a plain form (POST + CSRF, then a redirect to the next item), so it works
without JavaScript; static/js/queue.js only adds the keys.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from pandaprobe.projects.access import browser_access

from ..forms import (
    ItemReviewForm,
    QueueCreateForm,
    QueueSettingsForm,
    comment_field_name,
    not_applicable_field_name,
    score_field_name,
)
from ..links import page_url
from ..models import ReviewQueue, ScoreDataType, ScoreEvent
from ..selectors import queues as queue_selectors
from ..selectors.annotations import explorer_params, span_tree
from ..selectors.scores import latest_scores_per_reviewer
from ..services.queues import (
    queue_item_hold,
    queue_item_review_submit,
    queue_item_skip,
    queue_next_item_claim,
    review_queue_archive,
    review_queue_create,
    review_queue_update,
)
from ..services.values import number_text, numeric_span, score_keys
from .pages import error_messages, score_panel_groups
from .trace_filters import trace_filter_form, unprefixed

UNPROCESSABLE = 422
ITEMS_PER_PAGE = 100


@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    access = browser_access(request)
    context = {
        "queues": queue_selectors.queue_list(access=access),
        "archived": queue_selectors.archived_queues(access=access),
        "can_create": queue_selectors.is_queue_admin(access),
        "nav": "queues",
    }
    return render(request, "queues/list.html", context)


def _create_from_form(access, form: QueueCreateForm, traces):
    """The queue of the chosen traces: the selection's ids, or the first `limit` the filter matches."""
    data = form.cleaned_data
    if data["source"] == QueueCreateForm.SOURCE_SELECTION:
        trace_ids = data["trace_ids"]
    else:
        trace_ids = list(traces.values_list("pk", flat=True)[: data["limit"]])
    return review_queue_create(access=access, trace_ids=trace_ids, **form.settings())


def _save_form(request: HttpRequest, form: QueueSettingsForm, save: Callable[[], ReviewQueue]):
    """`save()`'s queue when a POSTed form is valid and the service agrees, else None (the
    service's errors are on the form)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save()
    except ValidationError as exc:
        form.add_service_errors(exc)
        return None


def _form_page(request: HttpRequest, template: str, form: QueueSettingsForm, **context) -> HttpResponse:
    status = UNPROCESSABLE if form.is_bound and form.errors else 200
    return render(request, template, {"form": form, "nav": "queues", **context}, status=status)


@dataclass
class QueueFilter:
    """The queue builder's trace filter: the explorer's boxes as typed, as resolved, and the traces
    they select (None when the filter is refused: `errors` by parameter)."""

    query: QueryDict
    params: QueryDict
    traces: QuerySet | None
    errors: dict[str, list[str]]


def _queue_filter(request: HttpRequest, access) -> QueueFilter:
    # A POST holds the form's prefixed boxes; a GET, the explorer's query string ("New queue from
    # this filter"), whose `trace_ids` prefill the selection box instead.
    if request.method == "POST":
        query = unprefixed(request.POST, QueueCreateForm.FILTER_PREFIX)
    else:
        query = request.GET.copy()
        query.pop("trace_ids", None)
    params = explorer_params(query)
    try:
        return QueueFilter(
            query, params, queue_selectors.traces_for_queue(project=access.project, params=params), {}
        )
    except ValidationError as error:
        return QueueFilter(query, params, None, error_messages(error))


def _queue_create_form(request: HttpRequest, access, *, preview: bool) -> QueueCreateForm:
    """Bound when creating; a preview shows the posted values unbound, without required-field errors."""
    if request.method == "POST" and not preview:
        data, initial = request.POST, None
    else:
        data = None
        initial = (
            QueueCreateForm.initial_from_data(request.POST)
            if preview
            else QueueCreateForm.initial_from_query(request.GET)
        )
    return QueueCreateForm(
        data,
        initial=initial,
        configs=queue_selectors.assignable_score_configs(project=access.project),
        members=queue_selectors.project_members(project=access.project),
    )


@login_required
def queue_create(request: HttpRequest) -> HttpResponse:
    """Admins only: build a queue from the explorer's filter or a list of trace ids. "Preview" (and
    arriving from the explorer with a filter) shows how many traces the filter matches."""
    access = browser_access(request)
    if not queue_selectors.is_queue_admin(access):
        raise PermissionDenied("Only project admins can create review queues")
    preview = request.method == "POST" and request.POST.get("action") == "preview"
    scope = _queue_filter(request, access)
    form = _queue_create_form(request, access, preview=preview)
    creating = form.is_bound
    # A refused filter matters unless the queue is built from the selection box.
    refused = bool(scope.errors) and not (
        creating and form.data.get("source") == QueueCreateForm.SOURCE_SELECTION
    )
    if creating and not refused:
        queue = _save_form(request, form, lambda: _create_from_form(access, form, scope.traces))
        if queue is not None:
            messages.success(request, f"Queue '{queue.name}' created with {queue.items.count()} traces.")
            return redirect(page_url("queue-detail", access.project, queue.pk))
    show_count = scope.traces is not None and (preview or (not creating and bool(scope.query)))
    context = {
        "form": form,
        "nav": "queues",
        "trace_filter": trace_filter_form(
            project=access.project, query=scope.query, params=scope.params, errors=scope.errors,
            prefix=QueueCreateForm.FILTER_PREFIX,
        ),
        "match_count": scope.traces.count() if show_count else None,
    }  # fmt: skip
    if creating:
        status = UNPROCESSABLE if refused or form.errors else 200
    else:
        status = 400 if refused else 200  # a bad filter on a page: 400, the form shown again
    return render(request, "queues/create.html", context, status=status)


@login_required
def queue_detail(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """Progress (done/total for the queue and per reviewer), settings, and the items, paged."""
    access = browser_access(request)
    queue = queue_selectors.queue_get(access=access, queue_id=queue_id)
    now = timezone.now()
    items = Paginator(queue_selectors.queue_items_with_state(queue=queue, now=now), ITEMS_PER_PAGE)
    context = {
        "queue": queue,
        "progress": queue_selectors.queue_progress(queue=queue, now=now),
        "configs": queue_selectors.queue_score_configs(queue=queue),
        "is_reviewer": queue.reviewers.filter(pk=request.user.pk).exists(),
        "can_manage": queue_selectors.is_queue_admin(access),
        "items": items.get_page(request.GET.get("page")),
        "nav": "queues",
    }
    return render(request, "queues/detail.html", context)


def _settings_form(request: HttpRequest, access, queue) -> QueueSettingsForm:
    return QueueSettingsForm(
        request.POST if request.method == "POST" else None,
        initial=QueueSettingsForm.initial_from_queue(queue),
        configs=queue_selectors.assignable_score_configs(project=access.project),
        members=queue_selectors.project_members(project=access.project),
    )


@login_required
def queue_edit(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """Admins only (403 for reviewers): change a queue's settings, configs and reviewers."""
    access = browser_access(request)
    queue = queue_selectors.queue_get_for_manage(access=access, queue_id=queue_id)
    form = _settings_form(request, access, queue)
    if _save_form(request, form, lambda: review_queue_update(access=access, queue=queue, **form.settings())):
        messages.success(request, f"Queue '{queue.name}' saved.")
        return redirect(page_url("queue-detail", access.project, queue.pk))
    return _form_page(request, "queues/edit.html", form, queue=queue)


@login_required
@require_POST
def queue_archive(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """Admins only: archive a queue (`archived=0` restores it)."""
    access = browser_access(request)
    queue = queue_selectors.queue_get_for_manage(access=access, queue_id=queue_id)
    archived = request.POST.get("archived", "1") != "0"
    review_queue_archive(access=access, queue=queue, archived=archived)
    messages.success(request, f"Queue '{queue.name}' {'archived' if archived else 'restored'}.")
    return redirect(page_url("queue-list", access.project))


def _controls(form: ItemReviewForm) -> list[dict]:
    """What the template needs to draw one keyboard-driven control per score config: its keys come
    from `score_keys`, the same list the page's script reads (as JSON data) and the overlay prints."""
    controls = []
    for config in form.configs:
        bound = form[score_field_name(config)]
        keys = score_keys(config)
        control = {
            "config": config,
            "field": bound,
            "value": bound.value(),
            "kind": config.data_type,
            "keys": keys,
            "keys_json": json.dumps(dict(keys)),
            "not_applicable": form[not_applicable_field_name(config)],
            "comment": form[comment_field_name(config)],
        }
        if config.data_type == ScoreDataType.NUMERIC:
            control["low"], control["high"] = (number_text(bound) for bound in numeric_span(config))
            control["step"] = number_text(config.step) if config.step else None
        elif config.data_type == ScoreDataType.BOOLEAN or config.categories:
            keyed = dict((value, key) for key, value in keys)
            control["options"] = [(keyed.get(value, ""), value) for value, _ in bound.field.choices]
        controls.append(control)
    return controls


def _render_item(request, access, queue, item, form, *, status: int = 200) -> HttpResponse:
    now = timezone.now()
    review = queue_selectors.item_review_of(item=item, reviewer=request.user)
    context = {
        "queue": queue,
        "item": item,
        "trace": item.trace,
        # The trace page's span tree (`includes/trace_body.html`): bodies load when opened.
        "spans": span_tree(item.trace),
        "form": form,
        "controls": _controls(form),
        "review": review,
        "neighbours": queue_selectors.item_neighbours(queue=queue, reviewer=request.user, item=item, now=now),
        "progress": queue_selectors.queue_progress(queue=queue, now=now),
        "my_done": queue_selectors.reviewer_done_count(queue=queue, reviewer=request.user),
        "nav": "queues",
        **_item_scores(access, item),
    }
    return render(request, "queues/work.html", context, status=status)


def _item_scores(access, item) -> dict:
    """Everyone's scores of the item's trace, one row per author and source (the judge's too)."""
    scores = latest_scores_per_reviewer(project=access.project, trace_ids=[item.trace_id])[item.trace_id]
    return score_panel_groups(access, scores, target=ScoreEvent.Target.TRACE, trace_id=item.trace_id)


def _initial_values(access, item, configs) -> dict:
    """Prefill with the reviewer's own scores, comments and N/As when they reopen an item."""
    mine = queue_selectors.reviewer_scores_for_trace(
        project=access.project, trace_id=item.trace_id, reviewer=access.user, names=[c.name for c in configs]
    )
    marks = queue_selectors.not_applicable_marks(item=item, reviewer=access.user)
    initial = {"item": item.pk}
    for config in configs:
        if config.pk in marks:
            initial[not_applicable_field_name(config)] = True
            initial[comment_field_name(config)] = marks[config.pk]
        elif config.name in mine:
            initial[score_field_name(config)] = mine[config.name].value
            initial[comment_field_name(config)] = mine[config.name].reason or ""
    return initial


def _item_from(queue, raw: str | None):
    try:
        return queue_selectors.queue_item_get(queue=queue, item_id=uuid.UUID(str(raw)))
    except ValueError:
        raise Http404("No such item") from None


@login_required
def queue_work(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """GET: hold and show the reviewer's next item (or `?item=`); POST: save it and move on."""
    access = browser_access(request)
    queue = queue_selectors.queue_get_for_work(access=access, queue_id=queue_id)
    configs = queue_selectors.queue_score_configs(queue=queue)
    if request.method == "POST":
        return _work_submit(request, access, queue, configs)
    if "item" in request.GET:
        item = _item_from(queue, request.GET["item"])
        if not queue_item_hold(queue=queue, item=item, reviewer=request.user):
            messages.warning(
                request, f"Item #{item.position} is taken by other reviewers or already finished."
            )
            return redirect(page_url("queue-work", access.project, queue.pk))
    else:
        item = queue_next_item_claim(queue=queue, reviewer=request.user)
    if item is None:
        progress = queue_selectors.queue_progress(queue=queue, now=timezone.now())
        return render(request, "queues/done.html", {"queue": queue, "progress": progress, "nav": "queues"})
    form = ItemReviewForm(initial=_initial_values(access, item, configs), configs=configs)
    return _render_item(request, access, queue, item, form)


def _work_submit(request: HttpRequest, access, queue, configs) -> HttpResponse:
    item = _item_from(queue, request.POST.get("item"))
    form = ItemReviewForm(request.POST, configs=configs)
    if form.is_valid():
        try:
            queue_item_review_submit(access=access, queue=queue, item=item, given=form.review_input())
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Saved item #{item.position}.")
            return redirect(page_url("queue-work", access.project, queue.pk))
    return _render_item(request, access, queue, item, form, status=UNPROCESSABLE)


@login_required
@require_POST
def queue_skip(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """Give the item back to the pool and open the reviewer's next one (never the same one)."""
    access = browser_access(request)
    queue = queue_selectors.queue_get_for_work(access=access, queue_id=queue_id)
    item = _item_from(queue, request.POST.get("item"))
    queue_item_skip(access=access, queue=queue, item=item)
    following = queue_next_item_claim(queue=queue, reviewer=request.user, exclude=item)
    if following is None:
        messages.info(request, f"Skipped item #{item.position}; nothing else is left for you right now.")
        return redirect(page_url("queue-detail", access.project, queue.pk))
    messages.info(request, f"Skipped item #{item.position}: it is back in the pool.")
    return redirect(f"{page_url('queue-work', access.project, queue.pk)}?item={following.pk}")
