"""The attempt trace as people read it: text and HTML, every column, no secret."""

from __future__ import annotations

import inspect

import pytest

import nvgw_nb as nv
from nvgw_nb.results import ChatResult
from nvgw_nb.sim import Simulator
from nvgw_nb.trace import TEXT_WIDTH, attempts_text, result_text

#: an error message as long as a real provider's can be (a 503 page's text, say)
LONG_ERROR = "nvidia-nim answered HTTP 503: " + "upstream worker pool exhausted, " * 20


@pytest.fixture
def fallback(sim: Simulator, session: nv.Session) -> ChatResult:
    """A fallback: a 429 and two 503s on NIM (long error messages), then the gateway."""
    sim.inject("nvidia-nim", "R1")
    sim.inject("nvidia-nim", "N1", times=2)
    result = session.chat("hi")
    attempts = [
        a.model_copy(update={"error": LONG_ERROR}) if a.outcome == "error" else a
        for a in result.attempts
    ]
    return result.model_copy(update={"attempts": attempts})


def test_text_trace_has_a_row_per_attempt(fallback: ChatResult) -> None:
    """width=None: summary line, header, rule, then one row per attempt with its facts."""
    lines = result_text(fallback, width=None).splitlines()
    assert lines[0].startswith("served by nvidia-gateway")
    assert "fell back: yes" in lines[0]
    assert "SIMULATED" in lines[0]
    header = lines[1]
    for column in (
        "provider",
        "model",
        "status",
        "failure",
        "waited s",
        "latency s",
        "tokens",
        "cost $",
    ):
        assert column in header
    rows = lines[3:]
    assert len(rows) == len(fallback.attempts) == 4
    assert "rate_limited" in rows[0]
    assert "429" in rows[0]
    assert "server_error" in rows[1]
    assert fallback.attempts[-1].correlation_id in rows[3]


@pytest.mark.parametrize("width", [TEXT_WIDTH, 80, 60, 40])
def test_every_line_fits_the_width(fallback: ChatResult, width: int) -> None:
    """A trace wider than `width` is laid out so that no line is longer than it."""
    text = result_text(fallback, width=width)
    assert max(len(line) for line in text.splitlines()) <= width, text


def test_print_trace_fits_a_notebook_cell(fallback: ChatResult) -> None:
    """`print(r.trace())` stays within TEXT_WIDTH (100) columns: a cell does not wrap it."""
    assert fallback.trace() == result_text(fallback, width=TEXT_WIDTH)
    assert max(len(line) for line in fallback.trace().splitlines()) <= TEXT_WIDTH


def test_compact_trace_is_one_block_per_attempt(fallback: ChatResult) -> None:
    """Each attempt starts a numbered block naming provider, model and try, then its
    outcome, status and failure kind, its error message and its ids."""
    text = fallback.trace()
    lines = text.splitlines()
    heads = [line for line in lines if line[:1].isdigit()]
    assert heads == [
        f"{n}. {a.provider}  {a.model}  try {a.attempt}" for n, a in enumerate(fallback.attempts, 1)
    ]
    assert lines[3].startswith("   error 429 rate_limited · latency ")
    assert sum(line.startswith("   error 503 server_error") for line in lines) == 2
    assert "   ok 200 · latency" in text
    assert "   nvidia-nim answered HTTP 503: upstream worker pool exhausted" in text
    gateway = fallback.attempts[-1]
    assert f"   ids {gateway.correlation_id} / {gateway.request_id}" in lines


def test_a_long_error_is_cut_after_three_lines(fallback: ChatResult) -> None:
    """An error message longer than three lines ends its third line with "…"."""
    block = fallback.trace().split("\n2. ")[0]
    error = [line for line in block.splitlines() if "upstream worker pool" in line]
    assert len(error) == 3
    assert error[-1].endswith("…")


def test_summary_wraps_between_its_parts(fallback: ChatResult) -> None:
    """A summary line wider than the trace breaks after a ";", never inside a fact."""
    lines = result_text(fallback, width=60).splitlines()
    first, second = lines[0], lines[1]
    assert first.startswith("served by nvidia-gateway")
    assert first.endswith(";")
    assert second.startswith("  ")
    summary = " ".join(line.strip() for line in lines[:3])
    assert "est. cost $" in summary


def test_a_table_that_fits_stays_a_table(fallback: ChatResult) -> None:
    """Given room for the full table, `attempts_text` keeps its columns."""
    wide = attempts_text(fallback.attempts)
    assert attempts_text(fallback.attempts, width=len(wide)) == wide
    assert wide.splitlines()[0].startswith("provider")


def test_html_trace_escapes_and_badges(session: nv.Session) -> None:
    """_repr_html_ shows the answer escaped, a served-by badge and the attempt table."""
    result = session.chat("Explain <script> tags")
    page = result._repr_html_()
    assert "<script>" not in page
    assert "nvidia-nim" in page
    assert "<table" in page
    assert "<details>" in page


def test_chat_result_trace_passes_its_width_on(session: nv.Session) -> None:
    """r.trace() fits 100 columns by default; width=None is the full table, one line each."""
    session.simulator.inject("nvidia-nim", "N1")  # type: ignore[union-attr]
    result = session.chat("hello", providers=["nvidia-nim", "nvidia-gateway"])
    assert all(len(line) <= 100 for line in result.trace().splitlines())
    assert max(len(line) for line in result.trace(width=None).splitlines()) > 100
    assert inspect.signature(ChatResult.trace).parameters["width"].default == TEXT_WIDTH
