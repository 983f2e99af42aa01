"""The client's IP address, decided in one place for rate limits and session records.

The TCP peer is the client unless it is one of ``settings.trusted_proxies``; only then is
``X-Forwarded-For`` read, right to left: each trusted hop is skipped and the first address
not trusted is the client. A client can prepend whatever it likes to that header, but not
change what our own proxies appended, so it can neither pick the IP its requests are
counted under nor the one stored on its session. The server itself (``stratabase serve``)
rewrites nothing: uvicorn's own proxy handling is off.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import Request

from stratabase.settings import ProxyNetwork, Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(request: Request) -> str | None:
    """The address to count and record for this request (None if the server gave none)."""
    peer = request.client.host if request.client else None
    settings: Settings = request.app.state.stratabase.settings
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return resolve(peer, forwarded_for, settings.trusted_proxy_networks)


@functools.lru_cache(maxsize=4096)
def limit_key(ip: str | None) -> str:
    """What a per-IP rate limit counts: the address for IPv4, the /64 for IPv6, since one
    host usually holds a whole /64 and could otherwise rotate through 2**64 budgets.
    Cached: it is asked on every rate-limited request, mostly for the same addresses."""
    address = _address(ip) if ip else None
    if address is None:
        return f"ip:{ip or 'unknown'}"
    if isinstance(address, ipaddress.IPv6Address):
        return f"ip:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"ip:{address}"


def resolve(
    peer: str | None, forwarded_for: list[str], trusted: tuple[ProxyNetwork, ...]
) -> str | None:
    """The client behind ``peer``, given the ``X-Forwarded-For`` values and trusted proxies."""
    if peer is None or not trusted or not _trusted(_address(peer), trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    client = peer
    for hop in reversed([hop for hop in hops if hop]):
        address = _address(hop)
        if address is None:
            # A trusted proxy passed on something that is not an address: stop at that proxy
            # rather than let the header's author name an identity.
            return client
        client = str(address)
        if not _trusted(address, trusted):
            return client
    return client  # every hop was one of ours: the leftmost is as far as we can see


def _address(value: str) -> Address | None:
    """An IP from ``1.2.3.4``, ``1.2.3.4:80``, ``::1`` or ``[::1]:80``; None otherwise."""
    text = value.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, trusted: tuple[ProxyNetwork, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)
