"""SIMULATED answer quality: learned cases, accuracy, obedience and repeats (sim/quality.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from nvgw_nb.experiments.cases import Case
from nvgw_nb.sim import Simulator
from nvgw_nb.sim.quality import STYLES, normalise_answer, style_of

SCOUT = "meta/llama-4-scout-17b-16e-instruct"
MAVERICK = "meta/llama-4-maverick-17b-128e-instruct"
TERSE = "Answer with the label only."
LABELS = ("positive", "negative", "neutral")


class Wire:
    """Chat requests straight to the simulator's core through httpx's MockTransport."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.client = httpx.Client(transport=sim.transport(), base_url="http://sim")
        self.creds = sim._core.credentials

    def chat(
        self,
        prompt: str,
        *,
        provider: str = "nvidia-nim",
        model: str = SCOUT,
        system: str | None = None,
        **extra: Any,
    ) -> str:
        """The reply content of one chat request."""
        messages = [{"role": "system", "content": system}] if system is not None else []
        messages.append({"role": "user", "content": prompt})
        body = {"model": model, "messages": messages, **extra}
        if provider == "nvidia-nim":
            headers = {"authorization": f"Bearer {self.creds.nim_api_key}"}
            resp = self.client.post("/nim/v1/chat/completions", json=body, headers=headers)
        elif provider == "openai":
            headers = {"authorization": f"Bearer {self.creds.openai_api_key}"}
            resp = self.client.post("/openai/v1/chat/completions", json=body, headers=headers)
        else:
            raise AssertionError(provider)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["choices"][0]["message"]["content"])


def label_cases(n: int, cluster: str = "sentiment") -> list[dict[str, Any]]:
    """`n` learned "equals" cases over three labels."""
    return [
        {
            "text": f"Classify the sentiment of review #{i}: 'item {i} was as described'",
            "reference": LABELS[i % 3],
            "check": "equals",
            "cluster": cluster,
        }
        for i in range(n)
    ]


def equals(answer: str, reference: str) -> bool:
    """The "equals" rule of CONTRACT.md, written out again here (the test's own)."""
    return normalise_answer(answer) == normalise_answer(reference)


def correct_rate(wire: Wire, cases: list[dict[str, Any]], **kw: Any) -> float:
    hits = [equals(wire.chat(c["text"], system=TERSE, **kw), c["reference"]) for c in cases]
    return sum(hits) / len(hits)


def within_noise(rate: float, p: float, n: int) -> bool:
    """|rate - p| within 3.5 binomial standard errors."""
    return abs(rate - p) <= 3.5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("p", [0.6, 0.9])
def test_accuracy_sets_the_correct_rate(p: float) -> None:
    """Over 200 learned cases the correct rate is within binomial noise of `accuracy`."""
    sim = Simulator(time_scale=0, seed=3, accuracy={"nvidia-nim": p}, obedience={SCOUT: 1.0})
    cases = label_cases(200)
    sim.learn(cases)
    rate = correct_rate(Wire(sim), cases, temperature=0)
    assert within_noise(rate, p, 200), rate


def test_accuracy_06_and_09_are_told_apart() -> None:
    """0.6 vs 0.9 on the same cases: a gap of about 0.3."""
    sim = Simulator(
        time_scale=0, seed=1, accuracy={SCOUT: 0.6, MAVERICK: 0.9}, obedience={"nvidia-nim": 1.0}
    )
    cases = label_cases(200)
    sim.learn(cases)
    wire = Wire(sim)
    low = correct_rate(wire, cases, model=SCOUT, temperature=0)
    high = correct_rate(wire, cases, model=MAVERICK, temperature=0)
    assert 0.18 < high - low < 0.42, (low, high)


def test_equal_accuracy_gives_equal_rates() -> None:
    """Two providers at the same accuracy differ only by noise."""
    sim = Simulator(
        time_scale=0,
        seed=5,
        accuracy={"nvidia-nim": 0.8, "openai": 0.8},
        obedience={"nvidia-nim": 1.0, "openai": 1.0},
    )
    cases = label_cases(300)
    sim.learn(cases)
    wire = Wire(sim)
    nim = correct_rate(wire, cases, temperature=0)
    gpt = correct_rate(wire, cases, provider="openai", model="gpt-4o", temperature=0)
    assert abs(nim - gpt) <= 3.5 * math.sqrt(2 * 0.8 * 0.2 / 300), (nim, gpt)


def test_model_key_wins_over_provider_key() -> None:
    """accuracy={provider: 0, model: 1}: that model is always right, its siblings never."""
    sim = Simulator(
        time_scale=0, accuracy={"nvidia-nim": 0.0, SCOUT: 1.0}, obedience={"nvidia-nim": 1.0}
    )
    cases = label_cases(30)
    sim.learn(cases)
    wire = Wire(sim)
    assert correct_rate(wire, cases, model=SCOUT, temperature=0) == 1.0
    assert correct_rate(wire, cases, model=MAVERICK, temperature=0) == 0.0


