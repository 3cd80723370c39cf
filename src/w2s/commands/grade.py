"""`w2s grade`: grade responses produced by any system with the task's one grader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w2s.config import REQUIRED, setting, task_setting
from w2s.errors import W2SError
from w2s.jsonl import iter_jsonl, write_jsonl
from w2s.outputs import plan_writes
from w2s.scoring import score_responses
from w2s.stats import Estimate
from w2s.tasks import Example, get_task
from w2s.tasks.base import text_field


@dataclass
class GradeConfig:
    """`w2s grade`: which file, which fields, which task's grader."""

    task: str = task_setting(REQUIRED)
    input: str = setting(help="JSONL file with one response per row")
    response_key: str = setting("response", help="field holding the response")
    answer_key: str = setting("answer", help="field holding the gold answer")
    output: str | None = setting(None, help="write the graded rows here")


@dataclass
class GradeResult:
    accuracy: Estimate
    strict_accuracy: Estimate
    rows: list[dict]


def grade_file(task_name: str, input_path: str | Path, response_key: str = "response",
               answer_key: str = "answer", output_path: str | Path | None = None) -> GradeResult:
    """Add `pred` and `correct` to every row of a JSONL file; errors name the offending line."""
    task = get_task(task_name)
    if output_path is not None:
        plan_writes([output_path], reads=[input_path])
    rows, examples = [], []
    for number, row in iter_jsonl(input_path):
        where = f"{input_path}:{number}"
        for key in (response_key, answer_key):
            if key not in row:
                raise W2SError(f"{where}: missing key '{key}' (keys present: {', '.join(sorted(row)) or 'none'})")
        response, gold = row[response_key], text_field(row, (answer_key,), where)  # the tasks' own check
        if not isinstance(response, str):
            raise W2SError(f"{where}: '{response_key}' must be a string, got {type(response).__name__}")
        rows.append(row)
        examples.append(Example(str(row.get("id", number)), "", task.gold_from_text(gold)))
    if not rows:
        raise W2SError(f"{input_path}: no rows to grade")
    scored = score_responses(task, examples, [row[response_key] for row in rows])
    rows = [{**row, **{k: g[k] for k in ("pred", "correct", "strict_pred", "strict_correct")}}
            for row, g in zip(rows, scored.rows, strict=True)]
    if output_path is not None:
        write_jsonl(output_path, rows)
    return GradeResult(scored.accuracy, scored.strict_accuracy, rows)
