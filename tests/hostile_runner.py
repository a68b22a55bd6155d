"""One hostile case in a process of its own:
`python -m tests.hostile_runner MODE CALL FALLBACK [TRANSPORT]`.

NIM is a `HostileServer` in `MODE`, the gateway the simulator; CALL is chat, stream or
models; FALLBACK is 1 (the gateway is in the plan) or 0; TRANSPORT is the Session's
(default: auto, i.e. aiohttp). Prints one JSON line: how long
the call took, what it ended in, the longest error text it carried, and this process's
peak RSS — so the parent can check time, type, fallback and memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from tests.hostile import HostileServer

ATTEMPT_S = 2.0
CALL_S = 5.0


def _call(session: nv.Session, call: str, fallback: bool) -> Any:
    providers = None if fallback else ["nvidia-nim"]
    if call == "models":
        return session.models("nvidia-nim")
    if call == "stream":
        stream = session.stream("hi", providers=providers)
        for _ in stream:
            pass
        return stream.result
    return session.chat("hi", providers=providers)


def main(mode: str, call: str, fallback: bool, transport: str = "auto") -> dict[str, Any]:
    """Run the case; what it ended in."""
    report: dict[str, Any] = {"served_by": None, "raised": None, "texts": [0]}
    with Simulator(time_scale=0) as sim, HostileServer(mode) as server:
        settings = {
            "nvidia_nim_base_url": server.url + "/v1",
            "attempt_deadline_s": ATTEMPT_S,
            "call_deadline_s": CALL_S,
            "transport": transport,
        }
        with sim.session(**settings) as session:
            started = time.monotonic()
            attempts: list[nv.Attempt] = []
            try:
                outcome = _call(session, call, fallback)
            except nv.NvgwError as err:
                report["raised"] = type(err).__name__
                report["texts"].append(len(str(err)))
                attempts = err.attempts
            except BaseException as err:  # the very thing under test
                report["raised"] = f"untyped {type(err).__name__}"
            else:
                if isinstance(outcome, nv.ChatResult):
                    report["served_by"] = outcome.served_by
                    report["model_chars"] = len(outcome.model)
                    report["cost_usd"] = outcome.cost_usd
                    attempts = outcome.attempts
            report["elapsed_s"] = time.monotonic() - started
    report["nim_kinds"] = [a.error_kind for a in attempts if a.provider == "nvidia-nim"]
    report["texts"] += [len(a.error or "") for a in attempts]
    report["estimated"] = [a.usage_estimated for a in attempts if a.outcome == "ok"]
    report["negative_usage"] = any(
        a.usage is not None and min(a.usage.prompt_tokens, a.usage.completion_tokens) < 0
        for a in attempts
    )
    report["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3], sys.argv[3] == "1", *sys.argv[4:5])))
