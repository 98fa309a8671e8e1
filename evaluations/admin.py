"""Read-only admin for trace scores, each with its edit history (scores change through the API only,
so every change keeps its history)."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from .models import ScoreEvent, TraceScore

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

from . import queue_admin  # noqa: E402,F401  (review queues register themselves)

# isort: split
from . import config_admin  # noqa: E402,F401  (score configs register themselves)
