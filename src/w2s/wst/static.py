"""Static instructions: what a user would pick instead of training a teacher.

A per-question teacher is worth its training only if it beats the best *single* instruction at
the same cost. So every `w2s wst eval` can carry the static baselines a user has: a hand-written
line (`generic_instruction`), the best of N candidates picked on validation questions (a given
list, and/or the untrained teacher's instructions for some validation questions, each used for
every question), and an instruction found by a prompt optimizer (`w2s wst optimize`, GEPA).
Choices are made on validation questions only; each static condition reports what it cost to
find (student calls and tokens), and the best of them on validation is the baseline every teacher
is tested against on the test questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from w2s.config import setting
from w2s.errors import W2SError
from w2s.jsonl import read_json
from w2s.scoring import score_responses
from w2s.students import SamplingParams, Student
from w2s.tasks import Task
from w2s.wst.protocol import InstructionProtocol

OPTIMIZED_FILE = "optimized_instruction.json"


@dataclass
class StaticConfig:
    """Static-instruction baselines of `w2s wst eval` (all off by default)."""

    candidates: list[str] | None = setting(None, help="instructions to pick the best of, on validation questions")
    from_untrained: int = setting(0, low=0, help="also: the untrained teacher's instructions for N validation "
                                                 "questions, each a candidate for every question")
    optimized: str | None = setting(None, help="a `w2s wst optimize` output folder (or its "
                                               "optimized_instruction.json)")
    split: str = setting("train_2", help="validation questions: never the test split")
    questions: int = setting(64, low=1, help="validation questions each candidate is scored on")
    seed: int = setting(0, low=0, help="which validation questions (shuffle before the limit)")

    def __post_init__(self) -> None:
        if self.candidates is not None:
            check_candidates(self.candidates, "static.candidates")
        if self.split == "test":
            raise ValueError("static.split: choices are made on validation questions, never on 'test'")

    @property
    def active(self) -> bool:
        return bool(self.candidates or self.from_untrained or self.optimized)


def check_candidates(candidates: list[str], where: str, max_chars: int | None = None) -> None:
    """An empty list, an empty or repeated candidate, or one longer than the protocol allows: one line."""
    if not candidates:
        raise ValueError(f"{where}: the candidate list is empty")
    seen: set[str] = set()
    for i, text in enumerate(candidates):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}[{i}]: expected a non-empty instruction")
        if text.strip() in seen:
            raise ValueError(f"{where}[{i}]: a duplicate of an earlier candidate ({text.strip()[:60]!r})")
        seen.add(text.strip())
        if max_chars is not None and len(text) > max_chars:
            raise ValueError(f"{where}[{i}]: {len(text)} characters, more than the protocol's max_chars "
                             f"({max_chars}) allows a teacher")


def read_optimized(path: str | Path) -> dict:
    """The result of `w2s wst optimize`: its instruction and what finding it cost."""
    path = Path(path)
    if path.is_dir():
        path = path / OPTIMIZED_FILE
    found = read_json(path)
    if not isinstance(found, dict) or not isinstance(found.get("instruction"), str) or "cost" not in found:
        raise W2SError(f"{path}: not an output of `w2s wst optimize` (expected 'instruction' and 'cost')")
    return found


@dataclass
class StaticPick:
    """The static candidates with their validation accuracy, the best one, and the cost of picking."""

    candidates: dict[str, str]  # condition name -> instruction
    validation_accuracy: dict[str, float]
    best: str
    cost: dict[str, int]  # student calls and tokens spent on validation (cached answers cost nothing)
    questions: int
    found_cost: dict[str, dict] = field(default_factory=dict)  # per condition: what finding it cost before

    def to_json(self, split: str) -> dict:
        return {"split": split, "questions": self.questions, "best": self.best, "cost_of_picking": self.cost,
                "candidates": [{"condition": name, "instruction": text,
                                "validation_accuracy": self.validation_accuracy[name],
                                **({"cost_to_find": self.found_cost[name]} if name in self.found_cost else {})}
                               for name, text in self.candidates.items()]}


def pick_static(task: Task, student: Student, protocol: InstructionProtocol, candidates: dict[str, str],
                validation: list, budget: int, found_cost: dict[str, dict] | None = None) -> StaticPick:
    """Score every static candidate on the same validation questions (greedy, the evaluation's
    budget, one batched call) and pick the most accurate; ties go to the earlier candidate (the
    hand-written line, when there is one, comes first)."""
    names = list(candidates)
    prompts = [protocol.student_prompt(task, e.question, candidates[name]) for name in names for e in validation]
    before = (student.stats.generated, student.stats.tokens)
    outputs = student.generate(prompts, SamplingParams(max_tokens=budget),
                               desc=f"static candidates on validation ({len(names)})")
    n = len(validation)
    accuracy = {name: score_responses(task, validation, [o[0].text for o in outputs[i * n:(i + 1) * n]]).accuracy.value
                for i, name in enumerate(names)}
    best = max(names, key=lambda name: (accuracy[name], -names.index(name)))
    cost = {"student_calls": student.stats.generated - before[0], "student_tokens": student.stats.tokens - before[1]}
    return StaticPick(candidates, accuracy, best, cost, n, found_cost or {})
