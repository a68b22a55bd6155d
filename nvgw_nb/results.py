"""Shared vocabulary: requests, results and the Attempt trace (pydantic models).

Every layer may import this module; it imports nothing from the rest of nvgw_nb.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

__all__ = [
    "Attempt",
    "ChatRequest",
    "ChatResult",
    "Message",
    "StreamChunk",
    "ToolCall",
    "Usage",
]

Outcome = Literal["ok", "error", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ToolCall(_Model):
    """A tool call whose arguments were parsed as JSON and whose name was declared."""

    id: str
    name: str
    arguments: dict[str, Any]


class Usage(_Model):
    """Token counts as the provider reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class Message(_Model):
    """One chat message in the OpenAI shape (the lingua franca of every provider here)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ChatRequest(_Model):
    """What the caller asked for, validated, independent of any provider."""

    messages: list[Message]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    #: OpenAI's shape: {"type": "json_schema", "json_schema": {"name", "schema"}} or
    #: {"type": "json_object"}; providers translate it to their own JSON mode
    response_format: dict[str, Any] | None = None
    stream: bool = False

    @property
    def tool_names(self) -> frozenset[str]:
        """Names of the declared tools."""
        return frozenset(t["function"]["name"] for t in self.tools or ())

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must fit, when response_format names one."""
        spec = (self.response_format or {}).get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else None


class Attempt(_Model):
    """One try on one provider: what was sent where, what came back, how long it took."""

    provider: str
    model: str
    endpoint: str = Field(description="host and path, never the query string")
    attempt: int = Field(description="1 for the first try on this provider, 2 for its first retry")
    started_at: datetime
    elapsed_s: float = 0.0
    outcome: Outcome
    status_code: int | None = None
    error_kind: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    backoff_s: float = Field(0.0, description="seconds slept before this attempt")
    paced_s: float = Field(0.0, description="seconds waited for the provider's rate limit")
    breaker: str = "closed"
    correlation_id: str | None = None
    request_id: str | None = None
    usage: Usage | None = None
    usage_estimated: bool = Field(
        False, description="the provider reported no usage; tokens estimated from characters"
    )
    cost_usd: float = 0.0
    repairs: list[str] = Field(
        default_factory=list, description="deterministic repairs applied to tool-call JSON"
    )
    requests_sent: int = Field(
        0,
        repr=False,
        description="HTTP requests this attempt sent to the endpoint: 0 when it failed before "
        "sending (no token, say), 2 when a 401 was answered by a token refresh and a replay",
    )
    hedge: bool = Field(
        False,
        repr=False,  # not in the repr: stored notebook outputs of un-hedged calls stay as they were
        description="made by a hedge: started on the next provider while the previous one "
        "was still running (`hedge_after=`)",
    )


class ChatResult(_Model):
    """The answer, who gave it, what it cost, and every attempt that led to it.

    >>> r = session.chat("hi")                      # doctest: +SKIP
    >>> r.served_by, r.fell_back, len(r.attempts)  # doctest: +SKIP
    ('nvidia-nim', False, 1)
    """

    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str
    served_by: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float
    attempts: list[Attempt]
    correlation_id: str | None = None
    request_id: str | None = None
    simulated: bool = False
    parsed: Any = Field(None, description="the structured output, when response_format was given")
    # Not in the repr (like Attempt.hedge): stored notebook outputs stay as they were;
    # the trace, the HTML view and the widgets say "cached".
    cached: bool = Field(
        False,
        repr=False,
        description="replayed from the response cache: no request was sent; latency_s is the "
        "lookup, cost_usd 0, and attempts are those of the recorded call",
    )
    original_latency_s: float | None = Field(
        None,
        repr=False,
        description="on a cached replay, the latency of the call that was recorded",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fell_back(self) -> bool:
        """True when a provider other than the one that served was tried or skipped first.

        A hedge that lost does not count: when the first provider answered while a hedge
        on the next one ran, nothing fell back; when the hedge answered, it did.
        """
        return any(a.provider != self.served_by and not a.hedge for a in self.attempts)

    @computed_field(repr=False)  # type: ignore[prop-decorator]
    @property
    def hedged(self) -> bool:
        """True when a hedge request was started (`hedge_after=`): the next provider was
        asked while the previous one was still running. Both are in `attempts` and costed."""
        return any(a.hedge and a.outcome != "skipped" for a in self.attempts)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truncated(self) -> bool:
        """True when the provider stopped at max_tokens (finish_reason 'length')."""
        return self.finish_reason == "length"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_estimated(self) -> bool:
        """True when some attempt's tokens were estimated (the provider reported none)."""
        return any(a.usage_estimated for a in self.attempts)

    def trace(self, width: int | None = 100) -> str:
        """The attempt trace, headed by who served and at what cost: a table when it fits in
        `width` columns, else one block per attempt (`width=None`: the table, however wide)."""
        from nvgw_nb.trace import result_text

        return result_text(self, width=width)

    def _repr_html_(self) -> str:
        from nvgw_nb.trace import result_html

        return result_html(self)

    def to_json(self) -> str:
        """Serialise to JSON (secrets are never part of a result)."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> ChatResult:
        """Read back what `to_json` wrote."""
        return cls.model_validate_json(data)

    def __str__(self) -> str:
        return self.content


class StreamChunk(_Model):
    """A piece of streamed text; `str(chunk)` is the text.

    With `stream_mode="restart"`, a chunk with `reset=True` (and no text) says the
    text so far is void: the stream restarts on `provider`.
    """

    text: str
    provider: str
    model: str
    reset: bool = False

    def __str__(self) -> str:
        return self.text
