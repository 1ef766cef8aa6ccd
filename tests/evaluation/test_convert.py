"""costmux convert: RouteLLM's and LLMRouter's layouts (a small copy of each made here) into outcome files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli import main
from app.errors import DataFileError
from app.evaluation import read_outcomes
from app.evaluation.convert import read_gsm8k, read_mmlu, read_mt_bench
from app.tokens import estimate_text_tokens

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"


def routellm(root: Path) -> Path:
    (root / "gsm8k").mkdir(parents=True)
    with (root / "gsm8k" / "gsm8k_responses.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", WEAK, STRONG, f"{WEAK}_response", f"{STRONG}_response"])
        writer.writerow(["Tom has 3 apples, eats one. How many?", "True", "True", "3 - 1 = 2.\n#### 2", "He has 2."])
        writer.writerow(["Leaked question?", "False", "True", "no", "yes"])
        writer.writerow(["A train, 60 km/h, 2 h: how far?", "False", "True", "60\n\n#### 100", "60 x 2 = 120 km"])
    (root / "gsm8k" / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "Leaked question?"}) + "\n")
    (root / "mmlu" / "responses").mkdir(parents=True)
    for subject, rows in {"anatomy": [["Q1\nA. x\nB. y\nAnswer:", "True", "False"]], "law": [["Q2", "0", "1"]]}.items():
        with (root / "mmlu" / "responses" / f"mmlu_{subject}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([["prompt", WEAK, STRONG], *rows])
    (root / "mt_bench").mkdir()
    questions = [
        {"question_id": 81, "category": "writing", "turns": ["Write a blog post.", "Rewrite it."]},
        {"question_id": 82, "category": "math", "turns": ["Solve x+1=2.", "And x+2=2?"]},
    ]
    (root / "mt_bench" / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    judgements = []
    for qid in (81, 82):
        for model, scores in ((WEAK, (7, 5)), (STRONG, (10, 9))):
            judgements.append(
                {
                    "question_id": qid,
                    "model": model,
                    "score": scores[0],
                    "turn": 1,
                    "user_prompt": "[The Start of Assistant's Answer]\nfirst\n[The End of Assistant's Answer]",
                }
            )
            judgements.append(
                {
                    "question_id": qid,
                    "model": model,
                    "score": scores[1],
                    "turn": 2,
                    "user_prompt": "### User:\nq\n\n### Assistant A:\nfirst answer here\n\n### User:\nq2"
                    "\n\n### Assistant A:\nsecond\n\n<|The End of Assistant A's Conversation with User|>",
                }
            )
    (root / "mt_bench" / "judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))
    (root / "mt_bench" / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "And x+2=2?"}) + "\n")
    return root


def test_gsm8k_scores_answers_tokens_and_decontamination(tmp_path: Path) -> None:
    rows, removed = read_gsm8k(routellm(tmp_path))
    assert removed == 1 and len(rows) == 2
    assert rows[0].scores == {WEAK: 1.0, STRONG: 1.0} and rows[1].scores == {WEAK: 0.0, STRONG: 1.0}
    assert rows[1].output_tokens == {
        WEAK: estimate_text_tokens("60\n\n#### 100"),
        STRONG: estimate_text_tokens("60 x 2 = 120 km"),
    }
    assert rows[1].line == 5  # where the record starts: the header, a two-line record, the removed one


def test_mmlu_subjects_become_groups(tmp_path: Path) -> None:
    rows, removed = read_mmlu(routellm(tmp_path))
    assert removed == 0 and [row.group for row in rows] == ["anatomy", "law"]
    assert rows[0].messages[0]["content"] == "Q1\nA. x\nB. y\nAnswer:" and rows[1].scores == {WEAK: 0.0, STRONG: 1.0}


def test_mt_bench_first_turn_mean_of_both_judgements_scaled_and_both_answers_tokens(tmp_path: Path) -> None:
    rows, removed = read_mt_bench(routellm(tmp_path))
    assert removed == 1 and len(rows) == 1  # question 82's second turn is listed as contaminated
    (row,) = rows
    assert row.messages == ({"role": "user", "content": "Write a blog post."},) and row.group == "writing"
    assert row.scores == {WEAK: pytest.approx((6 - 1) / 9), STRONG: pytest.approx((9.5 - 1) / 9)}
    assert row.output_tokens[WEAK] == estimate_text_tokens("first answer here") + estimate_text_tokens("second")


def test_a_bad_cell_names_the_file_and_row(tmp_path: Path) -> None:
    root = routellm(tmp_path)
    path = root / "mmlu" / "responses" / "mmlu_law.csv"
    path.write_text(f"prompt,{WEAK},{STRONG}\nQ2,maybe,True\n")
    with pytest.raises(DataFileError, match=r"mmlu_law\.csv:2: column .* must be True or False"):
        read_mmlu(root)


def test_the_command_writes_the_files_eval_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["convert", "routellm", str(routellm(tmp_path / "src")), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gsm8k.jsonl.gz: 2 prompts (1 contaminated prompts removed)" in printed
    assert len(read_outcomes(out / "mmlu.jsonl.gz").rows) == 2
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "train.jsonl").write_text(json.dumps({"prompt": "Hi", "scores": {"m1": 1, "m2": 0.5}}) + "\n")
    (llm / "default_llm.json").write_text(json.dumps({"m1": {"input_price": 0.2, "output_price": 0.3}}))
    assert main(["convert", "llmrouter", str(llm), "--out", str(out)]) == 0
    assert json.loads((out / "prices.json").read_text()) == {"m1": {"input_per_1m": 0.2, "output_per_1m": 0.3}}
    assert read_outcomes(out / "llmrouter.jsonl.gz").models == ("m1", "m2")


def test_the_vendored_sets_have_the_documented_counts() -> None:
    root = Path(__file__).resolve().parents[2] / "datasets"
    counts = {path.name: len(read_outcomes(path).rows) for path in sorted(root.glob("*/*.jsonl.gz"))}
    assert counts == {
        "gsm8k.jsonl.gz": 1307,
        "mmlu.jsonl.gz": 14037,
        "mt_bench.jsonl.gz": 72,
        "llmrouter.jsonl.gz": 5489,
    }
    assert (root / "routellm" / "LICENSE").is_file() and (root / "llmrouter" / "LICENSE").is_file()
