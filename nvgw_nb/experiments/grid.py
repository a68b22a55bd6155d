"""`Experiment`: cases × the cells of a grid over any call setting × repeats — lazy.

Nothing is sent until `run()`. Each cell pins its provider: no hidden fallback inside a
column, so a column of NIM answers is NIM's (a call still served by another provider is
flagged `fell_back` and left out of that provider's quality numbers).

>>> exp = session.experiment(cases, vary={"provider": ["nvidia-nim", "nvidia-gateway"],
...                                       "system": {"plain": "", "terse": "Answer only."}},
...                          scorers=[nv.checks.expected()], repeats=3)  # doctest: +SKIP
>>> exp.plan()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import BaseModel

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import Case, number_cases
from nvgw_nb.experiments.records import call_key
from nvgw_nb.experiments.scoring import Scorer, validate_scorers
from nvgw_nb.options import check_options
from nvgw_nb.results import ChatRequest, ChatResult
from nvgw_nb.steps import CallPolicy, Step

if TYPE_CHECKING:
    from nvgw_nb.experiments.plan import Plan
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.session import Session

__all__ = ["AXES", "Cell", "Experiment", "ExperimentJob", "expand_grid"]

#: axes with a meaning of their own; any other call keyword (seed, stop, ...) works too
AXES = ("provider", "model", "system", "template", "temperature", "top_p", "max_tokens", "role")
#: keywords an axis or the experiment's fixed options may not set: the grid owns them
_OWNED = frozenset({"providers", "fallbacks", "messages", "cache"})


class ExperimentOptions(TypedDict, total=False):
    """The call keywords every cell shares (`session.experiment(..., temperature=0)`):
    those of `chat` but the provider order (each cell pins one) and `seed` (the
    experiment's own seed; vary {"seed": [...]} to send one)."""

    system: str | None
    role: str | None
    models: Mapping[str, str] | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    response_format: type[BaseModel] | Mapping[str, Any] | None
    validator: Callable[[ChatResult], object] | None
    repair: bool | None
    hedge_after: float | Literal["p95"] | None


@dataclass(frozen=True)
class Cell:
    """One column of the grid: its axis values (labels), the provider it pins, and the
    call keywords it adds."""

    id: str
    label: str
    axes: dict[str, Any]
    provider: str
    options: dict[str, Any] = field(default_factory=dict)
    template: str | None = None

    def matches(self, selector: Mapping[str, Any]) -> bool:
        """True when every axis named in `selector` has that value here."""
        return all(self.axes.get(axis) == value for axis, value in selector.items())


@dataclass(frozen=True)
class ExperimentJob:
    """One call of an experiment, checked before anything is sent."""

    cell: Cell
    case: Case
    repeat: int
    request: ChatRequest
    steps: list[Step]
    policy: CallPolicy
    key: str


def _labelled(axis: str, values: Any) -> list[tuple[Any, Any]]:
    """(label, value) pairs of one axis: a dict's keys label its values; a list labels
    each value by itself (long texts by their start)."""
    if isinstance(values, Mapping):
        pairs = [(str(k), v) for k, v in values.items()]
    elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(
            f"vary[{axis!r}] must be a list of values (or a dict of label: value), "
            f"not {type(values).__name__}"
        )
    else:
        pairs = [(_label(v), v) for v in values]
    if not pairs:
        raise ConfigError(f"vary[{axis!r}] has no values")
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"vary[{axis!r}] has two values with the same label; use a dict")
    return pairs


