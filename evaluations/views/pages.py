"""Annotation pages: thin adapters between forms/templates and the services and selectors."""

import uuid
from functools import partial
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_http_methods, require_POST

from pandaprobe.projects.access import (
    SESSION_PROJECT_KEY,
    Action,
    ProjectAccess,
    browser_access,
    member_projects,
)
from pandaprobe.traces.filters import SessionGroupParams, TraceFilter
from pandaprobe.traces.selectors import session_list as sessions_page
from pandaprobe.traces.selectors import span_get

from ..forms import ScoreForm, ScoreKind, pick_kind, score_kinds
from ..links import page_url, session_page_url
from ..models import ScoreEvent
from ..selectors import annotations as annotation_selectors
from ..selectors import queues as queue_selectors
from ..selectors import sessions as session_selectors
from ..selectors.score_groups import score_groups
from ..selectors.scores import latest_scores_per_reviewer, score_panel, trace_score_get
from ..services.annotations import own_annotation, session_score_annotate, trace_score_annotate
from ..services.scores import score_change_allowed, trace_score_delete
from .trace_filters import trace_filter_form

TRACES_PER_PAGE = 50
SESSIONS_PER_PAGE = 50
SESSION_TRACES_PER_PAGE = 100
SESSION_VIEWS = ("conversation", "table")  # the first is the default
SPAN_LINKS_PER_TRACE = 12  # a turn links its first spans; the trace page shows them all
MAX_PAGE = 10**6
# Where switching project may return to: pages that hold no id of the project left behind.
LANDING_PAGES = ("trace-list", "session-list", "queue-list", "run-list", "analytics-page")


# --- the current project (which one it is: `pandaprobe.projects.access.current_project`) ----------


@login_required
@require_POST
def project_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's projects current and open its page of the kind the user was on
    (`next`, if a list page); a project they are not in answers 404."""
    try:
        project_id = uuid.UUID(request.POST.get("project", ""))
    except ValueError:
        raise Http404("No such project") from None
    project = next((p for p in member_projects(request) if p.pk == project_id), None)
    if project is None:
        raise Http404("No such project")
    request.session[SESSION_PROJECT_KEY] = str(project_id)
    return redirect(page_url(_landing_page(request.POST.get("next") or ""), project))


def _landing_page(next_path: str) -> str:
    # Only the name of the page is kept, rebuilt in the new project: ids in the old page's URL
    # belong to the old project, and nothing of `next` can send the browser elsewhere.
    try:
        name = resolve(urlsplit(next_path).path).url_name
    except Resolver404:
        name = None
    return name if name in LANDING_PAGES else "trace-list"


def project_home(request: HttpRequest) -> HttpResponse:
    """`/app/p/<project id>/`: the project's traces."""
    return redirect(page_url("trace-list", browser_access(request).project))


@login_required
def moved_page(request: HttpRequest, rest: str) -> HttpResponse:
    """`/app/<rest>` from before pages named their project (bookmarks, old links): the same page of
    the current project, query string kept. A path that names no page there is a 404."""
    project = browser_access(request).project
    match = resolve(page_url("project-home", project) + rest)
    if match.url_name is None:
        raise Http404("No such page")
    values = {key: value for key, value in match.kwargs.items() if key != "project_id"}
    if match.url_name == "session-detail":
        url = session_page_url(project, values["session_id"])
    else:
        url = page_url(match.url_name, project, **values)
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{url}?{query}" if query else url)


# --- trace explorer ------------------------------------------------------------------------------


def error_messages(error: ValidationError) -> dict[str, list[str]]:
    """Messages by field; errors of no field go under "general" (templates cannot read "__all__")."""
    detail = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return {("general" if key == "__all__" else key): messages for key, messages in detail.items()}


@login_required
def trace_list(request: HttpRequest) -> HttpResponse:
    return render_explorer(request, browser_access(request))


