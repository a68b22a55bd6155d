"""NIM's /v1/embeddings on the simulator: shape, SIMULATED vectors and errors."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from nvgw_nb.sim import Simulator
from nvgw_nb.sim.embeddings import MAX_TOKENS

MODEL = "nvidia/llama-3.2-nv-embedqa-1b-v2"


@pytest.fixture
def sim() -> Simulator:
    return Simulator(time_scale=0)


def post(sim: Simulator, body: Any, *, key: str | None = None) -> httpx.Response:
    client = httpx.Client(transport=sim.transport(), base_url="http://sim")
    token = sim._core.credentials.nim_api_key if key is None else key
    return client.post(
        "/nim/v1/embeddings", json=body, headers={"authorization": f"Bearer {token}"}
    )


def embed(sim: Simulator, texts: list[str], input_type: str = "passage", **kw: Any) -> Any:
    body = {"model": MODEL, "input": texts, "input_type": input_type, "truncate": "NONE"}
    resp = post(sim, {**body, "encoding_format": "float", **kw})
    assert resp.status_code == 200, resp.text
    return resp.json()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_response_shape(sim: Simulator) -> None:
    """NIM's list of unit vectors with indexes, the model and token usage (ceil(chars/4))."""
    doc = embed(sim, ["hello world", "a longer passage of text"])
    assert doc["object"] == "list"
    assert doc["model"] == MODEL
    assert [d["index"] for d in doc["data"]] == [0, 1]
    assert {d["object"] for d in doc["data"]} == {"embedding"}
    for item in doc["data"]:
        assert len(item["embedding"]) == 1024
        assert math.isclose(math.sqrt(cosine(item["embedding"], item["embedding"])), 1.0)
    assert doc["usage"] == {"prompt_tokens": 3 + 6, "total_tokens": 9}


def test_a_single_string_and_dimensions(sim: Simulator) -> None:
    """`input` may be one string; `dimensions` sets the vector length."""
    doc = embed(sim, "just one", dimensions=256)  # type: ignore[arg-type]
    assert len(doc["data"]) == 1
    assert len(doc["data"][0]["embedding"]) == 256


def test_vectors_are_deterministic(sim: Simulator) -> None:
    """The same text gives the same vector, in this and in another simulator."""
    one = embed(sim, ["retry with jitter"])["data"][0]["embedding"]
    two = embed(Simulator(time_scale=0, seed=9), ["retry with jitter"])["data"][0]["embedding"]
    assert one == two


def test_shared_words_are_closer_than_unrelated_text(sim: Simulator) -> None:
    """Texts sharing words are closer than unrelated ones; a query differs slightly."""
    base, near, far = (
        d["embedding"]
        for d in embed(
            sim,
            [
                "the capital of France is Paris",
                "Paris is the capital city of France",
                "quicksort partitions an array around a pivot",
            ],
        )["data"]
    )
    assert cosine(base, near) > 0.6
    assert abs(cosine(base, far)) < 0.3
    query = embed(sim, ["the capital of France is Paris"], "query")["data"][0]["embedding"]
    assert 0.97 < cosine(base, query) < 0.9999


