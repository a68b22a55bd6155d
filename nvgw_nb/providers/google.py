"""Google's Gemini API, generativelanguage `v1beta`.

`POST {base_url}/{api_version}/models/{model}:generateContent`, or
`:streamGenerateContent?alt=sse` when streaming. The key is applied as
`x-goog-api-key` by the Session's auth — never as `?key=`, which would put it in
every logged URL (docs/reference/faults.md, "Secrets").

>>> p = GoogleProvider(base_url="https://generativelanguage.googleapis.com")
>>> request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
>>> p.build_request(request, "gemini-2.0-flash").url.path
'/v1beta/models/gemini-2.0-flash:generateContent'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from nvgw_nb.errors import (
    ConfigError,
    MalformedResponse,
    ProviderError,
    ToolCallError,
)
from nvgw_nb.names import check_path_name
from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser, first_header
from nvgw_nb.providers.gemini_errors import (
    envelope,
    http_failure,
    parse_duration,
    stream_error,
)
from nvgw_nb.providers.gemini_schema import gemini_schema
from nvgw_nb.providers.http_status import classify, clip, key_hint
from nvgw_nb.providers.openai_format import read_json, unreadable_event, usage_of
from nvgw_nb.results import ChatRequest, Message, Usage
from nvgw_nb.untrusted import UnreadableJson, cut, loads, token_count

__all__ = ["GoogleProvider", "GoogleStreamParser", "gemini_schema", "parse_duration"]

_NAME = "google-genai"

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_BAD_TOOL_CALL = frozenset(
    {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"}
)


class GoogleProvider(Provider):
    """`google-genai`: Gemini's generateContent, JSON or SSE of whole responses."""

    name = _NAME
    external = True
    key_variables = ("GOOGLE_API_KEY",)
    base_url_variable = "NVGW_GOOGLE_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com"
    default_models: ClassVar[Mapping[str, str]] = {
        "small": "gemini-2.0-flash",
        "large": "gemini-2.5-pro",
    }
    setup_hint = "put GOOGLE_API_KEY=<a key from aistudio.google.com> in .env"
    color = "#17a2b8"  # teal

    key_header = "x-goog-api-key"

    def __init__(self, *, base_url: str, api_version: str = "v1beta") -> None:
        super().__init__(base_url=base_url)
        self.api_version = api_version.strip("/")

    @classmethod
    def path_model(cls, model: str) -> str:
        """The model id in `models/{id}:generateContent` (a given "models/" is not doubled)."""
        return model.removeprefix("models/")

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        # The plan checked the name already; this guard keeps any other caller honest.
        model_id = check_path_name(self.path_model(model), "the Gemini model")
        method = "streamGenerateContent" if request.stream else "generateContent"
        return httpx.Request(
            "POST",
            f"{self.base_url}/{self.api_version}/models/{model_id}:{method}",
            # Without alt=sse the stream endpoint answers one JSON array.
            params={"alt": "sse"} if request.stream else None,
            json=request_body(request),
            headers={"Accept": "text/event-stream" if request.stream else "application/json"},
        )

    def parse_response(self, response: httpx.Response) -> Reply:
        return parse_generate_content(read_json(response, self.name))

    def stream_parser(self) -> StreamParser:
        return GoogleStreamParser()

    def request_id(self, response: httpx.Response) -> str | None:
        # Gemini sends no documented request-id header; `responseId` is only in the body.
        return first_header(response, "x-request-id")

    def status_error(self, response: httpx.Response, model: str) -> ProviderError:
        return classify(
            http_failure(
                response,
                model=model,
                request_id=self.request_id(response),
                auth_hint=key_hint(self.key_variables),
            )
        )


# --- request ----------------------------------------------------------------------------
def request_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a generateContent request (the model is in the URL)."""
    system, contents = _contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config: dict[str, Any] = {}
    for key, name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("max_tokens", "maxOutputTokens"),
        ("stop", "stopSequences"),
        ("seed", "seed"),
    ):
        value = getattr(request, key)
        if value is not None:
            config[name] = value
    if request.response_format:
        schema = request.json_schema
        if schema is not None or request.response_format.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
        if schema is not None:
            config["responseSchema"] = gemini_schema(schema)
    if config:
        body["generationConfig"] = config
    return body


def _contents(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, user/model turns with consecutive same-role turns merged)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the functionResponse
    for index, message in enumerate(messages):
        parts: list[dict[str, Any]] = []
        if message.role in ("system", "developer"):
            if message.content:
                system.append({"text": message.content})
            continue
        if message.role == "tool":
            role = "user"
            name = names.get(message.tool_call_id or "") or message.name
            if name is None:
                raise ConfigError(
                    f"messages[{index}]: tool_call_id {message.tool_call_id!r} answers no "
                    "earlier assistant tool call, and Gemini needs the function's name"
                )
            parts.append(
                {"functionResponse": {"name": name, "response": _tool_response(message.content)}}
            )
        else:
            role = "model" if message.role == "assistant" else "user"
            if message.content:
                parts.append({"text": message.content})
            for call in message.tool_calls or ():
                names[call.id] = call.name
                # No `id`: Gemini's ids are optional and ours may be synthesized elsewhere.
                parts.append({"functionCall": {"name": call.name, "args": call.arguments}})
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            # Several tool results answer one model turn: Gemini wants them in one turn.
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _tool_response(content: str | None) -> dict[str, Any]:
    """`functionResponse.response` must be an object: the tool's JSON object, or wrapped text."""
    text = content or ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"content": text}


