"""Reading what an upstream sent without trusting it: limits, JSON, text, token counts.

Everything here is pure (no I/O). `Limits` holds the read limits of a Session; while the
engine hands a provider its bytes, `limits_in_force` makes them the ones `loads` and `cut`
apply, so a provider's parser needs no extra arguments. Outside that, the defaults apply
(the same as `Settings`').

>>> loads(b'{"a": [1, 2]}')
{'a': [1, 2]}
>>> cut("a long sentence that goes on", 16)
'a long sentence…'
>>> token_count(float("inf")) is None
True
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nvgw_nb.config import Settings

__all__ = [
    "MAX_TOKENS",
    "Limits",
    "UnreadableJson",
    "active_limits",
    "cut",
    "json_depth_exceeds",
    "limits_in_force",
    "loads",
    "token_count",
]

#: no call uses more tokens than this; a larger count is a provider bug, not a bill
MAX_TOKENS = 10**12


@dataclass(frozen=True)
class Limits:
    """How much the Session reads from any upstream (the `NVGW_MAX_*` settings)."""

    #: the longest body (decoded), and the most bytes one stream may carry
    body_bytes: int = 16 * 1024 * 1024
    #: the longest SSE line, and the most data one SSE event may carry
    sse_event_bytes: int = 1024 * 1024
    #: the deepest JSON nesting parsed
    json_depth: int = 100
    #: the longest error text kept (an upstream's code, type or message; an error's message)
    error_chars: int = 300
    #: the longest model name taken from an answer
    model_chars: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits `settings` ask for."""
        return cls(
            body_bytes=settings.max_body_bytes,
            sse_event_bytes=settings.max_sse_event_bytes,
            json_depth=settings.max_json_depth,
            error_chars=settings.max_error_chars,
        )


_DEFAULT = Limits()
_ACTIVE: ContextVar[Limits | None] = ContextVar("nvgw_nb_limits", default=None)


def active_limits() -> Limits:
    """The limits in force here (the defaults unless `limits_in_force` says otherwise)."""
    return _ACTIVE.get() or _DEFAULT


@contextmanager
def limits_in_force(limits: Limits) -> Iterator[None]:
    """Make `limits` the ones `loads` and `cut` apply, for synchronous code only (an
    `await` or `yield` inside would let them leak into other work)."""
    token = _ACTIVE.set(limits)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


# --- JSON -----------------------------------------------------------------------------
class UnreadableJson(ValueError):
    """Bytes that are not JSON we accept: invalid, or nested too deeply (`too_deep`)."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


# A JSON string, unrolled so a long one is matched without backtracking.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# "[" and "{" become 2, "]" and "}" become 0: after k brackets the depth is sum - k.
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth_exceeds(raw: bytes | str, max_depth: int) -> bool:
    """Whether JSON text `raw` nests arrays and objects deeper than `max_depth`, found
    without parsing it (so without recursion): brackets outside strings are counted."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False  # cannot nest deeper than it has openings
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    steps = brackets.translate(_DEPTH_STEPS)
    depths = map(operator.sub, itertools.accumulate(steps), itertools.count(1))
    return max(depths, default=0) > max_depth


def loads(raw: bytes | str, *, max_depth: int | None = None) -> Any:
    """JSON from an upstream; `UnreadableJson` (a ValueError) when it is not valid or
    nests deeper than `max_depth` (default: the limits in force). Never RecursionError."""
    depth = active_limits().json_depth if max_depth is None else max_depth
    if json_depth_exceeds(raw, depth):
        raise UnreadableJson(f"JSON nested deeper than {depth} levels", too_deep=True)
    try:
        return json.loads(raw)
    except RecursionError:  # the interpreter's stack was already deep
        raise UnreadableJson("JSON nested too deeply to parse", too_deep=True) from None
    except json.JSONDecodeError as err:
        raise UnreadableJson(f"invalid JSON at byte {err.pos}") from None
    except (ValueError, UnicodeDecodeError):
        raise UnreadableJson("invalid JSON") from None


# --- text and numbers -----------------------------------------------------------------
def cut(text: str, limit: int | None = None) -> str:
    """`text` at most `limit` characters (default: the error limit in force), cut at a
    word boundary in the last fifth when there is one, the cut marked with an ellipsis."""
    most = active_limits().error_chars if limit is None else limit
    if len(text) <= most:
        return text
    head = text[: most - 1]
    space = head.rfind(" ")
    if space >= most - most // 5:
        head = head[:space].rstrip(" ,;:")
    return head + "…"


def token_count(value: Any) -> int | None:
    """A token count an upstream reported: a finite whole number from 0 to `MAX_TOKENS`
    (None, 0 and "" count as 0, a float is rounded down), else None: not a count."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        return None
    return value
