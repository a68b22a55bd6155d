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
    """NIM latencies 1-6; the gateway twice as slow on the same prompts, one failure (#4)."""
    rows = [_row(i, "nvidia-nim", float(i + 1)) for i in range(6)]
    rows += [_row(i, "nvidia-gateway", 2.0 * (i + 1)) for i in range(6) if i != 4]
    rows.append(_row(4, "nvidia-gateway", 0.5, ok=False))
    prompts = [BatchPrompt(prompt=f"prompt {i}") for i in range(6)]
    return Comparison(rows, providers=["nvidia-nim", "nvidia-gateway"], prompts=prompts, repeats=1)


def test_summary_numbers_by_hand(fixed: Comparison) -> None:
    """n, success rate, median, p90, mean tokens and cost per 1k, as computed by hand."""
    nim, gateway = fixed.summary().providers
    assert (nim.n, nim.ok, nim.success_rate) == (6, 6, 1.0)
    assert nim.median_latency_s == 3.5  # 1..6
    assert nim.p90_latency_s == pytest.approx(5.5)  # 5 + 0.5·1
    assert nim.mean_completion_tokens == 20
    assert nim.cost_per_1k_usd == pytest.approx(1.0)
    assert (gateway.n, gateway.ok) == (6, 5)
    assert gateway.success_rate == pytest.approx(5 / 6)
    assert gateway.median_latency_s == 6.0  # 2,4,6,8,12
    assert gateway.failures == {"server_error": 1}
    assert gateway.cost_per_1k_usd == pytest.approx(3.0)  # failed attempts billed too
    low, high = nim.latency_ci
    assert 1.0 <= low <= 3.5 <= high <= 6.0


def test_paired_conclusion_is_plain(fixed: Comparison) -> None:
    """Ratio 2.0 on every paired prompt: the interval excludes 1, so "slower", in words."""
    statement = fixed.summary().statements[0]
    assert statement == (
        "nvidia-gateway is slower: 2.00× nvidia-nim per prompt (geometric mean, 95% CI "
        "2.00–2.00×, n=5 paired prompts)."
    )


def _ratios_comparison(ratios: list[float], repeats: int = 1) -> Comparison:
    """NIM at 1 s on every prompt; the gateway at `ratio` s on its prompt."""
    rows = []
    for i, ratio in enumerate(ratios):
        for k in range(repeats):
            rows.append(_row(i, "nvidia-nim", 1.0).model_copy(update={"repeat": k}))
            rows.append(_row(i, "nvidia-gateway", ratio).model_copy(update={"repeat": k}))
    prompts = [BatchPrompt(prompt=f"prompt {i}") for i in range(len(ratios))]
    return Comparison(
        rows, providers=["nvidia-nim", "nvidia-gateway"], prompts=prompts, repeats=repeats
    )


def test_paired_latency_is_the_geometric_mean_with_a_prompt_bootstrap() -> None:
    """Ratios 0.5, 1, 2, 4, 1: exp(mean log) = 2^(2/5); the seeded CI contains it."""
    pair = _ratios_comparison([0.5, 1.0, 2.0, 4.0, 1.0]).paired_latency(
        "nvidia-nim", "nvidia-gateway"
    )
    assert pair.ratio == pytest.approx(2 ** (2 / 5))
    assert pair.n == 5
    assert pair.ratios == pytest.approx({0: 0.5, 1: 1.0, 2: 2.0, 3: 4.0, 4: 1.0})
    low, high = pair.ci
    assert 0.5 <= low < pair.ratio < high <= 4.0
    assert pair.seed == 0
    again = _ratios_comparison([0.5, 1.0, 2.0, 4.0, 1.0]).paired_latency(
        "nvidia-nim", "nvidia-gateway"
    )
    assert again == pair  # seeded: the same data give the same interval


