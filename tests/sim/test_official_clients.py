"""The official clients work unchanged against the simulator (faithfulness check).

`openai` against NIM, the gateway and OpenAI; `anthropic` against the Messages API;
`google-genai` against Gemini. They are dev/test dependencies only.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import httpx
import openai
import pydantic
import pytest
from google import genai

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
    """models.list() returns the simulated catalogue: three chat models, one embedding model."""
    ids = [model.id for model in nim.models.list()]
    assert NIM_MODEL in ids
    assert len(ids) == 4
    assert "nvidia/llama-3.2-nv-embedqa-1b-v2" in ids


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


# ------------------------------------------------------------------------ external providers
# The vendors' own SDKs, unchanged, pointed at `url_for(provider)`.


class Ticket(pydantic.BaseModel):
    """A structured answer the SDKs parse for us."""

    title: str
    severity: Literal["low", "high"]
    score: float


@pytest.fixture
def oai(running: Simulator) -> Iterator[openai.OpenAI]:
    """openai.OpenAI pointed at the simulated OpenAI API."""
    env = running.env()
    client = openai.OpenAI(
        base_url=running.url_for("openai"), api_key=env["OPENAI_API_KEY"], max_retries=0
    )
    with client:
        yield client


@pytest.fixture
def claude(running: Simulator) -> Iterator[anthropic.Anthropic]:
    """anthropic.Anthropic pointed at the simulated Messages API."""
    env = running.env()
    client = anthropic.Anthropic(
        base_url=running.url_for("anthropic"), api_key=env["ANTHROPIC_API_KEY"], max_retries=0
    )
    with client:
        yield client


@pytest.fixture
def gemini(running: Simulator) -> Iterator[genai.Client]:
    """google-genai's Client pointed at the simulated Gemini API (its default version, v1)."""
    options = genai.types.HttpOptions(base_url=running.url_for("google-genai"))
    with genai.Client(api_key=running.env()["GOOGLE_API_KEY"], http_options=options) as client:
        yield client


PROMPT = "Explain exponential backoff with jitter"
GEMINI_TOOL = genai.types.Tool(
    function_declarations=[
        genai.types.FunctionDeclaration(
            name="get_weather",
            description="Current weather for a city.",
            parameters=genai.types.Schema(
                type=genai.types.Type.OBJECT,
                properties={"city": genai.types.Schema(type=genai.types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
CLAUDE_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


def test_openai_chat(oai: openai.OpenAI) -> None:
    """Plain chat through openai.OpenAI: dated model, usage."""
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details is not None


def test_openai_stream(oai: openai.OpenAI) -> None:
    """Streaming with include_usage assembles the same text as a plain call."""
    messages: Any = [{"role": "user", "content": PROMPT}]
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = oai.chat.completions.create(model="gpt-4o", messages=messages)
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage is not None


def test_openai_tools(oai: openai.OpenAI) -> None:
    """Tool call, tool result, text answer."""
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Berlin?"}]
    first = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments)["city"] == "Berlin"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 12}'},
    ]
    follow = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    assert "temp_c is 12" in (follow.choices[0].message.content or "")


def test_openai_structured_output_parses(oai: openai.OpenAI) -> None:
    """chat.completions.parse(response_format=Model) gets JSON that fits the model."""
    parsed = oai.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": PROMPT}], response_format=Ticket
    )
    assert isinstance(parsed.choices[0].message.parsed, Ticket)


def test_claude_chat(claude: anthropic.Anthropic) -> None:
    """messages.create: a text block, end_turn, usage."""
    message = claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=512,
        system="Be concise.",
        messages=[{"role": "user", "content": PROMPT}],
    )
    assert message.model == "claude-haiku-4-5-20251001"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert message.usage.input_tokens > 0


def test_claude_stream(claude: anthropic.Anthropic) -> None:
    """messages.stream: the text stream equals the final message's text."""
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=512, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 1


def test_claude_tools(claude: anthropic.Anthropic) -> None:
    """tool_use, tool_result, text; a streamed tool call parses its input_json_delta."""
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Berlin?"}]
    first = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=512, messages=messages, tools=[CLAUDE_TOOL]
    )
    assert first.stop_reason == "tool_use"
    (block,) = first.content
    assert block.type == "tool_use"
    assert block.input["city"] == "Berlin"
    messages += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "12 C"}],
        },
    ]
    follow = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=512, messages=messages, tools=[CLAUDE_TOOL]
    )
    assert follow.content[0].text.startswith("Based on the get_weather result")
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=512, messages=messages[:1], tools=[CLAUDE_TOOL]
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].input == block.input


def test_claude_structured_output_parses(claude: anthropic.Anthropic) -> None:
    """messages.parse(output_format=Model) (output_config.format) gets JSON fitting the model."""
    parsed = claude.messages.parse(
        model="claude-haiku-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": PROMPT}],
        output_format=Ticket,
    )
    assert isinstance(parsed.parsed_output, Ticket)


def test_gemini_chat(gemini: genai.Client) -> None:
    """generate_content: text, STOP, usage metadata."""
    response = gemini.models.generate_content(
        model="gemini-2.0-flash",
        contents=PROMPT,
        config=genai.types.GenerateContentConfig(system_instruction="Be concise."),
    )
    assert response.text
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai.types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert response.usage_metadata.total_token_count
    assert response.model_version == "gemini-2.0-flash"


