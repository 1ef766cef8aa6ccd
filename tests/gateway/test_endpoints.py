"""GET /v1/models, /health and /metrics in-process; bearer auth; settings; apps that never share metrics."""

from __future__ import annotations

import pytest

from app.errors import ConfigurationError
from app.gateway import GatewaySettings, create_app
from app.providers import ProviderRegistry
from app.router import available_strategies
from tests.gateway.conftest import MESSAGES, GatewayFactory, ScriptedProxy, provider_for, running

KEY = "sk-gateway-client-key"


async def test_models_lists_the_auto_routes_and_the_priced_models(gateway: GatewayFactory) -> None:
    async with gateway(auto_exclude="small") as client:
        response = await client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    by_id = {item["id"]: item for item in body["data"]}
    routes = {"auto", *(f"auto:{name}" for name in available_strategies())}  # other tests may register strategies
    assert {"auto:cost_optimized", "auto:heuristic"} < routes
    assert set(by_id) == routes | {"frontier", "mid", "small"}
    assert all(item["object"] == "model" for item in body["data"])
    assert by_id["auto"]["costmux"] == {"strategy": "cost_optimized"}
    frontier = by_id["frontier"]
    assert frontier["owned_by"] == "litellm"
    assert frontier["costmux"] == {
        "provider": "litellm",
        "input_usd_per_1m": "5",
        "output_usd_per_1m": "15",
        "context_window": 128000,
        "max_output_tokens": 4096,
        "auto": True,
    }
    assert by_id["small"]["costmux"]["auto"] is False and by_id["mid"]["costmux"]["input_usd_per_1m"] == "0.5"


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
async def test_health_reports_the_gateway_and_its_upstream(
    gateway: GatewayFactory, proxy: ScriptedProxy, healthy: bool, status: int
) -> None:
    proxy.healthy = healthy
    async with gateway(api_key=KEY) as client:  # no key needed: probes must reach it
        response = await client.get("/health")
    assert response.status_code == status
    assert response.json() == {
        "status": "ok" if healthy else "degraded",
        "gateway": "ok",
        "upstream": {"litellm": healthy},
    }
    assert proxy.sent == []  # never a paid call


async def test_metrics_count_what_the_gateway_routed(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    proxy.behaviour["frontier"] = 503
    async with gateway() as client:
        await client.post("/v1/chat/completions", json={"model": "auto:heuristic", "messages": MESSAGES})
        await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES, "max_cost": 1e-9})
        response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['costmux_requests_total{model="mid",outcome="success",provider="litellm"}'] == 1
    assert samples['costmux_requests_total{model="frontier",outcome="unavailable",provider="litellm"}'] == 1
    assert any(k.startswith("costmux_fallbacks_total{") and v == 1 for k, v in samples.items())
    assert any(k.startswith("costmux_budget_refusals_total{") and v == 1 for k, v in samples.items())


async def test_a_provider_registered_while_the_gateway_runs_is_counted(proxy: ScriptedProxy) -> None:
    first = provider_for(proxy)
    registry = ProviderRegistry({"litellm": first})
    app = create_app(GatewaySettings.load(), providers=registry)
    late = provider_for(proxy, name="late")
    async with running(app) as client:
        registry.register(late)
        registry.unregister("litellm")
        response = await client.post("/v1/chat/completions", json={"model": "small", "messages": MESSAGES})
        text = (await client.get("/metrics")).text
    await first.aclose()
    await late.aclose()
    assert response.headers["x-costmux-provider"] == "late"
    served = [line for line in text.splitlines() if line.startswith("costmux_requests_total{")]
    assert served == ['costmux_requests_total{model="small",outcome="success",provider="late"} 1.0']


async def test_two_apps_in_one_process_keep_their_own_metrics() -> None:
    counts = []
    for _ in range(2):
        proxy = ScriptedProxy()
        provider = provider_for(proxy)
        app = create_app(GatewaySettings.load(), providers={"litellm": provider})
        async with running(app) as client:
            await client.post("/v1/chat/completions", json={"model": "small", "messages": MESSAGES})
            text = (await client.get("/metrics")).text
        await provider.aclose()
        counts.append([line for line in text.splitlines() if line.startswith("costmux_requests_total{")])
    assert counts[0] == counts[1] == ['costmux_requests_total{model="small",outcome="success",provider="litellm"} 1.0']


async def test_metrics_can_be_disabled(proxy: ScriptedProxy) -> None:
    provider = provider_for(proxy)
    app = create_app(GatewaySettings.load(), providers={"litellm": provider}, metrics=False)
    async with running(app) as client:
        assert (await client.get("/metrics")).status_code == 404
    await provider.aclose()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        (f"Basic {KEY}", 401),
        ("Bearer", 401),
        ("Bearer ", 401),
        (f"Bearer {KEY[:-1]}", 401),
        (f"Bearer {KEY}x", 401),
        (f"Bearer {KEY} {KEY}", 401),
        ("Bearer \u00e9t\u00e9".encode("latin-1"), 401),
        (f"Bearer {KEY}", 200),
        (f"bearer {KEY}", 200),
        (f"Bearer  {KEY} ", 200),
    ],
)
async def test_a_configured_key_is_required_on_the_api(
    gateway: GatewayFactory, proxy: ScriptedProxy, authorization: str | bytes | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with gateway(api_key=KEY) as client:
        chat = await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES}, headers=headers)
        models = await client.get("/v1/models", headers=headers)
        metrics = await client.get("/metrics", headers=headers)
    assert chat.status_code == models.status_code == metrics.status_code == status
    if status == 401:
        error = chat.json()["error"]
        assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
        assert chat.headers["www-authenticate"] == "Bearer" and proxy.sent == []
        assert KEY not in chat.text


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTMUX_API_KEY", KEY)
    monkeypatch.setenv("COSTMUX_PORT", "9123")
    monkeypatch.setenv("COSTMUX_DEFAULT_STRATEGY", "heuristic")
    monkeypatch.setenv("COSTMUX_DEFAULT_MAX_COST", "0.002")
    monkeypatch.setenv("COSTMUX_AUTO_EXCLUDE", " mock-gpt ,litellm/x,")
    settings = GatewaySettings.load()
    assert settings.host == "127.0.0.1" and settings.port == 9123 and settings.default_strategy == "heuristic"
    assert str(settings.default_max_cost) == "0.002" and settings.auto_excluded == {"mock-gpt", "litellm/x"}
    assert KEY not in repr(settings) and settings.api_key is not None
    assert GatewaySettings.load(port=1234, host="0.0.0.0").port == 1234  # arguments win


@pytest.mark.parametrize(
    ("name", "value"), [("COSTMUX_PORT", "http"), ("COSTMUX_DEFAULT_MAX_COST", "-1"), ("COSTMUX_BUDGET_MODE", "x")]
)
def test_an_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        GatewaySettings.load()


async def test_an_unknown_default_strategy_fails_at_startup(proxy: ScriptedProxy) -> None:
    app = create_app(GatewaySettings.load(default_strategy="fastest"), providers={"litellm": provider_for(proxy)})
    with pytest.raises(ConfigurationError, match="COSTMUX_DEFAULT_STRATEGY"):
        async with app.router.lifespan_context(app):
            pass