def _label(value: Any) -> Any:
    if isinstance(value, str):
        line = " ".join(value.split())
        return line if len(line) <= 32 else line[:31] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def expand_grid(
    vary: Mapping[str, Any], default_provider: str, fixed: Mapping[str, Any]
) -> list[Cell]:
    """The cells of `vary` (provider, then model, then the other axes in order).

    `model` is a list when one provider is in play, else a dict provider → list.
    """
    vary = dict(vary)
    for axis in vary:
        if axis in _OWNED or axis == "models":
            hint = (
                " (vary 'provider' and 'model' instead)" if axis in ("providers", "models") else ""
            )
            raise ConfigError(f"vary[{axis!r}]: the grid sets {axis} itself{hint}")
    providers = (
        [str(v) for _, v in _labelled("provider", vary.pop("provider"))]
        if ("provider" in vary)
        else [default_provider]
    )
    models = vary.pop("model", None)
    others = [(axis, _labelled(axis, values)) for axis, values in vary.items()]
    cells: list[Cell] = []
    for provider in providers:
        for model in _models_for(models, provider, providers):
            for combo in itertools.product(*(pairs for _, pairs in others)):
                axes: dict[str, Any] = {"provider": provider}
                options: dict[str, Any] = {}
                template = None
                if model is not None:
                    axes["model"] = model
                    options["models"] = {provider: model}
                for (axis, _), (label, value) in zip(others, combo, strict=True):
                    axes[axis] = label
                    if axis == "template":
                        template = str(value)
                    elif axis == "system" and not value:
                        options["system"] = None  # "" means: no system message
                    else:
                        options[axis] = value
                shown = [str(v) for a, v in axes.items() if a != "provider" or len(providers) > 1]
                cell_id = " · ".join(f"{a}={v}" for a, v in axes.items())
                label = " · ".join(shown) or provider
                cells.append(Cell(cell_id, label, axes, provider, options, template))
    fixed_axes = set(fixed) & {a for c in cells for a in c.axes}
    if fixed_axes:
        raise ConfigError(f"{sorted(fixed_axes)[0]!r} is both varied and fixed; choose one")
    return cells


def _models_for(models: Any, provider: str, providers: Sequence[str]) -> list[str | None]:
    if models is None:
        return [None]
    if isinstance(models, Mapping):
        unknown = set(models) - set(providers)
        if unknown:
            raise ConfigError(
                f"vary['model'] names {sorted(unknown)[0]!r}, which is not a provider of the grid"
            )
        chosen = models.get(provider)
        return [str(m) for _, m in _labelled("model", chosen)] if chosen else [None]
    if len(providers) > 1:
        raise ConfigError(
            "vary['model'] is a list but several providers vary; give a dict {provider: [models]}"
        )
    return [str(m) for _, m in _labelled("model", models)]


