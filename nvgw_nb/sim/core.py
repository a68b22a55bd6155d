"""The simulator's core: a function from a request to a response *plan*, plus its state.

`SimCore.handle` does no I/O and never sleeps; the adapters in `server.py` carry out the
plan (delays, streamed chunks, aborts, stalls). This module holds the state (fault queues,
rate windows, counters), dispatches each request by the routes table, draws its fault and
plans the chat answer. The rest is imported one way only:

- `routes.py` is the one routes table (method, base + path pattern, provider, counter,
  handler) that dispatch, the provider lookup and `Simulator.url_for` / `env()` read;
- `nvidia.py` (Starfleet, NIM/NVCF, the gateway) and `external.py` (OpenAI, Anthropic,
  Gemini) hold the route handlers and the state only their routes have (tokens, NVCF polls);
- `chat_request.py` parses and validates a chat body (`anthropic_request.py` and
  `gemini_request.py` translate theirs into the same canonical body);
- `completion.py` plans the answer to an accepted chat request (content, latency, SSE);
- `faults.py` decides what each fault id does to an answer;
- each chat provider's wire format is a `Dialect` (`rendering.py`), one module each:
  `nim_wire.py`, `gateway_wire.py`, `openai_wire.py`, `anthropic_wire.py`,
  `gemini_wire.py`, collected in `dialects.py`; `starfleet_wire.py` renders the token
  endpoint and `wire.py` the JSON / SSE framing they share;
- `content.py` (with `voices.py`) writes what the model says, `structured.py` finds each
  provider's JSON schema and breaks it for B6;
- `credentials.py` generates the accepted credentials;
- `plan.py` defines `SimRequest` and `SimResponse` (re-exported here).

Around the core: `simulator.py` (`Simulator`, the public face), `server.py` (the loopback
server and httpx's MockTransport), `profiles.py` (fault rates, latencies, rate limits),
`sockets.py` (faults below HTTP) and `command.py` (`nvgw-nb sim`).

The simulator speaks the providers' wire formats on its own and shares no code with the
SDK (from each provider's API documentation).
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
from nvgw_nb.sim.external import ExternalHandlers
from nvgw_nb.sim.nvidia import API_VERSIONS, GATEWAY_DEPLOYMENTS, NIM_MODELS, NvidiaHandlers
from nvgw_nb.sim.plan import SimRequest, SimResponse
from nvgw_nb.sim.profiles import FAULT_IDS, PROVIDERS, Profile
from nvgw_nb.sim.quality import QualityModel
from nvgw_nb.sim.routes import match_route, provider_of, request_kinds

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
_GATEWAY_NOMINAL_RPM = 2700  # gpt-4o Global Standard default quota (docs/reference/facts.md)
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
        token_auth: str = "either",  # noqa: S107  (an encoding, not a password)
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        quality: QualityModel | None = None,
    ) -> None:
        self.profile = profile
        #: SIMULATED answer quality and the simulated judge (`quality.py`, `judging.py`)
        self.quality = quality or QualityModel(seed=seed)
        self.seed = seed
        self.time_scale = time_scale
        self.token_lifetime = token_lifetime
        self.credentials = credentials or SimCredentials.generate()
        #: the Basic encodings the token endpoint accepts: "either", "form" or "raw"
        self.token_auth = token_auth
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._queues: dict[str, deque[str]] = {p: deque() for p in PROVIDERS}
        self._occurrences: dict[tuple[str, str], int] = defaultdict(int)
        #: provider → (content key, output fault) its next request gets if identical
        self._repeats: dict[str, tuple[str, str]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._nvidia = NvidiaHandlers(self)
        self._external = ExternalHandlers(self)
        self._reset_counters()

    # ----------------------------------------------------------------- state API

    def _reset_counters(self) -> None:
        self._requests: dict[str, dict[str, int]] = request_kinds()
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
        provider = provider_of(req.path)
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

    @property
    def nvidia(self) -> NvidiaHandlers:
        """The handlers of the Starfleet, NIM/NVCF and gateway routes (`routes.ROUTES`)."""
        return self._nvidia

    @property
    def external(self) -> ExternalHandlers:
        """The handlers of the OpenAI, Anthropic and Gemini routes (`routes.ROUTES`)."""
        return self._external

    def handle(self, req: SimRequest) -> SimResponse:
        """The response plan for `req`. No I/O, no sleeping."""
        resp = self._dispatch(req)
        resp.headers.append(_SIM_HEADER)
        return resp

    def _dispatch(self, req: SimRequest) -> SimResponse:
        routes, params = match_route(req.path)
        if not routes:
            return wire.json_response(
                404, {"error": f"no simulated route for {req.method} {req.path}"}
            )
        route = next((r for r in routes if r.method == req.method.upper()), None)
        if route is None:
            allow = ", ".join(r.method for r in routes)
            return wire.json_response(405, {"error": "method not allowed"}, [("allow", allow)])
        if not route.provider:  # the simulator's own control routes: not counted
            return route.handler(self, req, params)
        with self._lock:
            self._requests[route.provider][route.kind] += 1
        resp = route.handler(self, req, params)
        if not resp.stall:
            with self._lock:
                counts = self._responses[route.provider]
                counts[str(resp.status)] = counts.get(str(resp.status), 0) + 1
        return resp

    def stats_response(self, req: SimRequest) -> SimResponse:
        """`GET /__sim/stats`: `stats()` as JSON."""
        return wire.json_response(200, self.stats())

    def inject_response(self, req: SimRequest) -> SimResponse:
        """`POST /__sim/inject` with `{"provider", "fault", "times"}`: `inject()` over HTTP."""
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
            quality=self.quality,
        )
        if plan.held is not None:
            self._nvidia.hold(*plan.held)
        return plan.response
