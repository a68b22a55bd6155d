"""NVIDIA LLM Gateway: Azure OpenAI deployments behind Starfleet.

`{LLM_GATEWAY_BASE_URL}/openai/deployments/{model}/chat/completions?api-version=…`,
with a Starfleet bearer token (applied by `StarfleetAuth`) and a **fresh**
`correlationId` per request — the integration guide's sample makes one per client, which makes
every request look the same to the gateway's support team.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

import httpx

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.errors import AuthError
from nvgw_nb.names import check_path_name
from nvgw_nb.providers import openai_format
from nvgw_nb.providers.base import first_header
from nvgw_nb.providers.openai_format import OpenAICompatible
from nvgw_nb.redaction import mask
from nvgw_nb.results import ChatRequest

if TYPE_CHECKING:
    from nvgw_nb.config import Settings

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
    default_models: ClassVar[Mapping[str, str]] = {"small": "gpt-4o-mini", "large": "gpt-4o"}
    setup_hint = (
        "ask NVIDIA IT for Starfleet client credentials and put STARFLEET_ID and "
        "STARFLEET_SECRET in .env (or set NVIDIA_LLM_GATEWAY_ENABLED=false)"
    )
    color = "#1f5fa8"  # blue
    model_hint = "check LLM_GATEWAY_MODEL (an Azure deployment name, e.g. gpt-4o-mini)"

    def __init__(self, *, base_url: str, api_version: str) -> None:
        super().__init__(base_url=base_url)
        self.api_version = api_version

    @classmethod
    def _from_settings(cls, settings: Settings) -> GatewayProvider:
        return cls(
            base_url=settings.llm_gateway_base_url, api_version=settings.llm_gateway_api_version
        )

    @classmethod
    def auth_from_settings(cls, settings: Settings) -> StarfleetAuth:
        """Starfleet's OAuth2 client credentials: a cached token, refreshed early."""
        client_id, client_secret = settings.starfleet_id, settings.starfleet_secret
        if client_id is None or client_secret is None:
            cls.require_credentials(settings)
        assert client_id is not None
        assert client_secret is not None
        return StarfleetAuth(
            client_id=client_id,
            client_secret=client_secret,
            token_url=settings.starfleet_token_url,
            scope=settings.token_scope,
            refresh_margin_s=settings.token_refresh_margin_s,
            variables=(cls.key_variables[0], cls.key_variables[1]),
            token_auth=settings.token_auth,
            max_token_bytes=settings.max_token_bytes,
            max_json_depth=settings.max_json_depth,
        )

    @classmethod
    def default_model(cls, settings: Settings) -> str:
        return settings.llm_gateway_model

    @classmethod
    def in_default_order(cls, settings: Settings) -> bool:
        return settings.nvidia_llm_gateway_enabled

    @classmethod
    def path_model(cls, model: str) -> str:
        """The deployment name is a segment of the route: `deployments/{model}`."""
        return model

    @classmethod
    def describe(cls, settings: Settings) -> str:
        return (
            f"gateway {settings.llm_gateway_base_url} "
            f"(api-version {settings.llm_gateway_api_version})"
        )

    @classmethod
    def credentials_note(cls, settings: Settings) -> str:
        client_id = settings.starfleet_id
        return f"client id {mask(client_id.get_secret_value())}" if client_id else ""

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        # The plan checked the name already; this guard keeps any other caller honest.
        deployment = check_path_name(self.path_model(model), "the gateway deployment")
        return httpx.Request(
            "POST",
            f"{self.base_url}/openai/deployments/{quote(deployment, safe='')}/chat/completions",
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

    def rejected_after_refresh(self, response: httpx.Response) -> AuthError:
        """A 401 after a Starfleet token refresh: the client is not entitled, so say which
        correlationIds to quote."""
        ids = [
            cid for r in (*response.history, response) if (cid := self.correlation_id(r.request))
        ]
        return AuthError(
            "The LLM gateway answered 401 before and after a Starfleet token refresh "
            f"(correlationIds {', '.join(ids)}): check that the client in "
            f"{self.key_variables[0]} is entitled to the gateway",
            phase="replay",
            status_code=401,
            correlation_ids=ids,
        )
