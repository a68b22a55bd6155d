"""The `nvgw-nb` command line: check the setup, ask a question, compare, run the simulator.

    nvgw-nb check                      # is .env right? fetch a token, probe each provider
    nvgw-nb check --sim                # the same against a fresh simulator: what success looks like
    nvgw-nb chat "Summarise this diff: ..." --role planner
    nvgw-nb chat "hi" --providers nvidia-gateway --json
    nvgw-nb chat "hi" --model gpt-4o --system "Be brief." --temperature 0 --max-tokens 200
    nvgw-nb compare examples/prompts.jsonl --out compare-output --repeats 3
    nvgw-nb compare prompts.txt --out out/cmp --simulator --profile flaky-nim
    nvgw-nb compare prompts.txt --out out/cmp --models nvidia-gateway=gpt-4o --system "Be brief."
    nvgw-nb experiment examples/experiment.toml --out out/exp --sim   # exit 1: expectation failed
    nvgw-nb sim --profile flaky-nim    # a standalone simulator; prints `export` lines
    nvgw-nb cache stats                # what the response cache (NVGW_CACHE) holds
    nvgw-nb cache clear --yes          # empty it
    nvgw-nb report out/cmp/results.jsonl --out out/again   # re-render, no request
    nvgw-nb --version

Errors (`NvgwError`) are printed as one line on stderr with exit code 1; usage errors
exit with 2. Secrets are never printed: keys are reported as "set", the client id masked.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from nvgw_nb import cache_cli, experiment_cli, report_cli
from nvgw_nb.cli_options import (
    PROG,
    add_chat_flags,
    add_compare_flags,
    add_version,
    positive_int,
    profile_help,
    request_options,
)
from nvgw_nb.cli_options import usage_error as _usage_error
from nvgw_nb.config import check_provider_order
from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.private_files import make_private_dir
from nvgw_nb.prompts import PromptsFileError, read_prompts
from nvgw_nb.provider_choice import real_session, settings_source
from nvgw_nb.providers import registry
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.roles import ROLE_NAMES
from nvgw_nb.session import Session
from nvgw_nb.setup_check import one_line, run_check
from nvgw_nb.trace import summary_line

__all__ = ["main"]

#: latency scale of the simulator started by `--sim` (its answers arrive in a few ms)
SIM_TIME_SCALE = 0.05


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
    add_version(parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="validate the configuration, fetch a Starfleet token, probe each provider",
        description="Validate the settings (the environment and the nearest .env, or "
        "NVGW_ENV_FILE), fetch a Starfleet token "
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
    add_chat_flags(chat)
    chat.set_defaults(handler=_chat)

    sim = commands.add_parser(
        "sim",
        help="run the simulator standalone until Ctrl-C",
        description="Start the loopback simulator of NIM, the LLM Gateway and Starfleet, print "
        "`export` lines that point nvgw_nb at it, and serve until Ctrl-C.",
    )
    sim.add_argument("--profile", default="healthy", metavar="NAME", help=profile_help())
    sim.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    sim.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply simulated latencies by this (0 = no delays; default: 1)",
    )
    sim.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    sim.add_argument(
        "--token-auth",
        choices=("either", "form", "raw"),
        default="either",
        help="Basic encodings the token endpoint takes: RFC 6749 form-encoded, raw "
        "id:secret, or either (default)",
    )
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
        default=list(registry.internal_names()),
        help="comma-separated providers to compare (default: nvidia-nim,nvidia-gateway)",
    )
    compare.add_argument(
        "--repeats", type=positive_int, default=1, help="runs of each prompt (default: 1)"
    )
    compare.add_argument(
        "--role",
        help=f"role of prompts that name none: {', '.join(ROLE_NAMES)} "
        "(default: the Session's defaults)",
    )
    compare.add_argument(
        "--concurrency", type=positive_int, default=8, help="requests in flight (default: 8)"
    )
    compare.add_argument(
        "--simulator",
        "--sim",
        action="store_true",
        help="run against a fresh built-in simulator instead of the real endpoints (simulated)",
    )
    compare.add_argument(
        "--profile",
        metavar="NAME",
        help=profile_help("healthy; needs --simulator"),
    )
    compare.add_argument("--seed", type=int, help="simulator seed (default: 0; needs --simulator)")
    compare.add_argument(
        "--time-scale",
        type=float,
        help=f"multiply simulated latencies and retry waits by this (0 = none; default: "
        f"{SIM_TIME_SCALE:g}; needs --simulator)",
    )
    compare.add_argument(
        "--cases",
        metavar="FILE",
        help="labelled cases (.jsonl/.csv, e.g. examples/cases.jsonl): adds an answer-quality "
        "section — pass rates with intervals and the paired verdict",
    )
    compare.add_argument(
        "--judge",
        metavar="PROVIDER",
        help="with --cases, a judge of another model family (e.g. anthropic) compares the "
        "first two providers' answers in both orders, with its bias diagnostics",
    )
    compare.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_compare_flags(compare)
    compare.set_defaults(handler=_compare)

    experiment_cli.add_parser(commands)  # `nvgw-nb experiment SPEC --out DIR [--sim]`
    report_cli.add_parser(commands)  # `nvgw-nb report results.jsonl --out DIR`

    cache_cli.add_parser(commands)  # `nvgw-nb cache stats|clear`
    return parser


def _provider_list(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",")]
    if not any(names):
        raise argparse.ArgumentTypeError("expected provider names, e.g. nvidia-nim,nvidia-gateway")
    return names


# --- output helpers -----------------------------------------------------------------------
def _error(message: str) -> None:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


@contextlib.contextmanager
def _session_for(use_sim: bool) -> Iterator[Session]:
    """A Session on the real endpoints (env + .env) or on a fresh simulator."""
    if not use_sim:
        try:
            session = real_session()  # the providers and order nv.connect() would use
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
        options = request_options(args, providers or session.provider_order)
        if args.stream:
            with session.stream(
                args.prompt, role=role, providers=providers, fallbacks=fallbacks, **options
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
            result = session.chat(
                args.prompt, role=role, providers=providers, fallbacks=fallbacks, **options
            )
            if not args.json:
                out.write(result.content + "\n")
        if args.json:
            out.write(result.to_json() + "\n")
        out.flush()
    print(summary_line(result), file=sys.stderr)
    return 0


# --- compare ------------------------------------------------------------------------------
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
    if args.judge is not None and args.cases is None:
        return _usage_error("compare", "--judge needs --cases")
    stray = [name for name in args.models or {} if name not in providers]
    if stray:
        return _usage_error("compare", f"--models names {', '.join(stray)}, not compared")
    cases = None
    if args.cases is not None:
        from nvgw_nb.experiments.cases import load_cases

        try:
            cases = load_cases(args.cases)
        except ConfigError as err:
            return _usage_error("compare", f"--cases {err}")

    try:
        make_private_dir(args.out)  # it will hold prompts and answers: owner only
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
                    env=sim.env(),
                    env_file=None,
                    simulator=sim,
                    retry=RetryPolicy.for_simulator(scale),
                    # the simulator's judge may be any provider: nothing leaves the machine
                    allow_external=args.judge is not None,
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
            source = settings_source(session.settings)
            out.write(f"{PROG} compare: real endpoints, settings from {source}\n")
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
            **{k: v for k, v in (("system", args.system), ("models", args.models)) if v},
        )
        elapsed = time.perf_counter() - started
        quality = None
        if cases is not None:
            from nvgw_nb.quality import measure_quality

            out.write(f"Answer quality: {len(cases)} labelled cases on {', '.join(providers)}…\n")
            out.flush()
            quality = measure_quality(
                session,
                cases,
                providers=providers,
                judge=args.judge,
                concurrency=args.concurrency,
                progress=not args.no_progress,
            )
    out.write(f"Compared in {elapsed:.1f} s; writing the report into {args.out}…\n")
    out.flush()
    files = write_report(cmp, Path(args.out), note=note, quality=quality)

    out.write("\n")
    out.write(cmp.summary().to_markdown())
    if quality is not None:
        out.write("\n" + quality.markdown())
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


# --- sim ----------------------------------------------------------------------------------
def _sim(args: argparse.Namespace) -> int:
    from nvgw_nb.sim.command import serve_until_interrupted

    return serve_until_interrupted(
        profile=args.profile,
        seed=args.seed,
        time_scale=args.time_scale,
        port=args.port,
        prog=PROG,
        token_auth=args.token_auth,
    )


# --- check --------------------------------------------------------------------------------
def _check(args: argparse.Namespace) -> int:
    out = sys.stdout
    if not args.sim:
        return run_check(out, env=None, env_file=".env", prog=PROG, header=f"{PROG} check")
    from nvgw_nb.sim import Simulator

    with Simulator(seed=0, time_scale=SIM_TIME_SCALE) as sim:
        out.write(
            f"{PROG} check --sim: a fresh SIMULATOR on {sim.url}; every answer below is "
            "simulated, nothing leaves this machine\n"
        )
        return run_check(out, env=sim.env(), env_file=None, simulated=True, prog=PROG)
