"""Session.embed / aembed: NIM's /v1/embeddings request shape, model resolution, errors, cost."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import nvgw_nb as nv
from nvgw_nb.errors import (
    BadRequest,
    ConfigError,
    MalformedResponse,
    ProviderAuthError,
    RateLimited,
    ResponseTooLarge,
    SessionClosed,
)

#: a canary made at run time: no key-shaped literal in the repository
KEY = f"canary-embed-{uuid.uuid4().hex}"
ENV = {
    "NVIDIA_NIM_API_KEY": KEY,
    "NVIDIA_NIM_BASE_URL": "https://nim.test/v1",
    "NVIDIA_LLM_GATEWAY_ENABLED": "false",
}
MODELS = [
    "meta/llama-4-scout-17b-16e-instruct",
    "nvidia/nv-embedqa-e5-v5",
    "nvidia/llama-3.2-nv-embedqa-1b-v2",
]


def vector_of(text: str) -> list[float]:
    """A deterministic 4-dimensional vector for `text`."""
    return [float(len(text)), float(text.count("a")), 1.0, float(ord(text[0]) % 7)]


@dataclass
class FakeNim:
    """A MockTransport handler for NIM's /v1/models and /v1/embeddings."""

    models: list[str] = field(default_factory=lambda: list(MODELS))
    #: status codes to answer the next embeddings requests with, before answering 200
    failures: list[int] = field(default_factory=list)
    usage: bool = True
    requests: list[httpx.Request] = field(default_factory=list)
    shape: str = "ok"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": m} for m in self.models]})
        assert request.url.path == "/v1/embeddings"
        if self.failures:
            status = self.failures.pop(0)
            error = {"object": "error", "message": f"failure {status}", "type": "Error"}
            headers = {"retry-after": "0"} if status == 429 else {}
            return httpx.Response(status, json=error, headers=headers)
        sent = json.loads(request.content)
        data = [
            {"index": i, "embedding": vector_of(t), "object": "embedding"}
            for i, t in enumerate(sent["input"])
        ]
        if self.shape == "reversed":
            data.reverse()
        elif self.shape == "short":
            data = data[:-1]
        elif self.shape == "base64":
            data = [{"index": 0, "embedding": "AAAA"}]
        body: dict[str, Any] = {"object": "list", "data": data, "model": sent["model"]}
        if self.usage:
            body["usage"] = {"prompt_tokens": 7 * len(sent["input"]), "total_tokens": 7}
        return httpx.Response(200, json=body)

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == "/v1/embeddings"]

    @property
    def model_lists(self) -> int:
        return sum(r.url.path == "/v1/models" for r in self.requests)


def session_on(fake: FakeNim, **options: Any) -> nv.Session:
    return nv.Session.from_env(
        env=ENV,
        env_file=None,
        transport=httpx.MockTransport(fake),
        retry=nv.RetryPolicy.no_wait(),
        **options,
    )


@pytest.fixture
def fake() -> FakeNim:
    return FakeNim()


@pytest.fixture
def nim(fake: FakeNim) -> Iterator[nv.Session]:
    with session_on(fake) as s:
        yield s


def test_request_has_nims_shape(nim: nv.Session, fake: FakeNim) -> None:
    """POST {base}/embeddings with model, input, input_type, truncate, float encoding."""
    found = nim.embed(["alpha", "beta"], input_type="query", truncate="END")
    request = next(r for r in fake.requests if r.url.path == "/v1/embeddings")
    assert str(request.url) == "https://nim.test/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "nvidia/llama-3.2-nv-embedqa-1b-v2",
        "input": ["alpha", "beta"],
        "input_type": "query",
        "truncate": "END",
        "encoding_format": "float",
    }
    assert found.vectors == [vector_of("alpha"), vector_of("beta")]
    assert (found.provider, found.prompt_tokens, found.simulated) == ("nvidia-nim", 14, False)


def test_defaults_are_passage_and_no_truncation(nim: nv.Session, fake: FakeNim) -> None:
    """input_type="passage", truncate="NONE" unless asked; one string is a list of one."""
    found = nim.embed("alpha")
    sent = fake.embedding_requests[0]
    assert (sent["input"], sent["input_type"], sent["truncate"]) == (["alpha"], "passage", "NONE")
    assert len(found) == 1


def test_model_resolved_once_per_session(nim: nv.Session, fake: FakeNim) -> None:
    """The first listed id containing "embed" (sorted), looked up once per Session."""
    nim.embed(["a"])
    nim.embed(["b"])
    assert fake.model_lists == 1
    assert {r["model"] for r in fake.embedding_requests} == {"nvidia/llama-3.2-nv-embedqa-1b-v2"}


def test_given_model_skips_the_listing(nim: nv.Session, fake: FakeNim) -> None:
    """model= is sent as given, without asking /v1/models."""
    found = nim.embed(["a"], model="nvidia/nv-embedqa-e5-v5")
    assert fake.model_lists == 0
    assert found.model == "nvidia/nv-embedqa-e5-v5"


def test_no_embedding_model_listed_is_a_config_error() -> None:
    """A listing without an "embed" id says to pass model=."""
    fake = FakeNim(models=["meta/llama-4-scout-17b-16e-instruct"])
    with session_on(fake) as s, pytest.raises(ConfigError, match=r"no embedding model.*model="):
        s.embed(["a"])


def test_nim_not_configured_is_a_config_error() -> None:
    """Without NIM, embed names the fact and the key to set."""
    env = {
        "NVGW_PROVIDER_ORDER": "openai",
        "NVGW_ALLOW_EXTERNAL": "true",
        "OPENAI_API_KEY": "sk-test",
        "NVIDIA_LLM_GATEWAY_ENABLED": "false",
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(500))
    says = r"nvidia-nim is not configured.*NVIDIA_NIM_API_KEY"
    with (
        nv.Session.from_env(env=env, env_file=None, transport=transport) as s,
        pytest.raises(ConfigError, match=says),
    ):
        s.embed(["a"])


