"""Whose request this is, for the rate limits (docs/users.md, "Abuse control"): the TCP peer, or,
when the peer is a proxy named in the `http_trusted_proxies` setting, the client its
X-Forwarded-For header names. A header from any other peer is ignored: anyone can write one.
"""

import functools
import ipaddress
from collections.abc import Sequence

from fastapi import Request

from baoling.verifier.settings import IPNetwork


def client_address(request: Request) -> str | None:
    """The client's address (None when the server does not know its peer)."""
    if request.client is None:
        return None
    trusted: Sequence[IPNetwork] = request.app.state.trusted_proxies
    return forwarded_client(
        request.client.host, request.headers.getlist("x-forwarded-for"), trusted
    )


def forwarded_client(peer: str, forwarded: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """Walk back from the peer: while the address reached is a trusted proxy, step to the
    address it appended to X-Forwarded-For (the header's last entry, then the one before); the
    first address that is not a trusted proxy is the client. An entry that is not an IP
    address stops the walk at the proxy that passed it on, as do the header's end."""
    hops = [entry.strip() for header in forwarded for entry in header.split(",")]
    client = _normal(peer) or peer
    while hops and _within(client, trusted):
        named = _normal(hops.pop())
        if named is None:
            break
        client = named
    return client


@functools.lru_cache(maxsize=1024)
def _normal(text: str) -> str | None:
    """The address in its usual form (an IPv4-mapped IPv6 address as IPv4); None for
    anything that is not an IP address. Kept for the addresses seen last: every validation
    asks for its peer's, on the event loop, and parsing it was 3 % of a served node's time
    under validations (docs/performance.md)."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _within(address: str, networks: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
