"""The one scoring path: responses graded against their examples by the task's grader, with intervals.

A component below every command and method: `w2s eval`, `w2s grade`, `w2s wst eval`, the
quickstart and the reasoning pipeline's evaluation all call `score_responses`, so every results
file has the same row schema and the same interval method.
"""

from __future__ import annotations

from dataclasses import dataclass

from w2s.stats import Estimate, bootstrap_ci
from w2s.tasks import Example, Task


@dataclass
class Scored:
    """Responses graded against their examples: one row each, and both accuracies."""

    rows: list[dict]  # {id, gold, pred, correct, strict_pred, strict_correct[, score]}
    accuracy: Estimate  # flexible extraction (the headline); the mean score for open-ended graders
    strict_accuracy: Estimate  # a marked final answer only

    @property
    def correct(self) -> list[bool]:
        return [r["correct"] for r in self.rows]

    @property
    def values(self) -> list[float]:
        """Per response: 1.0/0.0 (right/wrong), or an open-ended grader's score."""
        return [r.get("score", float(r["correct"])) for r in self.rows]


def score_responses(task: Task, examples: list[Example], responses: list[str]) -> Scored:
    """The one scoring path: the task's grader on each response, and accuracy with intervals.

    `w2s eval`, `w2s grade`, `w2s wst eval`, the quickstart and the reasoning evaluation all
    call this, so every results file has the same row schema and the same interval method.
    """
    if not examples:
        raise ValueError("no responses to score")
    grades = task.grader.grade_batch([task.messages(e.question) for e in examples], list(responses),
                                     [e.answer for e in examples])
    rows = []
    for example, grade in zip(examples, grades, strict=True):
        row = {"id": example.id, "gold": example.answer, "pred": grade.pred, "correct": grade.correct,
               "strict_pred": grade.strict_pred, "strict_correct": grade.strict_correct}
        if grade.score is not None:
            row["score"] = grade.score
        rows.append(row)
    if task.grader.scalar:  # open-ended answers: the mean score, twice (there is no strict reading)
        mean = bootstrap_ci([g.value for g in grades])
        return Scored(rows, mean, mean)
    return Scored(rows, bootstrap_ci([r["correct"] for r in rows]), bootstrap_ci([r["strict_correct"] for r in rows]))
