"""Admin for review queues: look at them, rename or archive them. Queues are built on the queue
page (/app/queues/new/), where the service checks reviewers, configs and traces; items and reviews
are not edited by hand so progress always matches the scores."""

from django.contrib import admin
from django.db.models import Count

from .models import ReviewQueue, ReviewQueueItem


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


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "item_count", "reviewers_per_item", "is_archived", "created_at"]
    list_filter = ["is_archived", "project"]
    search_fields = ["name", "=id"]
    list_select_related = ["project"]
    fields = [
        "name", "description", "is_archived", "hold_seconds", "project", "reviewers_per_item",
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
