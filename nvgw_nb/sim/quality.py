"""SIMULATED answer quality: what the simulated models "know", how often they are right, and
how well they obey a terse format.

Nothing here is a measurement of a real model. Every number is a documented modelling
choice, adjustable on `Simulator(...)`, so that an experiment on the simulator has a known
truth to recover:

- **knowledge** — `Simulator.learn(cases)` gives the simulated models the gold answers of
  cases, keyed by the prompt text the client sends (whitespace collapsed). Prompts that
  were never learned are answered exactly as before (`content.compose_answer`).
- **accuracy** — the probability that an answer to a learned case is correct
  (`DEFAULT_ACCURACY`, per model; `accuracy={provider_or_model: p}` overrides, a model key
  winning over a provider key). A correct answer is the reference in the form its check
  grades; a wrong one is plausible but wrong (another label of the same cluster, a sentence
  with another answer, the JSON with one value changed, code that fails its tests).
- **obedience** — when the system prompt asks for a terse format ("only", "just the",
  "one word", "no explanation", "JSON", "label"), the answer is bare with this probability
  (`DEFAULT_OBEDIENCE`, per model family; `obedience=` keys may be a provider, a model or a
  family: "gpt", "llama", "claude", "gemini"); otherwise it is wrapped in the family's chatty
  prose (`STYLES`), which still passes contains / json / python checks but fails "equals".
- **repeats** — at temperature 0 (<= 0.01) the same request gets the same answer. Above it,
  or with no temperature (the providers' defaults are all above 0), the draw also depends
  on the request's `seed` field and on how many identical requests came before
  (`SimChat.occurrence`): deterministic for a given Simulator seed and arrival order.

Requests whose system message opens with the judge protocol's sentence are answered by the
simulated judge (`judging.py`) instead.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nvgw_nb.sim import content
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer
from nvgw_nb.sim.profiles import PROVIDERS
from nvgw_nb.sim.voices import voice_for

__all__ = [
    "CHECKS",
    "DEFAULT_ACCURACY",
    "DEFAULT_OBEDIENCE",
    "STYLES",
    "Knowledge",
    "QualityModel",
    "Style",
    "check_rates",
    "family_of_model",
    "normalise_answer",
    "normalise_prompt",
    "style_of",
    "unwrap",
]

CHECKS = ("equals", "contains", "json", "python")

#: SIMULATED: P(correct) of a learned case per model id (the simulator's aliases). Chosen to
#: order the models plausibly (bigger / newer is better); not measured. Others: 0.80.
DEFAULT_ACCURACY: Mapping[str, float] = {
    "meta/llama-4-scout-17b-16e-instruct": 0.72,
    "meta/llama-4-maverick-17b-128e-instruct": 0.80,
    "meta/llama-3.3-70b-instruct": 0.76,
    "gpt-4o": 0.86,
    "gpt-4o-mini": 0.78,
    "claude-sonnet-4-5": 0.86,
    "claude-haiku-4-5": 0.78,
    "gemini-2.0-flash": 0.78,
    "gemini-2.5-flash": 0.82,
    "gemini-2.5-pro": 0.86,
}
_OTHER_ACCURACY = 0.80

#: SIMULATED: P(bare answer | a terse system prompt) per model family (the provider's voice).
DEFAULT_OBEDIENCE: Mapping[str, float] = {
    "gpt": 0.90,
    "llama": 0.75,
    "claude": 0.90,
    "gemini": 0.85,
}

_KNOWN_MODELS = (*DEFAULT_ACCURACY, "gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18")
_KNOWN_PROVIDERS = tuple(p for p in PROVIDERS if p != "starfleet")

# "only", "just the", "one word", "no explanation", "JSON", "label" and close kin.
_TERSE_RE = re.compile(
    r"\b(only|just the|one word|single word|no explanations?|json|label|bare|terse)\b",
    re.IGNORECASE,
)
_GREEDY_MAX = 0.01
_JUDGE_SENTENCE = "You are an impartial judge of answers written by AI assistants."


@dataclass(frozen=True)
class Style:
    """A model family's chatty prose (SIMULATED): `opener` + `lead` + answer + `closer`.

    The opener and closer are the family's style markers: the judge's self-preference
    recognises an answer's family by them (`style_of`). Bare answers carry no style.
    """

    opener: str
    lead: str
    closer: str


STYLES: Mapping[str, Style] = {
    "gpt": Style("Certainly!", "The answer is:", "Let me know if you need anything else."),
    "llama": Style("Sure —", "", "Hope this helps!"),
    "claude": Style("Happy to help.", "Here's my answer:", "Let me know if anything is unclear."),
    "gemini": Style("Here's the short version.", "**Answer:**", "Want me to go into more detail?"),
}


@dataclass(frozen=True)
class Knowledge:
    """One learned case: the prompt text it is keyed by, its gold answer and check."""

    text: str
    reference: Any
    check: str | None
    vars: Mapping[str, Any] = field(default_factory=dict)
    cluster: str | None = None


def normalise_prompt(text: str) -> str:
    """The key of a prompt: whitespace collapsed and stripped."""
    return " ".join(text.split())


def normalise_answer(text: str) -> str:
    """The "equals" normaliser of CONTRACT.md: strip, casefold, collapse whitespace, strip
    surrounding quotes / backticks and one trailing period."""
    out = " ".join(text.split()).casefold()
    out = out.strip("\"'`").strip()
    if out.endswith("."):
        out = out[:-1]
    return out.strip("\"'`").strip()


def family_of_model(provider: str, model: str) -> str:
    """The family (voice) a model writes in: llama on NIM, gpt on the gateway and OpenAI…"""
    if model.startswith(("meta/", "nvidia/")):
        return "llama"
    if model.startswith("gpt"):
        return "gpt"
    if model.startswith("claude"):
        return "claude"
    if model.startswith("gemini"):
        return "gemini"
    return voice_for(provider)


def style_of(text: str) -> str | None:
    """The family whose chatty prose `text` is written in, or None (bare, or unknown)."""
    stripped = text.strip()
    for family, style in STYLES.items():
        if stripped.startswith(style.opener) and stripped.endswith(style.closer):
            return family
    return None


def unwrap(text: str) -> str:
    """`text` without a family's chatty prose (opener, lead, closer); bare text unchanged."""
    family = style_of(text)
    if family is None:
        return text.strip()
    style = STYLES[family]
    inner = text.strip()[len(style.opener) : -len(style.closer)].strip()
    if style.lead and inner.startswith(style.lead):
        inner = inner[len(style.lead) :].strip()
    return inner


