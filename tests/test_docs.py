"""The README and the documentation site stay true for a reader: no citation of a file the
user does not have, a front-page README, links that resolve, examples that run, and a
fault catalogue that lists every fault the simulator injects. (`make test` also builds the
site with `mkdocs build --strict`, which checks links, anchors and the nav.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvgw_nb.sim import FAULT_IDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: text a user reads, checked strictly: the README, the docs site's sources, CONTRIBUTING
#: and the settings template
USER_TEXT = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / ".env.example",
        *(p for p in DOCS.rglob("*") if p.suffix in {".md", ".py"}),
        # the package's messages and docstrings (the API reference renders them), the
        # notebooks and the examples
        *(ROOT / "nvgw_nb").rglob("*.py"),
        *(ROOT / "notebooks").glob("*.ipynb"),
        *(p for p in (ROOT / "examples").iterdir() if p.is_file()),
    ]
)
#: the team's working notes: not shipped, so no user-facing text may send anyone to them
_TEAM_NOTES = re.compile(
    r"\b(FACTS|FAULTS|WIRE|DESIGN|EXPERIMENTS|PERF-NOTES)\.md\b|\b(WIRE|FACTS) (§|\d)"
    r"|(?i:\bthe seed's\b)"
)
#: a Markdown link or image target: [text](target)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", USER_TEXT, ids=_rel)
def test_user_text_cites_no_team_notes(path: Path) -> None:
    """No user-facing file cites a team note (FACTS.md, FAULTS.md, …) or "the seed"."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _TEAM_NOTES.search(line)
        assert match is None, f"{_rel(path)}:{number}: {match.group(0) if match else ''}"


def test_readme_is_a_front_page() -> None:
    """The README stays a front page (at most 220 lines); the manual is the docs site."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220


def _target(page: Path, link: str) -> Path | None:
    """The file a relative link points at (None for a web or in-page link)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("#"):
        return None
    target = (page.parent / link.split("#", 1)[0]).resolve()
    # The site's notebooks/ pages are the repository's notebooks (docs/_hooks/notebooks.py).
    if not target.exists() and target.parent == DOCS / "notebooks":
        return ROOT / "notebooks" / target.name
    return target


@pytest.mark.parametrize("page", _PAGES, ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link in the README and the docs pages points at an existing file."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # code is not links
    for link in _LINK.findall(text):
        target = _target(page, link)
        assert target is None or target.exists(), f"{_rel(page)}: {link}"


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in _PAGES:
        for code in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL):
            if "Simulator(" in code:
                blocks.append((_rel(page), code))
    return blocks


_EXAMPLES = _python_blocks()


@pytest.mark.parametrize(
    ("page", "code"), _EXAMPLES, ids=[f"{p}:{c.splitlines()[0][:30]}" for p, c in _EXAMPLES]
)
def test_simulator_examples_run(
    page: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Python example on the simulator runs as written, from a directory that has the
    repository's examples/ (files the example writes land in a temporary directory)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, page, "exec"), {"__name__": "docs_example"})  # noqa: S102


def _ids_in(cell: str) -> set[str]:
    """Fault ids a table cell names: `B1`, `B1`, `B2`, or a range `X1`–`X4`."""
    ids: set[str] = set()
    for first, last in re.findall(r"`([A-Z]\d+)`(?:\s*[–-]\s*`([A-Z]\d+)`)?", cell):
        if last:
            ids |= {f"{first[0]}{n}" for n in range(int(first[1:]), int(last[1:]) + 1)}
        else:
            ids.add(first)
    return ids


def test_fault_catalogue_lists_every_injectable_fault() -> None:
    """Every fault id the simulator accepts is in the catalogue's injection table, and the
    table names no id the simulator lacks."""
    text = (DOCS / "reference" / "faults.md").read_text(encoding="utf-8")
    table = text.split("## Faults the simulator injects", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            listed |= _ids_in(row.split("|")[1])
    accepted = {fault for faults in FAULT_IDS.values() for fault in faults}
    assert listed == accepted
