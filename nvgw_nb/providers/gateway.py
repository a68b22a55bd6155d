"""NVIDIA LLM Gateway: Azure OpenAI deployments behind Starfleet (WIRE.md §2).

`{LLM_GATEWAY_BASE_URL}/openai/deployments/{model}/chat/completions?api-version=…`,
with a Starfleet bearer token (applied by `StarfleetAuth`) and a **fresh**
`correlationId` per request — the seed's sample makes one per client, which makes
every request look the same to the gateway's support team.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx

from nvgw_nb.providers import openai_format
from nvgw_nb.providers.base import first_header
from nvgw_nb.providers.openai_format import OpenAICompatible
from nvgw_nb.results import ChatRequest

__all__ = ["GatewayProvider"]


class GatewayProvider(OpenAICompatible):
    """`nvidia-gateway`: Azure OpenAI's deployment route."""

    name = "nvidia-gateway"
    auth_hint = (
        "the gateway refused the Starfleet token — check that the client in "
        "STARFLEET_ID is entitled to this deployment and within its quota"
    )
    key_variables = ("STARFLEET_ID", "STARFLEET_SECRET")
    base_url_variable = "LLM_GATEWAY_BASE_URL"
    default_base_url = "https://prod.api.nvidia.com/llm/v1/azure"
    default_models = {"small": "gpt-4o-mini", "large": "gpt-4o"}
    setup_hint = (
        "ask NVIDIA IT for Starfleet client credentials and put STARFLEET_ID and "
        "STARFLEET_SECRET in .env (or set NVIDIA_LLM_GATEWAY_ENABLED=false)"
    )
    color = "#1f5fa8"  # blue

    def __init__(self, *, base_url: str, api_version: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/openai/deployments/{quote(model, safe='')}/chat/completions",
            params={"api-version": self.api_version},
            json=openai_format.request_body(request, None),
            headers={
                "Accept": "text/event-stream" if request.stream else "application/json",
                "correlationId": str(uuid.uuid4()),
            },
        )

    def request_id(self, response: httpx.Response) -> str | None:
        return first_header(response, "apim-request-id", "x-request-id")

    def correlation_id(self, request: httpx.Request) -> str | None:
        return first_header(request, "correlationId")
