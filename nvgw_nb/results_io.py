"""Reading back what `nvgw-nb compare` wrote: results.jsonl (and quality.jsonl beside it).

Every problem is a `ResultsFileError` naming the file and, where there is one, the line:
a report is re-rendered from these files without any request, so a damaged file must say
where it is damaged rather than fail with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nvgw_nb.batch import BatchPrompt
from nvgw_nb.compare import Comparison, ComparisonRow
from nvgw_nb.errors import ConfigError

if TYPE_CHECKING:
    from nvgw_nb.quality import QualitySection

__all__ = ["ResultsFileError", "load_comparison", "load_quality"]


class ResultsFileError(ConfigError):
    """A results file that cannot be read back; the message names the file (and line)."""


def load_comparison(path: str | Path) -> Comparison:
    """The comparison saved in a results.jsonl (`Comparison.to_jsonl`), checked line by line."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ResultsFileError(f"cannot read {source}: {reason}") from None
    not_ours = (
        f"{source} is not a results.jsonl written by nvgw-nb compare (its first line must be "
        'the {"comparison": ...} header)'
    )
    try:
        meta = json.loads(lines[0])["comparison"] if lines else None
        if not isinstance(meta, dict):
            raise ResultsFileError(not_ours)
        prompts = [BatchPrompt.model_validate(p) for p in meta["prompts"]]
        providers = [str(p) for p in meta["providers"]]
        repeats = int(meta["repeats"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError):
        raise ResultsFileError(not_ours) from None
    rows: list[ComparisonRow] = []
    problems: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            rows.append(ComparisonRow.model_validate_json(line))
        except ValidationError as err:
            first = err.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "the line"
            problems.append(f"line {number}: {where}: {first['msg']}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ResultsFileError(f"{source}: {'; '.join(problems[:3])}{more}")
    if not rows:
        raise ResultsFileError(f"{source} holds no results")
    return Comparison(rows, providers=providers, prompts=prompts, repeats=repeats)


def load_quality(path: str | Path, providers: tuple[str, ...]) -> QualitySection:
    """The answer-quality section from a quality.jsonl (`nvgw-nb compare --cases`): pass
    rates and the paired comparisons with the first provider; a judge's verdict needs the
    judge again, so it is not rebuilt."""
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.quality import METRIC, QualitySection

    try:
        run = Run.load(path)
    except (OSError, ValueError, KeyError, ValidationError) as err:
        raise ResultsFileError(f"cannot read {path}: {err}") from None
    first = providers[0]
    return QualitySection(
        run=run,
        summary=run.summary(by="provider"),
        comparisons=[
            run.compare(a={"provider": other}, b={"provider": first}, metric=METRIC)
            for other in providers[1:]
        ],
        notes=[
            f"{len(run.cases)} labelled cases, each graded by its own check; re-rendered from "
            f"{Path(path).name} (a judge's verdict, if one was asked, is not rebuilt)."
        ],
    )
