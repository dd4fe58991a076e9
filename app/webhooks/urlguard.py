"""Where a webhook may point: public http(s) hosts only, checked at registration and at
every attempt (SSRF).

A host is resolved once per attempt and the request goes to that very address (the Host
header and TLS SNI keep the name), so a DNS answer that changes between the check and the
connection — DNS rebinding — cannot reach an internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenURL(ValueError):
    """The URL may not be called (scheme, or an address that is not public)."""


@dataclass(frozen=True)
class CheckedURL:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: str  # what the connection goes to (an IP literal)
    connect_url: str  # ``url`` with the host replaced by ``address``


def forbidden_reason(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:  # ::ffff:a.b.c.d and 2002:abcd:... carry an IPv4 address
            return forbidden_reason(embedded)
        if address.teredo is not None:
            return "Teredo tunnel"
        if address.is_site_local:  # fec0::/10: deprecated (RFC 3879), yet routed inside sites
            return "site-local"
    checks = (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if address.is_global else "not globally routable"


# The form every webhook URL has (documented in the OpenAPI document); the checks below say
# more precisely what is wrong, and this one catches what urlsplit forgives (spaces, tabs).
URL_FORM = r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$"
_URL_FORM = re.compile(URL_FORM)


def check_syntax(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError as error:  # an unclosed [IPv6 literal, a port out of range
        raise ForbiddenURL(f"the URL cannot be parsed: {error}") from None
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed:
        need = "http or https" if allow_private else "https"
        raise ForbiddenURL(f"the URL must use {need}, not {parts.scheme or 'nothing'!r}")
    if not hostname:
        raise ForbiddenURL("the URL has no host")
    if parts.username or parts.password:
        raise ForbiddenURL("credentials in the URL are not allowed; the signature authenticates")
    if not _URL_FORM.fullmatch(url):
        raise ForbiddenURL("the URL must be written scheme://host/path, with no whitespace")
    return parts.scheme, hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(url: str, *, allow_private: bool) -> CheckedURL:
    """Check ``url`` and pick the address to call; raises ForbiddenURL."""
    _, host, port = check_syntax(url, allow_private=allow_private)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise ForbiddenURL(f"{host} resolves to {address}, a {reason} address")
    chosen = str(addresses[0])
    # (Whatever the name resolves to next time, this request goes to the address checked.)
    literal = f"[{chosen}]" if ":" in chosen else chosen
    parts = urlsplit(url)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return CheckedURL(url, host, chosen, parts._replace(netloc=netloc).geturl())


# Answers are kept briefly, as a resolver's cache would: every request still goes to an address
# checked against the rules, so a short-lived answer cannot smuggle in a private one.
RESOLVED_SECONDS = 30.0
_resolved: dict[tuple[str, int], tuple[float, list[IPAddress]]] = {}


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal: nothing to resolve
    except ValueError:
        pass
    cached = _resolved.get((host, port))
    now = time.monotonic()
    if cached is not None and now - cached[0] < RESOLVED_SECONDS:
        return cached[1]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ForbiddenURL(f"{host} does not resolve: {error.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if len(_resolved) > 10_000:
        _resolved.clear()
    _resolved[(host, port)] = (now, addresses)
    return addresses
