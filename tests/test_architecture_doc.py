"""docs/architecture.md stays true: every file it names exists, every name it puts in
backticks is defined where the line says."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
#: a backticked file or folder of the repository
_PATH = re.compile(r"^(nvgw_nb|tests|notebooks|docs|benchmarks|examples)(/[\w.]+)*/?$|^\w+\.md$")
#: a backticked Python name: `Name`, `name`, `Name.attr`
_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _blocks() -> list[str]:
    """The doc cut into a table row, a list item or a paragraph each: a name resolves
    against the files named in its own block."""
    blocks: list[str] = []
    current: list[str] = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("|", "- ", "#")):
            if current:
                blocks.append(" ".join(current))
            current = [line] if line.strip() else []
            continue
        current.append(line)
    if current:
        blocks.append(" ".join(current))
    return blocks


def _module_of(path: str) -> ModuleType | None:
    if not path.startswith("nvgw_nb/") or not path.endswith(".py"):
        return None
    return importlib.import_module(path.removesuffix(".py").replace("/", "."))


def _resolves(name: str, modules: list[ModuleType]) -> bool:
    for module in modules:
        target: object = module
        parts = name.split(".")
        for depth, part in enumerate(parts):
            if hasattr(target, part):
                target = getattr(target, part)
                continue
            # A declared class attribute (`name: ClassVar[str]`), or an instance attribute
            # (`self.defaults = ...`), of the class named before it.
            if depth == len(parts) - 1 and inspect.isclass(target):
                declared = any(part in inspect.get_annotations(c) for c in target.__mro__)
                source = inspect.getsource(target)
                if declared or re.search(rf"self\.{part}\b\s*(:[^=\n]+)?=", source):
                    target = None
                    continue
            break
        else:
            return True
    return False


def test_every_file_it_names_exists() -> None:
    """Each backticked path of the map is in the repository."""
    named = [t for block in _blocks() for t in re.findall(r"`([^`]+)`", block) if _PATH.match(t)]
    assert len(named) > 40
    missing = [t for t in named if not (ROOT / t).exists()]
    assert not missing


@pytest.mark.parametrize("number", range(len(_blocks())))
def test_every_name_in_a_block_is_defined(number: int) -> None:
    """Each backticked Python name resolves in a module its row, item or paragraph names,
    or in nvgw_nb itself."""
    block = _blocks()[number]
    tokens = re.findall(r"`([^`]+)`", block)
    modules = [m for t in tokens if _PATH.match(t) and (m := _module_of(t)) is not None]
    modules.append(importlib.import_module("nvgw_nb"))
    names = [t for t in tokens if _NAME.match(t) and not _PATH.match(t)]
    unresolved = [n for n in names if not _resolves(n, modules)]
    assert not unresolved, f"{block[:60]!r}…: {unresolved}"
