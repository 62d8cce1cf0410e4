"""Staff view of webhooks: endpoints (why one is off) and deliveries (how each went), with the two actions
that change them, "Redeliver" and "Re-enable endpoint", which call the same functions as the API and the
dispatcher. Pages are read-only, as for jobs: a form save would race the dispatcher's fenced UPDATEs. The
signing secrets are never shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import deliveries, endpoints
from .models import WebhookDelivery, WebhookEndpoint

# Each run writes one row at a time: keep a run short.
MAX_PER_ACTION = 500


def _too_many(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> bool:  # type: ignore[type-arg]
    if queryset.count() <= MAX_PER_ACTION:
        return False
    modeladmin.message_user(request, f"Select at most {MAX_PER_ACTION} at a time.", messages.ERROR)
    return True


@admin.action(description="Re-enable endpoint", permissions=["change"])
def reenable_endpoints(
    modeladmin: admin.ModelAdmin[WebhookEndpoint], request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
) -> None:
    if _too_many(modeladmin, request, queryset):
        return
    for endpoint in queryset:
        reason = endpoint.disabled_reason
        if endpoints.enable_endpoint(endpoint=endpoint):
            outcome = f"re-enabled (it was off: {reason or endpoints.TURNED_OFF_BY_OWNER})"
            modeladmin.message_user(request, f"Endpoint {endpoint.url}: {outcome}", messages.SUCCESS)
            modeladmin.log_change(request, endpoint, outcome)
        else:
            modeladmin.message_user(request, f"Endpoint {endpoint.url}: already on", messages.WARNING)


@admin.action(description="Redeliver", permissions=["change"])
def redeliver(
    modeladmin: admin.ModelAdmin[WebhookDelivery], request: HttpRequest, queryset: QuerySet[WebhookDelivery]
) -> None:
    if _too_many(modeladmin, request, queryset):
        return
    for delivery in queryset.select_related("endpoint"):
        name = f"Delivery {delivery.pk} ({delivery.event_type} {delivery.event_id})"
        if deliveries.redeliver(delivery=delivery):
            modeladmin.message_user(request, f"{name}: queued to be sent again", messages.SUCCESS)
            modeladmin.log_change(request, delivery, "Redeliver: queued to be sent again")
        else:
            modeladmin.message_user(
                request, f"{name}: skipped, its endpoint is off (re-enable it first)", messages.WARNING
            )


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        # The change permission enables the actions on the list (obj is None); one object's page is view-only.
        if obj is not None:
            return False
        return super().has_change_permission(request)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ("url", "owner", "active", "disabled_reason", "failing_since", "events", "created_at")
    list_filter = ("active",)
    list_select_related = ("owner",)
    search_fields = ("url", "description", "owner__username", "owner__email")
    actions = [reenable_endpoints]
    fields = (
        "id",
        "owner",
        "url",
        "description",
        "events",
        "active",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = (
        "id",
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("=event_id", "endpoint__url")
    search_help_text = "Event id (the webhook-id header) or endpoint URL."
    actions = [redeliver]
    fields = (
        "id",
        "event_id",
        "event_type",
        "occurred_at",
        "endpoint",
        "job",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "payload",
    )
    readonly_fields = fields
