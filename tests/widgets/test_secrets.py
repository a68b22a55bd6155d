"""No widget state of any panel ever holds a credential or the Starfleet token."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import ipywidgets

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import (
    CompareBoard,
    ModelPicker,
    PanelState,
    Playground,
    ProviderOrder,
    RolePicker,
    TokenStatus,
)


def walk(widget: ipywidgets.Widget) -> Iterator[ipywidgets.Widget]:
    """`widget` and every widget its synced state refers to (children, tabs, layout, …)."""
    seen: set[int] = set()
    stack = [widget]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for key in current.keys:
            value = getattr(current, key, None)
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, ipywidgets.Widget):
                    stack.append(item)


def dump(state: dict[str, Any]) -> str:
    """A widget's state as text, binary values (PNG bytes) included."""

    def encode(value: object) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("latin-1")
        return repr(value)

    return json.dumps(state, default=encode)


def canaries(sim: Simulator, session: nv.Session) -> list[str]:
    """Every secret the Session holds, and the forms they travel in."""
    env = sim.env()
    secrets = [
        env[name]
        for name in (
            "NVIDIA_NIM_API_KEY",
            "STARFLEET_ID",
            "STARFLEET_SECRET",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GOOGLE_API_KEY",
        )
    ]
    token = session._auths["nvidia-gateway"].cache.usable()  # type: ignore[attr-defined]
    assert token is not None, "the test needs a gateway call to have fetched a token"
    secrets.append(token.get_secret_value())
    basic = f"{env['STARFLEET_ID']}:{env['STARFLEET_SECRET']}".encode()
    secrets.append(base64.b64encode(basic).decode())
    return secrets


async def test_no_panel_state_holds_a_secret(sim: Simulator, session: nv.Session) -> None:
    """After runs that fetch a token, fall back and fail, no widget state has a canary."""
    playground = Playground(session)
    await playground.wait()
    playground.prompt.value = "Summarise this diff"
    sim.inject("nvidia-nim", "X4")  # NIM rejects the key: the error names the variable
    playground.provider_order.rows["nvidia-gateway"].enabled.value = False
    playground.run_button.click()
    await playground.wait()
    assert "NVIDIA_NIM_API_KEY" in playground.output.value
    playground.provider_order.rows["nvidia-gateway"].enabled.value = True
    playground.run_button.click()  # NIM's breaker is open: the gateway fetches a token
    await playground.wait()
    assert playground.results[-1].served_by == "nvidia-gateway"
    board = CompareBoard(session, prompts="one\ntwo")
    board.run_button.click()
    await board.wait()
    assert board.comparison is not None
    picker = ModelPicker(session)
    await picker.wait()
    panels = [
        playground,
        board,
        ProviderOrder(session),
        RolePicker(session),
        picker,
        TokenStatus(session),
    ]
    secrets = canaries(sim, session)
    widgets = [w for panel in panels for w in walk(panel)]
    assert len(widgets) > 50
    assert not [w for w in widgets if isinstance(w, ipywidgets.Password)]
    for widget in widgets:
        text = dump(widget.get_state())
        for secret in secrets:
            assert secret not in text, f"{type(widget).__name__} holds a secret"
    state = PanelState.of(session)
    for secret in secrets:
        assert secret not in repr(state.trait_values())
        assert secret not in repr(session.defaults)
