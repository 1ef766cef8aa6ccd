"""The Pareto plot of an evaluation: mean quality against mean cost per prompt (PNG).

Each strategy's sweep of ``quality_share`` as a curve (its default marked), each single model as a point, random
mixing of single models as the dashed hull through them, and the per-prompt oracle's frontier. Needs matplotlib (the
``eval`` extra: ``pip install -e ".[eval]"``); it is imported here, when a plot is drawn, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.errors import ConfigurationError
from app.evaluation.metrics import upper_hull

__all__ = ["pareto_plot"]


def pareto_plot(result: dict[str, Any], path: str | Path) -> Path:
    """Draw the plot of ``result`` (from :func:`~app.evaluation.evaluate.evaluate`) into ``path`` (PNG).

    Raises:
        ConfigurationError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
    except ImportError as exc:
        message = 'the Pareto plot needs matplotlib: pip install -e ".[eval]" (or pass --no-plot)'
        raise ConfigurationError(message) from exc
    figure, axes = plt.subplots(figsize=(9, 6), dpi=110)
    try:
        models = result["models"]
        for name, run in result["strategies"].items():
            points = sorted((p["cost_usd"], p["quality"]) for p in run["sweep"])
            line = axes.plot([c for c, _ in points], [q for _, q in points], marker=".", label=f"{name} (sweep)")[0]
            default = run["default"]
            axes.plot(
                default["cost_usd"],
                default["quality"],
                marker="*",
                markersize=14,
                color=line.get_color(),
                linestyle="none",
                label=f"{name} at its default",
            )
        singles = [(info["cost_usd"], info["quality"]) for info in models.values()]
        hull = upper_hull(singles)
        axes.plot(
            [c for c, _ in hull],
            [q for _, q in hull],
            linestyle="--",
            color="grey",
            label="random mixing of single models",
        )
        for name, info in models.items():
            axes.plot(info["cost_usd"], info["quality"], marker="o", color="black", linestyle="none")
            axes.annotate(
                name, (info["cost_usd"], info["quality"]), textcoords="offset points", xytext=(4, -10), fontsize=8
            )
        frontier = result["oracle"]["frontier"]
        axes.plot(
            [c for c, _ in frontier], [q for _, q in frontier], color="green", alpha=0.6, label="per-prompt oracle"
        )
        axes.set_xscale("log")
        axes.set_xlabel("mean cost per prompt (USD, log scale)")
        axes.set_ylabel("mean score")
        axes.set_title(f"Quality vs cost: {Path(result['data']['path']).name} ({result['data']['prompts']:,} prompts)")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="lower right")
        target = Path(path)
        figure.savefig(target, format="png")
    finally:
        plt.close(figure)
    return target
