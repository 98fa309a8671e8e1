from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

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


# Where save_model leaves a new credential's raw secret for response_add, within one request.
_RAW_SECRET = "_issued_raw_secret"


class CredentialAdmin(admin.ModelAdmin):
    """Credentials are issued and changed through their services. A new one's raw secret appears once,
    in the page that answers the "add" form; once issued, a credential keeps its owner, and once
    revoked it stays revoked."""

    owner_field = ""  # "project" or "user"
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    list_filter = ["is_active"]

    def issue(self, obj):  # -> (saved credential, raw secret)
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append(self.owner_field)
            if not obj.is_active:
                fields.append("is_active")
        return fields

    def save_model(self, request, obj, form, change):
        if change:
            services.credential_update(
                credential=obj, name=obj.name, expires_at=obj.expires_at, is_active=obj.is_active
            )
            return
        issued, raw = self.issue(obj)
        if not obj.is_active:
            services.credential_update(
                credential=issued, name=issued.name, expires_at=issued.expires_at, is_active=False
            )
        obj.pk, obj.key_prefix, obj.key_hash = issued.pk, issued.key_prefix, issued.key_hash
        setattr(request, _RAW_SECRET, raw)

    def response_add(self, request, obj, post_url_continue=None):
        # Rendered, not redirected: a message would carry the secret in a cookie or the session.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Copy the new {self.opts.verbose_name}",
            "credential": obj,
            "raw_secret": getattr(request, _RAW_SECRET),
        }
        response = TemplateResponse(request, "admin/projects/credential_issued.html", context)
        add_never_cache_headers(response)  # no copy in the browser's cache either
        return response


@admin.register(ApiKey)
class ApiKeyAdmin(CredentialAdmin):
    list_display = ["key_prefix", "name", "project", "is_active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["is_active", "project"]
    search_fields = ["name", "key_prefix", "project__name"]
    fields = ["project", "name", "is_active", "expires_at", "key_prefix", "last_used_at", "created_at"]
    owner_field = "project"
    actions = [revoke_keys]

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        selectors.api_key_forget(obj)

    def delete_queryset(self, request, queryset):
        for key in queryset:
            selectors.api_key_forget(key)
        super().delete_queryset(request, queryset)

    def issue(self, obj):
        issued = services.api_key_create(project=obj.project, name=obj.name, expires_at=obj.expires_at)
        return issued.api_key, issued.raw_key


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(CredentialAdmin):
    list_display = ["key_prefix", "name", "user", "is_active", "expires_at", "last_used_at"]
    fields = ["user", "name", "is_active", "expires_at", "key_prefix", "last_used_at", "created_at"]
    owner_field = "user"
    autocomplete_fields = ["user"]

    def issue(self, obj):
        issued = services.access_token_create(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        return issued.token, issued.raw_token


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]
