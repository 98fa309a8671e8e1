"""The analytics page's time-range picker: a preset, or a from/to range that runs forwards."""

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from .filters import NAME_LENGTH, DateRangeForm

PRESETS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
PRESET_LABELS = {"24h": "24 h", "7d": "7 d", "30d": "30 d", "90d": "90 d"}
DEFAULT_PRESET = "7d"


class AnalyticsRangeForm(DateRangeForm):
    """`date_from`/`date_to` win over the preset; a missing end is now, a missing start the preset's
    length before the end. An empty range is refused too: the operations charts need a window."""

    range = forms.ChoiceField(choices=list(PRESET_LABELS.items()), required=False)
    date_from = forms.DateTimeField(required=False)
    date_to = forms.DateTimeField(required=False)
    metric = forms.CharField(max_length=NAME_LENGTH, required=False)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start == end:
            self.add_error("date_to", forms.ValidationError("date_to equals date_from.", code="date_range"))
        return cleaned

    def window(self) -> tuple[datetime, datetime]:
        """The (start, end) of a valid form."""
        length = PRESETS[self.cleaned_data["range"] or DEFAULT_PRESET]
        end = self.cleaned_data["date_to"] or timezone.now()
        return self.cleaned_data["date_from"] or end - length, end


def granularity_for(start: datetime, end: datetime) -> str:
    """Buckets a chart can show: hours up to two days, days up to ~4 months, weeks beyond."""
    span = end - start
    if span <= timedelta(days=2):
        return "hour"
    return "day" if span <= timedelta(days=120) else "week"
