"""`nv.connect()`: real endpoints when credentials exist, else the simulator, announced."""

from __future__ import annotations

import html
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvgw_nb.config import Settings
from nvgw_nb.providers import NimProvider
from nvgw_nb.session import Session

if TYPE_CHECKING:
    from nvgw_nb.sim import Simulator

__all__ = ["connect"]


def connect(
    *,
    env_file: str | Path | None = ".env",
    profile: str = "healthy",
    seed: int = 0,
    time_scale: float = 0.1,
    quiet: bool = False,
    **overrides: Any,
) -> Session:
    """Real endpoints when NIM's key is configured, else the built-in simulator.

    The simulator is announced with a visible banner (`quiet=True` hides it) and
    stopped when the Session closes.

    >>> session = nv.connect()   # doctest: +SKIP
    """
    probe = Settings.load(env_file=env_file)
    if not NimProvider.missing_credentials(probe):
        return Session.from_env(env_file=env_file, **overrides)
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
        _banner(sim, time_scale)
    return session


def _banner(sim: Simulator, time_scale: float) -> None:
    text = (
        f"No {NimProvider.key_variables[0]} found, so this Session uses the built-in SIMULATOR "
        f"({sim!r}, latencies ×{time_scale:g}). Answers are simulated. Put real "
        "credentials in .env to use NVIDIA NIM and the LLM Gateway."
    )
    ipython: Any = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display: Any = importlib.import_module("IPython.display")
        style = f"border-left:4px solid {NimProvider.color};padding:4px 8px;background:#f4f9ec"
        display.display(
            display.HTML(
                f'<div style="{style}"><b>nvgw_nb simulator</b> — {html.escape(text)}</div>'
            )
        )
    else:
        print("nvgw_nb: " + text, file=sys.stderr)
