"""The Uppy routes in the OpenAPI schema: Companion's shapes (``shapes``) and every answer each route gives.

The only credential is the ``token`` path parameter. OpenAPI has no security scheme for a credential in the
path, so these operations declare none; the parameter says what it is. A forged, expired or revoked token
answers 403 ``uppy_token_invalid`` (DRF answers 403, not 401, when the authentication offers no
``WWW-Authenticate`` challenge), and nothing here answers 401.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from ..api.openapi import NO_NUL, ContractSchema, error_responses
from ..api.serializers import ErrorSerializer, QuotaExceededSerializer
from ..s3.multipart import MAX_PARTS
from . import shapes

TOKEN = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The credential of these routes: the token in the `companion_endpoint` that "
    "GET /api/uppy/endpoint/ (or the coaches' page) gives you, valid for a day and until the password "
    "changes. A forged, expired or revoked one answers 403 uppy_token_invalid.",
)
UPLOAD_ID = OpenApiParameter(
    "upload_id",
    {"type": "string", "pattern": "^[^\\x00]+$"},
    OpenApiParameter.PATH,
    description="Uppy's uploadId: the one POST /s3/multipart answered (S3's multipart upload id).",
)
PART_NUMBER = OpenApiParameter(
    "part_number",
    {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
    OpenApiParameter.PATH,
    description="The part to sign, 1 up to the job's part count (Uppy's part size: ceil(size / 10000), "
    "at least 5 MiB).",
)
KEY = OpenApiParameter(
    "key",
    {"type": "string", "minLength": 1, "pattern": NO_NUL},
    OpenApiParameter.QUERY,
    required=True,
    description="The object key create answered: with the uploadId, it must name one of your uploads.",
)

TOKEN_INVALID = "The token is forged, expired or revoked (uppy_token_invalid): ask for a new endpoint."
NO_UPLOAD = "No upload of yours has this uploadId and key (not_found)."
KEY_MISSING = "The key query parameter is missing (invalid, errors.key)."
UNAVAILABLE = "S3 did not answer (storage_unavailable); retry after Retry-After."
CREATE_CONFLICT = (
    "The file id (metadata.file_id) was used for another file (idempotency_key_reused), or its job no "
    "longer awaits its upload (upload_closed, with the job's location)."
)
CREATE_LIMITED = (
    "Quota exceeded (quota_exceeded, with quota and limit) or too many requests (throttled); retry after "
    "Retry-After."
)
SETTLED_BADLY = (
    "The job failed (its error_code: upload_missing, upload_size_mismatch... with the job's location) or "
    "was cancelled (job_cancelled, with location)"
)
PARTS_CLOSED = (
    "The job takes no parts: it no longer awaits its upload, or its parts were assembled (parts_closed)."
)


def _errors(errors: dict[int, Any]) -> dict[int, OpenApiResponse]:
    """The Uppy routes' error bodies: 400 has Uppy's field errors, 409 the job's location or missing parts."""
    bodies = {400: shapes.UppyFieldErrorsSerializer, 409: shapes.UppyConflictSerializer}
    return error_responses(
        {
            code: said if isinstance(said, tuple) else (bodies.get(code, ErrorSerializer), said)
            for code, said in {403: TOKEN_INVALID, **errors}.items()
        }
    )


def _created(body: Any) -> dict[int, Any]:
    return {
        201: body,
        200: OpenApiResponse(body, description="A create retried with its file id: the same job."),
    }


class UppySchema(ContractSchema):
    """ContractSchema for the Uppy routes: no security requirement (the token is a path parameter), and no
    implied 404 (the path's ``{token}`` names no object; the routes that find an upload declare theirs)."""

    def get_auth(self) -> list[dict[str, Any]]:
        return []

    def _implied_errors(self) -> dict[int, str]:
        implied = super()._implied_errors()
        implied.pop(404, None)
        return implied


GET_UPLOAD_PARAMETERS = extend_schema(
    operation_id="uppy_get_upload_parameters",
    summary="Uppy: create a job and sign an S3 POST-policy form for a small file (GET /s3/params)",
    description="Creates a job on a GET, as Companion's protocol has it. Nothing tells the server when the "
    "form POST finished: call POST /s3/params/complete then (else the job settles at its upload deadline).",
    parameters=[TOKEN, shapes.UppyUploadParametersQuerySerializer],
    responses={
        **_created(shapes.UppyUploadParametersSerializer),
        **_errors(
            {
                400: "Field errors (filename, type, metadata.size, metadata.sha256), or a size for parts.",
                409: CREATE_CONFLICT,
                429: (QuotaExceededSerializer, CREATE_LIMITED),
                503: "No form could be signed (storage_unavailable); retry after Retry-After.",
            }
        ),
    },
)

