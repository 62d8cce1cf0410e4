"""The OpenAPI schema's shared parts: the error responses every endpoint declares, and the links between
operations that generated clients and stateful tests follow.

Every error answers the shared body (``serializers.ErrorSerializer``, or ``FieldErrorsSerializer`` for a 400).
``ContractSchema`` adds the errors that follow from how a view is built: 401 when it needs a user (and 403
for a session's missing CSRF token on a change), 429 when it is throttled, 404 when its path names an
object, 400 when it takes a body, 400 and 404 when it pages a list.
``error_responses`` declares the others (409, 503, a list's filters...) in ``extend_schema(responses=...)``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import CharField, Field
from rest_framework.serializers import Serializer

from .serializers import ErrorSerializer, FieldErrorsSerializer

UNAUTHENTICATED = (
    "Not authenticated: send `Authorization: Token <key>` (error_code not_authenticated or "
    "authentication_failed)."
)
CSRF_FAILED = "A call authenticated by a session cookie without its CSRF token (permission_denied)."
THROTTLED = "Too many requests (error_code throttled); retry after Retry-After seconds."
NOT_FOUND = "No such object of yours (error_code not_found); another user's id answers the same."
BAD_PAGE_SIZE = "A page_size that is not a positive integer (error_code invalid)."
NO_SUCH_PAGE = "No such page (error_code not_found): a page past the last, or not a positive number."
INVALID = "The request was refused: error_code invalid with each field's messages, or parse_error."
RETRY_AFTER_HEADER = "Retry-After"
# Every 503 says when to retry (S3 could not answer); a 429 does for a quota, and for throttling whenever DRF
# can tell when the next request is allowed.
RETRY_AFTER = {
    "503": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."},
    "429": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
}
UNSAFE_METHODS = ("POST", "PUT", "PATCH")
# The viewsets' lookup_value_regex: every path segment reaches get_object.
ANY_SEGMENT = "[^/]+"
# How drf-spectacular spells a blank string allowed beside a field's own schema.
BLANK = {"type": "string", "maxLength": 0}
# Django refuses NUL characters in every text field (ProhibitNullCharactersValidator); the schema says so.
NO_NUL = "^[^\\x00]*$"


def error_responses(errors: dict[int, str | tuple[type[Serializer[Any]], str]]) -> dict[int, OpenApiResponse]:
    """``{status: description}`` (or ``(body serializer, description)``) as extend_schema responses."""
    responses = {}
    for code, said in errors.items():
        body, description = said if isinstance(said, tuple) else (_default_body(code), said)
        responses[code] = OpenApiResponse(body, description=description)
    return responses


def _default_body(code: int) -> type[Serializer[Any]]:
    return FieldErrorsSerializer if code == 400 else ErrorSerializer


class ContractSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses every endpoint of its kind can answer."""

    def _implied_errors(self) -> dict[int, str]:
        implied = {}
        if self.method in UNSAFE_METHODS and self.get_request_serializer() is not None:
            implied[400] = INVALID
        needs_user = any(not isinstance(check, permissions.AllowAny) for check in self.view.get_permissions())
        # DRF answers 401 only when the first authentication offers a WWW-Authenticate challenge, else 403;
        # a view whose authentication has none (the Uppy routes' path token) declares its own 403.
        if needs_user:
            if self.view.get_authenticate_header(self.view.request):
                implied[401] = UNAUTHENTICATED
            sessions = any(isinstance(way, SessionAuthentication) for way in self.view.get_authenticators())
            if sessions and self.method in (*UNSAFE_METHODS, "DELETE"):
                implied[403] = CSRF_FAILED
        if "{" in self.path:
            implied[404] = NOT_FOUND
        # drf-spectacular's helpers are untyped; they are the ones its own list handling uses.
        elif self._is_list_view() and self._get_paginator() is not None:  # type: ignore[no-untyped-call]
            implied[400] = BAD_PAGE_SIZE
            implied[404] = NO_SUCH_PAGE
        if self.view.get_throttles():
            implied[429] = THROTTLED
        return implied

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        # Our viewsets match any path segment as the id (lookup_value_regex), so that a malformed id answers
        # the same JSON 404 as an unknown one; the id a client sends is still a UUID, and the schema says so.
        parameters: list[dict[str, Any]] = super()._resolve_path_parameters(variables)  # type: ignore[no-untyped-call]
        # The viewsets build their querysets from the request's user, so the model is their serializer's.
        serializer_class = getattr(self.view, "serializer_class", None)
        model = getattr(getattr(serializer_class, "Meta", None), "model", None)
        uuid_keyed = model is not None and isinstance(model._meta.pk, models.UUIDField)
        # The id is a path segment: the router's lookup_value_regex, or a str converter (the artifact route).
        segment = ({"type": "string"}, {"type": "string", "pattern": f"^{ANY_SEGMENT}$"})
        for parameter in parameters:
            if uuid_keyed and parameter["name"] == "id" and parameter["schema"] in segment:
                parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters

    def _map_serializer_field(
        self, field: Field[Any, Any, Any, Any], direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        text = isinstance(field, CharField) and schema.get("type") == "string"
        if direction == "request" and text and "pattern" not in schema and "enum" not in schema:
            schema["pattern"] = NO_NUL
        return schema

    def _insert_field_validators(self, field: Field[Any, Any, Any, Any], schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)  # type: ignore[no-untyped-call]
        # drf-spectacular says "blank, or the field's own schema" as a oneOf, which refuses "" whenever the
        # field's own schema takes it too (sha256's pattern does): either will do, which is anyOf.
        if BLANK in schema.get("oneOf", ()):
            schema["anyOf"] = schema.pop("oneOf")

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> dict[str, Any]:
        headers: dict[str, Any] = super()._get_response_headers_for_code(status_code, direction)
        if status_code in RETRY_AFTER and RETRY_AFTER_HEADER not in headers:
            headers[RETRY_AFTER_HEADER] = RETRY_AFTER[status_code]
        return headers

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        # The private hook is the one place that sees the declared responses as status codes; extending
        # get_response_serializers instead would have to redo its defaults (201 for create, 204 for delete).
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, description in self._implied_errors().items():
            if str(code) not in responses:
                response = OpenApiResponse(_default_body(code), description=description)
                responses[str(code)] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    response, str(code), direction=direction
                )
        return responses


