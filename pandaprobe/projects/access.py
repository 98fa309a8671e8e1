"""Who is acting, in which project, with what role — and what each role may do.

Every request and every worker acts through a `ProjectAccess`: a user (project admin or reviewer),
an API key, or the system actor of background workers. `ROLE_ACTIONS` is the one permission table;
services call `access.require(Action.X)` before they write, so a rule holds whether the call comes
from the API, a page or a worker. The README prints the same table.
"""

import enum
import uuid
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required

from pandaprobe.errors import NotFound, PermissionDenied

from . import selectors
from .models import ApiKey, Membership, Project

# The browser session's current project (the project switcher writes it).
SESSION_PROJECT_KEY = "project_id"


class Actor(enum.StrEnum):
    API_KEY = "api_key"
    ADMIN = "admin"
    REVIEWER = "reviewer"
    SYSTEM = "system"


class Action(enum.StrEnum):
    READ = "read"
    TRACE_INGEST = "trace.ingest"  # POST /traces, POST /traces/{id}/spans
    TRACE_EDIT = "trace.edit"  # PATCH a trace or a span
    TRACE_DELETE = "trace.delete"  # DELETE a trace or a session (and their scores)
    TRACE_BATCH = "trace.batch"  # batch delete, batch tags
    SCORE_ANNOTATE = "score.annotate"  # create ANNOTATION scores; edit or delete one's own
    SCORE_PROGRAMMATIC = "score.programmatic"  # create PROGRAMMATIC scores
    SCORE_AUTOMATED = "score.automated"  # the judge's scores: AUTOMATED, a FAILED/PENDING status, a run id
    SCORE_MANAGE = "score.manage"  # edit or delete any score
    SCORE_HISTORY_DELETED = "score.history_deleted"  # read a deleted score's history
    CONFIG_MANAGE = "config.manage"  # create, edit, delete score configs
    QUEUE_MANAGE = "queue.manage"  # create, edit, archive review queues
    RUN_MANAGE = "run.manage"  # start, cancel, retry, delete evaluation runs


_AUTOMATION = {
    Action.READ, Action.TRACE_INGEST, Action.TRACE_EDIT, Action.TRACE_DELETE, Action.TRACE_BATCH,
    Action.SCORE_ANNOTATE, Action.SCORE_PROGRAMMATIC, Action.SCORE_MANAGE, Action.SCORE_HISTORY_DELETED,
    Action.CONFIG_MANAGE, Action.RUN_MANAGE,
}  # fmt: skip
ROLE_ACTIONS: dict[Actor, frozenset[Action]] = {
    # Project automation: ingest, read, score, delete. Queues are people's work.
    Actor.API_KEY: frozenset(_AUTOMATION),
    Actor.ADMIN: frozenset(_AUTOMATION | {Action.QUEUE_MANAGE}),
    # Read everything; create annotations, edit or delete only their own.
    Actor.REVIEWER: frozenset({Action.READ, Action.SCORE_ANNOTATE}),
    # Background workers (the judge): everything, and the only writer of AUTOMATED scores.
    Actor.SYSTEM: frozenset(Action),
}


@dataclass(frozen=True)
class ProjectAccess:
    """Who is acting, and in which project."""

    project: Project
    user: object | None = None
    api_key: ApiKey | None = None
    role: str = Membership.Role.ADMIN

    @classmethod
    def system(cls, project: Project) -> "ProjectAccess":
        """The actor of background work (evaluation runs, monitors) in `project`."""
        return cls(project=project)

    @property
    def actor(self) -> Actor:
        if self.api_key is not None:
            return Actor.API_KEY
        if self.user is None:
            return Actor.SYSTEM
        return Actor.ADMIN if self.role == Membership.Role.ADMIN else Actor.REVIEWER

    @property
    def user_id(self) -> str | None:
        return str(self.user.pk) if self.user is not None else None

    @property
    def actor_label(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        if self.api_key is not None:
            return f"api-key:{self.api_key.key_prefix}"
        return "system"

    def can(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.actor]

    def require(self, action: Action, message: str | None = None) -> None:
        """Raise `PermissionDenied` (403) unless this actor's role allows `action`."""
        if not self.can(action):
            raise PermissionDenied(message or f"The {self.actor.value} role may not do this ({action.value})")


def user_access(user, project_id) -> ProjectAccess | None:
    """A signed-in user's access to a project (superusers are admins everywhere), or None."""
    role = selectors.membership_role(user=user, project_id=project_id)
    project = selectors.project_by_id(project_id) if role else None
    if project is None:
        return None
    return ProjectAccess(project=project, user=user, role=role)


def member_projects(request) -> list[Project]:
    """The signed-in user's projects, read once per request (the project switcher shows them too)."""
    if not hasattr(request, "_member_projects"):
        request._member_projects = selectors.projects_for_user(request.user)
    return request._member_projects


def current_project(request) -> Project | None:
    """The browser's current project: the one the page's URL names (`project_page`), else the
    session's, else the user's first; None when the session names a project they are not a member
    of, or they have none."""
    access = getattr(request, "project_access", None)
    if access is not None:
        return access.project
    if not request.user.is_authenticated:
        return None
    projects = member_projects(request)
    current = request.session.get(SESSION_PROJECT_KEY)
    if current:
        return next((p for p in projects if str(p.pk) == str(current)), None)
    return projects[0] if projects else None


def browser_access(request) -> ProjectAccess:
    """The signed-in browser user's access to their current project (`current_project`);
    `NotFound` when the session names a project they are not a member of, or they have none."""
    access = getattr(request, "project_access", None)
    if access is not None:
        return access
    project = current_project(request)
    if project is None:
        raise NotFound("You are not a member of this project")
    role = selectors.membership_role(user=request.user, project_id=project.pk)
    return ProjectAccess(project=project, user=request.user, role=role)


def project_page(view, *, make_current: bool = True):
    """A page of one project, routed as `/app/p/<project_id>/...`: the URL names the project, so a
    shared link opens where it points. A member's request makes it their current project (the
    switcher shows it) and the view reads it with `browser_access`; a non-member, an unknown project
    and a malformed id all get the 404 page (`NotFound`, which the pages render themselves whatever
    DEBUG says: `pandaprobe/middleware.py`). Anonymous users are sent to sign in.

    `make_current=False` for what a page's script polls: a run page left open in one tab must not
    switch back the project the user has since switched to in another."""

    @wraps(view)
    def page(request, project_id: str, *args, **kwargs):
        project = _member_project(request, project_id)
        if project is None:
            raise NotFound("You are not a member of this project")
        if make_current and request.session.get(SESSION_PROJECT_KEY) != str(project.pk):
            request.session[SESSION_PROJECT_KEY] = str(project.pk)
        role = selectors.membership_role(user=request.user, project_id=project.pk)
        request.project_access = ProjectAccess(project=project, user=request.user, role=role)
        return view(request, *args, **kwargs)

    return login_required(page)


def _member_project(request, project_id: str) -> Project | None:
    try:
        wanted = uuid.UUID(project_id)
    except ValueError:
        return None
    return next((p for p in member_projects(request) if p.pk == wanted), None)
