"""Request validation and response bodies of the webhook endpoints API."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import serializers

from ..api.serializers import TextField
from . import ssrf
from .models import SUBSCRIBABLE_EVENTS, WebhookEndpoint

logger = logging.getLogger(__name__)

ENDPOINT_FIELDS = (
    "id",
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


class EndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    events = serializers.ListField(
        child=serializers.CharField(), help_text="Event types it receives; empty: all of them."
    )

    class Meta:
        model = WebhookEndpoint
        fields: tuple[str, ...] = ENDPOINT_FIELDS
        read_only_fields: tuple[str, ...] = ENDPOINT_FIELDS


class EndpointWithSecretSerializer(EndpointSerializer):
    """Only in the answers to create and rotate-secret: the one time the secret is shown."""

    secret = serializers.CharField(
        read_only=True, help_text="whsec_ + base64: verify our signatures with it. Shown only now."
    )

    class Meta(EndpointSerializer.Meta):
        fields = (*ENDPOINT_FIELDS, "secret")
        read_only_fields = fields


class EndpointInputSerializer(serializers.Serializer[Any]):
    """Registering an endpoint; updates (``EndpointUpdateSerializer``, partial) share these rules."""

    url = TextField(
        min_length=1, max_length=2048, help_text="http or https; must resolve to public addresses."
    )
    description = TextField(max_length=255, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[event.value for event in SUBSCRIBABLE_EVENTS]),
        required=False,
        allow_empty=True,
        help_text="Event types to receive; omitted or empty: all of them.",
    )

    def validate_url(self, value: str) -> str:
        value = value.strip()
        try:
            ssrf.check(value)
        except ssrf.RefusedURL as exc:
            # The owner hears only what they may know; the log has the reason.
            logger.info("webhook URL refused: %s", exc)
            raise serializers.ValidationError(exc.public) from None
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        # Stored in one order, without repeats, so that equal subscriptions look equal.
        return [event.value for event in SUBSCRIBABLE_EVENTS if event.value in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Not a field of this body (the schema of a new endpoint has none), but said rather than ignored.
        if not isinstance(self, EndpointUpdateSerializer) and "active" in self.initial_data:
            raise serializers.ValidationError(
                {"active": ["A new endpoint is active; PATCH it to turn it off."]}
            )
        return attrs


class EndpointUpdateSerializer(EndpointInputSerializer):
    active = serializers.BooleanField(required=False, help_text="Turn the endpoint off or back on.")


class PingSerializer(serializers.Serializer[Any]):
    event_id = serializers.CharField(help_text="The webhook-id of the ping that is on its way.")
    type = serializers.CharField()
