"""The WST reward: how much a teacher's instruction changed the student's score on a question.

For a question q with gold answer a, let

- `base(q)` be the student's mean correctness over k samples with no instruction (computed once
  per question and remembered);
- `with(q, i)` be its mean correctness over k samples with instruction i in its prompt.

Then

    absolute: reward = with(q, i)                - harm_penalty * max(0, base(q) - with(q, i))
    relative: reward = with(q, i) - base(q)      - harm_penalty * max(0, base(q) - with(q, i))

With k = 1 (the default, greedy) the harm term is exactly "the instruction turned a correct
answer wrong". Correctness comes from the task's one grader (flexible extraction), the same
one `w2s eval` uses.

`StudentOutcomeReward` is a plain TRL reward function (`prompts, completions, **columns`), so it
can also be handed straight to a `trl.GRPOTrainer`. It needs `question` and `answer` columns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from w2s.students import Prompt, SamplingParams, Student
from w2s.tasks import Task


@dataclass
class RewardConfig:
    kind: str = "relative"  # relative | absolute
    harm_penalty: float = 0.0
    student_samples: int = 1  # k; >1 needs a sampling temperature for the student
    placement: str = "system"  # where the instruction goes: system message, or prefix of the user turn
    max_instruction_chars: int = 600  # longer instructions are cut here

    def __post_init__(self) -> None:
        if self.kind not in ("relative", "absolute"):
            raise ValueError(f"reward.kind must be 'relative' or 'absolute', got '{self.kind}'")
        if self.placement not in ("system", "prefix"):
            raise ValueError(f"reward.placement must be 'system' or 'prefix', got '{self.placement}'")
        if self.student_samples < 1 or self.harm_penalty < 0:
            raise ValueError("reward.student_samples must be >= 1 and reward.harm_penalty >= 0")


@dataclass(frozen=True)
class Outcome:
    """The student's mean correctness on one question without and with an instruction."""

    baseline: float
    with_instruction: float

    @property
    def helped(self) -> bool:
        return self.with_instruction > self.baseline

    @property
    def harmed(self) -> bool:
        return self.with_instruction < self.baseline


def reward_from(outcome: Outcome, config: RewardConfig) -> float:
    """The reward for one outcome, exactly as defined in the module docstring."""
    base = outcome.baseline if config.kind == "relative" else 0.0
    harm = max(0.0, outcome.baseline - outcome.with_instruction)
    return outcome.with_instruction - base - config.harm_penalty * harm


def clean_instruction(text: str, max_chars: int) -> str:
    """Strip the teacher's text and cut it at `max_chars` (on a word boundary when possible)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def student_prompt(task: Task, question: str, instruction: str | None, placement: str) -> Prompt:
    """The student's chat prompt: the task's own prompt, plus the instruction if there is one."""
    messages = task.messages(question)
    if not instruction:
        return messages
    if placement == "system":
        return [{"role": "system", "content": instruction}, *messages]
    first, *rest = messages
    return [{**first, "content": f"{instruction}\n\n{first['content']}"}, *rest]


class StudentOutcomeReward:
    """TRL reward function scoring each teacher completion by the student's outcome.

    One call sends every (instruction, question) pair of the batch, plus the no-instruction
    prompts of questions seen for the first time, to the student in a single `generate` call
    (batched, cached). `last_outcomes` keeps the batch's outcomes for logging.
    """

    __name__ = "student_outcome"  # TRL names logged metrics after the function

    def __init__(self, task: Task, student: Student, params: SamplingParams, config: RewardConfig) -> None:
        self.task, self.student, self.params, self.config = task, student, params, config
        self._baseline: dict[tuple[str, str], float] = {}
        self.last_outcomes: list[Outcome] = []
        self.last_instructions: list[str] = []
        self.grading_seconds = 0.0  # total time spent in the grader (the benchmark's "grading" share)

    def outcomes(self, questions: list[str], answers: list[str], instructions: list[str]) -> list[Outcome]:
        """Baseline and with-instruction scores for each (question, answer, instruction)."""
        k, placement = self.config.student_samples, self.config.placement
        new = list(dict.fromkeys((q, a) for q, a in zip(questions, answers, strict=True)
                                 if (q, a) not in self._baseline))
        prompts = [student_prompt(self.task, q, None, placement) for q, _ in new]
        prompts += [student_prompt(self.task, q, i, placement) for q, i in zip(questions, instructions, strict=True)]
        samples = self.student.generate(prompts, self.params, k=k, desc="student", progress=False)
        start = time.perf_counter()
        for (question, answer), completions in zip(new, samples[: len(new)], strict=True):
            self._baseline[(question, answer)] = self._score(completions, answer)
        outcomes = [Outcome(self._baseline[(q, a)], self._score(c, a))
                    for q, a, c in zip(questions, answers, samples[len(new):], strict=True)]
        self.grading_seconds += time.perf_counter() - start
        return outcomes

    def __call__(self, prompts: list, completions: list, question: list[str], answer: list[str],
                 log_metric: Callable[[str, float], None] | None = None, **_: object) -> list[float]:
        instructions = [clean_instruction(_completion_text(c), self.config.max_instruction_chars)
                        for c in completions]
        outcomes = self.outcomes(list(question), [str(a) for a in answer], instructions)
        self.last_outcomes, self.last_instructions = outcomes, instructions
        if log_metric is not None:
            n = max(1, len(outcomes))
            log_metric("student/accuracy_with_instruction", sum(o.with_instruction for o in outcomes) / n)
            log_metric("student/accuracy_baseline", sum(o.baseline for o in outcomes) / n)
            log_metric("student/helped", float(sum(o.helped for o in outcomes)))
            log_metric("student/harmed", float(sum(o.harmed for o in outcomes)))
            log_metric("student/unchanged", float(sum(not o.helped and not o.harmed for o in outcomes)))
            log_metric("teacher/instruction_chars", sum(len(i) for i in instructions) / n)
        return [reward_from(o, self.config) for o in outcomes]

    def _score(self, completions, answer: str) -> float:
        return sum(self.task.grader.grade(c.text, answer).correct for c in completions) / len(completions)


def _completion_text(completion) -> str:
    """TRL passes conversational completions as [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion)
