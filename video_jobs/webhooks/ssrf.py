"""Which webhook URLs we may send to: no requests into our own network (SSRF).

Only ``http`` and ``https``. The host is resolved once, here, and every address it resolves to must be
globally routable, after unwrapping the IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4,
Teredo). The caller then connects to one of exactly these addresses (``transport``): a second lookup could
answer differently (DNS rebinding). Checked when an endpoint is registered and again at every delivery.

``VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE`` lets loopback, private and shared (100.64.0.0/10) addresses through,
for tests and local development; unspecified, multicast, link-local (cloud metadata at 169.254.169.254) and
reserved addresses stay refused even then: no receiver lives there.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix; the IPv4 address is the last 32 bits


class RefusedURL(Exception):
    """The URL may not be used for a webhook; the message says why (shown to the endpoint's owner)."""


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


def _category(address: IPAddress) -> tuple[str, bool]:
    """(what the address is, whether ALLOW_PRIVATE lets it through); ("", True) for a global address.

    The order matters: ``::1`` is also "reserved" to the ipaddress module, and 0.0.0.0 also "private".
    """
    if address.is_unspecified:
        return "an unspecified address", False
    if address.is_multicast:
        return "a multicast address", False
    if address.is_link_local:
        return "a link-local address", False
    if address.is_loopback:
        return "a loopback address", True
    if address.is_reserved:
        return "a reserved address", False
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address", True
    if address.is_private:
        return "a private address", True
    if not address.is_global:
        return "not a globally routable address", False
    return "", True


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
        what, private_kind = _category(candidate)
        if what and not (private_kind and allow_private):
            shown = str(candidate) if candidate == original else f"{original} (which embeds {candidate})"
            return f"{shown} is {what}"
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


def check(url: str, *, allow_private: bool | None = None) -> Target:
    """Parse ``url``, resolve its host once and check every address. Raises RefusedURL with the reason.

    A host with any refused address is refused as a whole: one that answers both a public and a private
    address is not one we should choose between.
    """
    scheme, host, port, path = parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(f"the host {host!r} does not resolve ({exc})") from None
    if not addresses:
        raise RefusedURL(f"the host {host!r} does not resolve")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            where = "" if str(address) == host else f"{host!r} resolves to "
            raise RefusedURL(f"{where}{reason}: webhooks only go to public addresses")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)
