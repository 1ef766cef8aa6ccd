"""The policy that keeps or rejects each scored candidate: exclusions, health and rate limits (through an
``AvailabilityCheck``), capabilities, price, context window, and the hard cost cap, in that order.

The first failing check names the rejection reason. A kept candidate carries the ``max_tokens`` to send and its
worst-case cost, which never exceeds ``max_cost``, and its expected quality: its quality for the task times the
chance that the answer fits that ``max_tokens`` (scoring's :class:`~app.router.scoring.AnswerLength`), when the cap
or the model's own output limit, not the caller's ``max_tokens``, sets it. This runs once per model per request, so
it computes in int atto-USD (exact; see :mod:`app.pricing`), allocates one verdict per model, and leaves the wording
of its explanations to be rendered when read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, NamedTuple, Protocol

from app.pricing import AttoUsd
from app.router.analysis import PromptAnalysis
from app.router.budget import caps_in_atto, plan_atto
from app.router.decision import KEPT_NOTE, CandidateVerdict, RejectReason
from app.router.scoring import CAPABILITY_NAMES, AnswerLength, ModelProfile, Score, needed_capabilities

__all__ = ["AvailabilityCheck", "BudgetPolicy", "ProviderAvailability", "RequestLimits"]

Note = tuple[str, tuple[object, ...]]
#: A provider's own check (``Provider.model_availability``): ``(model, prompt_tokens) -> ("unhealthy" |
#: "rate_limited", why) | None``.
ProviderAvailability = Callable[[str, int], "tuple[str, str] | None"]


class AvailabilityCheck(Protocol):
    """Says whether a model can take a request now, without waiting.

    Returns ``None`` when it can, else ``(RejectReason.UNHEALTHY or RejectReason.RATE_LIMITED, "why")``.
    """

    def __call__(self, provider: str, model: str, prompt_tokens: int) -> tuple[RejectReason, str] | None: ...


class RequestLimits(NamedTuple):
    """The per-request inputs of the policy (build with :meth:`of`; a named tuple: one per request).

    Attributes:
        max_cost_usd: the hard cap, or ``None``.
        caller_max_tokens: the caller's ``max_tokens``, never raised.
        prompt_bound_tokens: upper bound of the prompt for the cap (by budget mode), tokens.
        exclude: ``provider/model`` keys or bare model names not to use.
        prompt_bounds: per ``provider/model`` prompt bounds that replace the others (learned from billed usage, or
            exact counts).
        cap_whole_atto, cap_exact_atto: the cap in atto-USD for models with whole-atto prices (its floor) and for
            the others (exact); see :func:`~app.router.budget.cap_in_atto`.
        family_bounds: per token family, the prompt bound of a model of that family with nothing learned (replaces
            ``prompt_bound_tokens``; see :mod:`app.tokens.families`).
    """

    max_cost_usd: Decimal | None
    caller_max_tokens: int | None
    prompt_bound_tokens: int
    exclude: Collection[str]
    prompt_bounds: dict[str, int] | None
    cap_whole_atto: AttoUsd | None
    cap_exact_atto: AttoUsd | None
    family_bounds: Mapping[str, int] | None = None

    @classmethod
    def of(
        cls,
        max_cost_usd: Decimal | None,
        caller_max_tokens: int | None,
        prompt_bound_tokens: int,
        exclude: Collection[str] = (),
        prompt_bounds: dict[str, int] | None = None,
        family_bounds: Mapping[str, int] | None = None,
    ) -> RequestLimits:
        """The limits of one request, with the cap converted to atto-USD once."""
        whole, exact = caps_in_atto(max_cost_usd)
        return cls(
            max_cost_usd, caller_max_tokens, prompt_bound_tokens, exclude, prompt_bounds, whole, exact, family_bounds
        )


_EXCLUDED: Note = ("excluded by the caller", ())
_UNPRICED: Note = ("no price known (never routed as if free)", ())
_AVAILABLE: Mapping[str, tuple[str, str]] = {}
OVER_BUDGET: Final = RejectReason.OVER_BUDGET
#: Builds a verdict from its field values without the named tuple's Python-level ``__new__`` (hot path).
new_verdict: Final = tuple.__new__


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Judges candidates.

    Attributes:
        min_output_tokens: a model that the cap allows fewer output tokens than this is infeasible.
        default_max_output_tokens: the maximum output assumed for a model whose limit is unknown, tokens.
        availability: optional health / rate-limit check (wired by the resilience layer).
    """

    min_output_tokens: int = 16
    default_max_output_tokens: int = 4096
    availability: AvailabilityCheck | None = None

    def judge_all(
        self,
        profiles: Sequence[ModelProfile],
        scores: Sequence[Score],
        analysis: PromptAnalysis,
        limits: RequestLimits,
        unavailable: Mapping[str, tuple[str, str]] | None = None,
        provider_check: ProviderAvailability | None = None,
    ) -> tuple[list[CandidateVerdict], list[CandidateVerdict]]:
        """Keep or reject each of one provider's candidates (``scores[i]`` estimates ``profiles[i]``), with the
        reason of the first failing check: ``(every verdict, the kept ones)``, both in ``profiles`` order.

        A provider reports its unavailable models either all at once (``unavailable``: model → (reason, why)) or
        one by one (``provider_check``); both are consulted without waiting. One loop with everything hoisted out
        of it: this runs for every model of every request."""
        verdicts: list[CandidateVerdict] = []
        kept: list[CandidateVerdict] = []
        append, keep = verdicts.append, kept.append
        exclude = limits.exclude
        needs = needed_capabilities(analysis)
        prompt_tokens = analysis.upper_estimate_tokens
        context_needed = prompt_tokens + min(self.min_output_tokens, analysis.requested_output_tokens)
        bound, bounds, family_bounds = limits.prompt_bound_tokens, limits.prompt_bounds, limits.family_bounds
        caller_max, min_output, default_max = (
            limits.caller_max_tokens,
            self.min_output_tokens,
            self.default_max_output_tokens,
        )
        cap_whole, cap_exact = limits.cap_whole_atto, limits.cap_exact_atto
        task_type = analysis.task_type
        asked_reasoning = analysis.reasoning
        length = AnswerLength.of(analysis)
        median, sure_fit = length.median_tokens, length.sure_fit_tokens
        unavailable = unavailable if unavailable is not None else _AVAILABLE
        per_model_checks = self.availability is not None or provider_check is not None
        for profile, (quality, assumed, output_tokens, estimate, source) in zip(profiles, scores, strict=True):
            provider, model, key, missing, input_atto, output_atto, whole_prices, max_output, window = profile.row
            family = profile.token_family
            if (
                per_model_checks
                or (exclude and (key in exclude or model in exclude))
                or model in unavailable
                or needs & missing
                or input_atto is None
                or output_atto is None
                or (window is not None and context_needed > window)
            ):  # something may rule the model out: find the first reason (the rare path)
                rejection = self._rejection(
                    profile, exclude, unavailable, provider_check, prompt_tokens, needs, context_needed
                )
                if rejection is not None:
                    append(
                        new_verdict(
                            CandidateVerdict,
                            (
                                provider,
                                model,
                                False,
                                rejection[0],
                                quality,
                                assumed,
                                estimate,
                                None,
                                None,
                                False,
                                key,
                                rejection[1],
                                quality,
                                family,
                                None,
                                source,
                            ),
                        )
                    )
                    continue
            if input_atto is None or output_atto is None:  # rejected above as unpriced (this narrows the types)
                continue
            least = min_output
            if asked_reasoning is not None and profile.reasoning is not None:  # the limit must exceed a thinking budget
                least += profile.reasoning.minimum_limit_tokens(asked_reasoning)
            prompt_bound = bounds.get(key) if bounds else None  # learned or exact
            if prompt_bound is None:
                prompt_bound = family_bounds.get(family, bound) if family_bounds else bound
            feasible, max_tokens, worst, plan_note = plan_atto(
                input_atto,
                output_atto,
                prompt_bound,
                cap_whole if whole_prices else cap_exact,
                caller_max,
                max_output or default_max,
                least,
            )
            if not feasible:
                append(
                    new_verdict(
                        CandidateVerdict,
                        (
                            provider,
                            model,
                            False,
                            OVER_BUDGET,
                            quality,
                            assumed,
                            estimate,
                            worst,
                            None,
                            False,
                            key,
                            plan_note,
                            quality,
                            family,
                            prompt_bound,
                            source,
                        ),
                    )
                )
                continue
            may_truncate = max_tokens is not None and max_tokens < output_tokens
            expected = quality
            thinking = output_tokens - median if output_tokens > median else 0  # a reasoning model's, spent first
            if (
                max_tokens is not None
                and max_tokens < sure_fit + thinking
                and (caller_max is None or max_tokens < caller_max)
            ):  # the cap or the model's own limit may cut the answer
                expected = quality * length.fit_probability(max_tokens - thinking)
            if max_tokens is not None and estimate is not None and worst < estimate:
                estimate = worst  # the cap bounds what the answer can cost
            verdict = new_verdict(
                CandidateVerdict,
                (
                    provider,
                    model,
                    True,
                    None,
                    quality,
                    assumed,
                    estimate,
                    worst,
                    max_tokens,
                    may_truncate,
                    key,
                    (KEPT_NOTE, (task_type, plan_note, output_tokens)),
                    expected,
                    family,
                    prompt_bound,
                    source,
                ),
            )
            append(verdict)
            keep(verdict)
        return verdicts, kept

    def _rejection(
        self,
        profile: ModelProfile,
        exclude: Collection[str],
        unavailable: Mapping[str, tuple[str, str]],
        provider_check: ProviderAvailability | None,
        prompt_tokens: int,
        needs: int,
        context_needed: int,
    ) -> tuple[RejectReason, Note] | None:
        """The first check ``profile`` fails, in the module doc's order, or ``None``."""
        if exclude and (profile.key in exclude or profile.model in exclude):
            return RejectReason.EXCLUDED, _EXCLUDED
        if self.availability is not None:
            hook = self.availability(profile.provider, profile.model, prompt_tokens)
            if hook is not None:
                return hook[0], ("{}", (hook[1],))
        refused = unavailable.get(profile.model)
        if refused is None and provider_check is not None:
            refused = provider_check(profile.model, prompt_tokens)
        if refused is not None:
            return RejectReason(refused[0]), ("{}", (refused[1],))
        if needs & profile.missing_capabilities:
            names = ", ".join(name for bit, name in CAPABILITY_NAMES if needs & profile.missing_capabilities & bit)
            return RejectReason.CAPABILITY, ("does not support {}", (names,))
        if profile.input_atto is None or profile.output_atto is None:
            return RejectReason.UNPRICED, _UNPRICED
        window = profile.context_window_tokens
        if window is not None and context_needed > window:
            return RejectReason.CONTEXT, (
                "needs about {} tokens of context, the window is {}",
                (context_needed, window),
            )
        return None
