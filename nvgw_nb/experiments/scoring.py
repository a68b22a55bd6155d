"""What scoring an answer means: `Score`, the `Subject` a scorer sees, and the base classes.

A scorer turns one answer (`Subject`) into a `Score`. Checks (`nvgw_nb.experiments.checks`)
are cheap and local; judges (`nvgw_nb.experiments.judges`) and `checks.similar` call a
model through the Session in `ScoringContext`, and their tokens and cost are recorded on
the Score, apart from the subject call's.

>>> Score(1.0, True, "found 'Paris'").to_dict()["passed"]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from nvgw_nb.errors import ConfigError

if TYPE_CHECKING:
    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.session import Session

__all__ = [
    "Check",
    "Score",
    "ScoreKind",
    "Scorer",
    "ScoringContext",
    "Subject",
    "check_name",
    "validate_scorers",
]

ScoreKind = Literal["check", "judge", "embedding", "human"]


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one answer.

    `value` is usually in 0..1 (None: the scorer does not apply, e.g. no reference);
    `passed` is None for scorers that are not pass/fail. `tokens` and `cost_usd` are what
    the scorer itself spent (judge and embedding calls), never the answer's own.
    """

    value: float | None
    passed: bool | None
    reason: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    kind: str = "check"

    @property
    def applies(self) -> bool:
        """False when the scorer did not apply (no answer, no reference, judge failed)."""
        return self.value is not None or self.passed is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what run files store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Score:
        """Read back what `to_dict` wrote; unknown keys are ignored."""
        value = data.get("value")
        passed = data.get("passed")
        return cls(
            value=None if value is None else float(value),
            passed=None if passed is None else bool(passed),
            reason=str(data.get("reason") or ""),
            tokens=int(data.get("tokens") or 0),
            cost_usd=float(data.get("cost_usd") or 0.0),
            kind=str(data.get("kind") or "check"),
        )


def verdict(passed: bool, reason: str, *, kind: str = "check") -> Score:
    """A pass/fail Score with value 1.0 or 0.0."""
    return Score(1.0 if passed else 0.0, passed, reason, kind=kind)


def not_applicable(
    reason: str, *, kind: str = "check", tokens: int = 0, cost: float = 0.0
) -> Score:
    """A Score saying the scorer did not apply (value and passed None)."""
    return Score(None, None, reason, tokens=tokens, cost_usd=cost, kind=kind)


@dataclass(frozen=True)
class Subject:
    """What a scorer sees of one answer: the case, the answer's text (None: the call
    failed), who answered, the cell it belongs to and the repeat index."""

    case: Case
    text: str | None
    provider: str | None = None
    model: str | None = None
    cell: str = ""
    repeat: int = 0


@dataclass(frozen=True)
class ScoringContext:
    """What scorers may use besides the answer: the Session (judges and embeddings call
    through it), the experiment's seed, and human pass/fail marks keyed by
    (case_id, cell, repeat) (read by `checks.human()`)."""

    session: Session | None = None
    seed: int = 0
    ratings: Mapping[tuple[str, str, int], bool] = field(default_factory=dict)

    def require_session(self, who: str) -> Session:
        """The Session, or a ConfigError naming the scorer that needs one."""
        if self.session is None:
            raise ConfigError(f"{who} calls a model: score it with a Session in the context")
        return self.session


class Scorer:
    """Base class of every scorer: a `name` (its column in tables) and a `kind`.

    Subclasses implement `ascore`; `estimate` tells the plan how many calls and tokens
    scoring `n_answers` answers costs (0, 0 for local checks).
    """

    kind: ClassVar[str] = "check"

    def __init__(self, name: str) -> None:
        self.name = check_name(name)

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        """Score one answer. Never raises for a bad answer: a Score says what was wrong."""
        raise NotImplementedError

    def estimate(self, n_answers: int) -> tuple[int, int]:
        """(calls, tokens) that scoring `n_answers` answers will spend."""
        return (0, 0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Check(Scorer):
    """A local, synchronous scorer: implement `check(subject) -> Score`.

    A failed call (no answer text) scores `Score(None, None, "no answer")` without
    calling `check`.
    """

    kind: ClassVar[str] = "check"

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        if subject.text is None:
            return not_applicable("no answer")
        return self.check(subject)

    def check(self, subject: Subject) -> Score:
        """Grade `subject.text` (never None here)."""
        raise NotImplementedError


def check_name(name: object) -> str:
    """`name` if it can name a column (a non-empty string), else a ConfigError."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a scorer's name must be a non-empty string, not {name!r}")
    return name


def validate_scorers(scorers: Iterable[object]) -> list[Scorer]:
    """The scorers as a list; ConfigError naming a non-scorer or a duplicate name.

    >>> validate_scorers([])
    []
    """
    if isinstance(scorers, Scorer):
        raise ConfigError("scorers must be a list of scorers, e.g. scorers=[nv.checks.expected()]")
    out: list[Scorer] = []
    seen: set[str] = set()
    for index, scorer in enumerate(scorers):
        if not isinstance(scorer, Scorer):
            hint = " (call it: checks.expected(), not checks.expected)" if callable(scorer) else ""
            raise ConfigError(
                f"scorers[{index}] is not a scorer but {type(scorer).__name__}{hint}; use "
                "nv.checks.* or nv.judges.*"
            )
        if scorer.name in seen:
            raise ConfigError(
                f"two scorers are named {scorer.name!r}: pass name=... to tell them apart"
            )
        seen.add(scorer.name)
        out.append(scorer)
    return out
