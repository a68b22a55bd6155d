"""The simulator's core: a function from a request to a response *plan*, plus its state.

`SimCore.handle` does no I/O and never sleeps; the adapters in `server.py` carry out the
plan (delays, streamed chunks, aborts, stalls). This module holds the state (tokens, fault
queues, rate windows, counters), routes each request, draws its fault and plans the chat
answer. The route handlers live beside it: `nvidia.py` (Starfleet, NIM/NVCF, the gateway)
and `external.py` (OpenAI, Anthropic, Gemini). The rest is pure and imported one way only:

- `chat_request.py` parses and validates a chat body (`anthropic_request.py` and
  `gemini_request.py` translate theirs into the same canonical body);
- `completion.py` plans the answer to an accepted chat request (content, latency, SSE);
- `faults.py` renders what each FAULTS.md id does to an answer;
- `wire.py` renders NIM's and the gateway's bodies and headers; `openai_wire.py`,
  `anthropic_wire.py` and `gemini_wire.py` the external providers' (`dialects.py`);
- `structured.py` finds each provider's JSON schema and breaks it for B6;
- `credentials.py` generates the accepted credentials;
- `plan.py` defines `SimRequest` and `SimResponse` (re-exported here).

The simulator speaks the providers' wire formats on its own and shares no code with the
SDK (see WIRE.md).
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nvgw_nb.sim import content, faults, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.completion import plan_chat
from nvgw_nb.sim.credentials import SimCredentials
from nvgw_nb.sim.external import ExternalRoutes, google_route
from nvgw_nb.sim.nvidia import API_VERSIONS, GATEWAY_DEPLOYMENTS, NIM_MODELS, NvidiaRoutes
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

_REPEATED_FOR_SAME_INPUT = frozenset({"B4", "B5", "B6"})
_GATEWAY_NOMINAL_RPM = 2700  # gpt-4o Global Standard default quota (FACTS.md section 4)
_SIM_HEADER = ("x-nvgw-simulator", "1")


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
        self._queues: dict[str, deque[str]] = {p: deque() for p in PROVIDERS}
        self._occurrences: dict[tuple[str, str], int] = defaultdict(int)
        #: provider → (content key, output fault) its next request gets if identical
        self._repeats: dict[str, tuple[str, str]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._nvidia = NvidiaRoutes(self)
        self._external = ExternalRoutes(self)
        self._reset_counters()

    # ----------------------------------------------------------------- state API

    def _reset_counters(self) -> None:
        self._requests: dict[str, dict[str, int]] = {
            "starfleet": {"token": 0},
            "nvidia-nim": {"chat": 0, "models": 0, "status": 0},
            "nvidia-gateway": {"chat": 0},
            "openai": {"chat": 0},
            "anthropic": {"messages": 0},
            "google-genai": {"generate": 0, "stream": 0},
        }
        self._responses: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._faults_injected: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._faults_fired: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        self._rate_limited: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._in_flight_max: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._keys_in_query = 0

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
        self._nvidia.revoke_tokens()

    def stats(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the counters (`in_flight`: requests being
        served right now, per provider; `in_flight_max`: the most at once)."""
        nvidia = self._nvidia.counters()
        with self._lock:
            return copy.deepcopy(
                {
                    "requests": self._requests,
                    "responses": self._responses,
                    "token_grants": nvidia["token_grants"],
                    "tokens_rejected": nvidia["tokens_rejected"],
                    "faults_injected": self._faults_injected,
                    "faults_fired": self._faults_fired,
                    "rate_limited": self._rate_limited,
                    "correlation_ids": nvidia["correlation_ids"],
                    "in_flight": self._in_flight,
                    "in_flight_max": self._in_flight_max,
                    "keys_in_query": self._keys_in_query,
                }
            )

    def reset_stats(self) -> None:
        """Zero every counter; tokens, queued faults and draw sequences are kept."""
        with self._lock:
            self._reset_counters()
        self._nvidia.reset_counters()

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
            return "POST", "starfleet", "token", lambda: self._nvidia.token(req)
        if path == "/nim/v1/chat/completions":
            return "POST", "nvidia-nim", "chat", lambda: self._nvidia.nim_chat(req)
        if path == "/nim/v1/models":
            return "GET", "nvidia-nim", "models", lambda: self._nvidia.models(req)
        if len(parts) == 6 and parts[:5] == ["nvcf", "v2", "nvcf", "pexec", "status"]:
            return "GET", "nvidia-nim", "status", lambda: self._nvidia.nvcf_status(req, parts[5])
        if (
            len(parts) == 8
            and parts[:5] == ["llm", "v1", "azure", "openai", "deployments"]
            and parts[6:] == ["chat", "completions"]
        ):
            return (
                "POST",
                "nvidia-gateway",
                "chat",
                lambda: self._nvidia.gateway_chat(req, parts[5]),
            )
        if path == "/openai/v1/chat/completions":
            return "POST", "openai", "chat", lambda: self._external.openai_chat(req)
        if path == "/anthropic/v1/messages":
            return "POST", "anthropic", "messages", lambda: self._external.anthropic_messages(req)
        google = google_route(parts)
        if google is not None:
            version, model, method = google
            kind = "stream" if method == "streamGenerateContent" else "generate"
            return (
                "POST",
                "google-genai",
                kind,
                lambda: self._external.google_generate(req, version, model, method),
            )
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

    def occurrence(self, provider: str, key: str) -> int:
        """How many times `key` was asked of `provider` before (and count this one)."""
        with self._lock:
            n = self._occurrences[(provider, key)]
            self._occurrences[(provider, key)] = n + 1
            return n

    def _multiplier(self, provider: str) -> float:
        return self.profile.latency_multiplier.get(provider, 1.0)

    def quick_delay(self, provider: str, rng_parts: tuple[object, ...]) -> float:
        """Delay of a fast answer (token grant, error, poll): ~0.1 s median before scaling."""
        rng = content.derive_rng("quick", self.seed, provider, *rng_parts)
        return rng.lognormvariate(math.log(0.1), 0.5) * self._multiplier(provider) * self.time_scale

    def next_fault(
        self, provider: str, rng_parts: tuple[object, ...], *, tools: bool, stream: bool
    ) -> tuple[str | None, int]:
        """The fault to serve (injected first, then the profile's draw) and its variant.

        Output faults (B4, B5, B6) model a model's bug for a given input: when the very
        next request to that provider is the identical one (a retry) and nothing else is
        queued, it gets the same bad answer once more — as a real model does for the
        same input — so one injected B4 also defeats the SDK's retry on that provider.
        """
        key = str(rng_parts[0])
        with self._lock:
            repeat = self._repeats.pop(provider, None)
            queue = self._queues[provider]
            fault = queue.popleft() if queue else None
            is_repeat = fault is None and repeat is not None and repeat[0] == key
            if is_repeat and repeat is not None:
                fault = repeat[1]
        if fault is None and provider in self.profile.down:
            fault = "N1"
        rates = self.profile.fault_rates.get(provider)
        if fault is None and rates:
            u = content.derive_rng("fault", self.seed, provider, *rng_parts).random()
            fault = faults.pick_fault(rates, u, tools=tools, stream=stream)
        if fault is None:
            return None, 0
        with self._lock:
            if fault in _REPEATED_FOR_SAME_INPUT and not is_repeat:
                self._repeats[provider] = (key, fault)
            fired = self._faults_fired[provider]
            variant = fired.get(fault, 0)
            fired[fault] = variant + 1
        return fault, variant

    def rate_check(
        self, provider: str, key: str, nominal: int = _GATEWAY_NOMINAL_RPM
    ) -> tuple[bool, float, int]:
        """Sliding-window count: (limited, seconds until a slot frees, remaining).

        Only a profile's `rate_limits` refuse requests; `nominal` is the quota the
        remaining count is shown against otherwise.
        """
        limit = self.profile.rate_limits.get(provider)
        enforced = limit is not None
        cap = limit if limit is not None else nominal
        window = self.rate_window_s
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

    @property
    def rate_window_s(self) -> float:
        """The profile's rate window in (scaled) seconds."""
        return self.profile.rate_window_s * (self.time_scale if self.time_scale > 0 else 1.0)

    def retry_after(self, wait_s: float) -> tuple[int, str]:
        """(nominal whole seconds for a message, the hint to send) for a scaled wait."""
        nominal = max(1, math.ceil(wait_s / (self.time_scale or 1.0)))
        if self.time_scale == 1.0:
            return nominal, str(nominal)
        # The window is scaled too, so wait_s is already in scaled seconds.
        return nominal, wire.fmt_seconds(round(wait_s, 3) if self.time_scale > 0 else 0.0)

    def clock(self) -> float:
        """The monotonic clock token expiry and rate windows use."""
        return self._clock()

    def wall_time(self) -> float:
        """The wall clock (seconds since the epoch)."""
        return self._wall_clock()

    def count_key_in_query(self) -> None:
        """Count a request that carried an API key in its URL."""
        with self._lock:
            self._keys_in_query += 1

    # ----------------------------------------------------------------- chat (every route)

    def serve_chat(self, chat: SimChat) -> SimResponse:
        """Draw the fault of an accepted chat request, then plan its answer."""
        rng_parts = (chat.key, chat.occurrence)
        fault, variant = self.next_fault(
            chat.provider, rng_parts, tools=bool(chat.tools), stream=chat.stream
        )
        if fault == "G1":  # the gateway turns down a token it issued: count it as rejected
            self._nvidia.count_rejected_token()
        error = faults.chat_fault(
            chat,
            fault,
            variant,
            provider_down=chat.provider in self.profile.down,
            time_scale=self.time_scale,
        )
        if error is not None:
            error.delay_s = self.quick_delay(chat.provider, ("error", *rng_parts))
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
            self._nvidia.hold(*plan.held)
        return plan.response


# --------------------------------------------------------------------- routing


def _provider_of(path: str) -> str | None:
    if path.startswith("/starfleet/"):
        return "starfleet"
    if path.startswith(("/nim/", "/nvcf/")):
        return "nvidia-nim"
    if path.startswith("/llm/"):
        return "nvidia-gateway"
    return {"openai": "openai", "anthropic": "anthropic", "google": "google-genai"}.get(
        path.strip("/").split("/")[0]
    )
