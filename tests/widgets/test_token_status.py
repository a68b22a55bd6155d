"""TokenStatus: held or not, time to refresh, last error — never the token."""

from __future__ import annotations

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import TokenStatus


def test_shows_no_token_then_a_held_one(session: nv.Session) -> None:
    """Before a gateway call: none held; after one and refresh(): held, refresh time."""
    panel = TokenStatus(session)
    assert "No Starfleet token held yet" in panel.status.value
    session.chat("hi", providers=["nvidia-gateway"])
    panel.refresh_button.click()
    assert "Starfleet token held" in panel.status.value
    assert "refresh in 1" in panel.status.value  # ~14 min of a 15 min token
    assert "fetched 1×" in panel.status.value
    token = session._auths["nvidia-gateway"].cache.usable()  # type: ignore[attr-defined]
    assert token.get_secret_value() not in panel.status.value


def test_shows_the_last_refresh_error(sim: Simulator, session: nv.Session) -> None:
    """A rejected token request shows its (secret-free) reason in red."""
    panel = TokenStatus(session)
    sim.inject("starfleet", "T4")
    with pytest.raises(nv.AuthError):
        session.chat("hi", providers=["nvidia-gateway"])
    panel.refresh()
    assert "Last refresh failed: Starfleet rejected the client credentials" in panel.status.value
    assert "check STARFLEET_ID and STARFLEET_SECRET" in panel.status.value
    assert "color:#c62828" in panel.status.value
    assert sim.env()["STARFLEET_SECRET"] not in panel.status.value


def test_without_a_gateway(sim: Simulator) -> None:
    """A NIM-only Session says there is no token to hold."""
    with sim.session(nvidia_llm_gateway_enabled=False) as session:
        assert "not configured" in TokenStatus(session).status.value