# OpenAPI links: after a create, a client (or schemathesis' stateful phase) follows what it answered to the
# calls that act on it: a job's id after initiate; Uppy's uploadId and key (with the same path token) after
# its creates. operationIds are drf-spectacular's (``<path words>_<method>``) or the Uppy routes' own; a test
# checks each exists.
JOB_LINKS = {
    "GetJob": "video_jobs_retrieve",
    "UploadComplete": "video_jobs_upload_complete_create",
    "CancelJob": "video_jobs_cancel_create",
    "DeleteJob": "video_jobs_destroy",
    "SignParts": "video_jobs_parts_create",
    "ListParts": "video_jobs_parts_retrieve",
}
_THE_JOB = {"id": "$response.body#/id"}
_THE_UPLOAD = {
    "path.token": "$request.path.token",
    "path.upload_id": "$response.body#/uploadId",
    "query.key": "$response.body#/key",
}
# Link name: (target operationId, its parameters); a number is a constant (Uppy signs part 1 first).
Links = dict[str, tuple[str, dict[str, Any]]]
LINKS_FROM: dict[str, tuple[tuple[str, ...], Links]] = {
    "video_jobs_initiate_create": (
        ("200", "201"),
        {name: (target, _THE_JOB) for name, target in JOB_LINKS.items()},
    ),
    "uppy_create_multipart_upload": (
        ("200", "201"),
        {
            "SignFirstPart": ("uppy_sign_part", {**_THE_UPLOAD, "path.part_number": 1}),
            "ListParts": ("uppy_list_parts", _THE_UPLOAD),
            "CompleteUpload": ("uppy_complete_multipart_upload", _THE_UPLOAD),
            "AbortUpload": ("uppy_abort_multipart_upload", _THE_UPLOAD),
        },
    ),
    "uppy_get_upload_parameters": (
        ("200", "201"),
        {
            "CompleteUpload": (
                "uppy_complete_single_upload",
                {"path.token": "$request.path.token", "query.key": "$response.body#/fields/key"},
            )
        },
    ),
}


