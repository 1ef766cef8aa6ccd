"""What the demo can say about quality next to its savings: each strategy's figures on the vendored labelled sets.

The demo's own prompts have no labels, so its savings alone say nothing of what the answers lost. This measures the
same strategies, at their defaults and through the same ``Router.decide``, on the small vendored RouteLLM sets
(GSM8K, MT-Bench: a second or so), against always using the strong model of those sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.evaluation.evaluate import evaluate
from app.evaluation.offline import OfflineProvider
from app.evaluation.outcomes import read_outcomes

__all__ = ["DATASETS", "quality_evidence"]

#: The vendored data sets, beside the ``app`` package in a clone of the repository.
DATASETS = Path(__file__).resolve().parents[2] / "datasets"
_SETS = (("GSM8K", "gsm8k"), ("MT-Bench", "mt_bench"))


def quality_evidence(strategies: Sequence[str], root: Path = DATASETS) -> list[str]:
    """One line per strategy: on each set, the mean score at the strategy's default against always the strong
    model, and the cost as a share of that model's. Empty when the data sets are not there (an installed wheel)."""
    folder = root / "routellm"
    if not all((folder / f"{name}.jsonl.gz").is_file() for _, name in _SETS):
        return []
    results = []
    for label, name in _SETS:
        data = read_outcomes(folder / f"{name}.jsonl.gz")
        provider = OfflineProvider(data.models)  # prices and quality: the bundled catalog
        results.append((label, evaluate(data, provider, strategies=strategies, sweep=False)))
    lines = []
    for strategy in strategies:
        parts = []
        for label, result in results:
            best = result["models"][result["baselines"]["always_best"]]
            point = result["strategies"][strategy]["default"]
            parts.append(
                f"{label} {point['quality']:.3f} vs {best['quality']:.3f} ({point['quality'] / best['quality']:.1%} "
                f"of its score) at {point['cost_usd'] / best['cost_usd']:.1%} of its cost"
            )
        lines.append(f"  {strategy}: " + "; ".join(parts))
    return lines