@pytest.mark.parametrize(
    ("texts", "options", "says"),
    [
        ([], {}, "at least one text"),
        ([""], {}, "texts\\[0\\] is empty"),
        (["a", 3], {}, "texts\\[1\\] is int"),
        (42, {}, "list of strings"),
        (["a"], {"input_type": "document"}, "input_type"),
        (["a"], {"truncate": "end"}, "truncate"),
        (["a"], {"model": " "}, "model"),
        (["\ud800"], {}, "surrogate"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    nim: nv.Session, fake: FakeNim, texts: Any, options: dict[str, Any], says: str
) -> None:
    """Bad texts or options are a ConfigError, and nothing is sent."""
    with pytest.raises(ConfigError, match=says):
        nim.embed(texts, **options)
    assert fake.requests == []


def test_429_and_5xx_are_retried(fake: FakeNim) -> None:
    """A 429 and a 503 are retried per the RetryPolicy; the third try answers."""
    fake.failures = [429, 503]
    with session_on(fake) as s:
        found = s.embed(["a"], model="m-embed")
    assert len(fake.embedding_requests) == 3
    assert found.vectors == [vector_of("a")]


def test_retries_end_with_the_status_error(fake: FakeNim) -> None:
    """When every try is rate limited, RateLimited is raised after `attempts` tries."""
    fake.failures = [429] * 5
    with session_on(fake) as s, pytest.raises(RateLimited) as info:
        s.embed(["a"], model="m-embed")
    assert len(fake.embedding_requests) == 3
    assert info.value.provider == "nvidia-nim"


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadRequest), (401, ProviderAuthError), (403, ProviderAuthError)]
)
def test_client_errors_are_not_retried_and_never_show_the_key(
    fake: FakeNim, status: int, error: type[Exception]
) -> None:
    """4xx answers become the SDK's errors at once; the key is in no message."""
    fake.failures = [status]
    with session_on(fake) as s, pytest.raises(error) as info:
        s.embed(["a"], model="m-embed")
    assert len(fake.embedding_requests) == 1
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.__dict__)


@pytest.mark.parametrize(("shape", "ok"), [("reversed", True), ("short", False), ("base64", False)])
def test_answers_are_checked(fake: FakeNim, shape: str, ok: bool) -> None:
    """Vectors are put back in input order; a wrong count or non-float data is malformed."""
    fake.shape = shape
    with session_on(fake) as s:
        if ok:
            assert s.embed(["a", "bb"], model="m-embed").vectors == [
                vector_of("a"),
                vector_of("bb"),
            ]
        else:
            with pytest.raises(MalformedResponse):
                s.embed(["a", "bb"], model="m-embed")


def test_a_body_over_the_limit_is_refused(fake: FakeNim) -> None:
    """The body is read under NVGW_MAX_BODY_BYTES like any answer."""
    env = {**ENV, "NVGW_MAX_BODY_BYTES": "1024"}
    transport = httpx.MockTransport(fake)
    with (
        nv.Session.from_env(env=env, env_file=None, transport=transport) as s,
        pytest.raises(ResponseTooLarge),
    ):
        s.embed(["a" * 10] * 40, model="m-embed")


def test_long_lists_go_in_batches_of_64(nim: nv.Session, fake: FakeNim) -> None:
    """130 texts: three requests (64, 64, 2), vectors in order, tokens summed."""
    texts = [f"text {i}" for i in range(130)]
    found = nim.embed(texts, model="m-embed")
    assert [len(r["input"]) for r in fake.embedding_requests] == [64, 64, 2]
    assert found.vectors == [vector_of(t) for t in texts]
    assert found.prompt_tokens == 7 * 130


def test_cost_uses_the_price_table() -> None:
    """No default price for embedding models: 0.0; a price given to the Session applies."""
    with session_on(FakeNim()) as s:
        assert s.embed(["a", "b"], model="m-embed").cost_usd == 0.0
    with session_on(FakeNim(), prices={"m-embed": (0.02, 0.0)}) as s:
        found = s.embed(["a", "b"], model="m-embed")
    assert found.cost_usd == pytest.approx(14 * 0.02 / 1e6)


def test_missing_usage_is_estimated_and_says_so() -> None:
    """Without a usage block, tokens are estimated from characters."""
    with session_on(FakeNim(usage=False)) as s:
        found = s.embed(["a" * 40], model="m-embed")
    assert (found.prompt_tokens, found.usage_estimated) == (10, True)


def test_aembed_from_another_loop(nim: nv.Session, fake: FakeNim) -> None:
    """aembed works from the caller's own event loop."""
    found = asyncio.run(nim.aembed(["alpha"], model="m-embed"))
    assert found.vectors == [vector_of("alpha")]


def test_closed_session_refuses(fake: FakeNim) -> None:
    """embed on a closed Session is SessionClosed."""
    s = session_on(fake)
    s.close()
    with pytest.raises(SessionClosed):
        s.embed(["a"])


def test_on_the_simulator(session: nv.Session) -> None:
    """The simulator's NIM: the model comes from its /v1/models, the answer is marked
    simulated, and texts sharing words are closer than texts that share none."""
    from nvgw_nb.experiments.checks import cosine

    found = session.embed(["red apple pie", "red apple tart", "quantum tunnelling"])
    assert "embed" in found.model
    assert found.simulated
    assert "SIMULATED" in repr(found)
    near = cosine(found.vectors[0], found.vectors[1])
    far = cosine(found.vectors[0], found.vectors[2])
    assert near > far
    assert found.prompt_tokens > 0
