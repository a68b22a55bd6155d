"""Keeping secrets out of text, headers and plain-http requests.

Helpers that decide what may be shown or sent: a masked identifier, the host of a
redirect (never its path or query), whether a value can travel in a header, and
whether a host is loopback (the only place plain http may carry credentials).
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urljoin, urlsplit

__all__ = ["has_control_chars", "is_header_safe", "is_loopback", "location_host", "mask"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def location_host(location: str | None, base: str) -> str:
    """Where a redirect points, as `host[:port]` (a relative Location resolves against
    `base`): never its path, query or userinfo, which may carry signatures or tokens."""
    if not location:
        return "nowhere (no Location header)"
    try:
        parts = urlsplit(urljoin(base, location))
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an invalid Location"
    if not host:
        return "an invalid Location"
    return f"{host}:{port}" if port else host


def has_control_chars(value: str) -> bool:
    """True when `value` holds a C0/C1 control character or DEL (CR and LF among them).

    Such a character in a header value splits the header (or makes h11 refuse it and
    echo the whole value in its error), and `urlsplit` silently drops CR/LF/tab.
    """
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value)


def is_header_safe(value: str) -> bool:
    """True when `value` can travel as a credential in an HTTP header: printable ASCII,
    no whitespace, no control character."""
    return all(0x21 <= ord(ch) <= 0x7E for ch in value)


def mask(value: str | None) -> str:
    """Show an identifier the way errors and reprs may: first 4 characters and a mask."""
    if not value:
        return "<unset>"
    return value[:4] + "…" if len(value) > 8 else "…"


@functools.lru_cache(maxsize=256)  # asked for every authenticated request
def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
