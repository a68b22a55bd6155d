"""The `nvgw-nb` command line: check the setup, ask a question, compare, run the simulator.

    nvgw-nb check                      # is .env right? fetch a token, probe each provider
    nvgw-nb check --sim                # the same against a fresh simulator: what success looks like
    nvgw-nb chat "Summarise this diff: ..." --role planner
    nvgw-nb chat "hi" --providers nvidia-gateway --json
    nvgw-nb compare examples/prompts.jsonl --out compare-output --repeats 3
    nvgw-nb compare prompts.txt --out out/cmp --simulator --profile flaky-nim
    nvgw-nb sim --profile flaky-nim    # a standalone simulator; prints `export` lines
    nvgw-nb cache stats                # what the response cache (NVGW_CACHE) holds
    nvgw-nb cache clear --yes          # empty it

Errors (`NvgwError`) are printed as one line on stderr with exit code 1; usage errors
exit with 2. Secrets are never printed: keys are reported as "set", the client id masked.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.batch import BatchPrompt
from nvgw_nb.cache import DEFAULT_CACHE_PATH, ResponseCache
from nvgw_nb.config import (
    EXTERNAL_PROVIDERS,
    INTERNAL_PROVIDERS,
    Settings,
    check_provider_order,
)
from nvgw_nb.errors import (
    AuthError,
    ConfigError,
    ModelNotFound,
    NvgwError,
    ProviderAuthError,
    ProviderTimeout,
    ProviderUnreachable,
)
from nvgw_nb.redaction import mask
from nvgw_nb.results import ChatResult
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.roles import ROLE_NAMES
from nvgw_nb.session import Session

__all__ = ["PromptsFileError", "main", "read_prompts", "sim_retry_policy"]

PROG = "nvgw-nb"
#: latency scale of the simulator started by `--sim` (its answers arrive in a few ms)
SIM_TIME_SCALE = 0.05
#: what the provider probes of `check` ask
PROBE_PROMPT = "Reply with one word: ready"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 usage error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except NvgwError as err:
        _error(str(err))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


# --- argument parsing ---------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="NVIDIA NIM with the NVIDIA LLM Gateway as its fallback (and a simulator).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="validate the configuration, fetch a Starfleet token, probe each provider",
        description="Validate the settings (environment and ./.env), fetch a Starfleet token "
        "and send one short request to each configured provider. Exit code 0 when all is "
        "well, 1 when something failed (each failure says how to fix it).",
    )
    check.add_argument(
        "--sim",
        action="store_true",
        help="run the same check against a fresh built-in simulator (what success looks like)",
    )
    check.set_defaults(handler=_check)

    chat = commands.add_parser(
        "chat",
        help="ask one question, with fallback",
        description="Print the answer on stdout and a one-line summary (who served it, how "
        "fast, whether it fell back) on stderr.",
    )
    chat.add_argument("prompt", help="the user message")
    chat.add_argument(
        "--role", help=f"task role: {', '.join(ROLE_NAMES)} (default: the Session's defaults)"
    )
    chat.add_argument(
        "--providers",
        type=_provider_list,
        help="comma-separated provider order for this call, e.g. nvidia-gateway",
    )
    chat.add_argument(
        "--no-fallback", action="store_true", help="try only the first provider in the order"
    )
    chat.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    chat.add_argument(
        "--json", action="store_true", help="print the full ChatResult as JSON on stdout"
    )
    chat.add_argument(
        "--sim", action="store_true", help="ask a fresh built-in simulator instead (simulated)"
    )
    chat.set_defaults(handler=_chat)

    sim = commands.add_parser(
        "sim",
        help="run the simulator standalone until Ctrl-C",
        description="Start the loopback simulator of NIM, the LLM Gateway and Starfleet, print "
        "`export` lines that point nvgw_nb at it, and serve until Ctrl-C.",
    )
    sim.add_argument("--profile", default="healthy", help="fault profile (default: healthy)")
    sim.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    sim.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply simulated latencies by this (0 = no delays; default: 1)",
    )
    sim.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    sim.set_defaults(handler=_sim)

    compare = commands.add_parser(
        "compare",
        help="run prompts on NIM and the gateway side by side and write a report",
        description="Run every prompt on every provider (pinned: no fallback), --repeats "
        "times, print the summary table and write results.csv, results.jsonl, summary.md, "
        "one PNG per plot and report.html (open it first) into --out. PROMPTS is a .jsonl "
        'file (one {"prompt": ..., "role": ...} object per line) or a text file (one '
        "prompt per line; blank lines and # comments are skipped).",
    )
    compare.add_argument("prompts", metavar="PROMPTS", help="a .jsonl or text file of prompts")
    compare.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the report (created if needed)"
    )
    compare.add_argument(
        "--providers",
        type=_provider_list,
        default=list(INTERNAL_PROVIDERS),
        help="comma-separated providers to compare (default: nvidia-nim,nvidia-gateway)",
    )
    compare.add_argument(
        "--repeats", type=_positive_int, default=1, help="runs of each prompt (default: 1)"
    )
    compare.add_argument(
        "--role",
        help=f"role of prompts that name none: {', '.join(ROLE_NAMES)} "
        "(default: the Session's defaults)",
    )
    compare.add_argument(
        "--concurrency", type=_positive_int, default=8, help="requests in flight (default: 8)"
    )
    compare.add_argument(
        "--simulator",
        "--sim",
        action="store_true",
        help="run against a fresh built-in simulator instead of the real endpoints (simulated)",
    )
    compare.add_argument(
        "--profile", help="simulator fault profile (default: healthy; needs --simulator)"
    )
    compare.add_argument("--seed", type=int, help="simulator seed (default: 0; needs --simulator)")
    compare.add_argument(
        "--time-scale",
        type=float,
        help=f"multiply simulated latencies and retry waits by this (0 = none; default: "
        f"{SIM_TIME_SCALE:g}; needs --simulator)",
    )
    compare.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    compare.set_defaults(handler=_compare)

    cache = commands.add_parser(
        "cache",
        help="inspect or empty the response cache",
        description="The response cache (Session(cache=...) or NVGW_CACHE) is a SQLite file of "
        "answers keyed by a fingerprint of each request: it holds prompts and answers, never "
        "credentials.",
    )
    cache.set_defaults(handler=lambda _: _usage_error("cache", "choose an action: stats or clear"))
    actions = cache.add_subparsers(title="actions", metavar="ACTION")
    path_help = f"the cache file (default: NVGW_CACHE, else {DEFAULT_CACHE_PATH})"
    stats = actions.add_parser(
        "stats",
        help="entries, hits, size on disk, oldest and newest, per provider and model",
        description="Print what the response cache holds. Exit code 2 when there is no cache.",
    )
    stats.add_argument("--path", help=path_help)
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=_cache_stats)
    clear = actions.add_parser(
        "clear",
        help="delete every cached answer",
        description="Delete every entry of the response cache (the file stays, emptied). "
        "Asks first unless --yes is given.",
    )
    clear.add_argument("--path", help=path_help)
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(handler=_cache_clear)
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _provider_list(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",")]
    if not any(names):
        raise argparse.ArgumentTypeError("expected provider names, e.g. nvidia-nim,nvidia-gateway")
    return names


# --- output helpers -----------------------------------------------------------------------
def _one_line(message: str) -> str:
    """Fold a multi-line message ("Header:\\n  a\\n  b") into "Header: a; b"."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    head, rest = lines[0], lines[1:]
    if not rest:
        return head
    return f"{head} {'; '.join(rest)}" if head.endswith(":") else "; ".join(lines)


