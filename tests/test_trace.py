"""The attempt trace as people read it: text and HTML, every column, no secret."""

from __future__ import annotations

import nvgw_nb as nv
from nvgw_nb.sim import Simulator


def test_text_trace_has_a_row_per_attempt(sim: Simulator, session: nv.Session) -> None:
    """Summary line, header, rule, then one row per attempt with its facts."""
    sim.inject("nvidia-nim", "R1")
    sim.inject("nvidia-nim", "N1", times=2)
    result = session.chat("hi")
    lines = result.trace().splitlines()
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
    assert len(rows) == len(result.attempts) == 4
    assert "rate_limited" in rows[0]
    assert "429" in rows[0]
    assert "server_error" in rows[1]
    assert result.attempts[-1].correlation_id in rows[3]


def test_html_trace_escapes_and_badges(session: nv.Session) -> None:
    """_repr_html_ shows the answer escaped, a served-by badge and the attempt table."""
    result = session.chat("Explain <script> tags")
    page = result._repr_html_()
    assert "<script>" not in page
    assert "nvidia-nim" in page
    assert "<table" in page
    assert "<details>" in page
