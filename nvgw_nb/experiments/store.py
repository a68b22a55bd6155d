"""A run's JSONL file: a header line naming the experiment, then one line per call,
rating and judge verdict, appended as each one happens (a crash or Ctrl-C loses nothing).

Lines: `{"type": "experiment", ...}` (the cases, cells, repeats, scorers, seed),
`{"type": "call", ...}` (`CallRecord`), `{"type": "rating", ...}` (`Rating`),
`{"type": "judgement", ...}` (`Judgement`). A line cut short by a crash is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.records import CallRecord, Judgement, Rating
from nvgw_nb.private_files import open_private

if TYPE_CHECKING:
    from nvgw_nb.experiments.grid import Cell

__all__ = ["FORMAT_VERSION", "Header", "RunContents", "append", "read_run", "write_run"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Header:
    """What the file's experiment was: enough to read it back and to resume it."""

    cases: list[Case]
    cells: list[dict[str, Any]]
    repeats: int
    scorers: list[str]
    seed: int
    simulated: bool

    def to_line(self) -> dict[str, Any]:
        return {
            "type": "experiment",
            "version": FORMAT_VERSION,
            "cases": [c.model_dump(mode="json") for c in self.cases],
            "cells": self.cells,
            "repeats": self.repeats,
            "scorers": self.scorers,
            "seed": self.seed,
            "simulated": self.simulated,
        }

    @classmethod
    def from_line(cls, data: dict[str, Any]) -> Header:
        return cls(
            cases=[Case(c.pop("prompt"), **c) for c in (dict(x) for x in data["cases"])],
            cells=list(data["cells"]),
            repeats=int(data["repeats"]),
            scorers=[str(s) for s in data.get("scorers", [])],
            seed=int(data.get("seed", 0)),
            simulated=bool(data.get("simulated", False)),
        )


def cell_dict(cell: Cell) -> dict[str, Any]:
    """A cell as the header stores it (its options only as far as JSON can hold them)."""
    data = asdict(cell)
    data["options"] = {k: v for k, v in data["options"].items() if _jsonable(v)}
    return data


@dataclass
class RunContents:
    """Everything a run file holds, in file order."""

    header: Header | None = None
    records: list[CallRecord] = field(default_factory=list)
    ratings: list[Rating] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)


def append(path: Path, item: BaseModel | Header) -> None:
    """Append one line (flushed at once); a file it creates is its owner's only."""
    if isinstance(item, Header):
        line = item.to_line()
    else:
        kind = {CallRecord: "call", Rating: "rating", Judgement: "judgement"}[type(item)]
        line = {"type": kind, **item.model_dump(mode="json")}
    with open_private(path, "a") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        handle.flush()


def write_run(path: Path, header: Header, items: Sequence[BaseModel]) -> Path:
    """A whole run file at once (`Run.to_jsonl`), replacing any file there."""
    if path.exists():
        path.unlink()
    append(path, header)
    for item in items:
        append(path, item)
    return path


def read_run(path: str | Path) -> RunContents:
    """Read a run file; a ConfigError when it is not one (names the file)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"cannot read {source}: {reason}") from None
    out = RunContents()
    for number, data in _lines(text):
        kind = data.get("type")
        try:
            if kind == "experiment":
                if data.get("version", 1) > FORMAT_VERSION:
                    raise ConfigError(
                        f"{source} was written by a newer nvgw_nb (format {data['version']})"
                    )
                out.header = Header.from_line(data)
            elif kind == "call":
                out.records.append(CallRecord.model_validate(_body(data)))
            elif kind == "rating":
                out.ratings.append(Rating.model_validate(_body(data)))
            elif kind == "judgement":
                out.judgements.append(Judgement.model_validate(_body(data)))
        except ConfigError:
            raise
        except (ValueError, TypeError, KeyError) as err:
            if number == _last(text):  # cut short by a crash: the rest is good
                continue
            raise ConfigError(f"{source} line {number}: not a run record ({err})") from None
    if out.header is None:
        raise ConfigError(f"{source} is not an experiment run (no experiment line)")
    return out


def _lines(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    last = _last(text)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if number == last:  # a crash mid-write leaves at most the last line cut
                continue
            raise ConfigError(f"line {number} of the run file is not JSON") from None
        if isinstance(data, dict):
            yield number, data


def _last(text: str) -> int:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return len(lines)


def _body(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "type"}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
