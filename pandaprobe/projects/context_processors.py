"""Template context of every page."""

from django.utils.functional import SimpleLazyObject

from .access import current_project as _current_project


def current_project(request) -> dict:
    """`project`: the project of the page (its URL's, else the session's; None for a user with none),
    which `{% page_url %}` builds the page links from. Read on first use: the admin never does."""
    return {"project": SimpleLazyObject(lambda: _current_project(request))}
