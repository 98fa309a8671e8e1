"""Path parameters of the API: a bad value is a 422 naming it, like the reference, not a 404.

Django's own converters (`<uuid:...>`) refuse a bad segment by not matching the route, which is
a 404. These converters match any segment and hand a bad one to the view as an `InvalidPathValue`;
`ApiView` (the base of every API view with a path parameter) answers 422 with
`loc: ["path", "<name>"]`, after authentication, so a caller without credentials still gets 401.

The pages (`/app/`) keep 404 for a path that names nothing: `SessionPageConverter`.
"""

import uuid
from dataclasses import dataclass

from rest_framework.views import APIView

from .errors import RequestValidationError
from .fields import text_problem

INVALID_UUID = ("Input should be a valid UUID.", "uuid_parsing")


@dataclass(frozen=True)
class InvalidPathValue:
    """A path segment its route cannot take, and why."""

    raw: str
    message: str
    type: str

    def __str__(self) -> str:
        return self.raw


def parse_uuid(raw: str) -> uuid.UUID | InvalidPathValue:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return InvalidPathValue(raw, *INVALID_UUID)


def require_uuid(name: str, raw) -> uuid.UUID:
    """`raw` as a UUID, else a 422 naming the path parameter `name` (for a route whose parameter's
    type depends on the method, e.g. GET a session id, PATCH a score id on the same URL)."""
    value = parse_uuid(str(raw))
    if isinstance(value, InvalidPathValue):
        raise RequestValidationError("path", [((name,), value.message, value.type)])
    return value


class UUIDConverter:
    """`<api_uuid:name>`: a UUID, or an `InvalidPathValue` the view reports."""

    regex = "[^/]+"

    def to_python(self, value: str) -> uuid.UUID | InvalidPathValue:
        return parse_uuid(value)

    def to_url(self, value) -> str:
        return str(value)


# A session id is any text, "/" and line breaks included: links send it percent-encoded
# (evaluations/links.py) and the server decodes it before routing. So a route must END with it:
# whatever followed could be part of an id. Ingestion refuses control characters, but a session
# stored before that rule still has its page and its API routes.
ANY_TEXT = r"[\s\S]+"


class SessionIdConverter:
    """`<session:name>` in the API: any id a trace can be stored with; one holding a character no
    database stores (NUL) names no session and is reported (422) rather than sent to the database."""

    regex = ANY_TEXT

    def to_python(self, value: str) -> str | InvalidPathValue:
        problem = text_problem(value)
        return value if problem is None else InvalidPathValue(value, *problem)

    def to_url(self, value) -> str:
        return str(value)


class SessionPageConverter:
    """`<session_page:name>` in the pages: a session id, a 404 when it cannot exist."""

    regex = ANY_TEXT

    def to_python(self, value: str) -> str:
        if text_problem(value) is not None:
            raise ValueError("no session id holds this character")
        return value

    def to_url(self, value) -> str:
        return str(value)


class ApiView(APIView):
    """The base of API views with path parameters: a bad one is a 422 naming it."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions and throttles first
        invalid = {name: value for name, value in kwargs.items() if isinstance(value, InvalidPathValue)}
        if invalid:
            raise RequestValidationError(
                "path", [((name,), value.message, value.type) for name, value in invalid.items()]
            )