def render_explorer(request: HttpRequest, access: ProjectAccess, *, selection=None, status: int = 200):
    """The explorer for this request's query string. `selection`: a row action's bound form
    (`TraceSelectionForm`) shown again with its errors and its boxes still ticked."""
    params = annotation_selectors.explorer_params(request.GET)
    errors: dict[str, list[str]] = {}
    try:
        traces = annotation_selectors.explorer_traces(project=access.project, params=params)
        page = Paginator(traces, TRACES_PER_PAGE).get_page(request.GET.get("page"))
    except ValidationError as error:
        errors = error_messages(error)
        page = Paginator([], TRACES_PER_PAGE).get_page(1)
    scores = latest_scores_per_reviewer(project=access.project, trace_ids=[t.pk for t in page])
    can_queue, can_run = access.can(Action.QUEUE_MANAGE), access.can(Action.RUN_MANAGE)
    context = {
        "nav": "traces",
        "access": access,
        "page": page,
        "rows": [(trace, score_groups(scores[trace.pk])) for trace in page],
        "trace_filter": trace_filter_form(
            project=access.project, query=request.GET, params=params, errors=errors
        ),
        "errors": errors,
        "filters": request.GET,
        "sort_fields": list(TraceFilter.SORT_FIELDS),
        "detail_query": request.GET.urlencode(),
        "can_manage_runs": can_run,
        "can_manage_queues": can_queue,
        # Row selection and its actions: only for who may act on it (a reviewer sees plain rows).
        "can_select": can_queue or can_run,
        "queues": list(queue_selectors.open_queues(access=access)) if can_queue else [],
        "selection": selection,
        "checked": {str(i) for i in selection.data.getlist("trace_ids")} if selection is not None else set(),
    }
    return render(request, "evaluations/trace_list.html", context, status=400 if errors else status)


# --- score panel (trace and session pages) --------------------------------------------------------


def score_panel_groups(access: ProjectAccess, scores: list, *, target: str, **subject) -> dict:
    """The score list's context (`includes/score_list.html`): `scores` by name, one row per author
    and source with its own history and whether this user may change it; deleted scores' history."""
    panel = score_panel(access=access, target=target, scores=scores, **subject)
    can_change = partial(score_change_allowed, access)
    return {
        "groups": score_groups(scores, history=panel.history, can_change=can_change),
        "removed": panel.removed,
    }


def _score_panel(request: HttpRequest, access: ProjectAccess, scores: list, *, target: str, form, **subject):
    """The score panel of a trace (`trace_id=`) or session (`session_id=`): the scores by name, one
    row per author and source, each with the history this user may read and, on the rows this user
    may change, edit and delete buttons; and the scoring form, offered only to who may annotate."""
    return {
        **score_panel_groups(access, scores, target=target, **subject),
        "can_annotate": access.can(Action.SCORE_ANNOTATE),
        **_score_form(request, access, scores, form=form),
    }


def _score_form(request: HttpRequest, access: ProjectAccess, scores: list, *, form: ScoreForm | None):
    """The scoring form's context: the kinds to choose from, the chosen one, and the form, filled
    in with the user's own score of that name when saving would edit it."""
    kinds = (
        form.kinds if form else score_kinds(annotation_selectors.active_score_configs(project=access.project))
    )
    if form is not None:
        kind = form.chosen_kind() or pick_kind(kinds, form.data.get("kind"))
        return {"form": form, "kinds": kinds, "kind": kind, "editing": None}
    kind = pick_kind(kinds, request.GET.get("score_with"))
    editing = _own_score(kind, scores, access)
    initial = {"kind": kind.key}
    if editing is not None:
        initial.update(value=editing.value or "", reason=editing.reason or "", reason_shown=True)
    form = ScoreForm(initial=initial, kinds=kinds)
    return {"form": form, "kinds": kinds, "kind": kind, "editing": editing}


def _own_score(kind: ScoreKind, scores: list, access: ProjectAccess):
    if kind.config is None:
        return None  # a free name is typed at save time
    return own_annotation(
        scores, access=access, name=kind.config.name, data_type=kind.data_type, config=kind.config
    )


def _bound_score_form(request: HttpRequest, access: ProjectAccess) -> ScoreForm:
    configs = annotation_selectors.active_score_configs(project=access.project)
    return ScoreForm(request.POST, kinds=score_kinds(configs))


