"""NIM's `POST /v1/embeddings` on the simulator, with SIMULATED vectors.

Request (NIM's shape): {"model", "input": str | [str, ...], "input_type": "query" |
"passage", "truncate": "NONE" | "START" | "END", "encoding_format": "float",
"dimensions"?}. Response: {"object": "list", "data": [{"index", "embedding", "object":
"embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}.

The vectors are SIMULATED, not a model's: feature hashing of the lowercased word tokens
(each token's sha256 picks a bucket and a sign), L2-normalised, so texts that share words
are close and unrelated texts near orthogonal. `input_type` adds one small feature of its
own (weight `TYPE_WEIGHT` against the words' total), so a query and a passage of the same
text differ slightly, as an asymmetric model's prefixes make them. Deterministic: no seed.

Errors, in the NIM container's error shape (`nim_wire.vllm_error`) unless noted: an
unknown or non-embedding model is a 404 problem detail (as the chat route answers), a
missing `input_type` on the asymmetric model, an empty input, a bad `truncate`,
`encoding_format` or `dimensions`, and an input over `MAX_TOKENS` (counted as ceil(chars /
4), the simulator's token estimate) with truncate "NONE" are 400. "START" keeps the end of
a long input, "END" its start.

Faults: the embeddings route draws none, and leaves queued NIM faults (`inject`) for the
next chat request: the fault ids describe chat answers. It does share NIM's API-key
check and rate window (one key's quota covers every endpoint), and answers 503 like N1
when the profile has NIM down.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from nvgw_nb.sim import content, nim_wire
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.wire import json_response

__all__ = [
    "DEFAULT_DIMENSIONS",
    "EMBEDDING_MODELS",
    "MAX_DIMENSIONS",
    "MAX_TOKENS",
    "TYPE_WEIGHT",
    "embed",
    "respond",
]

#: the embedding models NIM lists; each is asymmetric (needs `input_type`)
EMBEDDING_MODELS: tuple[str, ...] = ("nvidia/llama-3.2-nv-embedqa-1b-v2",)
#: the simulator's input limit in tokens (ceil(chars / 4)); a modelling choice
MAX_TOKENS = 512
#: vector length without `dimensions`, and the most `dimensions` may ask for
DEFAULT_DIMENSIONS = 1024
MAX_DIMENSIONS = 2048
#: the weight of the input_type feature relative to the words' (SIMULATED)
TYPE_WEIGHT = 0.1

_WORD_RE = re.compile(r"[a-z0-9]+")
_INPUT_TYPES = ("query", "passage")
_TRUNCATES = ("NONE", "START", "END")


def embed(
    text: str, input_type: str = "passage", dimensions: int = DEFAULT_DIMENSIONS
) -> list[float]:
    """The SIMULATED unit vector of `text` (see the module docstring)."""
    vector = [0.0] * dimensions
    words = _WORD_RE.findall(text.lower())
    for word in words:
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        bucket = int.from_bytes(digest[:8], "big") % dimensions
        vector[bucket] += 1.0 if digest[8] & 1 else -1.0
    words_norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    digest = hashlib.sha256(f"\x00input_type:{input_type}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % dimensions
    vector[bucket] += TYPE_WEIGHT * words_norm * (1.0 if digest[8] & 1 else -1.0)
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def _cut(text: str, truncate: str) -> str:
    limit = MAX_TOKENS * 4
    if len(text) <= limit:
        return text
    return text[-limit:] if truncate == "START" else text[:limit]


def respond(body: Mapping[str, Any] | None) -> SimResponse:
    """The answer to an authenticated embeddings request body (None: not a JSON object)."""
    if body is None:
        return nim_wire.vllm_error("Request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return nim_wire.vllm_error(
            "[{'type': 'missing', 'loc': ('body', 'model'), 'msg': 'Field required'}]"
        )
    if model not in EMBEDDING_MODELS:
        return nim_wire.problem(
            404, "Not Found", f"Model '{model}' is not available for account 'sim-account'"
        )
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(isinstance(t, str) and t for t in inputs)
    ):
        return nim_wire.vllm_error(
            "'input' must be a non-empty string or a non-empty list of non-empty strings."
        )
    input_type = body.get("input_type")
    if input_type is None:
        return nim_wire.vllm_error(
            "'input_type' parameter is required for asymmetric models; use 'query' or 'passage'."
        )
    if input_type not in _INPUT_TYPES:
        return nim_wire.vllm_error(
            f"'input_type' must be one of 'query' or 'passage', got {input_type!r}."
        )
    truncate = body.get("truncate", "NONE")
    if truncate not in _TRUNCATES:
        return nim_wire.vllm_error(
            f"'truncate' must be one of 'NONE', 'START' or 'END', got {truncate!r}."
        )
    if body.get("encoding_format", "float") != "float":
        return nim_wire.vllm_error("'encoding_format' must be 'float' on this endpoint.")
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 1 <= dimensions <= MAX_DIMENSIONS
    ):
        return nim_wire.vllm_error(
            f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}, got {dimensions!r}."
        )
    if truncate == "NONE":
        for text in inputs:
            tokens = content.count_tokens(text)
            if tokens > MAX_TOKENS:
                return nim_wire.vllm_error(
                    f"Input length {tokens} exceeds maximum allowed token size {MAX_TOKENS}; "
                    "shorten it or set truncate to 'START' or 'END'."
                )
    texts = [_cut(text, truncate) for text in inputs]
    tokens = sum(content.count_tokens(text) for text in texts)
    data = [
        {"index": i, "embedding": embed(text, input_type, dimensions), "object": "embedding"}
        for i, text in enumerate(texts)
    ]
    return json_response(
        200,
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )
