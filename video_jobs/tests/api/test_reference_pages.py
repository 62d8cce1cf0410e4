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
