"""`nv.connect()`: real endpoints when any provider has credentials, else the simulator,
announced with where the settings came from (which providers: `nvgw_nb.provider_choice`).
"""

from __future__ import annotations

import html
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvgw_nb.config import Settings
from nvgw_nb.env_files import did_you_mean
from nvgw_nb.provider_choice import left_out, real_session, settings_source, usable_order
from nvgw_nb.providers import GatewayProvider, NimProvider, registry
from nvgw_nb.session import Session

if TYPE_CHECKING:
    from nvgw_nb.sim import Simulator

__all__ = ["connect"]


def connect(
    *,
    env_file: str | Path | None = ".env",
    simulator: bool | None = None,
    profile: str = "healthy",
    seed: int = 0,
    time_scale: float = 0.1,
    quiet: bool = False,
    **overrides: Any,
) -> Session:
    """Real endpoints when any provider's credentials are configured, else the built-in
    simulator; a banner (`quiet=True` hides it) says which, and which settings file.

    The `.env` is found from the working directory up to the repository root (a
    notebook in `notebooks/` reads the repository's `.env`); `NVGW_ENV_FILE` names
    another. The simulator is stopped when the Session closes.

    `simulator=True` starts the simulator whatever is configured (a notebook whose stored
    outputs must stay simulated on a machine with real credentials); `simulator=False`
    insists on real endpoints (a missing credential is an error, not the simulator).

    >>> session = nv.connect()   # doctest: +SKIP
    """
    # Forced onto the simulator, nothing of the machine's settings is read.
    probe = Settings.load(env={}, env_file=None) if simulator else Settings.load(env_file=env_file)
    if simulator is False or (simulator is None and usable_order(probe) is not None):
        session = real_session(probe, **overrides)
        if not quiet:
            _announce(_real_text(session, probe, env_file is not None), simulated=False)
        return session
    from nvgw_nb.sim import Simulator

    if probe.cache_path and "cache" not in overrides and "cache_path" not in overrides:
        # The simulator's settings come from it alone, but NVGW_CACHE is no credential:
        # a run recorded on the real endpoints replays here, without them.
        overrides["cache"] = probe.cache_path
    sim = Simulator(profile=profile, seed=seed, time_scale=time_scale).start()
    try:
        session = Session.from_env(env=sim.env(), env_file=None, simulator=sim, **overrides)
    except BaseException:
        sim.stop()
        raise
    session._owned.append(sim)
    if not quiet:
        text = (
            _forced_sim_text(sim, time_scale)
            if simulator
            else _sim_text(sim, time_scale, probe, env_file is not None)
        )
        _announce(text, simulated=True)
    return session


def _real_text(session: Session, settings: Settings, searched: bool) -> str:
    text = (
        f"real endpoints, {' → '.join(session.provider_order)}; settings from "
        f"{settings_source(settings, searched=searched)}."
    )
    for name in left_out(settings):
        cls = registry.provider_class(name)
        hint = did_you_mean(settings.near_misses, cls.key_variables)
        text += f" {name} is left out: {' and '.join(cls.key_variables)} not set"
        text += f" ({hint})." if hint else "."
    return text


def _sim_text(sim: Simulator, time_scale: float, settings: Settings, searched: bool) -> str:
    source = settings_source(settings, searched=searched)
    text = (
        f"No credentials found in {source}, so this Session uses the "
        f"built-in SIMULATOR ({sim!r}, latencies ×{time_scale:g}). Answers are simulated. "
        f"Put real credentials ({NimProvider.key_variables[0]}, or the gateway's "
        f"{' and '.join(GatewayProvider.key_variables)}) in .env to use NVIDIA NIM and the "
        "LLM Gateway."
    )
    hint = did_you_mean(settings.near_misses)
    return f"{text} {hint}" if hint else text


def _forced_sim_text(sim: Simulator, time_scale: float) -> str:
    return (
        f"simulator=True: this Session uses the built-in SIMULATOR ({sim!r}, latencies "
        f"×{time_scale:g}) whatever credentials are configured. Answers are simulated."
    )


def _announce(text: str, *, simulated: bool) -> None:
    """Show `text` as HTML inside a Jupyter kernel, else as one line on stderr."""
    ipython: Any = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    title = "nvgw_nb simulator" if simulated else "nvgw_nb"
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display: Any = importlib.import_module("IPython.display")
        background = "#f4f9ec" if simulated else "#f4f6f9"
        style = f"border-left:4px solid {NimProvider.color};padding:4px 8px;background:{background}"
        display.display(
            display.HTML(f'<div style="{style}"><b>{title}</b> — {html.escape(text)}</div>')
        )
    else:
        print(f"{title}: {text}", file=sys.stderr)
