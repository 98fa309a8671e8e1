"""Query-string filters for scores and the trace explorer (one place for each rule; a bad value is a
422 naming it, a 400 on a page)."""

import math
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import django_filters
from django import forms
from django.db.models import Exists, OuterRef

from pandaprobe.traces.filters import TimeFilter, TraceFilter
from pandaprobe.traces.models import Trace

from .models import (
    EvalRun,
    EvalRunStatus,
    ScoreConfig,
    ScoreDataType,
    ScoreSource,
    ScoreStatus,
    SessionScore,
    TraceScore,
)

EXPORT_FORMATS = [("csv", "csv"), ("jsonl", "jsonl")]


class ScoreFilter(django_filters.FilterSet):
    """What trace and session scores are both filtered by. `date_from` is inclusive and `date_to`
    exclusive, on created_at."""

    name = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)
    status = django_filters.ChoiceFilter(choices=ScoreStatus.choices)
    eval_run_id = django_filters.UUIDFilter()
    date_from = TimeFilter(field_name="created_at", lookup_expr="gte")
    date_to = TimeFilter(field_name="created_at", lookup_expr="lt")


class TraceScoreFilter(ScoreFilter):
    trace_id = django_filters.UUIDFilter()
    data_type = django_filters.ChoiceFilter(choices=ScoreDataType.choices)
    # The trace's environment now, not the one stored with the score when it was made: a trace moved
    # from staging to production takes its scores along.
    environment = django_filters.CharFilter(field_name="trace__environment")

    class Meta:
        model = TraceScore
        fields = []


class ExportParams(forms.Form):
    format = forms.ChoiceField(choices=EXPORT_FORMATS)


class SessionScoreFilter(ScoreFilter):
    session_id = django_filters.CharFilter()

    class Meta:
        model = SessionScore
        fields = []


class ScoreConfigFilter(django_filters.FilterSet):
    # No longer than the column (SQLite refuses LIKE patterns over 50,000 bytes).
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=ScoreConfig._meta.get_field("name").max_length
    )
    data_type = django_filters.ChoiceFilter(choices=ScoreDataType.choices)
    # "true" or "false", and nothing else: a BooleanFilter would ignore `is_archived=maybe`.
    is_archived = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = ScoreConfig
        fields = []


