"""The keyword options of `Session.chat` and friends, declared once.

`ChatOptions` is a TypedDict, so type checkers and IDEs see every keyword of
`chat(prompt, **options)`; `with_signature` gives the methods a real
`inspect.Signature` too, so Jupyter's Shift-Tab shows them as well.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from pydantic import BaseModel

from nvgw_nb.errors import ConfigError

if TYPE_CHECKING:
    from nvgw_nb.results import ChatResult, Message
    from nvgw_nb.roles import Role

__all__ = [
    "BatchOptions",
    "ChatOptions",
    "RequestOptions",
    "StreamMode",
    "StreamOptions",
    "check_options",
    "response_format_spec",
    "with_signature",
]

StreamMode = Literal["raise", "restart"]
F = TypeVar("F", bound=Callable[..., Any])


class RequestOptions(TypedDict, total=False):
    """Keywords of every call, batches and comparisons included (all optional)."""

    system: str | None
    models: Mapping[str, str] | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    seed: int | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    response_format: type[BaseModel] | Mapping[str, Any] | None
    validator: Callable[[ChatResult], object] | None
    repair: bool | None
    hedge_after: float | Literal["p95"] | None


class BatchOptions(RequestOptions, total=False):
    """`RequestOptions` plus the provider order of each call (batches set roles per prompt),
    and `cache=False` to bypass the Session's response cache (comparisons always do: they
    measure)."""

    providers: Sequence[str] | None
    fallbacks: bool
    cache: bool | None


class ChatOptions(BatchOptions, total=False):
    """Keywords of `chat` and `achat`."""

    messages: Sequence[Mapping[str, Any] | Message] | None
    role: str | Role | None


class StreamOptions(ChatOptions, total=False):
    """`ChatOptions` plus what happens when a stream breaks after text was shown."""

    stream_mode: StreamMode


DEFAULTS: dict[str, Any] = {"fallbacks": True, "stream_mode": "raise"}


def check_options(method: str, options: Mapping[str, Any], allowed: type) -> None:
    """Reject unknown keywords the way Python would for an explicit signature."""
    # A TypedDict's __annotations__ holds its inherited keys too.
    for name in options:
        if name not in allowed.__annotations__:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")


def with_signature(options: type) -> Callable[[F], F]:
    """Give `method(self, prompt=None, **options)` the expanded keyword signature."""

    def decorate(method: F) -> F:
        signature = inspect.signature(method)
        params = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        params += [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=DEFAULTS.get(name), annotation=kind
            )
            for name, kind in options.__annotations__.items()
        ]
        method.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return method

    return decorate


def response_format_spec(
    response_format: type[BaseModel] | Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, type[BaseModel] | None]:
    """OpenAI's response_format shape for the wire, and the model to parse into.

    Accepts a pydantic model class, a bare JSON schema, or OpenAI's own
    `{"type": "json_schema", ...}` / `{"type": "json_object"}`.
    """
    if response_format is None:
        return None, None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        schema = response_format.model_json_schema()
        spec = {"name": response_format.__name__, "schema": schema}
        return {"type": "json_schema", "json_schema": spec}, response_format
    if not isinstance(response_format, Mapping):
        raise ConfigError(
            "response_format must be a pydantic model class or a JSON schema (a dict)"
        )
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}, None
    if kind == "json_schema":
        given = response_format.get("json_schema")
        if not isinstance(given, Mapping) or not isinstance(given.get("schema"), Mapping):
            raise ConfigError("response_format['json_schema'] must hold a 'schema' dict")
        return {"type": "json_schema", "json_schema": dict(given)}, None
    if kind in ("object", "array") or "properties" in response_format:
        named = {"name": "response", "schema": dict(response_format)}
        return {"type": "json_schema", "json_schema": named}, None
    raise ConfigError(
        "response_format must be a pydantic model class, a JSON schema with a 'type', or "
        "{'type': 'json_schema', 'json_schema': {...}}"
    )
