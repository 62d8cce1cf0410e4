"""The address blocks no webhook is sent to: every entry of IANA's IPv4 and IPv6 Special-Purpose Address
Registries (RFC 6890), the multicast blocks, IPv6's deprecated site-local block, and every IPv6 address
outside the global unicast space 2000::/3 (RFC 4291: the rest is reserved, unassigned or special).

Each entry is refused, even those the registries mark globally reachable (anycast services, AS112, AMT,
ORCHID): no webhook receiver lives there. Python's ``ipaddress`` (``is_global`` and friends) is not
enough: depending on the Python release it misses blocks such as ``fec0::/10``, ``5f00::/16`` or
``3fff::/20``, so the list is written out here, each block with the RFC that sets it aside.

Blocks that carry an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``, Teredo ``2001::/32``) are unwrapped by ``ssrf`` and judged by the IPv4 address they embed
as well.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Block:
    network: IPNetwork
    # What the registry calls it.
    name: str
    rfc: str
    # Opened by VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE (tests and local development): loopback, private-use,
    # shared and unique-local addresses, where a developer's own receiver may listen.
    local: bool = False

    def describe(self) -> str:
        return f"{self.name} ({self.network}, {self.rfc})"


def _block(network: str, name: str, rfc: str, *, local: bool = False) -> Block:
    return Block(ipaddress.ip_network(network), name, rfc, local)


BLOCKS: tuple[Block, ...] = (
    # --- IANA IPv4 Special-Purpose Address Registry -------------------------------------------------------
    _block("0.0.0.0/8", '"this network"', "RFC 791"),
    _block("0.0.0.0/32", "an unspecified address", "RFC 1122"),
    _block("10.0.0.0/8", "a private-use address", "RFC 1918", local=True),
    _block("100.64.0.0/10", "a shared (carrier-grade NAT) address", "RFC 6598", local=True),
    _block("127.0.0.0/8", "a loopback address", "RFC 1122", local=True),
    _block("169.254.0.0/16", "a link-local address", "RFC 3927"),
    _block("172.16.0.0/12", "a private-use address", "RFC 1918", local=True),
    _block("192.0.0.0/24", "an IETF protocol assignment", "RFC 6890"),
    _block("192.0.0.0/29", "the IPv4 service continuity prefix", "RFC 7335"),
    _block("192.0.0.8/32", "the IPv4 dummy address", "RFC 7600"),
    _block("192.0.0.9/32", "the Port Control Protocol anycast", "RFC 7723"),
    _block("192.0.0.10/32", "the TURN anycast", "RFC 8155"),
    _block("192.0.0.170/32", "NAT64/DNS64 discovery", "RFC 8880"),
    _block("192.0.0.171/32", "NAT64/DNS64 discovery", "RFC 8880"),
    _block("192.0.2.0/24", "a documentation address (TEST-NET-1)", "RFC 5737"),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    _block("192.52.193.0/24", "AMT", "RFC 7450"),
    _block("192.88.99.0/24", "the deprecated 6to4 relay anycast", "RFC 7526"),
    _block("192.168.0.0/16", "a private-use address", "RFC 1918", local=True),
    _block("192.175.48.0/24", "the direct delegation AS112 service", "RFC 7534"),
    _block("198.18.0.0/15", "a benchmarking address", "RFC 2544"),
    _block("198.51.100.0/24", "a documentation address (TEST-NET-2)", "RFC 5737"),
    _block("203.0.113.0/24", "a documentation address (TEST-NET-3)", "RFC 5737"),
    _block("240.0.0.0/4", "a reserved address", "RFC 1112"),
    _block("255.255.255.255/32", "the limited broadcast address", "RFC 919"),
    # IANA IPv4 Multicast Address Space Registry.
    _block("224.0.0.0/4", "a multicast address", "RFC 5771"),
    # --- IANA IPv6 Special-Purpose Address Registry -------------------------------------------------------
    _block("::/128", "an unspecified address", "RFC 4291"),
    _block("::1/128", "a loopback address", "RFC 4291", local=True),
    _block("::ffff:0:0/96", "an IPv4-mapped address", "RFC 4291"),  # unwrapped first: judged by its IPv4
    _block("64:ff9b::/96", "an IPv4/IPv6 translation address", "RFC 6052"),  # unwrapped first (NAT64)
    _block("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address", "RFC 8215"),
    _block("100::/64", "a discard-only address", "RFC 6666"),
    _block("100:0:0:1::/64", "the dummy IPv6 prefix", "RFC 9780"),
    _block("2001::/23", "an IETF protocol assignment", "RFC 2928"),
    _block("2001::/32", "a Teredo address", "RFC 4380"),
    _block("2001:1::1/128", "the Port Control Protocol anycast", "RFC 7723"),
    _block("2001:1::2/128", "the TURN anycast", "RFC 8155"),
    _block("2001:1::3/128", "the DNS-SD service registration anycast", "RFC 9665"),
    _block("2001:2::/48", "a benchmarking address", "RFC 5180"),
    _block("2001:3::/32", "AMT", "RFC 7450"),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    _block("2001:10::/28", "the deprecated ORCHID", "RFC 4843"),
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    _block("2001:30::/28", "a drone remote ID entity tag", "RFC 9374"),
    _block("2001:db8::/32", "a documentation address", "RFC 3849"),
    # 2002::/16 (6to4, RFC 3056) is judged by the IPv4 address it embeds: a relay takes it there.
    _block("2620:4f:8000::/48", "the direct delegation AS112 service", "RFC 7534"),
    _block("3fff::/20", "a documentation address", "RFC 9637"),
    _block("5f00::/16", "a segment routing (SRv6) SID", "RFC 9602"),
    _block("fc00::/7", "a unique-local address", "RFC 4193", local=True),
    _block("fe80::/10", "a link-local address", "RFC 4291"),
    # IANA IPv6 Address Space Registry: the deprecated site-local block, and multicast.
    _block("fec0::/10", "a site-local address (deprecated)", "RFC 3879"),
    _block("ff00::/8", "a multicast address", "RFC 4291"),
)

# IPv6 global unicast (RFC 4291 section 2.4); everything outside it is reserved or special.
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
OUTSIDE_GLOBAL_UNICAST = Block(GLOBAL_UNICAST, "outside the IPv6 global unicast space", "RFC 4291")


def block_of(address: IPAddress) -> Block | None:
    """The most specific special-purpose block holding ``address``, or None for a global unicast address."""
    holding = [
        block for block in BLOCKS if block.network.version == address.version and address in block.network
    ]
    found = max(holding, key=lambda block: block.network.prefixlen, default=None)
    if found is None and isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST:
        return OUTSIDE_GLOBAL_UNICAST
    return found
