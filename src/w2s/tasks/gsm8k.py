"""GSM8K grade-school maths: numeric answers."""

from __future__ import annotations

import re
from typing import Any

from w2s.graders import NumericGrader
from w2s.tasks.base import Example, Task, text_field


class GSM8K(Task):
    name = "gsm8k"
    grader = NumericGrader()
    hub_id = "openai/gsm8k"
    hub_config = "main"
    local_dir = "gsm8k"

    def gold_from_text(self, text: str) -> str:
        return text.rsplit("####", 1)[-1].replace(",", "").strip()

    def target_text(self, example: Example) -> str:
        """GSM8K solutions without calculator annotations, '#### N' turned into a boxed answer."""
        body = (example.solution or "").rsplit("####", 1)[0]
        body = re.sub(r"<<[^>]*>>", "", body).strip()
        final = f"The final answer is $\\boxed{{{example.answer}}}$."
        return f"{body}\n{final}" if body else final

    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example:
        question = text_field(row, ("question",), where)
        answer = text_field(row, ("answer",), where)
        solution = row.get("solution")
        if "####" in answer:  # hub/train format: the full solution ends with '#### N'
            solution = answer
        return Example(str(row.get("id", index)), question, self.gold_from_text(answer), solution)
