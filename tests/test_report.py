"""`write_report`: the files of a comparison run, from a real simulated comparison."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.batch import BatchPrompt
from nvgw_nb.compare import CSV_COLUMNS, Comparison, ComparisonRow
from nvgw_nb.report import PLOTS, ReportFiles, answers_html, write_report
from nvgw_nb.sim import Simulator

PROMPTS = [
    {"prompt": "Classify this request: the export job fails", "role": "router"},
    {"prompt": "Plan the migration of the billing database", "role": "planner"},
    {
        "prompt": "<script>alert('x')</script> Write a Python function that adds",
        "role": "programmer",
    },
]
REPEATS = 2
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_NAMES = (*PLOTS, "overview")


@dataclass(frozen=True)
class Run:
    """A small simulated comparison and the credentials of the simulator that ran it."""

    cmp: Comparison
    secrets: list[str]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """3 prompts × 2 providers × 2 repeats on a simulator with no latency."""
    with (
        Simulator(seed=3, time_scale=0) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait()) as session,
    ):
        secrets = [v for k, v in sim.env().items() if k.endswith(("_KEY", "_SECRET", "_ID"))]
        yield Run(session.compare(PROMPTS, repeats=REPEATS, progress=False), secrets)


@pytest.fixture(scope="module")
def cmp(run: Run) -> Comparison:
    return run.cmp


@pytest.fixture(scope="module")
def files(cmp: Comparison, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    """The report of `cmp`, written once (plots take a second or two)."""
    return write_report(cmp, tmp_path_factory.mktemp("out") / "report")


def test_every_file_is_written(files: ReportFiles) -> None:
    """CSV, JSONL, summary.md, report.html and one PNG per plot exist, under out_dir."""
    names = {p.name for p in files.paths}
    assert names == {
        "results.csv",
        "results.jsonl",
        "summary.md",
        "report.html",
        *(f"{n}.png" for n in PNG_NAMES),
    }
    for path in files.paths:
        assert path.is_file()
        assert path.parent == files.out_dir


def test_csv_has_one_row_per_request(files: ReportFiles) -> None:
    """One row per prompt × provider × repeat, with the documented header."""
    with files.results_csv.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        assert reader.fieldnames == list(CSV_COLUMNS)
    assert len(rows) == len(PROMPTS) * 2 * REPEATS
    keys = {(r["prompt_index"], r["provider"], r["repeat"]) for r in rows}
    assert len(keys) == len(rows)
    assert {r["simulated"] for r in rows} == {"True"}


def test_summary_md_is_marked_and_has_the_table(files: ReportFiles) -> None:
    """summary.md says SIMULATED, what was compared, and holds the summary table."""
    text = files.summary_md.read_text(encoding="utf-8")
    assert "SIMULATED" in text.split("\n## ", 1)[0]
    assert "nvidia-nim, nvidia-gateway" in text
    assert f"{len(PROMPTS)} prompts × 2 providers × {REPEATS} repeats = 12" in text
    assert "| provider | n | success | median latency s (95% CI)" in text
    assert re.search(r"^\| nvidia-nim \| 6 \| ", text, re.MULTILINE)
    assert re.search(r"^\| nvidia-gateway \| 6 \| ", text, re.MULTILINE)


def test_html_embeds_the_plots(files: ReportFiles) -> None:
    """report.html embeds every plot as a base64 PNG and needs nothing external."""
    page = files.report_html.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(PLOTS)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']https?:""", page)


def test_html_has_summary_side_by_side_and_guide(files: ReportFiles) -> None:
    """The page has the banner, the summary table, the answers side by side and a guide."""
    page = files.report_html.read_text(encoding="utf-8")
    assert 'class="simulated"' in page
    assert '<table class="summary">' in page
    assert '<table class="nvgw-compare"' in page
    assert "How to read this" in page
    assert "bootstrap 95%" in page


def test_summary_states_the_conclusion_beside_the_table(files: ReportFiles) -> None:
    """The page and summary.md conclude in words from the paired interval, right after
    the table, with the paired plot beside it."""
    page = files.report_html.read_text(encoding="utf-8")
    table_end = page.index("</table>")
    conclusion = page.index('<div class="conclusion">')
    assert table_end < conclusion < page.index("<h2>Plots</h2>")
    assert page.index('alt="paired plot (simulated)"') < page.index("<h2>Plots</h2>")
    assert re.search(
        r"(No clear latency difference|nvidia-gateway is (slower|faster)|too few paired)",
        page[conclusion:],
    )
    text = files.summary_md.read_text(encoding="utf-8")
    assert "geometric mean" in text or "too few paired prompts" in text


