"""The Session: settings, one shared httpx client on a private loop, sync and async calls.

>>> import nvgw_nb as nv
>>> with nv.Simulator(seed=7) as sim, sim.session() as session:   # doctest: +SKIP
...     r = session.chat("Summarise this diff: ...", role="planner")
...     r.served_by, r.fell_back, r.attempts
"""

from __future__ import annotations

import inspect
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from typing_extensions import Unpack

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.batch import BatchItem, BatchPrompt, Job, plan_jobs, progress_bar, run_jobs
from nvgw_nb.cache import ResponseCache, open_cache
from nvgw_nb.compare import Comparison, comparison_cases
from nvgw_nb.config import Settings
from nvgw_nb.engine import Engine
from nvgw_nb.errors import ConfigError, SessionClosed
from nvgw_nb.inputs import chat_request
from nvgw_nb.latency import LatencyTracker
from nvgw_nb.options import (
    WIRE_OPTIONS,
    BatchOptions,
    ChatOptions,
    RequestOptions,
    StreamOptions,
    call_policy,
    check_options,
    response_format_spec,
    with_signature,
)
from nvgw_nb.planning import ProviderSet
from nvgw_nb.portal import LoopThread
from nvgw_nb.pricing import Price, Pricing
from nvgw_nb.providers import registry
from nvgw_nb.ratelimit import RateLimiter
from nvgw_nb.replay import CachingEngine
from nvgw_nb.results import ChatRequest, ChatResult
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.roles import DEFAULT_ROLES, Role
from nvgw_nb.steps import CallPolicy, Deadlines, Step
from nvgw_nb.streams import AsyncChatStream, ChatStream
from nvgw_nb.transport import TransportName, make_client
from nvgw_nb.untrusted import Limits

if TYPE_CHECKING:
    from nvgw_nb.embeddings import Embeddings
    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.experiments.grid import Experiment, ExperimentOptions
    from nvgw_nb.experiments.records import CallRecord
    from nvgw_nb.experiments.scoring import Scorer
    from nvgw_nb.sim import Simulator
    from nvgw_nb.widgets import CompareBoard, Playground

__all__ = ["Session"]


