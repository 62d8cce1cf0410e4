"""Mounted at ``api/uppy/``: ``endpoint/`` (with the API's authentication), and Companion's S3 routes
under ``<token>/s3/`` (the token is the credential, see ``tokens``).

``uploadId`` arrives percent-decoded, so an id with a ``/`` in it (S3 does not promise otherwise) is
matched as any text; ``complete`` and the part number are tried before the bare id.
"""

from django.urls import path, register_converter
from django.urls.converters import PathConverter

from . import views


class AnyTextConverter(PathConverter):
    """``path``'s text, newlines included (``.+`` stops at one), but not ending in a slash: a trailing slash
    is the route's own, optional on every API route (``api.fallbacks``)."""

    regex = r"[\s\S]*[^/]"


register_converter(AnyTextConverter, "anytext")

app_name = "uppy"

urlpatterns = [
    path("endpoint/", views.Endpoint.as_view(), name="endpoint"),
    path("<str:token>/s3/params", views.Params.as_view(), name="params"),
    path("<str:token>/s3/params/complete", views.ParamsComplete.as_view(), name="params-complete"),
    path("<str:token>/s3/multipart", views.MultipartCreate.as_view(), name="multipart"),
    path(
        "<str:token>/s3/multipart/<anytext:upload_id>/complete",
        views.MultipartComplete.as_view(),
        name="multipart-complete",
    ),
    path(
        "<str:token>/s3/multipart/<anytext:upload_id>/<int:part_number>",
        views.MultipartPart.as_view(),
        name="multipart-part",
    ),
    path(
        "<str:token>/s3/multipart/<anytext:upload_id>",
        views.MultipartUpload.as_view(),
        name="multipart-upload",
    ),
]
