"""``/api/webhook-endpoints/``: a user's webhook endpoints. Views validate and translate; every change is a
call into ``webhooks.endpoints``."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from ..api.openapi import error_responses
from . import endpoints
from .models import EventType, WebhookEndpoint
from .serializers import (
    EndpointInputSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    PingSerializer,
)


@extend_schema_view(
    list=extend_schema(summary="List your webhook endpoints"),
    retrieve=extend_schema(summary="Get one of your webhook endpoints"),
    destroy=extend_schema(summary="Delete a webhook endpoint (its pending deliveries go with it)"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    GenericViewSet[WebhookEndpoint],
):
    serializer_class = EndpointSerializer
    # Any path segment reaches get_object, so a malformed id answers a JSON 404 like an unknown one.
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        # Owner scoping: another user's endpoint is indistinguishable from one that does not exist.
        return WebhookEndpoint.objects.filter(owner=self.request.user.pk)

    def get_object(self) -> WebhookEndpoint:
        try:
            uuid.UUID(str(self.kwargs[self.lookup_field]))
            endpoint: WebhookEndpoint = super().get_object()
        except (ValueError, Http404):
            raise NotFound() from None
        return endpoint

    @extend_schema(
        summary="Register a webhook endpoint; the answer holds its signing secret, shown only this once",
        request=EndpointInputSerializer,
        responses={
            201: EndpointWithSecretSerializer,
            **error_responses(
                {
                    400: "Field errors, such as a URL that is not public.",
                    409: "You have the most endpoints allowed (webhook_endpoint_limit).",
                }
            ),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = EndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = endpoints.create_endpoint(owner=request.user, **serializer.validated_data)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a webhook endpoint's url, description, events, or turn it off or back on",
        request=EndpointUpdateSerializer,
        responses={200: EndpointSerializer},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        serializer = EndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoints.update_endpoint(endpoint=endpoint, **serializer.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Give the endpoint a new secret; the old one keeps signing beside it for 24 hours",
        request=None,
        responses={200: EndpointWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = endpoints.rotate_secret(endpoint=self.get_object())
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        summary="Stop signing with the previous secret now, before its 24 hours are over",
        request=None,
        responses={200: EndpointSerializer},
    )
    @action(detail=True, methods=["post"], url_path="revoke-previous-secret")
    def revoke_previous_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = endpoints.revoke_previous_secret(endpoint=self.get_object())
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Send the endpoint a ping event",
        request=None,
        responses={
            202: PingSerializer,
            # 429 (throttled, with Retry-After) is declared for every throttled call: here also after the
            # endpoint's test pings of the last minute.
            **error_responses({409: "The endpoint is off (webhook_endpoint_disabled)."}),
        },
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        delivery = endpoints.send_test_ping(endpoint=self.get_object())
        return Response(
            {"event_id": delivery.event_id, "type": EventType.PING.value}, status=status.HTTP_202_ACCEPTED
        )
