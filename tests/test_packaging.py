"""Packaging files agree with each other and with the code: deps, .env.example, README."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

import nvgw_nb as nv

ROOT = Path(__file__).resolve().parents[1]

#: pyproject name → conda-forge name, where they differ (none today; keep it explicit)
CONDA_NAMES: dict[str, str] = {}
#: conda entries that are not Python runtime dependencies of the package
CONDA_ONLY = {"python", "pip"}

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")
# Real keys: a known prefix and a long random tail. Placeholders say YOUR_KEY_HERE.
_KEY_SHAPED = re.compile(r"(nvapi-|sk-|sk-ant-|AIza)(?![A-Za-z_-]*YOUR)[A-Za-z0-9_-]{16,}")
_SECRET_VARIABLES = ("NVIDIA_NIM_API_KEY", "STARFLEET_ID", "STARFLEET_SECRET")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, str]:
    # An environment marker (tomli only on Python < 3.11) is pip's business: conda lists
    # the package plainly.
    requirement = requirement.split(";", 1)[0]
    match = _REQUIREMENT.match(requirement)
    assert match, requirement
    name, spec = match.groups()
    return _normalise(name), spec.replace(" ", "")


def pyproject_dependencies() -> dict[str, str]:
    """name → version specifier of [project].dependencies."""
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    else:
        import tomllib

        data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        deps = dict(_split(req) for req in data["project"]["dependencies"])
        return {CONDA_NAMES.get(name, name): spec for name, spec in deps.items()}


def environment_yml() -> tuple[list[str], list[str], list[str]]:
    """(channels, conda dependencies, pip dependencies) of environment.yml.

    A hand parser for the simple shape used there: top-level keys, `- item` lists, and
    one nested `- pip:` list.
    """
    channels: list[str] = []
    conda: list[str] = []
    pip: list[str] = []
    section = None
    in_pip = False
    for raw in (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "-")):
            section = line.split(":", 1)[0].strip()
            in_pip = False
            continue
        item = line.strip().removeprefix("- ").strip()
        if section == "channels":
            channels.append(item)
        elif section == "dependencies":
            if item == "pip:":
                in_pip = True
            elif in_pip and len(line) - len(line.lstrip()) > 2:
                pip.append(item)
            else:
                in_pip = False
                conda.append(item)
    return channels, conda, pip


def test_environment_yml_matches_pyproject() -> None:
    """environment.yml lists the same runtime dependencies, with the same versions."""
    channels, conda, pip = environment_yml()
    assert channels == ["conda-forge"]
    conda_deps = dict(_split(item) for item in conda)
    assert set(conda_deps) >= CONDA_ONLY
    runtime = {name: spec for name, spec in conda_deps.items() if name not in CONDA_ONLY}
    assert runtime == pyproject_dependencies()
    assert pip == ["-e ."]


def env_example() -> dict[str, str]:
    """Variables named in .env.example (set or commented out) → their value."""
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def settings_variables() -> list[str]:
    """The environment variable of every Settings field."""
    names = []
    for field in nv.Settings.model_fields.values():
        assert isinstance(field.validation_alias, AliasChoices)
        names.append(str(field.validation_alias.choices[0]))
    return names


def test_env_example_lists_every_variable() -> None:
    """Every variable Settings reads appears in .env.example, and nothing else."""
    assert sorted(env_example()) == sorted(settings_variables())


def test_env_example_has_no_key_shaped_values() -> None:
    """Only placeholders: no key-shaped string, secrets say what to put there."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert not _KEY_SHAPED.search(text)
    assert not re.search(r"(Bearer|Basic)\s+[A-Za-z0-9+/=._-]{12,}", text)
    values = env_example()
    for name in _SECRET_VARIABLES:
        assert "your" in values[name].lower(), f"{name} must be a placeholder"


def test_key_shape_detector() -> None:
    """The detector flags a key-shaped value and passes the placeholders."""
    assert _KEY_SHAPED.search("NVIDIA_NIM_API_KEY=nvapi-" + "x7Q2" * 12)
    assert not _KEY_SHAPED.search("NVIDIA_NIM_API_KEY=nvapi-YOUR_KEY_HERE")


def test_env_example_loads_once_filled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """.env.example parses; copied unfilled, it says which placeholders to replace."""
    for name in settings_variables():
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(nv.ConfigError) as info:
        nv.Settings.load(env_file=ROOT / ".env.example")
    message = str(info.value)
    assert message.count("placeholder") == 1, "one line for all the placeholders"
    for name in _SECRET_VARIABLES:
        assert name in message
    filled = {name: f"filled-{name.lower()}" for name in _SECRET_VARIABLES}
    settings = nv.Settings.load(env_file=ROOT / ".env.example", **filled)
    assert settings.default_order == ("nvidia-nim", "nvidia-gateway")
    assert not settings.allow_external


def test_ci_script_runs_make_test() -> None:
    """.ci/run is an executable bash script that runs `make test` with strict mode."""
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test$", text, re.MULTILINE)


def test_makefile_targets() -> None:
    """The Makefile has the documented targets, and stamps keyed on pyproject.toml: the
    demo's (the package alone) and the developers' (the dev and docs extras)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("venv", "demo", "test", "test-fast", "lint", "docs", "lab", "clean"):
        assert re.search(rf"^{target}:", text, re.MULTILINE), target
    assert re.search(r"^\$\(DEMO_STAMP\): pyproject.toml", text, re.MULTILINE)
    assert re.search(r"^\$\(DEV_STAMP\): pyproject.toml", text, re.MULTILINE)
    assert re.search(r"^demo: \$\(DEMO_STAMP\)$", text, re.MULTILINE)
    assert "install --disable-pip-version-check -q -e .\n" in text


def test_readme_quick_start() -> None:
    """The README's quick start is the two make commands."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:sh|bash)\n(.*?)```", quick, re.DOTALL)
    assert block
    assert block.group(1).split("\n")[:2] == ["make demo", "make test"]


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize(
    "code",
    [b for b in _readme_python_blocks() if "Simulator(" in b],
    ids=lambda code: code.splitlines()[0][:40],
)
def test_readme_simulator_examples_run(code: str, tmp_path: Path) -> None:
    """Every README Python example that uses the simulator runs as written, in a directory
    where its paths (examples/cases.jsonl) resolve and what it writes is thrown away."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102


def _ignored_by_parsing(path: str) -> bool:
    """.gitignore's verdict on `path` for simple patterns (the last match wins; `!` negates)."""
    ignored = False
    for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatch(path, pattern):
            ignored = not negated
    return ignored


def test_gitignore_keeps_env_files_out_but_tracks_the_example() -> None:
    """.env (at any depth, and .env.local-style variants) is ignored; .env.example is not."""
    paths = {".env": True, "notebooks/.env": True, ".env.local": True, ".env.example": False}
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        for path, expected in paths.items():
            result = subprocess.run(
                [git, "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False
            )
            assert (result.returncode == 0) is expected, path
    else:
        for path, expected in paths.items():
            assert _ignored_by_parsing(path) is expected, path
