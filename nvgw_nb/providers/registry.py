"""Every provider nvgw_nb knows, in the order the integration guide tries them.

Generic code — the Session, `nvgw-nb check`, the widgets, the plots, the settings —
reads providers from here and their facts from their classes, never from tables of
its own. Adding a provider is its own module plus one line in `_BUILT_IN` below.

>>> [p.name for p in providers()]
['nvidia-nim', 'nvidia-gateway', 'openai', 'anthropic', 'google-genai']
>>> provider_class("openai").external
True

Tests (and plug-ins) may `register` a provider of their own and `unregister` it after.
"""

from __future__ import annotations

import zlib

from nvgw_nb.errors import ConfigError
from nvgw_nb.providers.anthropic import AnthropicProvider
from nvgw_nb.providers.base import Provider
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.google import GoogleProvider
from nvgw_nb.providers.nim import NimProvider
from nvgw_nb.providers.openai import OpenAIProvider

__all__ = [
    "external_names",
    "internal_names",
    "names",
    "provider_class",
    "provider_color",
    "providers",
    "register",
    "unregister",
]

_BUILT_IN: tuple[type[Provider], ...] = (
    NimProvider,
    GatewayProvider,
    OpenAIProvider,
    AnthropicProvider,
    GoogleProvider,
)
_REGISTRY: dict[str, type[Provider]] = {cls.name: cls for cls in _BUILT_IN}
# for providers that name no colour (and names no longer registered, e.g. in old results)
_SPARE_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#4b0082", "#a0522d")


def register(cls: type[Provider]) -> type[Provider]:
    """Add a provider class (usable as a decorator); its name must be new."""
    if not isinstance(cls, type) or not issubclass(cls, Provider):
        raise TypeError(f"{cls!r} is not a Provider subclass")
    if cls.name in _REGISTRY:
        raise ValueError(f"a provider named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a provider that `register` added (built-in ones stay)."""
    if any(cls.name == name for cls in _BUILT_IN):
        raise ValueError(f"{name!r} is built in and cannot be unregistered")
    _REGISTRY.pop(name, None)


def providers() -> tuple[type[Provider], ...]:
    """Every registered provider class, in registration order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    """Every registered provider's name."""
    return tuple(_REGISTRY)


def internal_names() -> tuple[str, ...]:
    """The providers inside NVIDIA (always allowed)."""
    return tuple(name for name, cls in _REGISTRY.items() if not cls.external)


def external_names() -> tuple[str, ...]:
    """The providers outside NVIDIA (off unless NVGW_ALLOW_EXTERNAL=true)."""
    return tuple(name for name, cls in _REGISTRY.items() if cls.external)


def provider_class(name: str) -> type[Provider]:
    """The class of the provider called `name`; `ConfigError` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; choose from {', '.join(_REGISTRY)}"
        ) from None


def provider_color(name: str) -> str:
    """The colour `name` has in every plot and panel: its class's, else a stable spare.

    >>> provider_color("nvidia-nim") == NimProvider.color
    True
    """
    cls = _REGISTRY.get(name)
    if cls is not None and cls.color is not None:
        return cls.color
    return _SPARE_COLORS[zlib.crc32(name.encode()) % len(_SPARE_COLORS)]