@pytest.mark.parametrize("truncate", ["START", "END"])
def test_truncate_cuts_long_input(sim: Simulator, truncate: str) -> None:
    """START / END accept an input over the limit and count only what was kept."""
    text = "word " * 1000  # 5000 chars: 1250 tokens
    doc = embed(sim, [text], truncate=truncate)
    assert doc["usage"]["prompt_tokens"] == MAX_TOKENS


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"input": ["x"], "input_type": "query"}, 400, "model"),
        ({"model": "nvidia/no-such-embedder", "input": ["x"], "input_type": "query"}, 404,
         "not available"),
        ({"model": "meta/llama-4-scout-17b-16e-instruct", "input": ["x"],
          "input_type": "query"}, 404, "not available"),
        ({"model": MODEL, "input": ["x"]}, 400, "input_type"),
        ({"model": MODEL, "input": ["x"], "input_type": "document"}, 400, "input_type"),
        ({"model": MODEL, "input": [], "input_type": "query"}, 400, "input"),
        ({"model": MODEL, "input": "", "input_type": "query"}, 400, "input"),
        ({"model": MODEL, "input": [""], "input_type": "query"}, 400, "input"),
        ({"model": MODEL, "input": ["x" * (4 * MAX_TOKENS + 1)], "input_type": "query",
          "truncate": "NONE"}, 400, "exceeds maximum allowed token size 512"),
        ({"model": MODEL, "input": ["x"], "input_type": "query", "truncate": "MIDDLE"}, 400,
         "truncate"),
        ({"model": MODEL, "input": ["x"], "input_type": "query", "encoding_format": "base64"},
         400, "encoding_format"),
        ({"model": MODEL, "input": ["x"], "input_type": "query", "dimensions": 0}, 400,
         "dimensions"),
    ],
)  # fmt: skip
def test_errors(sim: Simulator, body: dict[str, Any], status: int, needle: str) -> None:
    """Each bad request gets NIM's status and a message naming the problem."""
    resp = post(sim, body)
    assert resp.status_code == status
    assert needle in resp.text


def test_input_at_the_limit_is_accepted(sim: Simulator) -> None:
    """Exactly MAX_TOKENS tokens with truncate NONE is fine."""
    assert embed(sim, ["x" * (4 * MAX_TOKENS)])["usage"]["prompt_tokens"] == MAX_TOKENS


def test_needs_the_nim_key(sim: Simulator) -> None:
    """A wrong key is NIM's bare 401 challenge."""
    resp = post(sim, {"model": MODEL, "input": ["x"], "input_type": "query"}, key="wrong")
    assert resp.status_code == 401
    assert "www-authenticate" in resp.headers


def test_chat_refuses_the_embedding_model(sim: Simulator) -> None:
    """The embedding model is listed but is not a chat model: chat answers 404."""
    client = httpx.Client(transport=sim.transport(), base_url="http://sim")
    auth = {"authorization": f"Bearer {sim._core.credentials.nim_api_key}"}
    listed = client.get("/nim/v1/models", headers=auth).json()["data"]
    assert {"id": MODEL, "owned_by": "nvidia"}.items() <= listed[-1].items()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/nim/v1/chat/completions", json=body, headers=auth).status_code == 404


def test_injected_faults_wait_for_the_next_chat(sim: Simulator) -> None:
    """Embeddings draw no fault: a queued N1 is served to the next chat, not to them."""
    sim.inject("nvidia-nim", "N1")
    embed(sim, ["still fine"])
    client = httpx.Client(transport=sim.transport(), base_url="http://sim")
    auth = {"authorization": f"Bearer {sim._core.credentials.nim_api_key}"}
    body = {"model": "meta/llama-3.3-70b-instruct", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/nim/v1/chat/completions", json=body, headers=auth).status_code == 503
    assert sim.stats()["requests"]["nvidia-nim"]["embeddings"] == 1


def test_profile_with_nim_down_refuses_embeddings() -> None:
    """The nim-down profile answers 503 here too."""
    body = {"model": MODEL, "input": ["x"], "input_type": "query"}
    resp = post(Simulator("nim-down", time_scale=0), body)
    assert resp.status_code == 503


def test_over_loopback() -> None:
    """The route is served by the real loopback server at NIM's base URL."""
    with Simulator(time_scale=0) as sim:
        env = sim.env()
        resp = httpx.post(
            env["NVIDIA_NIM_BASE_URL"] + "/embeddings",
            json={"model": MODEL, "input": ["hi there"], "input_type": "query"},
            headers={"Authorization": f"Bearer {env['NVIDIA_NIM_API_KEY']}"},
        )
    assert resp.status_code == 200
    assert len(resp.json()["data"][0]["embedding"]) == 1024
