"""Which providers a real Session uses, and where its settings came from: the one rule
that `nv.connect()`, `nvgw-nb chat`, `nvgw-nb compare` and `nvgw-nb check` share.

`NVGW_PROVIDER_ORDER` when set; else the default order without the providers none of
whose credentials are set (gateway-only credentials give a gateway-only Session, NIM-only
ones a NIM-only Session). When no provider has any credential, `nv.connect()` uses the
simulator.
"""

from __future__ import annotations

from typing import Any

from nvgw_nb.config import Settings
from nvgw_nb.env_files import (
    ENV_FILE_VARIABLE,
    did_you_mean,
    display_path,
    find_env_file,
    search_dirs,
)
from nvgw_nb.errors import ConfigError, MissingCredentials
from nvgw_nb.providers import registry
from nvgw_nb.session import Session

__all__ = ["left_out", "real_session", "settings_source", "usable_order"]


def usable_order(settings: Settings) -> tuple[str, ...] | None:
    """The providers a real Session uses, in order; None when no provider in the order
    has any credential set (then `connect()` uses the simulator).

    `NVGW_PROVIDER_ORDER` is honoured as configured. Without it, providers none of whose
    credentials are set are left out; one with only some of them stays in, so the
    Session names what it lacks.
    """
    order = settings.default_order
    present = [name for name in order if _has_credentials(settings, name)]
    if not any(registry.provider_class(name).key_variables for name in present):
        return None
    return settings.provider_order or tuple(present)


def left_out(settings: Settings) -> list[str]:
    """The providers of the default order that `usable_order` leaves out (no credential)."""
    order = usable_order(settings)
    return [] if order is None else [n for n in settings.default_order if n not in order]


def real_session(settings: Settings | None = None, **overrides: Any) -> Session:
    """A Session on the real endpoints of `settings` (default: environment and the
    discovered `.env`), in `usable_order`; a missing credential's error names any
    near-miss variable ("… is set; did you mean …?")."""
    probe = settings if settings is not None else Settings.load()
    order = usable_order(probe)
    if order is not None and "provider_order" not in overrides:
        overrides["provider_order"] = order
    try:
        return Session.from_env(env_file=probe.env_file, **overrides)
    except MissingCredentials as err:
        hint = did_you_mean(probe.near_misses, err.variables)
        if not hint:
            raise
        raise MissingCredentials(
            f"{err} ({hint})", provider=err.provider, variables=err.variables, hint=err.hint
        ) from None


def settings_source(settings: Settings | None, *, searched: bool = True) -> str:
    """Where settings were read, for banners: "the environment and ~/proj/.env", or
    where no `.env` was found (`searched=False`: none was asked for, `env_file=None`).
    `settings=None` (they failed to load): the file the search finds. Paths only, never
    a value."""
    if settings is not None and settings.env_file is not None:
        return f"the environment and {display_path(settings.env_file)}"
    if settings is None and searched:
        try:
            found = find_env_file()
        except ConfigError:  # NVGW_ENV_FILE names no file: the error says so
            return f"the environment and {ENV_FILE_VARIABLE}"
        if found is not None:
            return f"the environment and {display_path(found)}"
    if not searched:
        return "the environment (env_file=None: no .env read)"
    dirs = search_dirs()
    if len(dirs) == 1:
        where = display_path(dirs[0])
    else:
        where = f"{display_path(dirs[0])} or its parents up to {display_path(dirs[-1])}"
    return f"the environment (no .env in {where})"


def _has_credentials(settings: Settings, name: str) -> bool:
    """Whether any of its credentials is set (a provider without any needs none)."""
    cls = registry.provider_class(name)
    if cls.external and not settings.allow_external:
        return False
    missing = cls.missing_credentials(settings)
    return not cls.key_variables or len(missing) < len(cls.key_variables)
