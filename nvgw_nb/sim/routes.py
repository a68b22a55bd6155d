"""The simulator's routes: one table that the core, `Simulator.url_for` / `env()` and the
provider lookup all read. Adding a route is adding a row.

A `Route` is (method, base, path, provider, kind, handler): `base + path` is its path
pattern, `base` the part a client's base URL holds (`url_for`), `provider` the counters and
in-flight gauge it belongs to ("" for the simulator's own control routes, which are not
counted), `kind` the request counter it bumps, and `handler` what answers it. A path
segment `{name}` matches any segment; `{name}:suffix` matches a non-empty name, a colon and
that suffix (Gemini's `{model}:generateContent`); `choices` limits a name to listed values.
A route without placeholders matches its path exactly. Trailing slashes are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nvgw_nb.sim import gemini_wire
from nvgw_nb.sim.external import ExternalHandlers
from nvgw_nb.sim.nvidia import NvidiaHandlers
from nvgw_nb.sim.plan import SimRequest, SimResponse

__all__ = [
    "ROUTES",
    "Handlers",
    "Route",
    "base_path",
    "match_route",
    "normalise",
    "provider_of",
    "request_kinds",
]


class Handlers(Protocol):
    """What the route handlers are called on: the core's handler objects and control routes."""

    @property
    def nvidia(self) -> NvidiaHandlers: ...

    @property
    def external(self) -> ExternalHandlers: ...

    def stats_response(self, req: SimRequest) -> SimResponse: ...

    def inject_response(self, req: SimRequest) -> SimResponse: ...


Params = Mapping[str, str]
Handler = Callable[[Handlers, SimRequest, Params], SimResponse]


@dataclass(frozen=True)
class Route:
    """One row of the routes table (see the module docstring)."""

    method: str
    base: str
    path: str
    provider: str
    kind: str
    handler: Handler
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        """The whole path pattern, e.g. `/nvcf/v2/nvcf/pexec/status/{reqid}`."""
        return self.base + self.path

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if `path` (normalised) is this route's, else None."""
        pattern = self.pattern
        if "{" not in pattern:
            return {} if path == pattern else None
        parts = path.strip("/").split("/")
        expected = pattern.strip("/").split("/")
        if len(parts) != len(expected):
            return None
        params: dict[str, str] = {}
        for part, want in zip(parts, expected, strict=True):
            if not want.startswith("{"):
                if part != want:
                    return None
                continue
            name, _, suffix = want.partition("}")
            name = name[1:]
            if suffix:  # "{name}:suffix"
                value, colon, rest = part.partition(":")
                if not value or colon + rest != suffix:
                    return None
            else:
                value = part
            if name in self.choices and value not in self.choices[name]:
                return None
            params[name] = value
        return params


def _google(method: str) -> Handler:
    def handle(h: Handlers, req: SimRequest, p: Params) -> SimResponse:
        return h.external.google_generate(req, p["version"], p["model"], method)

    return handle


_GOOGLE_VERSIONS = {"version": gemini_wire.API_VERSIONS}

ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/starfleet/token", "", "starfleet", "token",
        lambda h, req, _: h.nvidia.token(req),
    ),
    Route(
        "POST", "/nim/v1", "/chat/completions", "nvidia-nim", "chat",
        lambda h, req, _: h.nvidia.nim_chat(req),
    ),
    Route(
        "GET", "/nim/v1", "/models", "nvidia-nim", "models",
        lambda h, req, _: h.nvidia.models(req),
    ),
    Route(
        "POST", "/nim/v1", "/embeddings", "nvidia-nim", "embeddings",
        lambda h, req, _: h.nvidia.nim_embeddings(req),
    ),
    Route(
        "GET", "/nvcf/v2/nvcf/pexec/status", "/{reqid}", "nvidia-nim", "status",
        lambda h, req, p: h.nvidia.nvcf_status(req, p["reqid"]),
    ),
    Route(
        "POST", "/llm/v1/azure", "/openai/deployments/{deployment}/chat/completions",
        "nvidia-gateway", "chat",
        lambda h, req, p: h.nvidia.gateway_chat(req, p["deployment"]),
    ),
    Route(
        "POST", "/openai/v1", "/chat/completions", "openai", "chat",
        lambda h, req, _: h.external.openai_chat(req),
    ),
    Route(
        "POST", "/anthropic", "/v1/messages", "anthropic", "messages",
        lambda h, req, _: h.external.anthropic_messages(req),
    ),
    Route(
        "POST", "/google", "/{version}/models/{model}:generateContent", "google-genai",
        "generate", _google("generateContent"), _GOOGLE_VERSIONS,
    ),
    Route(
        "POST", "/google", "/{version}/models/{model}:streamGenerateContent", "google-genai",
        "stream", _google("streamGenerateContent"), _GOOGLE_VERSIONS,
    ),
    Route("GET", "/__sim", "/stats", "", "", lambda h, req, _: h.stats_response(req)),
    Route("POST", "/__sim", "/inject", "", "", lambda h, req, _: h.inject_response(req)),
)  # fmt: skip
"""Every route the simulator serves. Order: the order of the request counters in `stats()`;
a provider's first row is where its official SDK's base URL points."""


def normalise(path: str) -> str:
    """`path` without trailing slashes (`/` stays `/`)."""
    return path.rstrip("/") or "/"


def match_route(path: str) -> tuple[list[Route], dict[str, str]]:
    """The routes whose pattern `path` matches (whatever their method), and its parameters."""
    path = normalise(path)
    routes: list[Route] = []
    found: dict[str, str] = {}
    for route in ROUTES:
        params = route.match(path)
        if params is not None:
            routes.append(route)
            found = found or params
    return routes, found


def provider_of(path: str) -> str | None:
    """The provider a path belongs to by its first segment (`/nim/…`, `/llm/…`), or None.

    Paths no route matches count too (a 404 from under `/nim/` is NIM's in-flight request).
    """
    first = path.strip("/").split("/")[0]
    for route in ROUTES:
        if route.provider and route.base.strip("/").split("/")[0] == first:
            return route.provider
    return None


def base_path(provider: str, kind: str | None = None) -> str:
    """The base path of `provider`'s route of `kind` (default: its first route)."""
    for route in ROUTES:
        if route.provider == provider and kind in (None, route.kind):
            return route.base
    named = dict.fromkeys(r.provider for r in ROUTES if r.provider)
    # The chat providers first, in table order; the token endpoint (starfleet) last.
    listed = ", ".join(sorted(named, key=lambda p: p == "starfleet"))
    raise ValueError(f"unknown provider {provider!r}; expected one of {listed}")


def request_kinds() -> dict[str, dict[str, int]]:
    """A zeroed request counter per provider and kind, in table order."""
    counts: dict[str, dict[str, int]] = {}
    for route in ROUTES:
        if route.provider:
            counts.setdefault(route.provider, {})[route.kind] = 0
    return counts