def _error(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


def _usage_error(command: str, message: str) -> int:
    """Print a usage error the way argparse does and return its exit code, 2."""
    print(f"{PROG} {command}: error: {_one_line(message)}", file=sys.stderr)
    return 2


def sim_retry_policy(time_scale: float, *, attempts: int = 3) -> RetryPolicy:
    """The default retry policy with every wait scaled like the simulator's latencies.

    The simulator scales its delays and Retry-After hints by `time_scale`; scaling the
    client's backoff too keeps the simulated picture in proportion (and quick).
    """
    base = RetryPolicy(attempts=attempts)
    return dataclasses.replace(
        base,
        wait_initial=base.wait_initial * time_scale,
        wait_max=base.wait_max * time_scale,
        wait_jitter=base.wait_jitter * time_scale,
        max_retry_after=base.max_retry_after * time_scale,
        poll_interval=base.poll_interval * time_scale,
    )


def summary(result: ChatResult) -> str:
    """One line: who served the answer, how fast, whether it fell back."""
    tries = len(result.attempts)
    line = (
        f"served by {result.served_by} ({result.model}) in {result.latency_s:.2f} s, "
        f"fell back: {'yes' if result.fell_back else 'no'} "
        f"({tries} attempt{'s' if tries != 1 else ''})"
    )
    if result.cached:
        line += f" [cached: recorded in {result.original_latency_s or 0.0:.2f} s, nothing sent]"
    return line + (" [simulated]" if result.simulated else "")


@contextlib.contextmanager
def _session_for(use_sim: bool) -> Iterator[Session]:
    """A Session on the real endpoints (env + .env) or on a fresh simulator."""
    if not use_sim:
        try:
            session = Session.from_env()
        except ConfigError as err:
            raise ConfigError(f"{err} (or add --sim to ask the built-in simulator)") from None
        with session:
            yield session
        return
    from nvgw_nb.sim import Simulator

    with (
        Simulator(seed=0, time_scale=SIM_TIME_SCALE) as sim,
        Session.from_env(env=sim.env(), env_file=None, simulator=sim) as session,
    ):
        yield session


# --- chat ---------------------------------------------------------------------------------
def _chat(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _session_for(args.sim) as session:
        role, providers, fallbacks = args.role, args.providers, not args.no_fallback
        if args.stream:
            with session.stream(
                args.prompt, role=role, providers=providers, fallbacks=fallbacks
            ) as stream:
                try:
                    for chunk in stream:
                        if not args.json:
                            out.write(chunk.text)
                            out.flush()
                    result = stream.result
                finally:
                    if not args.json and stream.chunks:
                        out.write("\n")  # end the line, also when the stream broke
                        out.flush()
        else:
            result = session.chat(args.prompt, role=role, providers=providers, fallbacks=fallbacks)
            if not args.json:
                out.write(result.content + "\n")
        if args.json:
            out.write(result.to_json() + "\n")
        out.flush()
    print(summary(result), file=sys.stderr)
    return 0


# --- compare ------------------------------------------------------------------------------
class PromptsFileError(ValueError):
    """A prompts file that cannot be used; the message names the file (and line)."""


def read_prompts(path: str | Path) -> list[BatchPrompt]:
    """The prompts of a file: `.jsonl` or plain text.

    `.jsonl`: one JSON object per line with a `prompt` string and an optional `role`
    (one of the roles); blank lines are skipped. Any other file: one prompt per line,
    blank lines and lines starting with `#` skipped. A bad line raises PromptsFileError
    naming its number.

    >>> read_prompts("examples/prompts.jsonl")[0].role   # doctest: +SKIP
    'router'
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise PromptsFileError(f"cannot read {source}: {reason}") from None
    if source.suffix.lower() == ".jsonl":
        prompts = [
            _jsonl_prompt(source, number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    else:
        prompts = [
            BatchPrompt(prompt=line.strip())
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not prompts:
        raise PromptsFileError(f"{source} has no prompts")
    return prompts


def _jsonl_prompt(source: Path, number: int, line: str) -> BatchPrompt:
    where = f"{source} line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise PromptsFileError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        raise PromptsFileError(f'{where}: expected an object with a "prompt" string')
    if not data["prompt"].strip():
        raise PromptsFileError(f"{where}: the prompt is empty")
    role = data.get("role")
    if role is not None and role not in ROLE_NAMES:
        raise PromptsFileError(
            f"{where}: unknown role {role!r}; choose from {', '.join(ROLE_NAMES)}"
        )
    return BatchPrompt(prompt=data["prompt"], role=role)


def _compare(args: argparse.Namespace) -> int:
    from nvgw_nb.report import write_report

    sim_flags = [
        flag
        for flag, value in (
            ("--profile", args.profile),
            ("--seed", args.seed),
            ("--time-scale", args.time_scale),
        )
        if value is not None
    ]
    if sim_flags and not args.simulator:
        verb = "needs" if len(sim_flags) == 1 else "need"
        return _usage_error("compare", f"{' and '.join(sim_flags)} {verb} --simulator")
    if args.role is not None and args.role not in ROLE_NAMES:
        return _usage_error(
            "compare", f"unknown role {args.role!r}; choose from {', '.join(ROLE_NAMES)}"
        )
    try:
        providers = check_provider_order(args.providers)
    except ValueError as err:
        return _usage_error("compare", f"--providers {err}")
    try:
        prompts = read_prompts(args.prompts)
    except PromptsFileError as err:
        return _usage_error("compare", str(err))

    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return _usage_error("compare", f"--out {args.out}: {err.strerror or err}")

    out = sys.stdout
    with contextlib.ExitStack() as stack:
        if args.simulator:
            from nvgw_nb.sim import Simulator

            profile = args.profile or "healthy"
            seed = 0 if args.seed is None else args.seed
            scale = SIM_TIME_SCALE if args.time_scale is None else args.time_scale
            try:
                sim = Simulator(profile=profile, seed=seed, time_scale=scale)
            except ValueError as err:
                return _usage_error("compare", str(err))
            stack.enter_context(sim)
            session = stack.enter_context(
                Session.from_env(
                    env=sim.env(), env_file=None, simulator=sim, retry=sim_retry_policy(scale)
                )
            )
            note = _sim_note(profile, seed, scale)
            out.write(
                f"{PROG} compare --simulator: a fresh SIMULATOR (profile {profile}, seed {seed}, "
                f"latencies ×{scale:g}); every number below is simulated, nothing leaves this "
                "machine.\n"
            )
        else:
            session = stack.enter_context(_session_for(False))
            note = None
            out.write(f"{PROG} compare: real endpoints, settings from the environment and .env\n")
        total = len(prompts) * len(providers) * args.repeats
        out.write(
            f"Comparing {len(prompts)} prompts × {len(providers)} providers × {args.repeats} "
            f"repeat{'s' if args.repeats != 1 else ''} = {total} requests "
            f"({', '.join(providers)}; concurrency {args.concurrency})…\n"
        )
        out.flush()
        started = time.perf_counter()
        cmp = session.compare(
            prompts,
            providers=providers,
            role=args.role,
            repeats=args.repeats,
            concurrency=args.concurrency,
            progress=not args.no_progress,
        )
        elapsed = time.perf_counter() - started
    out.write(f"Compared in {elapsed:.1f} s; writing the report into {args.out}…\n")
    out.flush()
    files = write_report(cmp, Path(args.out), note=note)

    out.write("\n")
    out.write(cmp.summary().to_markdown())
    out.write("\nWrote:\n")
    for path in files.paths:
        out.write(f"  {path}\n")
    out.write(
        f"\nLook first at {files.report_html}: the summary, the plots, the answers side by "
        "side and how to read the numbers.\n"
    )
    out.flush()
    if not any(row.ok for row in cmp.rows):
        first = next((row.error for row in cmp.rows if row.error), None) or "unknown error"
        _error(f"every request failed (the report shows why); the first error: {first}")
        return 1
    return 0


def _sim_note(profile: str, seed: int, scale: float) -> str:
    """What a reader of a simulated report must know about the latencies."""
    if scale == 0:
        latency = "no simulated latency (time scale 0): latencies are this machine's overhead"
    else:
        latency = f"simulated latencies and retry waits ×{scale:g} of the simulator's model"
    return f"simulator profile {profile}, seed {seed}; {latency}"


# --- cache --------------------------------------------------------------------------------
def _cache_path(args: argparse.Namespace) -> Path:
    """--path, else NVGW_CACHE (environment, then ./.env), else responses.sqlite."""
    if args.path:
        return Path(args.path)
    try:
        configured = Settings.load().cache_path
    except ConfigError:
        # Another variable in .env is wrong; that is `check`'s business, not the cache's.
        configured = os.environ.get("NVGW_CACHE", "").strip() or None
    return Path(configured or DEFAULT_CACHE_PATH)


def _existing_cache(command: str, path: Path) -> ResponseCache | int:
    """The cache at `path`, or the exit code of a usage error when there is none."""
    if not path.is_file():
        return _usage_error(
            f"cache {command}",
            f"no response cache at {path}: nothing recorded there yet (name the file with "
            "--path or NVGW_CACHE)",
        )
    return ResponseCache(path)


def _cache_stats(args: argparse.Namespace) -> int:
    cache = _existing_cache("stats", _cache_path(args))
    if isinstance(cache, int):
        return cache
    with cache:
        stats = cache.stats()
    if args.json:
        sys.stdout.write(json.dumps(stats.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(str(stats) + "\n")
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    path = _cache_path(args)
    cache = _existing_cache("clear", path)
    if isinstance(cache, int):
        return cache
    with cache:
        count = len(cache)
        if not args.yes:
            if not sys.stdin.isatty():
                return _usage_error(
                    "cache clear", f"would delete {count} cached answers from {path}: add --yes"
                )
            answer = input(f"Delete {count} cached answers from {path}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print(f"{PROG}: nothing deleted", file=sys.stderr)
                return 1
        deleted = cache.clear()
    sys.stdout.write(f"deleted {deleted} cached answer{'s' if deleted != 1 else ''} from {path}\n")
    return 0


# --- sim ----------------------------------------------------------------------------------
def _wait_for_interrupt() -> None:
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


def _sim(args: argparse.Namespace) -> int:
    from nvgw_nb.sim import Simulator

    try:
        sim = Simulator(
            profile=args.profile, seed=args.seed, time_scale=args.time_scale, port=args.port
        )
    except ValueError as err:
        print(f"{PROG} sim: error: {err}", file=sys.stderr)
        return 2
    try:
        sim.start()
    except OSError as err:
        _error(f"could not start the simulator on port {args.port}: {err.strerror or err}")
        return 1
    out = sys.stdout
    try:
        # Signals are armed before the first line: a caller may send Ctrl-C as soon as
        # it has read the exports.
        with contextlib.suppress(KeyboardInterrupt), _stop_signals():
            out.write(
                f"# nvgw_nb SIMULATOR on {sim.url} (profile {args.profile}, seed {args.seed}, "
                f"time scale {args.time_scale:g}): simulated NIM, LLM Gateway and Starfleet; "
                "its credentials are fake and work only here.\n"
            )
            out.write(sim.export_lines())
            out.write(
                "# Run these export lines in another shell, then use nvgw-nb chat or a "
                "notebook.\n# Press Ctrl-C to stop the simulator.\n"
            )
            out.flush()
            _wait_for_interrupt()
    finally:
        sim.stop()
    print(f"{PROG}: simulator stopped", file=sys.stderr)
    return 0


# --- check --------------------------------------------------------------------------------
@dataclass
class _Report:
    """Collects and prints check results as `[ok]` / `[FAIL]` lines with fixes."""

    out: TextIO
    failures: int = 0

    def ok(self, what: str, detail: str) -> None:
        self._print(f"  [ok]   {what}: {detail}")

    def info(self, what: str, detail: str) -> None:
        self._print(f"  [--]   {what}: {detail}")

    def fail(self, what: str, problem: str, fix: str | None = None) -> None:
        self.failures += 1
        self._print(f"  [FAIL] {what}: {_one_line(problem)}")
        if fix:
            self._print(f"         fix: {fix}")

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def _check(args: argparse.Namespace) -> int:
    out = sys.stdout
    if not args.sim:
        dotenv = Path(".env")
        source = (
            f"the environment and {dotenv.resolve()}"
            if dotenv.is_file()
            else "the environment (no .env in this directory)"
        )
        out.write(f"{PROG} check: real endpoints, settings from {source}\n")
        return _run_check(_Report(out), env=None, env_file=".env")
    from nvgw_nb.sim import Simulator

    with Simulator(seed=0, time_scale=SIM_TIME_SCALE) as sim:
        out.write(
            f"{PROG} check --sim: a fresh SIMULATOR on {sim.url}; every answer below is "
            "simulated, nothing leaves this machine\n"
        )
        return _run_check(_Report(out), env=sim.env(), env_file=None, simulated=True)


def _run_check(
    report: _Report,
    *,
    env: dict[str, str] | None,
    env_file: str | None,
    simulated: bool = False,
) -> int:
    # 1. settings
    try:
        settings = Settings.load(env=env, env_file=env_file)
    except ConfigError as err:
        report.fail("configuration", str(err), "correct the variables named above in .env")
        return _verdict(report)
    report.ok(
        "configuration",
        f"NIM {settings.nvidia_nim_base_url}, gateway {settings.llm_gateway_base_url} "
        f"(api-version {settings.llm_gateway_api_version}), "
        f"order {' → '.join(settings.default_order)}",
    )

    # 2. credentials for each provider in the order
    probes: list[str] = []
    for provider in settings.default_order:
        if provider == "nvidia-nim":
            if settings.nvidia_nim_api_key is None:
                report.fail(
                    "NVIDIA_NIM_API_KEY",
                    "is not set",
                    "put NVIDIA_NIM_API_KEY=<your key from build.nvidia.com> in .env "
                    f"(or try `{PROG} check --sim`)",
                )
            else:
                report.ok("NVIDIA_NIM_API_KEY", "is set")
                probes.append(provider)
        elif provider == "nvidia-gateway":
            missing = [
                name
                for name, value in (
                    ("STARFLEET_ID", settings.starfleet_id),
                    ("STARFLEET_SECRET", settings.starfleet_secret),
                )
                if value is None
            ]
            if missing:
                report.fail(
                    " and ".join(missing),
                    "is not set" if len(missing) == 1 else "are not set",
                    "ask NVIDIA IT for Starfleet client credentials and put STARFLEET_ID and "
                    "STARFLEET_SECRET in .env (or set NVIDIA_LLM_GATEWAY_ENABLED=false)",
                )
            else:
                client_id = settings.starfleet_id
                assert client_id is not None
                report.ok(
                    "STARFLEET_ID, STARFLEET_SECRET",
                    f"are set (client id {mask(client_id.get_secret_value())})",
                )
                probes.append(provider)
        elif provider in EXTERNAL_PROVIDERS:
            report.fail(
                provider,
                "external providers are not available in this version",
                "remove it from NVGW_PROVIDER_ORDER",
            )
    if "nvidia-gateway" not in settings.default_order:
        report.info("nvidia-gateway", "not in the provider order (NVIDIA_LLM_GATEWAY_ENABLED)")

    # 3. a Starfleet token
    if "nvidia-gateway" in probes and not _check_token(report, settings):
        probes.remove("nvidia-gateway")
        report.info("nvidia-gateway", "not probed: no Starfleet token")

    # 4. one short request per provider
    if probes:
        probe_settings = settings.model_copy(update={"provider_order": tuple(probes)})
        with Session(probe_settings) as session:
            for provider in probes:
                _probe(report, session, provider)
    elif report.failures == 0:
        report.fail("providers", "nothing to probe", "configure NIM or the gateway in .env")
    if simulated and report.failures == 0:
        report.info("note", "this was the simulator; run `nvgw-nb check` for your real setup")
    return _verdict(report)


def _verdict(report: _Report) -> int:
    if report.failures:
        n = report.failures
        report.out.write(f"{n} check{'s' if n != 1 else ''} failed.\n")
        return 1
    report.out.write("All checks passed.\n")
    return 0


def _check_token(report: _Report, settings: Settings) -> bool:
    """Fetch one Starfleet token (the seed's "test authentication" step)."""
    client_id, client_secret = settings.starfleet_id, settings.starfleet_secret
    assert client_id is not None
    assert client_secret is not None
    auth = StarfleetAuth(
        client_id=client_id,
        client_secret=client_secret,
        token_url=settings.starfleet_token_url,
        variables=("STARFLEET_ID", "STARFLEET_SECRET"),
        scope=settings.token_scope,
        refresh_margin_s=settings.token_refresh_margin_s,
    )
    what = f"Starfleet token ({auth.token_host})"
    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
    try:
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            response = client.send(auth.build_token_request())
            auth.take_token_response(response)
    except httpx.HTTPError as err:
        # Only the class and host are reported: httpx errors may carry the request.
        report.fail(
            what,
            f"could not reach {auth.token_host} ({type(err).__name__})",
            "check STARFLEET_TOKEN_URL, your network and VPN",
        )
        return False
    except AuthError as err:
        report.fail(what, str(err), "check STARFLEET_ID, STARFLEET_SECRET and STARFLEET_TOKEN_URL")
        return False
    left = auth.cache.seconds_left() or 0.0
    report.ok(what, f"fetched, valid for {left:.0f} s")
    return True


#: provider → (error class, fix) pairs for the probe failures worth a specific hint
_FIXES: dict[str, tuple[tuple[type[NvgwError], str], ...]] = {
    "nvidia-nim": (
        (ProviderAuthError, "check NVIDIA_NIM_API_KEY (a key from build.nvidia.com)"),
        (ModelNotFound, "check NVGW_NIM_MODEL (see nvgw_nb.Session.models())"),
        (ProviderUnreachable, "check NVIDIA_NIM_BASE_URL, your network and VPN"),
        (ProviderTimeout, "NIM is slow or down; try again, or raise NVGW_READ_TIMEOUT"),
    ),
    "nvidia-gateway": (
        (AuthError, "check STARFLEET_ID, STARFLEET_SECRET and NVGW_TOKEN_SCOPE"),
        (ModelNotFound, "check LLM_GATEWAY_MODEL (an Azure deployment name, e.g. gpt-4o-mini)"),
        (ProviderUnreachable, "check LLM_GATEWAY_BASE_URL, your network and VPN"),
        (ProviderTimeout, "the gateway is slow or down; try again later"),
    ),
}


def _probe(report: _Report, session: Session, provider: str) -> None:
    try:
        result = session.chat(PROBE_PROMPT, providers=[provider], fallbacks=False, max_tokens=16)
    except NvgwError as err:
        fix = next((f for cls, f in _FIXES.get(provider, ()) if isinstance(err, cls)), None)
        report.fail(provider, str(err), fix or "see the message; try again if it was transient")
        return
    correlation = f", correlationId {result.correlation_id}" if result.correlation_id else ""
    report.ok(
        provider,
        f"{result.model} answered in {result.latency_s:.2f} s "
        f"({len(result.attempts)} attempt{'s' if len(result.attempts) != 1 else ''}"
        f"{correlation}){' [simulated]' if result.simulated else ''}",
    )
