from django.contrib import admin, messages

from . import services
from .models import ApiKey, Membership, PersonalAccessToken, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.action(description="Revoke selected keys")
def revoke_keys(modeladmin, request, queryset):
    for key in queryset:
        services.api_key_revoke(api_key=key)
    messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["key_prefix", "name", "project", "is_active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["is_active", "project"]
    search_fields = ["name", "key_prefix", "project__name"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    fields = ["project", "name", "is_active", "expires_at", "key_prefix", "last_used_at", "created_at"]
    actions = [revoke_keys]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = services.api_key_create(project=obj.project, name=obj.name, expires_at=obj.expires_at)
        obj.pk = issued.api_key.pk
        obj.key_prefix, obj.key_hash = issued.api_key.key_prefix, issued.api_key.key_hash
        messages.warning(request, f"Copy this API key now; it will not be shown again: {issued.raw_key}")


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    list_display = ["token_prefix", "name", "user", "is_active", "expires_at", "last_used_at"]
    list_filter = ["is_active"]
    readonly_fields = ["token_prefix", "last_used_at", "created_at"]
    fields = ["user", "name", "is_active", "expires_at", "token_prefix", "last_used_at", "created_at"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = services.access_token_create(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk = issued.token.pk
        messages.warning(
            request, f"Copy this access token now; it will not be shown again: {issued.raw_token}"
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]
