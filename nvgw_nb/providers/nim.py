"""NVIDIA NIM hosted API: OpenAI-compatible `/chat/completions`.

Long requests may answer `202 Accepted` with an `NVCF-REQID`; the result is then
polled at the NVCF status URL, on a different host (fault N2, docs/reference/faults.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import httpx

from nvgw_nb.errors import MalformedResponse
from nvgw_nb.providers import openai_format
from nvgw_nb.providers.base import first_header
from nvgw_nb.providers.openai_format import OpenAICompatible
from nvgw_nb.results import ChatRequest
from nvgw_nb.untrusted import cut, token_count

if TYPE_CHECKING:
    from nvgw_nb.config import Settings

#: the Llama 4 models the integration guide's roles use on NIM
LLAMA4_SCOUT = "meta/llama-4-scout-17b-16e-instruct"
LLAMA4_MAVERICK = "meta/llama-4-maverick-17b-128e-instruct"

__all__ = ["EmbeddingReply", "NimProvider"]

#: what an NVCF request id may look like (UUIDs in practice): nothing that can leave
#: its path segment, since it is put after the status URL as is
_NVCF_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,128}")


@dataclass(frozen=True)
class EmbeddingReply:
    """An embeddings answer in neutral form: vectors in input order, the prompt tokens
    NIM reported (None: not reported) and the model it names."""

    vectors: list[list[float]]
    prompt_tokens: int | None
    model: str | None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class NimProvider(OpenAICompatible):
    """`nvidia-nim`: `Authorization: Bearer $NVIDIA_NIM_API_KEY` (applied by the Session's auth)."""

    name = "nvidia-nim"
    key_variables = ("NVIDIA_NIM_API_KEY",)
    base_url_variable = "NVIDIA_NIM_BASE_URL"
    default_base_url = "https://integrate.api.nvidia.com/v1"
    default_models: ClassVar[Mapping[str, str]] = {"small": LLAMA4_SCOUT, "large": LLAMA4_MAVERICK}
    setup_hint = "put NVIDIA_NIM_API_KEY=<your key from build.nvidia.com> in .env"
    color = "#76b900"  # NVIDIA green
    model_hint = "check NVGW_NIM_MODEL (see nvgw_nb.Session.models())"
    lists_models = True
    auth_hint = "check NVIDIA_NIM_API_KEY (a key from build.nvidia.com, starting nvapi-)"

    def __init__(self, *, base_url: str, status_url: str) -> None:
        super().__init__(base_url=base_url)
        self.status_url = status_url.rstrip("/")

    @classmethod
    def _from_settings(cls, settings: Settings) -> NimProvider:
        return cls(base_url=settings.nvidia_nim_base_url, status_url=settings.nvcf_status_url)

    @classmethod
    def default_model(cls, settings: Settings) -> str:
        return settings.nim_model

    @classmethod
    def describe(cls, settings: Settings) -> str:
        return f"NIM {settings.nvidia_nim_base_url}"

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/chat/completions",
            json=openai_format.request_body(request, model),
            headers={"Accept": "text/event-stream" if request.stream else "application/json"},
        )

    def poll_request(self, request_id: str) -> httpx.Request:
        """GET the NVCF status of a request that answered 202.

        The id comes from the upstream and decides where the NIM key goes next, so it
        must look like an NVCF request id (a UUID; a conservative pattern is accepted):
        anything else is a `MalformedResponse`, before any poll is sent.
        """
        if not _NVCF_REQUEST_ID.fullmatch(request_id):
            shown = repr(request_id) if len(request_id) <= 64 else f"{len(request_id)} characters"
            raise MalformedResponse(
                f"{self.name} answered 202 Accepted with an NVCF-REQID that is not a request "
                f"id ({shown}); nothing was polled (NVCF ids are UUIDs: report it to NVIDIA "
                "if it repeats)",
                provider=self.name,
                status_code=202,
            )
        return httpx.Request(
            "GET", f"{self.status_url}/{request_id}", headers={"Accept": "application/json"}
        )

    def models_request(self) -> httpx.Request:
        """GET /v1/models."""
        return httpx.Request("GET", f"{self.base_url}/models")

    def parse_models(self, response: httpx.Response) -> list[str]:
        """The model ids of a /v1/models answer, sorted; the status error otherwise."""
        if response.status_code != 200:
            raise self.status_error(response, "models")
        listing = openai_format.read_json(response, self.name)  # MalformedResponse if not JSON
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise MalformedResponse(
                f"{self.name} answered its model list without a `data` list",
                provider=self.name,
                status_code=response.status_code,
            )
        ids = (item.get("id") for item in data if isinstance(item, dict))
        return sorted(cut(i, 200) for i in ids if isinstance(i, str) and i)

    def request_id(self, response: httpx.Response) -> str | None:
        return first_header(response, "nvcf-reqid", "x-request-id")

    def embeddings_request(
        self, texts: Sequence[str], model: str, *, input_type: str, truncate: str
    ) -> httpx.Request:
        """POST /v1/embeddings: NIM's retrieval-embedding shape (`input_type` "query" or
        "passage", `truncate` "NONE", "START" or "END"), float vectors."""
        body = {
            "model": model,
            "input": list(texts),
            "input_type": input_type,
            "truncate": truncate,
            "encoding_format": "float",
        }
        return httpx.Request(
            "POST", f"{self.base_url}/embeddings", json=body, headers={"Accept": "application/json"}
        )

    def parse_embeddings(self, response: httpx.Response, count: int) -> EmbeddingReply:
        """The vectors (in input order), prompt tokens and model of a 200 answer to an
        embeddings request of `count` texts; `MalformedResponse` when it is not that."""

        def malformed(what: str) -> MalformedResponse:
            return MalformedResponse(
                f"{self.name} answered its embeddings with {what}",
                provider=self.name,
                status_code=response.status_code,
            )

        body = openai_format.read_json(response, self.name)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != count:
            got = f"{len(data)} vectors" if isinstance(data, list) else "no `data` list"
            raise malformed(f"{got} for {count} texts")
        vectors: list[list[float] | None] = [None] * count
        width: int | None = None
        for position, item in enumerate(data):
            index = item.get("index", position) if isinstance(item, dict) else None
            vector = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
                raise malformed(f"an item without a valid `index` (item {position})")
            if vectors[index] is not None:
                raise malformed(f"index {index} twice")
            if not isinstance(vector, list) or not vector:
                raise malformed(f"item {position} holding no list of floats (base64?)")
            floats = [float(x) for x in vector if _is_number(x)]
            if len(floats) != len(vector) or not all(math.isfinite(x) for x in floats):
                raise malformed(f"item {position} holding something other than finite floats")
            if width is not None and len(floats) != width:
                raise malformed("vectors of different lengths")
            width = len(floats)
            vectors[index] = floats
        usage = body.get("usage") if isinstance(body, dict) else None
        tokens: int | None = None  # None: not reported (estimated from the texts)
        if isinstance(usage, dict) and "prompt_tokens" in usage:
            tokens = token_count(usage["prompt_tokens"])
        model = body.get("model") if isinstance(body, dict) else None
        return EmbeddingReply(
            vectors=[v for v in vectors if v is not None],
            prompt_tokens=tokens,
            model=cut(model, 200) if isinstance(model, str) and model else None,
        )

    def url_variable(self, url: httpx.URL) -> str:
        """Polls of a 202 go to the NVCF status URL, which has a variable of its own."""
        if self.status_url and str(url).startswith(self.status_url):
            return "NVGW_NVCF_STATUS_URL"
        return super().url_variable(url)
