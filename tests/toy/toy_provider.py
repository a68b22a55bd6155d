"""A sixth provider, as a contributor would add one: this module and one registry line.

It speaks the OpenAI-compatible format (NIM's), so the simulator's NIM route serves it;
its credentials and base URL come from variables no built-in provider has, read
through `Settings.secret` / `Settings.url` — no field in `Settings`, no table elsewhere.
"""

from __future__ import annotations

import httpx

from nvgw_nb.providers import openai_format
from nvgw_nb.providers.openai_format import OpenAICompatible
from nvgw_nb.results import ChatRequest


class ToyProvider(OpenAICompatible):
    """`toy-llm`: an internal, OpenAI-compatible service with a key of its own."""

    name = "toy-llm"
    key_variables = ("TOY_API_KEY",)
    base_url_variable = "TOY_BASE_URL"
    default_base_url = "http://127.0.0.1:9/v1"
    default_models = {"small": "meta/llama-4-scout-17b-16e-instruct"}  # noqa: RUF012
    setup_hint = "put TOY_API_KEY=<a key from the toy team> in .env"
    color = "#ff00aa"
    auth_hint = "check TOY_API_KEY"

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/chat/completions",
            json=openai_format.request_body(request, model),
            headers={"Accept": "text/event-stream" if request.stream else "application/json"},
        )
