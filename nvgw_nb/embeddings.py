"""Text embeddings from NIM's `/v1/embeddings`: what `Session.embed` / `aembed` run.

NIM only (the gateway has no embeddings route here). The model id, when not given, is
the first id containing "embed" in NIM's `/v1/models` list, looked up once per Session.
Each request is read as a chat attempt is (the attempt deadline and the read limits);
429 and 5xx answers are retried as the Session's `RetryPolicy` allows, paced by its rate
limiter; there is no fallback and no circuit breaker. Errors are the SDK's usual
`NvgwError`s (`RateLimited`, `BadRequest` for a text over the model's limit with
truncate="NONE", ...).

Cost: the Session's price table, when it has a price for the embedding model; none of
the defaults does — NVIDIA lists no per-token price for its hosted embeddings (the trial
is free), so `cost_usd` is 0.0 unless you add one (`Session(prices={model: (p, 0)})`).

>>> found = session.embed(["NIM answer", "gateway answer"])   # doctest: +SKIP
>>> len(found.vectors), found.model                            # doctest: +SKIP
(2, 'nvidia/llama-3.2-nv-embedqa-1b-v2')
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx
from pydantic import BaseModel, ConfigDict

from nvgw_nb.errors import ConfigError, NvgwError, RateLimited
from nvgw_nb.exchange import SIMULATOR_HEADER, embeddings
from nvgw_nb.inputs import check_unicode
from nvgw_nb.outcomes import clean, retry_wait, status_error
from nvgw_nb.providers.nim import EmbeddingReply, NimProvider
from nvgw_nb.results import Usage
from nvgw_nb.steps import Step

if TYPE_CHECKING:
    from nvgw_nb.engine import Engine

__all__ = [
    "BATCH",
    "INPUT_TYPES",
    "PROVIDER",
    "TRUNCATE",
    "Embeddings",
    "check_texts",
    "embed",
    "request_embeddings",
]

logger = logging.getLogger("nvgw_nb")

#: the one provider with an embeddings endpoint
PROVIDER = "nvidia-nim"
#: NIM's asymmetric retrieval models embed questions and passages differently
INPUT_TYPES = ("query", "passage")
#: what NIM does with a text over the model's limit: refuse it, or cut its start or end
TRUNCATE = ("NONE", "START", "END")
#: the most texts sent in one request; longer lists are sent in several
BATCH = 64

# the embedding model resolved from /v1/models, per engine (one engine per Session)
_RESOLVED: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


class Embeddings(BaseModel):
    """Vectors for texts, in their order, and what they cost.

    `prompt_tokens` is NIM's count (estimated from characters, ~4 per token, when it
    reported none: `usage_estimated`); `simulated` is True when nvgw_nb's simulator
    answered.
    """

    model_config = ConfigDict(frozen=True)

    vectors: list[list[float]]
    model: str
    provider: str = PROVIDER
    prompt_tokens: int = 0
    cost_usd: float = 0.0
    simulated: bool = False
    usage_estimated: bool = False

    def __len__(self) -> int:
        return len(self.vectors)

    def __repr__(self) -> str:  # the vectors would fill a notebook
        width = len(self.vectors[0]) if self.vectors else 0
        marks = ", SIMULATED" if self.simulated else ""
        return (
            f"<Embeddings {len(self.vectors)} × {width} from {self.model}, "
            f"{self.prompt_tokens} tokens, ${self.cost_usd:.6f}{marks}>"
        )


def check_texts(
    texts: str | Sequence[str], input_type: str, truncate: str, model: str | None
) -> list[str]:
    """The texts as a list (one string: a list of one), or a ConfigError naming what is
    wrong — before anything is sent."""
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence):
        raise ConfigError(f"embed() takes a list of strings, not {type(texts).__name__}")
    out = list(items)
    if not out:
        raise ConfigError("embed() needs at least one text")
    for index, text in enumerate(out):
        if not isinstance(text, str):
            raise ConfigError(f"texts[{index}] is {type(text).__name__}, not a string")
        if not text.strip():
            raise ConfigError(f"texts[{index}] is empty: NIM refuses empty input")
    check_unicode(out, "texts")
    if input_type not in INPUT_TYPES:
        raise ConfigError(f"input_type must be 'query' or 'passage', not {input_type!r}")
    if truncate not in TRUNCATE:
        raise ConfigError(f"truncate must be 'NONE', 'START' or 'END', not {truncate!r}")
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("model must be a model name")
        check_unicode(model, "model")
    return out


def _nim(engine: Engine) -> NimProvider:
    provider = engine.providers.get(PROVIDER)
    if not isinstance(provider, NimProvider):
        raise ConfigError(
            f"embeddings come from NIM's /v1/embeddings, and {PROVIDER} is not configured in "
            f"this Session: set {NimProvider.key_variables[0]} (a key from build.nvidia.com)"
        )
    return provider


async def resolve_model(engine: Engine) -> str:
    """The first model id containing "embed" in NIM's `/v1/models`, cached per engine."""
    known = _RESOLVED.get(engine)
    if known is not None:
        return known
    ids = await engine.list_models(PROVIDER)
    found = next((i for i in ids if "embed" in i.lower()), None)
    if found is None:
        raise ConfigError(
            f"{PROVIDER} lists no embedding model (no id containing 'embed' among its "
            f"{len(ids)} models); pass model=, e.g. 'nvidia/llama-3.2-nv-embedqa-1b-v2'"
        )
    _RESOLVED[engine] = found
    return found


