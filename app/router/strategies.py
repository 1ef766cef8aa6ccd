"""Routing strategies: objects that order the kept candidates (first = choice, rest = fallbacks).

One small interface, :class:`RoutingStrategy`, and a registry mapping a name to a class, so a router can take
``strategy="cost_optimized"`` and users can register their own::

    @register_strategy("my_strategy")
    class MyStrategy(RoutingStrategy):
        def rank(self, kept, analysis, quality_share): ...

Strategies see only the policy's verdicts (feasible by construction): they never check the cap themselves. They rank
by each verdict's ``expected_quality`` (quality for the task times the chance that the answer fits the ``max_tokens``
the cap leaves), so a model the cap would cut short loses by how likely that is, not by a blanket rule.

The cost/quality knob, ``quality_share`` in [0, 1]: **the share of the best affordable model's expected quality a
request must keep**; among the models that keep it, the cheapest wins. ``1`` always takes the best model (the
cheapest of equals), ``0`` the cheapest adequate one. The built-in strategies admit the models with
``expected_quality ≥ threshold(share)`` for a threshold that never falls as the share rises, so sweeping the share
moves the choice monotonically: its expected quality and its expected cost never go down (the admitted sets are
nested, and the cheapest of a smaller set costs at least as much). ``None`` means the strategy's own default.
With per-prompt figures (a learned quality model's probabilities, :mod:`app.router.quality`) the knob's threshold is
``best − (1 − share)`` instead of ``share × best`` (:func:`knob_threshold`): the same nesting, on an absolute scale.
One rule comes before price: on hard tasks (``app.catalog.prior.HARD_TASKS``) an assumed quality never outranks a
measured one — the best is the best measured model's, and admitted measured models come before assumed ones — so
with assumed-quality models in the pool the choice's quality still never falls, but its cost may.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, TypeVar, cast

from app.catalog.prior import HARD_TASKS
from app.errors import ConfigurationError, InvalidRequestError
from app.pricing import AttoUsd, atto_usd_str
from app.router.analysis import PromptAnalysis
from app.router.decision import CandidateVerdict

__all__ = [
    "DEFAULT_QUALITY_SHARE",
    "CheapestAboveFloor",
    "QualityFirst",
    "QualityFloor",
    "RoutingStrategy",
    "available_strategies",
    "get_strategy",
    "knob_threshold",
    "per_prompt_of",
    "quality_share_of_header",
    "register_strategy",
    "validate_quality_share",
]


def _cost(verdict: CandidateVerdict) -> AttoUsd:
    """Expected cost in atto-USD (ints and Decimals compare exactly); 0 when unknown."""
    cost = verdict.estimated_cost_atto
    return cost if cost is not None else 0


_KEY = attrgetter("key")
_QUALITY = attrgetter("expected_quality")
_ESTIMATE = attrgetter("estimated_cost_atto")
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


def validate_quality_share(value: Any, *, name: str = "quality_share") -> float | None:
    """``None`` or a number in [0, 1] as a float. Raises InvalidRequestError otherwise (bools, NaN, strings...)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{name} must be a number in [0, 1], got {value!r}", param=name)
    share = float(value)
    if not 0.0 <= share <= 1.0:  # also false for NaN
        raise InvalidRequestError(f"{name} must be a number in [0, 1], got {value!r}", param=name)
    return share