def test_geometric_mean_is_steadier_than_the_median_of_ratios() -> None:
    """Over reruns of one workload whose per-prompt ratios fall in two groups (a
    generated stand-in for simulator seeds: wall-clock latencies would make the test
    timed), the geometric mean moves less than the median of ratios did."""
    import random
    import statistics

    geometric, medians = [], []
    for seed in range(8):
        rng = random.Random(seed)
        # half the prompts ~0.85×, half ~1.45×: two groups with a gap between them
        ratios = [(0.85 if i % 2 else 1.45) * math.exp(rng.gauss(0, 0.05)) for i in range(36)]
        pair = _ratios_comparison(ratios).paired_latency("nvidia-nim", "nvidia-gateway")
        geometric.append(pair.ratio)
        medians.append(statistics.median(pair.ratios.values()))
    assert statistics.stdev(geometric) < statistics.stdev(medians) / 3


@pytest.mark.parametrize(
    ("ratios", "start", "forbidden"),
    [
        ([0.5, 2.0, 1.0, 0.8, 1.25, 1.1, 0.9], "No clear latency difference", ("faster", "slower")),
        ([1.2, 1.3, 1.25, 1.1, 1.4], "nvidia-gateway is slower: ", ("faster", "No clear")),
        ([0.7, 0.8, 0.75, 0.9, 0.6], "nvidia-gateway is faster: ", ("slower", "No clear")),
    ],
)
def test_conclusion_follows_the_interval(
    ratios: list[float], start: str, forbidden: tuple[str, ...]
) -> None:
    """Faster or slower only when the interval excludes 1.00×; else "no clear difference"."""
    statement = _ratios_comparison(ratios).summary().statements[0]
    assert statement.startswith(start)
    assert not any(word in statement for word in forbidden)
    if start.startswith("No clear"):
        assert "the interval contains 1.00×" in statement


def test_pooled_and_paired_pointing_apart_is_explained() -> None:
    """Lower pooled median but slower per prompt: one line says why they differ."""
    # per prompt the gateway is 10-20% slower, but it answered the three short prompts
    # three times each and the long ones once: its pooled median is the short prompts'
    rows = []
    nim = [1.0, 1.0, 1.0, 10.0, 10.0, 10.0, 10.0]
    gateway = [1.2, 1.2, 1.2, 11.0, 11.0, 11.0, 11.0]
    for i, (a, b) in enumerate(zip(nim, gateway, strict=True)):
        rows.append(_row(i, "nvidia-nim", a))
        # the gateway answered the short prompts three times each, the long ones once
        for k in range(3 if i < 3 else 1):
            rows.append(_row(i, "nvidia-gateway", b).model_copy(update={"repeat": k}))
    prompts = [BatchPrompt(prompt=f"prompt {i}") for i in range(len(nim))]
    cmp = Comparison(rows, providers=["nvidia-nim", "nvidia-gateway"], prompts=prompts, repeats=3)
    summary = cmp.summary()
    nim_s, gateway_s = summary.providers
    assert gateway_s.median_latency_s < nim_s.median_latency_s
    assert summary.paired[0].ratio > 1
    assert summary.statements[0].startswith("nvidia-gateway is slower")
    why = summary.statements[1]
    assert why.startswith("Why the table and the ratio point different ways:")
    assert "pool every successful request" in why


def test_no_explanation_when_both_agree(fixed: Comparison) -> None:
    """When the pooled medians and the ratio agree, no extra line."""
    assert not any(s.startswith("Why") for s in fixed.summary().statements)


def test_summary_states_the_cost_difference(fixed: Comparison) -> None:
    """Cost per 1k requests of each provider against the first, in words."""
    assert fixed.summary().statements[-1] == (
        "Estimated cost per 1k requests: nvidia-gateway 3.0000 USD vs nvidia-nim 1.0000 USD "
        "(3.0×); list-price estimates (nvgw_nb.pricing), not a bill."
    )


def test_agreement_per_prompt(fixed: Comparison) -> None:
    """Identical answers agree fully; a prompt with one failed side has no score."""
    scores = fixed.agreement()
    assert scores[:4] == [1.0] * 4
    assert math.isnan(scores[4])
    assert scores[5] == 1.0


