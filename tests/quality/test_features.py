"""The request-path featurizer: which text it reads, and the terms it makes."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from app.evaluation import read_outcomes
from app.quality import QualityModel, load_quality_model, prompt_terms, prompt_text, text_features
from app.quality.features import HEAD_CHARS, TAIL_CHARS, window

ROOT = Path(__file__).resolve().parents[2]


def test_the_last_user_message_is_the_text() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
    ]
    assert prompt_text(messages) == "second"


def test_without_a_user_message_the_last_text_is_used_and_objects_work_too() -> None:
    assert prompt_text([{"role": "system", "content": "only a system prompt"}]) == "only a system prompt"
    assert prompt_text([SimpleNamespace(role="user", content="from an object")]) == "from an object"
    assert prompt_text([{"role": "user", "content": None}]) == ""


def test_terms_are_distinct_lowercase_words_adjacent_pairs_triples_and_marks() -> None:
    pairs = {("how", "many"), ("many", "how")}
    triples = {("how", "many", "how"), ("many", "how", "many")}
    assert prompt_terms("How many? How MANY!") == {"how", "many", *pairs, *triples, "?", "!"}
    assert prompt_terms("x=3.5, über-groß") == {"x", "3", "5", "über", "groß", ("x", "3"), ("3", "5"), ("5", "über"),
                                                ("über", "groß"), ("x", "3", "5"), ("3", "5", "über"),
                                                ("5", "über", "groß"), "=", ".", ",", "-"}  # fmt: skip
    assert prompt_terms("one two") == {"one", "two", ("one", "two")}


def test_only_the_head_and_tail_windows_are_read() -> None:
    middle = "zebra " * 5000
    text = "alpha " * (HEAD_CHARS // 6) + middle + "omega " * (TAIL_CHARS // 6)
    terms = prompt_terms(text)
    assert {"alpha", "omega"} <= terms
    assert "zebra" not in terms


_TEXTS = st.text(alphabet=st.sampled_from("ab c.?!\n-_'0123456789éß漢"), max_size=120) | st.text(max_size=80)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_TEXTS, min_size=1, max_size=6), text=_TEXTS)
def test_the_request_path_finds_exactly_the_columns_of_the_terms_training_counts(texts: list[str], text: str) -> None:
    vocabulary = sorted({term for sample in texts for term in prompt_terms(sample)}, key=repr)
    model = QualityModel(tuple(vocabulary), (), {})
    for sample in [*texts, text]:
        assert sorted(model.text_columns(sample)) == sorted(model.columns(prompt_terms(sample)))


def test_the_shipped_model_finds_the_same_columns_on_real_prompts() -> None:
    model = load_quality_model("default")
    prompts = [prompt_text(row.messages) for row in read_outcomes(ROOT / "datasets/routellm/mt_bench.jsonl.gz").rows]
    long_prompt = " ".join(prompts) * 3
    for text in [*prompts, long_prompt]:
        assert sorted(model.text_columns(text)) == sorted(model.columns(prompt_terms(text, model.window_chars)))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=3000) | st.text(alphabet=st.sampled_from("ab. ?!\n12漢"), max_size=3000))
def test_text_features_count_digits_sentences_and_question_marks_of_the_windows(text: str) -> None:
    seen = window(text)
    digits = sum(seen.count(digit) for digit in "0123456789")
    sentences = seen.count(". ") + seen.count("? ") + seen.count("! ") + seen.count("\n") + 1
    expected = (math.log1p(digits) / 3.0, math.log1p(sentences) / 3.0, min(seen.count("?"), 4) / 4.0)
    assert text_features(text) == expected
