"""Outcome files: the format, clear errors with line numbers, gzip, and a round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import ConfigurationError, DataFileError
from app.evaluation import read_outcomes, write_outcomes

GOOD = {"prompt": "What is 2+2?", "scores": {"a": 1, "b": 0.5}}


def write(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_prompt_or_messages_scores_tokens_id_and_group(tmp_path: Path) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    data = read_outcomes(
        write(
            tmp_path / "o.jsonl",
            GOOD,
            "",
            {"messages": messages, "scores": {"b": 0, "a": 1}, "output_tokens": {"a": 12}, "id": 7, "group": "x"},
        )
    )
    assert data.models == ("a", "b") and len(data.rows) == 2
    first, second = data.rows
    assert first.messages == ({"role": "user", "content": "What is 2+2?"},) and first.output_tokens == {}
    assert second.line == 3 and second.messages == tuple(messages) and second.output_tokens == {"a": 12}
    assert (second.id, second.group) == ("7", "x")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"prompt": "x", "scores": {"a": 1, "b": 1}, "score": 1}, "unknown keys ['score']"),
        ({"scores": {"a": 1, "b": 1}}, 'either "prompt"'),
        ({"prompt": "x", "messages": [], "scores": {"a": 1, "b": 1}}, 'either "prompt"'),
        ({"prompt": "  ", "scores": {"a": 1, "b": 1}}, "non-empty string"),
        ({"messages": [{"content": "x"}], "scores": {"a": 1, "b": 1}}, "messages[0]"),
        ({"prompt": "x", "scores": {"a": 1.5, "b": 1}}, "scores['a'] must be in [0, 1]"),
        ({"prompt": "x", "scores": {"a": True, "b": 1}}, "scores['a'] must be a number"),
        ({"prompt": "x", "scores": {"a": 1}}, "missing ['b']"),
        ({"prompt": "x", "scores": {"a": 1, "b": 1, "c": 1}}, "unexpected ['c']"),
        ({"prompt": "x", "scores": {"a": 1, "b": 1}, "output_tokens": {"c": 3}}, "has no score"),
        ({"prompt": "x", "scores": {"a": 1, "b": 1}, "output_tokens": {"a": -3}}, "non-negative integer"),
    ],
)
def test_a_bad_line_names_its_number_and_what_is_wrong(tmp_path: Path, line: object, message: str) -> None:
    path = write(tmp_path / "o.jsonl", GOOD, line)
    with pytest.raises(DataFileError, match=r"o\.jsonl:2: ") as caught:
        read_outcomes(path)
    assert message in str(caught.value) and caught.value.line == 2
    assert isinstance(caught.value, ConfigurationError)


def test_an_empty_or_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no outcomes"):
        read_outcomes(write(tmp_path / "empty.jsonl", ""))
    with pytest.raises(DataFileError, match="cannot read"):
        read_outcomes(tmp_path / "missing.jsonl")


def test_gzip_round_trip_is_byte_stable(tmp_path: Path) -> None:
    data = read_outcomes(write(tmp_path / "o.jsonl", GOOD, {**GOOD, "output_tokens": {"b": 4}, "group": "g"}))
    assert write_outcomes(tmp_path / "a.jsonl.gz", data.rows) == 2
    write_outcomes(tmp_path / "b.jsonl.gz", data.rows)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    again = read_outcomes(tmp_path / "a.jsonl.gz")
    assert [(r.messages, dict(r.scores), dict(r.output_tokens), r.group) for r in again.rows] == [
        (r.messages, dict(r.scores), dict(r.output_tokens), r.group) for r in data.rows
    ]