def check_rates(name: str, value: object, *, by_family: bool = False) -> dict[str, float]:
    """`value` validated as {provider_or_model: probability 0..1}; a ValueError names `name`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name}: expected a mapping of provider or model to a probability 0..1, got {value!r}"
        )
    known = (*_KNOWN_PROVIDERS, *_KNOWN_MODELS, *(STYLES if by_family else ()))
    out: dict[str, float] = {}
    for key, p in value.items():
        if not isinstance(key, str) or key not in known:
            raise ValueError(
                f"{name}: unknown provider or model {key!r}; expected one of {', '.join(known)}"
            )
        if (
            isinstance(p, bool)
            or not isinstance(p, (int, float))
            or not math.isfinite(p)
            or not 0 <= p <= 1
        ):
            raise ValueError(f"{name}: {key!r} must be a probability 0..1, got {p!r}")
        out[key] = float(p)
    return out


def _system_text(messages: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(
        content.text_of(m.get("content"))
        for m in messages
        if m.get("role") in ("system", "developer")
    )


def _knowledge_of(case: object) -> Knowledge:
    """A learned case from a Case-like object or a dict (see `QualityModel.learn`)."""
    if isinstance(case, Mapping):
        get = case.get
        text = get("text", get("prompt"))
    else:

        def get(name: str, default: Any = None) -> Any:
            return getattr(case, name, default)

        text = get("text")
        text = text() if callable(text) else text
        if not isinstance(text, str):
            text = get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"learn: a case needs its prompt text ('text' or 'prompt'), got {case!r}")
    check = get("check")
    if check is not None and check not in CHECKS:
        raise ValueError(f"learn: check {check!r} is not one of {', '.join(CHECKS)}")
    variables = get("vars") or {}
    if not isinstance(variables, Mapping):
        raise ValueError(f"learn: vars must be a mapping, got {variables!r}")
    cluster = get("cluster")
    return Knowledge(
        normalise_prompt(text),
        get("reference"),
        check,
        dict(variables),
        None if cluster is None else str(cluster),
    )


class QualityModel:
    """SIMULATED answer quality and the simulated judge, shared by every chat route.

    Example::

        quality = QualityModel(seed=0, accuracy={"nvidia-nim": 0.6})
        quality.learn([{"text": "2+2?", "reference": "4", "check": "equals"}])
        quality.answer(chat)  # an Answer for a learned prompt or a judge prompt, else None
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        accuracy: Mapping[str, float] | None = None,
        obedience: Mapping[str, float] | None = None,
        judge_bias: Mapping[str, float] | None = None,
    ) -> None:
        from nvgw_nb.sim.judging import check_bias

        self.seed = seed
        self.accuracy = check_rates("accuracy", accuracy)
        self.obedience = check_rates("obedience", obedience, by_family=True)
        self.judge_bias = check_bias(judge_bias)
        self._lock = threading.Lock()
        self._known: dict[str, Knowledge] = {}

    # ----------------------------------------------------------------- knowledge

    def learn(self, cases: Iterable[object]) -> int:
        """Learn (add or replace) the gold answers of `cases`; returns how many.

        Each case is an object with attributes or a dict with keys: `text` (the exact
        prompt the client sends as the last user message; for a Case, `case.text()`),
        else `prompt`; `reference`; `check` ("equals", "contains", "json", "python" or
        None); `vars` (a python case's `tests`); `cluster`.
        """
        if isinstance(cases, (str, bytes, Mapping)):
            raise ValueError("learn: expected a list of cases, not one case")
        learned = [_knowledge_of(case) for case in cases]
        with self._lock:
            for item in learned:
                self._known[item.text] = item
        return len(learned)

    def lookup(self, text: str) -> Knowledge | None:
        """The learned case whose prompt is `text` (whitespace collapsed), or None."""
        with self._lock:
            return self._known.get(normalise_prompt(text))

    def _labels(self, item: Knowledge) -> list[str]:
        """Other labels of learned cases with the same check and cluster, sorted."""
        with self._lock:
            known = list(self._known.values())
        want = normalise_answer(str(item.reference))
        labels = {
            str(k.reference)
            for k in known
            if k.check == item.check
            and k.cluster == item.cluster
            and isinstance(k.reference, (str, int, float))
            and normalise_answer(str(k.reference)) != want
        }
        return sorted(labels)

    def _references(self, item: Knowledge) -> list[Any]:
        """References of other learned cases with the same check (same cluster first)."""
        with self._lock:
            known = list(self._known.values())
        same = [k.reference for k in known if k.check == item.check and k.cluster == item.cluster]
        other = [k.reference for k in known if k.check == item.check and k.cluster != item.cluster]
        return same + other

    # ----------------------------------------------------------------- knobs

    def accuracy_for(self, provider: str, model: str, served: str | None = None) -> float:
        """P(correct): a model key, else a provider key, else the model's default."""
        for key in (model, served):
            if key is not None and key in self.accuracy:
                return self.accuracy[key]
        if provider in self.accuracy:
            return self.accuracy[provider]
        return DEFAULT_ACCURACY.get(model, _OTHER_ACCURACY)

    def obedience_for(self, provider: str, model: str, served: str | None = None) -> float:
        """P(bare | terse system prompt): a model key, else a provider key, else the family's."""
        for key in (model, served):
            if key is not None and key in self.obedience:
                return self.obedience[key]
        if provider in self.obedience:
            return self.obedience[provider]
        family = family_of_model(provider, model)
        return self.obedience.get(family, DEFAULT_OBEDIENCE.get(family, 0.85))

    # ----------------------------------------------------------------- answers

    def draw(self, tag: str, chat: SimChat, *parts: object) -> random.Random:
        """The rng of one request's quality draws (see the module docstring on repeats)."""
        temperature = chat.body.get("temperature")
        greedy = isinstance(temperature, (int, float)) and temperature <= _GREEDY_MAX
        varying: tuple[object, ...] = () if greedy else (chat.body.get("seed"), chat.occurrence)
        return content.derive_rng(tag, self.seed, chat.model, *parts, *varying)

    def answer(self, chat: SimChat) -> Answer | None:
        """The SIMULATED answer to a learned case or a judge prompt; None: answer as before."""
        messages = chat.body.get("messages") or []
        if not messages or messages[-1].get("role") != "user":
            return None
        system = _system_text(messages)
        user = content.last_user_text(messages)
        if system.lstrip().startswith(_JUDGE_SENTENCE):
            from nvgw_nb.sim.judging import judge_answer

            rng = self.draw("judge", chat, system, user)
            family = family_of_model(chat.provider, chat.model)
            return Answer(judge_answer(user, self, family, rng))
        if chat.tools and chat.body.get("tool_choice") != "none":
            return None
        item = self.lookup(user)
        if item is None or item.reference is None:
            return None  # nothing known (a python case without a solution): as before
        rng = self.draw("quality", chat, normalise_prompt(user), system)
        correct = rng.random() < self.accuracy_for(chat.provider, chat.model, chat.served_model)
        obeys = rng.random() < self.obedience_for(chat.provider, chat.model, chat.served_model)
        terse = bool(_TERSE_RE.search(system))
        body, block = correct_form(item) if correct else wrong_form(item, rng, self)
        response_format = chat.body.get("response_format")
        if isinstance(response_format, Mapping) and response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            # The API enforces JSON: a json case is its document, anything else is wrapped.
            if item.check == "json" and body.lstrip().startswith(("{", "[")):
                return Answer(body)
            return Answer(json.dumps({"answer": body}))
        if terse and obeys:
            return Answer(body)
        family = family_of_model(chat.provider, chat.model)
        return Answer(chatty(family, body, block=block, label=item.check == "equals"))


