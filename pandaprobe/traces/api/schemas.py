"""Request bodies of the trace API, as the reference server's own pydantic models (`TraceCreate`,
`SpanCreate`, `TraceUpdate`, `SpanUpdate`), field for field.

Pydantic rather than DRF serializers because ingestion is the hot path: validating a 10-span body
costs ~0.15 ms here against ~1.2 ms with nested serializers (benchmarks/bench_ingest.py). No
defaults are filled in: an upsert must tell "not sent" from "sent", so the ingestion service
applies defaults only when it creates a row (`model_dump(exclude_unset=True)`).

Whether every value can be stored at all (no NUL or lone surrogate, finite numbers, bounded
nesting) is checked once for every endpoint by the JSON parser (pandaprobe/api/parsers.py); these
models add the schema, whole token counts within BIGINT sums, an end no earlier than the start, and
identifiers without control characters: session ids, user ids, tags, environments, releases and
model names are shown in pages, filtered on and (session ids) put in URL paths, where a newline
broke every page listing one.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StrictFloat,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..services import TOKEN_COUNT_KEYS

MAX_SPANS_PER_BODY = 500
# Bounds that keep per-trace sums inside a BIGINT and a finite float, however many spans a trace has.
MAX_TOKEN_COUNT = 10**12
MAX_COST = 1e9


def _timestamp_text(value: Any) -> Any:
    # Pydantic would read a number as a Unix time; the API takes ISO 8601 strings only.
    if not isinstance(value, (str, datetime)):
        raise PydanticCustomError("datetime_type", "An ISO 8601 date-time string is required.")
    return value


def _uuid_text(value: Any) -> Any:
    # Pydantic would read an integer or bytes as a UUID; the API takes UUID strings only.
    if not isinstance(value, (str, UUID)):
        raise PydanticCustomError("uuid_type", "A UUID string is required.")
    return value


def _as_utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_range", "Date-time out of range.") from None


def _token_counts(usage: dict) -> dict:
    for key in TOKEN_COUNT_KEYS:
        count = usage.get(key)
        if count is None:
            continue
        whole = isinstance(count, (int, float)) and not isinstance(count, bool) and float(count).is_integer()
        if not whole or not 0 <= count <= MAX_TOKEN_COUNT:
            message = f"Must be a whole number from 0 to {MAX_TOKEN_COUNT}."
            raise PydanticCustomError("token_count", "{message}", {"message": message, "json_path": key})
    return usage


# C0 controls, DEL and C1 controls: invisible, and a newline or NUL breaks URLs, headers and CSV rows.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
LABEL_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
# A session id is a URL path segment in the API and the pages ("/" is sent percent-encoded): "." and
# ".." are the two segments a browser or client resolves away, encoded or not.
SESSION_ID_PATTERN = r"^(?!\.\.?$)[^\u0000-\u001f\u007f-\u009f]+$"
UNADDRESSABLE_IDS = {".", ".."}


def _printable(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("control_character", "Must not contain control characters (newline, tab, NUL...).")
    return value


def _addressable(value: str) -> str:
    if not value:
        raise PydanticCustomError("path_segment", "Must not be empty: send null for a trace of no session.")
    if value in UNADDRESSABLE_IDS:
        raise PydanticCustomError("path_segment", "Must not be '.' or '..': they cannot be part of a URL path.")
    return value


Text = StrictStr
Name = Annotated[Text, Field(min_length=1, max_length=512)]
Label = Annotated[
    Text, Field(max_length=255, json_schema_extra={"pattern": LABEL_PATTERN}), AfterValidator(_printable)
]
SessionId = Annotated[
    Label, AfterValidator(_addressable), Field(json_schema_extra={"minLength": 1, "pattern": SESSION_ID_PATTERN})
]
Json = Any
JsonObject = dict[str, Any]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp_text), AfterValidator(_as_utc)]
Id = Annotated[UUID, BeforeValidator(_uuid_text)]
TokenUsage = Annotated[JsonObject, AfterValidator(_token_counts)]
Cost = dict[str, Annotated[StrictFloat, Field(ge=0, le=MAX_COST)]]
SpanKind = Literal["AGENT", "TOOL", "LLM", "RETRIEVER", "CHAIN", "EMBEDDING", "OTHER"]
SpanStatus = Literal["UNSET", "OK", "ERROR"]
TraceStatus = Literal["PENDING", "RUNNING", "COMPLETED", "ERROR"]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Timed(Body):
    """A body with both ends: `ended_at` may not come before `started_at` (422 naming `ended_at`)."""

    @model_validator(mode="after")
    def _ends_after_it_starts(self):
        ended_at = getattr(self, "ended_at", None)
        if ended_at is not None and ended_at < self.started_at:
            # Raised as a ValidationError so the error's location is the field (and `spans.3.ended_at`
            # inside a trace), not the whole body.
            error = PydanticCustomError("time_order", "Must not be before started_at.")
            details = InitErrorDetails(type=error, loc=("ended_at",), input=ended_at.isoformat())
            raise ValidationError.from_exception_data(type(self).__name__, [details])
        return self


class SpanUpdate(Body):
    """Partial update of a span (all fields optional)."""

    name: Name | None = None
    kind: SpanKind | None = None
    status: SpanStatus | None = None
    input: Json = None
    output: Json = None
    model: Label | None = None
    token_usage: TokenUsage | None = None
    metadata: JsonObject | None = None
    ended_at: Timestamp | None = None
    error: Text | None = None
    completion_start_time: Timestamp | None = None
    model_parameters: JsonObject | None = None
    cost: Cost | None = None


class SpanCreate(SpanUpdate, Timed):
    """A span inside a trace-ingestion request, or in `POST /traces/{trace_id}/spans`."""

    span_id: Id | None = None
    parent_span_id: Id | None = None
    name: Name
    started_at: Timestamp


class TraceUpdate(Body):
    """Partial update of a trace (all fields optional)."""

    name: Name | None = None
    status: TraceStatus | None = None
    input: Json = None
    output: Json = None
    metadata: JsonObject | None = None
    ended_at: Timestamp | None = None
    session_id: SessionId | None = None
    user_id: Label | None = None
    tags: list[Label] | None = None
    environment: Label | None = None
    release: Label | None = None


class TraceCreate(TraceUpdate, Timed):
    """The `POST /traces` body."""

    trace_id: Id | None = None
    name: Name
    started_at: Timestamp
    spans: Annotated[list[SpanCreate], Field(max_length=MAX_SPANS_PER_BODY)] | None = None


class SpanList(RootModel[Annotated[list[SpanCreate], Field(min_length=1, max_length=MAX_SPANS_PER_BODY)]]):
    """The `POST /traces/{trace_id}/spans` body: a JSON array of 1 to 500 spans."""
