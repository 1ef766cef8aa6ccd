"""Labelled outcome files: what each model scored on each prompt, read from JSONL (optionally gzip-compressed).

One prompt a line::

    {"prompt": "...", "scores": {"model-a": 1.0, "model-b": 0.0}}
    {"messages": [{"role": "user", "content": "..."}], "scores": {...}, "output_tokens": {"model-a": 212, ...}}

``prompt`` (a user message) or ``messages`` (OpenAI-style chat messages) is required, and ``scores`` maps every model
of the file to a number in [0, 1] (every line scores the same models). Optional: ``output_tokens`` (per model, the
answer's length in tokens, for costing), ``id`` and ``group`` (a string: a subject or category, kept for reports and
for folds by group). Blank lines are skipped; anything else that is wrong raises :class:`~app.errors.DataFileError`
with the line number.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

from app.errors import DataFileError

__all__ = ["Outcome", "OutcomeSet", "open_text", "outcome_dict", "read_outcomes", "write_outcomes"]

_KEYS = frozenset({"prompt", "messages", "scores", "output_tokens", "id", "group"})


class Outcome(NamedTuple):
    """One labelled prompt: the chat ``messages`` a router sees, each model's ``scores`` in [0, 1], each model's
    answer length ``output_tokens`` where known (tokens), and the file's ``line``, ``id`` and ``group``."""

    line: int
    messages: tuple[dict[str, Any], ...]
    scores: Mapping[str, float]
    output_tokens: Mapping[str, int]
    id: str | None
    group: str | None


class OutcomeSet(NamedTuple):
    """The outcomes of one file, with the models every row scores (in the first row's order)."""

    path: str
    models: tuple[str, ...]
    rows: tuple[Outcome, ...]


def open_text(path: str | Path, mode: str = "r") -> IO[str]:
    """Open a UTF-8 text file, transparently gzip-compressed when its name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(path, mode + "b"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_outcomes(path: str | Path) -> OutcomeSet:
    """Read and validate an outcome file (see the module doc).

    Raises:
        DataFileError: the file cannot be read, is empty, or a line is invalid (its number in the message).
    """
    name = str(path)
    rows: list[Outcome] = []
    models: tuple[str, ...] = ()
    try:
        with open_text(path) as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                row = _parse_line(text, number, name, models)
                if not models:
                    models = tuple(row.scores)
                rows.append(row)
    except OSError as exc:
        raise DataFileError(f"cannot read it ({exc.strerror or exc})", path=name) from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(f"not UTF-8 text ({exc.reason})", path=name) from exc
    if not rows:
        raise DataFileError("no outcomes (one JSON object a line is expected)", path=name)
    return OutcomeSet(name, models, tuple(rows))


def _parse_line(text: str, number: int, path: str, models: tuple[str, ...]) -> Outcome:
    def fail(message: str) -> DataFileError:
        return DataFileError(message, path=path, line=number)

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise fail("each line must be a JSON object with prompt (or messages) and scores")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(f"unknown keys {unknown}; known keys: {', '.join(sorted(_KEYS))}")
    messages = _messages(raw, fail)
    scores = _scores(raw.get("scores"), fail)
    if models and set(scores) != set(models):
        missing, extra = sorted(set(models) - set(scores)), sorted(set(scores) - set(models))
        raise fail(
            f"every line must score the same models as the first ({', '.join(models)}): "
            f"missing {missing}, unexpected {extra}"
        )
    tokens = _output_tokens(raw.get("output_tokens"), scores, fail)
    return Outcome(
        number, messages, scores, tokens, _optional_text(raw, "id", fail), _optional_text(raw, "group", fail)
    )


def _messages(raw: Mapping[str, Any], fail: Any) -> tuple[dict[str, Any], ...]:
    prompt, messages = raw.get("prompt"), raw.get("messages")
    if (prompt is None) == (messages is None):
        raise fail('give either "prompt" (a string) or "messages" (a list of chat messages), not both or neither')
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise fail("prompt must be a non-empty string")
        return ({"role": "user", "content": prompt},)
    if not isinstance(messages, list) or not messages:
        raise fail("messages must be a non-empty list of chat messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise fail(f"messages[{index}] must be an object with a role and a content")
        if not isinstance(message.get("content"), str | list):
            raise fail(f"messages[{index}].content must be a string or a list of content parts")
    return tuple(messages)


def _scores(raw: Any, fail: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw:
        raise fail("scores must be an object mapping model names to numbers in [0, 1]")
    scores: dict[str, float] = {}
    for model, score in raw.items():
        if not model.strip():
            raise fail("scores has an empty model name")
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise fail(f"scores[{model!r}] must be a number in [0, 1], got {score!r}")
        if not 0 <= score <= 1:
            raise fail(f"scores[{model!r}] must be in [0, 1], got {score!r}")
        scores[model] = float(score)
    return scores


def _output_tokens(raw: Any, scores: Mapping[str, float], fail: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("output_tokens must be an object mapping model names to token counts")
    tokens: dict[str, int] = {}
    for model, count in raw.items():
        if model not in scores:
            raise fail(f"output_tokens names {model!r}, which has no score")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise fail(f"output_tokens[{model!r}] must be a non-negative integer, got {count!r}")
        tokens[model] = count
    return tokens


def _optional_text(raw: Mapping[str, Any], key: str, fail: Any) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise fail(f"{key} must be a string, got {value!r}")
    return str(value)


def outcome_dict(row: Outcome) -> dict[str, Any]:
    """The JSON object of one outcome line (``prompt`` for a single user message, else ``messages``)."""
    single = len(row.messages) == 1 and row.messages[0].get("role") == "user"
    out: dict[str, Any] = {}
    if row.id is not None:
        out["id"] = row.id
    if row.group is not None:
        out["group"] = row.group
    out.update({"prompt": row.messages[0]["content"]} if single else {"messages": list(row.messages)})
    out["scores"] = dict(row.scores)
    if row.output_tokens:
        out["output_tokens"] = dict(row.output_tokens)
    return out


def write_outcomes(path: str | Path, rows: Iterable[Outcome]) -> int:
    """Write outcomes as JSONL (gzip when ``path`` ends in ``.gz``, with a fixed mtime so the bytes are
    reproducible); returns the number of lines."""
    count = 0
    lines = (json.dumps(outcome_dict(row), ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    if str(path).endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as packed:
            for line in lines:
                packed.write(line.encode("utf-8"))
                count += 1
        return count
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
            count += 1
    return count
