"""ProviderOrder, RolePicker and ModelPicker drive the Session the next call uses."""

from __future__ import annotations

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import ModelPicker, PanelState, ProviderOrder, RolePicker


def test_up_and_down_reorder_the_session(session: nv.Session) -> None:
    """▲ on the gateway puts it first; ▼ moves it back; the next chat follows."""
    panel = ProviderOrder(session)
    panel.rows["nvidia-gateway"].up.click()
    assert session.provider_order == ("nvidia-gateway", "nvidia-nim")
    assert session.chat("hi").served_by == "nvidia-gateway"
    assert panel.children[1] is panel.rows["nvidia-gateway"]
    assert panel.rows["nvidia-gateway"].up.disabled
    panel.rows["nvidia-gateway"].down.click()
    assert session.provider_order == ("nvidia-nim", "nvidia-gateway")
    assert session.chat("hi").served_by == "nvidia-nim"


def test_unticking_removes_a_provider(session: nv.Session) -> None:
    """Unticking NIM leaves only the gateway in the order; ticking brings it back last."""
    panel = ProviderOrder(session)
    panel.rows["nvidia-nim"].enabled.value = False
    assert session.provider_order == ("nvidia-gateway",)
    assert "off" in panel.rows["nvidia-nim"].status.value
    panel.rows["nvidia-nim"].enabled.value = True
    assert session.provider_order == ("nvidia-nim", "nvidia-gateway")


def test_unticking_everything_shows_why(session: nv.Session) -> None:
    """With no provider ticked the panel says so in red; the Session keeps its order."""
    panel = ProviderOrder(session)
    panel.rows["nvidia-nim"].enabled.value = False
    panel.rows["nvidia-gateway"].enabled.value = False
    assert "no provider is enabled" in panel.message.value
    assert session.provider_order == ("nvidia-gateway",)


def test_external_providers_locked_without_allow_external(session: nv.Session) -> None:
    """openai / anthropic / google-genai are locked with the policy reason."""
    panel = ProviderOrder(session)
    for name in ("openai", "anthropic", "google-genai"):
        row = panel.rows[name]
        assert row.enabled.disabled
        assert not row.enabled.value
        assert "external providers are off: NVGW_ALLOW_EXTERNAL" in row.status.value
        row.enabled.value = True  # a front end cannot do this, but code can: still refused
        assert name not in session.provider_order
    assert not panel.rows["nvidia-nim"].enabled.disabled


def test_external_providers_usable_with_allow_external(sim: Simulator) -> None:
    """With NVGW_ALLOW_EXTERNAL, an external provider can be ticked and moved first."""
    with sim.session(allow_external=True, retry=nv.RetryPolicy.no_wait()) as session:
        panel = ProviderOrder(session)
        assert not panel.rows["openai"].enabled.disabled
        panel.rows["openai"].enabled.value = True
        for _ in range(5):
            panel.rows["openai"].up.click()
        assert session.provider_order[0] == "openai"
        assert session.chat("hi").served_by == "openai"


def test_unconfigured_provider_names_the_variable(sim: Simulator) -> None:
    """A provider without a key shows as unavailable, with the variable to set."""
    env = {k: v for k, v in sim.env().items() if k != "OPENAI_API_KEY"}
    with nv.Session.from_env(env=env, env_file=None, allow_external=True) as session:
        row = ProviderOrder(session).rows["openai"]
        assert row.enabled.disabled
        assert "unavailable" in row.status.value
        assert "OPENAI_API_KEY" in row.status.value


def test_breaker_text_follows_failures(sim: Simulator, session: nv.Session) -> None:
    """After three NIM failures the row says 'cooling down' (on refresh)."""
    panel = ProviderOrder(session)
    assert "breaker closed" in panel.rows["nvidia-nim"].status.value
    sim.inject("nvidia-nim", "N1", times=3)
    assert session.chat("hi").served_by == "nvidia-gateway"
    panel.refresh()
    assert "cooling down" in panel.rows["nvidia-nim"].status.value
    assert "breaker closed" in panel.rows["nvidia-gateway"].status.value


