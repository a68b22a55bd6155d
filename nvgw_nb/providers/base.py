"""What a provider is: a small class that builds requests and parses responses.

Providers are pure: no I/O, no secrets (credentials are applied by an `httpx.Auth`
the Session owns), and they import neither the engine nor the Session.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from nvgw_nb.auth import ApiKeyAuth
from nvgw_nb.errors import MissingCredentials, NvgwError, ProviderError
from nvgw_nb.results import ChatRequest, Usage

if TYPE_CHECKING:
    from nvgw_nb.config import Settings

__all__ = ["Provider", "RawToolCall", "Reply", "StreamParser", "first_header"]


def first_header(message: httpx.Request | httpx.Response, *names: str) -> str | None:
    """The first of `names` present on `message` (request ids travel under several names)."""
    for name in names:
        value = message.headers.get(name)
        if value:
            return str(value)
    return None


@dataclass(frozen=True)
class RawToolCall:
    """A tool call as the provider sent it, before validation."""

    id: str | None
    name: str | None
    arguments: str | Mapping[str, Any] | None


@dataclass
class Reply:
    """A provider's answer in neutral form, before the engine validates it."""

    content: str
    finish_reason: str
    tool_calls: list[RawToolCall] = field(default_factory=list)
    usage: Usage | None = None
    model: str | None = None


class StreamParser(ABC):
    """Turns one provider's SSE events into text deltas, then a `Reply`."""

    @abstractmethod
    def feed(self, event: str, data: str) -> str | None:
        """Take one SSE event; return new text to show, if any. Raises ProviderError."""

    @property
    @abstractmethod
    def done(self) -> bool:
        """True once the provider signalled the end of the stream."""

    @abstractmethod
    def reply(self) -> Reply:
        """The whole answer; raises ProviderError if the stream ended too early."""


