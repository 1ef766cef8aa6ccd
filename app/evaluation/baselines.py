"""Reference routers without training, measured by ``costmux eval`` next to costmux's strategies.

- :func:`prompt_length`: with two models, the longest prompts go to the stronger one (the share of prompts sent
  there swept from 0 to 1). Length is the signal every learned router must beat: on public outcome sets it carries
  most of what simple learners find across data sets (docs/routing-quality.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from app.errors import ConfigurationError
from app.evaluation.runner import ModelInfo, PreparedRow, RunPoint, StrategyRun, point_of_choices

__all__ = ["BASELINES", "prompt_length"]

#: Settings of the length sweep: the share of prompts (the longest) sent to the stronger model.
LENGTH_SHARES = tuple(i / 20 for i in range(21))


def prompt_length(rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> StrategyRun:
    """Send the longest prompts (costmux's token estimate; ties by input order) to the model with the higher mean
    score; default: half of them.

    Raises:
        ConfigurationError: the data has other than two models.
    """
    if len(models) != 2:
        raise ConfigurationError(f"the prompt-length baseline needs two models, the data has {len(models)}")
    started = time.perf_counter()
    weak, strong = sorted(models, key=lambda name: sum(row.outcome.scores[name] for row in rows))
    order = sorted(range(len(rows)), key=lambda i: -rows[i].analysis.estimated_tokens)
    rank = {index: position for position, index in enumerate(order)}

    def point(share: float) -> RunPoint:
        cut = round(share * len(rows))
        choices = [strong if rank[i] < cut else weak for i in range(len(rows))]
        return point_of_choices(rows, models, choices, setting=f"longest {share:.0%} to {strong}")

    default = point(0.5)
    sweep = [point(share) for share in LENGTH_SHARES]
    return StrategyRun("prompt_length", default, sweep, 0, time.perf_counter() - started)


BASELINES = {"length": prompt_length}
