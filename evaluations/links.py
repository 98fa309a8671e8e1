"""URLs of the pages whose path holds a client's id (a session id is any printable text).

Django's `reverse` leaves "/" unencoded for a `path` converter and raises on a newline, so these are
built here, once, for templates (`session_url` filter) and views alike.
"""

from urllib.parse import quote

from django.urls import reverse


def session_page_url(session_id: str) -> str:
    """`/app/sessions/<id>/`, with every character of the id outside letters, digits and `-._~`
    percent-encoded, "/" included: whatever it holds, the id stays one path segment of this page
    ("../../admin" cannot climb out of it; a newline cannot break the link). The server decodes
    the segment before routing, and the page's route takes any text. Ingestion refuses "." and
    "..", the only segments a browser resolves away even when encoded."""
    return f"{reverse('session-list')}{quote(session_id, safe='')}/"
