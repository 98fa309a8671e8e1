"""Read-only admin for trace scores, each with its edit history (scores change through the API only,
so every change keeps its history)."""

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from .forms import LabelListField
from .models import ReviewQueue, ReviewQueueItem, ScoreConfig, ScoreEvent, TraceScore
from .services.configs import score_config_clean
from .services.queues import MAX_HOLD_SECONDS, MIN_HOLD_SECONDS

HISTORY_COLUMNS = ("When", "Action", "Who", "Value", "Reason", "Source", "Status")


def _change(old, new) -> str:
    return str(new) if old == new or old is None else f"{old} → {new}"


def _history_row(event: ScoreEvent) -> tuple:
    return (
        event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        event.action,
        event.actor_label,
        _change(event.old_value, event.new_value),
        _change(event.old_reason, event.new_reason),
        _change(event.old_source, event.new_source),
        _change(event.old_status, event.new_status),
    )


@admin.register(TraceScore)
class TraceScoreAdmin(admin.ModelAdmin):
    list_display = ["name", "value", "data_type", "source", "status", "project", "trace_id", "created_at"]
    list_filter = ["source", "status", "data_type"]
    search_fields = ["name", "=trace__trace_id", "=id"]
    list_select_related = ["project"]
    date_hierarchy = "created_at"
    exclude = ["trace"]  # a select of every trace would not scale; the id is shown instead
    readonly_fields = ["trace_id", "history"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Edit history")
    def history(self, score: TraceScore) -> str:
        events = ScoreEvent.objects.filter(project_id=score.project_id, score_id=score.pk).order_by(
            "created_at", "id"
        )
        head = format_html_join("", "<th>{}</th>", ((column,) for column in HISTORY_COLUMNS))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((c,) for c in _history_row(e))),) for e in events),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)


class ScoreConfigAdminForm(forms.ModelForm):
    categories = LabelListField()

    class Meta:
        model = ScoreConfig
        fields = [
            "project", "name", "data_type", "min_value", "max_value", "step", "categories", "description",
            "is_archived",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        data_type = cleaned.get("data_type") or getattr(self.instance, "data_type", None)
        if data_type and not self.errors:
            low, high, labels, step = score_config_clean(
                data_type=data_type,
                min_value=cleaned.get("min_value"),
                max_value=cleaned.get("max_value"),
                categories=cleaned.get("categories"),
                step=cleaned.get("step"),
            )
            cleaned.update(min_value=low, max_value=high, categories=labels, step=step)
        return cleaned


@admin.register(ScoreConfig)
class ScoreConfigAdmin(admin.ModelAdmin):
    form = ScoreConfigAdminForm
    list_display = [
        "name",
        "data_type",
        "project",
        "min_value",
        "max_value",
        "step",
        "is_archived",
        "updated_at",
    ]
    list_filter = ["data_type", "is_archived", "project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def get_readonly_fields(self, request, obj=None):
        # Scores may already use it: a config of another type or project is a new config.
        return ["project", "data_type"] if obj is not None else []


class ReviewQueueItemInline(admin.TabularInline):
    model = ReviewQueueItem
    fields = ["position", "trace_id", "created_at"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    show_change_link = False
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReviewQueueAdminForm(forms.ModelForm):
    """The hold in minutes, as on the app's queue pages (the model keeps seconds)."""

    hold_minutes = forms.IntegerField(
        min_value=max(1, MIN_HOLD_SECONDS // 60), max_value=MAX_HOLD_SECONDS // 60, label="Hold (minutes)"
    )

    class Meta:
        model = ReviewQueue
        fields = ["name", "description", "is_archived", "allow_partial"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hold_minutes"].initial = max(1, round(self.instance.hold_seconds / 60))

    def save(self, commit: bool = True):
        self.instance.hold_seconds = self.cleaned_data["hold_minutes"] * 60
        return super().save(commit=commit)


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    form = ReviewQueueAdminForm
    list_display = ["name", "project", "item_count", "reviewers_per_item", "is_archived", "created_at"]
    list_filter = ["is_archived", "project"]
    search_fields = ["name", "=id"]
    list_select_related = ["project"]
    fields = [
        "name", "description", "is_archived", "hold_minutes", "allow_partial", "project", "reviewers_per_item",
        "score_configs", "reviewers", "created_by", "created_at",
    ]  # fmt: skip
    readonly_fields = [
        "project",
        "reviewers_per_item",
        "score_configs",
        "reviewers",
        "created_by",
        "created_at",
    ]
    inlines = [ReviewQueueItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_total=Count("items"))

    @admin.display(description="Items", ordering="item_total")
    def item_count(self, obj) -> int:
        return obj.item_total

    def has_add_permission(self, request) -> bool:
        return False
