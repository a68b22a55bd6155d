"""Flags the `nvgw-nb` commands share: `--version`, what shapes a request (`--system`,
`--model`/`--models`, `--temperature`, `--max-tokens`) and the simulator's `--profile`.

Kept apart from `nvgw_nb.cli` so that module stays about its commands; each flag maps
to the keyword of `Session.chat` / `Session.compare` it sets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from nvgw_nb.providers import registry
from nvgw_nb.sim.profiles import PROFILES

__all__ = [
    "PROFILE_CHOICES",
    "PROG",
    "add_chat_flags",
    "add_compare_flags",
    "add_version",
    "models_for",
    "positive_int",
    "profile_help",
    "provider_models",
    "request_options",
    "usage_error",
]

#: the command's name, in usage errors and hints
PROG = "nvgw-nb"

#: the simulator's fault profiles, listed by `--help` and checked by argparse
PROFILE_CHOICES: tuple[str, ...] = tuple(PROFILES)


def usage_error(command: str, message: str) -> int:
    """Print a usage error the way argparse does and return its exit code, 2."""
    from nvgw_nb.setup_check import one_line

    print(f"{PROG} {command}: error: {one_line(message)}", file=sys.stderr)
    return 2


def add_version(parser: argparse.ArgumentParser) -> None:
    """`--version`: the package version, on stdout, exit code 0."""
    from nvgw_nb import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def profile_help(default: str | None = "healthy") -> str:
    """The help of a `--profile` flag, its choices listed."""
    listed = ", ".join(PROFILE_CHOICES)
    return f"simulator fault profile: {listed} (default: {default})"


def add_chat_flags(parser: argparse.ArgumentParser) -> None:
    """`--system`, `--model`, `--temperature`, `--max-tokens` of `nvgw-nb chat`."""
    parser.add_argument("--system", metavar="TEXT", help="a system message before the prompt")
    parser.add_argument(
        "--model",
        type=_models_or_name,
        metavar="MODEL",
        help="the model of the first provider tried (e.g. gpt-4o), or per provider: "
        "nvidia-gateway=gpt-4o,nvidia-nim=meta/llama-3.3-70b-instruct",
    )
    parser.add_argument(
        "--temperature",
        type=_temperature,
        help="sampling temperature, 0 to 2 (default: the provider's)",
    )
    parser.add_argument(
        "--max-tokens", type=positive_int, metavar="N", help="longest answer in tokens"
    )


def add_compare_flags(parser: argparse.ArgumentParser) -> None:
    """`--system` and `--models` of `nvgw-nb compare`."""
    parser.add_argument(
        "--system", metavar="TEXT", help="a system message before every prompt, on every provider"
    )
    parser.add_argument(
        "--models",
        type=provider_models,
        metavar="PROVIDER=MODEL,...",
        help="the model per provider, e.g. nvidia-gateway=gpt-4o-mini (default: the roles')",
    )


def models_for(value: dict[str, str] | str | None, order: Sequence[str]) -> dict[str, str] | None:
    """`--model`'s value as `models=`: a bare name is the first provider's in `order`."""
    if value is None or isinstance(value, dict):
        return value
    return {order[0]: value}


def request_options(args: argparse.Namespace, order: Sequence[str]) -> dict[str, Any]:
    """The keywords of `Session.chat` that `nvgw-nb chat`'s flags set (unset flags: none)."""
    options = {
        "system": args.system,
        "models": models_for(args.model, order),
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
    }
    return {name: value for name, value in options.items() if value is not None}


def provider_models(value: str) -> dict[str, str]:
    """`nvidia-gateway=gpt-4o-mini,nvidia-nim=…` → {provider: model}; argparse's type."""
    models: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        provider, sep, model = part.partition("=")
        provider, model = provider.strip(), model.strip()
        if not sep or not provider or not model:
            raise argparse.ArgumentTypeError(
                f"expected PROVIDER=MODEL pairs separated by commas, e.g. "
                f"nvidia-gateway=gpt-4o-mini; got {part!r}"
            )
        if provider not in registry.names():
            raise argparse.ArgumentTypeError(
                f"unknown provider {provider!r}; choose from {', '.join(registry.names())}"
            )
        if provider in models:
            raise argparse.ArgumentTypeError(f"{provider} is named more than once")
        models[provider] = model
    return models


def _models_or_name(value: str) -> dict[str, str] | str:
    if "=" in value:
        return provider_models(value)
    if not value.strip() or "," in value:
        raise argparse.ArgumentTypeError(
            "expected one model name, or PROVIDER=MODEL pairs separated by commas"
        )
    return value.strip()


def _temperature(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 <= number <= 2:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2, got {number:g}")
    return number


def positive_int(value: str) -> int:
    """A whole number of at least 1; argparse's type."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number
