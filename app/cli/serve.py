"""``costmux serve``: the OpenAI-compatible gateway (:mod:`app.gateway`) under uvicorn.

Settings: flags, then the environment, then a ``.env`` file in the working directory (``COSTMUX_*`` for the gateway,
``LITELLM_BASE_URL`` / ``LITELLM_API_KEY`` for the upstream proxy). Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from app.errors import ConfigurationError

if TYPE_CHECKING:
    from app.gateway import GatewaySettings
    from app.settings import ProviderSettings

__all__ = ["add_serve_command", "run_serve"]

_UVICORN_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_serve_command(commands: Any) -> None:
    """Register ``serve`` on the ``costmux`` subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the OpenAI-compatible costmux gateway in front of a LiteLLM proxy",
        description="OpenAI-compatible gateway: POST /v1/chat/completions (model auto, auto:<strategy> or a model; "
        "max_cost in the body or X-Max-Cost), GET /v1/models, /health, /metrics, /v1/budgets. Several replicas share "
        "spend budgets, rate limits and model health through --redis-url.",
    )
    serve.add_argument("--host", help="address to bind (default: COSTMUX_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: COSTMUX_PORT or 8080; 0: any free port)")
    serve.add_argument("--proxy-url", help="LiteLLM proxy URL (default: LITELLM_BASE_URL)")
    serve.add_argument("--api-key", help="the proxy's key (default: LITELLM_API_KEY)")
    serve.add_argument("--gateway-key", help="bearer key clients must send (default: COSTMUX_API_KEY; none: open)")
    serve.add_argument(
        "--strategy", help='strategy of model "auto" (default: COSTMUX_DEFAULT_STRATEGY or cost_optimized)'
    )
    serve.add_argument("--max-cost", help="cap in USD for requests that give none (default: COSTMUX_DEFAULT_MAX_COST)")
    serve.add_argument("--budget-mode", choices=("estimate", "strict", "exact"), help="prompt bound of the cap")
    serve.add_argument(
        "--quality-model",
        metavar="FILE",
        help='learned quality model of model "auto" (costmux train; "default": the shipped one; default: '
        "COSTMUX_QUALITY_MODEL, else the catalog's per-task figures)",
    )
    serve.add_argument("--auto-exclude", help='comma-separated models "auto" never picks (still reachable by name)')
    serve.add_argument(
        "--max-body-bytes", type=int, help="largest request body accepted, bytes (default: 16 MiB; larger: 413)"
    )
    serve.add_argument(
        "--keys", metavar="FILE", help="YAML file of gateway keys, teams and spend budgets (default: COSTMUX_KEYS_FILE)"
    )
    serve.add_argument(
        "--redis-url",
        help="Redis shared by the replicas: budgets, rate limits, hold-offs, breakers (default: COSTMUX_REDIS_URL; "
        "none: this process only)",
    )
    serve.add_argument(
        "--redis-prefix", help="first part of every Redis key (default: COSTMUX_REDIS_PREFIX or costmux)"
    )
    serve.add_argument("--log-level", choices=_UVICORN_LOG_LEVELS, default="warning", help="uvicorn's log level")
    serve.set_defaults(handler=run_serve)


def _settings(args: argparse.Namespace) -> tuple[GatewaySettings, ProviderSettings]:
    from app.cli.commands import CliSettings
    from app.gateway.settings import GatewaySettings
    from app.providers.transport import normalize_base_url
    from app.router.strategies import available_strategies

    env_file = ".env" if os.path.isfile(".env") else None
    settings = GatewaySettings.load(
        env_file,
        host=args.host,
        port=args.port,
        api_key=args.gateway_key,
        default_strategy=args.strategy,
        default_max_cost=args.max_cost,
        budget_mode=args.budget_mode,
        auto_exclude=args.auto_exclude,
        quality_model=args.quality_model,
        max_body_bytes=args.max_body_bytes,
        keys_file=args.keys,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
    )
    if settings.keys_file is not None:
        from app.budgets import load_keys_file

        load_keys_file(settings.keys_file)  # a bad file is one clear error before anything starts
    if settings.redis_url is not None:
        from app.stores import RedisConnection

        RedisConnection(settings.redis_url.get_secret_value())  # checks the URL's form (never logged with a password)
    if settings.quality_model is not None:
        from app.quality import load_quality_model

        load_quality_model(settings.quality_model)  # a bad file is one clear error before anything starts
    if settings.default_strategy not in available_strategies():
        known = ", ".join(available_strategies())
        raise ConfigurationError(f"unknown strategy {settings.default_strategy!r} (known: {known})")
    upstream = CliSettings.load()
    updates: dict[str, Any] = {}
    if args.proxy_url:
        updates["base_url"] = args.proxy_url
    if args.api_key:
        from pydantic import SecretStr

        updates["api_key"] = SecretStr(args.api_key)
    upstream = upstream.model_copy(update=updates)
    if not upstream.base_url:
        raise ConfigurationError("no LiteLLM proxy URL: pass --proxy-url or set LITELLM_BASE_URL")
    normalize_base_url(upstream.base_url)  # raises ConfigurationError for a malformed URL
    return settings, upstream


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound before uvicorn starts so that a taken port is one clear error.

    Created with ``IPPROTO_TCP`` explicitly: asyncio sets ``TCP_NODELAY`` only on sockets whose ``proto`` says TCP,
    and without it a response written in two parts waits ~40 ms for the client's delayed ACK.
    """
    sock: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        return sock
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    settings, upstream = _settings(args)
    try:
        import uvicorn

        from app.gateway import create_app
    except ImportError as exc:
        raise ConfigurationError(
            f"costmux serve needs the 'server' extra (pip install 'costmux[server]'): {exc}"
        ) from None
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    app = create_app(settings, upstream=upstream)
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    where = f"[{host}]" if ":" in host else host
    shared = ""
    if settings.redis_url is not None:
        from app.stores import redact_url

        shared = f", shared state in {redact_url(settings.redis_url.get_secret_value())}"
    print(
        f"costmux gateway on http://{where}:{port} (upstream {upstream.base_url}{shared})", file=sys.stderr, flush=True
    )
    try:
        server.run(sockets=[sock])  # uvloop and httptools when installed
    finally:
        sock.close()
    if not server.started:
        raise ConfigurationError("the gateway did not start (see the log above)")
    return 0
