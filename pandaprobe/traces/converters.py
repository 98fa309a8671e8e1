"""The `<session:...>` URL converter: a session id as one path segment of the API and the pages."""

from django.urls import register_converter


class SessionIdConverter:
    """Any text, "/" and line breaks included: links send a session id percent-encoded
    (evaluations/links.py), and the server decodes it before routing. Ingestion refuses control
    characters, but a session stored before that rule must still have its page and its API routes.
    Routes that use it must end with it: whatever follows could be part of an id."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SessionIdConverter, "session")