def _declaration(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        converted = gemini_schema(parameters)
        # Gemini rejects an OBJECT with no properties; a tool without arguments omits them.
        if converted.get("properties"):
            out["parameters"] = converted
    return out


def _calling_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    name = choice if isinstance(choice, str) else (choice.get("function") or {}).get("name")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


# --- JSON Schema → Gemini's OpenAPI-subset Schema ---------------------------------------
def parse_generate_content(data: Any) -> Reply:
    """A GenerateContentResponse → `Reply`; `MalformedResponse` when it is not one (B3)."""
    if not isinstance(data, dict):
        raise MalformedResponse("google-genai answered JSON that is not an object", provider=_NAME)
    if "error" in data:
        _, status, message, _ = envelope(data)
        raise MalformedResponse(
            clip(f"google-genai answered 200 with an error object: {message or status or '?'}"),
            provider=_NAME,
        )
    collector = _Collector()
    collector.take(data)
    if collector.finish is None and not collector.blocked and not collector.candidates:
        raise MalformedResponse(
            "google-genai answered JSON without `candidates` or `promptFeedback`", provider=_NAME
        )
    return collector.reply()


class _Collector:
    """What one response (or a stream of them) said: text, calls, finishReason, usage."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[RawToolCall] = []
        self.finish: str | None = None
        self.finish_message: str | None = None
        self.blocked = False
        self.candidates = False
        self.usage: Usage | None = None
        self.model: str | None = None

    def take(self, chunk: dict[str, Any]) -> str:
        """Absorb one GenerateContentResponse; the text it added."""
        if isinstance(chunk.get("modelVersion"), str):
            self.model = chunk["modelVersion"]
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = _usage(chunk["usageMetadata"]) or self.usage
        candidates = chunk.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            feedback = chunk.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                self.blocked = True
            return ""
        self.candidates = True
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        added: list[str] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("thought") is True:
                continue  # thought summaries are not part of the answer
            if isinstance(part.get("text"), str):
                added.append(part["text"])
            call = part.get("functionCall")
            if isinstance(call, dict):
                call_id = call.get("id")
                self.calls.append(
                    RawToolCall(
                        # Gemini rarely sends ids; synthesize one, stable within the response.
                        id=call_id if isinstance(call_id, str) and call_id else _call_id(self),
                        name=call.get("name") if isinstance(call.get("name"), str) else None,
                        arguments=_arguments(call.get("args")),
                    )
                )
        if candidate.get("finishReason"):
            self.finish = cut(str(candidate["finishReason"]))
            message = candidate.get("finishMessage")
            self.finish_message = cut(message) if isinstance(message, str) else None
        self.text.extend(added)
        return "".join(added)

    def reply(self) -> Reply:
        if self.blocked and not self.candidates:
            # The prompt itself was blocked: 200, no candidates.
            return Reply(
                content="", finish_reason="content_filter", usage=self.usage, model=self.model
            )
        return Reply(
            content="".join(self.text),
            finish_reason=self._finish_reason(),
            tool_calls=list(self.calls),
            usage=self.usage,
            model=self.model,
        )

    def _finish_reason(self) -> str:
        reason = self.finish
        if reason in _BAD_TOOL_CALL:
            detail = f": {self.finish_message}" if self.finish_message else ""
            raise ToolCallError(
                clip(f"google-genai stopped with finishReason {reason}{detail}"),
                tool_name=None,
                provider=_NAME,
            )
        if reason == "MAX_TOKENS":
            return "length"
        if reason in _FILTERED:
            return "content_filter"
        # STOP, and unknown values treated as OTHER: a normal stop. Gemini has no
        # tool-specific reason; function-call parts are what make it a tool turn.
        return "tool_calls" if self.calls else "stop"


def _call_id(collector: _Collector) -> str:
    return f"call_{len(collector.calls)}"


def _arguments(value: Any) -> str | Mapping[str, Any] | None:
    """`args` as given: an object normally; anything else stays visible to the engine."""
    if value is None or isinstance(value, str | Mapping):
        return value
    return json.dumps(value)


def _usage(meta: dict[str, Any]) -> Usage | None:
    # Tool-use prompt tokens are input; thinking tokens are billed as output.
    counts = [
        token_count(meta.get(key))
        for key in (
            "promptTokenCount",
            "toolUsePromptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
        )
    ]
    if None in counts:
        return None  # not a count: missing, so the engine estimates it
    prompt, tool_use, candidates, thoughts = (n or 0 for n in counts)
    return usage_of(prompt + tool_use, candidates + thoughts, meta.get("totalTokenCount"))


# --- stream -----------------------------------------------------------------------------
class GoogleStreamParser(StreamParser):
    """Each `data:` is a whole GenerateContentResponse with only the new text; no `[DONE]`."""

    def __init__(self) -> None:
        self._collector = _Collector()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        try:
            payload = loads(data)
        except UnreadableJson as err:
            raise unreadable_event(_NAME, err) from None
        # Without alt=sse a chunk may be an array of responses; accept both.
        chunks = payload if isinstance(payload, list) else [payload]
        added: list[str] = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                raise MalformedResponse(
                    "google-genai sent a stream event that is not an object", provider=_NAME
                )
            if "error" in chunk:
                raise stream_error(chunk)
            added.append(self._collector.take(chunk))
        if self._collector.finish is not None or self._collector.blocked:
            self._done = True
        text = "".join(added)
        return text or None

    def reply(self) -> Reply:
        if self._collector.finish is None and not self._collector.blocked:
            raise MalformedResponse(
                "google-genai ended the stream without a finishReason", provider=_NAME
            )
        return self._collector.reply()


# --- errors -----------------------------------------------------------------------------
