"""The chaos run: many calls through a misbehaving simulator, then check that the books balance.

`run_chaos` drives `calls` chats at `concurrency` through a Session on a `Simulator` whose NIM
fails about half the time (the `flaky-nim` profile plus a fault from every other class
FAULTS.md has for NIM), whose Starfleet tokens expire every `token_lifetime` seconds, whose
token endpoint fails now and then (T1-T3) and whose gateway now and then turns down a token it
issued (G1). Plain, streaming, tool and structured-output calls are mixed. Afterwards it
checks, against the simulator's own counters:

- every call returned a `ChatResult` or raised an `NvgwError` (no other exception);
- with the gateway healthy, every call was served, except those whose fault must not be
  routed around (content filter, bad request, context too long: FAULTS.md E3, X1, X3) and
  the rare call whose token the gateway turned down twice (two injected G1s: AuthError);
- the attempts recorded on results and errors add up exactly to the chat requests the
  simulator received, per provider (a 401 answered by a token refresh counts twice);
- no 401 from an expired token, and no correlationId sent twice;
- no task, thread, connection or file descriptor left open once the Session is closed;
- memory flat: resident memory and live Python objects at the end of the second half of the
  run are within a small margin of the end of the first half.

`benchmarks/chaos.py` runs 100,000 calls and writes the table; `tests/test_chaos.py` runs
~2,000 (it imports this module as `benchmarks.chaos_harness`). The simulator's child process
is this file run as a script: `python benchmarks/chaos_harness.py serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from nvgw_nb.errors import (
    AllProvidersFailed,
    AuthError,
    BadRequest,
    CircuitOpen,
    ContentFiltered,
    ContextTooLong,
    NvgwError,
)
from nvgw_nb.results import Attempt, ChatResult
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.session import Session
from nvgw_nb.sim.profiles import PROFILES, Profile
from nvgw_nb.sim.simulator import Simulator

__all__ = ["CHAOS_PROFILE", "ChaosReport", "run_chaos"]

_FLAKY = PROFILES["flaky-nim"]

CHAOS_PROFILE = Profile(
    "chaos",
    "flaky-nim plus a fault from every class FAULTS.md has for NIM: it fails about half the "
    "time; the gateway is healthy.",
    fault_rates={
        "nvidia-nim": {
            **_FLAKY.fault_rates["nvidia-nim"],
            "R2": 0.02,
            "C2": 0.005,
            "B2": 0.02,
            "B3": 0.02,
            "B5": 0.04,  # tools only
            "B6": 0.04,  # structured output only
            "E2": 0.01,
            "X2": 0.01,
            "X4": 0.002,
            "E3": 0.003,  # never routed around
            "X1": 0.003,  # never routed around
        },
    },
)
"""The simulator profile of the chaos run (the gateway itself stays healthy)."""

#: every this many calls the run queues one G1 (the gateway turns down a token it issued) and,
#: half-way between, one token-endpoint failure (T1, T2, T3 in turn), each only once the last
#: one fired. Not drawn at random: random draws can hit a request and its replay, or several
#: token fetches in a row, which FAULTS.md rightly reports as broken auth, not a healthy gateway.
_INJECT_EVERY = 200
_TOKEN_FAULTS = ("T1", "T2", "T3")

# Errors a healthy gateway cannot prevent: FAULTS.md says not to route around them.
_BY_DESIGN: tuple[type[NvgwError], ...] = (ContentFiltered, BadRequest, ContextTooLong)


def _by_design(err: NvgwError) -> bool:
    """E3/X1/X3, or G1 twice in one call: the gateway turned down the token and, after the
    refresh, the new one too (two injected G1s, when a replay waited on a slow token fetch
    past the next injection). FAULTS.md makes that an AuthError; the "401s from expired
    tokens" row checks that no other 401 happened.

    That AuthError also opens the gateway's circuit breaker ("auth broken"), so a call in
    flight whose NIM attempts failed meanwhile finds the gateway skipped for the cooldown:
    a consequence of the same event, by design too."""
    if isinstance(err, _BY_DESIGN):
        return True
    if isinstance(err, AllProvidersFailed):
        err = err.errors.get("nvidia-gateway", err)
    if isinstance(err, CircuitOpen) and "auth broken" in str(err):
        return True
    return isinstance(err, AuthError) and err.phase == "replay"


_CHAT_PROVIDERS = ("nvidia-nim", "nvidia-gateway")
_THIS_FILE = Path(__file__).resolve()
_MIB = 1024 * 1024

_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class _Verdict(BaseModel):
    """The structured output the chaos run asks for."""

    answer: str


@dataclass
class ChaosReport:
    """What a chaos run counted, and the checks it failed (`problems`, empty when all hold)."""

    calls: int
    concurrency: int
    seed: int = 0
    seconds: float = 0.0
    served: int = 0
    served_by: Counter[str] = field(default_factory=Counter)
    fell_back: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    unexpected_errors: Counter[str] = field(default_factory=Counter)
    #: the first few unexpected errors in full, to diagnose a failed check
    unexpected_samples: list[str] = field(default_factory=list)
    untyped: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    requests: dict[str, int] = field(default_factory=dict)
    faults_fired: Counter[str] = field(default_factory=Counter)
    token_grants: int = 0
    expired_token_401s: int = 0
    duplicate_correlation_ids: int = 0
    pending_tasks: int = 0
    threads_left: int = 0
    connections_left: int | None = None
    fds_left: int | None = None
    rss_mib: tuple[float, float] | None = None
    live_objects: tuple[int, int] = (0, 0)
    problems: list[str] = field(default_factory=list)

    @property
    def fault_classes(self) -> Counter[str]:
        """Faults fired per FAULTS.md class (the letter of the id: B, C, E, G, N, R, S, T, X)."""
        classes: Counter[str] = Counter()
        for fault_id, n in self.faults_fired.items():
            classes[fault_id[0]] += n
        return classes

    @property
    def calls_per_s(self) -> float:
        """Calls finished per second of wall time."""
        return self.calls / self.seconds if self.seconds else 0.0

    def rows(self) -> list[tuple[str, str, str]]:
        """(figure, value, check) rows for a table; check is "ok", "FAILED" or ""."""

        def check(ok: bool) -> str:
            return "ok" if ok else "FAILED"

        attempts_ok = all(self.attempts[p] == self.requests.get(p, 0) for p in _CHAT_PROVIDERS)
        returned = self.served + sum(self.errors.values())
        rows = [
            (
                "data",
                f"SIMULATED: nvgw_nb simulator, profile {CHAOS_PROFILE.name}, seed {self.seed}, "
                "no latency",
                "",
            ),
            ("calls", f"{self.calls:,} at concurrency {self.concurrency}", ""),
            ("wall time", f"{self.seconds:.1f} s ({self.calls_per_s:,.0f} calls/s)", ""),
            (
                "returned a result or an NvgwError",
                f"{returned:,} of {self.calls:,}",
                check(returned == self.calls and not self.untyped),
            ),
            (
                "served",
                f"{self.served:,} ({100 * self.served / max(self.calls, 1):.2f}%): "
                + ", ".join(f"{p} {n:,}" for p, n in sorted(self.served_by.items())),
                "",
            ),
            ("fell back to the gateway", f"{self.fell_back:,}", ""),
            (
                "errors by design (E3, X1, X3: never routed around; G1 twice in one call, and the "
                "breaker it opens)",
                _counts(self.errors - self.unexpected_errors) or "none",
                "",
            ),
            (
                "other errors (with the gateway healthy: none)",
                _counts(self.unexpected_errors) or "none",
                check(not self.unexpected_errors),
            ),
            (
                "faults fired by the simulator, by FAULTS.md class",
                f"{sum(self.faults_fired.values()):,}: {_counts(self.fault_classes)}",
                "",
            ),
            ("failed or skipped attempts by kind", _counts(self.kinds) or "none", ""),
            (
                "attempts recorded = simulator chat requests",
                "; ".join(
                    f"{p} {self.attempts[p]:,} = {self.requests.get(p, 0):,}"
                    for p in _CHAT_PROVIDERS
                ),
                check(attempts_ok),
            ),
            ("Starfleet tokens granted", f"{self.token_grants:,}", check(self.token_grants > 1)),
            (
                "401s from expired tokens",
                f"{self.expired_token_401s:,}",
                check(self.expired_token_401s == 0),
            ),
            (
                "correlationIds sent twice",
                f"{self.duplicate_correlation_ids:,}",
                check(self.duplicate_correlation_ids == 0),
            ),
            (
                "left open after close: tasks, threads, connections, fds",
                f"{self.pending_tasks}, {self.threads_left}, "
                f"{_maybe(self.connections_left)}, {_maybe(self.fds_left)}",
                check(
                    self.pending_tasks == 0
                    and self.threads_left == 0
                    and not self.connections_left
                    and not self.fds_left
                ),
            ),
        ]
        if self.rss_mib is not None:
            first, second = self.rss_mib
            rows.append(
                (
                    "resident memory, end of 1st half → 2nd half",
                    f"{first:.1f} → {second:.1f} MiB ({second - first:+.1f})",
                    check(not _grew(first, second, 0.05, 8.0)),
                )
            )
        first_objects, second_objects = self.live_objects
        rows.append(
            (
                "live Python objects, end of 1st half → 2nd half",
                f"{first_objects:,} → {second_objects:,} ({second_objects - first_objects:+,})",
                check(not _grew(first_objects, second_objects, 0.02, 2000)),
            )
        )
        return rows

    def table(self) -> str:
        """The figures as a Markdown table (simulated data, marked as such)."""
        lines = [
            "| figure | value | check |",
            "|---|---|---|",
            *(f"| {name} | {value} | {mark} |" for name, value, mark in self.rows()),
        ]
        return "\n".join(lines)


def run_chaos(
    calls: int = 2000,
    *,
    concurrency: int = 64,
    seed: int = 0,
    token_lifetime: float = 6.0,
    retry: RetryPolicy | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChaosReport:
    """Run the chaos run and return its report; `report.problems` lists every failed check.

    The simulator runs in a process of its own, so memory, threads and file descriptors are
    the client's alone and the two do not share one interpreter lock. `retry` defaults to a
    policy that never sleeps; `progress(n)` is called as calls finish.
    """
    if calls < 2:
        raise ValueError("calls must be at least 2 (the run is checked in two halves)")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = ChaosReport(calls=calls, concurrency=concurrency, seed=seed)
    with _SimProcess(seed=seed, token_lifetime=token_lifetime) as sim:
        threads_before = _thread_names()
        fds_before = _fd_count()
        session = Session.from_env(
            env=sim.env,
            env_file=None,
            retry=retry or RetryPolicy.no_wait(),
            # X4 opens NIM's breaker at once; a short cooldown keeps NIM in the run.
            breaker_cooldown_s=0.2,
            # A C2 stall lasts until the read timeout: keep it short, but far above the
            # time a loaded 2-core machine may take to answer a healthy request.
            read_timeout_s=2.0,
        )
        plan = random.Random(seed)
        kinds = [_call_kind(plan) for _ in range(calls)]
        samples: list[tuple[float | None, int]] = []
        t0 = time.perf_counter()
        try:
            half = calls // 2
            for start, stop in ((0, half), (half, calls)):
                asyncio.run(
                    _drive(session, sim, kinds[start:stop], start, concurrency, report, progress)
                )
                samples.append(_memory_sample())
            report.pending_tasks = session._portal.run(_pending_tasks())
        finally:
            session.close()
        report.seconds = time.perf_counter() - t0
        report.connections_left = _wait_for_zero(lambda: _established(sim.port))
        report.threads_left = len(_thread_names() - threads_before)
        fds_after = _fd_count()
        if fds_before is not None and fds_after is not None:
            report.fds_left = max(0, fds_after - fds_before)
        _tally_simulator(report, sim.stats())
    (rss1, objects1), (rss2, objects2) = samples
    report.rss_mib = (rss1, rss2) if rss1 is not None and rss2 is not None else None
    report.live_objects = (objects1, objects2)
    report.problems = [
        f"{name}: {value}" for name, value, mark in report.rows() if mark == "FAILED"
    ]
    return report


class _SimProcess:
    """`python benchmarks/chaos_harness.py serve`: the chaos simulator in a child process, driven
    over its HTTP control endpoints (/__sim/inject, /__sim/stats)."""

    def __init__(self, *, seed: int, token_lifetime: float) -> None:
        self._args = ["--seed", str(seed), "--token-lifetime", str(token_lifetime)]
        self._process: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}
        self.url = ""
        self.port = 0

    def __enter__(self) -> _SimProcess:
        self._process = subprocess.Popen(
            [sys.executable, str(_THIS_FILE), "serve", *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the chaos simulator process did not start")
        ready = json.loads(line)
        self.env, self.url, self.port = ready["env"], ready["url"], ready["port"]
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()  # the child serves until its stdin closes
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()

    async def inject_when_idle(self, client: httpx.AsyncClient, provider: str, fault: str) -> None:
        """Queue `fault` unless one queued earlier has not fired yet: token requests are rare
        (one per lifetime), and a queue of token faults would be an outage, not a hiccup."""
        stats = (await client.get(f"{self.url}/__sim/stats")).raise_for_status().json()
        injected = sum(stats["faults_injected"][provider].values())
        if injected > sum(stats["faults_fired"][provider].values()):
            return
        response = await client.post(
            f"{self.url}/__sim/inject", json={"provider": provider, "fault": fault}
        )
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.url}/__sim/stats", timeout=30).json()
        return stats


def _serve(argv: list[str]) -> None:
    """The child side of `_SimProcess`: print the env as one JSON line, serve until EOF."""
    parser = argparse.ArgumentParser(prog="python benchmarks/chaos_harness.py serve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-lifetime", type=float, default=6.0)
    args = parser.parse_args(argv)
    with Simulator(
        CHAOS_PROFILE, seed=args.seed, time_scale=0, token_lifetime=args.token_lifetime
    ) as sim:
        port = int(sim.url.rsplit(":", 1)[1].split("/")[0])
        print(json.dumps({"env": sim.env(), "url": sim.url, "port": port}), flush=True)
        sys.stdin.read()


async def _drive(
    session: Session,
    sim: _SimProcess,
    kinds: list[str],
    offset: int,
    concurrency: int,
    report: ChaosReport,
    progress: Callable[[int], None] | None,
) -> None:
    """`concurrency` workers take calls off one queue; each outcome is tallied, then dropped."""
    queue = iter(range(len(kinds)))
    async with httpx.AsyncClient(timeout=30) as control:

        async def worker() -> None:
            for index in queue:
                n, phase = divmod(index + offset, _INJECT_EVERY)
                if phase == 0:
                    await sim.inject_when_idle(control, "nvidia-gateway", "G1")
                elif phase == _INJECT_EVERY // 2:
                    fault = _TOKEN_FAULTS[n % len(_TOKEN_FAULTS)]
                    await sim.inject_when_idle(control, "starfleet", fault)
                try:
                    result = await _one_call(session, kinds[index], index + offset)
                except NvgwError as err:
                    _tally_error(report, err)
                except Exception as err:  # the run counts what must never happen
                    report.untyped[type(err).__name__] += 1
                else:
                    _tally_result(report, result)
                if progress is not None:
                    progress(1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _one_call(session: Session, kind: str, index: int) -> ChatResult:
    prompt = f"chaos call {index}: summarise the state of the fleet"
    if kind == "stream":
        stream = session.astream(prompt, stream_mode="restart")
        async for _ in stream:
            pass
        return stream.result
    if kind == "tools":
        return await session.achat(
            f"chaos call {index}: what is the weather in Santa Clara?", tools=[_WEATHER_TOOL]
        )
    if kind == "structured":
        return await session.achat(prompt, response_format=_Verdict)
    return await session.achat(prompt)


def _call_kind(rng: random.Random) -> str:
    return rng.choices(("chat", "stream", "tools", "structured"), weights=(55, 20, 15, 10))[0]


def _tally_result(report: ChaosReport, result: ChatResult) -> None:
    report.served += 1
    report.served_by[result.served_by] += 1
    report.fell_back += result.fell_back
    _tally_attempts(report, result.attempts)


def _tally_error(report: ChaosReport, err: NvgwError) -> None:
    name = type(err).__name__
    report.errors[name] += 1
    if not _by_design(err):
        report.unexpected_errors[name] += 1
        if len(report.unexpected_samples) < 3:
            tried = "; ".join(
                f"{a.provider} {a.error_kind}: {a.error}" for a in getattr(err, "attempts", [])
            )
            report.unexpected_samples.append(f"{name}: {err} [attempts: {tried}]")
    _tally_attempts(report, getattr(err, "attempts", []))


def _tally_attempts(report: ChaosReport, attempts: list[Attempt]) -> None:
    for attempt in attempts:
        report.attempts[attempt.provider] += attempt.requests_sent
        if attempt.error_kind:
            report.kinds[attempt.error_kind] += 1


def _tally_simulator(report: ChaosReport, stats: Mapping[str, Any]) -> None:
    for provider in _CHAT_PROVIDERS:
        report.requests[provider] = stats["requests"][provider]["chat"]
    for fired in stats["faults_fired"].values():
        report.faults_fired.update(fired)
    report.token_grants = stats["token_grants"]
    g1 = stats["faults_fired"]["nvidia-gateway"].get("G1", 0)
    report.expired_token_401s = stats["tokens_rejected"] - g1
    report.duplicate_correlation_ids = stats["correlation_ids"]["duplicates"]


async def _pending_tasks() -> int:
    me = asyncio.current_task()
    return sum(1 for t in asyncio.all_tasks() if t is not me and not t.done())


def _thread_names() -> set[str]:
    return {f"{t.name}:{t.ident}" for t in threading.enumerate() if t.is_alive()}


def _memory_sample() -> tuple[float | None, int]:
    gc.collect()
    return _rss_mib(), len(gc.get_objects())


def _rss_mib() -> float | None:
    """Resident memory now (not the peak), where /proc tells it."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / _MIB


def _fd_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _established(port: int) -> int | None:
    """TCP connections to or from the simulator's port still established (Linux only)."""
    count = 0
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            local, remote, state = line.split()[1:4]
            ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
            count += state == "01" and port in ports
    return count if found else None


def _wait_for_zero(probe: Callable[[], int | None], timeout_s: float = 5.0) -> int | None:
    """Poll until `probe()` is 0 (closing sockets take a moment to be reaped), or time out."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if not value or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


def _grew(before: float, after: float, fraction: float, absolute: float) -> bool:
    return after - before > max(before * fraction, absolute)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counter.most_common())


def _maybe(value: int | None) -> str:
    return "n/a" if value is None else str(value)


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        raise SystemExit(
            "usage: python benchmarks/chaos_harness.py serve [--seed N] [--token-lifetime S]"
        )
    _serve(sys.argv[2:])