class Experiment:
    """Cases × cells × repeats, with scorers: lazy and immutable (`session.experiment`).

    `plan()` says what it will cost before anything is spent; `run()` / `arun()` run it.
    """

    def __init__(
        self,
        session: Session,
        cases: Iterable[Case | str | Mapping[str, Any]],
        *,
        vary: Mapping[str, Any] | None = None,
        repeats: int = 1,
        scorers: Sequence[Scorer] = (),
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        cache: bool = True,
        label: str = "experiment",
    ) -> None:
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(f"repeats must be a whole number ≥ 1, got {repeats!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        fixed = dict(options or {})
        if "system" in fixed and not fixed["system"]:
            fixed["system"] = None  # "" means: no system message, as on the system axis
        # `seed` here is the wire seed (compare() passes it through); session.experiment's
        # own `seed` is the statistics' seed: vary {"seed": [...]} to send one from there.
        check_options(
            "experiment", {k: v for k, v in fixed.items() if k != "seed"}, ExperimentOptions
        )
        self.session = session
        self.cases: tuple[Case, ...] = tuple(number_cases(cases))
        self.scorers: tuple[Scorer, ...] = tuple(validate_scorers(scorers))
        self.repeats = repeats
        self.seed = seed
        self.options = fixed
        self.vary = dict(vary or {})
        #: read and feed the Session's response cache (compare() measures: it does not)
        self.cache = cache
        #: the progress bar's name
        self.label = label
        self.cells: tuple[Cell, ...] = tuple(
            expand_grid(self.vary, session.provider_order[0], fixed)
        )
        #: the Run of the last `run()` / `arun()`, also when it was interrupted
        self.last_run: Run | None = None
        self.jobs()  # every call checked now: a bad keyword fails here, not mid-run

    @property
    def simulated(self) -> bool:
        """True when the Session talks to the built-in simulator."""
        return self.session.simulated

    def jobs(self) -> list[ExperimentJob]:
        """Every call, repeat by repeat, each case on every cell in turn (so load over time
        hits every cell alike); all checked before any is sent."""
        prepare = self.session._prepare_job
        has_cache = self.session.cache is not None
        jobs = []
        for repeat in range(self.repeats):
            for case in self.cases:
                for cell in self.cells:
                    options = {**self.options, **cell.options}
                    if case.role and "role" not in options:
                        options["role"] = case.role
                    options.update(providers=[cell.provider], fallbacks=False)
                    request, steps, policy = prepare(case.text(cell.template), options)
                    assert case.id is not None
                    key = call_key(cell.id, case.id, repeat, _wire(request, steps))
                    # Measure: no breaker skips a pinned call. The cache is read per repeat
                    # (its key salted with the repeat), so a re-run is free and a repeat is
                    # never another repeat's answer.
                    policy = dataclasses.replace(
                        policy,
                        use_breakers=False,
                        use_cache=policy.use_cache and has_cache and self.cache,
                        cache_salt=f"repeat={repeat}",
                    )
                    jobs.append(ExperimentJob(cell, case, repeat, request, steps, policy, key))
        return jobs

    def plan(self) -> Plan:
        """Cells, calls, tokens, dollars (subject / judge / embedding), wall time at the
        Session's rate limits, the minimum detectable effects, and warnings."""
        from nvgw_nb.experiments.plan import make_plan

        return make_plan(self)

    def run(
        self,
        *,
        concurrency: int = 8,
        budget_usd: float | None = None,
        max_calls: int | None = None,
        save_to: str | Path | None = None,
        progress: bool = True,
    ) -> Run:
        """Make the calls and score them → `Run`.

        `save_to="run.jsonl"` appends each call as it finishes; running again with the
        same file makes only the missing calls. `budget_usd` / `max_calls` stop cleanly
        (the Run says so). Ctrl-C keeps the finished calls (in the file and in
        `experiment.last_run`).
        """
        from nvgw_nb.experiments.execution import execute

        return execute(
            self,
            concurrency=concurrency,
            budget_usd=budget_usd,
            max_calls=max_calls,
            save_to=save_to,
            progress=progress,
        )

    async def arun(
        self,
        *,
        concurrency: int = 8,
        budget_usd: float | None = None,
        max_calls: int | None = None,
        save_to: str | Path | None = None,
        progress: bool = True,
    ) -> Run:
        """`run` for `await` (task cancellation keeps finished calls in `last_run`)."""
        from nvgw_nb.experiments.execution import aexecute

        return await aexecute(
            self,
            concurrency=concurrency,
            budget_usd=budget_usd,
            max_calls=max_calls,
            save_to=save_to,
            progress=progress,
        )

    def __repr__(self) -> str:
        sim = ", simulated" if self.simulated else ""
        return (
            f"Experiment({len(self.cases)} cases × {len(self.cells)} cells × "
            f"{self.repeats} repeats = {len(self.cases) * len(self.cells) * self.repeats} "
            f"calls, scorers={[s.name for s in self.scorers]}{sim})"
        )


def _wire(request: ChatRequest, steps: Sequence[Step]) -> dict[str, Any]:
    """What identifies a call's request: the wire body and the pinned provider/model."""
    body = request.model_dump(mode="json", exclude={"stream"}, exclude_none=True)
    return {"request": body, "steps": [(s.provider, s.model) for s in steps if not s.skip]}
