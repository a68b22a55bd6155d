"""The official `openai` client works unchanged against the simulator (faithfulness check)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest

from nvgw_nb.sim import Simulator

from .conftest import NIM_MODEL, WEATHER_TOOL


@pytest.fixture(scope="module")
def running() -> Iterator[Simulator]:
    """A healthy simulator for the whole module."""
    with Simulator(seed=21, time_scale=0) as sim:
        yield sim


@pytest.fixture
def nim(running: Simulator) -> Iterator[openai.OpenAI]:
    """openai.OpenAI pointed at the simulated NIM."""
    env = running.env()
    client = openai.OpenAI(
        base_url=env["NVIDIA_NIM_BASE_URL"], api_key=env["NVIDIA_NIM_API_KEY"], max_retries=0
    )
    with client:
        yield client


def fetch_token(env: dict[str, str]) -> str:
    """A Starfleet token fetched by hand (RFC 6749 client credentials)."""
    auth = httpx.BasicAuth(
        urllib.parse.quote_plus(env["STARFLEET_ID"]),
        urllib.parse.quote_plus(env["STARFLEET_SECRET"]),
    )
    response = httpx.post(
        env["STARFLEET_TOKEN_URL"],
        auth=auth,
        data={"grant_type": "client_credentials", "scope": "azureopenai-readwrite"},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture
def azure(running: Simulator) -> Iterator[openai.AzureOpenAI]:
    """openai.AzureOpenAI pointed at the simulated gateway with a Starfleet token."""
    env = running.env()
    client = openai.AzureOpenAI(
        azure_endpoint=env["LLM_GATEWAY_BASE_URL"],
        api_version=env["LLM_GATEWAY_API_VERSION"],
        azure_ad_token=fetch_token(env),
        default_headers={"correlationId": str(uuid.uuid4())},
        max_retries=0,
    )
    with client:
        yield client


MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are concise."},
    {"role": "user", "content": "Explain exponential backoff with jitter"},
]


def test_nim_chat(nim: openai.OpenAI) -> None:
    """Plain chat through openai.OpenAI."""
    completion = nim.chat.completions.create(model=NIM_MODEL, messages=MESSAGES)
    assert completion.model == NIM_MODEL
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_nim_tools(nim: openai.OpenAI) -> None:
    """Tool calls parse into the SDK's types and the follow-up answers in text."""
    messages = [{"role": "user", "content": "What's the weather in Berlin?"}]
    first = nim.chat.completions.create(
        model=NIM_MODEL,
        messages=messages,
        tools=[WEATHER_TOOL],
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Berlin"
    follow = nim.chat.completions.create(
        model=NIM_MODEL,
        messages=[
            *messages,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 12}'},
        ],
        tools=[WEATHER_TOOL],
    )
    assert "temp_c is 12" in (follow.choices[0].message.content or "")


def test_nim_streaming_with_usage(nim: openai.OpenAI) -> None:
    """Streaming with include_usage yields text chunks and a final usage chunk."""
    stream = nim.chat.completions.create(
        model=NIM_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    plain = nim.chat.completions.create(model=NIM_MODEL, messages=MESSAGES)
    assert text == plain.choices[0].message.content
    assert usage is not None
    assert usage.completion_tokens > 0


def test_nim_models_list(nim: openai.OpenAI) -> None:
    """models.list() returns the simulated catalogue."""
    ids = [model.id for model in nim.models.list()]
    assert NIM_MODEL in ids
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("bad key", openai.AuthenticationError),
        ("unknown model", openai.NotFoundError),
        ("R1", openai.RateLimitError),
        ("N1", openai.InternalServerError),
        ("X1", openai.BadRequestError),
    ],
)
def test_nim_errors_map_to_sdk_exceptions(
    running: Simulator, nim: openai.OpenAI, setup: str, error: type[Exception]
) -> None:
    """Error statuses land in the SDK's exception classes."""
    client, model = nim, NIM_MODEL
    if setup == "bad key":
        client = nim.with_options(api_key="nvapi-not-the-key")
    elif setup == "unknown model":
        model = "meta/not-a-model"
    else:
        running.inject("nvidia-nim", setup)
    with pytest.raises(error):
        client.chat.completions.create(model=model, messages=MESSAGES)


def test_azure_chat(azure: openai.AzureOpenAI) -> None:
    """openai.AzureOpenAI with azure_ad_token and a correlationId header."""
    completion = azure.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.model == "gpt-4o-2024-11-20"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"


def test_azure_streaming(azure: openai.AzureOpenAI) -> None:
    """Azure streaming: the prompt-filter event is tolerated and the text assembles."""
    stream = azure.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None


def test_azure_expired_token_is_an_auth_error(
    running: Simulator, azure: openai.AzureOpenAI
) -> None:
    """After revoke_tokens() the official client raises AuthenticationError."""
    running.revoke_tokens()
    with pytest.raises(openai.AuthenticationError):
        azure.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
