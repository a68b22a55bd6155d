"""Files that hold prompts and answers are created readable by their owner only.

The response cache, a batch's `save_to` JSONL, a comparison's CSV/JSONL and its report
are made `0600` (directories nvgw_nb creates: `0700`) whatever the umask, as ssh and
cloud CLIs do with their files: on a shared JupyterHub or a login node the usual umask
(022) would let every other user read a team's unreleased prompts and answers.

A file or directory that already exists keeps its mode: nvgw_nb never chmods a user's
file. To share deliberately, create the file (or directory) first with the mode you want
(`touch run.jsonl && chmod 640 run.jsonl`), or set `NVGW_SHARE_FILES=true` in the
environment: new files then follow the umask like any other program's.

>>> with open_private("run.jsonl", "a") as handle:   # doctest: +SKIP
...     handle.write("{}\\n")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "SHARE_VARIABLE",
    "create_private",
    "make_private_dir",
    "open_private",
    "sharing",
]

#: the mode of a file nvgw_nb creates (owner read and write)
FILE_MODE = 0o600
#: the mode of a directory nvgw_nb creates (owner only)
DIR_MODE = 0o700
#: the environment variable that makes new files follow the umask instead
SHARE_VARIABLE = "NVGW_SHARE_FILES"

_TRUE = {"1", "true", "yes", "on"}


def sharing() -> bool:
    """True when `NVGW_SHARE_FILES` asks for files that follow the umask (read each time:
    set it before the file is created)."""
    return os.environ.get(SHARE_VARIABLE, "").strip().lower() in _TRUE


def create_private(path: str | os.PathLike[str]) -> bool:
    """Create `path` empty with `FILE_MODE` unless it exists; True when it was created.

    For files another library opens (SQLite): made first, they keep this mode, and
    SQLite gives its -wal and -shm files the database file's mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _file_mode())
    except FileExistsError:
        return False
    try:
        _exact(fd)
    finally:
        os.close(fd)
    return True


def open_private(
    path: str | os.PathLike[str],
    mode: Literal["w", "a", "wb", "ab"] = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> IO[Any]:
    """`open(path, mode)` for writing, but a file it creates gets `FILE_MODE` (an existing
    one is truncated or appended to and keeps its mode)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    created = True
    try:
        fd = os.open(path, flags | os.O_EXCL, _file_mode())
    except FileExistsError:
        created = False
        fd = os.open(path, flags & ~os.O_CREAT)
    try:
        if created:
            _exact(fd)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """`mkdir -p`: every directory it creates gets `DIR_MODE`; existing ones are untouched."""
    target = Path(path)
    missing: list[Path] = []
    for candidate in (target, *target.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o777 if sharing() else DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs, keep its mode
        if not sharing():
            os.chmod(directory, DIR_MODE)  # exactly, whatever the umask
    if not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a directory")
    return target


def _file_mode() -> int:
    return 0o666 if sharing() else FILE_MODE


def _exact(fd: int) -> None:
    """Give a file just created `FILE_MODE` exactly (the umask may have taken bits off
    the owner's; sharing leaves the umask's result alone)."""
    if not sharing():
        with contextlib.suppress(OSError):  # e.g. a file system without modes
            os.fchmod(fd, FILE_MODE)
