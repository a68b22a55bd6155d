"""Judges: a model grades answers (`nv.judges`).

`rubric(criteria)` and `reference()` grade one answer at a time on a 1-5 scale (value =
(score - 1) / 4, passed as the judge says); `pairwise(criteria)` compares two answers and
is used by `Run.pairwise`, which asks it in both orders. Judge calls go through the same
Session as the answers (`providers=[judge]`, no fallback, temperature 0, a JSON verdict
as `response_format`), so they are traced, rate limited, cached and costed; the tokens
and dollars they spend are on each Score, apart from the answer's.

A judge that fails (an error, or a reply that is not a verdict) scores
`Score(None, None, "judge failed: <kind>")` with what the call spent; it never raises,
except `ConfigError` for a judge the Session cannot use.

Judges prefer their own family's answers (self-preference): `model_family` names a
model's family, and `suggest_other_judge` picks a configured provider of another one.

>>> scorers = [nv.judges.rubric("Answers the question correctly and briefly.")]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from nvgw_nb.errors import AllProvidersFailed, ConfigError, NvgwError
from nvgw_nb.experiments.checks import reference_text
from nvgw_nb.experiments.judge_prompts import (
    PAIRWISE_SYSTEM,
    SINGLE_SYSTEM,
    PairwiseVerdict,
    SingleVerdict,
    pairwise_prompt,
    read_verdict,
    single_prompt,
)
from nvgw_nb.experiments.scoring import Score, Scorer, ScoringContext, Subject, check_name
from nvgw_nb.untrusted import cut

if TYPE_CHECKING:
    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.results import Attempt
    from nvgw_nb.session import Session

__all__ = [
    "DEFAULT_JUDGE",
    "FAMILIES",
    "JudgeScorer",
    "PairVerdict",
    "PairwiseJudge",
    "model_family",
    "pairwise",
    "reference",
    "rubric",
    "suggest_other_judge",
]

#: the provider that judges unless `judge=` says otherwise
DEFAULT_JUDGE = "nvidia-gateway"
FAMILIES = ("gpt", "llama", "claude", "gemini", "other")
#: tokens one judge call is assumed to take (prompt and verdict), for plans
SINGLE_TOKENS = 800
PAIR_TOKENS = 1200
DEFAULT_REFERENCE_CRITERIA = (
    "The answer is correct: it agrees with the reference answer on every point that "
    "matters. Wording, length and extra correct detail do not matter."
)

_PROVIDER_FAMILIES = {
    "nvidia-gateway": "gpt",  # the LLM Gateway's deployments are Azure OpenAI models
    "openai": "gpt",
    "nvidia-nim": "llama",  # NIM's default models are Llama
    "anthropic": "claude",
    "google": "gemini",
}
_O_SERIES = re.compile(r"(^|/)o[1-9]\b")

V = TypeVar("V", bound=BaseModel)


def model_family(model_or_provider: str) -> str:
    """The family of a model (or of a provider's usual models): "gpt", "llama", "claude",
    "gemini" or "other" — what self-preference follows.

    >>> model_family("meta/llama-4-scout-17b-16e-instruct"), model_family("gpt-4o")
    ('llama', 'gpt')
    """
    name = model_or_provider.strip().lower()
    if name in _PROVIDER_FAMILIES:
        return _PROVIDER_FAMILIES[name]
    if "claude" in name or name.startswith("anthropic"):
        return "claude"
    if "gemini" in name or "gemma" in name:
        return "gemini"
    if "llama" in name or "nemotron" in name or name.startswith("meta/"):
        return "llama"
    if "gpt" in name or _O_SERIES.search(name) or name.startswith("openai/"):
        return "gpt"
    return "other"


def _check_judge(judge: object, model: object, criteria: object, *, optional: bool) -> None:
    if not isinstance(judge, str) or not judge.strip():
        raise ConfigError(f"judge= must be a provider name, e.g. {DEFAULT_JUDGE!r}")
    from nvgw_nb.providers import registry

    if judge not in registry.names():
        known = ", ".join(sorted(registry.names()))
        raise ConfigError(f"judge={judge!r} is not a provider (known: {known})")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigError("model= must be a model name (or None: the judge's default)")
    if criteria is None and optional:
        return
    if not isinstance(criteria, str) or not criteria.strip():
        raise ConfigError("criteria must be a non-empty string saying what a good answer is")


def _resolve(session: Session, judge: str, model: str | None) -> tuple[str, str]:
    """(provider, model) of the judge in `session`; ConfigError when it cannot be used."""
    steps = session.plan(providers=[judge], fallbacks=False)
    if steps[0].skip is not None:
        raise ConfigError(f"the judge {judge} cannot be used: {steps[0].skip}")
    return judge, model or steps[0].model


def _spent(attempts: list[Attempt]) -> tuple[int, float]:
    tokens = sum(
        a.usage.prompt_tokens + a.usage.completion_tokens for a in attempts if a.usage is not None
    )
    return tokens, sum(a.cost_usd for a in attempts)


def _failure_kind(err: NvgwError) -> str:
    if isinstance(err, AllProvidersFailed):
        kinds = [a.error_kind for a in err.attempts if a.error_kind]
        if kinds:
            return kinds[-1]
    return err.kind


async def _ask(
    session: Session, judge: str, model: str, system: str, user: str, kind: type[V]
) -> tuple[V | None, int, float, str | None]:
    """Ask the judge: (verdict or None, tokens, cost, failure kind or None)."""
    try:
        result = await session.achat(
            user,
            system=system,
            providers=[judge],
            fallbacks=False,
            models={judge: model},
            temperature=0,
            response_format=kind,
            repair=True,  # a verdict in a ```json fence is still a verdict
        )
    except ConfigError:
        raise
    except NvgwError as err:
        tokens, cost = _spent(err.attempts)
        return None, tokens, cost, _failure_kind(err)
    tokens = result.usage.prompt_tokens + result.usage.completion_tokens
    verdict = read_verdict(kind, result.parsed, result.content)
    if verdict is None:
        return None, tokens, result.cost_usd, "unparseable verdict"
    return verdict, tokens, result.cost_usd, None


class JudgeScorer(Scorer):
    """A model grades one answer on 1-5 against criteria (and the reference, if any)."""

    kind: ClassVar[str] = "judge"

    def __init__(
        self,
        criteria: str,
        *,
        judge: str,
        model: str | None,
        name: str,
        needs_reference: bool,
    ) -> None:
        super().__init__(name)
        self.criteria = criteria
        #: the judging provider, and its model (None: the Session's default for it)
        self.judge_provider = judge
        self.judge_model = model
        self.needs_reference = needs_reference

    @property
    def family(self) -> str:
        """The judge's model family (of its provider's usual models when no model given)."""
        return model_family(self.judge_model or self.judge_provider)

    def resolve(self, session: Session) -> tuple[str, str]:
        """(provider, model) this judge uses in `session`; ConfigError when unusable."""
        return _resolve(session, self.judge_provider, self.judge_model)

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        if subject.text is None:
            return Score(None, None, "no answer", kind="judge")
        case = subject.case
        if self.needs_reference and case.reference is None:
            return Score(None, None, "no reference", kind="judge")
        session = ctx.require_session(f"the judge {self.name!r}")
        judge, model = self.resolve(session)
        given = None if case.reference is None else reference_text(case.reference)
        user = single_prompt(case.text(), subject.text, self.criteria, given)
        verdict, tokens, cost, failure = await _ask(
            session, judge, model, SINGLE_SYSTEM, user, SingleVerdict
        )
        if verdict is None:
            return Score(None, None, f"judge failed: {failure}", tokens, cost, kind="judge")
        return Score(
            verdict.value, verdict.passed, cut(verdict.reason, 300), tokens, cost, kind="judge"
        )

    def estimate(self, n_answers: int) -> tuple[int, int]:
        return (n_answers, n_answers * SINGLE_TOKENS)


def rubric(
    criteria: str,
    *,
    judge: str = DEFAULT_JUDGE,
    model: str | None = None,
    name: str = "rubric",
) -> JudgeScorer:
    """A judge model grades each answer against `criteria` (1-5, value (score-1)/4, pass as
    the judge says); the case's reference is shown to the judge when there is one.

    `judge` is a provider name, `model` its model (default: the Session's for it).
    """
    _check_judge(judge, model, criteria, optional=False)
    return JudgeScorer(
        criteria, judge=judge, model=model, name=check_name(name), needs_reference=False
    )


def reference(
    criteria: str | None = None,
    *,
    judge: str = DEFAULT_JUDGE,
    model: str | None = None,
    name: str = "reference",
) -> JudgeScorer:
    """A judge model grades each answer against the case's reference (reference-guided
    grading: far better than a bare judge on facts and maths). A case without a
    reference scores None."""
    _check_judge(judge, model, criteria, optional=True)
    return JudgeScorer(
        criteria if criteria is not None else DEFAULT_REFERENCE_CRITERIA,
        judge=judge,
        model=model,
        name=check_name(name),
        needs_reference=True,
    )


@dataclass(frozen=True)
class PairVerdict:
    """Which of two answers a judge preferred: "first", "second" or "tie" (in the order
    they were shown), why, and what the call cost. `failed`: the judge gave no verdict
    (winner is then "tie" and should be left out)."""

    winner: Literal["first", "second", "tie"]
    reason: str
    tokens: int = 0
    cost_usd: float = 0.0
    failed: bool = False


_WINNERS: dict[str, Literal["first", "second", "tie"]] = {
    "A": "first",
    "B": "second",
    "tie": "tie",
}


class PairwiseJudge:
    """Compares two answers to one case (`ajudge`); `Run.pairwise` asks in both orders."""

    name = "pairwise"

    def __init__(self, criteria: str, *, judge: str, model: str | None) -> None:
        self.criteria = criteria
        self.judge_provider = judge
        self.judge_model = model

    @property
    def family(self) -> str:
        """The judge's model family (of its provider's usual models when no model given)."""
        return model_family(self.judge_model or self.judge_provider)

    def resolve(self, session: Session) -> tuple[str, str]:
        """(provider, model) this judge uses in `session`; ConfigError when unusable."""
        return _resolve(session, self.judge_provider, self.judge_model)

    def family_in(self, session: Session) -> str:
        """The family of the model this judge uses in `session`."""
        return model_family(self.resolve(session)[1])

    async def ajudge(
        self, case: Case, first: str | None, second: str | None, ctx: ScoringContext
    ) -> PairVerdict:
        """The judge's verdict with `first` in slot A and `second` in slot B."""
        if first is None or second is None:
            return PairVerdict("tie", "no answer", failed=True)
        session = ctx.require_session("the pairwise judge")
        judge, model = self.resolve(session)
        given = None if case.reference is None else reference_text(case.reference)
        user = pairwise_prompt(case.text(), first, second, self.criteria, given)
        verdict, tokens, cost, failure = await _ask(
            session, judge, model, PAIRWISE_SYSTEM, user, PairwiseVerdict
        )
        if verdict is None:
            return PairVerdict("tie", f"judge failed: {failure}", tokens, cost, failed=True)
        return PairVerdict(_WINNERS[verdict.winner], cut(verdict.reason, 300), tokens, cost)

    def estimate(self, n_calls: int) -> tuple[int, int]:
        """(calls, tokens) for `n_calls` judgements (a pair in both orders is two)."""
        return (n_calls, n_calls * PAIR_TOKENS)

    def __repr__(self) -> str:
        shown = self.judge_model or "default model"
        return f"<PairwiseJudge {self.judge_provider} ({shown})>"


def pairwise(
    criteria: str, *, judge: str = DEFAULT_JUDGE, model: str | None = None
) -> PairwiseJudge:
    """A judge that compares two answers to the same case against `criteria`. Used by
    `run.pairwise(axis=..., judge=judges.pairwise(...))`, which judges every pair in both
    orders (a disagreement is a tie) and reports the judge's position consistency."""
    _check_judge(judge, model, criteria, optional=False)
    return PairwiseJudge(criteria, judge=judge, model=model)


def suggest_other_judge(
    contestant_families: Collection[str], session: Session
) -> tuple[str, str] | None:
    """A configured (provider, model) whose family is none of the contestants', to judge
    without self-preference; None when the Session has none."""
    for provider in session.provider_order:
        try:
            step = session.plan(providers=[provider], fallbacks=False)[0]
        except ConfigError:
            continue
        if step.skip is not None:
            continue
        family = model_family(step.model)
        if family != "other" and family not in contestant_families:
            return provider, step.model
    return None
