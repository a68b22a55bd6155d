"""Every Markdown the package writes renders as written in JupyterLab, VS Code and GitHub:
no bare `$` (two start LaTeX), and a `|` or `*` in a label cannot break a table."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from nvgw_nb import bradley_terry
from nvgw_nb.batch import BatchPrompt
from nvgw_nb.compare import Comparison, ComparisonRow
from nvgw_nb.experiments.analysis import (
    PairOutcome,
    compare_paired,
    compare_ratio,
    pairwise_result,
    rank_arms,
)
from nvgw_nb.experiments.summary import MetricSummary, RunSummary, SummaryRow
from nvgw_nb.markdown import escape_markdown, unescape_markdown

#: a label holding every character that could break a table or start LaTeX or emphasis
EVIL = "a|b*c_$d`e[f]"
OTHER = "g|h*$"
_UNESCAPED = r"(?<!\\)(?:\\\\)*"


def _comparison() -> Comparison:
    rows = [
        ComparisonRow(
            prompt_index=i,
            prompt=f"p{i}",
            provider=provider,
            repeat=0,
            ok=True,
            latency_s=1.0 + i * (2 if provider == OTHER else 1),
            cost_usd=0.01 if provider == EVIL else 0.05,
            simulated=True,
        )
        for i in range(6)
        for provider in (EVIL, OTHER)
    ]
    prompts = [BatchPrompt(prompt=f"p{i}") for i in range(6)]
    return Comparison(rows, providers=[EVIL, OTHER], prompts=prompts, repeats=1)


def _run_summary() -> RunSummary:
    metric = MetricSummary(EVIL, 0.5, 0.25, 0.75, 4, True, "Wilson")
    row = SummaryRow(
        group={"provider": EVIL},
        label=EVIL,
        n_cases=4,
        n_calls=4,
        failed=0,
        fell_back=0,
        metrics={EVIL: metric},
        median_latency_s=1.0,
        cost_usd=0.5,
        scoring_cost_usd=0.1,
    )
    return RunSummary([row], [EVIL], simulated=True)


def _paired() -> str:
    a = {f"c{i}": [float(i % 2)] for i in range(8)}
    b = {f"c{i}": [0.0] for i in range(8)}
    return compare_paired(a, b, metric=EVIL, label_a=EVIL, label_b=OTHER)._repr_markdown_()


def _ratio() -> str:
    a = {f"c{i}": [1.0 + i] for i in range(8)}
    b = {f"c{i}": [2.0 + i] for i in range(8)}
    return compare_ratio(a, b, metric=EVIL, label_a=EVIL, label_b=OTHER)._repr_markdown_()


def _pairwise() -> str:
    outcomes = [PairOutcome(f"c{i}", "a" if i % 3 else "b", "a") for i in range(9)]
    result = pairwise_result(
        outcomes, label_a=EVIL, label_b=OTHER, judge="$judge|", warnings=["$1 | *x*"]
    )
    return result._repr_markdown_()


def _ranking() -> str:
    arms = [EVIL, OTHER, "third*$"]
    battles = [
        bradley_terry.Battle(f"c{i}", arms[i % 3], arms[(i + 1) % 3], float(i % 2))
        for i in range(12)
    ]
    return rank_arms(battles, resamples=50)._repr_markdown_()


def _report(tmp_path: Path) -> str:
    from nvgw_nb.report import write_report

    files = write_report(_comparison(), tmp_path / "r", title=f"{EVIL} report", note="$5 | *")
    return files.summary_md.read_text(encoding="utf-8")


#: every Markdown-producing repr and file of the package
PRODUCERS: dict[str, Callable[[Path], str]] = {
    "Summary.to_markdown": lambda _: _comparison().summary().to_markdown(),
    "Summary._repr_markdown_": lambda _: _comparison().summary()._repr_markdown_(),
    "RunSummary.to_markdown": lambda _: _run_summary().to_markdown(),
    "RunSummary._repr_markdown_": lambda _: _run_summary()._repr_markdown_(),
    "PairedComparison._repr_markdown_": lambda _: _paired(),
    "PairedComparison (ratio)._repr_markdown_": lambda _: _ratio(),
    "PairwiseResult._repr_markdown_": lambda _: _pairwise(),
    "Ranking._repr_markdown_": lambda _: _ranking(),
    "report summary.md": _report,
}


def _bare(char: str, text: str) -> list[str]:
    """Occurrences of `char` not escaped by a backslash."""
    return re.findall(_UNESCAPED + re.escape(char), text)


@pytest.mark.parametrize("name", PRODUCERS)
def test_no_bare_dollar(name: str, tmp_path: Path) -> None:
    """Every `$` is written `\\$`: JupyterLab, VS Code and GitHub leave it as a dollar."""
    text = PRODUCERS[name](tmp_path)
    assert "$" in text, "the fixture should hold dollars"
    assert not re.search(r"(?<!\\)\$", text), text


@pytest.mark.parametrize("name", PRODUCERS)
def test_labels_cannot_break_a_table(name: str, tmp_path: Path) -> None:
    """Each table row has as many cell borders as its header, and the label shows escaped."""
    text = PRODUCERS[name](tmp_path)
    tables: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert tables, "the fixture should make a table"
    for table in tables:
        borders = [len(_bare("|", line)) for line in table]
        assert len(set(borders)) == 1, table
    assert escape_markdown(EVIL) in text or escape_markdown(OTHER) in text


@pytest.mark.parametrize("name", PRODUCERS)
def test_no_bare_emphasis_from_labels(name: str, tmp_path: Path) -> None:
    """A `*` or `_` from a label never opens emphasis: all of them are escaped, apart from
    the package's own bold marks (`**SIMULATED data**`, `**SIMULATED — …**`)."""
    text = PRODUCERS[name](tmp_path)
    own = re.sub(r"\*\*SIMULATED[^*]*\*\*", "", text)
    assert not _bare("*", own), own
    assert not _bare("_", own), own


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("$0.0584 vs $0.4097", "\\$0.0584 vs \\$0.4097"),
        ("a|b", "a\\|b"),
        ("*bold* _it_", "\\*bold\\* \\_it\\_"),
        ("`code` [link](x)", "\\`code\\` \\[link\\](x)"),
        ("<b>&amp;", "\\<b\\>\\&amp;"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("two\nlines", "two lines"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_escape_markdown(raw: str, escaped: str) -> None:
    """One table of what is escaped, and how."""
    assert escape_markdown(raw) == escaped


@pytest.mark.parametrize("raw", ["$0.05 | a*b_c", "back\\slash", "# x", "(a) [b] <c> & ~d~"])
def test_unescape_undoes_escape(raw: str) -> None:
    """What a terminal prints is what was escaped (line breaks aside)."""
    assert unescape_markdown(escape_markdown(raw)) == raw