def quality_share_of_header(text: str, *, name: str = "X-Quality-Share") -> float:
    """A header's text (``"0.95"``) as a ``quality_share`` in [0, 1]. Raises InvalidRequestError otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidRequestError(f"{name} must be a number in [0, 1], got {text!r}", param=name) from None
    return cast(float, validate_quality_share(value, name=name))  # None only for None


def _cheapest_admitted(
    kept: Sequence[CandidateVerdict], threshold: float
) -> tuple[list[CandidateVerdict], list[CandidateVerdict]]:
    """``(the models with expected quality ≥ threshold, cheapest first; the others, best first)``."""
    admitted = _by_cost([v for v in kept if v.expected_quality >= threshold])
    others = _by_quality([v for v in kept if v.expected_quality < threshold])
    return admitted, others


def _best_and_admitted(
    kept: Sequence[CandidateVerdict], analysis: PromptAnalysis, threshold_of: Callable[[float], float]
) -> tuple[float, float, list[CandidateVerdict], list[CandidateVerdict]]:
    """``(best, threshold, admitted cheapest first, the others best first)``. On hard tasks an assumed quality (a
    prior, or none) never outranks a measured one: the best is the best measured model's when there is one, and
    among the admitted the measured models come first (cost order within each group)."""
    hard = analysis.task_type in HARD_TASKS
    measured = [v for v in kept if not v.quality_is_default] if hard else kept
    best = _best_quality(measured or kept)
    threshold = threshold_of(best)
    admitted, others = _cheapest_admitted(kept, threshold)
    if hard:
        admitted.sort(key=_ASSUMED)
    return best, threshold, admitted, others


def knob_threshold(best: float, share: float, per_prompt: bool) -> float:
    """The knob's part of the threshold: ``share × best`` for per-task figures; for per-prompt figures (a learned
    model's probabilities that this prompt is answered well) ``max(0, best − (1 − share))``, the best minus the
    share of a whole answer given up. Both never fall as ``share`` rises and equal ``best`` at 1.

    Why two rules: a ratio of per-prompt probabilities ranks prompts by the wrong figure — with two models the strong
    one is worth sending when ``q_strong − q_weak`` is large, and the ratio rule sends prompts both models likely
    fail (0.2 vs 0.1: ratio 0.5) before prompts only the strong one answers (0.9 vs 0.6: ratio 0.67).
    Measured with ``costmux eval`` (docs/routing-quality.md)."""
    return max(0.0, best - (1.0 - share)) if per_prompt else share * best


def per_prompt_of(kept: Sequence[CandidateVerdict]) -> bool:
    """Whether the knob reads these candidates' figures as per-prompt (:func:`knob_threshold`): any of them is."""
    return any(verdict.quality_per_prompt for verdict in kept)


def _cut_note(chosen: CandidateVerdict) -> str:
    """Said when the cap leaves the choice a real chance (over 10%) of a cut answer."""
    if chosen.expected_quality < 0.9 * chosen.quality:
        return f"; the cap may cut its answer (expected quality {chosen.expected_quality:.2f})"
    return "; the cap may cut its answer short" if chosen.may_truncate else ""


class RoutingStrategy(ABC):
    """Orders feasible candidates for one request. ``name`` is set by :func:`register_strategy`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def rank(
        self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis, quality_share: float | None = None
    ) -> tuple[list[CandidateVerdict], str]:
        """Return ``kept`` in order of preference (not empty when ``kept`` is not) and why the first was chosen.

        ``quality_share`` is the cost/quality knob of the module doc (validated, in [0, 1]), ``None`` for the
        strategy's default; a strategy without a trade-off may ignore it."""


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


#: The default of ``quality_share`` for ``cost_optimized``, chosen by measurement with ``costmux eval``
#: (docs/routing-quality.md): 0.9.
DEFAULT_QUALITY_SHARE: float = 0.9


@register_strategy("heuristic")
class QualityFirst(RoutingStrategy):
    """Quality first: the model best suited to the task. Among the models that keep ``default_share`` (0.97) of the
    best expected quality, the cheapest wins (paying 10× for a difference below the scores' precision is not "best
    suited"). The knob moves that share: threshold = ``share × best``; at 0 the cheapest model."""

    def __init__(self, default_share: float = 0.97) -> None:
        share = validate_quality_share(default_share, name="default_share")
        if share is None:
            raise ConfigurationError("default_share must be a number in [0, 1]")
        self.default_share = share

    def rank(
        self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis, quality_share: float | None = None
    ) -> tuple[list[CandidateVerdict], str]:
        share = self.default_share if quality_share is None else quality_share
        per_prompt = per_prompt_of(kept)
        best, _, admitted, others = _best_and_admitted(
            kept, analysis, lambda best: knob_threshold(best, share, per_prompt)
        )
        chosen = admitted[0]
        wanted = f"within {1 - share:.2f} of" if per_prompt else f"keeping {share:.0%} of"
        subject = "this prompt" if per_prompt else str(analysis.task_type)
        reason = f"best suited to {subject}: quality {chosen.expected_quality:.2f}"
        if len(admitted) > 1:
            reason += f", the cheapest of {len(admitted)} models {wanted} the best ({best:.2f})"
        return [*admitted, *others], reason + _cut_note(chosen)