def _saved(request: HttpRequest, score, created: bool) -> None:
    verb = "Saved" if created else "Updated"
    messages.success(request, f"{verb} {score.name} = {score.value}")


def _with_query(url: str, request: HttpRequest, anchor: str = "") -> str:
    query = request.GET.urlencode()
    return f"{url}{'?' + query if query else ''}{anchor}"


# --- trace page ----------------------------------------------------------------------------------


def _neighbour_urls(request: HttpRequest, access: ProjectAccess, trace) -> dict:
    """The previous and next traces' pages in the explorer's order, keeping its query string."""
    previous, following = annotation_selectors.trace_neighbours(
        project=access.project, trace=trace, query=request.GET
    )

    def url(trace_id) -> str | None:
        return _with_query(page_url("trace-detail", access.project, trace_id), request) if trace_id else None

    return {"previous_url": url(previous), "next_url": url(following)}


def _render_trace(request: HttpRequest, access: ProjectAccess, trace_id, *, form=None, status=200):
    page = annotation_selectors.trace_page(project=access.project, trace_id=trace_id)
    back = request.GET.copy()
    back.pop("score_with", None)
    context = {
        "nav": "traces",
        "access": access,
        "trace": page.trace,
        "spans": page.spans,
        "list_query": back.urlencode(),
        "query": request.GET.urlencode(),
        **_neighbour_urls(request, access, page.trace),
        **_score_panel(
            request, access, page.scores, target=ScoreEvent.Target.TRACE, form=form, trace_id=page.trace.pk
        ),
    }
    return render(request, "evaluations/trace_detail.html", context, status=status)


@login_required
def trace_detail(request: HttpRequest, trace_id: uuid.UUID) -> HttpResponse:
    return _render_trace(request, browser_access(request), trace_id)


@login_required
def trace_span(request: HttpRequest, trace_id: uuid.UUID, span_id: uuid.UUID) -> HttpResponse:
    """One span's body (ids, times, input, output, metadata) as an HTML fragment: the trace page
    and the queue item ship only the span tree, and static/js/trace.js fetches this when a span is
    opened. 404 for a span of another trace or project."""
    access = browser_access(request)
    span = span_get(project=access.project, trace_id=trace_id, span_id=span_id)
    return render(request, "evaluations/span_body.html", {"span": span})


@login_required
@require_POST
def trace_score(request: HttpRequest, trace_id: uuid.UUID) -> HttpResponse:
    """Save the scoring form: create, or edit the user's own latest score of that name."""
    access = browser_access(request)
    form = _bound_score_form(request, access)
    if form.is_valid():
        try:
            score, created = trace_score_annotate(access=access, trace_id=trace_id, **form.score_input())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            _saved(request, score, created)
            url = page_url("trace-detail", access.project, trace_id)
            return redirect(_with_query(url, request, "#scores"))
    return _render_trace(request, access, trace_id, form=form, status=422)


@login_required
@require_POST
def trace_score_remove(request: HttpRequest, trace_id: uuid.UUID, score_id: uuid.UUID) -> HttpResponse:
    """Delete a score of the trace: one's own annotation, or any score for who may manage scores
    (the service decides: 403 otherwise; 404 for a score of another trace or project)."""
    access = browser_access(request)
    score = trace_score_get(project=access.project, score_id=score_id)
    if score.trace_id != trace_id:
        raise Http404("Score not found")
    trace_score_delete(access=access, score=score)
    messages.success(request, f"Deleted {score.name} = {score.value}")
    return redirect(_with_query(page_url("trace-detail", access.project, trace_id), request, "#scores"))


