"""Domain errors: what services raise when a request cannot be carried out.

Services know nothing of HTTP. They raise these (or Django's `ValidationError` for a rule about one
field), and the one exception handler, `pandaprobe/api/errors.py`, maps them to responses:
`NotFound` 404, `PermissionDenied` 403, `Conflict` 409, `RuleViolation` 422 — each as the reference's
`{"detail": "..."}`. Pages catch them and render their own error pages.
"""


class DomainError(Exception):
    """Base of the errors a service raises; `str(error)` is the message a client sees."""

    default_message = "The request could not be carried out"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)


class InvalidRequest(DomainError):
    """The request names something that does not exist or cannot be used (an unknown metric, a bad
    filter): 400, as the reference's evaluation endpoints answer."""

    default_message = "Bad request"


class NotFound(DomainError):
    default_message = "Not found"


class PermissionDenied(DomainError):
    default_message = "Your role in this project does not allow this"


class Conflict(DomainError):
    default_message = "Conflict"


class RuleViolation(DomainError):
    """The request is well formed but a rule refuses it (retry of a run with no failures, ...)."""

    default_message = "This request breaks a rule of the service"


def get_or_not_found(queryset, message: str, **lookup):
    """The one row of `queryset` matching `lookup`, else `NotFound(message)`."""
    found = queryset.filter(**lookup).first()
    if found is None:
        raise NotFound(message)
    return found
