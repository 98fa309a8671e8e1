"""Admin for score configs. The form checks the same rules as the API (`score_config_clean`)."""

from django import forms
from django.contrib import admin

from .models import ScoreConfig
from .services.configs import score_config_clean


class ScoreConfigAdminForm(forms.ModelForm):
    class Meta:
        model = ScoreConfig
        fields = [
            "project", "name", "data_type", "min_value", "max_value", "categories", "description", "is_archived",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        data_type = cleaned.get("data_type") or getattr(self.instance, "data_type", None)
        if data_type and not self.errors:
            low, high, labels = score_config_clean(
                data_type=data_type,
                min_value=cleaned.get("min_value"),
                max_value=cleaned.get("max_value"),
                categories=cleaned.get("categories"),
            )
            cleaned.update(min_value=low, max_value=high, categories=labels)
        return cleaned


@admin.register(ScoreConfig)
class ScoreConfigAdmin(admin.ModelAdmin):
    form = ScoreConfigAdminForm
    list_display = ["name", "data_type", "project", "min_value", "max_value", "is_archived", "updated_at"]
    list_filter = ["data_type", "is_archived", "project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def get_readonly_fields(self, request, obj=None):
        # Scores may already use it: a config of another type or project is a new config.
        return ["project", "data_type"] if obj is not None else []