COMPLETE_SINGLE_UPLOAD = extend_schema(
    operation_id="uppy_complete_single_upload",
    description="Uppy never tells the server that a form POST finished: the page calls this on "
    "upload-success. The same gate as upload-complete (HeadObject of the job's own key).",
    summary="Uppy: the form POST finished; verify the object and queue the job (our extension)",
    parameters=[TOKEN, KEY],
    request=None,
    responses={
        200: shapes.UppyUploadLocationSerializer,
        **_errors(
            {
                400: KEY_MISSING,
                404: "No single upload of yours has this key (not_found).",
                409: f"{SETTLED_BADLY}.",
                503: "The upload could not be verified: S3 did not answer (storage_unavailable); retry "
                "after Retry-After.",
            }
        ),
    },
)

CREATE_MULTIPART_UPLOAD = extend_schema(
    operation_id="uppy_create_multipart_upload",
    description="initiate in Uppy's terms: the job, in Uppy's part size (ceil(size / 10000), at least "
    "5 MiB), with its S3 multipart upload. The answer's key is the server's, never the filename.",
    summary="Uppy: create a job and its S3 multipart upload (POST /s3/multipart)",
    parameters=[TOKEN],
    request={"application/json": shapes.UppyCreateSerializer},
    responses={
        **_created(shapes.UppyMultipartUploadSerializer),
        **_errors(
            {
                400: "Field errors (filename, type, metadata.size, metadata.sha256), or parse_error.",
                409: CREATE_CONFLICT,
                429: (QuotaExceededSerializer, CREATE_LIMITED),
                503: "S3 could not start the upload (storage_unavailable); retry after Retry-After.",
            }
        ),
    },
)

SIGN_PART = extend_schema(
    operation_id="uppy_sign_part",
    description="The URL signs the part's exact Content-Length (the browser sets it from the slice).",
    summary="Uppy: a presigned URL for one part (GET /s3/multipart/{uploadId}/{partNumber})",
    parameters=[TOKEN, UPLOAD_ID, PART_NUMBER, KEY],
    responses={
        200: shapes.UppyPartUrlSerializer,
        **_errors(
            {
                400: "The key is missing (errors.key), or the part number is past the job's parts "
                "(errors.partNumber).",
                404: NO_UPLOAD,
                409: (ErrorSerializer, PARTS_CLOSED),
                503: "No URL could be made (storage_unavailable); retry after Retry-After.",
            }
        ),
    },
)

LIST_PARTS = extend_schema(
    operation_id="uppy_list_parts",
    description="Companion's shape: a bare array, every page of S3's ListParts; Uppy uploads only the rest.",
    summary="Uppy: the parts S3 holds, to resume (GET /s3/multipart/{uploadId})",
    parameters=[TOKEN, UPLOAD_ID, KEY],
    responses={
        200: shapes.UppyHeldPartSerializer(many=True),
        **_errors({400: KEY_MISSING, 404: NO_UPLOAD, 409: (ErrorSerializer, PARTS_CLOSED), 503: UNAVAILABLE}),
    },
)

ABORT_MULTIPART_UPLOAD = extend_schema(
    operation_id="uppy_abort_multipart_upload",
    summary="Uppy: the user removed the file; cancel its job (DELETE /s3/multipart/{uploadId})",
    description="Cancelling aborts the S3 upload. Aborting an upload already cancelled answers `{}` again.",
    parameters=[TOKEN, UPLOAD_ID, KEY],
    responses={
        200: shapes.UppyAbortedSerializer,
        **_errors(
            {
                400: KEY_MISSING,
                404: NO_UPLOAD,
                409: "The upload was completed: the job no longer awaits it (upload_closed, with location).",
            }
        ),
    },
)

COMPLETE_MULTIPART_UPLOAD = extend_schema(
    operation_id="uppy_complete_multipart_upload",
    summary="Uppy: assemble the parts, verify the object and queue the job (POST .../{uploadId}/complete)",
    description="The same gate as upload-complete: the parts are assembled from what S3 holds, each checked "
    "against the job's plan; the body's list is only checked for Companion's shape.",
    parameters=[TOKEN, UPLOAD_ID, KEY],
    request={"application/json": shapes.UppyCompleteSerializer},
    responses={
        200: shapes.UppyUploadLocationSerializer,
        **_errors(
            {
                400: "The key is missing (errors.key), parts is not a list of {PartNumber: integer, "
                "ETag: string} (errors.parts), or parse_error.",
                404: NO_UPLOAD,
                409: f"Parts are missing (upload_incomplete, with missing_parts: upload them and complete "
                f"again); or {SETTLED_BADLY}.",
                503: "The upload could not be verified: S3 did not answer (storage_unavailable); retry "
                "after Retry-After.",
            }
        ),
    },
)