def test_exports_round_trip(fixed: Comparison, tmp_path: Path) -> None:
    """CSV has a row per prompt × provider × repeat; JSONL reloads to the same summary."""
    csv_path = fixed.to_csv(tmp_path / "results.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("prompt_index,role,provider,repeat,ok,failure_kind,latency_s")
    assert len(lines) == 1 + 12
    again = Comparison.load(fixed.to_jsonl(tmp_path / "results.jsonl"))
    assert again.summary() == fixed.summary()
    frame = fixed.to_pandas()
    assert frame.shape == (12, 15)
    assert frame.groupby("provider")["ok"].sum().to_dict() == {"nvidia-gateway": 5, "nvidia-nim": 6}


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
    assert page.count("text-align:left;vertical-align:top;white-space:pre-wrap") == 2


def test_compare_pins_each_provider_and_repeats(sim: Simulator, session: nv.Session) -> None:
    """Every prompt on every provider, no fallback, `repeats` times; simulated is marked."""
    sim.inject("nvidia-nim", "X2")  # a NIM failure must stay NIM's row, not fall back
    cmp = session.compare(["a", "b", "c", "d", "e"], repeats=2, progress=False)
    assert len(cmp.rows) == 5 * 2 * 2
    for row in cmp.rows:
        assert {a.provider for a in row.attempts} <= {row.provider}
    failed = [r for r in cmp.rows if not r.ok]
    assert [(r.provider, r.failure_kind) for r in failed] == [("nvidia-nim", "model_not_found")]
    assert cmp.simulated
    assert "SIMULATED" in cmp.summary().to_markdown()
    assert "simulated" in cmp.summary().statements[0]
    assert "SIMULATED" in cmp._repr_html_()


def test_compare_rejects_fallback_options(session: nv.Session) -> None:
    """compare() pins providers itself: providers/fallbacks keywords are refused."""
    with pytest.raises(TypeError, match="fallbacks"):
        session.compare(["a"], fallbacks=True, progress=False)  # type: ignore[call-arg]


def test_compare_measures_every_request_breakers_aside(sim: Simulator, session: nv.Session) -> None:
    """Pinned rows are really sent: a NIM failure streak does not skip later NIM rows."""
    sim.inject("nvidia-nim", "N1", times=3)
    cmp = session.compare(["a", "b", "c", "d"], progress=False, concurrency=1)
    kinds = [r.failure_kind for r in cmp.rows_for("nvidia-nim")]
    assert kinds == ["server_error", None, None, None]
    assert session.breakers["nvidia-nim"].state == "closed"


def test_stats_paired_geometric_ratio_matches_the_summary() -> None:
    """`stats.paired_geometric_ratio` on the per-prompt medians gives the summary's figure."""
    from nvgw_nb import stats

    cmp = _ratios_comparison([0.5, 1.0, 2.0, 4.0, 1.0, 1.5], repeats=2)
    base, other = cmp.paired_latencies("nvidia-nim", "nvidia-gateway")
    pair = cmp.paired_latency("nvidia-nim", "nvidia-gateway")
    ratio, low, high = stats.paired_geometric_ratio(base, other)
    assert ratio == pytest.approx(pair.ratio)
    assert (low, high) == pytest.approx(pair.ci)


def test_html_view_is_a_table_with_the_conclusion(fixed: Comparison) -> None:
    """The notebook's HTML view: a real table (no Markdown escapes on show), the
    conclusion, and kept away from MathJax so `$` stays a dollar."""
    page = fixed._repr_html_()
    assert "<table>" in page
    assert "$3.0000" in page
    assert "\\$" not in page
    assert 'class="tex2jax_ignore mathjax_ignore"' in page
    assert "nvidia-gateway is slower: 2.00× nvidia-nim" in page


def test_side_by_side_keeps_line_breaks_and_marks_changed_words() -> None:
    """Code answers keep their lines and indentation in the diff; only changed words are
    marked."""
    from nvgw_nb.compare import _diff_html

    a, b = _diff_html("def f(x):\n    return x + 1", "def f(x):\n    return x + 2")
    assert a.startswith("def f(x):\n    return x + ")
    assert b.endswith('<span style="background:#d4f4d2">2</span>')
    assert "<span" not in a.replace('<span style="background:#fbd3d0">1</span>', "")