def test_gemini_stream(gemini: genai.Client) -> None:
    """generate_content_stream (alt=sse) yields the same text as a plain call."""
    chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert len(chunks) > 1
    text = "".join(c.text or "" for c in chunks)
    plain = gemini.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert text == plain.text
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.thoughts_token_count


def test_gemini_tools(gemini: genai.Client) -> None:
    """Function declarations, a functionCall, a function response, a text answer."""
    config = genai.types.GenerateContentConfig(
        tools=[GEMINI_TOOL],
        automatic_function_calling=genai.types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = genai.types.Content(
        role="user", parts=[genai.types.Part(text="What's the weather in Berlin?")]
    )
    first = gemini.models.generate_content(
        model="gemini-2.0-flash", contents=[question], config=config
    )
    assert first.function_calls is not None
    (call,) = first.function_calls
    assert call.name == "get_weather"
    assert call.args == {"city": "Berlin"}
    assert first.candidates is not None
    answer = genai.types.Part.from_function_response(name="get_weather", response={"temp_c": 12})
    follow = gemini.models.generate_content(
        model="gemini-2.0-flash",
        contents=[
            question,
            first.candidates[0].content,
            genai.types.Content(role="user", parts=[answer]),
        ],
        config=config,
    )
    assert "temp_c is 12" in (follow.text or "")


def test_gemini_structured_output_parses(gemini: genai.Client) -> None:
    """response_schema=Model: the SDK parses the JSON into the model."""
    response = gemini.models.generate_content(
        model="gemini-2.5-pro",
        contents=PROMPT,
        config=genai.types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Ticket
        ),
    )
    assert isinstance(response.parsed, Ticket)


def test_gemini_v1beta_too(running: Simulator) -> None:
    """The same client with api_version v1beta (what WIRE.md and nvgw_nb use)."""
    options = genai.types.HttpOptions(
        base_url=running.url_for("google-genai"), api_version="v1beta"
    )
    with genai.Client(api_key=running.env()["GOOGLE_API_KEY"], http_options=options) as client:
        assert client.models.generate_content(model="gemini-2.0-flash", contents="hi").text


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("bad key", openai.AuthenticationError),
        ("R1", openai.RateLimitError),
        ("N1", openai.InternalServerError),
        ("X2", openai.NotFoundError),
        ("X4", openai.APIStatusError),  # 401 or 403 by variant
    ],
)
def test_openai_errors_map_to_sdk_exceptions(
    running: Simulator, oai: openai.OpenAI, setup: str, error: type[Exception]
) -> None:
    """OpenAI's statuses land in the SDK's exception classes."""
    client = oai.with_options(api_key="sk-wrong") if setup == "bad key" else oai
    if setup != "bad key":
        running.inject("openai", setup)
    with pytest.raises(error):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_openai_in_stream_error_is_raised(running: Simulator, oai: openai.OpenAI) -> None:
    """B3's error object inside a 200 stream is raised as an APIError."""
    running.inject("openai", "B3", times=2)
    messages: Any = [{"role": "user", "content": PROMPT}]
    first = list(oai.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    assert all(not c.choices for c in first)  # the first variant: chunks without choices
    stream = oai.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("bad key", anthropic.AuthenticationError),
        ("R1", anthropic.RateLimitError),
        ("N1", anthropic.InternalServerError),  # OverloadedError (529) is a subclass
        ("X2", anthropic.NotFoundError),
        ("X3", anthropic.APIStatusError),  # 400 or 413 by variant
    ],
)
def test_claude_errors_map_to_sdk_exceptions(
    running: Simulator, claude: anthropic.Anthropic, setup: str, error: type[Exception]
) -> None:
    """Anthropic's statuses (529 included) land in the SDK's exception classes."""
    client = claude.with_options(api_key="sk-ant-wrong") if setup == "bad key" else claude
    if setup != "bad key":
        running.inject("anthropic", setup)
    with pytest.raises(error) as caught:
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    if setup == "N1":
        assert caught.value.status_code in (529, 500)
        assert isinstance(caught.value, anthropic.OverloadedError) is (
            caught.value.status_code == 529
        )


def _stream_to_end(client: anthropic.Anthropic) -> anthropic.types.Message:
    messages: Any = [{"role": "user", "content": PROMPT}]
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=256, messages=messages) as s:
        return s.get_final_message()


def test_claude_mid_stream_error_is_raised(running: Simulator, claude: anthropic.Anthropic) -> None:
    """An `event: error` after HTTP 200 (the second B3 variant) is raised by the SDK."""
    running.inject("anthropic", "B3", times=2)
    assert not _stream_to_end(claude).content  # the first variant: a message with no content
    with pytest.raises(anthropic.APIStatusError, match="api_error"):
        _stream_to_end(claude)


@pytest.mark.parametrize(
    ("setup", "error", "code"),
    [
        ("bad key", genai.errors.ClientError, 400),
        ("R1", genai.errors.ClientError, 429),
        ("N1", genai.errors.ServerError, 503),
        ("X2", genai.errors.ClientError, 404),
        ("X4", genai.errors.ClientError, 403),
    ],
)
def test_gemini_errors_map_to_sdk_exceptions(
    running: Simulator, gemini: genai.Client, setup: str, error: type[Exception], code: int
) -> None:
    """Gemini's RPC errors land in google-genai's ClientError / ServerError with the code."""
    client = gemini
    if setup == "bad key":
        options = genai.types.HttpOptions(base_url=running.url_for("google-genai"))
        client = genai.Client(api_key="AIza-wrong", http_options=options)
    else:
        running.inject("google-genai", setup)
    with pytest.raises(error) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert caught.value.code == code
