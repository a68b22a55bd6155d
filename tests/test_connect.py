"""nv.connect(): the simulator with a banner when there are no credentials; inside Jupyter too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

import nvgw_nb as nv


def test_connect_without_credentials_uses_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    """No NVIDIA_NIM_API_KEY anywhere: a simulated Session and a visible banner."""
    with nv.connect(time_scale=0) as session:
        assert session.simulated
        result = session.chat("hello")
        assert result.simulated
        simulator = session.simulator
    assert "SIMULATOR" in capsys.readouterr().err
    assert simulator is not None
    with pytest.raises(RuntimeError):
        simulator.url  # noqa: B018 - closing the Session stopped its simulator


def test_connect_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """quiet=True hides the banner."""
    with nv.connect(time_scale=0, quiet=True):
        pass
    assert capsys.readouterr().err == ""


def test_connect_with_credentials_uses_real_endpoints(tmp_path: Path) -> None:
    """Credentials in .env: a real-endpoint Session (built without any request)."""
    (tmp_path / ".env").write_text(
        "NVIDIA_NIM_API_KEY=placeholder-key\nNVIDIA_LLM_GATEWAY_ENABLED=false\n"
    )
    with nv.connect() as session:
        assert not session.simulated
        assert session.settings.nvidia_nim_base_url == "https://integrate.api.nvidia.com/v1"
        assert session.provider_order == ("nvidia-nim",)


def test_sync_chat_in_a_real_jupyter_kernel() -> None:
    """In an IPython kernel (whose event loop is running) a sync chat just works."""
    manager, client = start_new_kernel(
        kernel_name="python3", extra_arguments=["--HistoryManager.enabled=False"]
    )
    try:
        code = (
            "import asyncio, nvgw_nb as nv\n"
            "session = nv.connect(time_scale=0)\n"
            "loop_running = asyncio.get_event_loop().is_running()\n"
            "r = session.chat('hello from a cell', role='router')\n"
            "r2 = await session.achat('and awaited', role='router')\n"
            "print(loop_running, r.served_by, r2.served_by)\n"
            "session.close()\n"
        )
        reply = client.execute_interactive(code, timeout=60, output_hook=_collect)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert "True nvidia-nim nvidia-nim" in "".join(_OUTPUT)
    assert any("simulator" in text for text in _DISPLAYED), "the banner is displayed as HTML"


_OUTPUT: list[str] = []
_DISPLAYED: list[str] = []


def _collect(message: dict[str, Any]) -> None:
    content = message["content"]
    if message["msg_type"] == "stream":
        _OUTPUT.append(content["text"])
    elif message["msg_type"] == "display_data":
        _DISPLAYED.append(content["data"].get("text/html", ""))
    elif message["msg_type"] == "error":
        _OUTPUT.append("\n".join(content["traceback"]))


def test_connect_without_an_env_file_says_none_was_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """env_file=None: a .env beside it is ignored, and the banner says no .env was read."""
    (tmp_path / ".env").write_text("NVIDIA_NIM_API_KEY=placeholder-key\n")
    with nv.connect(env_file=None, time_scale=0) as session:
        assert session.simulated
    assert "env_file=None: no .env read" in capsys.readouterr().err


def test_simulator_banner_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No .env found: the banner names the directories searched, up to the repository root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    with nv.connect(time_scale=0):
        pass
    err = capsys.readouterr().err
    assert f"no .env in {tmp_path / 'notebooks'} or its parents up to {tmp_path}" in err


def test_simulator_true_ignores_real_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """simulator=True: credentials in the environment and .env change nothing (the notebooks'
    stored outputs stay simulated on a developer's machine), and the banner says why."""
    (tmp_path / ".env").write_text("STARFLEET_ID=placeholder-id\nSTARFLEET_SECRET=placeholder-s\n")
    monkeypatch.setenv("NVIDIA_NIM_API_KEY", "placeholder-key")
    with nv.connect(simulator=True, time_scale=0) as session:
        assert session.simulated
        assert session.chat("hello").simulated
    err = capsys.readouterr().err
    assert "simulator=True" in err
    assert "placeholder" not in err


def test_simulator_false_insists_on_real_endpoints() -> None:
    """simulator=False with no credentials: an error naming them, not a quiet simulator."""
    with pytest.raises(nv.MissingCredentials, match="NVIDIA_NIM_API_KEY"):
        nv.connect(simulator=False)
