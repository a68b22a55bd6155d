"""Comparison: rows, the summary's numbers on fixed data, exports, and a real run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.batch import BatchPrompt
from nvgw_nb.compare import Comparison, ComparisonRow
from nvgw_nb.sim import Simulator


def _row(
    index: int, provider: str, latency: float, *, ok: bool = True, **kw: object
) -> ComparisonRow:
    return ComparisonRow(
        prompt_index=index,
        prompt=f"prompt {index}",
        provider=provider,
        repeat=0,
        ok=ok,
        latency_s=latency,
        prompt_tokens=10,
        completion_tokens=20 if provider == "nvidia-nim" else 40,
        cost_usd=0.001 if provider == "nvidia-nim" else 0.003,
        content="the same answer" if ok else "",
        failure_kind=None if ok else "server_error",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def fixed() -> Comparison:
    """NIM latencies 1,2,3,4; the gateway 2,4,6,8 plus one failure."""
    rows = [_row(i, "nvidia-nim", float(i + 1)) for i in range(4)]
    rows += [_row(i, "nvidia-gateway", 2.0 * (i + 1)) for i in range(4)]
    rows.append(_row(4, "nvidia-gateway", 0.5, ok=False))
    rows.append(_row(4, "nvidia-nim", 5.0))
    prompts = [BatchPrompt(prompt=f"prompt {i}") for i in range(5)]
    return Comparison(rows, providers=["nvidia-nim", "nvidia-gateway"], prompts=prompts, repeats=1)


def test_summary_numbers_by_hand(fixed: Comparison) -> None:
    """n, success rate, median, p90, mean tokens and cost per 1k, as computed by hand."""
    nim, gateway = fixed.summary().providers
    assert (nim.n, nim.ok, nim.success_rate) == (5, 5, 1.0)
    assert nim.median_latency_s == 3.0  # 1,2,3,4,5
    assert nim.p90_latency_s == pytest.approx(4.6)  # 4 + 0.6·1
    assert nim.mean_completion_tokens == 20
    assert nim.cost_per_1k_usd == pytest.approx(1.0)
    assert (gateway.n, gateway.ok) == (5, 4)
    assert gateway.success_rate == pytest.approx(0.8)
    assert gateway.median_latency_s == 5.0  # 2,4,6,8
    assert gateway.failures == {"server_error": 1}
    assert gateway.cost_per_1k_usd == pytest.approx(3.0)  # failed attempts billed too
    low, high = nim.latency_ci
    assert 1.0 <= low <= 3.0 <= high <= 5.0


def test_paired_statement_is_plain(fixed: Comparison) -> None:
    """Ratio 2.0 on every paired prompt: '2.00× … (95% CI 2.00–2.00×, n=4 paired prompts)'."""
    (statement,) = fixed.summary().statements
    assert statement == (
        "nvidia-gateway median latency 2.00× nvidia-nim (95% CI 2.00–2.00×, n=4 paired prompts)"
    )


def test_agreement_per_prompt(fixed: Comparison) -> None:
    """Identical answers agree fully; a prompt with one failed side has no score."""
    scores = fixed.agreement()
    assert scores[:4] == [1.0] * 4
    assert math.isnan(scores[4])


def test_exports_round_trip(fixed: Comparison, tmp_path: Path) -> None:
    """CSV has a row per prompt × provider × repeat; JSONL reloads to the same summary."""
    csv_path = fixed.to_csv(tmp_path / "results.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("prompt_index,role,provider,repeat,ok,failure_kind,latency_s")
    assert len(lines) == 1 + 10
    again = Comparison.load(fixed.to_jsonl(tmp_path / "results.jsonl"))
    assert again.summary() == fixed.summary()
    frame = fixed.to_pandas()
    assert frame.shape == (10, 15)
    assert frame.groupby("provider")["ok"].sum().to_dict() == {"nvidia-gateway": 4, "nvidia-nim": 5}


def test_to_pandas_without_pandas_says_how_to_install(
    fixed: Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas is optional: the error names the extra to install."""
    import builtins

    real_import = builtins.__import__

    def no_pandas(name: str, *args: object, **kwargs: object) -> object:
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"pip install 'nvgw_nb\[pandas\]'"):
        fixed.to_pandas()


def test_side_by_side_marks_word_differences() -> None:
    """Words only in one answer are highlighted on that side; prompts are escaped."""
    rows = [
        ComparisonRow(
            prompt_index=0,
            prompt="<b>p</b>",
            provider="nvidia-nim",
            repeat=0,
            ok=True,
            latency_s=1,
            content="keep the parser small",
        ),
        ComparisonRow(
            prompt_index=0,
            prompt="<b>p</b>",
            provider="nvidia-gateway",
            repeat=0,
            ok=True,
            latency_s=1,
            content="keep the lexer small",
        ),
    ]
    cmp = Comparison(
        rows,
        providers=["nvidia-nim", "nvidia-gateway"],
        prompts=[BatchPrompt(prompt="<b>p</b>")],
        repeats=1,
    )
    page = cmp.side_by_side_html()
    assert '<span style="background:#fbd3d0">parser</span>' in page
    assert '<span style="background:#d4f4d2">lexer</span>' in page
    assert "&lt;b&gt;p&lt;/b&gt;" in page


def test_compare_pins_each_provider_and_repeats(sim: Simulator, session: nv.Session) -> None:
    """Every prompt on every provider, no fallback, `repeats` times; simulated is marked."""
    sim.inject("nvidia-nim", "X2")  # a NIM failure must stay NIM's row, not fall back
    cmp = session.compare(["a", "b", "c"], repeats=2, progress=False)
    assert len(cmp.rows) == 3 * 2 * 2
    for row in cmp.rows:
        assert {a.provider for a in row.attempts} <= {row.provider}
    failed = [r for r in cmp.rows if not r.ok]
    assert [(r.provider, r.failure_kind) for r in failed] == [("nvidia-nim", "model_not_found")]
    assert cmp.simulated
    assert "SIMULATED" in cmp.summary().to_markdown()
    assert "(simulated)" in cmp.summary().statements[0]
    assert "SIMULATED" in cmp._repr_html_()


def test_compare_rejects_fallback_options(session: nv.Session) -> None:
    """compare() pins providers itself: providers/fallbacks keywords are refused."""
    with pytest.raises(TypeError, match="fallbacks"):
        session.compare(["a"], fallbacks=True, progress=False)  # type: ignore[call-arg]