def test_answers_show_every_repeat_with_role_latency_cost_and_failure(tmp_path: Path) -> None:
    """Each prompt's header names its role; each repeat gets its own row with latency and
    cost above each answer, and a failed request its failure kind and error."""
    rows = [
        ComparisonRow(
            prompt_index=0,
            prompt="Plan it",
            role="planner",
            provider=provider,
            repeat=repeat,
            ok=not (provider == "nvidia-nim" and repeat == 1),
            failure_kind="timeout" if provider == "nvidia-nim" and repeat == 1 else None,
            error="no answer in 30 s" if provider == "nvidia-nim" and repeat == 1 else None,
            latency_s=0.25 + repeat,
            cost_usd=0.0012,
            content=f"answer {repeat} from {provider}",
        )
        for provider in ("nvidia-nim", "nvidia-gateway")
        for repeat in range(2)
    ]
    prompts = [BatchPrompt(prompt="Plan it", role="planner")]
    cmp = Comparison(rows, providers=["nvidia-nim", "nvidia-gateway"], prompts=prompts, repeats=2)
    page = answers_html(cmp, "nvidia-nim", "nvidia-gateway")
    assert '<span class="role">planner</span> Plan it' in page
    assert page.count("<tr><td>") == 2  # one row per repeat
    assert "repeat 1 · 0.250 s · $0.001200" in page
    assert "answer 1 from nvidia-gateway" in page
    assert "repeat 2 · failed, timeout after 1.250 s · $0.001200: no answer in 30 s" in page


def test_report_cites_no_team_file(files: ReportFiles) -> None:
    """The page and summary.md point to the docs site and nvgw_nb.pricing, never to a
    file a user does not have."""
    for path in (files.report_html, files.summary_md):
        text = path.read_text(encoding="utf-8")
        for name in ("FACTS.md", "FAULTS.md", "WIRE.md", "DESIGN.md", "EXPERIMENTS.md"):
            assert name not in text, (path.name, name)
    page = files.report_html.read_text(encoding="utf-8")
    assert "docs/reference/facts.md" in page
    assert "docs/reference/faults.md" in page
    assert "nvgw_nb.pricing" in page


def test_html_escapes_prompts(files: ReportFiles) -> None:
    """A prompt holding <script> is shown escaped, never as markup."""
    page = files.report_html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in page
    assert "<script>" not in page


def test_pngs_are_real_images(files: ReportFiles) -> None:
    """Every PNG has the PNG signature and more than 1 KB of picture."""
    for name in PNG_NAMES:
        data = files.plots[name].read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 1024, name


def test_jsonl_reloads_to_the_same_summary(cmp: Comparison, files: ReportFiles) -> None:
    """results.jsonl reads back into a Comparison with the same summary."""
    again = Comparison.load(files.results_jsonl)
    assert again.summary().to_markdown() == cmp.summary().to_markdown()
    assert again.simulated


def test_no_secret_in_any_file(run: Run, files: ReportFiles) -> None:
    """No credential of the simulator that ran the comparison is in a written file."""
    assert len(run.secrets) >= 3
    for path in files.paths:
        if path.suffix in {".csv", ".jsonl", ".md", ".html"}:
            text = path.read_text(encoding="utf-8")
            assert not any(secret in text for secret in run.secrets), path.name


def test_real_run_title_and_note(cmp: Comparison, tmp_path: Path) -> None:
    """Rows not from the simulator get no SIMULATED mark; a caller's title and note are
    shown, escaped in the page."""
    rows = [row.model_copy(update={"simulated": False}) for row in cmp.rows]
    real = Comparison(rows, providers=cmp.providers, prompts=cmp.prompts, repeats=cmp.repeats)
    files = write_report(real, tmp_path / "r", title="A <b>title</b>", note="scale & seed")
    page = files.report_html.read_text(encoding="utf-8")
    summary = files.summary_md.read_text(encoding="utf-8")
    assert "SIMULATED" not in page
    assert "SIMULATED" not in summary
    assert "<h1>A &lt;b&gt;title&lt;/b&gt;</h1>" in page
    assert "scale &amp; seed" in page
    assert summary.startswith("# A \\<b\\>title\\</b\\>\n")  # escaped: shown as typed
    assert "- note: scale \\& seed" in summary
