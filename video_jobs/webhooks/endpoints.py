"""Every change to a webhook endpoint: create (within the per-user limit), update, rotate its secret (and
revoke the previous one before its overlap ends), disable and enable it; and signing with its secrets
(Standard Webhooks, through the ``standardwebhooks`` package).

A ``test`` ping is rate-limited per endpoint (``VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE``, counted on the
database's clock): pings cost a sender each, and an endpoint that never answers holds one for a timeout.

Disabling an endpoint fails its pending deliveries in the same transaction: nothing is left waiting for an
endpoint that will not be tried again. Re-enabling does not bring them back; staff redeliver them.
"""

from __future__ import annotations

import base64
import logging
import math
import secrets
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from standardwebhooks import Webhook

from ..clock import DatabaseNow, database_now
from ..refusals import Refusal
from . import outbox
from .models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification allows 24 to 64
# After a rotation the old secret keeps signing beside the new one for this long, so that receivers can
# switch without dropping a delivery.
ROTATION_OVERLAP = timedelta(hours=24)


TURNED_OFF_BY_OWNER = "turned off by its owner"


class EndpointLimitReached(Refusal):
    """The owner already has VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS endpoints."""

    error_code = "webhook_endpoint_limit"
    status = HTTPStatus.CONFLICT

    def __init__(self, limit: int) -> None:
        said = f"at most {limit} webhook endpoints per user"
        super().__init__(said, detail=f"You have {said}: delete one first.")


class EndpointDisabled(Refusal):
    """The endpoint is off: nothing is sent to it, a ping included."""

    error_code = "webhook_endpoint_disabled"
    status = HTTPStatus.CONFLICT
    detail = "The endpoint is off: turn it on first."


class PingsLimited(Refusal):
    """The endpoint had its VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE pings in the last minute."""

    error_code = "throttled"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, limit: int, wait: int) -> None:
        said = f"at most {limit} test pings a minute per endpoint"
        super().__init__(said, detail=f"You may send {said}: try again in {wait} s.")
        self.wait = wait

    @property
    def retry_after(self) -> int:
        return self.wait


TEST_PING_WINDOW = timedelta(minutes=1)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during the overlap."""
    current = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        current.append(endpoint.previous_secret)
    return current


def signature_headers(*, event_id: str, body: str, secrets: list[str], now: datetime) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (one ``v1,<sig>`` per secret, space-separated)."""
    signatures = [Webhook(secret).sign(event_id, now, body) for secret in secrets]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def create_endpoint(
    *, owner: Any, url: str, description: str = "", events: list[str] | None = None
) -> WebhookEndpoint:
    """Register an endpoint with a new secret (``url`` checked already). Raises EndpointLimitReached."""
    limit = int(settings.VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS)
    with transaction.atomic():
        # Locks the owner's row, so two concurrent creates cannot both see room for one more.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
        if WebhookEndpoint.objects.filter(owner=owner).count() >= limit:
            raise EndpointLimitReached(limit)
        endpoint = WebhookEndpoint.objects.create(
            owner=owner, url=url, description=description, events=events or [], secret=new_secret()
        )
    logger.info("webhook endpoint %s registered by user %s: %s", endpoint.pk, owner.pk, url)
    return endpoint


def update_endpoint(*, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    """Change url, description, events or active (through disable/enable). ``url`` must be checked already."""
    allowed = {"url", "description", "events", "active"}
    if not set(fields) <= allowed:
        raise TypeError(f"only {sorted(allowed)} can be updated, not {sorted(set(fields) - allowed)}")
    active = fields.pop("active", None)
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if fields:
        endpoint.save(update_fields=[*fields, "updated_at"])
    if active is True:
        enable_endpoint(endpoint=endpoint)
    elif active is False:
        disable_endpoint(endpoint_id=endpoint.pk, reason=TURNED_OFF_BY_OWNER)
        endpoint.refresh_from_db()
    return endpoint


def rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Give the endpoint a new secret; the current one keeps signing beside it for ROTATION_OVERLAP."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    logger.info("webhook endpoint %s: secret rotated", endpoint.pk)
    return endpoint


def send_test_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Record a ``ping`` for the endpoint. Raises EndpointDisabled, or PingsLimited with the seconds
    until the oldest ping of the last minute leaves the window."""
    if not endpoint.active:
        raise EndpointDisabled()
    limit = int(settings.VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE)
    with transaction.atomic():
        # The endpoint's row lock: concurrent pings are counted one after the other.
        WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).exists()
        recent = WebhookDelivery.objects.filter(
            endpoint=endpoint, event_type=EventType.PING, created_at__gt=DatabaseNow(-TEST_PING_WINDOW)
        ).order_by("created_at")
        if recent.count() >= limit:
            oldest = recent.aggregate(oldest=Min("created_at"))["oldest"]
            wait = (oldest + TEST_PING_WINDOW - database_now()).total_seconds()
            raise PingsLimited(limit, max(1, math.ceil(wait)))
        return outbox.record_ping(endpoint=endpoint)


def revoke_previous_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """End a rotation's overlap now: only the current secret signs from the next attempt on (a leaked old
    secret). Nothing changes when no previous secret signs."""
    revoked = (
        WebhookEndpoint.objects.filter(pk=endpoint.pk)
        .exclude(previous_secret="")
        .update(previous_secret="", previous_secret_expires_at=None, updated_at=timezone.now())
    )
    endpoint.refresh_from_db()
    if revoked:
        logger.info("webhook endpoint %s: previous secret revoked", endpoint.pk)
    return endpoint


def disable_endpoint(*, endpoint_id: Any, reason: str, now: datetime | None = None) -> bool:
    """Turn an active endpoint off with ``reason`` and fail its pending deliveries. False: it was off."""
    now = now or timezone.now()
    with transaction.atomic():
        moved = (
            WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).update(
                active=False, disabled_reason=reason[:255], disabled_at=now, updated_at=now
            )
            == 1
        )
        if moved:
            WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.FAILED,
                next_attempt_at=None,
                last_error=f"endpoint disabled: {reason}"[:500],
            )
    if moved:
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
    return moved


def enable_endpoint(*, endpoint: WebhookEndpoint) -> bool:
    """Turn an endpoint back on with a clean record. False: it was on already."""
    now = timezone.now()
    moved = (
        WebhookEndpoint.objects.filter(pk=endpoint.pk, active=False).update(
            active=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=now
        )
        == 1
    )
    endpoint.refresh_from_db()
    if moved:
        logger.info("webhook endpoint %s enabled", endpoint.pk)
    return moved
