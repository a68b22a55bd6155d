"""The keyword options of `Session.chat` and friends, declared once.

`ChatOptions` is a TypedDict, so type checkers and IDEs see every keyword of
`chat(prompt, **options)`; `with_signature` gives the methods a real
`inspect.Signature` too, so Jupyter's Shift-Tab shows them as well.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from pydantic import BaseModel

from nvgw_nb.errors import ConfigError
from nvgw_nb.inputs import check_unicode
from nvgw_nb.latency import MIN_SAMPLES
from nvgw_nb.steps import CallPolicy
from nvgw_nb.validation import schema_error

if TYPE_CHECKING:
    from nvgw_nb.results import ChatResult, Message
    from nvgw_nb.roles import Role

__all__ = [
    "WIRE_OPTIONS",
    "BatchOptions",
    "ChatOptions",
    "RequestOptions",
    "StreamMode",
    "StreamOptions",
    "call_policy",
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
#: the keywords that shape the request on the wire (the rest shape the plan and checks)
WIRE_OPTIONS = (
    "messages",
    "system",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "tools",
    "tool_choice",
)


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
    `{"type": "json_schema", ...}` / `{"type": "json_object"}`. A schema that is not a
    valid JSON schema is a `ConfigError` here, before anything is sent (and billed).
    """
    if response_format is None:
        return None, None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        schema = response_format.model_json_schema()
        spec = {"name": response_format.__name__, "schema": schema}
        wire: dict[str, Any] = {"type": "json_schema", "json_schema": spec}
        check_unicode(wire, f"response_format ({response_format.__name__})")
        return wire, response_format
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
        _check_schema(given["schema"], "response_format['json_schema']['schema']")
        check_unicode(dict(given), "response_format['json_schema']")
        return {"type": "json_schema", "json_schema": dict(given)}, None
    if kind in ("object", "array") or "properties" in response_format:
        _check_schema(response_format, "response_format")
        check_unicode(dict(response_format), "response_format")
        named = {"name": "response", "schema": dict(response_format)}
        return {"type": "json_schema", "json_schema": named}, None
    raise ConfigError(
        "response_format must be a pydantic model class, a JSON schema with a 'type', or "
        "{'type': 'json_schema', 'json_schema': {...}}"
    )


def _check_schema(schema: Mapping[str, Any], where: str) -> None:
    """`ConfigError` when `schema` is not a valid JSON schema."""
    problem = schema_error(schema)
    if problem is not None:
        raise ConfigError(
            f"{where} is not a valid JSON schema ({problem}); fix it before sending: the "
            "provider would bill the call, and its answer could not be checked"
        )


def call_policy(
    options: Mapping[str, Any],
    *,
    stream: bool,
    output_model: type[BaseModel] | None,
    repair_default: bool,
    has_cache: bool,
) -> CallPolicy:
    """What the engine asks of the answer, from a call's keywords (`ConfigError` when one
    is wrong). `hedge_after` is ignored for streams (a Session default may set it)."""
    hedge_after = _hedge_after(options.get("hedge_after"))
    validator = options.get("validator")
    if validator is not None and not callable(validator):
        raise ConfigError("validator must be a callable taking the ChatResult")
    stream_mode = options.get("stream_mode", "raise")
    if stream_mode not in ("raise", "restart"):
        raise ConfigError("stream_mode must be 'raise' or 'restart'")
    use_cache = options.get("cache")
    if use_cache not in (None, True, False):
        raise ConfigError("cache must be True, False or None")
    if use_cache and not has_cache:
        raise ConfigError(
            "cache=True, but this Session has no response cache: create it with "
            "cache='responses.sqlite' (or set NVGW_CACHE)"
        )
    repair = options.get("repair")
    return CallPolicy(
        repair=repair_default if repair is None else bool(repair),
        output_model=output_model,
        validator=validator,
        stream_mode=stream_mode,
        use_cache=use_cache is not False,
        hedge_after=None if stream else hedge_after,
    )


def _hedge_after(value: object) -> float | Literal["p95"] | None:
    """A valid `hedge_after=`: seconds > 0, "p95", or None (no hedging)."""
    if value is None:
        return None
    if value == "p95":
        return "p95"
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return float(value)
    # Echo numbers and short words ("p99"), never a long string: it could be a pasted key.
    shown = repr(value) if len(repr(value)) <= 12 else type(value).__name__
    raise ConfigError(
        f"hedge_after must be a number of seconds > 0 or 'p95' (the provider's recent 95th "
        f"percentile, learned after {MIN_SAMPLES} answers), not {shown}"
    )
