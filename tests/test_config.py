"""Settings: the seed's names, precedence, and bad values named without their value."""

from __future__ import annotations

from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.config import Settings

SEED_DEFAULTS = {
    "nvidia_nim_base_url": "https://integrate.api.nvidia.com/v1",
    "nvidia_llm_gateway_enabled": True,
    "llm_gateway_base_url": "https://prod.api.nvidia.com/llm/v1/azure",
    "llm_gateway_api_version": "2024-12-01-preview",
    "llm_gateway_model": "gpt-4o-mini",
}


def test_seed_defaults() -> None:
    """With nothing set, the defaults are the seed's."""
    settings = Settings.load(env={}, env_file=None)
    for name, value in SEED_DEFAULTS.items():
        assert getattr(settings, name) == value
    assert settings.starfleet_token_url.endswith(".ssa.nvidia.com/token")
    assert settings.default_order == ("nvidia-nim", "nvidia-gateway")


def test_arguments_beat_environment_beat_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Precedence: argument > environment > .env."""
    (tmp_path / ".env").write_text(
        "LLM_GATEWAY_MODEL=from-dotenv\nLLM_GATEWAY_API_VERSION=2024-10-21\nNVGW_MAX_RETRIES=5\n"
    )
    monkeypatch.setenv("LLM_GATEWAY_MODEL", "from-env")
    monkeypatch.setenv("NVGW_MAX_RETRIES", "4")
    settings = Settings.load(env_file=tmp_path / ".env", max_retries=1)
    assert settings.llm_gateway_model == "from-env"
    assert settings.llm_gateway_api_version == "2024-10-21"
    assert settings.max_retries == 1


def test_explicit_env_mapping_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With env={...} (the simulator's), real variables in os.environ are not mixed in."""
    monkeypatch.setenv("NVIDIA_NIM_API_KEY", "real-key-from-the-shell")
    settings = Settings.load(env={"LLM_GATEWAY_MODEL": "gpt-4o"}, env_file=None)
    assert settings.nvidia_nim_api_key is None


def test_provider_order_from_a_comma_list() -> None:
    """NVGW_PROVIDER_ORDER is a comma-separated list."""
    settings = Settings.load(
        env={"NVGW_PROVIDER_ORDER": "nvidia-gateway, nvidia-nim"}, env_file=None
    )
    assert settings.provider_order == ("nvidia-gateway", "nvidia-nim")


def test_gateway_disabled_means_nim_alone() -> None:
    """NVIDIA_LLM_GATEWAY_ENABLED=false leaves NIM as the only provider."""
    settings = Settings.load(env={"NVIDIA_LLM_GATEWAY_ENABLED": "false"}, env_file=None)
    assert settings.default_order == ("nvidia-nim",)


BAD = [
    ("NVIDIA_NIM_API_KEY", " nvapi-with-space", "whitespace"),
    ("NVIDIA_NIM_API_KEY", '"quoted-key"', "quotes"),
    ("STARFLEET_SECRET", "abc def", "whitespace"),
    ("STARFLEET_TOKEN_URL", "http://starfleet.example.com/token", "https://"),
    ("STARFLEET_TOKEN_URL", "https://user:pw@starfleet.example.com/token", "user:password"),
    ("STARFLEET_TOKEN_URL", "starfleet/token", "absolute"),
    ("NVIDIA_NIM_BASE_URL", "https://integrate.api.nvidia.com/v1/chat/completions", "base URL"),
    ("LLM_GATEWAY_BASE_URL", "https://prod.api.nvidia.com/llm?key=1", "query"),
    ("LLM_GATEWAY_API_VERSION", "  ", "blank"),
    ("LLM_GATEWAY_MODEL", "sk-" + "0123456789" * 2, "API key"),  # built: no key-shaped literal
    ("NVGW_PROVIDER_ORDER", "nvidia-nim,nim", "unknown provider"),
    ("NVGW_PROVIDER_ORDER", "nvidia-nim,nvidia-nim", "more than once"),
    ("NVGW_PROVIDER_ORDER", ",", "empty"),
    ("NVGW_MAX_RETRIES", "-1", "greater than or equal"),
    ("NVGW_ATTEMPT_DEADLINE", "0", "greater than"),
    ("NVIDIA_LLM_GATEWAY_ENABLED", "perhaps", "bool"),
]


@pytest.mark.parametrize(("variable", "value", "says"), BAD, ids=[f"{v}={x!r}" for v, x, _ in BAD])
def test_bad_values_name_the_variable_not_the_value(variable: str, value: str, says: str) -> None:
    """Each bad value raises ConfigError naming the variable and never echoing the value."""
    with pytest.raises(nv.ConfigError) as info:
        Settings.load(env={variable: value}, env_file=None)
    message = str(info.value)
    assert variable in message
    assert says.lower() in message.lower()
    if len(value.strip()) > 3:  # short values (",", "0") occur in any sentence
        assert value.strip() not in message


