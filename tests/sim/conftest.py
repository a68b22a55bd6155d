"""Fixtures for the simulator tests: running simulators and a small wire-level client.

The helpers here parse SSE and build requests on their own; they never use nvgw_nb code
other than the simulator under test.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from nvgw_nb.sim import Simulator

NIM_MODEL = "meta/llama-4-scout-17b-16e-instruct"
OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "claude-haiku-4-5"  # the anthropic SDK warns that claude-sonnet-4-5 is deprecated
GEMINI_MODEL = "gemini-2.0-flash"
EXTERNAL_PROVIDERS = ["openai", "anthropic", "google-genai"]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
        },
    },
}


def parse_sse(raw: bytes) -> list[Any]:
    """Events of an SSE body: parsed JSON, the string "[DONE]", or the raw text if invalid."""
    events: list[Any] = []
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        text = "\n".join(data)
        if text == "[DONE]":
            events.append(text)
            continue
        try:
            events.append(json.loads(text))
        except ValueError:
            events.append(text)
    return events


def parse_named_sse(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE event; comments and blank events skipped."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if name is None and not data:
            continue
        text = "\n".join(data)
        try:
            events.append((name, json.loads(text)))
        except ValueError:
            events.append((name, text))
    return events


def stream_text(events: list[Any]) -> str:
    """Concatenated `delta.content` of OpenAI-style chunks."""
    out = []
    for event in events:
        if isinstance(event, dict):
            for choice in event.get("choices") or []:
                out.append((choice.get("delta") or {}).get("content") or "")
    return "".join(out)


def stream_tool_calls(events: list[Any]) -> dict[int, dict[str, str]]:
    """Tool calls of OpenAI-style chunks, assembled by index."""
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or []:
            for frag in (choice.get("delta") or {}).get("tool_calls") or []:
                call = calls.setdefault(frag["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = frag.get("id") or call["id"]
                function = frag.get("function") or {}
                call["name"] = function.get("name") or call["name"]
                call["arguments"] += function.get("arguments") or ""
    return calls


@dataclass
class Outcome:
    """What a client observed: status/headers/body, or the transport error it raised."""

    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: type[Exception] | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[Any]:
        return parse_sse(self.body)


class WireClient:
    """Builds provider requests by hand from `Simulator.env()` (no SDK code involved)."""

    def __init__(self, sim: Simulator, client: httpx.Client) -> None:
        self.sim = sim
        self.env = sim.env()
        self.client = client
        self._token: str | None = None

    def send(self, method: str, url: str, **kwargs: Any) -> Outcome:
        """Send and read everything, keeping the partial body if the connection breaks."""
        out = Outcome()
        try:
            with self.client.stream(method, url, **kwargs) as response:
                out.status, out.headers = response.status_code, response.headers
                for chunk in response.iter_raw():
                    out.body += chunk
        except httpx.TransportError as err:
            out.error = type(err)
        return out

    def basic_auth(self, encode: bool = True) -> str:
        cid, secret = self.env["STARFLEET_ID"], self.env["STARFLEET_SECRET"]
        if encode:  # RFC 6749 section 2.3.1
            cid, secret = urllib.parse.quote_plus(cid), urllib.parse.quote_plus(secret)
        return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()

    def token_request(
        self,
        *,
        encode: bool = True,
        scope: str = "azureopenai-readwrite",
        grant_type: str = "client_credentials",
    ) -> Outcome:
        return self.send(
            "POST",
            self.env["STARFLEET_TOKEN_URL"],
            headers={"Authorization": self.basic_auth(encode)},
            data={"grant_type": grant_type, "scope": scope},
        )

    def token(self) -> str:
        if self._token is None:
            out = self.token_request()
            assert out.status == 200, out.body
            self._token = out.json()["access_token"]
        return self._token

    def nim_chat(self, body: dict[str, Any], *, key: str | None = None) -> Outcome:
        headers = {"Authorization": f"Bearer {key or self.env['NVIDIA_NIM_API_KEY']}"}
        if body.get("stream"):
            headers["Accept"] = "text/event-stream"
        url = self.env["NVIDIA_NIM_BASE_URL"] + "/chat/completions"
        return self.send("POST", url, headers=headers, json=body)

    def nim_status(self, reqid: str) -> Outcome:
        headers = {"Authorization": f"Bearer {self.env['NVIDIA_NIM_API_KEY']}"}
        return self.send("GET", f"{self.env['NVGW_NVCF_STATUS_URL']}/{reqid}", headers=headers)

    def gateway_chat(
        self,
        body: dict[str, Any],
        *,
        deployment: str = "gpt-4o-mini",
        token: str | None = None,
        api_version: str | None = "2024-12-01-preview",
        correlation_id: str | None = "auto",
    ) -> Outcome:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token()}"}
        if correlation_id is not None:
            headers["correlationId"] = (
                str(uuid.uuid4()) if correlation_id == "auto" else correlation_id
            )
        params = {"api-version": api_version} if api_version is not None else {}
        url = f"{self.env['LLM_GATEWAY_BASE_URL']}/openai/deployments/{deployment}/chat/completions"
        return self.send("POST", url, headers=headers, params=params, json=body)

    def chat(self, provider: str, body: dict[str, Any]) -> Outcome:
        if provider == "nvidia-nim":
            return self.nim_chat({"model": NIM_MODEL, **body})
        return self.gateway_chat(body)

    def openai_chat(self, body: dict[str, Any], *, key: str | None = None) -> Outcome:
        headers = {
            "Authorization": f"Bearer {key if key is not None else self.env['OPENAI_API_KEY']}"
        }
        url = self.env["OPENAI_BASE_URL"] + "/chat/completions"
        return self.send("POST", url, headers=headers, json={"model": OPENAI_MODEL, **body})

    def anthropic_messages(
        self,
        body: dict[str, Any],
        *,
        key: str | None = None,
        version: str | None = "2023-06-01",
    ) -> Outcome:
        headers = {"x-api-key": key if key is not None else self.env["ANTHROPIC_API_KEY"]}
        if version is not None:
            headers["anthropic-version"] = version
        body = {"model": ANTHROPIC_MODEL, "max_tokens": 1024, **body}
        return self.send(
            "POST", self.env["ANTHROPIC_BASE_URL"] + "/v1/messages", headers=headers, json=body
        )

    def google(
        self,
        body: dict[str, Any],
        *,
        model: str = GEMINI_MODEL,
        stream: bool = False,
        alt: str | None = "sse",
        key: str | None = None,
        query: dict[str, str] | None = None,
        version: str = "v1beta",
    ) -> Outcome:
        headers = {"x-goog-api-key": key if key is not None else self.env["GOOGLE_API_KEY"]}
        method = "streamGenerateContent" if stream else "generateContent"
        params = dict(query or {})
        if stream and alt is not None:
            params["alt"] = alt
        url = f"{self.env['NVGW_GOOGLE_BASE_URL']}/{version}/models/{model}:{method}"
        return self.send("POST", url, headers=headers, params=params, json=body)


def chat_body(
    prompt: str = "Explain retry budgets for HTTP clients", **extra: Any
) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}], **extra}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A healthy simulator that never sleeps."""
    with Simulator(seed=7, time_scale=0) as running:
        yield running


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    """One healthy, non-sleeping simulator for a whole module (fault tables)."""
    with Simulator(seed=11, time_scale=0) as running:
        yield running


@pytest.fixture
def wire(sim: Simulator) -> Iterator[WireClient]:
    """A WireClient talking HTTP to `sim`."""
    with httpx.Client(timeout=10) as client:
        yield WireClient(sim, client)


@pytest.fixture
def make_wire() -> Iterator[Callable[..., WireClient]]:
    """Factory: a WireClient for a simulator over real HTTP or over `transport()`."""
    clients: list[httpx.Client] = []

    def factory(sim: Simulator, adapter: str = "server", timeout: float = 10) -> WireClient:
        transport = sim.transport() if adapter == "transport" else None
        client = httpx.Client(timeout=timeout, transport=transport)
        clients.append(client)
        return WireClient(sim, client)

    yield factory
    for client in clients:
        client.close()
