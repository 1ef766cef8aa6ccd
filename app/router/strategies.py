"""Routing strategies: objects that order the kept candidates (first = choice, rest = fallbacks).

One small interface, :class:`RoutingStrategy`, and a registry mapping a name to a class, so a router can take
``strategy="cost_optimized"`` and users can register their own::

    @register_strategy("my_strategy")
    class MyStrategy(RoutingStrategy):
        def rank(self, kept, analysis): ...

Strategies see only the policy's verdicts (feasible by construction): they never check the cap themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

from app.catalog.prior import HARD_TASKS
from app.errors import ConfigurationError
from app.pricing import AttoUsd, atto_usd_str
from app.router.analysis import PromptAnalysis
from app.router.decision import CandidateVerdict

__all__ = [
    "CheapestAboveFloor",
    "QualityFirst",
    "QualityFloor",
    "RoutingStrategy",
    "available_strategies",
    "get_strategy",
    "register_strategy",
]


def _cost(verdict: CandidateVerdict) -> AttoUsd:
    """Expected cost in atto-USD (ints and Decimals compare exactly); 0 when unknown."""
    cost = verdict.estimated_cost_atto
    return cost if cost is not None else 0


_KEY = attrgetter("key")
_QUALITY = attrgetter("quality")
_ESTIMATE = attrgetter("estimated_cost_atto")
_TRUNCATES = attrgetter("may_truncate")
_ASSUMED = attrgetter("quality_is_default")


def _sort_by_cost(verdicts: list[CandidateVerdict]) -> None:
    # kept verdicts are priced; the Python-level key is only for verdicts without a cost
    verdicts.sort(key=_cost if None in map(_ESTIMATE, verdicts) else _ESTIMATE)


def _by_quality(verdicts: Iterable[CandidateVerdict]) -> list[CandidateVerdict]:
    """Best quality first; then cheaper; then by name (deterministic). Stable sorts on C-level keys, last key
    first: several times faster than one sort on a Python key function, and this sorts every kept model (the sort
    by name is nearly free: the router considers each provider's models in name order)."""
    ordered = sorted(verdicts, key=_KEY)
    _sort_by_cost(ordered)
    ordered.sort(key=_QUALITY, reverse=True)
    return ordered


def _by_cost(verdicts: Iterable[CandidateVerdict]) -> list[CandidateVerdict]:
    """Cheapest first; then higher quality; then by name (deterministic); see :func:`_by_quality`."""
    ordered = sorted(verdicts, key=_KEY)
    ordered.sort(key=_QUALITY, reverse=True)
    _sort_by_cost(ordered)
    return ordered


def _best_quality(verdicts: Sequence[CandidateVerdict]) -> float:
    best: float = max(map(_QUALITY, verdicts))
    return best


def _complete_first(verdicts: Sequence[CandidateVerdict]) -> tuple[Sequence[CandidateVerdict], list[CandidateVerdict]]:
    """Split into models the cap lets answer at typical length, and those it may cut short."""
    if not any(map(_TRUNCATES, verdicts)):
        return verdicts, []
    return [v for v in verdicts if not v.may_truncate], [v for v in verdicts if v.may_truncate]


class RoutingStrategy(ABC):
    """Orders feasible candidates for one request. ``name`` is set by :func:`register_strategy`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def rank(self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis) -> tuple[list[CandidateVerdict], str]:
        """Return ``kept`` in order of preference (not empty when ``kept`` is not) and why the first was chosen."""


_REGISTRY: dict[str, type[RoutingStrategy]] = {}
S = TypeVar("S", bound=type[RoutingStrategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: register a strategy under ``name`` (a name can be registered once)."""

    def decorate(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigurationError(f"a routing strategy named {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def get_strategy(name: str, **options: Any) -> RoutingStrategy:
    """A new instance of the strategy registered as ``name``. Raises ConfigurationError for unknown names."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown routing strategy {name!r}; registered: {', '.join(available_strategies())}"
        ) from None
    return cls(**options)


def available_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


@register_strategy("heuristic")
class QualityFirst(RoutingStrategy):
    """Quality first: the model best suited to the task. Among models within ``tolerance`` of the best quality,
    the cheapest wins (paying 10× for a quality difference below the scores' precision is not "best suited")."""

    def __init__(self, tolerance: float = 0.03) -> None:
        if not 0 <= tolerance <= 1:
            raise ConfigurationError("tolerance must be in [0, 1]")
        self.tolerance = tolerance

    def rank(self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis) -> tuple[list[CandidateVerdict], str]:
        complete, cut = _complete_first(kept)
        ranked = self._rank(complete) + self._rank(cut)
        chosen = ranked[0]
        best = _best_quality(complete or cut)
        near = [v for v in complete or cut if v.quality >= best - self.tolerance]
        reason = f"best suited to {analysis.task_type}: quality {chosen.quality:.2f}"
        if len(near) > 1:
            reason += f", the cheapest of {len(near)} models within {self.tolerance:.2f} of the best ({best:.2f})"
        if chosen.may_truncate:
            reason += "; the cap may cut its answer short"
        return ranked, reason

    def _rank(self, verdicts: Sequence[CandidateVerdict]) -> list[CandidateVerdict]:
        if not verdicts:
            return []
        threshold = _best_quality(verdicts) - self.tolerance
        near_best = _by_cost([v for v in verdicts if v.quality >= threshold])
        rest = _by_quality([v for v in verdicts if v.quality < threshold])
        return [*near_best, *rest]


@dataclass(frozen=True, slots=True)
class QualityFloor:
    """The quality a model needs for a request; it rises with the request's complexity ``c`` in [0, 1]:

        floor = max(min(ceiling, base + per_complexity × c),  best − max_drop × (1 − c))

    The first term is absolute; the second keeps the choice within reach of the best affordable model for the
    task: a simple question may drop ``max_drop`` below the best, the most complex request nothing.
    """

    base: float = 0.5
    per_complexity: float = 0.4
    ceiling: float = 0.95
    max_drop: float = 0.25

    def __call__(self, analysis: PromptAnalysis, best: float) -> float:
        absolute = min(self.ceiling, self.base + self.per_complexity * analysis.complexity)
        return max(absolute, best - self.max_drop * (1 - analysis.complexity))


@register_strategy("cost_optimized")
class CheapestAboveFloor(RoutingStrategy):
    """The cheapest model (by expected cost) whose quality for the task meets a floor that rises with the
    request's complexity; ties by quality, then name. If no affordable model meets the floor, the best affordable
    one, and the reason says so."""

    def __init__(self, floor: QualityFloor | None = None) -> None:
        self.floor = floor or QualityFloor()

    def rank(self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis) -> tuple[list[CandidateVerdict], str]:
        complete, cut = _complete_first(kept)
        pool = complete or cut
        floor = self.floor(analysis, _best_quality(pool))
        meeting = _by_cost([v for v in pool if v.quality >= floor])
        if analysis.task_type in HARD_TASKS:  # an assumed quality never outranks a measured one on hard tasks
            meeting.sort(key=_ASSUMED)  # stable: cost order within each group
        below = _by_quality([v for v in pool if v.quality < floor])
        rest = _by_quality(cut) if complete else []
        if meeting:
            chosen = meeting[0]
            reason = (
                f"cheapest of {len(meeting)} models meeting the quality floor {floor:.3f} for {analysis.task_type} "
                f"(complexity {analysis.complexity:.2f}): quality {chosen.quality:.2f}, "
                f"est. ${atto_usd_str(_cost(chosen))}"
            )
        else:
            chosen = below[0]
            reason = (
                f"no affordable model meets the quality floor {floor:.3f} for {analysis.task_type}; "
                f"best affordable: quality {chosen.quality:.2f}"
            )
        if chosen.may_truncate:
            reason += "; the cap may cut its answer short"
        return [*meeting, *below, *rest], reason
