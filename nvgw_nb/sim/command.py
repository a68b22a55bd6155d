"""`nvgw-nb sim`: a standalone simulator that prints its `export` lines and serves until
Ctrl-C (or SIGTERM), so shells, `nvgw-nb chat` and notebooks elsewhere can talk to it."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator

from nvgw_nb.sim.simulator import Simulator

__all__ = ["serve_until_interrupted", "wait_for_interrupt"]


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (KeyboardInterrupt). Tests replace it to return at once."""
    while True:
        time.sleep(3600)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt while the simulator serves.

    A process started in the background of a non-interactive shell inherits an ignored
    SIGINT; `kill` sends SIGTERM. Either way the simulator should stop cleanly.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_until_interrupted(
    *,
    profile: str,
    seed: int,
    time_scale: float,
    port: int,
    prog: str = "nvgw-nb",
    token_auth: str = "either",  # noqa: S107  (an encoding, not a password)
) -> int:
    """Start a simulator, print its `export` lines, serve until Ctrl-C or SIGTERM; the
    exit code (2: bad arguments, 1: the port could not be bound)."""
    try:
        sim = Simulator(
            profile=profile, seed=seed, time_scale=time_scale, port=port, token_auth=token_auth
        )
    except ValueError as err:
        print(f"{prog} sim: error: {err}", file=sys.stderr)
        return 2
    try:
        sim.start()
    except OSError as err:
        reason = err.strerror or err
        print(
            f"{prog}: error: could not start the simulator on port {port}: {reason}",
            file=sys.stderr,
        )
        return 1
    out = sys.stdout
    try:
        # Signals are armed before the first line: a caller may send Ctrl-C as soon as
        # it has read the exports.
        with contextlib.suppress(KeyboardInterrupt), _stop_signals():
            out.write(
                f"# nvgw_nb SIMULATOR on {sim.url} (profile {profile}, seed {seed}, "
                f"time scale {time_scale:g}): simulated NIM, LLM Gateway and Starfleet; "
                "its credentials are fake and work only here.\n"
            )
            out.write(sim.export_lines())
            out.write(
                "# Run these export lines in another shell, then use nvgw-nb chat or a "
                "notebook.\n# Press Ctrl-C to stop the simulator.\n"
            )
            out.flush()
            wait_for_interrupt()
    finally:
        sim.stop()
    print(f"{prog}: simulator stopped", file=sys.stderr)
    return 0
