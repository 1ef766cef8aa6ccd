"""The request-path featurizer: which text it reads, and the terms it makes."""

from __future__ import annotations

from types import SimpleNamespace

from app.quality import prompt_terms, prompt_text
from app.quality.features import HEAD_CHARS, TAIL_CHARS


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


def test_terms_are_distinct_lowercase_words_adjacent_pairs_and_marks() -> None:
    assert prompt_terms("How many? How MANY!") == {"how", "many", ("how", "many"), ("many", "how"), "?", "!"}
    assert prompt_terms("x=3.5, über-groß") == {"x", "3", "5", "über", "groß", ("x", "3"), ("3", "5"), ("5", "über"),
                                                ("über", "groß"), "=", ".", ",", "-"}  # fmt: skip


def test_only_the_head_and_tail_windows_are_read() -> None:
    middle = "zebra " * 5000
    text = "alpha " * (HEAD_CHARS // 6) + middle + "omega " * (TAIL_CHARS // 6)
    terms = prompt_terms(text)
    assert {"alpha", "omega"} <= terms
    assert "zebra" not in terms