# "correctness < 3": a score's name, an operator, a number (`SCORE_OPERATORS`: longest first, so
# "<=" is not read as "<" followed by "=3").
SCORE_OPERATORS = {"<=": "lte", ">=": "gte", "!=": "ne", "<": "lt", ">": "gt", "=": "exact"}
SCORE_COMPARISON = re.compile(
    r"^\s*(?P<name>[^<>=!\x00]+?)\s*(?P<operator><=|>=|!=|<|>|=)\s*(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
SCORE_COMPARISON_HELP = "Write it as name, operator, number: correctness < 3 (operators: < <= > >= = !=)."


@dataclass(frozen=True)
class ScoreComparison:
    name: str
    operator: str  # a key of SCORE_OPERATORS
    number: float

    def __str__(self) -> str:
        return f"{self.name} {self.operator} {self.number:g}"


class ScoreComparisonField(forms.Field):
    """A score value condition typed as text, `correctness < 3`, parsed into a `ScoreComparison`."""

    max_length = ScoreConfig._meta.get_field("name").max_length + 40

    def to_python(self, value) -> ScoreComparison | None:
        text = str(value or "").strip()
        if not text:
            return None
        match = SCORE_COMPARISON.match(text) if len(text) <= self.max_length else None
        number = float(match["number"]) if match else None
        if match is None or not math.isfinite(number):
            shown = text[:80].replace("\x00", "")
            raise forms.ValidationError(f"“{shown}” is not a score condition. {SCORE_COMPARISON_HELP}")
        return ScoreComparison(name=match["name"], operator=match["operator"], number=number)


class ScoreComparisonFilter(django_filters.Filter):
    """Traces with at least one SUCCESS score of that name whose value satisfies the condition: any
    author's or the judge's, not only the latest (a trace one reviewer rated low is shown, whatever
    the others said). Scores with no numeric value (CATEGORICAL) never match; BOOLEAN is 1/0."""

    field_class = ScoreComparisonField

    def filter(self, qs, value: ScoreComparison | None):
        if value is None:
            return qs
        scores = _success_scores(value.name).filter(numeric_value__isnull=False)
        lookup = SCORE_OPERATORS[value.operator]
        if lookup == "ne":
            scores = scores.exclude(numeric_value=value.number)
        else:
            scores = scores.filter(**{f"numeric_value__{lookup}": value.number})
        return qs.filter(Exists(scores))


def _success_scores(name: str):
    """The outer trace's SUCCESS scores of `name` (served by the `tscore_trace_name` index)."""
    return TraceScore.objects.filter(
        trace=OuterRef("pk"), project=OuterRef("project"), name=name, status=ScoreStatus.SUCCESS
    )


class UUIDListField(forms.Field):
    """A repeated query parameter of ids (`trace_ids=a&trace_ids=b`), at most `max_items`."""

    widget = forms.SelectMultiple

    def __init__(self, *, max_items: int, **kwargs):
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_python(self, value) -> list[uuid.UUID]:
        values = value if isinstance(value, (list, tuple)) else [value] if value else []
        ids = []
        for raw in (str(item).strip() for item in values):
            if not raw:
                continue
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                raise forms.ValidationError(f"“{raw[:60]}” is not a trace id.") from None
        if len(ids) > self.max_items:
            raise forms.ValidationError(f"At most {self.max_items} trace ids.")
        return list(dict.fromkeys(ids))


class TraceIdsFilter(django_filters.Filter):
    field_class = UUIDListField

    def filter(self, qs, value):
        return qs.filter(pk__in=value) if value else qs


# The explorer's time-range presets (`range=24h`): `explorer_params` turns one into `started_after`.
RANGE_PRESETS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                 "30d": timedelta(days=30)}  # fmt: skip
RANGE_CUSTOM = "custom"


class ExplorerForm(forms.Form):
    """The explorer filter's form: a time range that ends before it starts is an error, not an
    empty list."""

    def clean(self):
        data = super().clean()
        after, before = data.get("started_after"), data.get("started_before")
        if after and before and after >= before:
            self.add_error("started_after", "Must be earlier than “Started before”.")
            self.add_error("started_before", "Must be later than “Started after”.")
        return data


class ExplorerFilter(TraceFilter):
    """The trace explorer's filter (also the run-from-explorer scope and the queue builder's): the
    API's trace filters, environment and user matched case-insensitively, and the score filters."""

    CASE_INSENSITIVE = ("environment", "user_id")
    # Selectors of the page, not of traces: they change no trace's membership of the result.
    NOT_FILTERS = ("sort_by", "sort_order", "range")
    MAX_TRACE_IDS = 100  # a page's selection, sent in a link's query string

    environment = django_filters.CharFilter(lookup_expr="iexact", max_length=255)
    user_id = django_filters.CharFilter(lookup_expr="iexact", max_length=255)
    has_score = django_filters.CharFilter(method="filter_presence", max_length=255)
    missing_score = django_filters.CharFilter(method="filter_presence", max_length=255)
    score = ScoreComparisonFilter()
    trace_ids = TraceIdsFilter(max_items=MAX_TRACE_IDS)
    range = django_filters.ChoiceFilter(
        choices=[(key, key) for key in [*RANGE_PRESETS, RANGE_CUSTOM]], method="skip"
    )

    class Meta:
        model = Trace
        fields = []
        form = ExplorerForm

    def filter_presence(self, queryset, name, value):
        """ "Has score X" / "missing score X": a SUCCESS score of that name, or none."""
        value = value.strip()
        if not value:
            return queryset
        scored = Exists(_success_scores(value))
        return queryset.filter(scored) if name == "has_score" else queryset.exclude(scored)


class EvalRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=EvalRunStatus.choices)

    class Meta:
        model = EvalRun
        fields = []


class DeleteRunParams(forms.Form):
    # `true` or `false` only: a form's BooleanField would take any other text as true.
    delete_scores = forms.TypedChoiceField(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true",
        required=False, empty_value=False,
    )  # fmt: skip
