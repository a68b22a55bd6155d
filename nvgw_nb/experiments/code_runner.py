"""Run a model's Python answer against assert-style tests, in a child process.

**This is not a security sandbox.** The code runs as you, with your file system and
network. What it does give: a fresh temporary working directory, an environment holding
only PATH and what Python needs (no inherited variables, so no API keys), Python's
isolated mode (`-I`: no user site-packages, no PYTHON* variables), limits on memory, CPU
time and output size (POSIX `resource` limits), and a wall-clock timeout after which the
process group is killed. That is enough for the simulator's answers and for models you
trust; do not point it at answers you would not run yourself.

>>> code = "def add(a, b):\\n    return a + b"
>>> run_python(code, "assert add(2, 3) == 5").passed  # doctest: +SKIP
True
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunOutcome", "arun_python", "extract_code", "run_python"]

#: the most output (stdout and stderr together) the child may write; more kills it
MAX_OUTPUT_BYTES = 256 * 1024
#: the longest reason kept from the child's output
_REASON_CHARS = 200

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)

# Runs in the child before the answer: resource limits (POSIX), then the answer file as
# __main__. Written here, not in a preexec_fn: preexec_fn is unsafe in a threaded parent
# (the Session runs a loop thread).
_WRAPPER = """\
import runpy, sys
mem, cpu, out, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    import resource
except ImportError:
    resource = None
if resource is not None:
    def limit(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    if mem:
        limit(resource.RLIMIT_AS, mem)
    limit(resource.RLIMIT_CPU, cpu)
    limit(resource.RLIMIT_FSIZE, out)
    limit(resource.RLIMIT_CORE, 0)
sys.argv = [path]
sys.path.insert(0, "")
runpy.run_path(path, run_name="__main__")
"""


@dataclass(frozen=True)
class RunOutcome:
    """Whether the code and its tests ran to exit 0 in time, and why not otherwise."""

    passed: bool
    reason: str


def extract_code(answer: str) -> str:
    """The code of an answer: its first ```python fence, else its first ``` fence, else the
    whole answer.

    >>> extract_code("Here:\\n```python\\nx = 1\\n```\\nDone.")
    'x = 1\\n'
    """
    fences = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer)]
    for language, body in fences:
        if language in ("python", "py", "python3"):
            return body
    if fences:
        return fences[0][1]
    return answer


def _program(code: str, tests: str) -> str:
    return f"{code}\n\n# --- tests ---\n{tests}\n"


def _environment(home: str) -> dict[str, str]:
    """Only what Python needs: never os.environ as a whole (it may hold API keys)."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if os.name == "nt":  # Windows cannot start Python without these
        for name in ("SYSTEMROOT", "WINDIR", "COMSPEC"):
            if name in os.environ:
                env[name] = os.environ[name]
    return env


def _command(path: Path, timeout_s: float, memory_mb: int) -> list[str]:
    cpu = max(1, math.ceil(timeout_s)) + 1
    return [
        sys.executable,
        "-I",
        "-c",
        _WRAPPER,
        str(memory_mb * 1024 * 1024 if memory_mb > 0 else 0),
        str(cpu),
        str(MAX_OUTPUT_BYTES),
        str(path),
    ]


def _check_arguments(timeout_s: float, memory_mb: int) -> None:
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError("timeout_s must be a number of seconds > 0")
    if not isinstance(memory_mb, int) or memory_mb < 0:
        raise ValueError("memory_mb must be a whole number of megabytes (0: no limit)")


def _outcome(returncode: int | None, output_path: Path, timeout_s: float) -> RunOutcome:
    if returncode is None:
        return RunOutcome(False, f"timed out after {timeout_s:g} s")
    if returncode == 0:
        return RunOutcome(True, "tests passed")
    with contextlib.suppress(OSError):
        if output_path.stat().st_size >= MAX_OUTPUT_BYTES:
            return RunOutcome(False, f"output over {MAX_OUTPUT_BYTES} bytes: stopped")
    tail = _last_line(output_path)
    if returncode < 0:
        signame = _signal_name(-returncode)
        what = {
            "SIGXCPU": "CPU time limit reached",
            "SIGXFSZ": f"output over {MAX_OUTPUT_BYTES} bytes",
            "SIGKILL": "killed",
        }.get(signame, f"killed by {signame}")
        return RunOutcome(False, what if not tail else f"{what}: {tail}")
    return RunOutcome(False, tail or f"exit status {returncode}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(path: Path) -> str:
    """The last non-empty line the child wrote (a traceback's last line names the error)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in data.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1] + "…"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.name == "posix":
            os.killpg(pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            os.kill(pid, signal.SIGTERM)


def run_python(
    code: str, tests: str, *, timeout_s: float = 5.0, memory_mb: int = 512
) -> RunOutcome:
    """Run `code` followed by `tests` (assert statements) with `sys.executable -I` in a
    fresh temporary directory; passed when it exits 0 within `timeout_s`.

    Not a security sandbox (see the module docstring): the code runs as you.
    """
    _check_arguments(timeout_s, memory_mb)
    with tempfile.TemporaryDirectory(prefix="nvgw-run-") as home:
        path = Path(home, "answer.py")
        path.write_text(_program(code, tests), encoding="utf-8")
        output = Path(home, "output.txt")
        with output.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter, argv list
                _command(path, timeout_s, memory_mb),
                cwd=home,
                env=_environment(home),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=os.name == "posix",
            )
            try:
                returncode: int | None = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                _kill_group(process.pid)
                process.kill()
                process.wait()
        return _outcome(returncode, output, timeout_s)


async def arun_python(
    code: str, tests: str, *, timeout_s: float = 5.0, memory_mb: int = 512
) -> RunOutcome:
    """`run_python` for `await`: the event loop keeps running while the child does."""
    _check_arguments(timeout_s, memory_mb)
    with tempfile.TemporaryDirectory(prefix="nvgw-run-") as home:
        path = Path(home, "answer.py")
        path.write_text(_program(code, tests), encoding="utf-8")
        output = Path(home, "output.txt")
        with output.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *_command(path, timeout_s, memory_mb),
                cwd=home,
                env=_environment(home),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=os.name == "posix",
            )
            returncode: int | None
            try:
                returncode = await asyncio.wait_for(process.wait(), timeout_s)
            except asyncio.TimeoutError:
                returncode = None
            finally:
                _kill_group(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return _outcome(returncode, output, timeout_s)