def test_loopback_http_is_allowed_for_the_simulator() -> None:
    """Plain http is fine on 127.0.0.1 / localhost / ::1."""
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token"):
        assert Settings.load(env={"STARFLEET_TOKEN_URL": url}, env_file=None)


def test_secrets_are_secret_str_and_masked() -> None:
    """Secrets are SecretStr; the client id is shown masked."""
    settings = Settings.load(
        env={
            "NVIDIA_NIM_API_KEY": "canary-nim-key-123",
            "STARFLEET_ID": "canary-client-id",
            "STARFLEET_SECRET": "canary-secret-456",
        },
        env_file=None,
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "canary-nim-key-123" not in text
        assert "canary-secret-456" not in text
        assert "canary-client-id" not in text


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "NVIDIA_NIM_API_KEY is not set"),
        ({"NVIDIA_NIM_API_KEY": "k"}, "STARFLEET_ID and STARFLEET_SECRET are not set"),
        ({"NVIDIA_NIM_API_KEY": "k", "STARFLEET_ID": "i"}, "STARFLEET_SECRET is not set"),
        ({"NVIDIA_NIM_API_KEY": ""}, "NVIDIA_NIM_API_KEY is not set"),
    ],
)
def test_missing_credentials_are_named(env: dict[str, str], says: str) -> None:
    """A Session names the missing variable (an empty value counts as missing)."""
    with pytest.raises(nv.ConfigError, match=says):
        nv.Session.from_env(env=env, env_file=None)


def test_external_provider_is_refused_by_policy() -> None:
    """An external provider in the order is a PolicyError before any request."""
    env = {"NVIDIA_NIM_API_KEY": "k", "NVGW_PROVIDER_ORDER": "nvidia-nim,openai"}
    with pytest.raises(nv.PolicyError, match="NVGW_ALLOW_EXTERNAL"):
        nv.Session.from_env(env=env, env_file=None)


def test_nim_alone_needs_no_starfleet() -> None:
    """With the gateway disabled, a Session needs only the NIM key."""
    env = {"NVIDIA_NIM_API_KEY": "k", "NVIDIA_LLM_GATEWAY_ENABLED": "false"}
    with nv.Session.from_env(env=env, env_file=None) as session:
        assert session.provider_order == ("nvidia-nim",)


# --- variables without a field of their own (providers added from outside) -----------------
def test_variable_reads_the_given_env_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an explicit env mapping, `variable` reads that mapping and nothing else."""
    monkeypatch.setenv("TOY_FROM_OS", "os")
    s = Settings.load(env={"toy_base_url": "http://127.0.0.1:1/v1"}, env_file=None)
    assert s.variable("TOY_BASE_URL") == "http://127.0.0.1:1/v1"
    assert s.variable("TOY_FROM_OS") is None


def test_variable_reads_environment_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without an env mapping, `variable` reads os.environ first, then the .env file."""
    (tmp_path / ".env").write_text("TOY_A=from-file\nTOY_B=from-file\n", encoding="utf-8")
    monkeypatch.setenv("TOY_A", "from-env")
    s = Settings.load(env_file=tmp_path / ".env")
    assert s.variable("TOY_A") == "from-env"
    assert s.variable("toy_b") == "from-file"
    assert s.variable("TOY_C") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (" padded ", "whitespace"),
        ("'quoted'", "quotes"),
        ("toy-YOUR_KEY_HERE", "placeholder"),
    ],
)
def test_secret_of_an_unknown_variable_is_cleaned_like_any(value: str, problem: str) -> None:
    """`secret` applies every secret's checks and names the variable, never the value."""
    s = Settings.load(env={"TOY_API_KEY": value}, env_file=None)
    with pytest.raises(nv.ConfigError, match=f"TOY_API_KEY .*{problem}") as caught:
        s.secret("TOY_API_KEY")
    assert value.strip(" '") not in str(caught.value)


def test_secret_and_url_of_fields_and_other_variables() -> None:
    """A field's variable comes from the field; any other is read and checked."""
    s = Settings.load(
        env={"NVGW_TOY_KEY": "k1", "TOY_BASE_URL": "https://toy.example/v1/"}, env_file=None
    )
    assert s.secret("NVGW_TOY_KEY") is not None
    assert s.secret("NVGW_TOY_MISSING") is None
    assert s.url("TOY_BASE_URL", "https://default.example") == "https://toy.example/v1"
    assert s.url("TOY_OTHER_URL", "https://default.example") == "https://default.example"
    bad = Settings.load(env={"TOY_BASE_URL": "http://toy.example"}, env_file=None)
    with pytest.raises(nv.ConfigError, match="TOY_BASE_URL must use https"):
        bad.url("TOY_BASE_URL", "https://default.example")
