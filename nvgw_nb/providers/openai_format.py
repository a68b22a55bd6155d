"""The OpenAI chat-completions wire format, shared by NIM, the gateway and OpenAI.

The wire format: request body, `chat.completion` JSON, `chat.completion.chunk` SSE
ending in `[DONE]`, and the three error shapes (RFC 7807 problem+json from NVCF,
vLLM's `{"object":"error"}`, and the `{"error":{…}}` envelope of Azure and OpenAI).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from nvgw_nb.errors import MalformedResponse, ProviderError, ProviderStatusError
from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser
from nvgw_nb.providers.http_status import HttpFailure, classify, clip, parse_retry_after
from nvgw_nb.results import ChatRequest, Message, Usage
from nvgw_nb.untrusted import UnreadableJson, cut, loads, token_count

__all__ = [
    "OpenAICompatible",
    "OpenAIStreamParser",
    "error_detail",
    "http_failure",
    "parse_completion",
    "read_json",
    "request_body",
    "unreadable_event",
    "usage_of",
]

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}


def _message_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def request_body(request: ChatRequest, model: str | None) -> dict[str, Any]:
    """The JSON body of a chat-completions request (`model` None: the URL names it)."""
    body: dict[str, Any] = {"messages": [_message_dict(m) for m in request.messages]}
    if model is not None:
        body["model"] = model
    for key in (
        "temperature",
        "top_p",
        "max_tokens",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "response_format",
    ):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def read_json(response: httpx.Response, provider: str) -> Any:
    """The body of a 200 as JSON, or `MalformedResponse` naming what was wrong (B1, B2)."""
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype:
        raise MalformedResponse(
            f"{provider} answered {response.status_code} with content-type "
            f"{ctype.split(';')[0] or 'none'} instead of JSON",
            provider=provider,
            status_code=response.status_code,
        )
    try:
        return loads(response.content)
    except UnreadableJson as err:
        error = MalformedResponse(
            f"{provider} answered {response.status_code} with {err} "
            f"({len(response.content)} bytes)",
            provider=provider,
            status_code=response.status_code,
        )
        if err.too_deep:
            error.retries = 0  # built that way: it would be as deep again
        raise error from None


def unreadable_event(provider: str, err: UnreadableJson) -> MalformedResponse:
    """The error for an SSE event whose data is not JSON we read (too deep: not retried,
    it would be as deep again)."""
    error = MalformedResponse(
        f"{provider} sent a stream event that is not JSON we read ({err})", provider=provider
    )
    if err.too_deep:
        error.retries = 0
    return error


def usage_of(prompt: Any, completion: Any, total: Any = None) -> Usage | None:
    """Usage from an upstream's counts; None (missing: the engine estimates it and says
    so) when one is not a finite whole number from 0 up — a bad counter must not fail a
    good answer, nor make a negative or infinite cost."""
    counts = [token_count(prompt), token_count(completion)]
    if None in counts:
        return None
    p, c = (n or 0 for n in counts)
    t = token_count(total) if total not in (None, 0, "") else p + c
    if t is None:
        return None
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=t)


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return usage_of(
        data.get("prompt_tokens"), data.get("completion_tokens"), data.get("total_tokens")
    )


def _raw_tool_calls(calls: Any) -> list[RawToolCall]:
    """Tool calls as sent; anything malformed becomes a nameless call the engine rejects."""
    if calls is None:
        return []
    if not isinstance(calls, list):
        return [RawToolCall(id=None, name=None, arguments=None)]
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            out.append(RawToolCall(id=None, name=None, arguments=None))
            continue
        call_id, name = call.get("id"), function.get("name")
        out.append(
            RawToolCall(
                id=call_id if isinstance(call_id, str) else None,
                name=name if isinstance(name, str) else None,
                arguments=function.get("arguments"),
            )
        )
    return out


def parse_completion(data: Any, provider: str) -> Reply:
    """A `chat.completion` object → `Reply`; `MalformedResponse` when it is not one (B3)."""
    if not isinstance(data, dict):
        raise MalformedResponse(
            f"{provider} answered JSON that is not an object", provider=provider
        )
    if "error" in data and not data.get("choices"):
        code, message = error_detail(data)
        said = message or code or "no message"
        raise MalformedResponse(
            clip(f"{provider} answered 200 with an error object: {said}"),
            provider=provider,
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"{provider} answered JSON without `choices`", provider=provider)
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse(
            f"{provider} answered a choice without `message`", provider=provider
        )
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"{provider} answered non-text `content`", provider=provider)
    return Reply(
        content=content or "",
        finish_reason=cut(str(choice.get("finish_reason") or "stop")),
        tool_calls=_raw_tool_calls(message.get("tool_calls")),
        usage=_usage(data.get("usage")),
        model=data.get("model") if isinstance(data.get("model"), str) else None,
    )


class OpenAIStreamParser(StreamParser):
    """Accumulates `chat.completion.chunk` events until `[DONE]`."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._model: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        if data.strip() == "[DONE]":
            self._done = True
            return None
        try:
            chunk = loads(data)
        except UnreadableJson as err:
            raise unreadable_event(self.provider, err) from None
        if not isinstance(chunk, dict):
            raise MalformedResponse(
                f"{self.provider} sent a stream event that is not an object", provider=self.provider
            )
        if "error" in chunk:
            code, message = error_detail(chunk)
            raise ProviderStatusError(
                f"{self.provider} reported an error mid-stream: {message or code or 'no message'}",
                provider=self.provider,
            )
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]
        if chunk.get("usage"):
            self._usage = _usage(chunk["usage"]) or self._usage
        new_text = []
        for choice in _list(chunk.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str):
                    new_text.append(delta["content"])
                for fragment in _list(delta.get("tool_calls")):
                    self._add_fragment(fragment)
            if choice.get("finish_reason"):
                self._finish = cut(str(choice["finish_reason"]))
        text = "".join(new_text)
        self._text.append(text)
        return text or None

    def _add_fragment(self, fragment: Any) -> None:
        if not isinstance(fragment, dict):
            return
        index = fragment.get("index", 0)
        slot = self._calls.setdefault(index if isinstance(index, int) else -1, {"arguments": ""})
        if isinstance(fragment.get("id"), str):
            slot["id"] = fragment["id"]
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        if isinstance(function.get("name"), str):
            slot["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            slot["arguments"] += function["arguments"]

    def reply(self) -> Reply:
        if not self._done and self._finish is None:
            raise MalformedResponse(
                f"{self.provider} ended the stream without a finish_reason or [DONE]",
                provider=self.provider,
            )
        calls = [
            RawToolCall(id=c.get("id"), name=c.get("name"), arguments=c["arguments"])
            for _, c in sorted(self._calls.items())
        ]
        return Reply(
            content="".join(self._text),
            finish_reason=self._finish or "stop",
            tool_calls=calls,
            usage=self._usage,
            model=self._model,
        )


def _list(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (a provider bug) as no items."""
    return value if isinstance(value, list) else []


def error_detail(data: Any) -> tuple[str | None, str | None]:
    """(code, message) from any of the three error shapes, each cut to the error limit."""
    if not isinstance(data, dict):
        return None, None
    code: Any = None
    message: Any = None
    inner = data.get("error")
    if isinstance(inner, dict):  # Azure / OpenAI envelope
        code, message = inner.get("code") or inner.get("type"), inner.get("message")
    elif isinstance(inner, str):  # OAuth-style
        code, message = inner, data.get("error_description")
    elif data.get("object") == "error":  # vLLM
        code, message = data.get("type"), data.get("message")
    elif "title" in data or "detail" in data:  # RFC 7807
        code, message = data.get("title"), data.get("detail") or data.get("title")
    code = cut(str(code)) if code is not None else None
    message = cut(str(message)) if message is not None else None
    return code, message


def _body_detail(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        return error_detail(loads(response.content))
    except UnreadableJson:  # not JSON, or too deep: the status alone decides
        return None, None


def http_failure(
    response: httpx.Response,
    *,
    provider: str,
    model: str,
    request_id: str | None,
    auth_hint: str,
) -> HttpFailure:
    """What a non-2xx chat response says, from any of the three error shapes."""
    code, message = _body_detail(response)
    return HttpFailure(
        provider=provider,
        model=model,
        status=response.status_code,
        auth_hint=auth_hint,
        request_id=request_id,
        # The code is not named in the message: vLLM's type and NVCF's title repeat the status.
        message=message,
        retry_after_s=parse_retry_after(response.headers),
        context_too_long=code in _CONTEXT_CODES or "context length" in (message or "").lower(),
        content_filtered=response.status_code == 400 and code == "content_filter",
    )


class OpenAICompatible(Provider):
    """A provider that speaks this format: parsing and errors come for free."""

    #: what to check when the provider answers 401/403
    auth_hint: ClassVar[str]

    def parse_response(self, response: httpx.Response) -> Reply:
        return parse_completion(read_json(response, self.name), self.name)

    def stream_parser(self) -> StreamParser:
        return OpenAIStreamParser(self.name)

    def status_error(self, response: httpx.Response, model: str) -> ProviderError:
        return classify(self.read_failure(response, model))

    def read_failure(self, response: httpx.Response, model: str) -> HttpFailure:
        """What this provider's error answer says (override to read its own codes)."""
        return http_failure(
            response,
            provider=self.name,
            model=model,
            request_id=self.request_id(response),
            auth_hint=self.auth_hint,
        )
