"""PanelState: read from a Session, written back into it, shared by a Session's panels."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nvgw_nb as nv
from nvgw_nb.widgets import PanelState, Playground, ProviderOrder
from nvgw_nb.widgets.state import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE


def test_state_imports_without_ipywidgets() -> None:
    """`nvgw_nb.widgets.state` (and `PanelState` from the package) load no ipywidgets."""
    code = (
        "import sys\n"
        "from nvgw_nb.widgets import PanelState\n"
        "import nvgw_nb.widgets.state\n"
        "print('ipywidgets' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_from_session_reads_order_and_defaults(session: nv.Session) -> None:
    """from_session mirrors provider_order (enabled, first) and the call defaults."""
    session.defaults.update(role="reviewer", temperature=0.3, system="Be brief.")
    state = PanelState.from_session(session)
    assert state.active_order() == ["nvidia-nim", "nvidia-gateway"]
    assert state.order[:2] == ["nvidia-nim", "nvidia-gateway"]
    assert set(state.order) == {
        "nvidia-nim",
        "nvidia-gateway",
        "openai",
        "anthropic",
        "google-genai",
    }
    assert (state.role, state.temperature, state.system) == ("reviewer", 0.3, "Be brief.")
    assert state.max_tokens is None  # the Session sets none: not sent


def test_apply_writes_order_and_defaults(session: nv.Session) -> None:
    """apply() sets provider_order to the enabled providers and fills session.defaults."""
    state = PanelState.from_session(session)
    state.move("nvidia-gateway", -1)
    state.set_enabled("nvidia-nim", False)
    state.role = "planner"
    state.set_model("nvidia-gateway", "gpt-4o-mini")
    state.system = "You are terse."
    state.temperature = DEFAULT_TEMPERATURE
    state.max_tokens = 200
    session.defaults["providers"] = ["nvidia-nim"]  # would override the order shown
    state.apply(session)
    assert session.provider_order == ("nvidia-gateway",)
    assert session.defaults == {
        "role": "planner",
        "models": {"nvidia-gateway": "gpt-4o-mini"},
        "temperature": DEFAULT_TEMPERATURE,
        "max_tokens": 200,
        "system": "You are terse.",
    }
    result = session.chat("hi")
    assert result.served_by == "nvidia-gateway"
    assert result.model.startswith("gpt-4o-mini")


def test_apply_refuses_an_empty_order(session: nv.Session) -> None:
    """With no provider enabled, apply raises ConfigError and changes nothing."""
    state = PanelState.from_session(session)
    state.enabled = []
    with pytest.raises(nv.ConfigError, match="no provider is enabled"):
        state.apply(session)
    assert session.provider_order == ("nvidia-nim", "nvidia-gateway")
    assert session.defaults == {}


def test_shared_state_applies_on_every_change(session: nv.Session) -> None:
    """PanelState.of(session) writes each change into the Session; errors go to .error."""
    state = PanelState.of(session)
    assert PanelState.of(session) is state
    state.role = "router"
    assert session.defaults["role"] == "router"
    state.temperature = 1.5
    assert session.defaults["temperature"] == 1.5
    state.enabled = []
    assert "no provider is enabled" in state.error
    assert session.provider_order == ("nvidia-nim", "nvidia-gateway")  # last good order
    state.enabled = ["nvidia-gateway"]
    assert state.error == ""
    assert session.provider_order == ("nvidia-gateway",)


def test_shared_state_reloads_after_code_changes_the_session(session: nv.Session) -> None:
    """A Session changed by code since the state last wrote it is read back on of()."""
    state = PanelState.of(session)
    session.provider_order = ["nvidia-gateway", "nvidia-nim"]
    session.defaults["role"] = "programmer"
    assert PanelState.of(session) is state
    assert state.active_order() == ["nvidia-gateway", "nvidia-nim"]
    assert state.role == "programmer"


def test_only_a_panel_that_shows_them_sends_temperature_and_max_tokens(
    session: nv.Session,
) -> None:
    """A ProviderOrder alone adds no generation settings; a Playground shows and sends them."""
    ProviderOrder(session)
    assert "temperature" not in session.defaults
    assert "max_tokens" not in session.defaults
    panel = Playground(session)
    assert panel.temperature.value == DEFAULT_TEMPERATURE
    assert session.defaults["temperature"] == DEFAULT_TEMPERATURE
    assert session.defaults["max_tokens"] == DEFAULT_MAX_TOKENS
