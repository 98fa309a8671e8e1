"""Query-string filters for traces and sessions (one place for each rule)."""

from datetime import UTC

import django_filters
import django_filters.fields
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F

from .models import Trace, TraceStatus


class StringListField(forms.Field):
    """A repeated query parameter (`tags=a&tags=b`) as a list of non-empty strings."""

    widget = forms.SelectMultiple

    def to_python(self, value):
        if value in (None, ""):
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        items = [str(item) for item in values if str(item).strip()]
        if any("\x00" in item for item in items):
            raise forms.ValidationError("Null characters are not allowed.")
        return items


class TagsAnyFilter(django_filters.Filter):
    field_class = StringListField

    def filter(self, qs, value):
        return qs.filter(tags__any_of=value) if value else qs


class InRangeIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, in UTC. One that does not exist in UTC (`0001-01-01T00:00+05:00`) is refused:
    the database adapters overflow converting it, a 500 mid-query. And it reaches the database in UTC:
    Python takes offsets up to ±23:59, PostgreSQL only up to ±15:59 ("time zone displacement out of
    range", found by schemathesis)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Datetime value out of range.", code="datetime_range") from None


class TimeFilter(django_filters.IsoDateTimeFilter):
    """Every date-time query parameter of the API and the pages (traces, sessions, scores)."""

    field_class = InRangeIsoDateTimeField


SORT_ORDERS = [("asc", "asc"), ("desc", "desc")]


def _nullable(qs, field: str) -> bool:
    if field in qs.query.annotations:  # the session list's aggregates
        return True
    try:
        return qs.model._meta.get_field(field).null
    except FieldDoesNotExist:
        return True


def ordered(qs, field: str, direction: str, *, tiebreak: str = "pk"):
    """Sort by `field` (nulls last), then by `tiebreak` in the same direction for stable pages.

    A NOT NULL column sorts without NULLS LAST: PostgreSQL matches an ORDER BY to an index only
    when the NULLS order agrees, and `started_at DESC NULLS LAST` made the explorer sort every
    trace of the project instead of reading `trace_project_started` (benchmarks/bench_score_queries.py).
    """
    nulls = {"nulls_last": True} if _nullable(qs, field) else {}
    if direction == "asc":
        return qs.order_by(F(field).asc(**nulls), tiebreak)
    return qs.order_by(F(field).desc(**nulls), f"-{tiebreak}")


class TraceFilter(django_filters.FilterSet):
    SORT_FIELDS = {
        "started_at": "started_at",
        "ended_at": "ended_at",
        "name": "name",
        "latency": "latency_ms",
        "status": "status",
    }

    session_id = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=TraceStatus.choices)
    user_id = django_filters.CharFilter()
    environment = django_filters.CharFilter()
    tags = TagsAnyFilter()
    # Substrings no longer than the column: a longer one matches nothing, and SQLite refuses LIKE
    # patterns over 50,000 bytes (a 500).
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=Trace._meta.get_field("name").max_length
    )
    started_after = TimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = TimeFilter(field_name="started_at", lookup_expr="lt")
    sort_by = django_filters.ChoiceFilter(choices=[(k, k) for k in SORT_FIELDS], method="skip")
    sort_order = django_filters.ChoiceFilter(choices=SORT_ORDERS, method="skip")

    class Meta:
        model = Trace
        fields = []

    def skip(self, qs, name, value):
        return qs

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        field = self.SORT_FIELDS[self.form.cleaned_data.get("sort_by") or "started_at"]
        return ordered(queryset, field, self.form.cleaned_data.get("sort_order") or "desc")


class SessionTraceFilter(django_filters.FilterSet):
    """Filters applied to a session's traces before they are grouped."""

    user_id = django_filters.CharFilter()
    tags = TagsAnyFilter()
    query = django_filters.CharFilter(
        field_name="session_id",
        lookup_expr="icontains",
        max_length=Trace._meta.get_field("session_id").max_length,
    )
    started_after = TimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = TimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Trace
        fields = []


class SessionGroupParams(forms.Form):
    """Options applied after grouping: `has_error`, `sort_by`, `sort_order`."""

    SORT_FIELDS = {
        "recent": "last_trace_at",
        "trace_count": "trace_count",
        "latency": "total_latency_ms",
        "cost": "total_cost",
    }

    has_error = forms.TypedChoiceField(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        required=False,
        empty_value=None,
    )
    sort_by = forms.ChoiceField(choices=[(k, k) for k in SORT_FIELDS], required=False)
    sort_order = forms.ChoiceField(choices=SORT_ORDERS, required=False)
