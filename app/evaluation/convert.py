"""Readers of public per-prompt outcome sets into costmux's outcome format (:mod:`app.evaluation.outcomes`).

RouteLLM's evaluation data (lm-sys/RouteLLM, ``routellm/evals``; Apache-2.0), laid out as in its repository:

- ``gsm8k/gsm8k_responses.csv``: ``prompt``, one ``True``/``False`` column per model (the answer was correct) and
  ``<model>_response`` with each answer's text, from which each model's ``output_tokens`` is estimated with costmux's
  offline token estimate (:func:`app.tokens.estimate_text_tokens`);
- ``mmlu/responses/mmlu_<subject>.csv``: ``prompt`` and one boolean column per model; ``group`` is the subject;
- ``mt_bench/question.jsonl`` and ``judgements.jsonl``: 80 two-turn questions, each turn of each model judged 1-10 by
  GPT-4. A row is the first turn (routers route on it, as RouteLLM's evaluation does), scored ``(mean of the two
  turns' judgements − 1) / 9`` in [0, 1]; ``output_tokens`` is the estimate of both turns' answers (taken from the
  judge's prompt); ``group`` is the category.

Each set's ``contaminated_prompts.jsonl`` lists prompts that also appear in RouteLLM's training data: they are
removed, as RouteLLM's evaluation removes them (``eval_prompt`` matches a GSM8K/MMLU prompt, or either turn of an
MT-Bench question).

LLMRouter's training outcomes (ulab-uiuc/LLMRouter; MIT) are already one JSON object a line with ``prompt`` and
``scores``: they are validated and copied, and ``default_llm.json``'s prices become a ``--prices`` file.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from app.errors import DataFileError
from app.evaluation.outcomes import Outcome, read_outcomes
from app.tokens import estimate_text_tokens

__all__ = ["convert_llmrouter_prices", "read_gsm8k", "read_llmrouter", "read_mmlu", "read_mt_bench"]

_TRUE, _FALSE = frozenset({"true", "1", "1.0"}), frozenset({"false", "0", "0.0"})
_RESPONSE = "_response"


def _contaminated(path: Path) -> set[str]:
    """The ``eval_prompt`` of every line of a ``contaminated_prompts.jsonl`` (empty when there is no such file)."""
    if not path.is_file():
        return set()
    prompts = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    prompts.add(json.loads(line)["eval_prompt"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise DataFileError(f"not a contamination record ({exc})", path=str(path), line=number) from None
    return prompts


def _bool(value: str, path: Path, line: int, column: str) -> float:
    text = value.strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    raise DataFileError(f"column {column!r} must be True or False, got {value!r}", path=str(path), line=line)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line of the record's start, record)``; fields may span lines (answers do)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "prompt" not in reader.fieldnames:
                raise DataFileError("a RouteLLM outcome CSV needs a prompt column", path=str(path))
            start = reader.line_num + 1
            for record in reader:
                yield start, record
                start = reader.line_num + 1
    except OSError as exc:
        raise DataFileError(f"cannot read it ({exc.strerror or exc})", path=str(path)) from exc


def _model_columns(record: Mapping[str, str]) -> list[str]:
    return [name for name in record if name != "prompt" and not name.endswith(_RESPONSE)]


def read_gsm8k(root: str | Path) -> tuple[list[Outcome], int]:
    """GSM8K outcomes with per-model ``output_tokens`` from the answers: ``(kept rows, removed as contaminated)``."""
    base = Path(root) / "gsm8k"
    path = base / "gsm8k_responses.csv"
    contaminated = _contaminated(base / "contaminated_prompts.jsonl")
    rows: list[Outcome] = []
    removed = 0
    for line, record in _csv_rows(path):
        if record["prompt"] in contaminated:
            removed += 1
            continue
        models = _model_columns(record)
        scores = {model: _bool(record[model], path, line, model) for model in models}
        tokens = {m: estimate_text_tokens(record[m + _RESPONSE]) for m in models if record.get(m + _RESPONSE)}
        rows.append(Outcome(line, ({"role": "user", "content": record["prompt"]},), scores, tokens, None, None))
    return rows, removed


def read_mmlu(root: str | Path) -> tuple[list[Outcome], int]:
    """MMLU outcomes of every subject file, in subject order, ``group`` = subject: ``(kept rows, removed)``."""
    base = Path(root) / "mmlu"
    files = sorted((base / "responses").glob("mmlu_*.csv"))
    if not files:
        raise DataFileError("no mmlu_<subject>.csv files", path=str(base / "responses"))
    contaminated = _contaminated(base / "contaminated_prompts.jsonl")
    rows: list[Outcome] = []
    removed = 0
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        for line, record in _csv_rows(path):
            if record["prompt"] in contaminated:
                removed += 1
                continue
            scores = {model: _bool(record[model], path, line, model) for model in _model_columns(record)}
            rows.append(Outcome(line, ({"role": "user", "content": record["prompt"]},), scores, {}, None, subject))
    return rows, removed


_ANSWER = (
    re.compile(r"### Assistant A:\n(.*?)\n\n(?:### User:|<\|The End of Assistant A's Conversation)", re.S),
    re.compile(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End of Assistant's Answer\]", re.S),
)


def _answers(judge_prompt: str) -> list[str]:
    """The assistant's answers quoted in a judge's prompt (one per turn shown)."""
    for pattern in _ANSWER:
        found = pattern.findall(judge_prompt)
        if found:
            return [str(answer) for answer in found]
    return []


def read_mt_bench(root: str | Path) -> tuple[list[Outcome], int]:
    """MT-Bench: one row per question (its first turn), scored by the mean judgement of both turns scaled to
    [0, 1], ``output_tokens`` of both answers, ``group`` = category: ``(kept rows, removed)``."""
    base = Path(root) / "mt_bench"
    questions = _jsonl(base / "question.jsonl")
    contaminated = _contaminated(base / "contaminated_prompts.jsonl")
    judged: dict[tuple[int, str], list[float]] = {}
    answer_tokens: dict[tuple[int, str], int] = {}
    for number, judgement in enumerate(_jsonl(base / "judgements.jsonl"), start=1):
        try:
            key = (int(judgement["question_id"]), str(judgement["model"]))
            score, turn = float(judgement["score"]), int(judgement["turn"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(f"not a judgement ({exc})", path=str(base / "judgements.jsonl"), line=number) from None
        if not 1 <= score <= 10:
            raise DataFileError(f"score must be 1-10, got {score}", path=str(base / "judgements.jsonl"), line=number)
        judged.setdefault(key, []).append(score)
        if turn == 2:  # the second turn's judge prompt quotes both answers
            answer_tokens[key] = sum(estimate_text_tokens(text) for text in _answers(judgement["user_prompt"]))
    models = sorted({model for _, model in judged})
    rows: list[Outcome] = []
    removed = 0
    for number, question in enumerate(questions, start=1):
        turns = question["turns"]
        if turns[0] in contaminated or (len(turns) > 1 and turns[1] in contaminated):
            removed += 1
            continue
        qid = int(question["question_id"])
        missing = [model for model in models if (qid, model) not in judged]
        if missing:
            raise DataFileError(
                f"question {qid} has no judgement for {missing}", path=str(base / "question.jsonl"), line=number
            )
        scores = {m: (sum(judged[qid, m]) / len(judged[qid, m]) - 1) / 9 for m in models}
        tokens = {m: answer_tokens[qid, m] for m in models if (qid, m) in answer_tokens}
        content = {"role": "user", "content": turns[0]}
        rows.append(Outcome(number, (content,), scores, tokens, str(qid), str(question.get("category") or "")))
    return rows, removed


def _jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip()]
    except OSError as exc:
        raise DataFileError(f"cannot read it ({exc.strerror or exc})", path=str(path)) from exc
    records = []
    for number, line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"not valid JSON ({exc.msg})", path=str(path), line=number) from None
    return records


def read_llmrouter(root: str | Path) -> tuple[list[Outcome], int]:
    """LLMRouter's ``train.jsonl`` (already in the outcome format), validated: ``(rows, 0)``."""
    return list(read_outcomes(Path(root) / "train.jsonl").rows), 0


def convert_llmrouter_prices(root: str | Path) -> dict[str, dict[str, float]]:
    """``default_llm.json``'s ``input_price`` / ``output_price`` (USD per 1M tokens) as a ``--prices`` mapping."""
    path = Path(root) / "default_llm.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(f"cannot read it as JSON ({exc})", path=str(path)) from exc
    prices = {}
    for name, entry in raw.items():
        try:
            prices[name] = {"input_per_1m": float(entry["input_price"]), "output_per_1m": float(entry["output_price"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(
                f"{name}: input_price and output_price (USD per 1M) are needed ({exc})", path=str(path)
            ) from None
    return prices
