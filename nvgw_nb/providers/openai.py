"""OpenAI's own chat-completions API.

`POST {base_url}/chat/completions` with the model in the body. The key is applied as
`Authorization: Bearer $OPENAI_API_KEY` by the Session's auth, never here.

>>> p = OpenAIProvider(base_url="https://api.openai.com/v1")
>>> request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
>>> str(p.build_request(request, "gpt-4o").url)
'https://api.openai.com/v1/chat/completions'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import ClassVar

import httpx

from nvgw_nb.providers import openai_format
from nvgw_nb.providers.base import first_header
from nvgw_nb.providers.http_status import HttpFailure
from nvgw_nb.providers.openai_format import OpenAICompatible
from nvgw_nb.results import ChatRequest

__all__ = ["OpenAIProvider"]

# OpenAI names a parameter the model cannot take (e.g. `max_tokens` on reasoning models,
# which want `max_completion_tokens`) with these codes; another provider may take it.
_UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value"})


class OpenAIProvider(OpenAICompatible):
    """`openai`: api.openai.com (or any base URL speaking the same format)."""

    name = "openai"
    auth_hint = "check OPENAI_API_KEY (a key from platform.openai.com, starting sk-)"
    external = True
    key_variables = ("OPENAI_API_KEY",)
    base_url_variable = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    default_models: ClassVar[Mapping[str, str]] = {"small": "gpt-4o-mini", "large": "gpt-4o"}
    setup_hint = "put OPENAI_API_KEY=<a key from platform.openai.com> in .env"
    color = "#7e57c2"  # purple

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/chat/completions",
            # response_format is OpenAI's own shape: request_body passes it through.
            json=openai_format.request_body(request, model),
            headers={"Accept": "text/event-stream" if request.stream else "application/json"},
        )

    def request_id(self, response: httpx.Response) -> str | None:
        return first_header(response, "x-request-id")

    def read_failure(self, response: httpx.Response, model: str) -> HttpFailure:
        code = _error_code(response)
        return dataclasses.replace(
            super().read_failure(response, model),
            unsupported_parameter=code in _UNSUPPORTED_CODES,
            # An exhausted quota is a 429 too, but waiting does not clear it.
            quota_exhausted=code == "insufficient_quota",
        )


def _error_code(response: httpx.Response) -> str | None:
    """The `error.code` of OpenAI's envelope (error_detail prefers `type` when code is null)."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    inner = data.get("error") if isinstance(data, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None
