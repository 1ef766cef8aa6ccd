"""The hard per-request cap: validating ``max_cost`` and planning what a model may generate within it.

A candidate's worst-case cost is ``prompt_bound_tokens × input price + max_tokens × output price`` (USD, exact).
When the caller gives no ``max_tokens``, the plan sends the largest ``max_tokens`` the cap affords on that model
(also clamped to its maximum output), so the completion cannot push the cost over the cap. A caller's
``max_tokens`` is never raised, only lowered to what the cap affords. Below ``min_output_tokens`` a model is
infeasible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from app.errors import InvalidRequestError
from app.pricing import AttoUsd, ModelPricing, atto_to_usd, atto_usd_str, to_atto_usd

if TYPE_CHECKING:
    from app.router.analysis import PromptAnalysis

__all__ = [
    "BudgetMode",
    "OutputPlan",
    "caller_output_limit",
    "cap_in_atto",
    "caps_in_atto",
    "plan_atto",
    "plan_output",
    "validate_budget_mode",
    "validate_max_cost",
    "validate_max_tokens",
]

BudgetMode = Literal["estimate", "strict", "exact"]
Note = tuple[str, tuple[object, ...]]
BUDGET_MODES: tuple[str, ...] = ("estimate", "strict", "exact")


def prompt_bound_tokens(analysis: PromptAnalysis, mode: BudgetMode) -> int:
    """The prompt's upper bound the cap is checked with: the calibrated upper estimate in ``"estimate"`` mode, the
    provable strict bound otherwise (``"exact"`` falls back to it for models the proxy could not count)."""
    return analysis.upper_estimate_tokens if mode == "estimate" else analysis.strict_tokens


def validate_max_cost(max_cost: Any) -> Decimal | None:
    """``None`` (no cap) or a finite, non-negative USD amount as an exact Decimal (``0`` means zero).

    Raises:
        InvalidRequestError: negative, NaN, infinite, boolean or non-numeric.
    """
    if max_cost is None:
        return None
    if isinstance(max_cost, bool):
        raise InvalidRequestError("max_cost must be a number of USD, not a bool")
    try:
        value = Decimal(repr(max_cost)) if isinstance(max_cost, float) else Decimal(str(max_cost))
    except ArithmeticError as exc:
        raise InvalidRequestError(f"max_cost must be a number of USD, got {max_cost!r}") from exc
    if not value.is_finite() or value < 0:
        raise InvalidRequestError(f"max_cost must be a finite, non-negative number of USD, got {max_cost!r}")
    return value


def validate_max_tokens(max_tokens: Any) -> int | None:
    """``None`` or a positive int. Raises InvalidRequestError otherwise."""
    if max_tokens is None:
        return None
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequestError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    return max_tokens


def caller_output_limit(max_tokens: int | None, params: Mapping[str, Any]) -> int | None:
    """The caller's output limit: ``max_tokens`` and, when the request also (or only) gives OpenAI's
    ``max_completion_tokens``, the smaller of the two (both bound the whole completion, reasoning included).

    Raises:
        InvalidRequestError: ``max_completion_tokens`` is not a positive integer.
    """
    other = params.get("max_completion_tokens")
    if other is None:
        return max_tokens
    if isinstance(other, bool) or not isinstance(other, int) or other < 1:
        raise InvalidRequestError(f"max_completion_tokens must be a positive integer, got {other!r}")
    return other if max_tokens is None else min(max_tokens, other)


def validate_budget_mode(mode: Any) -> BudgetMode:
    """One of ``estimate``, ``strict``, ``exact``. Raises InvalidRequestError otherwise."""
    if mode not in BUDGET_MODES:
        raise InvalidRequestError(f"budget_mode must be one of {', '.join(BUDGET_MODES)}, got {mode!r}")
    return mode  # type: ignore[no-any-return]


@dataclass(slots=True)
class OutputPlan:
    """What one model may generate for one request.

    Attributes:
        feasible: whether the model fits the cap.
        max_tokens: the ``max_tokens`` to send (``None``: send none; no cap and no caller value).
        worst_case_cost_usd: the cost if the prompt reaches its bound and the output reaches ``max_tokens`` (with no
            cap, no ``max_tokens`` and an unknown maximum output: the prompt's cost only, not a bound of the cost).
        note: ``(template, args)`` of the explanation; :attr:`detail` renders it (lazily: it is rarely read).
    """

    feasible: bool
    max_tokens: int | None
    worst_case_cost_usd: Decimal
    note: Note

    @property
    def detail(self) -> str:
        """Why, in words."""
        template, args = self.note
        return template.format(*args)


_NO_CAP: Note = ("no cost cap", ())
_FREE_OUTPUT: Note = ("output is free and unbounded; prompt within the cap", ())
_FITS: Note = ("fits the cap", ())


class UsdAmount:
    """An atto-USD amount in a note; rendered as plain USD only when the note is read."""

    __slots__ = ("atto",)

    def __init__(self, atto: AttoUsd) -> None:
        self.atto = atto

    def __format__(self, spec: str) -> str:
        return atto_usd_str(self.atto)


def cap_in_atto(max_cost_usd: Decimal | None, *, whole_prices: bool) -> AttoUsd | None:
    """The cap in the unit the plan compares with: its int floor for whole-atto prices (exact for int costs), the
    exact scaled Decimal otherwise."""
    whole, exact = caps_in_atto(max_cost_usd)
    return whole if whole_prices else exact


def caps_in_atto(max_cost_usd: Decimal | None) -> tuple[int | None, AttoUsd | None]:
    """Both forms of :func:`cap_in_atto` at once (one conversion): ``(floor for whole-atto prices, exact)``. An int
    cost is within the cap exactly when it is within its floor, so whole-atto models compare ints only."""
    if max_cost_usd is None:
        return None, None
    exact = to_atto_usd(max_cost_usd)
    return (exact if type(exact) is int else int(exact)), exact  # int() truncates: the floor of a cap ≥ 0


def plan_atto(
    input_atto: AttoUsd,
    output_atto: AttoUsd,
    prompt_bound_tokens: int,
    max_cost_atto: AttoUsd | None,
    caller_max_tokens: int | None,
    model_max_output_tokens: int | None,
    min_output_tokens: int,
) -> tuple[bool, int | None, AttoUsd, Note]:
    """The planning rule of the module doc, in atto-USD (prices per token, cap from :func:`cap_in_atto`):
    ``(feasible, max_tokens, worst_case_atto, note)``. Positional and tuple-valued: the router calls it once per
    model per request."""
    prompt_cost = prompt_bound_tokens * input_atto
    if caller_max_tokens is None:
        ceiling = model_max_output_tokens
    elif model_max_output_tokens is None or caller_max_tokens < model_max_output_tokens:
        ceiling = caller_max_tokens
    else:
        ceiling = model_max_output_tokens
    if max_cost_atto is None:
        return True, caller_max_tokens, prompt_cost + (ceiling or 0) * output_atto, _NO_CAP
    floor = min_output_tokens
    if caller_max_tokens is not None and caller_max_tokens < floor:
        floor = caller_max_tokens
    if prompt_cost > max_cost_atto:  # the worst case reported is what the smallest feasible request would cost
        note: Note = ("the prompt alone may cost ${}, over the cap", (UsdAmount(prompt_cost),))
        return False, None, prompt_cost + floor * output_atto, note
    if not output_atto:
        affordable = ceiling
    elif ceiling is not None and prompt_cost + ceiling * output_atto <= max_cost_atto:
        affordable = ceiling  # the whole ceiling fits: no division (bigint division is the costly step here)
    else:
        room = (max_cost_atto - prompt_cost) // output_atto
        if type(room) is not int:  # a Decimal price or cap
            room = int(room)
        affordable = room if ceiling is None or room < ceiling else ceiling
    if affordable is None:
        return True, None, prompt_cost, _FREE_OUTPUT
    if affordable < floor:
        note = ("the cap affords {} output tokens, fewer than the minimum {}", (affordable, floor))
        return False, None, prompt_cost + floor * output_atto, note
    if caller_max_tokens is None:
        note = ("max_tokens set to {} to fit the cap", (affordable,))
    elif affordable < caller_max_tokens:
        note = ("max_tokens lowered from {} to {} to fit the cap", (caller_max_tokens, affordable))
    else:
        note = _FITS
    return True, affordable, prompt_cost + affordable * output_atto, note


def plan_output(
    pricing: ModelPricing,
    *,
    prompt_bound_tokens: int,
    max_cost_usd: Decimal | None,
    caller_max_tokens: int | None,
    model_max_output_tokens: int | None,
    min_output_tokens: int,
) -> OutputPlan:
    """Plan ``max_tokens`` for one model so that its worst case stays within ``max_cost_usd`` (see module doc)."""
    input_atto = to_atto_usd(pricing.input_usd_per_token)
    output_atto = to_atto_usd(pricing.output_usd_per_token)
    whole = isinstance(input_atto, int) and isinstance(output_atto, int)
    feasible, max_tokens, worst, note = plan_atto(
        input_atto,
        output_atto,
        prompt_bound_tokens,
        cap_in_atto(max_cost_usd, whole_prices=whole),
        caller_max_tokens,
        model_max_output_tokens,
        min_output_tokens,
    )
    return OutputPlan(feasible, max_tokens, atto_to_usd(worst), note)
