"""The ``costmux`` command line: ``demo``, ``route``, ``models``, ``serve``, ``eval``, ``train`` and ``convert``.

Connection settings come from flags, then the environment (``LITELLM_BASE_URL``, ``LITELLM_API_KEY`` and their
aliases), then a ``.env`` file in the working directory; ``COSTMUX_LOG_LEVEL`` (default ``ERROR``) shows more of
costmux's log. Errors are one line on stderr with a non-zero exit code:
1 for a costmux error, 2 for bad usage (argparse), 3 when the budget refuses the request, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from app.errors import BudgetExceededError, CostmuxError

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_BUDGET = 3


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proxy-url", help="LiteLLM proxy URL (default: LITELLM_BASE_URL)")
    parser.add_argument("--api-key", help="proxy key (default: LITELLM_API_KEY)")


def _parser() -> argparse.ArgumentParser:
    from app.cli.commands import run_models, run_route
    from app.cli.demo import run_demo
    from app.cli.evaluate import add_convert_command, add_eval_command
    from app.cli.serve import add_serve_command
    from app.cli.train import add_train_command

    parser = argparse.ArgumentParser(prog="costmux", description="Cost-aware routing for the LiteLLM proxy.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the end-to-end demo against a real LiteLLM proxy")
    demo.add_argument("--proxy-url", help="use this running proxy instead of starting one")
    demo.add_argument("--api-key", help="key for --proxy-url (default: LITELLM_API_KEY)")
    demo.add_argument("--max-cost", type=float, default=None, help="cap per request in USD (default: 0.01)")
    demo.add_argument(
        "--via",
        choices=("client", "plugin"),
        default="client",
        help="client: costmux routes in this process (default); plugin: inside the proxy, by its costmux callback",
    )
    demo.set_defaults(handler=run_demo)

    route = commands.add_parser("route", help="route one prompt within a cost cap and show the decision table")
    route.add_argument("prompt", help="the user message")
    route.add_argument("--max-cost", type=float, default=None, help="hard cap in USD (default: no cap)")
    route.add_argument("--max-tokens", type=int, default=None, help="max_tokens of the request")
    route.add_argument("--strategy", choices=("cost_optimized", "heuristic"), default="cost_optimized")
    route.add_argument("--budget-mode", choices=("estimate", "strict"), default="estimate")
    route.add_argument("--dry-run", action="store_true", help="decide only; send nothing")
    _connection_flags(route)
    route.set_defaults(handler=run_route)

    models = commands.add_parser("models", help="prices, windows, limits and health of the proxy's models")
    _connection_flags(models)
    models.set_defaults(handler=run_models)

    add_serve_command(commands)
    add_eval_command(commands)
    add_convert_command(commands)
    add_train_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``costmux`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("COSTMUX_LOG_LEVEL", "ERROR").upper(), format="costmux: %(message)s")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BudgetExceededError as exc:
        print(f"costmux: {exc}", file=sys.stderr)
        return EXIT_BUDGET
    except CostmuxError as exc:
        print(f"costmux: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
