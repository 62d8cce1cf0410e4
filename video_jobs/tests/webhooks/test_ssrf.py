"""No webhook into our own network: only http(s), every resolved address globally routable after unwrapping
the IPv6 forms that carry an IPv4 address; VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE opens loopback and private
ranges for tests and development, never link-local, multicast, reserved or unspecified addresses."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
from django.test import override_settings

from video_jobs.webhooks import ssrf

from ..support.private_urls import REFUSED


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_urls_into_private_networks_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ssrf.RefusedURL, match=re.escape(reason)):
        ssrf.check(url, allow_private=False)


def test_refusal_is_the_default_setting() -> None:
    with pytest.raises(ssrf.RefusedURL):
        ssrf.check("http://127.0.0.1:8000/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "http://8.8.8.8:8080/path?x=1",
        "https://[2606:4700::1111]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 of a public address
        "https://[2002:808:808::1]/hook",  # 6to4 of a public address
    ],
)
def test_public_addresses_are_accepted(url: str) -> None:
    assert ssrf.check(url, allow_private=False).addresses


def test_the_target_keeps_host_port_path_and_the_checked_addresses() -> None:
    target = ssrf.check("https://93.184.215.14/a/b?c=d&e=f", allow_private=False)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "93.184.215.14",
        443,
        "/a/b?c=d&e=f",
    )
    assert target.addresses == (ipaddress.ip_address("93.184.215.14"),)
    assert ssrf.check("http://93.184.215.14", allow_private=False).path == "/"


def test_a_host_that_resolves_to_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [("93.184.215.14", 443), ("10.1.2.3", 443)]
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *args, **kwargs: [(2, 1, 6, "", answer) for answer in answers]
    )
    reason = "'hooks.example.com' resolves to 10.1.2.3 is a private address"
    with pytest.raises(ssrf.RefusedURL, match=re.escape(reason)):
        ssrf.check("https://hooks.example.com/x", allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://[::1]/hook", "http://10.0.0.1/hook", "http://localhost/"]
)
def test_allow_private_lets_loopback_and_private_addresses_through(url: str) -> None:
    with override_settings(VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=True):
        assert ssrf.check(url).addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "gopher://127.0.0.1/",
    ],
)
def test_allow_private_never_opens_metadata_unspecified_multicast_or_other_schemes(url: str) -> None:
    with override_settings(VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=True), pytest.raises(ssrf.RefusedURL):
        ssrf.check(url)
