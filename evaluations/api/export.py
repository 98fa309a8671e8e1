"""Streaming CSV / JSON-lines renderings of score rows (tuples from `trace_scores_export`).

Each column has one converter chosen up front, so a million rows cost no per-cell type checks.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice

from django.db import connections, transaction
from django.db.models import QuerySet

from ..selectors.scores import EXPORT_COLUMNS

CHUNK_ROWS = 2000  # rows fetched per round trip and rows per chunk written to the client
COLUMNS = tuple(EXPORT_COLUMNS)
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
IDS = {"id", "trace_id", "eval_run_id", "author_user_id", "config_id"}
TIMES = {"created_at", "updated_at"}
# Free text a spreadsheet could run as a formula when it starts with one of these.
FREE_TEXT = {"trace_name", "session_id", "user_id", "name", "value", "reason", "environment"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _same(value):
    return value


def _text_id(value):
    return None if value is None else str(value)


def _iso(value):
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _safe_cell(value):
    if value and value.startswith(FORMULA_PREFIXES) and not _is_number(value):
        return "'" + value
    return value


def _compact_json(value):
    return json.dumps(value, separators=(",", ":"))


def _json_converter(column: str) -> Callable:
    return _text_id if column in IDS else _iso if column in TIMES else _same


def _csv_converter(column: str) -> Callable:
    if column in FREE_TEXT:
        return _safe_cell
    return _compact_json if column == "metadata" else _json_converter(column)


JSON_CONVERTERS = [_json_converter(column) for column in COLUMNS]
CSV_CONVERTERS = [_csv_converter(column) for column in COLUMNS]


def _batched(rows: Iterable[tuple]) -> Iterator[list[tuple]]:
    rows = iter(rows)
    while batch := list(islice(rows, CHUNK_ROWS)):
        yield batch


def export_row(row: tuple) -> dict:
    """One row as the JSON-lines object (and the API's value shapes: ids as strings, ISO times)."""
    return {
        column: convert(value) for column, convert, value in zip(COLUMNS, JSON_CONVERTERS, row, strict=True)
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(rows: Iterable[tuple]) -> Iterator[str]:
    """A header line, then the rows; None is an empty cell and metadata a JSON object."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for batch in _batched(rows):
        yield "".join(
            writer.writerow([convert(value) for convert, value in zip(CSV_CONVERTERS, row, strict=True)])
            for row in batch
        )


def jsonl_chunks(rows: Iterable[tuple]) -> Iterator[str]:
    for batch in _batched(rows):
        yield "".join(json.dumps(export_row(row), ensure_ascii=False) + "\n" for row in batch)


RENDERERS = {"csv": csv_chunks, "jsonl": jsonl_chunks}


def _rows(queryset: QuerySet) -> Iterator[tuple]:
    if connections[queryset.db].vendor != "postgresql":
        yield from queryset.iterator(chunk_size=CHUNK_ROWS)
        return
    # In autocommit PostgreSQL declares the server-side cursor WITH HOLD, which materializes every row
    # before the first is sent (seconds for a million); inside a transaction rows stream as read.
    # (Not on SQLite, where the settings' IMMEDIATE transactions would lock out writers meanwhile.)
    with transaction.atomic(using=queryset.db):
        yield from queryset.iterator(chunk_size=CHUNK_ROWS)


def export_chunks(queryset: QuerySet, fmt: str) -> Iterator[str]:
    """The export file of `fmt` ("csv" or "jsonl"), chunk by chunk, reading rows as it goes.

    The query runs here, before the caller starts the response: a query that fails is an error
    answer, never a 200 whose file stops short (the parameters are validated before this)."""
    rows = _rows(queryset)
    first = list(islice(rows, 1))
    return RENDERERS[fmt](chain(first, rows))
