"""Review-queue pages: the list, the admin's builder, progress, and the reviewer's work page.

The work page is a plain form (POST + CSRF, then a redirect to the next item), so it works
without JavaScript; static/js/queue.js only adds the keys.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from pandaprobe.projects.access import browser_access

from ..forms import ItemReviewForm, QueueCreateForm, score_field_name
from ..selectors import queues as queue_selectors
from ..services.queues import (
    queue_item_hold,
    queue_item_review_submit,
    queue_next_item_claim,
    review_queue_create,
)
from ..services.values import numeric_span

UNPROCESSABLE = 422
MAX_SPANS_SHOWN = 50
# Service field names that the builder form shows under another name.
CREATE_ERROR_FIELDS = {"hold_seconds": "hold_minutes"}


@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    access = browser_access(request)
    context = {
        "queues": queue_selectors.queue_list(access=access),
        "can_create": queue_selectors.is_queue_admin(access),
        "nav": "queues",
    }
    return render(request, "queues/list.html", context)


def _create_error_field(form: QueueCreateForm, key: str) -> str | None:
    if key in CREATE_ERROR_FIELDS:
        return CREATE_ERROR_FIELDS[key]
    if f"filter_{key}" in form.fields:
        return f"filter_{key}"
    return key if key in form.fields else None


def _create_from_form(access, form: QueueCreateForm):
    data = form.cleaned_data
    if data["source"] == QueueCreateForm.SOURCE_SELECTION:
        trace_ids = data["trace_ids"]
    else:
        trace_ids = queue_selectors.trace_ids_from_filter(
            project=access.project, params=form.filter_params(), limit=data["limit"]
        )
    return review_queue_create(
        access=access,
        name=data["name"],
        description=data["description"],
        score_configs=list(data["score_configs"]),
        reviewers=list(data["reviewers"]),
        trace_ids=trace_ids,
        reviewers_per_item=data["reviewers_per_item"],
        hold_seconds=data["hold_minutes"] * 60,
    )


@login_required
def queue_create(request: HttpRequest) -> HttpResponse:
    """Admins only: build a queue from a trace filter or a list of trace ids."""
    access = browser_access(request)
    if not queue_selectors.is_queue_admin(access):
        raise PermissionDenied("Only project admins can create review queues")
    form = QueueCreateForm(
        request.POST if request.method == "POST" else None,
        initial=QueueCreateForm.initial_from_query(request.GET),
        configs=queue_selectors.assignable_score_configs(project=access.project),
        members=queue_selectors.project_members(project=access.project),
    )
    if request.method == "POST" and form.is_valid():
        try:
            queue = _create_from_form(access, form)
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(_create_error_field(form, key), error)
        else:
            messages.success(request, f"Queue '{queue.name}' created with {queue.items.count()} traces.")
            return redirect("queue-detail", queue_id=queue.pk)
    status = UNPROCESSABLE if form.is_bound and form.errors else 200
    return render(request, "queues/create.html", {"form": form, "nav": "queues"}, status=status)


@login_required
def queue_detail(request: HttpRequest, queue_id: uuid.UUID) -> HttpResponse:
    """Progress: done/total for the queue and per reviewer."""
    access = browser_access(request)
    queue = queue_selectors.queue_get(access=access, queue_id=queue_id)
    context = {
        "queue": queue,
        "progress": queue_selectors.queue_progress(queue=queue, now=timezone.now()),
        "configs": queue_selectors.queue_score_configs(queue=queue),
        "is_reviewer": queue.reviewers.filter(pk=request.user.pk).exists(),
        "nav": "queues",
    }
    return render(request, "queues/detail.html", context)


def _numeric_key_hint(low: float, high: float) -> str:
    step = (high - low) / 10
    return f"0–9 set {low:g}, {low + step:g} … {low + 9 * step:g}; = or Shift+0 sets {high:g}"


def _controls(form: ItemReviewForm) -> list[dict]:
    """What the template needs to draw one keyboard-driven control per score config."""
    controls = []
    for config in form.configs:
        bound = form[score_field_name(config)]
        control = {"config": config, "field": bound, "value": bound.value(), "kind": config.data_type}
        if config.data_type == "BOOLEAN":
            control["options"] = [("1", "true"), ("0", "false")]
        elif config.data_type == "CATEGORICAL" and config.categories:
            labels = [str(c) for c in config.categories]
            control["options"] = [(str(i) if i <= 9 else "", label) for i, label in enumerate(labels, 1)]
        elif config.data_type == "NUMERIC":
            low, high = numeric_span(config)
            control.update(low=low, high=high, key_hint=_numeric_key_hint(low, high))
        controls.append(control)
    return controls


def _render_item(request, access, queue, item, form, *, status: int = 200) -> HttpResponse:
    now = timezone.now()
    review = queue_selectors.item_review_of(item=item, reviewer=request.user)
    context = {
        "queue": queue,
        "item": item,
        "trace": item.trace,
        "spans": list(item.trace.spans.order_by("started_at")[:MAX_SPANS_SHOWN]),
        "form": form,
        "controls": _controls(form),
        "review": review,
        "neighbours": queue_selectors.item_neighbours(queue=queue, reviewer=request.user, item=item, now=now),
        "progress": queue_selectors.queue_progress(queue=queue, now=now),
        "my_done": queue_selectors.reviewer_done_count(queue=queue, reviewer=request.user),
        "nav": "queues",
    }
    return render(request, "queues/work.html", context, status=status)


def _initial_values(access, queue, item, configs) -> dict:
    """Prefill with the reviewer's own scores when they reopen an item they already did."""
    mine = queue_selectors.reviewer_scores_for_trace(
        project=access.project, trace_id=item.trace_id, reviewer=access.user, names=[c.name for c in configs]
    )
    initial = {"item": item.pk}
    for config in configs:
        if config.name in mine:
            initial[score_field_name(config)] = mine[config.name].value
            initial["note"] = mine[config.name].reason or ""
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
            return redirect("queue-work", queue_id=queue.pk)
    else:
        item = queue_next_item_claim(queue=queue, reviewer=request.user)
    if item is None:
        progress = queue_selectors.queue_progress(queue=queue, now=timezone.now())
        return render(request, "queues/done.html", {"queue": queue, "progress": progress, "nav": "queues"})
    form = ItemReviewForm(initial=_initial_values(access, queue, item, configs), configs=configs)
    return _render_item(request, access, queue, item, form)


def _work_submit(request: HttpRequest, access, queue, configs) -> HttpResponse:
    item = _item_from(queue, request.POST.get("item"))
    form = ItemReviewForm(request.POST, configs=configs)
    if form.is_valid():
        try:
            queue_item_review_submit(
                access=access,
                queue=queue,
                item=item,
                values=form.values_by_name(),
                reason=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Saved item #{item.position}.")
            return redirect("queue-work", queue_id=queue.pk)
    return _render_item(request, access, queue, item, form, status=UNPROCESSABLE)
