"""The reference pages: Swagger UI and Redoc for /api/schema/, served with their files from here."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client


@pytest.mark.parametrize(
    ("page", "script"), [("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc")]
)
def test_the_reference_pages_load_everything_from_this_service(
    client: Client, page: str, script: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(script in source for source in sources)
    assert all(source.startswith("/") for source in sources), sources
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_pages_files_are_static_files_of_this_service(client: Client, page: str) -> None:
    html = client.get(page).content.decode()
    for source in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert source.startswith(settings.STATIC_URL), source
        assert finders.find(source.removeprefix(settings.STATIC_URL)) is not None, source


def test_swagger_ui_offers_one_token_box_and_the_schema_keeps_the_cookie(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert 'url: "/api/schema/?for\\u003Dswagger"' in html  # = as JavaScript escapes it
    for_swagger = client.get("/api/schema/?for=swagger", HTTP_ACCEPT="application/json").json()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert list(for_swagger["components"]["securitySchemes"]) == ["tokenAuth"]
    assert "Token <key>" in for_swagger["components"]["securitySchemes"]["tokenAuth"]["description"]
    initiate = for_swagger["paths"]["/api/video-jobs/initiate/"]["post"]
    assert initiate["security"] == [{"tokenAuth": []}]
    assert len(schema["components"]["securitySchemes"]) > 1
