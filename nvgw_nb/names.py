"""Names that become part of a request's URL path: refused when they would change it.

A model or deployment name is put into the path by some providers (the gateway's
`deployments/{model}`, Gemini's `models/{model}:generateContent`). A name of `..`
would send the credentials to another route on the same host, and escaping is not
enough: the aiohttp transport turns `%2E%2E` back into `..`. So such names are
refused, never escaped.
"""

from __future__ import annotations

from nvgw_nb.errors import ConfigError
from nvgw_nb.redaction import has_control_chars

__all__ = ["check_path_name", "path_name_problem"]

#: characters that end, escape or re-root a path segment
_FORBIDDEN = ("/", "\\", "%", "?", "#")
_SHOWN_CHARS = 40


def path_name_problem(name: object) -> str | None:
    """Why `name` cannot be a segment of a URL path, or None when it can."""
    if not isinstance(name, str):
        return f"must be a string, not {type(name).__name__}"
    if not name:
        return "is empty"
    if name in (".", ".."):
        return f"is {name!r}, which would change the URL path"
    bad = [ch for ch in _FORBIDDEN if ch in name]
    if bad:
        return f"contains {' and '.join(repr(ch) for ch in bad)}, which would change the URL path"
    if has_control_chars(name):
        return "contains a control character"
    return None


def check_path_name(name: object, where: str) -> str:
    """`name` when it is safe as a path segment; else `ConfigError` naming `where` (the
    argument or variable it came from)."""
    problem = path_name_problem(name)
    if problem is None:
        assert isinstance(name, str)
        return name
    raise ConfigError(
        f"{where}{_shown(name)} {problem}: a model or deployment name goes into the URL "
        "path here, so it may not be empty, '.' or '..', nor contain / \\ % ? # or control "
        "characters; give the name exactly as the provider lists it (e.g. gpt-4o-mini)"
    )


def _shown(name: object) -> str:
    """A short quote of the name (a long value may be something pasted by mistake)."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        return ""  # the problem says it already
    text = repr(name)
    return f" ({text})" if len(text) <= _SHOWN_CHARS else f" ({len(name)} characters)"
