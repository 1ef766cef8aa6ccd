"""The markdown report of an evaluation (from :func:`app.evaluation.evaluate.evaluate`'s JSON-ready result)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown_report"]


_QUALITY_DATA = {
    "measured": "",
    "prior": "; quality: a price-based prior (assumed)",
    "none": "; no quality data (0.5 assumed)",
}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _usd(value: float) -> str:
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"


def markdown_report(result: dict[str, Any], command: str | None = None) -> str:
    """The evaluation as markdown: models, strategies against the baselines, the curves' metrics, task types."""
    data, settings, models = result["data"], result["settings"], result["models"]
    pair = result["pair"]
    cap = settings["max_cost_usd"]
    lines = [
        f"# Routing quality on {data['path']}",
        "",
        f"{data['prompts']:,} prompts, {len(models)} models, "
        + (f"max_cost ${cap} per request" if cap is not None else "no cost cap")
        + f"; {result['timing']['decisions']:,} decisions through `Router.decide` in "
        f"{result['timing']['seconds']:.1f} s ({result['timing']['decisions_per_s']:,.0f}/s).",
    ]
    if command:
        lines += ["", f"`{command}`"]
    lines += [
        "",
        "## Models alone",
        "",
        "| model | mean score | cost / prompt | $/1M in | $/1M out | knowledge from |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, info in sorted(models.items(), key=lambda item: item[1]["cost_usd"]):
        known = info["source"] + _QUALITY_DATA[info["quality_data"]]
        lines.append(
            f"| {name} | {info['quality']:.3f} | {_usd(info['cost_usd'])} | {info['input_usd_per_1m']:g} | "
            f"{info['output_usd_per_1m']:g} | {known} |"
        )
    lines += _strategies_table(result)
    lines += _curves_table(result)
    lines += _task_table(result)
    if pair is None:
        lines += ["", f"AIQ of the single models alone (random mixing): {_num(result['aiq_single_models'])}."]
    return "\n".join(lines) + "\n"


def _strategies_table(result: dict[str, Any]) -> list[str]:
    models, baselines, pair = result["models"], result["baselines"], result["pair"]
    cheapest, best = baselines["always_cheapest"], baselines["always_best"]
    lines = [
        "",
        "## At the default setting",
        "",
        "| | quality | cost / prompt | cost vs always best | strong calls | refused | cut | random at the same "
        "spend | best single model within the spend |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    top = models[best]["cost_usd"]
    for label, model in ((f"always cheapest ({cheapest})", cheapest), (f"always best ({best})", best)):
        strong = "—" if pair is None else ("100%" if model == pair["strong"] else "0%")
        lines.append(
            f"| {label} | {models[model]['quality']:.3f} | {_usd(models[model]['cost_usd'])} | "
            f"{_pct(models[model]['cost_usd'] / top if top else None)} | {strong} | 0 | 0 | — | — |"
        )
    for name, run in result["strategies"].items():
        point = run["default"]
        share = point["quality_share"]
        label = f"{name} (quality_share {'default' if share is None else f'{share:.2f}'})"
        if "setting" in point:  # an external router: its own setting
            label = f"{name} ({point['setting']})"
        within = point["best_single_within_spend"]
        within_text = "none" if within is None else f"{within['model']} ({within['quality']:.3f})"
        lines.append(
            f"| {label} | {point['quality']:.3f} | {_usd(point['cost_usd'])} | "
            f"{_pct(point['cost_usd'] / top if top else None)} | {_pct(point.get('strong_share'))} | "
            f"{point['refused']} | {point['cut']} | {point['random_at_same_spend']:.3f} | {within_text} |"
        )
    oracle = result["oracle"]
    lines.append(
        f"| per-prompt oracle | {oracle['quality']:.3f} | {_usd(oracle['cost_usd'])} | "
        f"{_pct(oracle['cost_usd'] / top if top else None)} | — | 0 | 0 | — | — |"
    )
    return lines


def _curves_table(result: dict[str, Any]) -> list[str]:
    pair = result["pair"]
    lines = ["", "## Over the quality_share sweep", ""]
    if pair is not None:
        lines += [
            f"Strong model: {pair['strong']}; weak: {pair['weak']}. APGR and CPT as RouteLLM defines them "
            "(over the share of calls to the strong model; random 0.5); AIQ over cost.",
            "",
            "| | APGR | CPT(50%) | CPT(80%) | strong calls covered | AIQ | settings |",
            "|---|---:|---:|---:|---|---:|---:|",
        ]
        for name, run in result["strategies"].items():
            low, high = run["strong_share_span"]
            lines.append(
                f"| {name} | {_num(run['apgr'])} | {_pct(run['cpt50'])} | {_pct(run['cpt80'])} | "
                f"{_pct(low)}–{_pct(high)} | {_num(run['aiq'])} | {len(run['sweep'])} |"
            )
        oracle = result["oracle"]
        lines.append(
            f"| per-prompt oracle | {_num(oracle['apgr'])} | {_pct(oracle['cpt50'])} | "
            f"{_pct(oracle['cpt80'])} | 0%–100% | {_num(oracle['aiq'])} | — |"
        )
        lines.append(f"| random | 0.500 | 50.0% | 80.0% | 0%–100% | {_num(result['aiq_single_models'])} | — |")
        return lines
    lines += [
        "AIQ: mean quality of the quality/cost hull, cost normalised between the cheapest and the most expensive "
        "single model (random mixing of single models is its baseline).",
        "",
        "| | AIQ | settings |",
        "|---|---:|---:|",
    ]
    for name, run in result["strategies"].items():
        lines.append(f"| {name} | {_num(run['aiq'])} | {len(run['sweep'])} |")
    lines.append(f"| single models (random mixing) | {_num(result['aiq_single_models'])} | — |")
    lines.append(f"| per-prompt oracle | {_num(result['oracle']['aiq'])} | — |")
    return lines


def _task_table(result: dict[str, Any]) -> list[str]:
    names = list(result["models"])
    strategies = list(result["strategies"])
    strong = result["pair"]["strong"] if result["pair"] else None
    head = " | ".join(f"{name} score" for name in names)
    routed = " | ".join(f"{s}: to {strong}" if strong else f"{s}: most chosen" for s in strategies)
    lines = [
        "",
        "## By task type (costmux's prompt analysis)",
        "",
        "Where the task type separates prompts the models score differently on, routing by it can help; where "
        "every type shows the same gap, it cannot. Routed: at each strategy's default.",
        "",
        f"| task type | prompts | share | {head} | {routed} |",
        "|---|---:|---:|" + "---:|" * (len(names) + len(strategies)),
    ]
    for row in result["tasks"]:
        scores = " | ".join(f"{row['scores'][name]:.3f}" for name in names)
        cells = []
        for strategy in strategies:
            shares = row["routed"][strategy]
            if strong:
                cells.append(_pct(shares[strong]))
            else:
                top = max(shares, key=lambda name: shares[name])
                cells.append(f"{top} ({_pct(shares[top])})")
        lines.append(f"| {row['task']} | {row['prompts']:,} | {_pct(row['share'])} | {scores} | {' | '.join(cells)} |")
    return lines
