"""The routing path's learned prompt bounds (:func:`app.router.prompt_bounds.model_prompt_bounds`): read from a
per-family table of scales remembered until a learned view changes, they equal each model's bound computed from its
view alone (:meth:`PromptBoundLearner.bound`), after any sequence of billed calls and decisions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.providers import LiteLLMProvider
from app.router import CostOptimizedRouter
from app.router.prompt_bounds import model_prompt_bounds
from app.tokens import PRIORS, MemoryBoundStore, PromptBoundLearner, count_prompt_tokens, family_counts
from app.tokens.families import FamilyCounts

MODELS = ("claude-3-haiku", "gpt-4o", "gpt-4-turbo", "gemini-1.5-flash", "open-mistral-7b", "acme-large")
TEXTS = (
    "The quarterly report shows a steady increase in recurring revenue. " * 6,
    "def f(x):\n    return [i * 2 for i in range(x)]\n" * 6,
    "Ça a été très généralement reçu à Zürich. Привет, как дела? " * 5,
    "人工智能正在改变我们的生活方式。" * 8,
    "Hi there.",  # below min_estimate_tokens: the (widened) prior
)
# one billed call: (model, text, billed / estimate); one decision: (None, text, 0)
CALL = st.tuples(st.sampled_from(MODELS), st.sampled_from(TEXTS), st.floats(0.6, 1.6))
DECISION = st.tuples(st.none(), st.sampled_from(TEXTS), st.just(0.0))


def fleet(window: int = 256) -> LiteLLMProvider:
    custom = {
        name: {"pricing": {"input_per_1m": 1.0, "output_per_1m": 2.0}, "metadata": {"context_window": 200_000}}
        for name in MODELS
    }
    learner = PromptBoundLearner(MemoryBoundStore(window=window))
    return LiteLLMProvider("http://proxy.invalid:4000", "k", custom_models=custom, prompt_bounds=learner)


def counts_of(provider: LiteLLMProvider, model: str, text: str) -> FamilyCounts:
    return family_counts(
        count_prompt_tokens([{"role": "user", "content": text}]), PRIORS[provider.token_family(model).family]
    )


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(CALL, CALL, CALL, DECISION), min_size=1, max_size=120), strict=st.booleans())
def test_the_remembered_tables_equal_each_model_s_bound_from_its_view(
    steps: list[tuple[str | None, str, float]], strict: bool
) -> None:
    provider = fleet()
    learner = provider.prompt_bounds
    profiles = CostOptimizedRouter()._profiles_of("litellm", provider)
    mode = "strict" if strict else "estimate"
    decisions = 0
    for model, text, factor in [*steps, (None, TEXTS[0], 0.0), (None, TEXTS[4], 0.0)]:
        if model is not None:
            figures = counts_of(provider, model, text)
            learner.record(model, figures, round(figures.estimate_tokens * factor))
            continue
        counts = count_prompt_tokens([{"role": "user", "content": text}])
        learned = model_prompt_bounds(provider, profiles, counts, mode, {}, {})
        expected = {
            f"litellm/{name}": learner.bound(name, counts_of(provider, name, text), mode)
            for name in MODELS
            if learner.view(name) is not None
        }
        assert (learned or {}) == expected
        decisions += 1
    assert decisions >= 2


def test_a_table_is_rebuilt_when_a_view_changes_and_kept_when_none_does() -> None:
    provider = fleet(window=16)  # full windows: a record of the same ratio moves no view
    learner = provider.prompt_bounds
    profiles = CostOptimizedRouter()._profiles_of("litellm", provider)
    counts = count_prompt_tokens([{"role": "user", "content": TEXTS[0]}])
    figures = counts_of(provider, "claude-3-haiku", TEXTS[0])
    for _ in range(20):
        learner.record("claude-3-haiku", figures, figures.estimate_tokens)
    before = model_prompt_bounds(provider, profiles, counts, "estimate", {}, {})
    version = learner.views_version
    learner.record("claude-3-haiku", figures, figures.estimate_tokens)  # the same ratio again: no view moves
    assert learner.views_version == version
    assert model_prompt_bounds(provider, profiles, counts, "estimate", {}, {}) == before
    learner.record("claude-3-haiku", figures, 2 * figures.estimate_tokens)  # wider at once
    assert learner.views_version > version
    after = model_prompt_bounds(provider, profiles, counts, "estimate", {}, {})
    assert after is not None and before is not None
    assert after["litellm/claude-3-haiku"] > before["litellm/claude-3-haiku"]
    assert after["litellm/claude-3-haiku"] == learner.bound("claude-3-haiku", figures)
