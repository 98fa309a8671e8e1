from django.contrib import admin, messages

from . import selectors, services
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


class CredentialAdmin(admin.ModelAdmin):
    """Creating a credential goes through its service, which shows the raw secret once."""

    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    list_filter = ["is_active"]

    def issue(self, obj):  # -> (saved credential, raw secret)
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued, raw = self.issue(obj)
        obj.pk, obj.key_prefix, obj.key_hash = issued.pk, issued.key_prefix, issued.key_hash
        label = obj._meta.verbose_name
        messages.warning(request, f"Copy this {label} now; it will not be shown again: {raw}")


@admin.register(ApiKey)
class ApiKeyAdmin(CredentialAdmin):
    list_display = ["key_prefix", "name", "project", "is_active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["is_active", "project"]
    search_fields = ["name", "key_prefix", "project__name"]
    fields = ["project", "name", "is_active", "expires_at", "key_prefix", "last_used_at", "created_at"]
    actions = [revoke_keys]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        selectors.api_key_forget(obj)  # an edit (e.g. unticking "active") applies at once

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        selectors.api_key_forget(obj)

    def delete_queryset(self, request, queryset):
        for key in queryset:
            selectors.api_key_forget(key)
        super().delete_queryset(request, queryset)

    def issue(self, obj):
        issued = services.api_key_create(project=obj.project, name=obj.name, expires_at=obj.expires_at)
        if not obj.is_active:
            services.api_key_revoke(api_key=issued.api_key)
        return issued.api_key, issued.raw_key


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(CredentialAdmin):
    list_display = ["key_prefix", "name", "user", "is_active", "expires_at", "last_used_at"]
    fields = ["user", "name", "is_active", "expires_at", "key_prefix", "last_used_at", "created_at"]
    autocomplete_fields = ["user"]

    def issue(self, obj):
        issued = services.access_token_create(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        return issued.token, issued.raw_token


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]
