"""No webhook into our own network: only http(s), every resolved address outside IANA's special-purpose
blocks after unwrapping the IPv6 forms that carry an IPv4 address; VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE opens
loopback and private ranges for tests and development, never link-local, multicast, reserved or unspecified
addresses. The owner hears only "not a public address"; a lookup never takes longer than its timeout."""

from __future__ import annotations

import ipaddress
import re
import socket
import time

import pytest
from django.test import override_settings

from video_jobs.webhooks import ssrf
from video_jobs.webhooks.special_addresses import BLOCKS

from ..support.hanging_resolver import hanging_resolver
from ..support.private_urls import REFUSED, REFUSED_ADDRESSES


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
    reason = "'hooks.example.com' resolves to 10.1.2.3 is a private-use address"
    with pytest.raises(ssrf.RefusedURL, match=re.escape(reason)) as refused:
        ssrf.check("https://hooks.example.com/x", allow_private=False)
    # What the owner is told names neither the address nor its kind.
    assert refused.value.public == "not a public address"


@pytest.mark.parametrize(("url", "reason"), REFUSED_ADDRESSES)
def test_the_owner_is_told_only_not_a_public_address(url: str, reason: str) -> None:
    with pytest.raises(ssrf.RefusedURL) as refused:
        ssrf.check(url, allow_private=False)
    assert refused.value.public == "not a public address"


# Special-purpose blocks that the checks let through before they followed IANA's registries.
@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",  # site-local, deprecated (RFC 3879)
        "feff:ffff::1",
        "5f00::1",  # SRv6 SIDs (RFC 9602)
        "3fff::1",  # documentation (RFC 9637)
        "2001:30::1",  # drone remote ID (RFC 9374)
        "2001:3::1",  # AMT (RFC 7450)
        "2001:4:112::1",  # AS112-v6 (RFC 7535)
        "2620:4f:8000::1",  # AS112 direct delegation (RFC 7534)
        "100:0:0:1::1",  # dummy IPv6 prefix (RFC 9780)
        "4000::1",  # outside 2000::/3
        "192.0.0.9",  # PCP anycast (RFC 7723)
        "192.31.196.1",  # AS112-v4 (RFC 7535)
        "192.52.193.1",  # AMT (RFC 7450)
        "192.88.99.1",  # 6to4 relay anycast, deprecated (RFC 7526)
        "192.175.48.1",  # AS112 direct delegation (RFC 7534)
    ],
)
def test_reserved_blocks_that_python_may_call_global_are_refused(address: str) -> None:
    assert ssrf.refusal(ipaddress.ip_address(address), allow_private=True) is not None


def test_every_address_of_every_special_purpose_block_is_refused() -> None:
    """First, second and last address of each block (NAT64 and IPv4-mapped by the address they carry)."""
    for block in BLOCKS:
        network = block.network
        for address in (network[0], network[min(1, network.num_addresses - 1)], network[-1]):
            assert ssrf.refusal(address, allow_private=False) is not None, (address, block)


def test_whatever_python_does_not_call_global_is_refused_too() -> None:
    """A cross-check: around each block's edges, an address the ipaddress module deems not global (on this
    Python) is one we refuse, whatever our list says."""
    for block in BLOCKS:
        network = block.network
        for edge in (int(network[0]) - 1, int(network[0]), int(network[-1]), int(network[-1]) + 1):
            kind = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
            try:
                address = kind(edge)
            except ValueError:
                continue
            if not address.is_global:
                assert ssrf.refusal(address, allow_private=False) is not None, address


def test_allow_private_opens_only_the_local_blocks() -> None:
    opened = {str(block.network) for block in BLOCKS if block.local}
    assert opened == {
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    }
    assert ssrf.refusal(ipaddress.ip_address("fd12::1"), allow_private=True) is None
    assert ssrf.refusal(ipaddress.ip_address("fec0::1"), allow_private=True) is not None


@override_settings(VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT=0.3)
def test_a_lookup_that_never_answers_is_given_up_after_the_dns_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with hanging_resolver(monkeypatch) as resolver:
        started = time.monotonic()
        with pytest.raises(ssrf.LookupTimedOut) as refused:
            ssrf.check("https://hooks.example.com/x")
        assert 0.3 <= time.monotonic() - started < 1.5
        assert resolver.asked == ["hooks.example.com"]
    assert refused.value.public == "not a public address"


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