@dataclass(frozen=True, slots=True)
class QualityFloor:
    """The expected quality a model needs for a request, given the best affordable one's (``best``) and the knob::

        threshold = min(best, max(adequate, share × best)),   adequate = min(ceiling, base + per_complexity × c)

    ``adequate`` is absolute and rises with the request's complexity ``c`` in [0, 1] (what "good enough" means
    for it); the knob's part keeps ``share`` of the best. Never above ``best``, so some model always meets it, and
    never lower for a higher share (the monotone sweep of the module doc).
    """

    base: float = 0.5
    per_complexity: float = 0.4
    ceiling: float = 0.95

    def adequate(self, analysis: PromptAnalysis) -> float:
        """The absolute part: the quality good enough for the request's complexity."""
        return min(self.ceiling, self.base + self.per_complexity * analysis.complexity)

    def __call__(self, analysis: PromptAnalysis, best: float, share: float, per_prompt: bool = False) -> float:
        """The threshold; for per-prompt figures the knob's part alone (:func:`knob_threshold`): "adequate for the
        task's complexity" is a per-task notion, and a learned model's figures already are the prompt's."""
        if per_prompt:
            return knob_threshold(best, share, True)
        return min(best, max(self.adequate(analysis), share * best))


@register_strategy("cost_optimized")
class CheapestAboveFloor(RoutingStrategy):
    """The cheapest model (by expected cost) whose expected quality meets :class:`QualityFloor` (adequate for the
    request's complexity, and ``quality_share`` of the best affordable model's); ties by quality, then name. The
    floor never exceeds the best affordable quality, so the best model is the last resort, and the reason says when
    it was one."""

    def __init__(self, floor: QualityFloor | None = None, default_share: float | None = None) -> None:
        self.floor = floor or QualityFloor()
        share = validate_quality_share(default_share, name="default_share")
        self.default_share = DEFAULT_QUALITY_SHARE if share is None else share

    def rank(
        self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis, quality_share: float | None = None
    ) -> tuple[list[CandidateVerdict], str]:
        share = self.default_share if quality_share is None else quality_share
        per_prompt = per_prompt_of(kept)
        best, threshold, admitted, others = _best_and_admitted(
            kept, analysis, lambda best: self.floor(analysis, best, share, per_prompt)
        )
        chosen = admitted[0]
        if per_prompt:
            subject, wanted = "this prompt", f"within {1 - share:.2f} of the best {best:.2f}"
            floor = threshold  # the per-prompt threshold is the knob's part alone
        else:
            subject = str(analysis.task_type)
            wanted = f"complexity {analysis.complexity:.2f}, share {share:.2f} of the best {best:.2f}"
            floor = max(self.floor.adequate(analysis), share * best)
        if threshold < best or len(admitted) > 1:
            reason = (
                f"cheapest of {len(admitted)} models meeting the quality floor {threshold:.3f} for {subject} "
                f"({wanted}): quality {chosen.expected_quality:.2f}, est. ${atto_usd_str(_cost(chosen))}"
            )
        else:
            reason = (
                f"the best affordable model for {subject}: quality {chosen.expected_quality:.2f} "
                f"(no cheaper model meets the floor {floor:.3f})"
            )
        return [*admitted, *others], reason + _cut_note(chosen)
