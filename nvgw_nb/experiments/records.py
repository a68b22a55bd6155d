"""The rows an experiment keeps: one `CallRecord` per call, one `Rating` per human mark.

Both are what a run's JSONL file holds, one per line (`{"type": "call", ...}`,
`{"type": "rating", ...}`), so a saved run reads back exactly (`Run.load`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

from nvgw_nb.experiments.scoring import Score
from nvgw_nb.results import Attempt

__all__ = ["CallRecord", "Judgement", "Rating", "call_key"]


class CallRecord(BaseModel):
    """One call of an experiment: which cell and case, who answered, what it cost, the
    answer, and every score. A failed call is a record too (`ok=False`, the error kind)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    cell: str
    axes: dict[str, Any]
    case_id: str
    repeat: int
    provider_asked: str | None
    role: str | None = None
    provider: str | None = None
    model: str | None = None
    fell_back: bool = False
    simulated: bool = False
    cached: bool = False
    ok: bool = True
    error_kind: str | None = None
    error: str | None = None
    latency_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    text: str | None = None
    scores: dict[str, Score] = {}
    #: every attempt that led to the answer or the failure (the trace: who was tried)
    attempts: list[Attempt] = []
    #: the call's identity (cell, case, repeat and request): a resumed run skips it
    key: str = ""

    @field_serializer("scores")
    def _dump_scores(self, scores: dict[str, Score]) -> dict[str, dict[str, Any]]:
        return {name: score.to_dict() for name, score in scores.items()}

    @field_validator("scores", mode="before")
    @classmethod
    def _load_scores(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                name: Score.from_dict(s) if isinstance(s, dict) else s for name, s in value.items()
            }
        return value

    @property
    def usable(self) -> bool:
        """An answer that counts for its cell's quality: it came back, from the provider
        the cell pinned (a call served by another provider is left out)."""
        return self.ok and not self.fell_back

    def score(self, name: str) -> float | None:
        """The value of score `name` (None when missing or not applicable)."""
        found = self.scores.get(name)
        return None if found is None else found.value


class Rating(BaseModel):
    """A human's mark in the matrix: pass/fail on one answer, or which of two is better."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["pass", "prefer"]
    case_id: str
    cell: str
    repeat: int = 0
    passed: bool | None = None
    other_cell: str | None = None
    winner: Literal["a", "b", "tie"] | None = None


class Judgement(BaseModel):
    """One pairwise judge verdict, kept so asking again is free: the winner is an arm
    ("a" is `cell_a`), with the slot order it was asked in."""

    model_config = ConfigDict(frozen=True)

    judge: str
    case_id: str
    cell_a: str
    cell_b: str
    a_first: bool
    winner: Literal["a", "b", "tie"] | None
    reason: str = ""
    tokens: int = 0
    cost_usd: float = 0.0


def call_key(cell: str, case_id: str, repeat: int, request: dict[str, Any]) -> str:
    """A short stable digest of one call: same cell, case, repeat and request → same key."""
    material = json.dumps(
        {"cell": cell, "case": case_id, "repeat": repeat, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:24]
