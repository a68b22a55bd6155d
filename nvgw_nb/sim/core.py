"""The simulator's core: a function from a request to a response *plan*, plus its state.

`SimCore.handle` does no I/O and never sleeps; the adapters in `server.py` carry out the
plan (delays, streamed chunks, aborts, stalls). This module holds the state (tokens, fault
queues, rate windows, counters), routes each request and decides which answer it gets.
The rest is pure and imported one way only:

- `chat_request.py` parses and validates a chat body;
- `completion.py` plans the answer to an accepted chat request (content, latency, SSE);
- `faults.py` renders what each FAULTS.md id does to an answer;
- `wire.py` renders the providers' bodies and headers;
- `plan.py` defines `SimRequest` and `SimResponse` (re-exported here).

The simulator speaks the providers' wire formats on its own and shares no code with the
SDK (see WIRE.md).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from nvgw_nb.sim import content, faults, wire
from nvgw_nb.sim.chat_request import SimChat, content_key, parse_body, validate_chat
from nvgw_nb.sim.completion import plan_chat
from nvgw_nb.sim.plan import SimRequest, SimResponse
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

_GATEWAY_NOMINAL_RPM = 2700  # gpt-4o Global Standard default quota (FACTS.md section 4)
_SIM_HEADER = ("x-nvgw-simulator", "1")


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
class _Pending:
    """An NVCF request answered 202: polls left before the result, and the result."""

    polls_left: int
    response: SimResponse


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
            return wire.json_response(
                404, {"error": f"no simulated route for {req.method} {req.path}"}
            )
        method, provider, kind, handler = route
        if req.method.upper() != method:
            return wire.json_response(405, {"error": "method not allowed"}, [("allow", method)])
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
            return "GET", "", "", lambda: wire.json_response(200, self.stats())
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
            return wire.json_response(400, {"error": str(err)})
        return wire.json_response(200, {"queued": spec})

    # ----------------------------------------------------------------- shared helpers

    def _occurrence(self, provider: str, key: str) -> int:
        with self._lock:
            n = self._occurrences[(provider, key)]
            self._occurrences[(provider, key)] = n + 1
            return n

    def _multiplier(self, provider: str) -> float:
        return self.profile.latency_multiplier.get(provider, 1.0)

    def _quick_delay(self, provider: str, rng_parts: tuple[object, ...]) -> float:
        """Delay of a fast answer (token grant, error, poll): ~0.1 s median before scaling."""
        rng = content.derive_rng("quick", self.seed, provider, *rng_parts)
        return rng.lognormvariate(math.log(0.1), 0.5) * self._multiplier(provider) * self.time_scale

    def _next_fault(
        self, provider: str, rng_parts: tuple[object, ...], *, tools: bool, stream: bool
    ) -> tuple[str | None, int]:
        """The fault to serve (injected first, then the profile's draw) and its variant."""
        with self._lock:
            queue = self._queues[provider]
            fault = queue.popleft() if queue else None
        if fault is None and provider in self.profile.down:
            fault = "N1"
        rates = self.profile.fault_rates.get(provider)
        if fault is None and rates:
            u = content.derive_rng("fault", self.seed, provider, *rng_parts).random()
            fault = faults.pick_fault(rates, u, tools=tools, stream=stream)
        if fault is None:
            return None, 0
        with self._lock:
            fired = self._faults_fired[provider]
            variant = fired.get(fault, 0)
            fired[fault] = variant + 1
        return fault, variant

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
            return wire.oauth_error(401, "invalid_client", "Client authentication failed.")
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            return wire.oauth_error(
                400,
                "unsupported_grant_type",
                f"Grant type {grant!r} is not supported; use client_credentials.",
            )
        scope = form.get("scope", [""])[0]
        if scope != OAUTH_SCOPE:
            return wire.oauth_error(400, "invalid_scope", f"Scope {scope!r} is not allowed.")
        key = hashlib.sha256(req.body).hexdigest()
        occ = self._occurrence("starfleet", key)
        delay = self._quick_delay("starfleet", (key, occ))
        fault, variant = self._next_fault("starfleet", (key, occ), tools=False, stream=False)
        resp = faults.token_fault(fault, variant)
        if resp is None:
            resp = self._grant()
        resp.delay_s = delay
        return resp

    def _grant(self) -> SimResponse:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self._clock() + self.token_lifetime
            self._token_grants += 1
        return wire.token_grant(token, self.token_lifetime)

    # ----------------------------------------------------------------- NIM

    def _nim_authorized(self, req: SimRequest) -> SimResponse | None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return wire.nim_unauthorized("Bearer token is missing")
        if not secrets.compare_digest(token.strip(), self.credentials.nim_api_key):
            return wire.nim_unauthorized("Bearer token is malformed")
        return None

    def _models(self, req: SimRequest) -> SimResponse:
        denied = self._nim_authorized(req)
        return denied if denied is not None else wire.nim_model_list(NIM_MODELS)

    def _nim_chat(self, req: SimRequest) -> SimResponse:
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        body = parse_body(req.body)
        if body is None:
            return wire.vllm_error("Request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return wire.vllm_error(
                "[{'type': 'missing', 'loc': ('body', 'model'), 'msg': 'Field required'}]"
            )
        if model not in NIM_MODELS:
            return wire.problem(
                404, "Not Found", f"Model '{model}' is not available for account 'sim-account'"
            )
        invalid = validate_chat(body)
        if invalid is not None:
            return wire.vllm_error(invalid[1])
        auth = req.headers.get("authorization", "")
        limited, _, _ = self._rate_check("nvidia-nim", hashlib.sha256(auth.encode()).hexdigest())
        if limited:
            # Hosted NVCF sends the bare problem JSON and no retry hint (WIRE 1.6).
            return wire.problem(429, "Too Many Requests")
        key = content_key(req.path, body)
        occurrence = self._occurrence("nvidia-nim", key)
        return self._chat(SimChat("nvidia-nim", model, model, body, key, occurrence, []))

    def _nvcf_status(self, req: SimRequest, reqid: str) -> SimResponse:
        """Poll an NVCF request answered 202 (N2): 202 twice, then the result."""
        denied = self._nim_authorized(req)
        if denied is not None:
            return denied
        with self._lock:
            pending = self._pending.get(reqid)
            if pending is not None and pending.polls_left <= 0:
                del self._pending[reqid]
                return pending.response  # the result carries its own delay
            if pending is not None:
                pending.polls_left -= 1
                polls_left = pending.polls_left
        if pending is None:
            resp = wire.problem(
                404, "Not Found", f"Request '{reqid}' was not found or has already completed."
            )
            poll: tuple[object, ...] = ("poll", reqid, False, -1)
        else:
            resp = SimResponse(
                202,
                [
                    ("nvcf-reqid", reqid),
                    ("nvcf-status", "in-progress"),
                    ("nvcf-percent-complete", str(50 * (2 - polls_left))),
                    ("content-length", "0"),
                ],
            )
            poll = ("poll", reqid, True, polls_left)
        resp.delay_s = self._quick_delay("nvidia-nim", poll)
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
            return wire.gateway_unauthorized()
        version = req.query.get("api-version")
        if not version:
            return wire.azure_error(
                400, "BadRequest", "Missing required query parameter 'api-version'."
            )
        if version not in API_VERSIONS:
            return wire.azure_error(
                400,
                "BadRequest",
                f"Unsupported api-version '{version}'. "
                f"The supported api-versions are: {', '.join(API_VERSIONS)}.",
            )
        if not cid:
            return wire.azure_error(400, "BadRequest", "Missing required header 'correlationId'.")
        if deployment not in GATEWAY_DEPLOYMENTS:
            return wire.deployment_not_found()
        body = parse_body(req.body)
        if body is None:
            return wire.openai_error(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                None,
                None,
            )
        invalid = validate_chat(body)
        if invalid is not None:
            return wire.openai_error(invalid[1], invalid[0], "invalid_value")
        limited, wait_s, remaining = self._rate_check("nvidia-gateway", deployment)
        if limited:
            nominal = max(1, math.ceil(wait_s / (self.time_scale or 1.0)))
            if self.time_scale == 1.0:
                after = str(nominal)
            else:  # the window is scaled too, so wait_s is already in scaled seconds
                after = wire.fmt_seconds(round(wait_s, 3) if self.time_scale > 0 else 0.0)
            return wire.azure_429(nominal, after)
        key = content_key(req.path, body)
        request_id = str(uuid.uuid4())
        headers = [
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
            ("x-ms-region", "East US 2"),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-remaining-tokens", str(remaining * 150)),
        ]
        chat = SimChat(
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

    def _chat(self, chat: SimChat) -> SimResponse:
        rng_parts = (chat.key, chat.occurrence)
        fault, variant = self._next_fault(
            chat.provider, rng_parts, tools=bool(chat.tools), stream=chat.stream
        )
        if fault == "G1":  # the gateway turns down a token it issued: count it as rejected
            with self._lock:
                self._tokens_rejected += 1
        error = faults.chat_fault(
            chat,
            fault,
            variant,
            provider_down=chat.provider in self.profile.down,
            time_scale=self.time_scale,
        )
        if error is not None:
            error.delay_s = self._quick_delay(chat.provider, ("error", *rng_parts))
            return error
        with self._lock:
            in_flight = self._in_flight[chat.provider]
        plan = plan_chat(
            chat,
            fault,
            variant,
            seed=self.seed,
            time_scale=self.time_scale,
            latency_multiplier=self._multiplier(chat.provider),
            in_flight=in_flight,
            created=int(self._wall_clock()),
        )
        if plan.held is not None:
            reqid, result = plan.held
            with self._lock:
                self._pending[reqid] = _Pending(2, result)
        return plan.response


# --------------------------------------------------------------------- routing


def _provider_of(path: str) -> str | None:
    if path.startswith("/starfleet/"):
        return "starfleet"
    if path.startswith(("/nim/", "/nvcf/")):
        return "nvidia-nim"
    if path.startswith("/llm/"):
        return "nvidia-gateway"
    return None