def chatty(family: str, body: str, *, block: bool, label: bool) -> str:
    """`body` wrapped in `family`'s prose: blocks (fenced code / JSON) on their own lines."""
    style = STYLES.get(family, STYLES["gpt"])
    if block:
        return f"{style.opener}\n\n{body}\n\n{style.closer}"
    inner = f"{style.lead} {body}".strip() if label else body
    if label and not inner.endswith("."):
        inner += "."
    return f"{style.opener} {inner} {style.closer}"


def _sentence(answer: str) -> str:
    return f"The answer is {answer.rstrip('.')}."


def _code(text: str) -> str:
    return f"```python\n{text.strip()}\n```"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def correct_form(item: Knowledge) -> tuple[str, bool]:
    """(the bare correct answer, whether it is a block) in the form its check grades."""
    ref = item.reference
    if item.check == "json":
        return _compact(ref), True
    if item.check == "python":
        return _code(str(ref or "")), True
    if item.check == "contains":
        return _sentence(str(ref)), False
    return str(ref), False


def wrong_form(item: Knowledge, rng: random.Random, quality: QualityModel) -> tuple[str, bool]:
    """(a plausible but wrong bare answer, whether it is a block) for `item`'s check."""
    if item.check == "json":
        return _wrong_json(item.reference, rng), True
    if item.check == "python":
        return _wrong_code(str(item.reference or "")), True
    if item.check == "contains":
        return _wrong_sentence(item, rng, quality), False
    labels = quality._labels(item)
    return (rng.choice(labels) if labels else "unsure"), False


