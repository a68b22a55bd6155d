"""Settings from arguments > environment > `.env`, with the integration guide's variable names.

The integration guide's names are used as they are — each provider's class names its own
(`NimProvider.key_variables`, `GatewayProvider.base_url_variable`, …) and the fields
below read them — while nvgw_nb's own additions carry the `NVGW_` prefix. Every secret
is a `SecretStr`, and every bad value fails with a `ConfigError` naming the variable —
never its value. A provider without a field of its own reads its variables through
`Settings.secret` / `Settings.url` / `Settings.variable`.

>>> Settings.load(env={}, env_file=None).default_order
('nvidia-nim', 'nvidia-gateway')
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from nvgw_nb.env_files import (
    ENV_FILE_VARIABLE,
    find_env_file,
    near_misses,
    placeholder_problem,
)
from nvgw_nb.errors import ConfigError
from nvgw_nb.names import path_name_problem
from nvgw_nb.network import ProxyChoice, check_proxy_url
from nvgw_nb.providers import registry
from nvgw_nb.providers.anthropic import AnthropicProvider
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.google import GoogleProvider
from nvgw_nb.providers.nim import NimProvider
from nvgw_nb.providers.openai import OpenAIProvider
from nvgw_nb.redaction import has_control_chars, mask
from nvgw_nb.setting_values import (
    PLACEHOLDER_PROBLEM,
    check_plain,
    check_provider_order,
    check_url,
    clean_secret,
)

__all__ = ["Settings", "check_provider_order", "known_variables"]

# The providers' own variables are named by their classes (the one place each lives);
# the fields below read them under those names.
_NIM, _GATEWAY = NimProvider, GatewayProvider
_OPENAI, _ANTHROPIC, _GOOGLE = OpenAIProvider, AnthropicProvider, GoogleProvider


def _alias(variable: str, field_name: str) -> AliasChoices:
    """A field read from `variable` (or passed as `field_name=`)."""
    return AliasChoices(variable, field_name)


# When set, `Settings` reads only the init arguments (an explicit env mapping), not
# os.environ or a .env file: a simulator's session must never mix in real credentials.
_ISOLATED: contextvars.ContextVar[bool] = contextvars.ContextVar("nvgw_isolated", default=False)


class Settings(BaseSettings):
    """Every setting nvgw_nb reads, each from the variable named in its alias."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        hide_input_in_errors=True,
        frozen=True,
    )

    # --- the integration guide's variables -------------------------------------------------------
    nvidia_nim_api_key: SecretStr | None = Field(
        None, validation_alias=_alias(_NIM.key_variables[0], "nvidia_nim_api_key")
    )
    nvidia_nim_base_url: str = Field(
        _NIM.default_base_url,
        validation_alias=_alias(_NIM.base_url_variable, "nvidia_nim_base_url"),
    )
    nvidia_llm_gateway_enabled: bool = Field(
        True,
        validation_alias=AliasChoices("NVIDIA_LLM_GATEWAY_ENABLED", "nvidia_llm_gateway_enabled"),
    )
    starfleet_id: SecretStr | None = Field(
        None, validation_alias=_alias(_GATEWAY.key_variables[0], "starfleet_id")
    )
    starfleet_secret: SecretStr | None = Field(
        None, validation_alias=_alias(_GATEWAY.key_variables[1], "starfleet_secret")
    )
    starfleet_token_url: str = Field(
        "https://5kbfxgaqc3xgz8nhid1x1r8cfestoypn-trofuum-oc.ssa.nvidia.com/token",
        validation_alias=AliasChoices("STARFLEET_TOKEN_URL", "starfleet_token_url"),
    )
    llm_gateway_base_url: str = Field(
        _GATEWAY.default_base_url,
        validation_alias=_alias(_GATEWAY.base_url_variable, "llm_gateway_base_url"),
    )
    llm_gateway_api_version: str = Field(
        "2024-12-01-preview",
        validation_alias=AliasChoices("LLM_GATEWAY_API_VERSION", "llm_gateway_api_version"),
    )
    llm_gateway_model: str = Field(
        _GATEWAY.default_models["small"],
        validation_alias=AliasChoices("LLM_GATEWAY_MODEL", "llm_gateway_model"),
    )

    # --- external providers (the vendors' own variable names) -------------------------
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=_alias(_OPENAI.key_variables[0], "openai_api_key")
    )
    openai_base_url: str = Field(
        _OPENAI.default_base_url,
        validation_alias=_alias(_OPENAI.base_url_variable, "openai_base_url"),
    )
    anthropic_api_key: SecretStr | None = Field(
        None, validation_alias=_alias(_ANTHROPIC.key_variables[0], "anthropic_api_key")
    )
    anthropic_base_url: str = Field(
        _ANTHROPIC.default_base_url,
        validation_alias=_alias(_ANTHROPIC.base_url_variable, "anthropic_base_url"),
    )
    google_api_key: SecretStr | None = Field(
        None, validation_alias=_alias(_GOOGLE.key_variables[0], "google_api_key")
    )

    # --- nvgw_nb's own (NVGW_ prefix) ------------------------------------------------
    google_base_url: str = Field(
        _GOOGLE.default_base_url,
        validation_alias=_alias(_GOOGLE.base_url_variable, "google_base_url"),
    )
    provider_order: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None, validation_alias=AliasChoices("NVGW_PROVIDER_ORDER", "provider_order")
    )
    allow_external: bool = Field(
        False, validation_alias=AliasChoices("NVGW_ALLOW_EXTERNAL", "allow_external")
    )
    pricing_mode: Literal["list", "nvidia_trial"] = Field(
        "list", validation_alias=AliasChoices("NVGW_PRICING_MODE", "pricing_mode")
    )
    transport: Literal["auto", "aiohttp", "httpx"] = Field(
        "auto", validation_alias=AliasChoices("NVGW_TRANSPORT", "transport")
    )
    nim_model: str = Field(
        _NIM.default_models["small"],
        validation_alias=AliasChoices("NVGW_NIM_MODEL", "nim_model"),
    )
    nvcf_status_url: str = Field(
        "https://api.nvcf.nvidia.com/v2/nvcf/pexec/status",
        validation_alias=AliasChoices("NVGW_NVCF_STATUS_URL", "nvcf_status_url"),
    )
    token_scope: str = Field(
        "azureopenai-readwrite", validation_alias=AliasChoices("NVGW_TOKEN_SCOPE", "token_scope")
    )
    token_refresh_margin_s: float = Field(
        60.0,
        ge=0,
        validation_alias=AliasChoices("NVGW_TOKEN_REFRESH_MARGIN", "token_refresh_margin_s"),
    )
    max_retries: int = Field(
        2, ge=0, le=10, validation_alias=AliasChoices("NVGW_MAX_RETRIES", "max_retries")
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("NVGW_CONNECT_TIMEOUT", "connect_timeout_s")
    )
    read_timeout_s: float = Field(
        60.0, gt=0, validation_alias=AliasChoices("NVGW_READ_TIMEOUT", "read_timeout_s")
    )
    attempt_deadline_s: float = Field(
        120.0, gt=0, validation_alias=AliasChoices("NVGW_ATTEMPT_DEADLINE", "attempt_deadline_s")
    )
    call_deadline_s: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("NVGW_CALL_DEADLINE", "call_deadline_s")
    )
    cache_path: str | None = Field(None, validation_alias=AliasChoices("NVGW_CACHE", "cache_path"))

    # --- real networks ---------------------------------------------------------------
    proxy: str | None = Field(None, validation_alias=AliasChoices("NVGW_PROXY", "proxy"))
    ca_bundle: str | None = Field(
        None, validation_alias=AliasChoices("NVGW_CA_BUNDLE", "ca_bundle")
    )
    token_auth: Literal["auto", "form", "raw"] = Field(
        "auto", validation_alias=AliasChoices("NVGW_TOKEN_AUTH", "token_auth")
    )
    max_wait_s: float = Field(
        10.0, ge=0, validation_alias=AliasChoices("NVGW_MAX_WAIT", "max_wait_s")
    )

    # --- limits on what is read from the network ---------------------------------------
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        validation_alias=AliasChoices("NVGW_MAX_BODY_BYTES", "max_body_bytes"),
    )
    max_token_bytes: int = Field(
        64 * 1024,
        ge=1024,
        validation_alias=AliasChoices("NVGW_MAX_TOKEN_BYTES", "max_token_bytes"),
    )
    max_sse_event_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        validation_alias=AliasChoices("NVGW_MAX_SSE_EVENT_BYTES", "max_sse_event_bytes"),
    )
    max_json_depth: int = Field(
        100, ge=8, le=1000, validation_alias=AliasChoices("NVGW_MAX_JSON_DEPTH", "max_json_depth")
    )
    max_error_chars: int = Field(
        300, ge=80, validation_alias=AliasChoices("NVGW_MAX_ERROR_CHARS", "max_error_chars")
    )

    # where `variable()` looks: the values given to `load`, then (unless an explicit env
    # mapping was given) os.environ and the .env file
    _given: dict[str, str] = PrivateAttr(default_factory=dict)
    _read_environment: bool = PrivateAttr(default=True)
    _env_file_read: str | None = PrivateAttr(default=".env")

    # --- validation -----------------------------------------------------------------
    @field_validator(
        "nvidia_nim_api_key",
        "starfleet_id",
        "starfleet_secret",
        "openai_api_key",
        "anthropic_api_key",
        "google_api_key",
        mode="before",
    )
    @classmethod
    def _clean_secret(cls, value: Any) -> Any:
        return clean_secret(value)

    @field_validator(
        "nvidia_nim_base_url",
        "starfleet_token_url",
        "llm_gateway_base_url",
        "nvcf_status_url",
        "openai_base_url",
        "anthropic_base_url",
        "google_base_url",
    )
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("llm_gateway_api_version", "llm_gateway_model", "nim_model", "token_scope")
    @classmethod
    def _check_plain(cls, value: str) -> str:
        return check_plain(value)

    @field_validator("llm_gateway_model")
    @classmethod
    def _check_deployment(cls, value: str) -> str:
        # The deployment is a segment of the gateway's URL path (nvgw_nb.names).
        problem = path_name_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; give the Azure deployment name (e.g. gpt-4o-mini)")
        return value

    @field_validator("cache_path", "ca_bundle")
    @classmethod
    def _check_cache_path(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if has_control_chars(value):
            raise ValueError("contains a control character; type the path again")
        return value.strip()

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_proxy_url(value)

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: str | None) -> str | None:
        if value is not None and not os.path.exists(value):
            raise ValueError(
                f"names {value}, which does not exist; point it at the PEM file holding "
                "your corporate root CA"
            )
        return value

    @field_validator("provider_order", mode="before")
    @classmethod
    def _split_order(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        return tuple(value)

    @field_validator("provider_order")
    @classmethod
    def _check_order(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        return check_provider_order(value)

    # --- sources ---------------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _ISOLATED.get():
            return (init_settings,)
        return (init_settings, env_settings, dotenv_settings)

    @classmethod
    def load(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Build settings: `overrides` > `env` (or os.environ) > `env_file`.

        `env_file=".env"` (the default) is the file `NVGW_ENV_FILE` names, else the
        nearest `.env` from the working directory up to the repository root or home
        (`nvgw_nb.env_files`); any other path is read as given. With `env` given,
        os.environ and `.env` are not read at all. Raises `ConfigError` naming each bad
        variable.
        """
        if env is None and env_file is not None and Path(env_file) == Path(".env"):
            env_file = find_env_file()
        values: dict[str, Any] = {}
        if env is not None:
            values.update({k.upper(): v for k, v in env.items()})
        known = _variables()
        unknown = sorted(k for k in overrides if k not in known)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)}; see nvgw_nb.Settings for the names"
            )
        # One key per field (its variable name), so an override replaces the env value.
        values.update({known[k]: v for k, v in overrides.items() if v is not None})
        with _isolated(env is not None):
            try:
                settings = cls(_env_file=env_file, **values)
            except ValidationError as err:
                raise _config_error(err, env_file if env is None else None) from None
        settings._given = {str(k).upper(): str(v) for k, v in values.items()}
        settings._read_environment = env is None
        settings._env_file_read = str(env_file) if env_file is not None else None
        return settings

    # --- derived ---------------------------------------------------------------------
    @property
    def default_order(self) -> tuple[str, ...]:
        """The order when none is given: the registered providers that join it by default
        (NIM; the gateway when enabled; external ones only when NVGW_ALLOW_EXTERNAL is
        true and their key is set)."""
        if self.provider_order:
            return self.provider_order
        return tuple(p.name for p in registry.providers() if p.in_default_order(self))

    @property
    def env_file(self) -> Path | None:
        """The settings file these settings read (None: none was found or given)."""
        if not self._read_environment or self._env_file_read is None:
            return None
        path = Path(self._env_file_read)
        return path if path.is_file() else None

    @property
    def near_misses(self) -> dict[str, str]:
        """Variables set (arguments, environment, `.env`) that nvgw_nb does not read but
        that are close to one it does → that one: `{"NVGW_MAX_RETRY":
        "NVGW_MAX_RETRIES"}`. Names only; values are never looked at."""
        names = set(self._given)
        if self._read_environment:
            names.update(os.environ)
            if self.env_file is not None:
                names.update(dotenv_values(self.env_file))
        return near_misses(names, known_variables())

    @property
    def reads_environment(self) -> bool:
        """Whether these settings were read from os.environ (not an explicit mapping)."""
        return self._read_environment

    def variable(self, name: str) -> str | None:
        """The raw value of any variable, from where these settings were read (the
        arguments, else the environment, else the `.env` file); None when unset.

        Providers without a field of their own read their variables through this.
        """
        name = name.upper()
        if name in self._given:
            return self._given[name]
        if not self._read_environment:
            return None
        value = os.environ.get(name)
        if value is None and self._env_file_read is not None:
            value = dotenv_values(self._env_file_read).get(name)
        return value

    def secret(self, name: str) -> SecretStr | None:
        """The credential in variable `name` (a field's, or any other read through
        `variable`), cleaned like every secret; None when unset."""
        field = _fields_by_variable().get(name.upper())
        if field is not None:
            value = getattr(self, field)
            return value if isinstance(value, SecretStr) or value is None else None
        try:
            cleaned = clean_secret(self.variable(name))
        except ValueError as err:
            raise ConfigError(f"Invalid configuration:\n  {name.upper()} {err}") from None
        return None if cleaned is None else SecretStr(cleaned)

    def url(self, name: str, default: str) -> str:
        """The base URL in variable `name` (a field's, or any other), checked like every
        URL; `default` when unset."""
        field = _fields_by_variable().get(name.upper())
        if field is not None:
            return str(getattr(self, field))
        try:
            return check_url(self.variable(name) or default)
        except ValueError as err:
            raise ConfigError(f"Invalid configuration:\n  {name.upper()} {err}") from None

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "starfleet_id" and isinstance(value, SecretStr):
                yield name, mask(value.get_secret_value())
            elif name == "proxy" and isinstance(value, str):
                yield name, ProxyChoice(value, "NVGW_PROXY").url_without_credentials
            else:
                yield name, value


def known_variables() -> set[str]:
    """Every variable nvgw_nb reads: the settings' and each registered provider's."""
    names = set(_variables().values()) | {ENV_FILE_VARIABLE, "NVGW_SHARE_FILES"}
    for cls in registry.providers():
        names.update(cls.key_variables)
        names.add(cls.base_url_variable)
    return names


@contextmanager
def _isolated(flag: bool) -> Iterator[None]:
    token = _ISOLATED.set(flag)
    try:
        yield
    finally:
        _ISOLATED.reset(token)


def _variables() -> dict[str, str]:
    """Every accepted name of a setting (field, variable, lower-case) → its variable."""
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        primary = str(alias.choices[0]) if isinstance(alias, AliasChoices) else field_name.upper()
        choices = alias.choices if isinstance(alias, AliasChoices) else ()
        for name in (field_name, primary, *map(str, choices)):
            names[name] = names[name.lower()] = primary
    return names


@functools.cache
def _fields_by_variable() -> dict[str, str]:
    """Each field's variable (its first alias) → the field's name."""
    return {
        str(field.validation_alias.choices[0]).upper(): name
        for name, field in Settings.model_fields.items()
        if isinstance(field.validation_alias, AliasChoices)
    }


def _variable_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    name = str(loc[0])
    return _variables().get(name, name.upper())


def _config_error(err: ValidationError, env_file: str | Path | None) -> ConfigError:
    lines, placeholders = [], []
    for item in err.errors(include_input=False, include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        name = _variable_name(item["loc"])
        if message == PLACEHOLDER_PROBLEM:
            placeholders.append(name)
        else:
            lines.append(f"{name} {message}")
    if placeholders:
        # .env.example copied unchanged: one line naming the file, not one per variable
        lines.insert(0, placeholder_problem(placeholders, env_file))
    return ConfigError("Invalid configuration:\n  " + "\n  ".join(lines))
