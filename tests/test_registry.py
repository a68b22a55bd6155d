"""The provider registry: a provider added in its own module shows up everywhere."""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

import nvgw_nb as nv
from nvgw_nb.config import Settings
from nvgw_nb.providers import registry
from nvgw_nb.setup_check import run_check
from nvgw_nb.sim import Simulator
from tests.toy.toy_provider import ToyProvider

matplotlib.use("Agg")


@pytest.fixture
def toy() -> Iterator[type[ToyProvider]]:
    """ToyProvider registered for one test (the one line a new provider adds)."""
    registry.register(ToyProvider)
    try:
        yield ToyProvider
    finally:
        registry.unregister(ToyProvider.name)


def _env(sim: Simulator, **extra: str) -> dict[str, str]:
    """The simulator's variables, the toy pointed at its NIM route with NIM's key."""
    env = sim.env()
    return {
        **env,
        "TOY_API_KEY": env["NVIDIA_NIM_API_KEY"],
        "TOY_BASE_URL": env["NVIDIA_NIM_BASE_URL"],
        "NVGW_PROVIDER_ORDER": "nvidia-nim,toy-llm",
        **extra,
    }


def test_built_in_providers_in_seed_order() -> None:
    """The registry lists the seed's five providers, internal ones first."""
    assert registry.names() == (
        "nvidia-nim",
        "nvidia-gateway",
        "openai",
        "anthropic",
        "google-genai",
    )
    assert registry.internal_names() == ("nvidia-nim", "nvidia-gateway")
    assert registry.external_names() == ("openai", "anthropic", "google-genai")


def test_unknown_provider_is_a_config_error() -> None:
    """Asking for a provider that is not registered names the known ones."""
    with pytest.raises(nv.ConfigError, match="choose from nvidia-nim"):
        registry.provider_class("nvidia-nimm")


def test_register_refuses_duplicates_and_built_ins(toy: type[ToyProvider]) -> None:
    """A name is registered once; built-in providers cannot be removed."""
    with pytest.raises(ValueError, match="already registered"):
        registry.register(toy)
    with pytest.raises(ValueError, match="built in"):
        registry.unregister("nvidia-nim")


def test_toy_provider_in_plan_and_answers(toy: type[ToyProvider], sim: Simulator) -> None:
    """The toy is in the Session's plan with its default model, and answers a call."""
    with nv.Session.from_env(env=_env(sim), env_file=None, simulator=sim) as session:
        plan = session.plan()
        assert [(s.provider, s.model) for s in plan] == [
            ("nvidia-nim", Settings.load(env=sim.env(), env_file=None).nim_model),
            ("toy-llm", "meta/llama-4-scout-17b-16e-instruct"),
        ]
        result = session.chat("hello", providers=["toy-llm"])
    assert result.served_by == "toy-llm"
    assert [a.provider for a in result.attempts] == ["toy-llm"]


def test_toy_provider_without_its_key_names_the_variable(
    toy: type[ToyProvider], sim: Simulator
) -> None:
    """In the order without TOY_API_KEY, the Session refuses to start and says what to set."""
    env = _env(sim)
    del env["TOY_API_KEY"]
    with pytest.raises(nv.MissingCredentials, match="TOY_API_KEY is not set") as caught:
        nv.Session.from_env(env=env, env_file=None)
    assert caught.value.variables == ("TOY_API_KEY",)
    assert "the toy team" in str(caught.value)


def test_toy_provider_in_the_provider_order_panel(toy: type[ToyProvider], sim: Simulator) -> None:
    """The ProviderOrder panel has a row for the toy, in the Session's order."""
    from nvgw_nb.widgets import ProviderOrder

    with nv.Session.from_env(env=_env(sim), env_file=None, simulator=sim) as session:
        panel = ProviderOrder(session)
        assert list(panel.rows)[:2] == ["nvidia-nim", "toy-llm"]
        assert "toy-llm" in panel.rows
        assert panel.rows["toy-llm"].enabled.value


def test_check_probes_the_toy_provider(toy: type[ToyProvider], sim: Simulator) -> None:
    """`nvgw-nb check` reports the toy's key and probes it, like any provider."""
    out = io.StringIO()
    assert run_check(out, env=_env(sim), env_file=None, simulated=True) == 0
    text = out.getvalue()
    assert "[ok]   TOY_API_KEY: is set" in text
    assert "[ok]   toy-llm: meta/llama-4-scout-17b-16e-instruct answered" in text
    assert text.rstrip().endswith("All checks passed.")


def test_check_names_the_toy_key_when_missing(toy: type[ToyProvider], sim: Simulator) -> None:
    """Without TOY_API_KEY, check fails that line with the toy's own hint."""
    env = _env(sim)
    del env["TOY_API_KEY"]
    out = io.StringIO()
    assert run_check(out, env=env, env_file=None, simulated=True) == 1
    text = out.getvalue()
    assert "[FAIL] TOY_API_KEY: is not set" in text
    assert "fix: put TOY_API_KEY=<a key from the toy team> in .env" in text
    assert "[ok]   nvidia-nim:" in text  # the others are still probed


def test_toy_provider_in_a_plot_legend(toy: type[ToyProvider], sim: Simulator) -> None:
    """A plot's legend shows the toy in its own colour."""
    with nv.Session.from_env(env=_env(sim), env_file=None, simulator=sim) as session:
        results = [session.chat("hi", providers=[p]) for p in ("nvidia-nim", "toy-llm")]
    ax = nv.plots.fallbacks(results)
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["nvidia-nim", "toy-llm"]
    toy_patch = legend.legend_handles[labels.index("toy-llm")]
    assert matplotlib.colors.to_hex(toy_patch.get_facecolor()) == "#ff00aa"
    ax.figure.clear()


def test_each_provider_fact_is_written_once() -> None:
    """Each provider's key variables, base-URL variable and colour are written in exactly
    one module of the SDK, its own (the simulator, which shares no code with the SDK on
    purpose, aside)."""
    package = Path(nv.__file__).parent
    sources = {
        path: path.read_text(encoding="utf-8")
        for path in package.rglob("*.py")
        if "sim" not in path.relative_to(package).parts
    }
    for cls in registry.providers():
        own = Path(inspect.getfile(cls))
        for fact in (*cls.key_variables, cls.base_url_variable, cls.color):
            assert fact is not None
            holders = sorted(
                str(p.relative_to(package)) for p, text in sources.items() if fact in text
            )
            assert holders == [str(own.relative_to(package))], f"{cls.name}: {fact!r} in {holders}"
