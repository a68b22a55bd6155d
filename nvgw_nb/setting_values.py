"""How each kind of setting value is checked: secrets, base URLs, plain names, orders.

Each check returns the cleaned value or raises `ValueError` with words that follow the
variable's name ("…_BASE_URL must use https://…"); `Settings` runs them for its
fields, and `Settings.secret` / `Settings.url` for variables no field declares. A message
never repeats the value: it may be a key pasted into the wrong place.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from nvgw_nb.providers import registry
from nvgw_nb.redaction import has_control_chars, is_header_safe, is_loopback

__all__ = [
    "PLACEHOLDER_PROBLEM",
    "check_plain",
    "check_provider_order",
    "check_url",
    "clean_secret",
]

# Shapes of real API keys: a plain field holding one is almost certainly a paste into
# the wrong variable, and echoing it in an error would leak it.
_KEY_SHAPES = re.compile(r"(nvapi-|sk-|sk-ant-|AIza)[A-Za-z0-9_\-]{8,}")
# The placeholders of .env.example ("nvapi-YOUR_KEY_HERE", "your-starfleet-client-id").
_PLACEHOLDER = re.compile(r"(?i)(^|[-_])your[-_]|_here$")
#: the words for a value still holding .env.example's placeholder (`Settings` folds every
#: variable that has one into a single line naming the file)
PLACEHOLDER_PROBLEM = (
    "still holds the placeholder from .env.example: put the real value there, "
    "or delete the line to use the simulator"
)


def clean_secret(value: Any) -> Any:
    """A secret as pasted: None when blank; ValueError when it cannot be right."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value != value.strip():
            raise ValueError("has leading or trailing whitespace; remove it")
        if value[:1] in "\"'" or value[-1:] in "\"'":
            raise ValueError("is wrapped in quotes; remove them")
        if any(ch in value for ch in "\r\n\t "):
            raise ValueError("contains whitespace; paste the value again")
        if not is_header_safe(value):
            raise ValueError("contains a control or non-ASCII character; paste the value again")
        if _PLACEHOLDER.search(value):
            raise ValueError(PLACEHOLDER_PROBLEM)
    return value


def check_url(value: str) -> str:
    """A base URL without a trailing slash; ValueError when it cannot be used."""
    value = value.strip().rstrip("/")
    if has_control_chars(value):
        # urlsplit drops CR/LF/tab silently, so check before parsing
        raise ValueError("contains a control character (CR, LF, …); paste the URL again")
    if _KEY_SHAPES.search(value):
        raise ValueError("looks like it contains an API key; URLs must not carry keys")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL, e.g. https://host/path")
    if parts.username or parts.password:
        raise ValueError("must not contain user:password@ — put credentials in their variables")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "must use https:// (plain http is only allowed for 127.0.0.1/localhost, "
            "e.g. the simulator): credentials are sent to it"
        )
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    if parts.path.endswith("/chat/completions"):
        raise ValueError("must be the base URL, without /chat/completions (nvgw_nb adds the route)")
    return value


def check_plain(value: str) -> str:
    """A plain name (model, api-version, scope); ValueError when it cannot be right."""
    value = value.strip()
    if not value:
        raise ValueError("is blank")
    if _KEY_SHAPES.search(value):
        raise ValueError("looks like an API key — was a key pasted into the wrong variable?")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    if has_control_chars(value):
        raise ValueError("contains a control character; type the value again")
    return value


def check_provider_order(order: Any) -> tuple[str, ...]:
    """Validate a provider order: known names, no duplicates, not empty."""
    if isinstance(order, str):
        order = [p.strip() for p in order.split(",")]
    names = tuple(order)
    known = registry.names()
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ValueError(f"is empty or has a blank entry; choose from {', '.join(known)}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"names unknown provider(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(known)}"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"lists {', '.join(dupes)} more than once")
    return names
