"""`nvgw-nb cache stats|clear`: inspect or empty the response cache (`nvgw_nb.cache`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from nvgw_nb.cache import DEFAULT_CACHE_PATH, ResponseCache
from nvgw_nb.cli_options import PROG, usage_error
from nvgw_nb.config import Settings
from nvgw_nb.errors import ConfigError

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register `cache` and its actions on the `nvgw-nb` subparsers."""
    cache = commands.add_parser(
        "cache",
        help="inspect or empty the response cache",
        description="The response cache (Session(cache=...) or NVGW_CACHE) is a SQLite file of "
        "answers keyed by a fingerprint of each request: it holds prompts and answers, never "
        "credentials.",
    )
    cache.set_defaults(handler=lambda _: usage_error("cache", "choose an action: stats or clear"))
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


# --- actions --------------------------------------------------------------------------------
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
        return usage_error(
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
                return usage_error(
                    "cache clear", f"would delete {count} cached answers from {path}: add --yes"
                )
            answer = input(f"Delete {count} cached answers from {path}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print(f"{PROG}: nothing deleted", file=sys.stderr)
                return 1
        deleted = cache.clear()
    sys.stdout.write(f"deleted {deleted} cached answer{'s' if deleted != 1 else ''} from {path}\n")
    return 0