class Session:
    """NIM first, the LLM Gateway as its fallback; sync methods work inside Jupyter.

    Build one with `Session.from_env()`, `nv.connect()` or `Simulator.session()`.
    `cache="responses.sqlite"` (or a `ResponseCache`; `True`: NVGW_CACHE, else
    responses.sqlite; `False`: none, whatever NVGW_CACHE says) replays answers already
    stored there — see `nvgw_nb.cache`.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        roles: Mapping[str, Role] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | TransportName | None = None,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 30.0,
        simulator: Simulator | None = None,
        pricing: Pricing | None = None,
        prices: Mapping[str, Price | tuple[float, float]] | None = None,
        repair_tool_calls: bool = False,
        rate_limits: Mapping[str, str | tuple[float, float]] | None = None,
        cache: str | os.PathLike[str] | ResponseCache | bool | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self.roles: dict[str, Role] = {**DEFAULT_ROLES, **(roles or {})}
        self.retry = retry or RetryPolicy(attempts=self.settings.max_retries + 1)
        self.simulator = simulator
        self.pricing = (pricing or Pricing(mode=self.settings.pricing_mode)).with_prices(
            prices or {}
        )
        #: default of `repair=` on calls: fix code fences and trailing commas in tool-call JSON
        self.repair_tool_calls = repair_tool_calls
        self.rate_limiter = RateLimiter(rate_limits or {})
        #: the items of the latest batch or comparison, kept even when it was interrupted
        self.last_batch: list[BatchItem] = []
        #: the calls of the experiment (or comparison) running or last run, filled as they
        #: finish (a new list per run): what progress views poll
        self.last_calls: list[CallRecord] = []
        #: keywords every call gets unless it passes its own (role, models, temperature, …);
        #: the widgets' state model writes here
        self.defaults: dict[str, Any] = {}
        self._routes = ProviderSet(
            self.settings,
            self.roles,
            breaker_threshold=breaker_threshold,
            breaker_cooldown_s=breaker_cooldown_s,
        )
        self._providers = self._routes.providers
        self._auths = self._routes.auths
        #: one circuit breaker per configured provider (the widgets show their state)
        self.breakers = self._routes.breakers
        #: the response cache (`cache=` or NVGW_CACHE), or None; see `nvgw_nb.cache`
        self.cache, self._owns_cache = open_cache(cache, self.settings.cache_path)
        self._portal = LoopThread()
        s = self.settings
        self._client = make_client(
            transport or s.transport,
            read_s=s.read_timeout_s,
            connect_s=s.connect_timeout_s,
            settings=s,  # its proxies and trusted CAs: nvgw_nb/network.py
        )
        engine = Engine(
            client=self._client,
            providers=self._providers,
            auths=self._auths,
            policy=self.retry,
            breakers=self.breakers,
            deadlines=Deadlines(attempt_s=s.attempt_deadline_s, call_s=s.call_deadline_s),
            pricing=self.pricing,
            limiter=self.rate_limiter,
            max_wait_s=s.max_wait_s,
            limits=Limits.from_settings(s),
        )
        self._core = engine  # the engine itself, under the cache layer when there is one
        self._engine: Engine | CachingEngine = (
            engine
            if self.cache is None
            else CachingEngine(engine, self.cache, replay_simulated=self.simulated)
        )
        self._owned: list[Any] = []
        # A Session dropped without close() still closes its connections (aiohttp would
        # otherwise report an unclosed session at exit), then stops its loop.
        self._finalizer = weakref.finalize(self, _release, self._portal, self._client)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_env(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Session:
        """Settings from `overrides` > `env` (default: os.environ) > `env_file`.

        Overrides are settings (`provider_order=[...]`, `allow_external=True`,
        `llm_gateway_model="gpt-4o"`, …) or Session options (`roles=`, `retry=`,
        `transport=`, `breaker_threshold=`, `breaker_cooldown_s=`).
        """
        own = set(inspect.signature(cls).parameters) - {"settings"}
        session_args = {k: overrides.pop(k) for k in list(overrides) if k in own}
        settings = Settings.load(env=env, env_file=env_file, **overrides)
        return cls(settings, **session_args)

    # --- configuration that widgets and users change ------------------------------------
    @property
    def provider_order(self) -> tuple[str, ...]:
        """The providers tried, in order; assign a list to change it."""
        return self._routes.order

    @provider_order.setter
    def provider_order(self, order: Sequence[str]) -> None:
        self._routes.set_order(order)

    @property
    def simulated(self) -> bool:
        """True when this Session talks to nvgw_nb's built-in simulator."""
        return self.simulator is not None

    @property
    def latencies(self) -> LatencyTracker:
        """Recent latencies per provider, as `hedge_after="p95"` sees them (read it; the
        engine feeds it): `session.latencies.p95("nvidia-nim")`, `.snapshot()`."""
        return self._core.latencies

    @property
    def closed(self) -> bool:
        return self._portal.closed

    def token_status(self) -> dict[str, Any]:
        """The Starfleet token's life (never the token): whether one is held, fetch count,
        seconds until expiry and until the early refresh, and the last refresh error."""
        auth = next((a for a in self._auths.values() if isinstance(a, StarfleetAuth)), None)
        return auth.status() if auth is not None else {"configured": False}

    def plan(
        self,
        *,
        role: str | Role | None = None,
        models: Mapping[str, str] | None = None,
        providers: Sequence[str] | None = None,
        fallbacks: bool = True,
    ) -> list[Step]:
        """The providers and models a call with these arguments would try, in order."""
        return self._routes.plan(role=role, models=models, providers=providers, fallbacks=fallbacks)

    # --- calls --------------------------------------------------------------------------
    def _prepare(
        self, method: str, prompt: str | None, options: Mapping[str, Any], *, stream: bool
    ) -> tuple[ChatRequest, list[Step], CallPolicy]:
        """Validate everything a call was given — before any request is sent."""
        if self.closed:
            raise SessionClosed("This Session is closed; create a new one with nv.connect()")
        check_options(method, options, StreamOptions if stream else ChatOptions)
        check_options("Session.defaults", self.defaults, StreamOptions)
        if stream and options.get("hedge_after") is not None:
            raise ConfigError(
                "hedge_after does not apply to streams: their text is shown as it arrives, "
                "so a second provider cannot race the first; use chat() to hedge"
            )
        options = {**self.defaults, **options}
        wire, output_model = response_format_spec(options.get("response_format"))
        request = chat_request(
            prompt, stream=stream, response_format=wire, **{k: options.get(k) for k in WIRE_OPTIONS}
        )
        steps = self.plan(
            role=options.get("role"),
            models=options.get("models"),
            providers=options.get("providers"),
            fallbacks=options.get("fallbacks", True),
        )
        policy = call_policy(
            options,
            stream=stream,
            output_model=output_model,
            repair_default=self.repair_tool_calls,
            has_cache=self.cache is not None,
        )
        return request, steps, policy

    def _prepare_job(
        self, prompt: str, options: Mapping[str, Any]
    ) -> tuple[ChatRequest, list[Step], CallPolicy]:
        return self._prepare("batch", prompt, options, stream=False)

    @with_signature(ChatOptions)
    def chat(self, prompt: str | None = None, **options: Unpack[ChatOptions]) -> ChatResult:
        """Ask, with fallback; blocks until the answer (Ctrl-C cancels the request).

        Keywords: messages, system, role, models, providers, fallbacks, temperature,
        top_p, max_tokens, stop, seed, tools, tool_choice, response_format (a pydantic
        model or JSON schema: the result carries `.parsed`), validator, repair,
        hedge_after (seconds, or "p95": if the first provider has not answered by then,
        ask the next one too; the first valid answer wins, the other is cancelled).

        >>> r = session.chat("Summarise this diff: ...", role="planner")  # doctest: +SKIP
        """
        request, steps, call = self._prepare("chat", prompt, options, stream=False)
        return self._portal.run(self._engine.chat(request, steps, call))

    @with_signature(ChatOptions)
    async def achat(self, prompt: str | None = None, **options: Unpack[ChatOptions]) -> ChatResult:
        """`chat` for `await`, from any event loop (task cancellation cancels the request)."""
        request, steps, call = self._prepare("achat", prompt, options, stream=False)
        return await self._portal.arun(self._engine.chat(request, steps, call))

    @with_signature(StreamOptions)
    def stream(self, prompt: str | None = None, **options: Unpack[StreamOptions]) -> ChatStream:
        """Stream the answer: iterate for text chunks, then read `.result`.

        A provider that fails before any text is shown falls back transparently. One
        that breaks after text was shown raises `StreamInterrupted` with the partial
        text — or, with `stream_mode="restart"`, yields a chunk with `reset=True` and
        starts over on the next provider.

        >>> for chunk in session.stream("Explain NVCF polling"):  # doctest: +SKIP
        ...     print(chunk, end="")
        """
        request, steps, call = self._prepare("stream", prompt, options, stream=True)
        return ChatStream(self._portal, self._engine.stream(request, steps, call))

    @with_signature(StreamOptions)
    def astream(
        self, prompt: str | None = None, **options: Unpack[StreamOptions]
    ) -> AsyncChatStream:
        """`stream` for `async for`; `.result` once it has ended."""
        request, steps, call = self._prepare("astream", prompt, options, stream=True)
        return AsyncChatStream(self._portal, self._engine.stream(request, steps, call))

    # --- many calls -----------------------------------------------------------------------
    async def _run_jobs(
        self, jobs: Sequence[Job], *, concurrency: int, bar: Any, save_to: str | Path | None
    ) -> list[BatchItem]:
        """Run jobs on the Session's loop; items in job order; finished ones kept on cancel."""
        finished: list[BatchItem] = []
        self.last_batch = finished

        async def chat(job: Job) -> ChatResult:
            return await self._engine.chat(job.request, job.steps, job.policy)

        items = await self._portal.arun(
            run_jobs(
                jobs, chat, concurrency=concurrency, finished=finished, save_to=save_to, bar=bar
            )
        )
        self.last_batch = items
        return items

    def _batch_jobs(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        role: str | None,
        concurrency: int,
        options: Mapping[str, Any],
    ) -> list[Job]:
        check_options("batch", options, BatchOptions)
        return plan_jobs(prompts, role, options, self._prepare_job, concurrency=concurrency)[1]

    def batch(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        *,
        role: str | None = None,
        concurrency: int = 8,
        progress: bool = True,
        save_to: str | Path | None = None,
        **options: Unpack[BatchOptions],
    ) -> list[BatchItem]:
        """Ask many prompts with fallback; one `BatchItem` per prompt, in input order.

        A failure is a recorded item, not a lost row. Ctrl-C cancels what is running;
        finished items stay in `session.last_batch`. `save_to="run.jsonl"` appends each
        item as it finishes (`nv.load_results` reads it back). Other keywords are those
        of `chat`. Prompts may be strings or {"prompt": ..., "role": ...} dicts.

        >>> items = session.batch(["Summarise A", "Summarise B"], role="reviewer")  # doctest: +SKIP
        """
        jobs = self._batch_jobs(prompts, role, concurrency, options)
        bar = progress_bar(len(jobs), "batch") if progress else None
        return self._portal.run(
            self._run_jobs(jobs, concurrency=concurrency, bar=bar, save_to=save_to)
        )

    async def abatch(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        *,
        role: str | None = None,
        concurrency: int = 8,
        progress: bool = True,
        save_to: str | Path | None = None,
        **options: Unpack[BatchOptions],
    ) -> list[BatchItem]:
        """`batch` for `await` (task cancellation keeps finished items in `last_batch`)."""
        jobs = self._batch_jobs(prompts, role, concurrency, options)
        bar = progress_bar(len(jobs), "batch") if progress else None
        return await self._run_jobs(jobs, concurrency=concurrency, bar=bar, save_to=save_to)

    def _comparison(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        providers: Sequence[str],
        role: str | None,
        repeats: int,
        concurrency: int,
        scorers: Sequence[Scorer],
        options: Mapping[str, Any],
    ) -> tuple[Experiment, tuple[str, ...], list[BatchPrompt]]:
        """A comparison is an experiment that varies the provider, measured: no cache."""
        from nvgw_nb.experiments.grid import Experiment

        check_options("compare", options, RequestOptions)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        names, items, cases = comparison_cases(prompts, providers, role)
        experiment = Experiment(
            self,
            cases,
            vary={"provider": list(names)},
            repeats=repeats,
            scorers=scorers,
            options=options,
            cache=False,
            label="compare",
        )
        return experiment, names, items

    def compare(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        *,
        providers: Sequence[str] = ("nvidia-nim", "nvidia-gateway"),
        role: str | None = None,
        repeats: int = 1,
        concurrency: int = 8,
        progress: bool = True,
        scorers: Sequence[Scorer] = (),
        **options: Unpack[RequestOptions],
    ) -> Comparison:
        """Every prompt on every provider, pinned (no fallback), `repeats` times.

        An experiment that varies the provider: jobs are interleaved across providers so
        load over time hits both alike. `scorers=[nv.checks....]` adds answer quality
        (`cmp.run` is the experiment's Run; the summary gains the paired verdicts).

        >>> cmp = session.compare(prompts, repeats=3)   # doctest: +SKIP
        >>> cmp.summary(); cmp.plot()                   # doctest: +SKIP
        """
        experiment, names, items = self._comparison(
            prompts, providers, role, repeats, concurrency, scorers, options
        )
        run = experiment.run(concurrency=concurrency, progress=progress)
        return Comparison.from_run(run, names, items)

    async def acompare(
        self,
        prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
        *,
        providers: Sequence[str] = ("nvidia-nim", "nvidia-gateway"),
        role: str | None = None,
        repeats: int = 1,
        concurrency: int = 8,
        progress: bool = True,
        scorers: Sequence[Scorer] = (),
        **options: Unpack[RequestOptions],
    ) -> Comparison:
        """`compare` for `await`."""
        experiment, names, items = self._comparison(
            prompts, providers, role, repeats, concurrency, scorers, options
        )
        run = await experiment.arun(concurrency=concurrency, progress=progress)
        return Comparison.from_run(run, names, items)

    def experiment(
        self,
        cases: Iterable[Case | str | Mapping[str, Any]],
        *,
        vary: Mapping[str, Any] | None = None,
        repeats: int = 1,
        scorers: Sequence[Scorer] = (),
        seed: int = 0,
        **options: Unpack[ExperimentOptions],
    ) -> Experiment:
        """Cases × a grid over any call setting × repeats, scored → `Experiment` (lazy).

        `vary` axes: provider, model (a list, or {provider: [models]}), system and
        template (lists, or {label: text}), temperature, top_p, max_tokens, role, or any
        other call keyword; other keywords apply to every cell. Each cell pins its
        provider. `exp.plan()` before spending, `exp.run()` / `await exp.arun()`.

        >>> exp = session.experiment(nv.load_cases("examples/cases.jsonl"),
        ...     vary={"provider": ["nvidia-nim", "nvidia-gateway"]},
        ...     scorers=[nv.checks.expected()])                      # doctest: +SKIP
        """
        from nvgw_nb.experiments.grid import Experiment

        return Experiment(
            self, cases, vary=vary, repeats=repeats, scorers=scorers, seed=seed, options=options
        )

    # --- widgets (loaded on first use: `import nvgw_nb` stays free of ipywidgets) ---------
    def playground(self, prompt: str = "") -> Playground:
        """Prompt box, pickers, streaming output and trace: `nv.widgets.Playground(self)`."""
        from nvgw_nb.widgets import Playground

        return Playground(self, prompt=prompt)

    def compare_board(self, prompts: str = "") -> CompareBoard:
        """Run comparisons from a form: `nv.widgets.CompareBoard(self)`."""
        from nvgw_nb.widgets import CompareBoard

        return CompareBoard(self, prompts=prompts)

    def models(self, provider: str = "nvidia-nim") -> list[str]:
        """Models a provider offers: its live list where it has one (NIM's `/v1/models`);
        for the others, the models this Session's settings and roles name (the gateway's
        deployments are configured, not listed)."""
        if not registry.provider_class(provider).lists_models:
            configured = {self._routes.model_for(provider, None, None)}
            return sorted(
                configured
                | {r.models[provider] for r in self.roles.values() if provider in r.models}
            )
        if provider not in self._providers:
            raise ConfigError(f"{provider} is not configured in this Session")
        # Within the attempt deadline and the read limits, as a chat's attempt is.
        return self._portal.run(self._core.list_models(provider))

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        input_type: str = "passage",
        truncate: str = "NONE",
        model: str | None = None,
    ) -> Embeddings:
        """Embedding vectors from NIM's `/v1/embeddings` (NIM only): `input_type` "query"
        or "passage" (use the same on both sides when comparing answers), `truncate`
        "NONE" (an over-long text is an error), "START" or "END". `model` defaults to
        the first id with "embed" in NIM's `/v1/models`. See `nvgw_nb.embeddings`.

        >>> session.embed(["an answer", "the reference"]).vectors  # doctest: +SKIP
        """
        from nvgw_nb.embeddings import check_texts, embed

        if self.closed:
            raise SessionClosed("This Session is closed; create a new one with nv.connect()")
        checked = check_texts(texts, input_type, truncate, model)
        return self._portal.run(
            embed(self._core, checked, input_type=input_type, truncate=truncate, model=model)
        )

    async def aembed(
        self,
        texts: str | Sequence[str],
        *,
        input_type: str = "passage",
        truncate: str = "NONE",
        model: str | None = None,
    ) -> Embeddings:
        """`embed` for `await`, from any event loop."""
        from nvgw_nb.embeddings import check_texts, embed

        if self.closed:
            raise SessionClosed("This Session is closed; create a new one with nv.connect()")
        checked = check_texts(texts, input_type, truncate, model)
        return await self._portal.arun(
            embed(self._core, checked, input_type=input_type, truncate=truncate, model=model)
        )

    # --- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client and stop the private loop (idempotent).

        Calls still running (in other threads or tasks) end with `SessionClosed`. In a
        child made by fork, this only marks the parent's Session unusable here.
        """
        if self.closed:
            return
        self._stop()

    async def aclose(self) -> None:
        """`close` for async code."""
        if self.closed:
            return
        if self._portal.in_loop():  # stopping the loop cannot wait for itself
            await self._client.aclose()
        self._stop()

    def _stop(self) -> None:
        """Cancel running calls, close the client, stop the loop, what the Session owns,
        its cache (in a forked child these belong to the parent: left alone)."""
        forked = self._portal.forked
        self._portal.stop(cleanup=self._client.aclose)
        if forked:
            return
        for owned in self._owned:
            owned.stop()
        self._owned.clear()
        if self.cache is not None and self._owns_cache:
            self.cache.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        where = "simulator" if self.simulated else "real endpoints"
        return f"<Session {state}, {where}, order={' → '.join(self.provider_order)}>"


def _release(portal: LoopThread, client: httpx.AsyncClient) -> None:
    """Close `client` on `portal`'s loop, then stop the loop (for a Session never closed)."""
    portal.stop(cleanup=client.aclose)