def add_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: links from each create's answers to the calls on what it made."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            codes, links = LINKS_FROM.get(operation.get("operationId"), ((), {}))
            for code in codes:
                response = operation["responses"].get(code)
                if response is None:
                    continue
                response["links"] = {
                    name: {"operationId": target, "parameters": parameters}
                    for name, (target, parameters) in links.items()
                }
    return result


# What the docs open on (drf-spectacular's hook ``introduce``): the getting-started sequence, the video-jobs
# API before webhooks and Uppy's routes, and the one credential Swagger UI's Authorize asks for.
GETTING_STARTED = """Upload cricket videos straight to S3, have them verified and analysed, follow each job.

Every call carries your API token: `Authorization: Token <key>`. In Swagger UI press **Authorize** and enter
`Token <key>`, the word `Token` included.

1. **Initiate**: `POST /api/video-jobs/initiate/` with `{filename, content_type, size_bytes}` answers a job
   awaiting its upload, and its `upload`: where and how to send the bytes.
2. **PUT the file**: send the file's bytes to `upload.url` with `upload.headers`, in one PUT; when
   `upload.method` is `multipart`, in parts (`POST /api/video-jobs/{id}/parts/` gives each part's URL).
3. **Upload-complete**: `POST /api/video-jobs/{id}/upload-complete/`: the service checks that S3 holds the
   file and queues the job.
4. **Follow**: `GET /api/video-jobs/{id}/` until `status` is `done` (its `result` and `artifacts`) or
   `failed` (`error_code`, and `error_message` says what to do now), or register a webhook endpoint to be
   told.

Every error answers `{error_code, detail}`. Browsers upload with Uppy through the `uppy` routes.
"""
TAGS = [
    {"name": "video-jobs", "description": "Upload a video, follow its job, download what the analysis made."},
    {"name": "webhook-endpoints", "description": "Be told when a job is queued, done, failed or cancelled."},
    {"name": "uppy", "description": "Uppy's S3 (Companion) routes: browser uploads, over the same jobs."},
]
TOKEN_AUTH = "tokenAuth"
TOKEN_BOX = "Your API token, as `Token <key>`: the word `Token`, a space, then the key."


# The schema as Swagger UI asks for it (``/api/schema/?for=swagger``): with the token as its one way in, so
# that Authorize shows one box. The schema itself keeps the session cookie, which the coaches' page uses.
SWAGGER = "swagger"


def introduce(result: dict[str, Any], request: Any = None, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the schema's description, its tags in reading order, the words
    of the token box, and for Swagger UI the token alone."""
    result.setdefault("info", {})["description"] = GETTING_STARTED
    result["tags"] = TAGS
    schemes = result.get("components", {}).get("securitySchemes", {})
    if TOKEN_AUTH in schemes:
        schemes[TOKEN_AUTH]["description"] = TOKEN_BOX
    if request is not None and request.GET.get("for") == SWAGGER:
        _token_only(result, schemes)
    return result


def _token_only(result: dict[str, Any], schemes: dict[str, Any]) -> None:
    for name in [name for name in schemes if name != TOKEN_AUTH]:
        del schemes[name]
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [
                    requirement for requirement in operation["security"] if set(requirement) <= set(schemes)
                ]
