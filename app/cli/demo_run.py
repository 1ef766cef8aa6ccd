"""Running the demo's workload: each prompt routed by a router under ``max_cost``, or sent to one fixed model (the
baselines), a few at a time, with a progress bar on stderr. Costs are exact ``Decimal`` USD."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from app.errors import BudgetExceededError, CostmuxError
from app.pricing import ModelPricing, to_decimal_usd

if TYPE_CHECKING:
    from app.cli.demo_data import DemoPrompt
    from app.cli.progress import Progress
    from app.providers import LiteLLMProvider, Provider
    from app.router import Router

__all__ = [
    "Baseline",
    "Comparison",
    "Row",
    "StrategyRun",
    "priced_comparison",
    "route_workload",
    "send_baseline",
]

_ZERO = Decimal(0)


@dataclass(slots=True)
class Row:
    """What happened to one prompt under a router. Costs in USD; ``refused`` / ``error`` say why nothing was
    answered."""

    index: int
    prompt: DemoPrompt
    task: str = "-"
    model: str | None = None
    fallbacks: int = 0
    max_tokens: int | None = None
    reason: str = ""
    estimated_usd: Decimal | None = None
    worst_case_usd: Decimal | None = None
    actual_usd: Decimal = _ZERO
    cut: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    refused: str | None = None
    refused_cheapest_usd: Decimal | None = None
    refused_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.model is not None


@dataclass(slots=True)
class StrategyRun:
    """A router's run over the workload (rows in workload order)."""

    strategy: str
    max_cost_usd: Decimal
    rows: list[Row] = field(default_factory=list)

    @property
    def answered(self) -> list[Row]:
        return [row for row in self.rows if row.answered]

    @property
    def refused(self) -> list[Row]:
        return [row for row in self.rows if row.refused is not None]

    @property
    def failed(self) -> list[Row]:
        return [row for row in self.rows if row.error is not None]

    @property
    def violations(self) -> list[Row]:
        """Requests whose actual cost (all attempts) exceeded ``max_cost``."""
        return [row for row in self.rows if row.actual_usd > self.max_cost_usd]

    @property
    def total_usd(self) -> Decimal:
        return sum((row.actual_usd for row in self.rows), _ZERO)


@dataclass(frozen=True, slots=True)
class Comparison:
    """What always using one model would have cost on the prompts a strategy answered (USD); ``missing``: answered
    prompts with no cost on that model (failed there, or no usage reported)."""

    model: str
    role: str
    total_usd: Decimal
    prompts: int
    missing: int


@dataclass(slots=True)
class Baseline:
    """One fixed model's actual cost per prompt index (sent prompts), answers cut short, and failures."""

    model: str
    role: str
    costs: dict[int, Decimal] = field(default_factory=dict)
    cut: int = 0
    errors: dict[int, str] = field(default_factory=dict)

    def compare(self, run: StrategyRun) -> Comparison:
        """This model's actual cost of the prompts ``run`` answered."""
        answered = [row.index for row in run.answered]
        total = sum((self.costs[i] for i in answered if i in self.costs), _ZERO)
        return Comparison(self.model, self.role, total, len(answered), sum(i not in self.costs for i in answered))


def priced_comparison(run: StrategyRun, model: str, role: str, pricing: ModelPricing) -> Comparison:
    """``model``'s price applied, exactly, to the actual token counts of each answer ``run`` got (nothing sent)."""
    answered = run.answered
    costs = [
        pricing.cost_usd(row.prompt_tokens, row.completion_tokens)
        for row in answered
        if row.prompt_tokens is not None and row.completion_tokens is not None
    ]
    return Comparison(model, role, sum(costs, _ZERO), len(answered), len(answered) - len(costs))


async def route_workload(
    router: Router,
    providers: Mapping[str, Provider],
    prompts: Sequence[DemoPrompt],
    *,
    max_cost_usd: Decimal,
    exclude: Collection[str],
    concurrency: int,
    progress: Progress,
) -> StrategyRun:
    """Route every prompt with ``router`` under ``max_cost_usd``, ``concurrency`` at a time."""
    from app.router import analyze

    run = StrategyRun(router.strategy.name, max_cost_usd, [Row(i, p) for i, p in enumerate(prompts, 1)])
    progress.start(f"routing with {run.strategy}", len(prompts))
    limit = asyncio.Semaphore(concurrency)

    async def one(row: Row) -> None:
        async with limit:
            try:
                result = await router.route_request(
                    row.prompt.messages, providers, max_cost=max_cost_usd, exclude=exclude
                )
            except BudgetExceededError as exc:
                row.task = str(analyze(row.prompt.messages).task_type)
                row.refused = str(exc)
                if exc.cheapest_cost_usd is not None:
                    row.refused_cheapest_usd = to_decimal_usd(exc.cheapest_cost_usd)
                for why in exc.reasons.values():
                    reason = why.split(":", 1)[0]
                    row.refused_reasons[reason] = row.refused_reasons.get(reason, 0) + 1
            except CostmuxError as exc:
                row.task = str(analyze(row.prompt.messages).task_type)
                row.error = f"{type(exc).__name__}: {exc}"
            else:
                decision = result.decision
                row.task = str(decision.analysis.task_type)
                row.model, row.fallbacks = result.model, result.fallbacks
                row.max_tokens = result.attempts[-1].max_tokens
                row.reason = decision.reason
                row.estimated_usd = decision.estimated_cost_usd
                row.worst_case_usd = decision.worst_case_cost_usd
                row.actual_usd = sum((attempt.cost_usd for attempt in result.attempts), _ZERO)
                row.cut = any(choice.finish_reason == "length" for choice in result.choices)
                if result.usage is not None:
                    row.prompt_tokens = result.usage.prompt_tokens
                    row.completion_tokens = result.usage.completion_tokens
        progress.advance()

    await asyncio.gather(*(one(row) for row in run.rows))
    return run


async def send_baseline(
    provider: LiteLLMProvider,
    model: str,
    role: str,
    prompts: Mapping[int, DemoPrompt],
    *,
    concurrency: int,
    progress: Progress,
) -> Baseline:
    """Send each prompt to ``model`` with no cap and no ``max_tokens`` (nothing cut), ``concurrency`` at a time;
    the actual cost of each answer as the proxy reported it (real token counts × the model's price)."""
    baseline = Baseline(model, role)
    progress.start(f"always {model}", len(prompts))
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int, prompt: DemoPrompt) -> None:
        async with limit:
            try:
                response = await provider.chat_completion(prompt.messages, model)
            except CostmuxError as exc:
                baseline.errors[index] = f"{type(exc).__name__}: {exc}"
            else:
                if response.cost_usd is None:
                    baseline.errors[index] = "the proxy reported no usage: cost unknown"
                else:
                    baseline.costs[index] = to_decimal_usd(response.cost_usd)
                baseline.cut += any(choice.finish_reason == "length" for choice in response.choices)
        progress.advance()

    await asyncio.gather(*(one(index, prompt) for index, prompt in prompts.items()))
    return baseline