class Provider(ABC):
    """One provider: its facts (class attributes), how it is configured, its wire format.

    The class attributes are the one place each fact lives; the Session, `nvgw-nb
    check`, the widgets and the plots read them through `nvgw_nb.providers.registry`.
    """

    #: its name in provider orders, results, plots and panels
    name: ClassVar[str]
    #: True for providers outside NVIDIA: off unless NVGW_ALLOW_EXTERNAL=true
    external: ClassVar[bool] = False
    #: the variables holding its credentials (named in errors and hints, never their values)
    key_variables: ClassVar[tuple[str, ...]] = ()
    #: the variable of its base URL, and the URL used when that variable is unset
    base_url_variable: ClassVar[str]
    default_base_url: ClassVar[str]
    #: the model a role asks for when nothing else names one, by role size
    default_models: ClassVar[Mapping[str, str]] = {}
    #: how to get credentials, shown where the provider is unavailable
    setup_hint: ClassVar[str] = ""
    #: its colour in plots and panels (None: a stable spare one, see `provider_color`)
    color: ClassVar[str | None] = None
    #: what to check when a probe finds no such model (`nvgw-nb check`)
    model_hint: ClassVar[str] = "check the model names (models= or the roles')"
    #: whether `models_request` lists its models live (else its configured ones are shown)
    lists_models: ClassVar[bool] = False
    #: the header its key travels in (`Authorization` gets `Bearer `)
    key_header: ClassVar[str] = "Authorization"
    can_stream: ClassVar[bool] = True

    def __init__(self, *, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    # --- configuration: what the Session and `nvgw-nb check` call -------------------------
    @classmethod
    def missing_credentials(cls, settings: Settings) -> tuple[str, ...]:
        """The credential variables that `settings` leaves unset."""
        return tuple(v for v in cls.key_variables if settings.secret(v) is None)

    @classmethod
    def require_credentials(cls, settings: Settings) -> None:
        """`ConfigError` naming each unset credential variable and how to get it."""
        missing = cls.missing_credentials(settings)
        if missing:
            verb, pronoun = ("is", "it") if len(missing) == 1 else ("are", "them")
            raise MissingCredentials(
                f"{' and '.join(missing)} {verb} not set ({cls.name} needs {pronoun}): "
                f"{cls.setup_hint}",
                provider=cls.name,
                variables=missing,
                hint=cls.setup_hint,
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """This provider pointed at its configured base URL; `ConfigError` when a
        credential is missing (the Session and `nvgw-nb check` both ask this)."""
        cls.require_credentials(settings)
        return cls._from_settings(settings)

    @classmethod
    def _from_settings(cls, settings: Settings) -> Provider:
        """The instance, once the credentials are known to be there (override for more
        than a base URL)."""
        return cls(base_url=settings.url(cls.base_url_variable, cls.default_base_url))

    @classmethod
    def auth_from_settings(cls, settings: Settings) -> httpx.Auth | None:
        """The `httpx.Auth` that applies its credentials: its one key in `key_header`."""
        if not cls.key_variables:
            return None
        key = settings.secret(cls.key_variables[0])
        if key is None:
            cls.require_credentials(settings)
        assert key is not None
        return ApiKeyAuth(key, variable=cls.key_variables[0], header=cls.key_header)

    @classmethod
    def default_model(cls, settings: Settings) -> str:
        """The model asked for when neither the call nor its role names one."""
        return next(iter(cls.default_models.values()), "")

    @classmethod
    def path_model(cls, model: str) -> str | None:
        """The part of `model` this provider puts into its URL path (None: the model
        travels in the body only). A name that would change the path is refused
        (`nvgw_nb.names`) before any request."""
        return None

    @classmethod
    def describe(cls, settings: Settings) -> str:
        """Where it sends requests, for `nvgw-nb check`'s configuration line."""
        return f"{cls.name} {settings.url(cls.base_url_variable, cls.default_base_url)}"

    @classmethod
    def credentials_note(cls, settings: Settings) -> str:
        """What may be shown about its set credentials (never a value)."""
        return ""

    @classmethod
    def in_default_order(cls, settings: Settings) -> bool:
        """Whether it joins the provider order when NVGW_PROVIDER_ORDER is unset: internal
        ones always, external ones when allowed and their credentials are set."""
        if cls.external:
            return settings.allow_external and not cls.missing_credentials(settings)
        return True

    # --- the wire format ---------------------------------------------------------------

    @abstractmethod
    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        """The HTTP request for `request` on `model` (JSON, or SSE when request.stream)."""

    @abstractmethod
    def parse_response(self, response: httpx.Response) -> Reply:
        """Parse a 200 response whose body has been read. Raises ProviderError."""

    @abstractmethod
    def stream_parser(self) -> StreamParser:
        """A fresh parser for one SSE response."""

    @abstractmethod
    def status_error(self, response: httpx.Response, model: str) -> ProviderError:
        """The ProviderError for a non-2xx response whose body has been read."""

    def poll_request(self, request_id: str) -> httpx.Request | None:
        """The request that polls a `202 Accepted` answer, for providers that use them."""
        return None

    def request_id(self, response: httpx.Response) -> str | None:
        """The provider's request id — what users paste into a support ticket."""
        return first_header(response, "x-request-id")

    def correlation_id(self, request: httpx.Request) -> str | None:
        """The client-side correlation id sent with `request`, if this provider uses one."""
        return None

    # --- wording the engine asks for ----------------------------------------------------
    def rejected_after_refresh(self, response: httpx.Response) -> NvgwError | None:
        """The error for a 401 that came back although the auth refreshed its credential
        and replayed the request; None: `status_error`'s."""
        return None

    def url_variable(self, url: httpx.URL) -> str:
        """The variable to fix when a request to `url` was redirected."""
        return self.base_url_variable

    def models_request(self) -> httpx.Request:
        """The request that lists its models (providers with `lists_models`)."""
        raise NotImplementedError(f"{self.name} does not list its models")

    def parse_models(self, response: httpx.Response) -> list[str]:
        """The model ids of a `models_request` answer, sorted (the status error otherwise)."""
        raise NotImplementedError(f"{self.name} does not list its models")
