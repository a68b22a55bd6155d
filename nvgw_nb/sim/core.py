"""The simulator's core: a function from a request to a response *plan*, plus its state.

`SimCore.handle` does no I/O and never sleeps; the adapters in `server.py` carry out the
plan (delays, streamed chunks, aborts, stalls). This module speaks the providers' wire
formats on its own and shares no code with the SDK (see WIRE.md).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import random
import secrets
import string
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from nvgw_nb.sim import content
from nvgw_nb.sim.content import Answer, ToolCall
from nvgw_nb.sim.profiles import FAULT_IDS, PROVIDERS, Profile

__all__ = [
    "API_VERSIONS",
    "GATEWAY_DEPLOYMENTS",
    "NIM_MODELS",
    "SimCore",
    "SimCredentials",
    "SimRequest",
    "SimResponse",
]

NIM_MODELS: tuple[str, ...] = (
    "meta/llama-4-scout-17b-16e-instruct",
    "meta/llama-4-maverick-17b-128e-instruct",
    "meta/llama-3.3-70b-instruct",
)
GATEWAY_DEPLOYMENTS: Mapping[str, str] = {
    "gpt-4o": "gpt-4o-2024-11-20",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
}
API_VERSIONS: tuple[str, ...] = (
    "2024-06-01",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
)
OAUTH_SCOPE = "azureopenai-readwrite"

# (TTFT median s, sigma, tokens/s median, sigma_tps): FACTS.md section 4, our modelling choice.
_LATENCY: Mapping[str, tuple[float, float, float, float]] = {
    "meta/llama-4-scout-17b-16e-instruct": (0.50, 0.6, 120.0, 0.40),
    "meta/llama-4-maverick-17b-128e-instruct": (0.70, 0.6, 100.0, 0.40),
    "meta/llama-3.3-70b-instruct": (0.60, 0.6, 50.0, 0.40),
    "gpt-4o": (0.80, 0.5, 80.0, 0.35),
    "gpt-4o-mini": (0.70, 0.5, 90.0, 0.35),
}
_NIM_CREATED = 735790403
_GATEWAY_NOMINAL_RPM = 2700  # gpt-4o Global Standard default quota (FACTS.md section 4)
_SIM_HEADER = ("x-nvgw-simulator", "1")
_DONE = b"data: [DONE]\n\n"

_SAFE = {"filtered": False, "severity": "safe"}
_PROMPT_FILTER = {
    "hate": _SAFE,
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_CHOICE_FILTER = {
    "hate": _SAFE,
    "protected_material_code": {"filtered": False, "detected": False},
    "protected_material_text": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_CHUNK_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_FILTERED = {**_CHOICE_FILTER, "violence": {"filtered": True, "severity": "medium"}}

_SSO_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    b'<body><form method="post" action="/sso/login">'
    b"<p>Your session has expired. Please sign in to continue.</p>"
    b'<input type="hidden" name="RelayState" value="sim"/></form></body></html>\n'
)

JSON = Any


@dataclass(frozen=True)
class SimRequest:
    """An HTTP request as the core sees it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class SimResponse:
    """A response plan.

    `delay_s` comes before the status line; `chunks` (delay, bytes) follow the headers
    instead of `body`; `abort` cuts the connection after the data without a clean end;
    `stall` never answers (the adapter holds until the client gives up).
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    delay_s: float = 0.0
    chunks: list[tuple[float, bytes]] | None = None
    abort: bool = False
    stall: bool = False


@dataclass(frozen=True, repr=False)
class SimCredentials:
    """Credentials the simulator accepts, generated at runtime (never stored in source)."""

    nim_api_key: str
    client_id: str
    client_secret: str

    @classmethod
    def generate(cls) -> SimCredentials:
        """Fresh random credentials.

        The secret holds `+ / : %` so a client that skips the RFC 6749 section 2.3.1
        form-encoding of the Basic credentials is rejected.
        """
        secret = (
            f"sim+{secrets.token_hex(6)}/{secrets.token_hex(6)}:"
            f"{secrets.token_hex(4)}%2F{secrets.token_hex(4)}"
        )
        return cls(
            nim_api_key="nvapi-sim-" + secrets.token_hex(16),
            client_id="sim-client-" + secrets.token_hex(8),
            client_secret=secret,
        )

    def __repr__(self) -> str:
        return "SimCredentials(<hidden>)"


@dataclass
class _Chat:
    """One chat request after routing and parsing."""

    provider: str
    model: str  # NIM model id or gateway deployment: the latency-table key
    served_model: str  # the `model` field of the response
    body: dict[str, Any]
    key: str
    occurrence: int
    extra_headers: list[tuple[str, str]]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        opts = self.body.get("stream_options")
        return isinstance(opts, Mapping) and opts.get("include_usage") is True

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools")
        return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


@dataclass
class _Pending:
    """An NVCF request answered 202: polls left before the result, and the result."""

    polls_left: int
    response: SimResponse


def _dumps(obj: JSON) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json(
    status: int,
    obj: JSON,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> SimResponse:
    body = _dumps(obj)
    return SimResponse(
        status,
        [("content-type", content_type), ("content-length", str(len(body))), *(headers or [])],
        body,
    )


def _problem(status: int, title: str, detail: str | None = None, **extra: str) -> SimResponse:
    """NVCF platform error: RFC 7807 problem details (WIRE 1.6a)."""
    obj: dict[str, JSON] = {"status": status, "title": title}
    if detail is not None:
        obj["detail"] = detail
    return _json(status, obj, list(extra.items()), "application/problem+json")


def _vllm_error(message: str, status: int = 400) -> SimResponse:
    """Model-container error passed through by NIM (WIRE 1.6b)."""
    kind = "BadRequestError" if status == 400 else "InternalServerError"
    return _json(
        status,
        {"object": "error", "message": message, "type": kind, "param": None, "code": status},
    )


def _azure_error(status: int, code: str, message: str, **fields: JSON) -> SimResponse:
    """Azure OpenAI error envelope (WIRE 2.4); `code` is always a string."""
    return _json(status, {"error": {"code": code, "message": message, **fields}})


def _openai_error(message: str, param: str | None, code: str | None) -> SimResponse:
    return _json(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
    )


def _oauth_error(status: int, error: str, description: str) -> SimResponse:
    headers = [("www-authenticate", 'Basic realm="starfleet"')] if status == 401 else []
    headers.append(("cache-control", "no-store"))
    return _json(status, {"error": error, "error_description": description}, headers)


def _nim_unauthorized(description: str) -> SimResponse:
    # Real NVCF answers 401 with no JSON body, only the challenge header (WIRE 1.6).
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return SimResponse(401, [("www-authenticate", challenge), ("content-length", "0")])


def _gateway_unauthorized() -> SimResponse:
    return _azure_error(401, "401", "Access denied due to invalid or expired token.")


def _fmt_seconds(value: float) -> str:
    """Seconds for a retry header: an integer when integral, else a short decimal."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _sse(obj: JSON) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


