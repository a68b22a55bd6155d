"""Which `.env` file settings come from, how its path is shown, and near-miss variable names.

A notebook server often starts in a subdirectory (`make lab` starts in `notebooks/`), so
the `.env` is looked for in the working directory, then in its parents up to the
repository root (a directory holding `.git`) or the home directory, whichever comes
first. `NVGW_ENV_FILE` names a file elsewhere. Only paths and variable names are ever
shown, never a value.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from nvgw_nb.errors import ConfigError

__all__ = [
    "ENV_FILE_VARIABLE",
    "did_you_mean",
    "display_path",
    "find_env_file",
    "near_misses",
    "placeholder_problem",
    "search_dirs",
]

#: the variable naming a settings file to read instead of the discovered `.env`
ENV_FILE_VARIABLE = "NVGW_ENV_FILE"
_NAME = ".env"

#: prefixes of the variables nvgw_nb reads: only these are checked for typos, so the rest
#: of a developer's environment never draws a suggestion
_PREFIXES = ("NVGW_", "NVIDIA_", "STARFLEET_", "LLM_GATEWAY_", "OPENAI_", "ANTHROPIC_", "GOOGLE_")
#: other tools' variables under those prefixes: close to one of ours, but deliberate
_OTHER_TOOLS = frozenset(
    {
        "OPENAI_API_BASE",
        "OPENAI_API_TYPE",
        "OPENAI_API_VERSION",
        "OPENAI_ORG_ID",
        "OPENAI_ORGANIZATION",
        "OPENAI_PROJECT_ID",
        "ANTHROPIC_AUTH_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
    }
)
# A dropped word (…_CLIENT_ID for …_ID) scores about 0.77; unrelated names stay well below.
_CUTOFF = 0.75


def find_env_file(
    start: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The settings file to read: `NVGW_ENV_FILE` when set (a missing file is a
    `ConfigError`), else the nearest `.env` from `start` (the working directory) up to
    the repository root or home; None when there is none."""
    named = (os.environ if environ is None else environ).get(ENV_FILE_VARIABLE, "").strip()
    if named:
        path = Path(named).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(
                f"{ENV_FILE_VARIABLE} names {display_path(path)}, which is not a file: "
                f"point it at your settings file, or unset it to use the nearest {_NAME}"
            )
        return path
    for directory in search_dirs(start):
        candidate = directory / _NAME
        if candidate.is_file():
            return candidate
    return None


def search_dirs(start: Path | None = None) -> list[Path]:
    """Where `.env` is looked for, nearest first: `start`, then its parents up to and
    including the first that is a repository root or the home directory. Outside both,
    only `start` — a `.env` in /tmp or / is nobody's settings."""
    here = (start or Path.cwd()).resolve()
    home = _home()
    dirs: list[Path] = []
    for directory in (here, *here.parents):
        dirs.append(directory)
        if directory == home or (directory / ".git").exists():
            return dirs
    return [here]


def display_path(path: Path) -> str:
    """`path` as shown to the user: under the home directory as `~/…`."""
    path = path.resolve()
    home = _home()
    if home is not None and path.is_relative_to(home):
        relative = path.relative_to(home)
        return "~" if relative == Path() else f"~/{relative.as_posix()}"
    return str(path)


def near_misses(names: Iterable[str], known: Collection[str]) -> dict[str, str]:
    """Each name in `names` that nvgw_nb does not read but is close to one it does →
    that one (names only: values are never looked at)."""
    ours = sorted({k.upper() for k in known})
    found: dict[str, str] = {}
    for name in sorted({n.upper() for n in names}):
        if name in ours or name in _OTHER_TOOLS or not name.startswith(_PREFIXES):
            continue
        match = difflib.get_close_matches(name, ours, n=1, cutoff=_CUTOFF)
        if match:
            found[name] = match[0]
    return found


def did_you_mean(misses: Mapping[str, str], wanted: Collection[str] | None = None) -> str:
    """ "NVGW_MAX_RETRY is set; did you mean NVGW_MAX_RETRIES?" for each near miss
    (of a variable in `wanted`, when given), joined by "; "; "" when there is none."""
    return "; ".join(
        f"{name} is set; did you mean {meant}?"
        for name, meant in misses.items()
        if wanted is None or meant in wanted
    )


def placeholder_problem(names: Sequence[str], env_file: str | Path | None) -> str:
    """One line for variables still holding .env.example's placeholders (an unchanged
    copy has three: one line, not three)."""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    lines = "that line" if len(names) == 1 else "those lines"
    if env_file is not None and Path(env_file).is_file() and not set(names) & set(os.environ):
        return (
            f"{display_path(Path(env_file))} still holds the example's placeholders: "
            f"fill in {listed}, or delete {lines} to use the simulator"
        )
    return (
        f"{listed} still hold{'s' if len(names) == 1 else ''} the placeholder of "
        f".env.example: put the real value{'' if len(names) == 1 else 's'} there (or unset "
        f"{'it' if len(names) == 1 else 'them'} to use the simulator)"
    )


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except RuntimeError:  # no HOME and no passwd entry: no home boundary
        return None
