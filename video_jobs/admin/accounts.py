"""The users' side of the admin: their API tokens (shown by prefix only) and the quotas staff give them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from .. import services
from ..models import ApiToken, JobQuota

# DRF's token admin lists every key in plain text: staff must not read (or leak in a screenshot) the
# credentials of other users. Its replacement shows a prefix, enough to tell tokens apart.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    """Tokens by user, with a prefix of the key: find one, revoke it (delete). They are made with
    ``manage.py drf_create_token USER``, which hands the key to whoever runs it, never through a page."""

    list_display = ("user", "key_prefix", "created")
    fields = ("user", "key_prefix", "created")
    readonly_fields = ("user", "key_prefix", "created")
    list_select_related = ("user",)

    @admin.display(description="key")
    def key_prefix(self, token: ApiToken) -> str:
        return token.key_prefix

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobQuota)
class JobQuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Raise (or lower) one user's limits; an empty limit is the default from the settings."""

    list_display = ("user", "max_pending_uploads", "max_active_jobs")
    autocomplete_fields = ("user",)
    search_fields = ("user__username", "user__email")
    fields = ("user", "max_pending_uploads", "max_active_jobs", "in_use")
    readonly_fields = ("in_use",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobQuota]:
        return super().get_queryset(request).select_related("user")

    @admin.display(description="in use now")
    def in_use(self, quota: JobQuota) -> str:
        if quota.pk is None:
            return "-"
        return services.in_use(quota.user_id)