class SimCore:
    """State and request handling of the simulator.

    Example::

        core = SimCore(PROFILES["healthy"], seed=1, time_scale=0)
        plan = core.handle(SimRequest("GET", "/nim/v1/models", headers={...}))
    """

    def __init__(
        self,
        profile: Profile,
        *,
        seed: int = 0,
        time_scale: float = 1.0,
        token_lifetime: float = 900.0,
        credentials: SimCredentials | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.time_scale = time_scale
        self.token_lifetime = token_lifetime
        self.credentials = credentials or SimCredentials.generate()
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry on self._clock
        self._queues: dict[str, deque[str]] = {p: deque() for p in PROVIDERS}
        self._occurrences: dict[tuple[str, str], int] = defaultdict(int)
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._pending: dict[str, _Pending] = {}
        self._in_flight: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._correlation_ids: set[str] = set()
        self._reset_counters()

    # ----------------------------------------------------------------- state API

    def _reset_counters(self) -> None:
        self._requests: dict[str, dict[str, int]] = {
            "starfleet": {"token": 0},
            "nvidia-nim": {"chat": 0, "models": 0, "status": 0},
            "nvidia-gateway": {"chat": 0},
        }
        self._responses: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._faults_injected: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._faults_fired: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._rate_limited: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._token_grants = 0
        self._tokens_rejected = 0
        self._cid_seen = 0
        self._cid_duplicates = 0
        self._in_flight_max: dict[str, int] = dict.fromkeys(PROVIDERS, 0)

    def inject(self, provider: str, fault_id: str, times: int = 1) -> None:
        """Queue `times` copies of `fault_id` for the next requests to `provider`."""
        if provider not in FAULT_IDS:
            raise ValueError(
                f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
            )
        valid = FAULT_IDS[provider]
        if fault_id not in valid:
            raise ValueError(
                f"fault {fault_id!r} does not apply to provider {provider!r}; "
                f"valid ids: {', '.join(valid)}"
            )
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        with self._lock:
            self._queues[provider].extend([fault_id] * times)
            counts = self._faults_injected[provider]
            counts[fault_id] = counts.get(fault_id, 0) + times

    def revoke_tokens(self) -> None:
        """Invalidate every issued access token."""
        with self._lock:
            self._tokens.clear()

    def stats(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the counters."""
        with self._lock:
            return copy.deepcopy(
                {
                    "requests": self._requests,
                    "responses": self._responses,
                    "token_grants": self._token_grants,
                    "tokens_rejected": self._tokens_rejected,
                    "faults_injected": self._faults_injected,
                    "faults_fired": self._faults_fired,
                    "rate_limited": self._rate_limited,
                    "correlation_ids": {
                        "seen": self._cid_seen,
                        "duplicates": self._cid_duplicates,
                    },
                    "in_flight_max": self._in_flight_max,
                }
            )

    def reset_stats(self) -> None:
        """Zero every counter; tokens, queued faults and draw sequences are kept."""
        with self._lock:
            self._reset_counters()
            self._correlation_ids.clear()

    @contextmanager
    def in_flight(self, req: SimRequest) -> Iterator[None]:
        """Count `req` as in flight (for stats and load coupling) while the block runs."""
        provider = _provider_of(req.path)
        if provider is None:
            yield
            return
        with self._lock:
            self._in_flight[provider] += 1
            self._in_flight_max[provider] = max(
                self._in_flight_max[provider], self._in_flight[provider]
            )
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[provider] -= 1

    # ----------------------------------------------------------------- dispatch

    def handle(self, req: SimRequest) -> SimResponse:
        """The response plan for `req`. No I/O, no sleeping."""
        resp = self._dispatch(req)
        resp.headers.append(_SIM_HEADER)
        return resp

    def _dispatch(self, req: SimRequest) -> SimResponse:
        route = self._route(req)
        if route is None:
            return _json(404, {"error": f"no simulated route for {req.method} {req.path}"})
        method, provider, kind, handler = route
        if req.method.upper() != method:
            return _json(405, {"error": "method not allowed"}, [("allow", method)])
        if not provider:  # the simulator's own control routes: not counted
            return handler()
        with self._lock:
            self._requests[provider][kind] += 1
        resp = handler()
        if not resp.stall:
            with self._lock:
                counts = self._responses[provider]
                counts[str(resp.status)] = counts.get(str(resp.status), 0) + 1
        return resp

    def _route(self, req: SimRequest) -> tuple[str, str, str, Callable[[], SimResponse]] | None:
        """(method, provider, kind, handler) of the route `req.path` names, else None."""
        path = req.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if path == "/starfleet/token":
            return "POST", "starfleet", "token", lambda: self._token(req)
        if path == "/nim/v1/chat/completions":
            return "POST", "nvidia-nim", "chat", lambda: self._nim_chat(req)
        if path == "/nim/v1/models":
            return "GET", "nvidia-nim", "models", lambda: self._models(req)
        if len(parts) == 6 and parts[:5] == ["nvcf", "v2", "nvcf", "pexec", "status"]:
            return "GET", "nvidia-nim", "status", lambda: self._nvcf_status(req, parts[5])
        if (
            len(parts) == 8
            and parts[:5] == ["llm", "v1", "azure", "openai", "deployments"]
            and parts[6:] == ["chat", "completions"]
        ):
            return "POST", "nvidia-gateway", "chat", lambda: self._gateway_chat(req, parts[5])
        if path == "/__sim/stats":
            return "GET", "", "", lambda: _json(200, self.stats())
        if path == "/__sim/inject":
            return "POST", "", "", lambda: self._http_inject(req)
        return None

    def _http_inject(self, req: SimRequest) -> SimResponse:
        try:
            spec = json.loads(req.body or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("body must be a JSON object")
            self.inject(str(spec.get("provider")), str(spec.get("fault")), spec.get("times", 1))
        except ValueError as err:
            return _json(400, {"error": str(err)})
        return _json(200, {"queued": spec})

    # ----------------------------------------------------------------- shared helpers

    def _occurrence(self, provider: str, key: str) -> int:
        with self._lock:
            n = self._occurrences[(provider, key)]
            self._occurrences[(provider, key)] = n + 1
            return n

    def _scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    def _multiplier(self, provider: str) -> float:
        return self.profile.latency_multiplier.get(provider, 1.0)

    def _quick_delay(self, provider: str, rng_parts: tuple[object, ...]) -> float:
        """Delay of a fast answer (token grant, error, poll): ~0.1 s median before scaling."""
        rng = content.derive_rng("quick", self.seed, provider, *rng_parts)
        return self._scaled(rng.lognormvariate(math.log(0.1), 0.5) * self._multiplier(provider))

    def _next_fault(
        self, provider: str, rng_parts: tuple[object, ...], *, tools: bool, stream: bool
    ) -> tuple[str | None, int]:
        """The fault to serve (injected first, then the profile's draw) and its variant."""
        with self._lock:
            queue = self._queues[provider]
            fault = queue.popleft() if queue else None
        if fault is None and provider in self.profile.down:
            fault = "N1"
        if fault is None:
            fault = self._draw_fault(provider, rng_parts, tools=tools, stream=stream)
        if fault is None:
            return None, 0
        with self._lock:
            fired = self._faults_fired[provider]
            variant = fired.get(fault, 0)
            fired[fault] = variant + 1
        return fault, variant

    def _draw_fault(
        self, provider: str, rng_parts: tuple[object, ...], *, tools: bool, stream: bool
    ) -> str | None:
        rates = self.profile.fault_rates.get(provider)
        if not rates:
            return None
        u = content.derive_rng("fault", self.seed, provider, *rng_parts).random()
        for fault, rate in rates.items():
            if fault in ("B4", "B5") and not tools:
                continue
            if fault in ("S1", "S2") and not stream:
                continue
            if fault == "N2" and stream:
                continue  # streams get a 20-minute poll window: no 202 in practice
            if u < rate:
                return fault
            u -= rate
        return None

    def _rate_check(self, provider: str, key: str) -> tuple[bool, float, int]:
        """Sliding-window count: (limited, seconds until a slot frees, remaining)."""
        limit = self.profile.rate_limits.get(provider)
        enforced = limit is not None
        cap = limit if limit is not None else _GATEWAY_NOMINAL_RPM
        window = self.profile.rate_window_s * (self.time_scale if self.time_scale > 0 else 1.0)
        now = self._clock()
        with self._lock:
            stamps = self._windows[(provider, key)]
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if enforced and len(stamps) >= cap:
                self._rate_limited[provider] += 1
                return True, stamps[0] + window - now, 0
            stamps.append(now)
            return False, 0.0, max(0, cap - len(stamps))

    # ----------------------------------------------------------------- starfleet

    def _check_client(self, req: SimRequest) -> bool:
        scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            return False
        # RFC 6749 section 2.3.1: both parts are form-encoded before base64.
        ok_id = secrets.compare_digest(unquote_plus(raw_id), self.credentials.client_id)
        ok_secret = secrets.compare_digest(unquote_plus(raw_secret), self.credentials.client_secret)
        return ok_id and ok_secret

    def _token(self, req: SimRequest) -> SimResponse:
        if not self._check_client(req):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"Grant type {grant!r} is not supported; use client_credentials.",
            )
        scope = form.get("scope", [""])[0]
        if scope != OAUTH_SCOPE:
            return _oauth_error(400, "invalid_scope", f"Scope {scope!r} is not allowed.")
        key = hashlib.sha256(req.body).hexdigest()
        occ = self._occurrence("starfleet", key)
        delay = self._quick_delay("starfleet", (key, occ))
        fault, variant = self._next_fault("starfleet", (key, occ), tools=False, stream=False)
        if fault == "T1":
            resp = _oauth_error(
                503, "temporarily_unavailable", "The token service is temporarily unavailable."
            )
        elif fault == "T2":
            resp = SimResponse(0, stall=True)
        elif fault == "T3":
            resp = self._bad_token_body(variant)
        elif fault == "T4":
            resp = _oauth_error(401, "invalid_client", "Client authentication failed.")
        else:
            resp = self._grant()
        resp.delay_s = delay
        return resp

    def _grant(self) -> SimResponse:
        token = secrets.token_urlsafe(32)
        lifetime = self.token_lifetime
        with self._lock:
            self._tokens[token] = self._clock() + lifetime
            self._token_grants += 1
        expires_in: int | float = int(lifetime) if lifetime == int(lifetime) else lifetime
        return _json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
            [("cache-control", "no-store"), ("pragma", "no-cache")],
        )

    def _bad_token_body(self, variant: int) -> SimResponse:
        kind = variant % 3
        if kind == 0:
            return SimResponse(
                200,
                [("content-type", "text/html"), ("content-length", str(len(_SSO_PAGE)))],
                _SSO_PAGE,
            )
        if kind == 1:
            return _json(200, {"token_type": "Bearer", "expires_in": 900})
        # An opaque token that is never registered, with a meaningless lifetime.
        bogus = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
        return _json(200, {**bogus, "expires_in": "soon"})

    # ----------------------------------------------------------------- NIM

    def _nim_authorized(self, req: SimRequest) -> SimResponse | None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _nim_unauthorized("Bearer token is missing")
        if not secrets.compare_digest(token.strip(), self.credentials.nim_api_key):
            return _nim_unauthorized("Bearer token is malformed")
        return None

    def _models(self, req: SimRequest) -> SimResponse:
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        data = [
            {"id": m, "object": "model", "created": _NIM_CREATED, "owned_by": "meta", "root": m}
            for m in NIM_MODELS
        ]
        return _json(200, {"object": "list", "data": data})

    def _nim_chat(self, req: SimRequest) -> SimResponse:
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        body = _parse_body(req.body)
        if body is None:
            return _vllm_error("Request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _vllm_error(
                "[{'type': 'missing', 'loc': ('body', 'model'), 'msg': 'Field required'}]"
            )
        if model not in NIM_MODELS:
            return _problem(
                404, "Not Found", f"Model '{model}' is not available for account 'sim-account'"
            )
        invalid = _validate_chat(body)
        if invalid is not None:
            return _vllm_error(invalid[1])
        auth = req.headers.get("authorization", "")
        limited, _, _ = self._rate_check("nvidia-nim", hashlib.sha256(auth.encode()).hexdigest())
        if limited:
            # Hosted NVCF sends the bare problem JSON and no retry hint (WIRE 1.6).
            return _problem(429, "Too Many Requests")
        key = _content_key(req.path, body)
        chat = _Chat("nvidia-nim", model, model, body, key, self._occurrence("nvidia-nim", key), [])
        return self._chat(chat)

    def _nvcf_status(self, req: SimRequest, reqid: str) -> SimResponse:
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        with self._lock:
            pending = self._pending.get(reqid)
            if pending is not None and pending.polls_left > 0:
                pending.polls_left -= 1
                still_waiting = True
            else:
                still_waiting = False
                if pending is not None:
                    del self._pending[reqid]
        polls_left = pending.polls_left if pending is not None else -1
        delay = self._quick_delay("nvidia-nim", ("poll", reqid, still_waiting, polls_left))
        if pending is None:
            resp = _problem(
                404, "Not Found", f"Request '{reqid}' was not found or has already completed."
            )
        elif still_waiting:
            resp = SimResponse(
                202,
                [
                    ("nvcf-reqid", reqid),
                    ("nvcf-status", "in-progress"),
                    ("nvcf-percent-complete", str(50 * (2 - polls_left))),
                    ("content-length", "0"),
                ],
            )
        else:
            return pending.response
        resp.delay_s = delay
        return resp

    # ----------------------------------------------------------------- gateway

    def _gateway_chat(self, req: SimRequest, deployment: str) -> SimResponse:
        resp = self._gateway_answer(req, deployment)
        if not any(k == "apim-request-id" for k, _ in resp.headers):
            # APIM stamps every answer, errors included: it is what users quote to support.
            request_id = str(uuid.uuid4())
            resp.headers += [("apim-request-id", request_id), ("x-request-id", request_id)]
        return resp

    def _gateway_answer(self, req: SimRequest, deployment: str) -> SimResponse:
        cid = req.headers.get("correlationid")
        if cid is not None:
            with self._lock:
                self._cid_seen += 1
                if cid in self._correlation_ids:
                    self._cid_duplicates += 1
                self._correlation_ids.add(cid)
        if not self._gateway_token_ok(req):
            return _gateway_unauthorized()
        version = req.query.get("api-version")
        if not version:
            return _azure_error(
                400, "BadRequest", "Missing required query parameter 'api-version'."
            )
        if version not in API_VERSIONS:
            return _azure_error(
                400,
                "BadRequest",
                f"Unsupported api-version '{version}'. "
                f"The supported api-versions are: {', '.join(API_VERSIONS)}.",
            )
        if not cid:
            return _azure_error(400, "BadRequest", "Missing required header 'correlationId'.")
        if deployment not in GATEWAY_DEPLOYMENTS:
            return _deployment_not_found()
        body = _parse_body(req.body)
        if body is None:
            return _openai_error(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                None,
                None,
            )
        invalid = _validate_chat(body)
        if invalid is not None:
            return _openai_error(invalid[1], invalid[0], "invalid_value")
        limited, wait_s, remaining = self._rate_check("nvidia-gateway", deployment)
        if limited:
            nominal = max(1, math.ceil(wait_s / (self.time_scale or 1.0)))
            if self.time_scale == 1.0:
                after = str(nominal)
            else:  # the window is scaled too, so wait_s is already in scaled seconds
                after = _fmt_seconds(round(wait_s, 3) if self.time_scale > 0 else 0.0)
            return _azure_429(nominal, after)
        key = _content_key(req.path, body)
        request_id = str(uuid.uuid4())
        headers = [
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
            ("x-ms-region", "East US 2"),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-remaining-tokens", str(remaining * 150)),
        ]
        chat = _Chat(
            "nvidia-gateway",
            deployment,
            GATEWAY_DEPLOYMENTS[deployment],
            body,
            key,
            self._occurrence("nvidia-gateway", key),
            headers,
        )
        return self._chat(chat)

    def _gateway_token_ok(self, req: SimRequest) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        now = self._clock()
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            ok = expiry is not None and now < expiry
            if not ok:
                self._tokens_rejected += 1
        return ok

    # ----------------------------------------------------------------- chat (both)

    def _chat(self, chat: _Chat) -> SimResponse:
        rng_parts = (chat.key, chat.occurrence)
        rng = content.derive_rng("request", self.seed, chat.provider, *rng_parts)
        fault, variant = self._next_fault(
            chat.provider, rng_parts, tools=bool(chat.tools), stream=chat.stream
        )
        error = self._fault_error(chat, fault, variant)
        if error is not None:
            error.delay_s = self._quick_delay(chat.provider, ("error", *rng_parts))
            return error

        answer = content.compose_answer(
            seed=self.seed,
            provider=chat.provider,
            model=chat.served_model,
            messages=chat.body["messages"],
            tools=chat.tools,
            tool_choice=chat.body.get("tool_choice"),
            response_format=chat.body.get("response_format"),
        )
        answer = _apply_max_tokens(answer, _max_tokens(chat.body))
        answer = _mutate_answer(answer, fault, variant, chat, rng)
        usage = _usage(chat.body["messages"], answer)
        pre_s, tps = self._latency(chat, rng)

        cid = _completion_id(rng, chat.provider)
        created = int(self._wall_clock())
        headers = list(chat.extra_headers)
        if chat.provider == "nvidia-nim":
            reqid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            status_header = "in-progress" if fault == "N2" else "fulfilled"
            headers += [
                ("nvcf-reqid", reqid),
                ("nvcf-status", status_header),
                ("access-control-expose-headers", "nvcf-reqid"),
            ]

        if chat.stream and fault != "N2":
            events, start, end = _stream_events(chat, cid, created, answer, usage, fault)
            return self._stream_plan(
                chat, events, (start, end), headers, fault, variant, pre_s, tps
            )

        doc = _completion(chat, cid, created, answer, usage, fault)
        total_s = self._scaled(pre_s + usage["completion_tokens"] / tps)
        if fault == "N2":
            final = _json(
                200, doc, [(k, "fulfilled" if k == "nvcf-status" else v) for k, v in headers]
            )
            final.delay_s = self._scaled(usage["completion_tokens"] / tps)
            with self._lock:
                self._pending[reqid] = _Pending(2, final)
            return SimResponse(
                202, [*headers, ("content-length", "0")], delay_s=self._scaled(pre_s)
            )
        resp = _json(200, doc, headers)
        resp.delay_s = total_s
        if fault == "B1":
            _set_body(resp, resp.body[: max(1, int(len(resp.body) * rng.uniform(0.4, 0.8)))])
        elif fault == "B3":
            _set_body(resp, _dumps(_b3_document(chat, doc, variant)))
        elif fault in ("C3", "S1", "S2"):
            resp.body = resp.body[: len(resp.body) // 2]
            resp.abort = True
        return resp

    def _stream_plan(
        self,
        chat: _Chat,
        events: list[tuple[int, bytes]],
        content_span: tuple[int, int],
        headers: list[tuple[str, str]],
        fault: str | None,
        variant: int,
        pre_s: float,
        tps: float,
    ) -> SimResponse:
        start, end = content_span
        middle = start + (end - start) // 2
        abort = False
        if fault == "S1":
            events, abort = events[:start], True
        elif fault == "S2":
            events, abort = events[: max(start + 1, middle)], True
        elif fault == "C3":
            blob = b"".join(e for _, e in events)
            events, abort = [(0, blob[: len(blob) // 2])], True
        elif fault == "B1":
            # One event's JSON is cut short; the stream itself ends cleanly.
            tokens, broken = events[middle]
            events[middle] = (tokens, broken[: max(8, len(broken) // 2)] + b"\n\n")
        elif fault == "B3":
            events = _b3_stream(chat, events, start, variant)
        chunks = [(self._scaled(tokens / tps), data) for tokens, data in events]
        sse_headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            *headers,
        ]
        return SimResponse(
            200, sse_headers, delay_s=self._scaled(pre_s), chunks=chunks, abort=abort
        )

    def _latency(self, chat: _Chat, rng: random.Random) -> tuple[float, float]:
        """(seconds before the first token, tokens per second) before time scaling."""
        ttft_median, sigma, tps_median, sigma_tps = _LATENCY[chat.model]
        ttft = rng.lognormvariate(math.log(ttft_median), sigma)
        tps = rng.lognormvariate(math.log(tps_median), sigma_tps)
        tps = min(max(tps, 0.3 * tps_median), 2.0 * tps_median)
        gw = rng.lognormvariate(math.log(0.05), 0.3) if chat.provider == "nvidia-gateway" else 0.0
        with self._lock:
            n = self._in_flight[chat.provider]
        if n > 8:  # load coupling, FACTS.md section 4
            ttft *= 1 + 0.1 * (n - 8)
            tps /= 1 + 0.03 * (n - 8)
        mult = self._multiplier(chat.provider)
        return (gw + ttft) * mult, tps / mult

    def _fault_error(self, chat: _Chat, fault: str | None, variant: int) -> SimResponse | None:
        """The response of a fault that replaces the whole answer, else None."""
        nim = chat.provider == "nvidia-nim"
        if fault is None:
            return None
        if fault == "C2":
            return SimResponse(0, stall=True)
        if fault == "B2":
            return SimResponse(
                200,
                [
                    ("content-type", "text/html; charset=utf-8"),
                    ("content-length", str(len(_SSO_PAGE))),
                ],
                _SSO_PAGE,
            )
        if fault == "N1":
            if nim:
                return _problem(
                    503,
                    "Service Unavailable",
                    "Worker local total request limit reached (33/32)",
                    **{"nvcf-reqid": str(uuid.uuid4()), "nvcf-status": "errored"},
                )
            if chat.provider in self.profile.down:
                return _azure_error(
                    503,
                    "ServiceUnavailable",
                    "The service is temporarily unable to process your request. "
                    "Please try again later.",
                )
            return _azure_error(
                500,
                "InternalServerError",
                "The server had an error while processing your request. Sorry about that!",
            )
        if fault == "R1":
            after = _fmt_seconds(self._scaled(1.0))
            if not nim:
                return _azure_429(1, after)
            resp = _problem(429, "Too Many Requests")
            resp.headers.append(("retry-after", after))
            return resp
        if fault == "R2":
            resp = _problem(429, "Too Many Requests") if nim else _azure_429(30, "")
            resp.headers = [(k, v) for k, v in resp.headers if k != "retry-after"]
            resp.headers += [
                ("retry-after-ms", _fmt_seconds(self._scaled(200.0))),
                ("retry-after", _fmt_seconds(self._scaled(30.0))),
            ]
            return resp
        if fault == "X1":
            if nim:
                return _vllm_error("Unsupported parameter: 'logit_bias' is not supported.")
            return _openai_error("Unrecognized request argument supplied: logit_bias", None, None)
        if fault == "X2":
            if nim:
                return _problem(
                    404,
                    "Not Found",
                    f"Function '{uuid.uuid4()}': Not found for account 'sim-account'",
                )
            return _deployment_not_found()
        if fault == "X3":
            used = content.prompt_tokens(chat.body["messages"]) + 131_072
            if nim:
                return _problem(
                    413,
                    "Payload Too Large",
                    f"This model's maximum context length is 131072 tokens. However, you "
                    f"requested {used} tokens. Please reduce the length of the messages.",
                )
            return _json(
                400,
                {
                    "error": {
                        "message": "This model's maximum context length is 128000 tokens. "
                        f"However, your messages resulted in {used} tokens. "
                        "Please reduce the length of the messages.",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": "context_length_exceeded",
                    }
                },
            )
        if fault == "X4":
            if nim:
                if variant % 2 == 0:
                    return _nim_unauthorized("Bearer token is not authorized for this function")
                return _problem(403, "Forbidden", "Authorization failed")
            if variant % 2 == 0:
                return _azure_error(
                    403, "PermissionDenied", "Principal does not have access to API/Operation."
                )
            return _json(
                403,
                {
                    "statusCode": 403,
                    "message": "Out of call volume quota. Quota will be replenished in 00:00:59.",
                },
            )
        if fault == "G1":
            with self._lock:
                self._tokens_rejected += 1
            return _gateway_unauthorized()
        return None


# --------------------------------------------------------------------- pure helpers


def _provider_of(path: str) -> str | None:
    if path.startswith("/starfleet/"):
        return "starfleet"
    if path.startswith(("/nim/", "/nvcf/")):
        return "nvidia-nim"
    if path.startswith("/llm/"):
        return "nvidia-gateway"
    return None


def _parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _content_key(path: str, body: Mapping[str, Any]) -> str:
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def _validate_chat(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(param, message) of the first problem with a chat body, else None."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "'messages' must be a non-empty list of messages."
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return "messages", f"Invalid message at index {i}: expected an object with a role."
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return name, f"{name} must be an integer, got {value!r}."
        if value < 1:
            return name, f"{name} must be at least 1, got {value}."
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        return "temperature", f"temperature must be in [0, 2], got {temperature!r}."
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)
    ):
        return "tools", "'tools' must be a list of tool objects."
    return None


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _apply_max_tokens(answer: Answer, limit: int | None) -> Answer:
    if limit is None or answer.content is None or answer.tool_calls:
        return answer
    if content.count_tokens(answer.content) <= limit:
        return answer
    return Answer(content.truncate_to_tokens(answer.content, limit), (), "length")


def _mutate_answer(
    answer: Answer, fault: str | None, variant: int, chat: _Chat, rng: random.Random
) -> Answer:
    """Content faults: the model answers, but badly (E1-E3, B4, B5)."""
    text = answer.content or ""
    if fault == "E1":
        return Answer("", (), "stop")
    if fault == "E2":
        words = text.split()
        return Answer(" ".join(words[: max(3, len(words) // 3)]), (), "length")
    if fault == "E3":
        return Answer(" ".join(text.split()[:4]), (), "content_filter")
    if fault in ("B4", "B5"):
        declared = content.tool_names(chat.tools)
        call = answer.tool_calls[0] if answer.tool_calls else None
        if call is None:
            topic = content.topic_of(content.last_user_text(chat.body["messages"]))
            query = " ".join(topic.phrases[:2]) or "status"
            name = declared[0] if declared else "search"
            call = ToolCall(
                content.tool_call_id(rng, chat.provider), name, json.dumps({"query": query})
            )
        if fault == "B4":
            args = call.arguments
            # Alternate the two classic breakages: a missing brace and a trailing comma.
            broken = args[:-1] if variant % 2 == 0 else args[:-1] + ", }"
            call = replace(call, arguments=broken)
        else:
            name = "run_shell_command"
            while name in declared:
                name += "_v2"
            call = replace(call, name=name)
        return Answer(None, (call,), "tool_calls")
    return answer


def _usage(messages: list[dict[str, Any]], answer: Answer) -> dict[str, int]:
    prompt = content.prompt_tokens(messages)
    text = answer.content or ""
    text += "".join(c.name + c.arguments for c in answer.tool_calls)
    completion = content.count_tokens(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion_id(rng: random.Random, provider: str) -> str:
    if provider == "nvidia-nim":
        return "chatcmpl-" + "".join(rng.choices("0123456789abcdef", k=32))
    return "chatcmpl-" + "".join(rng.choices(string.ascii_letters + string.digits, k=29))


def _fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def _wire_tool_calls(answer: Answer) -> list[dict[str, JSON]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in answer.tool_calls
    ]


def _completion(
    chat: _Chat,
    cid: str,
    created: int,
    answer: Answer,
    usage: dict[str, int],
    fault: str | None,
) -> dict[str, JSON]:
    tool_calls = _wire_tool_calls(answer) or None
    if chat.provider == "nvidia-nim":
        message = {"role": "assistant", "content": answer.content, "tool_calls": tool_calls}
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": chat.served_model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                    "stop_reason": None,
                }
            ],
            "usage": usage,
        }
    gw_message: dict[str, JSON] = {
        "role": "assistant",
        "content": answer.content,
        "refusal": None,
    }
    if tool_calls:
        gw_message["tool_calls"] = tool_calls
    return {
        "choices": [
            {
                "content_filter_results": _FILTERED if fault == "E3" else _CHOICE_FILTER,
                "finish_reason": answer.finish_reason,
                "index": 0,
                "logprobs": None,
                "message": gw_message,
            }
        ],
        "created": created,
        "id": cid,
        "model": chat.served_model,
        "object": "chat.completion",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}],
        "system_fingerprint": _fingerprint(chat.served_model),
        "usage": usage,
    }


def _stream_events(
    chat: _Chat,
    cid: str,
    created: int,
    answer: Answer,
    usage: dict[str, int],
    fault: str | None,
) -> tuple[list[tuple[int, bytes]], int, int]:
    """SSE events as (tokens generated, bytes), with the index of the first content event
    and the index just past the last one."""
    gateway = chat.provider == "nvidia-gateway"

    def chunk(delta: dict[str, JSON], finish: str | None, cfr: JSON = None) -> bytes:
        choice: dict[str, JSON] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        obj: dict[str, JSON] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.served_model,
            "choices": [choice],
        }
        if gateway:
            choice["content_filter_results"] = cfr if cfr is not None else {}
            obj["system_fingerprint"] = _fingerprint(chat.served_model)
        if chat.include_usage:
            obj["usage"] = None
        return _sse(obj)

    events: list[tuple[int, bytes]] = []
    if gateway:
        events.append(
            (
                0,
                _sse(
                    {
                        "choices": [],
                        "created": 0,
                        "id": "",
                        "model": "",
                        "object": "",
                        "prompt_filter_results": [
                            {"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}
                        ],
                    }
                ),
            )
        )
    if answer.tool_calls:
        first = [
            {
                "index": i,
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": ""},
            }
            for i, c in enumerate(answer.tool_calls)
        ]
        events.append(
            (0, chunk({"role": "assistant", "content": None, "tool_calls": first[:1]}, None))
        )
        prologue = len(events)
        for i, call in enumerate(answer.tool_calls):
            if i > 0:
                events.append((0, chunk({"tool_calls": [first[i]]}, None)))
            for piece in _arg_pieces(call.arguments):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                events.append((content.count_tokens(piece), chunk(delta, None)))
    else:
        events.append((0, chunk({"role": "assistant", "content": ""}, None)))
        prologue = len(events)
        for piece in content.split_pieces(answer.content or ""):
            cfr = _CHUNK_FILTER if gateway else None
            events.append(
                (max(1, content.count_tokens(piece)), chunk({"content": piece}, None, cfr))
            )
    content_end = len(events)
    final_cfr = _FILTERED if fault == "E3" else {}
    events.append((0, chunk({}, answer.finish_reason, final_cfr)))
    if chat.include_usage:
        obj: dict[str, JSON] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.served_model,
            "choices": [],
            "usage": usage,
        }
        if gateway:
            obj["system_fingerprint"] = _fingerprint(chat.served_model)
        events.append((0, _sse(obj)))
    events.append((0, _DONE))
    return events, prologue, content_end


def _arg_pieces(arguments: str) -> list[str]:
    if not arguments:
        return []
    size = max(1, math.ceil(len(arguments) / 4))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _set_body(resp: SimResponse, body: bytes) -> None:
    """Replace a complete body, keeping Content-Length true (the body itself is the fault)."""
    resp.body = body
    resp.headers = [(k, str(len(body)) if k == "content-length" else v) for k, v in resp.headers]


def _error_object(chat: _Chat) -> dict[str, JSON]:
    if chat.provider == "nvidia-nim":
        return {
            "object": "error",
            "message": "Internal server error",
            "type": "InternalServerError",
            "param": None,
            "code": 500,
        }
    return {"code": "InternalServerError", "message": "The model produced an invalid response."}


def _b3_document(chat: _Chat, doc: dict[str, JSON], variant: int) -> dict[str, JSON]:
    if variant % 2 == 0:
        return {k: v for k, v in doc.items() if k != "choices"}
    return {"error": _error_object(chat)}


def _b3_stream(
    chat: _Chat, events: list[tuple[int, bytes]], prologue: int, variant: int
) -> list[tuple[int, bytes]]:
    if variant % 2 == 1:
        return [*events[:prologue], (0, _sse({"error": _error_object(chat)})), (0, _DONE)]
    out: list[tuple[int, bytes]] = []
    for tokens, data in events:
        if data.startswith(b"data: {"):
            obj = json.loads(data[6:])
            obj.pop("choices", None)
            data = _sse(obj)
        out.append((tokens, data))
    return out


def _azure_429(seconds: int, retry_after: str) -> SimResponse:
    resp = _azure_error(
        429,
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-12-01-preview have exceeded call rate limit of your current OpenAI S0 pricing "
        f"tier. Please retry after {seconds} second{'' if seconds == 1 else 's'}. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit.",
    )
    resp.headers.append(("x-ratelimit-remaining-requests", "0"))
    if retry_after:
        resp.headers.append(("retry-after", retry_after))
    return resp


def _deployment_not_found() -> SimResponse:
    return _azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    )
