"""`Simulator`: NIM, the NVIDIA LLM Gateway, Starfleet, OpenAI, Anthropic and Gemini on a
loopback port."""

from __future__ import annotations

import ipaddress
import math
import shlex
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from nvgw_nb.sim.core import SimCore
from nvgw_nb.sim.credentials import SimCredentials
from nvgw_nb.sim.profiles import PROFILES, Profile
from nvgw_nb.sim.quality import QualityModel
from nvgw_nb.sim.routes import base_path
from nvgw_nb.sim.server import SimServer, make_mock_transport

if TYPE_CHECKING:
    from nvgw_nb.session import Session

__all__ = ["Simulator"]

_API_VERSION = "2024-12-01-preview"
_GATEWAY_MODEL = "gpt-4o-mini"


class Simulator:
    """A loopback HTTP server that impersonates NIM, the LLM Gateway, Starfleet, OpenAI,
    Anthropic and Gemini, each in its own wire format.

    Credentials are generated per instance (or given as `credentials`); `env()` gives the
    variables a Session reads. Starfleet's token endpoint takes the Basic credentials
    form-encoded (RFC 6749 section 2.3.1) or as is (`base64(id:secret)`, what
    `httpx.post(url, auth=(id, secret))` sends) with `token_auth="either"` (the default),
    only one of them with `token_auth="form"` or `"raw"`.

    Answer quality is SIMULATED (`nvgw_nb.sim.quality`, `nvgw_nb.sim.judging`): after
    `learn(cases)` the models know the cases' gold answers and are right with probability
    `accuracy` ({provider_or_model: p}; defaults per model in `quality.DEFAULT_ACCURACY`),
    answer bare when a system prompt asks for a terse format with probability `obedience`
    ({provider_or_model_or_family: p}, families "gpt", "llama", "claude", "gemini"; else
    they answer in their family's chatty prose), and a judge prompt gets a verdict that
    follows the answers, with the biases of `judge_bias` ({"position", "length", "self"}:
    0..1). Anthropic requests: the simulator's canonical body does not carry `temperature`,
    so their repeats always vary.

    Example::

        with Simulator(profile="flaky-nim", seed=7, time_scale=0.1) as sim:
            session = sim.session()
            sim.inject("nvidia-nim", "N1")
    """

    def __init__(
        self,
        profile: str | Profile = "healthy",
        seed: int = 0,
        time_scale: float = 1.0,
        *,
        token_lifetime: float = 900.0,
        host: str = "127.0.0.1",
        port: int = 0,
        token_auth: str = "either",  # noqa: S107  (an encoding, not a password)
        credentials: SimCredentials | None = None,
        accuracy: Mapping[str, float] | None = None,
        obedience: Mapping[str, float] | None = None,
        judge_bias: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(
                    f"profile: unknown profile {profile!r}; valid profiles: "
                    f"{', '.join(sorted(PROFILES))}"
                )
            profile = PROFILES[profile]
        elif not isinstance(profile, Profile):
            raise ValueError(f"profile: expected a profile name or Profile, got {profile!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        if (
            isinstance(time_scale, bool)
            or not isinstance(time_scale, (int, float))
            or not math.isfinite(time_scale)
            or time_scale < 0
        ):
            raise ValueError(f"time_scale: expected a finite number >= 0, got {time_scale!r}")
        if (
            isinstance(token_lifetime, bool)
            or not isinstance(token_lifetime, (int, float))
            or not math.isfinite(token_lifetime)
            or token_lifetime <= 0
        ):
            raise ValueError(f"token_lifetime: expected seconds > 0, got {token_lifetime!r}")
        if not _is_loopback(host):
            raise ValueError(f"host: the simulator only binds loopback addresses, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port: expected 0-65535, got {port!r}")
        if token_auth not in ("either", "form", "raw"):
            raise ValueError(f"token_auth: expected either, form or raw, got {token_auth!r}")
        if credentials is not None and not isinstance(credentials, SimCredentials):
            raise ValueError(f"credentials: expected SimCredentials, got {type(credentials)}")
        quality = QualityModel(
            seed=seed, accuracy=accuracy, obedience=obedience, judge_bias=judge_bias
        )
        self._profile = profile
        self._seed = seed
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._core = SimCore(
            profile,
            seed=seed,
            time_scale=float(time_scale),
            token_lifetime=token_lifetime,
            credentials=credentials,
            token_auth=token_auth,
            quality=quality,
        )
        self._server: SimServer | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        """Start serving (idempotent); returns self."""
        with self._lock:
            if self._server is None:
                server = SimServer(self._core, self._host, self._port)
                server.start()
                self._server = server
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53117``."""
        server = self._server
        if server is None:
            raise RuntimeError("Simulator is not running: call start() or use it as `with ...:`")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{server.port}"

    def url_for(self, provider: str) -> str:
        """The base URL an official SDK expects for `provider` (it appends the rest).

        The base is where the provider's first row in `routes.ROUTES` splits its path:
        openai.OpenAI(base_url=...) adds /chat/completions, anthropic.Anthropic(base_url=...)
        adds /v1/messages, genai.Client(http_options=HttpOptions(base_url=...)) adds
        /{api_version}/models/{model}:generateContent (google-genai's default version is v1;
        nvgw_nb uses v1beta: the simulator serves both).

        Example::

            openai.OpenAI(base_url=sim.url_for("openai"), api_key=sim.env()["OPENAI_API_KEY"])
            anthropic.Anthropic(base_url=sim.url_for("anthropic"), api_key=...)
            options = HttpOptions(base_url=sim.url_for("google-genai"))
            genai.Client(api_key=sim.env()["GOOGLE_API_KEY"], http_options=options)
        """
        try:
            path = base_path(provider)
        except ValueError as err:
            raise ValueError(f"provider: {err}") from None
        return self.url + path

    def env(self) -> dict[str, str]:
        """The environment variables that point a Session at this simulator."""
        creds = self._core.credentials
        url = self.url
        return {
            "NVIDIA_NIM_API_KEY": creds.nim_api_key,
            "NVIDIA_NIM_BASE_URL": url + base_path("nvidia-nim"),
            "NVIDIA_LLM_GATEWAY_ENABLED": "true",
            "STARFLEET_ID": creds.client_id,
            "STARFLEET_SECRET": creds.client_secret,
            "STARFLEET_TOKEN_URL": url + base_path("starfleet"),
            "LLM_GATEWAY_BASE_URL": url + base_path("nvidia-gateway"),
            "LLM_GATEWAY_API_VERSION": _API_VERSION,
            "LLM_GATEWAY_MODEL": _GATEWAY_MODEL,
            "NVGW_NVCF_STATUS_URL": url + base_path("nvidia-nim", "status"),
            "OPENAI_API_KEY": creds.openai_api_key,
            "OPENAI_BASE_URL": url + base_path("openai"),
            "ANTHROPIC_API_KEY": creds.anthropic_api_key,
            "ANTHROPIC_BASE_URL": url + base_path("anthropic"),
            "GOOGLE_API_KEY": creds.google_api_key,
            "NVGW_GOOGLE_BASE_URL": url + base_path("google-genai"),
        }

    def export_lines(self) -> str:
        """``export NAME=value`` lines (shell-quoted), as `nvgw-nb sim` prints them."""
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env().items())

    def session(self, **overrides: object) -> Session:
        """A Session configured from `env()` (no .env file), marked as simulated."""
        from nvgw_nb.session import Session

        overrides.setdefault("simulator", self)
        return Session.from_env(env=self.env(), env_file=None, **overrides)

    def transport(self) -> httpx.MockTransport:
        """An `httpx.MockTransport` over the same state: no server, no sleeping."""
        return make_mock_transport(self._core)

    # ------------------------------------------------------------------ control

    def inject(self, provider: str, fault_id: str, times: int = 1) -> None:
        """Queue `fault_id` (docs/reference/faults.md) for the next `times` requests to `provider`.

        `FAULT_IDS[provider]` lists the ids that apply; any other raises ValueError (R2 on
        `google-genai`, whose retry hint is in the body).
        """
        self._core.inject(provider, fault_id, times)

    def learn(self, cases: Iterable[object]) -> int:
        """SIMULATED knowledge: the models learn (add or replace) the gold answers of
        `cases`; returns how many. Thread-safe.

        Each case is an object (e.g. `nvgw_nb.experiments.Case`: `case.text()` is the
        prompt) or a dict with `text` (the exact last user message the client sends; else
        `prompt`), `reference`, `check` ("equals" | "contains" | "json" | "python" | None),
        `vars` and `cluster`. Only prompts learned here are answered by the quality model;
        every other prompt is answered as before.

        Example::

            sim.learn([{"text": "Label: 'great!'", "reference": "positive", "check": "equals"}])
        """
        return self._core.quality.learn(cases)

    def revoke_tokens(self) -> None:
        """Invalidate every issued Starfleet token (the gateway then answers 401)."""
        self._core.revoke_tokens()

    def stats(self) -> dict[str, Any]:
        """Counters: requests, responses, grants, faults, correlationIds, concurrency
        (`in_flight`: requests being served now, per provider — zero once a cancelled
        client has gone; `in_flight_max`: the most at once), and `keys_in_query` (Gemini
        requests refused for carrying `?key=` in the URL)."""
        return self._core.stats()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._core.reset_stats()

    @property
    def profile(self) -> Profile:
        """The active profile."""
        return self._profile

    @property
    def seed(self) -> int:
        """The seed of every deterministic draw."""
        return self._seed

    def __repr__(self) -> str:
        url = self.url if self._server is not None else None
        return f"Simulator(profile={self._profile.name!r}, seed={self._seed}, url={url!r})"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