# --- sessions ------------------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    """The page asked for (1 if it is no number); a 400 beyond `MAX_PAGE`, where page × size would
    overflow the database's OFFSET (`?page=99999999999999999999` was a 500)."""
    try:
        number = max(int(raw or 1), 1)
    except ValueError:
        return 1
    if number > MAX_PAGE:
        raise BadRequest(f"There is no page {number}")
    return number


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    access = browser_access(request)
    number = _page_number(request.GET.get("page"))
    errors: dict[str, list[str]] = {}
    try:
        result = sessions_page(
            project=access.project,
            params=request.GET,
            limit=SESSIONS_PER_PAGE,
            offset=(number - 1) * SESSIONS_PER_PAGE,
        )
    except ValidationError as error:
        errors, result = error_messages(error), {"items": [], "total": 0}
    ids = [row["session_id"] for row in result["items"]]
    scores = session_selectors.latest_scores_for_sessions(project=access.project, session_ids=ids)
    context = {
        "nav": "sessions",
        "access": access,
        "rows": [(row, score_groups(scores[row["session_id"]])) for row in result["items"]],
        "total": result["total"],
        "number": number,
        "has_next": number * SESSIONS_PER_PAGE < result["total"],
        "errors": errors,
        "filters": request.GET,
        "sort_fields": list(SessionGroupParams.SORT_FIELDS),
    }
    return render(request, "evaluations/session_list.html", context, status=400 if errors else 200)


def _session_view(raw: str | None) -> tuple[str, dict[str, list[str]]]:
    """How the session page shows its traces (`?view=`), and the error of an unknown choice."""
    if raw in SESSION_VIEWS:
        return raw, {}
    error = {"view": [f"Choose one of: {', '.join(SESSION_VIEWS)}."]} if raw else {}
    return SESSION_VIEWS[0], error


def _session_rows(access: ProjectAccess, session_id: str, number: int, view: str) -> tuple[list, int]:
    """A page of (trace, its latest scores, its first spans) and the session's trace count; the
    conversation reads payloads and span links, the table neither."""
    conversation = view == "conversation"
    traces, total = session_selectors.session_traces(
        project=access.project,
        session_id=session_id,
        limit=SESSION_TRACES_PER_PAGE,
        offset=(number - 1) * SESSION_TRACES_PER_PAGE,
        payloads=conversation,
    )
    ids = [trace.pk for trace in traces]
    scores = latest_scores_per_reviewer(project=access.project, trace_ids=ids)
    spans = (
        session_selectors.first_spans(project=access.project, trace_ids=ids, per_trace=SPAN_LINKS_PER_TRACE)
        if conversation
        else {}
    )
    return [(trace, score_groups(scores[trace.pk]), spans.get(trace.pk, [])) for trace in traces], total


def _render_session(request: HttpRequest, access: ProjectAccess, session_id: str, *, form=None, status=200):
    number = _page_number(request.GET.get("page"))
    view, errors = _session_view(request.GET.get("view"))
    rows, total = _session_rows(access, session_id, number, view)
    scores = session_selectors.latest_session_scores(project=access.project, session_id=session_id)
    context = {
        "nav": "sessions",
        "access": access,
        "session_id": session_id,
        "view": view,
        "errors": errors,
        "rows": rows,
        "total": total,
        "number": number,
        "has_next": number * SESSION_TRACES_PER_PAGE < total,
        "query": request.GET.urlencode(),
        "trace_query": urlencode({"session_id": session_id}),
        "evaluation": session_selectors.session_evaluation(project=access.project, session_id=session_id),
        **_score_panel(
            request, access, scores, target=ScoreEvent.Target.SESSION, form=form, session_id=session_id
        ),
    }
    return render(request, "evaluations/session_detail.html", context, status=400 if errors else status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    """The session page; its scoring form posts here (no `/score/` suffix: see evaluations/urls.py)."""
    if request.method == "POST":
        return _session_score(request, session_id)
    return _render_session(request, browser_access(request), session_id)


def _session_score(request: HttpRequest, session_id: str) -> HttpResponse:
    """Score the session as a whole: create, or edit the user's own latest score of that name."""
    access = browser_access(request)
    form = _bound_score_form(request, access)
    if form.is_valid():
        try:
            score, created = session_score_annotate(
                access=access, session_id=session_id, **form.score_input()
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            _saved(request, score, created)
            return redirect(_with_query(session_page_url(access.project, session_id), request, "#scores"))
    return _render_session(request, access, session_id, form=form, status=422)
