"""Micro-benchmark: microseconds per call of the router's token counting and prompt analysis.

Prompts of about 200 B, 2 KB and 20 KB (English prose, Python code in a fence, CJK) as one user message
after a short system message. Run from the repository root::

    python bench/bench_analysis.py [--repeat 5]

Prints the best-of-``repeat`` mean per call (each repeat times enough calls to last >= 0.2 s).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.router.analysis import analyze
from app.tokens import count_prompt_tokens, estimate_tokens, upper_bound_tokens

PROSE = (
    "Our support team received several complaints about slow page loads on mobile devices. "
    "Please analyze the attached report, compare the two caching strategies step by step and "
    "recommend one; the answer must be under 300 words and avoid jargon. "
)
CODE = (
    "def load_config(path, defaults=None):\n"
    "    with open(path, encoding='utf-8') as fh:\n"
    "        data = json.load(fh)\n"
    "    if defaults is not None:\n"
    "        data = {**defaults, **data}\n"
    "    return data\n\n"
)
CJK = "人工智能正在改变我们的生活方式，许多公司都在投入大量资源进行研究。请帮我把这段文字翻译成英文。"


def _sized(unit: str, size: int) -> str:
    text = unit * (size // len(unit.encode()) + 1)
    while len(text.encode()) > size:
        text = text[:-1]
    return text


def prompts() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for size in (200, 2_000, 20_000):
        label = f"{size // 1000} KB" if size >= 1000 else f"{size} B"
        system = {"role": "system", "content": "You are a helpful assistant."}
        out[f"prose {label}"] = [system, {"role": "user", "content": _sized(PROSE, size)}]
        code = "Why does this crash?\n```python\n" + _sized(CODE, size - 40) + "```"
        out[f"code {label}"] = [system, {"role": "user", "content": code}]
        out[f"cjk {label}"] = [system, {"role": "user", "content": _sized(CJK, size)}]
    return out


def time_call(fn: Callable[[], object], repeat: int) -> float:
    """Best-of-``repeat`` mean seconds per call."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, 1)
    return min(timer.repeat(repeat=repeat, number=number)) / number


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'prompt':<14} {'bytes':>7} {'estimate_tokens':>16} {'upper(strict)':>14} "
        f"{'count_prompt_tokens':>20} {'analyze':>9}   (µs per call)"
    )
    for name, messages in prompts().items():
        size = sum(len(str(m["content"]).encode()) for m in messages)
        est = time_call(lambda m=messages: estimate_tokens(m), args.repeat)
        strict = time_call(lambda m=messages: upper_bound_tokens(m, "strict"), args.repeat)
        counts = time_call(lambda m=messages: count_prompt_tokens(m), args.repeat)
        full = time_call(lambda m=messages: analyze(m), args.repeat)
        print(
            f"{name:<14} {size:>7,} {est * 1e6:>16.1f} {strict * 1e6:>14.1f} {counts * 1e6:>20.1f} {full * 1e6:>9.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
