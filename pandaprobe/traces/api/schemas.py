"""Request bodies of the trace API, as the reference server's own pydantic models (`TraceCreate`,
`SpanCreate`, `TraceUpdate`, `SpanUpdate`), field for field.

Pydantic rather than DRF serializers because ingestion is the hot path: validating a 10-span body
costs ~0.15 ms here against ~1.2 ms with nested serializers (benchmarks/bench_ingest.py). No
defaults are filled in: an upsert must tell "not sent" from "sent", so the ingestion service
applies defaults only when it creates a row (`model_dump(exclude_unset=True)`).

Whether every value can be stored at all (no NUL or lone surrogate, finite numbers, bounded
nesting) is checked once for every endpoint by the JSON parser (pandaprobe/api/parsers.py); these
models add the schema, and whole token counts within BIGINT sums.
"""

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
)
from pydantic_core import PydanticCustomError

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


Text = StrictStr
Name = Annotated[Text, Field(min_length=1, max_length=512)]
Label = Annotated[Text, Field(max_length=255)]
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


class SpanCreate(SpanUpdate):
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
    session_id: Label | None = None
    user_id: Label | None = None
    tags: list[Label] | None = None
    environment: Label | None = None
    release: Label | None = None


class TraceCreate(TraceUpdate):
    """The `POST /traces` body."""

    trace_id: Id | None = None
    name: Name
    started_at: Timestamp
    spans: Annotated[list[SpanCreate], Field(max_length=MAX_SPANS_PER_BODY)] | None = None


class SpanList(RootModel[Annotated[list[SpanCreate], Field(min_length=1, max_length=MAX_SPANS_PER_BODY)]]):
    """The `POST /traces/{trace_id}/spans` body: a JSON array of 1 to 500 spans."""
