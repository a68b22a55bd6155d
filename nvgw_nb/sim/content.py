"""Deterministic answer text, tool-call arguments and JSON documents for the simulator.

Everything is derived from a sha256 of its inputs (never `hash()`), so the same seed,
provider, model and messages give byte-identical output in every process.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nvgw_nb.sim.voices import VOICES, voice_for

__all__ = [
    "Answer",
    "SimToolCall",
    "Topic",
    "compose_answer",
    "count_tokens",
    "derive_rng",
    "last_user_text",
    "plain_answer",
    "prompt_tokens",
    "resolve_ref",
    "split_pieces",
    "text_of",
    "tool_call_id",
    "tool_names",
    "topic_of",
    "truncate_to_tokens",
    "value_from_schema",
    "voice_for",
]

JSON = Any


@dataclass(frozen=True)
class SimToolCall:
    """One tool call the simulated model makes; `arguments` is the JSON string sent on the wire.

    Not the SDK's `nvgw_nb.results.ToolCall` (what a caller gets back).
    """

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Answer:
    """What the simulated model says: text or tool calls, and why it stopped."""

    content: str | None
    tool_calls: tuple[SimToolCall, ...] = ()
    finish_reason: str = "stop"


def derive_rng(*parts: object) -> random.Random:
    """A `random.Random` seeded from a sha256 of `parts` (JSON-encoded, keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(blob.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def count_tokens(text: str) -> int:
    """The simulator's token estimate: ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def text_of(content: object) -> str:
    """The text of a message `content`: a string, None, or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        ]
        return " ".join(texts)
    return ""


def prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """ceil(chars / 4) of every message's content plus 4 per message."""
    return sum(count_tokens(text_of(m.get("content"))) + 4 for m in messages)


_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just let me more most my myself no nor not now of off on once only or other our ours
    out over own please same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself give tell show explain write
    make need want using use like get one two three short brief briefly sentence sentences
    describe summarise summarize list
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Imperative verbs that open prompts: not topics.
_VERB_TEXT = """compare create build implement fix review refactor plan design generate find
    check add remove update suggest help provide outline draft propose analyze analyse debug
    translate convert rewrite improve optimize optimise what's how's whats hows ensure consider"""
_VERBS = frozenset(_VERB_TEXT.split())
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_'+#.-]*|[^\sA-Za-z0-9]")


@dataclass(frozen=True)
class Topic:
    """What a prompt is about: key phrases (runs of content words) and proper nouns."""

    phrases: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def words(self) -> list[str]:
        """Every distinct word of the phrases."""
        out: list[str] = []
        for phrase in self.phrases:
            out += [w for w in phrase.split() if w not in out]
        return out


def _is_content_word(word: str) -> bool:
    low = word.lower()
    return (len(word) >= 3 or word.isupper()) and low not in _STOPWORDS and low not in _VERBS


def topic_of(text: str, limit: int = 6) -> Topic:
    """Key phrases (at most 4 words each) and proper nouns of `text`, in order."""
    phrases: list[str] = []
    names: list[str] = []
    run: list[str] = []
    sentence_start = True

    def close() -> None:
        for i in range(0, len(run), 4):
            phrase = " ".join(run[i : i + 4])
            if phrase.lower() not in (p.lower() for p in phrases):
                phrases.append(phrase)
        run.clear()

    for piece in _TOKEN_RE.findall(text):
        word = piece.strip("'.-")
        if not word or not word[0].isalnum():
            close()
            sentence_start = sentence_start or piece in ".!?"
            continue
        titled = word[0].isupper() and word[1:].islower()
        if titled and not sentence_start and word not in names:
            names.append(word)
        if titled and sentence_start:
            word = word.lower()  # "Python ..." at a sentence start is not a proper noun
        sentence_start = piece.endswith((".", "!", "?"))
        if _is_content_word(word):
            run.append(word)
        else:
            close()
        if sentence_start:
            close()
    close()
    return Topic(tuple(phrases[:limit]), tuple(names))


def _sentences(rng: random.Random, voice: str, topic_: Topic, count: int) -> list[str]:
    spec = VOICES[voice]
    fillers = list(spec["fillers"])
    topic = list(topic_.phrases) or ["this topic"]
    templates = rng.sample(spec["sentences"], k=min(count, len(spec["sentences"])))
    out: list[str] = []
    for i, template in enumerate(templates):
        a = topic[i % len(topic)]
        others = [w for w in topic if w != a] + rng.sample(fillers, k=len(fillers))
        b, c = others[0], others[1]
        out.append(template.format(a=a, b=b, c=c, A=a[:1].upper() + a[1:]))
    return out


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message (empty if none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def plain_answer(rng: random.Random, voice: str, messages: Sequence[Mapping[str, Any]]) -> str:
    topic = topic_of(last_user_text(messages))
    opener = rng.choice(VOICES[voice]["openers"])
    body = _sentences(rng, voice, topic, rng.randint(1, 5))
    return " ".join([opener, *body]) if opener else " ".join(body)


def _tool_name_for(messages: Sequence[Mapping[str, Any]], call_id: object) -> str:
    for message in messages:
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping) and call.get("id") == call_id:
                function = call.get("function")
                if isinstance(function, Mapping):
                    return str(function.get("name", "tool"))
    return "tool"


def _summarise_result(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict) and value:
        pairs = [f"{k} is {json.dumps(v)}" for k, v in list(value.items())[:3]]
        return ", ".join(pairs)
    flat = " ".join(raw.split())
    return flat[:100] + ("…" if len(flat) > 100 else "") if flat else "it returned nothing"


def _tool_followup(rng: random.Random, voice: str, messages: Sequence[Mapping[str, Any]]) -> str:
    last = messages[-1]
    name = _tool_name_for(messages, last.get("tool_call_id"))
    summary = _summarise_result(text_of(last.get("content")))
    lead = f"Based on the {name} result, {summary}."
    topic = topic_of(last_user_text(messages))
    return " ".join([lead, *_sentences(rng, voice, topic, rng.randint(1, 2))])


def _tool_schema(tool: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    function = tool.get("function")
    spec = function if isinstance(function, Mapping) else tool
    params = spec.get("parameters")
    return str(spec.get("name", "tool")), params if isinstance(params, Mapping) else {}


def tool_names(tools: Sequence[Mapping[str, Any]]) -> list[str]:
    """The declared names of OpenAI-style `tools`."""
    return [_tool_schema(t)[0] for t in tools]


def _chosen_tool(
    tools: Sequence[Mapping[str, Any]], tool_choice: object
) -> tuple[str, Mapping[str, Any]]:
    """The tool named by `tool_choice`, else the first one."""
    schemas = [_tool_schema(t) for t in tools]
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        wanted = function.get("name") if isinstance(function, Mapping) else None
        for name, params in schemas:
            if name == wanted:
                return name, params
    return schemas[0]


def tool_call_id(rng: random.Random, provider: str) -> str:
    """NIM/vLLM ids look like `chatcmpl-tool-<hex>`, Anthropic ids like `toolu_01<alnum22>`,
    OpenAI/Azure ids like `call_<alnum24>` (Gemini sends none: the id stays internal)."""
    if provider == "nvidia-nim":
        return "chatcmpl-tool-" + "".join(rng.choices("0123456789abcdef", k=32))
    if provider == "anthropic":
        return "toolu_01" + "".join(rng.choices(string.ascii_letters + string.digits, k=22))
    return "call_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24))


def compose_answer(
    *,
    seed: int,
    provider: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: object = None,
    response_format: Mapping[str, Any] | None = None,
) -> Answer:
    """The deterministic reply of `model` on `provider` to `messages` (before max_tokens)."""
    rng = derive_rng("content", seed, provider, model, list(messages))
    voice = voice_for(provider)
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return Answer(_tool_followup(rng, voice, messages))
    if tools and tool_choice != "none" and last.get("role") == "user":
        name, params = _chosen_tool(tools, tool_choice)
        topic = topic_of(last_user_text(messages))
        args = value_from_schema(params, rng, topic, root=params)
        call = SimToolCall(tool_call_id(rng, provider), name, json.dumps(args))
        return Answer(None, (call,), "tool_calls")
    if response_format and response_format.get("type") in ("json_object", "json_schema"):
        return Answer(json.dumps(_json_document(rng, voice, messages, response_format)))
    return Answer(plain_answer(rng, voice, messages))


def _json_document(
    rng: random.Random,
    voice: str,
    messages: Sequence[Mapping[str, Any]],
    response_format: Mapping[str, Any],
) -> JSON:
    topic = topic_of(last_user_text(messages))
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if isinstance(schema, Mapping) and schema:
        return value_from_schema(schema, rng, topic, root=schema)
    return {
        "answer": " ".join(_sentences(rng, voice, topic, 1)),
        "topics": list(topic.phrases[:3]),
        "confidence": round(rng.uniform(0.6, 0.95), 2),
    }


_FORMATS = {
    "date": "2025-03-14",
    "date-time": "2025-03-14T09:30:00Z",
    "time": "09:30:00",
    "email": "user@example.com",
    "uri": "https://example.com/docs",
    "url": "https://example.com/docs",
    "uuid": "3f2b8c1e-9d4a-4e7b-8f10-2c5d6e7f8a90",
}


def resolve_ref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _string_for(name: str, schema: Mapping[str, Any], rng: random.Random, topic: Topic) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    lname = name.lower()
    phrases = list(topic.phrases) or ["example"]
    if any(k in lname for k in ("city", "location", "place", "country", "name", "user")):
        names = list(topic.names) or [p.title() for p in phrases]
        value = rng.choice(names)
    elif lname.endswith("id"):
        value = f"{topic.words[0] if topic.words else 'item'}-{rng.randint(100, 999)}"
    elif any(k in lname for k in ("query", "search", "text", "question", "prompt", "topic")):
        value = " ".join(phrases[:2])
    else:
        value = rng.choice(phrases)
    max_len = schema.get("maxLength")
    min_len = schema.get("minLength")
    if isinstance(max_len, int) and max_len >= 0:
        value = value[:max_len]
    if isinstance(min_len, int) and len(value) < min_len:
        value = value.ljust(min_len, "x")
    return value


def _number_bounds(schema: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    step = 1 if integer else 0.01
    lo = schema.get("minimum")
    if lo is None and isinstance(schema.get("exclusiveMinimum"), (int, float)):
        lo = schema["exclusiveMinimum"] + step
    hi = schema.get("maximum")
    if hi is None and isinstance(schema.get("exclusiveMaximum"), (int, float)):
        hi = schema["exclusiveMaximum"] - step
    low = float(lo) if isinstance(lo, (int, float)) else (1.0 if hi is None else float(hi) - 10)
    high = float(hi) if isinstance(hi, (int, float)) else low + (99 if integer else 100)
    return low, max(low, high)


def value_from_schema(
    schema: Mapping[str, Any],
    rng: random.Random,
    topic: Topic,
    *,
    root: Mapping[str, Any],
    name: str = "",
    depth: int = 0,
) -> JSON:
    """A value conforming to the (simple subset of) JSON Schema `schema`."""
    schema = resolve_ref(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            choice = usable[0] if usable else options[0]
            return value_from_schema(choice, rng, topic, root=root, name=name, depth=depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        return _object_from_schema(schema, rng, topic, root=root, depth=depth)
    if kind == "array":
        raw_items = schema.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        min_items, max_items = schema.get("minItems"), schema.get("maxItems")
        lo = min_items if isinstance(min_items, int) else 1
        hi = max_items if isinstance(max_items, int) else max(lo, 2)
        count = min(lo, hi) if depth >= 4 else rng.randint(min(lo, hi), hi)
        return [
            value_from_schema(items, rng, topic, root=root, name=name, depth=depth + 1)
            for _ in range(count)
        ]
    if kind == "integer":
        low, high = _number_bounds(schema, integer=True)
        return rng.randint(math.ceil(low), max(math.ceil(low), math.floor(high)))
    if kind == "number":
        low, high = _number_bounds(schema, integer=False)
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string_for(name, schema, rng, topic)


def _object_from_schema(
    schema: Mapping[str, Any],
    rng: random.Random,
    topic: Topic,
    *,
    root: Mapping[str, Any],
    depth: int,
) -> dict[str, JSON]:
    props = schema.get("properties")
    if not isinstance(props, Mapping) or depth >= 4:
        return {}
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    out: dict[str, JSON] = {}
    for key, sub in props.items():
        # Optional properties appear about half the time, like a model that omits defaults.
        if key in needed or rng.random() < 0.5:
            sub_schema = sub if isinstance(sub, Mapping) else {}
            out[key] = value_from_schema(
                sub_schema, rng, topic, root=root, name=key, depth=depth + 1
            )
    return out


def split_pieces(text: str, words_per_piece: int = 2) -> list[str]:
    """`text` cut into streaming pieces of a few words, each keeping its leading space."""
    words = re.findall(r"\s*\S+", text)
    pieces = [
        "".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)
    ]
    trailing = text[len("".join(words)) :]
    if trailing and pieces:
        pieces[-1] += trailing
    return pieces or ([text] if text else [])


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest word-aligned prefix of `text` within `max_tokens` (at least one char)."""
    limit = max(1, max_tokens * 4)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut
