"""The SIMULATED judge: a verdict that follows the answers it is shown, plus injectable biases.

A chat request (on any provider) whose system message begins with the judge protocol's
sentence "You are an impartial judge of answers written by AI assistants." (CONTRACT.md) is
answered with the protocol's verdict JSON instead of prose; with `response_format` the
reply content is that JSON too. The user message's fenced sections (`<question>`,
`<reference>`, `<answer>` or `<answer_a>` / `<answer_b>`, `<criteria>`) are read back with
`html.unescape`.

On merit, an answer's correctness is decided by the rules of the checks in CONTRACT.md,
re-implemented here (the simulator shares no code with the SDK): against the `<reference>`
when one is given, else against the learned gold answer of the `<question>`. The judge
reads content, not format: a family's chatty prose is removed before an "equals"
comparison (so "Certainly! The answer is: positive. …" is a correct "positive"), and a
"python" answer is correct when its code is the reference solution (the simulated judge
does not run code). With neither a reference nor a learned answer, it prefers an answer
that does not hedge, and calls equal answers a tie.

- single answer: {"score": 5 or 4 when correct, 2 or 1 when wrong, 3 when unknown,
  "passed": score >= 4, "reason": ...};
- pairwise: {"winner": "A" | "B" | "tie", "reason": ...}; equal correctness is a tie.

Biases (`Simulator(judge_bias={"position": p, "length": q, "self": s})`, each 0..1, default
0), SIMULATED and applied to pairwise verdicts only, before merit: with probability p the
judge picks slot A; else with probability q the longer answer (when lengths differ); else
with probability s the answer written in its own family's chatty style (when exactly one
answer is; bare answers carry no style). The draws come from the Simulator's seed and the
request's content, so the two orders of one pair draw independently.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nvgw_nb.sim.quality import normalise_answer, style_of, unwrap

if TYPE_CHECKING:
    from nvgw_nb.sim.quality import QualityModel

__all__ = ["BIASES", "check_bias", "grade", "judge_answer", "parse_sections"]

BIASES = ("position", "length", "self")

_SECTION_RE = re.compile(
    r"<(question|reference|answer|answer_a|answer_b|criteria)>(.*?)</\1>", re.DOTALL
)
_HEDGES = (
    "unsure",
    "not sure",
    "i don't know",
    "i do not know",
    "not certain",
    "cannot determine",
    "can't determine",
    "not known",
    "unclear",
)
_FENCE_RE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_JSON_FENCE_RE = re.compile(r"```json[ \t]*\n(.*?)```", re.DOTALL)


def check_bias(value: object) -> dict[str, float]:
    """`judge_bias` validated: a mapping of position / length / self to 0..1."""
    if value is None:
        return dict.fromkeys(BIASES, 0.0)
    if not isinstance(value, Mapping):
        raise ValueError(f"judge_bias: expected a mapping like {{'position': 0.3}}, got {value!r}")
    out = dict.fromkeys(BIASES, 0.0)
    for key, p in value.items():
        if key not in BIASES:
            raise ValueError(
                f"judge_bias: unknown bias {key!r}; expected one of {', '.join(BIASES)}"
            )
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"judge_bias: {key!r} must be a probability 0..1, got {p!r}")
        out[key] = float(p)
    return out


def parse_sections(text: str) -> dict[str, str]:
    """The fenced sections of a judge prompt, unescaped (first of each name)."""
    found: dict[str, str] = {}
    for name, body in _SECTION_RE.findall(text):
        found.setdefault(name, html.unescape(body).strip())
    return found


def _first_json(text: str) -> Any:
    """The first JSON object or array in `text` (a ```json fence, else the first balanced
    {...} or [...]), or raise ValueError."""
    fence = _JSON_FENCE_RE.search(text)
    if fence:
        return json.loads(fence.group(1))
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text[i:])[0]
            except ValueError:
                continue
    raise ValueError("no JSON in the answer")


def _json_matches(answer: Any, reference: Any) -> bool:
    if isinstance(reference, dict):
        return isinstance(answer, dict) and all(
            k in answer and _json_matches(answer[k], v) for k, v in reference.items()
        )
    if isinstance(reference, str):
        return isinstance(answer, str) and normalise_answer(answer) == normalise_answer(reference)
    return bool(answer == reference)


def _code_of(text: str) -> str:
    fence = _FENCE_RE.search(text)
    code = fence.group(1) if fence else text
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def grade(answer: str, reference: Any, check: str | None) -> bool:
    """Whether `answer` is right against `reference` by `check`'s rule (see module doc).

    `check` None infers one: a JSON object / array reference is graded as "json", anything
    else as "contains" on the answer without its chatty prose.
    """
    if check is None:
        if isinstance(reference, (dict, list)):
            check = "json"
        else:
            try:
                parsed = json.loads(str(reference))
            except ValueError:
                parsed = None
            check = "json" if isinstance(parsed, (dict, list)) else "contains"
    if check == "json":
        if isinstance(reference, str):
            try:
                reference = json.loads(reference)
            except ValueError:
                return False
        try:
            return _json_matches(_first_json(answer), reference)
        except ValueError:
            return False
    if check == "python":
        return bool(reference) and _code_of(answer) == _code_of(str(reference))
    want = normalise_answer(str(reference))
    if check == "equals":
        return normalise_answer(unwrap(answer)) == want
    return bool(want) and want in normalise_answer(answer)


def hedges(answer: str) -> bool:
    """Whether `answer` hedges ("unsure", "I don't know", …) or says nothing."""
    low = answer.casefold()
    return not low.strip() or any(h in low for h in _HEDGES)


def judge_answer(user_text: str, quality: QualityModel, family: str, rng: random.Random) -> str:
    """The verdict JSON for a judge prompt, as the judging model of `family` writes it."""
    sections = parse_sections(user_text)
    known = quality.lookup(sections["question"]) if "question" in sections else None

    def correct(answer: str) -> bool | None:
        if "reference" in sections:
            check = known.check if known is not None else None
            return grade(answer, sections["reference"], check)
        if known is not None and known.reference is not None:
            return grade(answer, known.reference, known.check)
        return None

    if "answer_a" in sections or "answer_b" in sections:
        a, b = sections.get("answer_a", ""), sections.get("answer_b", "")
        winner, reason = _pairwise(a, b, correct, family, quality.judge_bias, rng)
        return json.dumps({"winner": winner, "reason": reason})
    verdict = correct(sections.get("answer", ""))
    if verdict is None:
        score, reason = 3, "No reference to check against; the answer is plausible."
    elif verdict:
        score, reason = rng.choice((4, 5)), "The answer agrees with the reference."
    else:
        score, reason = rng.choice((1, 2)), "The answer does not match the reference."
    return json.dumps({"score": score, "passed": score >= 4, "reason": reason})


def _pairwise(
    a: str,
    b: str,
    correct: Any,
    family: str,
    bias: Mapping[str, float],
    rng: random.Random,
) -> tuple[str, str]:
    """(winner, reason): the biases first (each drawn in turn), then merit."""
    u_position, u_length, u_self = rng.random(), rng.random(), rng.random()
    if u_position < bias["position"]:
        return "A", "Answer A addresses the question more directly."
    if u_length < bias["length"] and len(a) != len(b):
        return ("A" if len(a) > len(b) else "B"), "The chosen answer is more thorough."
    own = [style_of(a) == family, style_of(b) == family]
    if u_self < bias["self"] and own[0] != own[1]:
        return ("A" if own[0] else "B"), "The chosen answer is clearer and better phrased."
    ca, cb = correct(a), correct(b)
    if ca is not None and cb is not None:
        if ca != cb:
            return ("A" if ca else "B"), "Only the chosen answer agrees with the reference."
        return "tie", "Both answers are equally correct." if ca else "Both answers are wrong."
    ha, hb = hedges(a), hedges(b)
    if ha != hb:
        return ("B" if ha else "A"), "The other answer hedges instead of answering."
    return "tie", "The answers are equally good."
