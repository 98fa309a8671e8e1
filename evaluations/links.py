"""URLs of the pages. Every page but sign-in and the project switcher belongs to one project, named
in its path (`/app/p/<project id>/traces/<trace id>/`), so a link works for whoever opens it: build
them with `page_url` here (`{% page_url %}` in templates), never by hand.

A session id is any printable text, and Django's `reverse` leaves "/" unencoded for a `path`
converter and raises on a newline, so session pages have their own builder (`session_url` filter).
"""

from urllib.parse import quote

from django.urls import reverse


def page_url(name: str, project, *args, **kwargs) -> str:
    """The path of the page `name` of `project` (a Project or its id), its other path values after
    it, as in the route: `page_url("trace-detail", project, trace.pk)`."""
    project_id = str(getattr(project, "pk", project))
    if kwargs:
        return reverse(name, kwargs={"project_id": project_id, **kwargs})
    return reverse(name, args=[project_id, *args])


def session_page_url(project, session_id: str) -> str:
    """`/app/p/<project id>/sessions/<id>/`, with every character of the id outside letters, digits
    and `-._~` percent-encoded, "/" included: whatever it holds, the id stays one path segment of this
    page ("../../admin" cannot climb out of it; a newline cannot break the link). The server decodes
    the segment before routing, and the page's route takes any text. Ingestion refuses "." and
    "..", the only segments a browser resolves away even when encoded."""
    return f"{page_url('session-list', project)}{quote(session_id, safe='')}/"
