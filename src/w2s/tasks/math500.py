"""MATH-500: competition maths, LaTeX answers checked with math-verify."""

from __future__ import annotations

from typing import Any

from w2s.graders import MathGrader, last_boxed
from w2s.tasks.base import Example, Task, text_field


class Math500(Task):
    name = "math500"
    grader = MathGrader()
    hub_id = "HuggingFaceH4/MATH-500"
    local_dir = "math500"

    def gold_from_text(self, text: str) -> str:
        boxed = last_boxed(text) if "\\boxed" in text else None
        return (boxed or text).strip()

    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example:
        question = text_field(row, ("problem", "question"), where)
        if "answer" in row and str(row["answer"]).strip():
            answer = str(row["answer"])
        else:  # MATH rows without an answer field carry it boxed in the solution
            answer = last_boxed(text_field(row, ("solution",), where)) or ""
            answer = text_field({"answer": answer}, ("answer",), where)
        return Example(str(row.get("unique_id", row.get("id", index))), question, answer, row.get("solution"))