def test_panels_of_one_session_share_the_state(session: nv.Session) -> None:
    """Two panels on one Session show the same order."""
    first, second = ProviderOrder(session), ProviderOrder(session)
    assert first.state is second.state
    first.rows["nvidia-gateway"].up.click()
    assert second.children[1] is second.rows["nvidia-gateway"]


def test_role_picker_lists_roles_with_their_models(session: nv.Session) -> None:
    """Each option shows the role's primary → fallback model; choosing sets the role."""
    picker = RolePicker(session)
    labels = dict((value, label) for label, value in picker.dropdown.options)
    assert set(labels) == {"", "router", "planner", "programmer", "reviewer"}
    assert labels["planner"] == "planner: meta/llama-4-maverick-17b-128e-instruct → gpt-4o"
    assert labels["router"] == "router: meta/llama-4-scout-17b-16e-instruct → gpt-4o-mini"
    picker.dropdown.value = "planner"
    assert session.defaults["role"] == "planner"
    assert "meta/llama-4-maverick-17b-128e-instruct" in picker.plan.value
    assert session.chat("hi").model == "meta/llama-4-maverick-17b-128e-instruct"
    picker.dropdown.value = ""
    assert "role" not in session.defaults


async def test_model_picker_lists_and_accepts_free_text(session: nv.Session) -> None:
    """Choices come from session.models(); a typed model is what the next call asks for."""
    picker = ModelPicker(session)
    await picker.wait()
    assert "meta/llama-3.3-70b-instruct" in picker.boxes["nvidia-nim"].options
    assert picker.boxes["nvidia-gateway"].options == ("gpt-4o", "gpt-4o-mini")
    assert not picker.boxes["nvidia-nim"].ensure_option
    assert picker.boxes["nvidia-nim"].placeholder == "meta/llama-4-scout-17b-16e-instruct"
    PanelState.of(session).role = "planner"
    assert picker.boxes["nvidia-nim"].placeholder == "meta/llama-4-maverick-17b-128e-instruct"
    picker.boxes["nvidia-nim"].value = "meta/llama-3.3-70b-instruct"
    assert session.defaults["models"] == {"nvidia-nim": "meta/llama-3.3-70b-instruct"}
    result = await session.achat("hi")
    assert result.model == "meta/llama-3.3-70b-instruct"
    picker.boxes["nvidia-nim"].value = ""
    assert "models" not in session.defaults


def test_model_picker_without_a_loop_lists_at_once(session: nv.Session) -> None:
    """Built outside an event loop, NIM's models are listed before the panel returns."""
    picker = ModelPicker(session)
    assert "meta/llama-4-scout-17b-16e-instruct" in picker.boxes["nvidia-nim"].options


async def test_failing_model_listing_is_a_short_message(
    session: nv.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing that fails shows one short line, never a traceback; typing still works."""

    def broken(provider: str = "nvidia-nim") -> list[str]:
        raise nv.ProviderAuthError(
            "nvidia-nim answered HTTP 401: check NVIDIA_NIM_API_KEY", provider=provider
        )

    monkeypatch.setattr(session, "models", broken)
    picker = ModelPicker(session)
    await picker.wait()
    note = picker.notes["nvidia-nim"].value
    assert "could not list models" in note
    assert "NVIDIA_NIM_API_KEY" in note
    assert "Traceback" not in note
    picker.boxes["nvidia-nim"].value = "my/own-model"
    assert session.defaults["models"] == {"nvidia-nim": "my/own-model"}


def test_model_picker_clears_a_pasted_key(sim: Simulator, session: nv.Session) -> None:
    """A value shaped like an API key never stays in the widget or the Session."""
    picker = ModelPicker(session)
    pasted = "nvapi-" + "A1b2C3d4E5f6G7h8J9k0" * 2
    picker.boxes["nvidia-nim"].value = pasted
    assert picker.boxes["nvidia-nim"].value == ""
    assert "looks like an API key" in picker.notes["nvidia-nim"].value
    assert pasted not in repr(session.defaults)
    assert pasted not in repr(PanelState.of(session).models)
