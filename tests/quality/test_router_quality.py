"""Routers with a learned quality model: per-prompt estimates, their sources, and the per-prompt knob."""

from __future__ import annotations

import pytest

from app.errors import ConfigurationError, QualityModelError
from app.evaluation import OfflineProvider
from app.router import Router
from app.router.quality import CatalogQuality, LearnedQuality, quality_estimator
from app.router.strategies import QualityFloor, knob_threshold
from tests.quality.helpers import hand_model

PRICES = {
    "gpt-4.1": {"input_per_1m": 2, "output_per_1m": 8},
    "gpt-4.1-mini": {"input_per_1m": 0.4, "output_per_1m": 1.6},
    "claude-sonnet-4-5": {"input_per_1m": 3, "output_per_1m": 15},
}


def _providers(*models: str) -> dict[str, OfflineProvider]:
    return {"offline": OfflineProvider(list(models), prices={name: PRICES[name] for name in models})}


def _ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# the strong model answers everything well; the weak one fails prompts that mention "integral"
MODEL = hand_model(
    {"gpt-4.1": (3.0, {}), "gpt-4.1-mini": (3.0, {"integral": -6.0})},
    difficulty={"integral": -2.0, "hello": 1.0},
)


@pytest.mark.parametrize("strategy", ["cost_optimized", "heuristic"])
def test_the_strong_model_gets_only_the_prompts_the_weak_one_would_fail(strategy: str) -> None:
    router = Router(strategy, quality_model=MODEL, providers=_providers("gpt-4.1", "gpt-4.1-mini"))
    hard = router.decide(_ask("Compute the integral of x^2 from 0 to 3."))
    easy = router.decide(_ask("Compute 2 + 2."))
    assert (hard.model, easy.model) == ("gpt-4.1", "gpt-4.1-mini")
    verdicts = {verdict.model: verdict for verdict in hard.candidates}
    assert verdicts["gpt-4.1-mini"].quality == pytest.approx(1 / (1 + 2.718281828459045**3), rel=1e-6)
    assert all(verdict.quality_source == "learned" and verdict.quality_per_prompt for verdict in hard.candidates)
    assert "for this prompt (learned)" in hard.explain()
    assert "this prompt" in hard.reason


def test_a_model_it_was_not_trained_on_gets_its_catalog_quality_moved_by_the_prompts_difficulty() -> None:
    catalog = Router(providers=_providers("claude-sonnet-4-5"))
    learned = Router(quality_model=MODEL, providers=_providers("claude-sonnet-4-5"))
    hard_text, easy_text = "the integral of sin", "hello there"
    base = catalog.decide(_ask(hard_text)).chosen
    hard = learned.decide(_ask(hard_text)).chosen
    easy = learned.decide(_ask(easy_text)).chosen
    assert base.quality_source == "catalog"
    assert hard.quality_source == easy.quality_source == "difficulty+catalog"
    assert hard.quality < base.quality < easy.quality
    odds = base.quality / (1 - base.quality)
    assert hard.quality == pytest.approx(odds * 2.718281828459045**-2 / (1 + odds * 2.718281828459045**-2))


def test_the_modes_choose_where_the_quality_comes_from() -> None:
    providers = _providers("gpt-4.1", "claude-sonnet-4-5")
    prompt = _ask("an integral")
    sources = {
        mode: {v.model: v.quality_source for v in Router(quality_model=LearnedQuality(MODEL, mode)).decide(
            prompt, providers).candidates}
        for mode in ("combined", "learned", "difficulty")
    }  # fmt: skip
    assert sources["combined"] == {"gpt-4.1": "learned", "claude-sonnet-4-5": "difficulty+catalog"}
    assert sources["learned"] == {"gpt-4.1": "learned", "claude-sonnet-4-5": "catalog"}
    assert sources["difficulty"] == {"gpt-4.1": "difficulty+catalog", "claude-sonnet-4-5": "difficulty+catalog"}


def test_names_match_heads_as_users_write_them() -> None:
    provider = {"p": OfflineProvider(["openai/gpt-4.1-mini"], prices={"openai/gpt-4.1-mini": PRICES["gpt-4.1-mini"]})}
    chosen = Router(quality_model=MODEL).decide(_ask("an integral"), provider).chosen
    assert chosen.quality_source == "learned"
    assert chosen.quality < 0.1


def test_the_knob_reads_per_prompt_figures_on_an_absolute_scale() -> None:
    assert knob_threshold(0.9, 0.75, per_prompt=False) == pytest.approx(0.675)
    assert knob_threshold(0.9, 0.75, per_prompt=True) == pytest.approx(0.65)
    assert knob_threshold(0.2, 0.5, per_prompt=True) == 0.0
    for share in (0.0, 0.3, 0.9, 1.0):  # never falls as the share rises, and is the best at 1
        assert knob_threshold(0.8, share, True) <= knob_threshold(0.8, min(1.0, share + 0.1), True)
    assert knob_threshold(0.8, 1.0, True) == pytest.approx(0.8)
    floor = QualityFloor()
    from app.router import analyze

    analysis = analyze(_ask("Prove that the sum of two even numbers is even, step by step, with care."))
    assert floor(analysis, 0.9, 0.5, per_prompt=True) == pytest.approx(0.4)
    assert floor(analysis, 0.9, 0.5) >= floor.adequate(analysis)


def test_with_the_knob_at_zero_the_cheapest_and_at_one_the_best_wins() -> None:
    router = Router("cost_optimized", quality_model=MODEL, providers=_providers("gpt-4.1", "gpt-4.1-mini"))
    prompt = _ask("Compute the integral of x.")
    assert router.decide(prompt, quality_share=0.0).model == "gpt-4.1-mini"
    assert router.decide(prompt, quality_share=1.0).model == "gpt-4.1"


def test_estimators_from_settings_paths_and_objects(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert isinstance(quality_estimator(None), CatalogQuality)
    assert isinstance(quality_estimator(MODEL).model, type(MODEL))  # type: ignore[attr-defined]
    MODEL.save(tmp_path / "m.json")
    monkeypatch.setenv("COSTMUX_QUALITY_MODEL", str(tmp_path / "m.json"))
    monkeypatch.setenv("COSTMUX_QUALITY_MODE", "learned")
    router = Router()
    assert isinstance(router.quality, LearnedQuality) and router.quality.mode == "learned"
    monkeypatch.setenv("COSTMUX_QUALITY_MODEL", str(tmp_path / "missing.json"))
    with pytest.raises(QualityModelError, match="cannot read"):
        Router()
    with pytest.raises(ConfigurationError, match="mode"):
        LearnedQuality(MODEL, "best")  # type: ignore[arg-type]
    no_difficulty = hand_model({"gpt-4.1": (1.0, {})})
    with pytest.raises(ConfigurationError, match="no difficulty head"):
        LearnedQuality(no_difficulty, "difficulty")