def test_wrong_labels_come_from_the_same_cluster() -> None:
    """A wrong "equals" answer is another label of its cluster; a lone case says "unsure"."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.0}, obedience={"nvidia-nim": 1.0})
    cases = label_cases(9)
    lone = {"text": "Route: reset my password", "reference": "account", "check": "equals"}
    sim.learn([*cases, lone])
    wire = Wire(sim)
    for case in cases:
        answer = wire.chat(case["text"], system=TERSE, temperature=0)
        assert answer in LABELS
        assert answer != case["reference"]
    assert wire.chat(lone["text"], system=TERSE, temperature=0) == "unsure"


def run_python(answer: str, tests: str) -> bool:
    """Whether the answer's code (first ```python fence, else all) passes `tests` (asserts)."""
    code = answer.split("```python\n", 1)[1].split("```", 1)[0] if "```python" in answer else answer
    try:
        exec(code + "\n" + tests, {})  # noqa: S102  (the simulator's own code, in a test)
    except Exception:
        return False
    return True


def first_json(answer: str) -> Any:
    start = min(i for i in (answer.find("{"), answer.find("[")) if i >= 0)
    return json.JSONDecoder().raw_decode(answer[start:])[0]


CHECK_CASES: list[dict[str, Any]] = [
    {"text": "Capital of France?", "reference": "Paris", "check": "contains"},
    {
        "text": "Extract name and age: 'Ada, 36'",
        "reference": {"name": "Ada", "age": 36},
        "check": "json",
    },
    {
        "text": "Write add(a, b).",
        "reference": "def add(a, b):\n    return a + b\n",
        "check": "python",
        "vars": {"tests": "assert add(2, 3) == 5"},
    },
    {"text": "Sentiment: 'love it'", "reference": "positive", "check": "equals"},
]


def passes(case: Mapping[str, Any], answer: str) -> bool:
    """The test's own version of the four checks."""
    ref = case["reference"]
    if case["check"] == "contains":
        return normalise_answer(ref) in normalise_answer(answer)
    if case["check"] == "json":
        try:
            doc = first_json(answer)
        except ValueError:
            return False
        return all(doc.get(k) == v for k, v in ref.items())
    if case["check"] == "python":
        return run_python(answer, case["vars"]["tests"])
    return equals(answer, ref)


@pytest.mark.parametrize("case", CHECK_CASES, ids=lambda c: c["check"])
@pytest.mark.parametrize("system", [TERSE, None], ids=["terse", "chatty"])
def test_correct_and_wrong_answers_in_each_checks_form(
    case: dict[str, Any], system: str | None
) -> None:
    """Correct answers pass their check (chatty ones too, except "equals"); wrong ones fail."""
    right = Simulator(time_scale=0, accuracy={"nvidia-nim": 1.0}, obedience={"nvidia-nim": 1.0})
    wrong = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.0}, obedience={"nvidia-nim": 1.0})
    other = {"text": "Capital of Italy?", "reference": "Rome", "check": "contains"}
    for sim in (right, wrong):
        sim.learn([case, other])
    good = Wire(right).chat(case["text"], system=system, temperature=0)
    bad = Wire(wrong).chat(case["text"], system=system, temperature=0)
    chatty = system is None
    assert (style_of(good) is not None) is chatty
    assert passes(case, good) is not (chatty and case["check"] == "equals")
    assert not passes(case, bad), bad


def test_obedience_sets_the_bare_rate() -> None:
    """A terse system prompt gets bare answers at about `obedience`; the rest are chatty."""
    sim = Simulator(time_scale=0, seed=2, accuracy={"nvidia-nim": 1.0}, obedience={SCOUT: 0.7})
    cases = label_cases(200)
    sim.learn(cases)
    wire = Wire(sim)
    answers = [wire.chat(c["text"], system=TERSE, temperature=0) for c in cases]
    bare = sum(a in LABELS for a in answers) / len(answers)
    assert within_noise(bare, 0.7, 200), bare
    assert all(a in LABELS or style_of(a) == "llama" for a in answers)


@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [("nvidia-nim", SCOUT, "llama"), ("openai", "gpt-4o", "gpt")],
)
def test_no_system_prompt_gets_the_familys_chatty_prose(
    provider: str, model: str, family: str
) -> None:
    """Without a terse system prompt every answer is wrapped in the family's prose."""
    sim = Simulator(time_scale=0, obedience={provider: 1.0})
    cases = label_cases(20)
    sim.learn(cases)
    wire = Wire(sim)
    for case in cases:
        answer = wire.chat(case["text"], provider=provider, model=model, temperature=0)
        assert style_of(answer) == family
        assert answer.startswith(STYLES[family].opener)
        assert not equals(answer, case["reference"])
    chatty = wire.chat(cases[0]["text"], provider=provider, model=model, system="Be kind.")
    assert style_of(chatty) == family


