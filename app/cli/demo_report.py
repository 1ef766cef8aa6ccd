"""The demo's text output: the models table, a table per strategy, the cost summary and a metrics excerpt.

Line shapes are stable (tests parse the summary): costs are ``$`` and 8 decimals, USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.pricing import decimal_str

if TYPE_CHECKING:
    from app.cli.demo_run import Comparison, Row, StrategyRun

__all__ = ["METRIC_PREFIXES", "metrics_excerpt", "models_table", "strategy_table", "summary"]

METRIC_PREFIXES = (
    "costmux_requests_total",
    "costmux_cost_usd_total",
    "costmux_tokens_total",
    "costmux_routing_decisions_total",
    "costmux_budget_refusals_total",
)
"""The metric families the excerpt shows (others are left out to keep it short)."""


_REASON_WORDS = {"over_budget": "over the cap", "context": "too small a context window", "excluded": "excluded"}


def usd(value: Decimal | None) -> str:
    """``$0.00012345`` (8 decimals), or ``-``."""
    return "-" if value is None else f"${value:.8f}"


def models_table(rows: Iterable[dict[str, Any]]) -> str:
    """One line per model: prices (USD per 1M tokens), context window, maximum output, rpm / tpm (from
    ``LiteLLMProvider.get_model_info``)."""
    lines = [
        f"  {'model':22s} {'$/1M in':>8s} {'$/1M out':>9s} {'context':>8s} {'max out':>8s} {'rpm':>6s} {'tpm':>9s}"
    ]
    for info in rows:
        price = info["pricing"]
        limits = info["rate_limits"]
        prices = (price["input_usd_per_1m"], price["output_usd_per_1m"]) if price else ("unpriced", "")
        lines.append(
            f"  {info['name']:22s} {prices[0]:>8s} {prices[1]:>9s} {info['context_window'] or '-':>8} "
            f"{info['max_output_tokens'] or '-':>8} {limits['requests_per_minute'] or '-':>6} "
            f"{limits['tokens_per_minute'] or '-':>9}"
        )
    return "\n".join(lines)


def _model_cell(row: Row) -> str:
    if row.refused is not None:
        return "REFUSED"
    if row.error is not None:
        return "FAILED"
    assert row.model is not None
    return row.model + (f" (+{row.fallbacks} fallback)" if row.fallbacks else "")


def _why(row: Row) -> str:
    if row.refused is not None:
        counts = ", ".join(f"{n} {_REASON_WORDS.get(r, r)}" for r, n in sorted(row.refused_reasons.items()))
        return (
            f"over budget: the cheapest model that could take it costs up to {usd(row.refused_cheapest_usd)} ({counts})"
        )
    if row.error is not None:
        return row.error
    return row.reason + ("; answer cut at max_tokens" if row.cut else "")


def strategy_table(run: StrategyRun, prompt_width: int = 36) -> str:
    """One row per prompt: the prompt (short), task type, model chosen, ``max_tokens`` sent, estimated and actual
    cost, and why."""
    head = (
        f"  {'#':>2s}  {'prompt':{prompt_width}s}  {'task':16s}  {'model':20s} {'max_tok':>7s} "
        f"{'est. cost':>11s} {'actual':>11s}  why"
    )
    lines = [f"{run.strategy} (max_cost ${decimal_str(run.max_cost_usd)} per request):", head]
    for row in run.rows:
        actual = usd(row.actual_usd) if row.answered else "-"
        lines.append(
            f"  {row.index:2d}  {row.prompt.short(prompt_width):{prompt_width}s}  {row.task:16s}  "
            f"{_model_cell(row):20s} {row.max_tokens or '-':>7} {usd(row.estimated_usd):>11s} {actual:>11s}  "
            f"{_why(row)}"
        )
    return "\n".join(lines)


def _ratio(paid: Decimal, other: Decimal, name: str) -> str:
    if other == 0:
        return "both cost nothing" if paid == 0 else f"that model is free; {name} paid {usd(paid)}"
    change = (paid - other) / other * 100
    if change <= 0:
        return f"{name} saved {-change:.1f}%"
    return f"{name} paid {paid / other:.2f}x"


def summary(runs: Sequence[StrategyRun], comparisons: Mapping[str, Sequence[Comparison]], n_prompts: int) -> str:
    """Per strategy: answered, refused, failed, cut and violations, the total cost, and what always using each
    baseline model would have cost on the same answered prompts; then the violations line."""
    cap = decimal_str(runs[0].max_cost_usd) if runs else "-"
    lines = [f"Summary: {n_prompts} prompts, max_cost ${cap} per request"]
    for run in runs:
        cut = sum(row.cut for row in run.answered)
        lines.append(
            f"{run.strategy}: {len(run.answered)} routed, {len(run.refused)} refused for budget, {len(run.failed)} "
            f"failed, {cut} cut by max_tokens, {len(run.violations)} budget violations; total {usd(run.total_usd)}"
        )
        if run.refused:
            refused = ", ".join(f"#{row.index} (up to {usd(row.refused_cheapest_usd)})" for row in run.refused)
            lines.append(f"  refused for budget: {refused}")
        for other in comparisons.get(run.strategy, ()):
            note = f" ({other.missing} of them without a cost there)" if other.missing else ""
            lines.append(
                f"  vs always {other.model} ({other.role}): {usd(other.total_usd)} for the same {other.prompts} "
                f"prompts{note}; {_ratio(run.total_usd, other.total_usd, run.strategy)}"
            )
    violations = sum(len(run.violations) for run in runs)
    lines.append(f"Budget violations (actual cost > max_cost): {violations}")
    return "\n".join(lines)


def metrics_excerpt(exposition: bytes, prefixes: Sequence[str] = METRIC_PREFIXES, per_family: int = 12) -> str:
    """At most ``per_family`` sample lines of each metric family in ``prefixes`` (``_created`` samples left out)."""
    lines = exposition.decode("utf-8", "replace").splitlines()
    shown = []
    for prefix in prefixes:
        samples = [line for line in lines if line.startswith(prefix) and not line.split("{", 1)[0].endswith("_created")]
        shown.extend(samples[:per_family])
        if len(samples) > per_family:
            shown.append(f"  ... {len(samples) - per_family} more {prefix} samples")
    return "\n".join(shown)
