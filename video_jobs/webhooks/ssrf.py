"""Which webhook URLs we may send to: no requests into our own network (SSRF).

Only ``http`` and ``https``. The host is resolved once, here, and every address it resolves to must be
outside every special-purpose block (``special_addresses``: IANA's registries), after unwrapping the IPv6
forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo). The caller then connects to one of
exactly these addresses (``transport``): a second lookup could answer differently (DNS rebinding). Checked
when an endpoint is registered and again at every delivery.

Every lookup runs in a thread of its own and is waited on for at most ``VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT``
seconds (less when the caller has less time): a resolver that never answers costs a caller that long, and
holds one of at most ``MAX_LOOKUPS`` lookup threads until the system's resolver gives up.

What the endpoint's owner is told (``RefusedURL.public``) never names what a host resolves to, nor whether
it resolves at all: "not a public address". The full reason (``str()``) is for the logs and staff.

``VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE`` lets loopback, private-use, shared (100.64.0.0/10) and unique-local
addresses through, for tests and local development; every other special-purpose block (link-local, where
cloud metadata lives at 169.254.169.254, multicast, reserved, documentation, ...) stays refused even then:
no receiver lives there.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .special_addresses import IPAddress as IPAddress
from .special_addresses import block_of

ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix; the IPv4 address is the last 32 bits
# What the owner is told about a host that does not resolve to public addresses only.
NOT_PUBLIC = "not a public address"
# Lookups in flight at once in this process; beyond them a lookup waits for a free one (within its time).
MAX_LOOKUPS = 16


class RefusedURL(Exception):
    """The URL may not be used for a webhook. ``str()`` says why (logs, staff); ``public`` is what the
    endpoint's owner is told."""

    def __init__(self, reason: str, *, public: str | None = None) -> None:
        super().__init__(reason)
        self.public = reason if public is None else public


class LookupTimedOut(RefusedURL):
    """The host's lookup did not finish in time."""


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses to connect to (and only to)."""

    scheme: str
    host: str
    port: int
    # Path and query, as sent in the request line.
    path: str
    addresses: tuple[IPAddress, ...]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that traffic to this IPv6 address may end up at (6to4 relays, Teredo)."""
    embedded = []
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)  # (server, client)
    return embedded


def refusal(address: IPAddress, *, allow_private: bool | None = None) -> str | None:
    """Why we may not connect to ``address``, or None when we may."""
    if allow_private is None:
        allow_private = settings.VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE
    original = address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is the IPv4 address itself to the socket layer.
            address = address.ipv4_mapped
        elif address in _NAT64:
            # A NAT64 gateway translates it to the IPv4 address: that is where the request goes.
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    checked: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        # The embedded addresses first, so that the reason names where the request would end up.
        checked = [*_embedded_ipv4(address), address]
    for candidate in checked:
        block = block_of(candidate)
        if block is not None and not (block.local and allow_private):
            shown = str(candidate) if candidate == original else f"{original} (which embeds {candidate})"
            return f"{shown} is {block.describe()}"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL; raises RefusedURL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise RefusedURL(f"the scheme must be http or https, not {scheme or 'missing'!r}")
    if not parts.hostname:
        raise RefusedURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("credentials in the URL are not supported; verify our signature instead")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to, in the resolver's order (an IP literal: itself). Raises OSError."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a scope ("fe80::1%eth0"); the address is what precedes it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def lookup(host: str, port: int, *, timeout: float) -> tuple[IPAddress, ...]:
    """``resolve(host, port)`` within ``timeout`` seconds (an IP literal at once). Raises LookupTimedOut,
    OSError or UnicodeError."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    if not _slots.acquire(timeout=timeout):
        raise LookupTimedOut(f"no lookup of {host!r} could start within {timeout:g}s", public=NOT_PUBLIC)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        slots = _slots
        try:
            outcome["addresses"] = resolve(host, port)
        except BaseException as exc:  # handed to the waiting caller
            outcome["error"] = exc
        finally:
            slots.release()
            done.set()

    # A daemon thread: a lookup that never returns must not keep the process from exiting.
    threading.Thread(target=run, name=f"webhook-dns {host}"[:60], daemon=True).start()
    if not done.wait(timeout):
        raise LookupTimedOut(f"the lookup of {host!r} took longer than {timeout:g}s", public=NOT_PUBLIC)
    if "error" in outcome:
        raise outcome["error"]
    addresses: tuple[IPAddress, ...] = outcome["addresses"]
    return addresses


def _new_slots() -> None:
    global _slots
    # After a fork the lookup threads of the parent are gone, and so are the slots they held.
    _slots = threading.BoundedSemaphore(MAX_LOOKUPS)


_slots = threading.BoundedSemaphore(MAX_LOOKUPS)
os.register_at_fork(after_in_child=_new_slots)


def check(url: str, *, allow_private: bool | None = None, lookup_timeout: float | None = None) -> Target:
    """Parse ``url``, resolve its host once and check every address. Raises RefusedURL with the reason
    (LookupTimedOut when the lookup took longer than ``lookup_timeout``, by default the setting).

    A host with any refused address is refused as a whole: one that answers both a public and a private
    address is not one we should choose between.
    """
    scheme, host, port, path = parse(url)
    if lookup_timeout is None:
        lookup_timeout = float(settings.VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT)
    try:
        addresses = lookup(host, port, timeout=lookup_timeout)
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(f"the host {host!r} does not resolve ({exc})", public=NOT_PUBLIC) from None
    if not addresses:
        raise RefusedURL(f"the host {host!r} does not resolve", public=NOT_PUBLIC)
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            where = "" if str(address) == host else f"{host!r} resolves to "
            raise RefusedURL(f"{where}{reason}: webhooks only go to public addresses", public=NOT_PUBLIC)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)