def test_temperature_zero_repeats_and_above_it_varies() -> None:
    """At temperature 0 repeats are identical; at 0.7 they vary, reproducibly by seed."""

    def answers(temperature: float, seed: int = 0) -> list[list[str]]:
        sim = Simulator(time_scale=0, seed=seed, accuracy={"nvidia-nim": 0.5})
        cases = label_cases(30)
        sim.learn(cases)
        wire = Wire(sim)
        return [
            [wire.chat(c["text"], system=TERSE, temperature=temperature) for _ in range(4)]
            for c in cases
        ]

    assert all(len(set(reps)) == 1 for reps in answers(0))
    assert all(len(set(reps)) == 1 for reps in answers(0.005))  # <= 0.01 counts as 0
    warm = answers(0.7)
    assert sum(len(set(reps)) > 1 for reps in warm) >= 10
    assert answers(0.7) == warm
    assert answers(0.7, seed=1) != warm


def test_request_seed_changes_the_draw_above_temperature_zero() -> None:
    """With temperature > 0, the request's `seed` field is part of the draw."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.5}, obedience={"nvidia-nim": 1.0})
    cases = label_cases(40)
    sim.learn(cases)
    wire = Wire(sim)

    def run(seed: int) -> list[str]:
        return [wire.chat(c["text"], system=TERSE, temperature=1, seed=seed) for c in cases]

    assert run(1) != run(2)


def test_unlearned_prompts_are_answered_as_before() -> None:
    """A prompt never learned gets exactly the answer a Simulator without learn() gives."""
    plain = Simulator(time_scale=0, seed=4)
    taught = Simulator(time_scale=0, seed=4, accuracy={"nvidia-nim": 0.1}, obedience={SCOUT: 0})
    taught.learn(label_cases(10))
    prompts = ["Explain retries with jitter.", "Plan a migration to Postgres.", "hi"]
    for prompt in prompts:
        for kw in ({}, {"temperature": 0.9}, {"response_format": {"type": "json_object"}}):
            assert Wire(plain).chat(prompt, system=TERSE, **kw) == Wire(taught).chat(
                prompt, system=TERSE, **kw
            )


def test_learn_takes_case_objects_and_replaces() -> None:
    """Case objects are keyed by case.text(); learning again replaces the reference."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 1.0}, obedience={"nvidia-nim": 1.0})
    case = Case("Sentiment of {review}", vars={"review": "'fine'"}, reference="neutral")
    assert sim.learn([case]) == 1
    wire = Wire(sim)
    assert wire.chat("Sentiment   of 'fine'", system=TERSE, temperature=0) == "neutral"
    sim.learn([{"prompt": "Sentiment of 'fine'", "reference": "positive"}])
    assert wire.chat("Sentiment of 'fine'", system=TERSE, temperature=0) == "positive"


def test_json_mode_returns_the_document() -> None:
    """With response_format json_object a json case answers its bare document."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 1.0}, obedience={"nvidia-nim": 0.0})
    sim.learn([CHECK_CASES[1], CHECK_CASES[0]])
    wire = Wire(sim)
    fmt = {"type": "json_object"}
    assert json.loads(wire.chat(CHECK_CASES[1]["text"], response_format=fmt)) == {
        "name": "Ada",
        "age": 36,
    }
    assert "Paris" in json.loads(wire.chat(CHECK_CASES[0]["text"], response_format=fmt))["answer"]


def test_through_a_session_on_the_gateway() -> None:
    """End to end: a Session's chat to the gateway answers a learned case in gpt's voice."""
    with Simulator(time_scale=0, accuracy={"nvidia-gateway": 1.0}) as sim:
        sim.learn(label_cases(3))
        session = sim.session()
        try:
            text = session.chat(
                label_cases(3)[1]["text"], providers=["nvidia-gateway"], temperature=0
            ).content
        finally:
            session.close()
    assert text == "Certainly! The answer is: negative. Let me know if you need anything else."


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"accuracy": 0.8}, "accuracy: expected a mapping"),
        ({"accuracy": {"nvidia-nim": 1.5}}, "accuracy: 'nvidia-nim' must be a probability"),
        ({"accuracy": {"nvidia-nim": True}}, "must be a probability"),
        ({"accuracy": {"nim": 0.5}}, "accuracy: unknown provider or model 'nim'"),
        ({"obedience": {"gpt-4o": -0.1}}, "obedience: 'gpt-4o' must be a probability"),
        ({"obedience": {"llama": 0.5, "x": 1}}, "obedience: unknown provider or model 'x'"),
        ({"judge_bias": {"positional": 0.3}}, "judge_bias: unknown bias 'positional'"),
        ({"judge_bias": {"self": 2}}, "judge_bias: 'self' must be a probability"),
        ({"judge_bias": [0.3]}, "judge_bias: expected a mapping"),
    ],
)
def test_bad_knobs_are_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    """Each knob is validated with a message naming it."""
    with pytest.raises(ValueError, match=match):
        Simulator(**kwargs)


@pytest.mark.parametrize(
    ("cases", "match"),
    [
        ({"text": "x"}, "not one case"),
        ([{"reference": "x"}], "needs its prompt text"),
        ([{"text": "q", "check": "regex"}], "check 'regex'"),
    ],
)
def test_bad_cases_are_clear_errors(cases: Any, match: str) -> None:
    """learn() names what is wrong with a case."""
    with pytest.raises(ValueError, match=match):
        Simulator().learn(cases)