def _wrong_sentence(item: Knowledge, rng: random.Random, quality: QualityModel) -> str:
    want = normalise_answer(str(item.reference))
    others = [str(r) for r in quality._references(item) if isinstance(r, (str, int, float))]
    rng.shuffle(others)
    fallbacks = ["something else entirely", "not known to me", "unclear", "n/a"]
    for candidate in [*others, *fallbacks]:
        sentence = _sentence(candidate)
        if want and want not in normalise_answer(sentence):
            return sentence
    return "-"


def _changed(value: Any, rng: random.Random) -> Any:
    """`value` with one (nested) value changed so that no normalised comparison matches."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return "unknown" if normalise_answer(value) != "unknown" else "n/a"
    if isinstance(value, list):
        if not value:
            return ["unknown"]
        i = rng.randrange(len(value))
        return [_changed(v, rng) if j == i else v for j, v in enumerate(value)]
    if isinstance(value, dict):
        if not value:
            return {"unknown": True}
        key = rng.choice(sorted(value))
        return {k: _changed(v, rng) if k == key else v for k, v in value.items()}
    return "unknown"  # None and anything else


def _wrong_json(reference: Any, rng: random.Random) -> str:
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError:
            return _compact({"answer": "unknown"})
    if isinstance(reference, dict) and not reference:
        return "I could not extract the fields from this text."
    return _compact(_changed(reference, rng))


_DEF_RE = re.compile(r"^(?P<indent>[ \t]*)def [A-Za-z_]\w*\s*\(.*?\)\s*(->[^:]*)?:\s*$", re.M)


def _wrong_code(reference: str) -> str:
    """The reference with its first function raising at once: it fails any test calling it."""
    match = _DEF_RE.search(reference)
    fail = 'raise NotImplementedError("this case is not handled yet")'
    if match is None:
        return _code(f"{fail}\n{reference}")
    indent = match.group("indent") + "    "
    at = match.end()
    return _code(f"{reference[:at]}\n{indent}{fail}{reference[at:]}")