async def embed(
    engine: Engine,
    texts: Sequence[str],
    *,
    input_type: str,
    truncate: str,
    model: str | None,
) -> Embeddings:
    """Embed checked `texts` (`check_texts`) on NIM, in requests of at most `BATCH`."""
    _nim(engine)
    chosen = model if model is not None else await resolve_model(engine)
    vectors: list[list[float]] = []
    tokens = 0
    estimated = simulated = False
    named: str | None = None
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        reply, sim = await request_embeddings(
            engine, PROVIDER, batch, chosen, input_type=input_type, truncate=truncate
        )
        vectors.extend(reply.vectors)
        if reply.prompt_tokens is None:
            tokens += sum(max(1, len(t) // 4) for t in batch)
            estimated = True
        else:
            tokens += reply.prompt_tokens
        simulated = simulated or sim
        named = named or reply.model
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    return Embeddings(
        vectors=vectors,
        model=named or chosen,
        prompt_tokens=tokens,
        cost_usd=engine.pricing.cost(PROVIDER, chosen, usage),
        simulated=simulated,
        usage_estimated=estimated,
    )


async def request_embeddings(
    engine: Engine,
    name: str,
    texts: Sequence[str],
    model: str,
    *,
    input_type: str,
    truncate: str,
) -> tuple[EmbeddingReply, bool]:
    """One embeddings request (with its retries) to provider `name`: the reply and
    whether the simulator answered. The last error is raised, as an NvgwError."""
    provider = _nim(engine) if name == PROVIDER else engine.providers[name]
    if not isinstance(provider, NimProvider):
        raise ConfigError(f"{name} has no embeddings endpoint")
    step = Step(name, model)

    def parse(answer: httpx.Response) -> tuple[EmbeddingReply, bool]:
        if answer.status_code >= 300:
            raise status_error(provider, answer, step)
        simulated = answer.headers.get(SIMULATOR_HEADER) == "1"
        return provider.parse_embeddings(answer, len(texts)), simulated

    call_deadline = engine.clock() + engine.deadlines.call_s
    retry = 0
    while True:
        if engine.limiter is not None:
            await engine.limiter.acquire(name, deadline=call_deadline, max_wait=None)
        deadline = min(engine.clock() + engine.deadlines.attempt_s, call_deadline)
        request = provider.embeddings_request(
            texts, model, input_type=input_type, truncate=truncate
        )
        try:
            found = await embeddings(
                engine.client,
                name,
                request,
                engine.auths.get(name),
                parse,
                deadline=deadline,
                limits=engine.limits,
                clock=engine.clock,
            )
        except NvgwError as err:
            if engine.limiter is not None and isinstance(err, RateLimited):
                engine.limiter.throttled(name, err.retry_after_s)
            wait = retry_wait(
                err,
                retry,
                policy=engine.policy,
                breaker_state="closed",
                now=engine.clock(),
                call_deadline=call_deadline,
            )
            if wait is None:
                clean(err)
                raise err from None
            logger.info(
                "%s embeddings attempt %d failed (%s); retrying in %.2f s",
                name,
                retry + 1,
                err.kind,
                wait,
            )
            await engine.sleep(wait)
            retry += 1
            continue
        if engine.limiter is not None:
            engine.limiter.succeeded(name)
        return found
