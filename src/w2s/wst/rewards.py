"""The WST reward: how much a teacher's instruction changed the student on a question.

For a question q and an instruction i, the student is measured without and with i:

- `relative` / `absolute` (outcome rewards, any backend): `base(q)` and `with(q, i)` are the
  student's mean grade over k = `student_samples` generated answers (k > 1 samples at
  `student_temperature`, so rewards become fractions), graded by the task's one grader:
  correctness (1/0) for tasks with a final answer, the grader's score (a reward model's) for
  open-ended tasks such as `hh_rlhf`. The answer is graded as a reply to the task's own prompt
  (the user's words), never to the instructed one;
- `likelihood` (students that can score text: hf, vLLM): `base(q)` and `with(q, i)` are the
  student's mean log-probability per token of the gold solution (`task.target_text`),
  teacher-forced, with no generation at all. Every instruction gets a distinct, graded reward,
  so GRPO groups are almost never all equal.

Then

    relative, likelihood: r = with(q, i) - base(q) - harm_penalty * max(0, base(q) - with(q, i))
    absolute:             r = with(q, i)           - harm_penalty * max(0, base(q) - with(q, i))
    all kinds:            r -= leak_penalty        if i states the gold final answer (not in q)
                          r -= new_number_penalty  if i contains a number that q does not

`base(q)` is computed once per question and remembered. It does not depend on the teacher, so
with a student served on compute of its own (another machine, a GPU) the trainer asks for it when
a step begins (`prefetch`), and the server answers while the teacher writes its instructions; the step's
reward call then waits for it. (The instructed answers cannot start earlier: GRPO is on-policy,
so a step's instructions exist only after the previous update.) The leak penalty stops a teacher from
winning by stating answers (which the likelihood reward would otherwise pay for); the optional
new-number penalty pushes a small teacher from solving (writing intermediate results, often
wrong) towards instructing.

`StudentReward` is a plain TRL reward function (`prompts, completions, **columns`), so it can be
handed straight to a `trl.GRPOTrainer`. It needs `question` and `answer` columns, and `target`
(the gold solution) for `likelihood`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from w2s.config import check_ranges, setting
from w2s.progress import StepClock
from w2s.students import SamplingParams, Student
from w2s.tasks import Task
from w2s.wst.protocol import InstructionProtocol, leaks_answer, new_numbers


@dataclass
class RewardConfig:
    kind: Literal["relative", "absolute", "likelihood"] = setting(
        "relative", help="relative: right with minus right without the instruction; absolute: right with it; "
                         "likelihood: the change in the gold solution's log-probability (no generation)")
    harm_penalty: float = setting(0.0, low=0, help="subtracted when the instruction turns a right answer wrong")
    student_samples: int = setting(1, low=1, help="k answers per condition (outcome kinds); >1 needs "
                                                  "student_temperature > 0")
    student_temperature: float = setting(0.0, low=0, high=10, help="the student's sampling temperature (outcome "
                                                                   "kinds); 0: greedy")
    leak_penalty: float = setting(1.0, low=0, help="subtracted when the instruction states the gold answer")
    new_number_penalty: float = setting(0.0, low=0, help="subtracted when the instruction has a number the "
                                                         "question lacks")

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.student_samples > 1 and self.student_temperature <= 0:
            raise ValueError("reward.student_samples > 1 needs reward.student_temperature > 0 "
                             "(greedy samples are all the same)")


@dataclass(frozen=True)
class Outcome:
    """The student on one question without and with an instruction (correctness or log-probability)."""

    baseline: float
    with_instruction: float
    leak: bool = False
    new_numbers: bool = False

    @property
    def helped(self) -> bool:
        return self.with_instruction > self.baseline

    @property
    def harmed(self) -> bool:
        return self.with_instruction < self.baseline


def reward_from(outcome: Outcome, config: RewardConfig) -> float:
    """The reward for one outcome, exactly as defined in the module docstring."""
    base = 0.0 if config.kind == "absolute" else outcome.baseline
    harm = max(0.0, outcome.baseline - outcome.with_instruction)
    return (outcome.with_instruction - base - config.harm_penalty * harm
            - config.leak_penalty * outcome.leak - config.new_number_penalty * outcome.new_numbers)


class StudentReward:
    """TRL reward function scoring each teacher completion by what it does to the student.

    One call sends every (instruction, question) pair of the batch, plus the no-instruction
    prompts of questions seen for the first time, to the student at once (batched, cached).
    `last_outcomes` keeps the batch's outcomes for logging.
    """

    __name__ = "student"  # TRL names logged metrics after the function

    def __init__(self, task: Task, student: Student, protocol: InstructionProtocol, config: RewardConfig,
                 max_tokens: int = 256, seed: int = 0, processes: int = 1, clock: StepClock | None = None) -> None:
        self.task, self.student, self.protocol, self.config = task, student, protocol, config
        # the training step's clock: the student's and the grader's time, and what ran in the background
        self.clock = clock or StepClock()
        # TRL averages a logged metric over the training processes; each process logs its counts
        # times the number of processes, so the average is the step's total over all of them.
        self.processes = processes
        self.params = SamplingParams(temperature=config.student_temperature, max_tokens=max_tokens, seed=seed)
        self._baseline: dict[tuple[str, str], float] = {}
        # baselines being measured in the background (prefetch): their keys and the future values
        self._pending: tuple[list[tuple[str, str]], Future] | None = None
        self._background: ThreadPoolExecutor | None = None
        self.last_outcomes: list[Outcome] = []
        self.last_instructions: list[str] = []

    def measure(self, questions: list[str], golds: list[str], instructions: list[str]) -> list[tuple[float, float]]:
        """(base, with) per item; `golds` are final answers (outcome kinds) or gold solutions (likelihood)."""
        self.wait()
        new = self._unseen(questions, golds)
        prompts = [self.protocol.student_prompt(self.task, q, None) for q, _ in new]
        prompts += [self.protocol.student_prompt(self.task, q, i) for q, i in zip(questions, instructions, strict=True)]
        values = self._values(prompts, [q for q, _ in new] + list(questions), [g for _, g in new] + list(golds))
        for key, value in zip(new, values, strict=False):
            self._baseline[key] = value
        return [(self._baseline[(q, g)], v) for q, g, v in zip(questions, golds, values[len(new):], strict=True)]

    def prefetch(self, questions: list[str], golds: list[str]) -> bool:
        """Start measuring the baselines of questions not seen yet, in a background thread.

        Only for a student with compute of its own (`Student.separate_compute`: a server elsewhere
        or on a GPU): it answers while this process writes the teacher's instructions. A student
        on this process's CPU cores (in process, or a server on this machine without a GPU) would
        compete with the teacher for them: measured, that made steps slower. The next `measure`
        waits for it. Returns whether it started.
        """
        if not self.student.separate_compute or self._pending is not None:
            return False
        new = self._unseen(questions, golds)
        if not new:
            return False
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="w2s-baseline")
        prompts = [self.protocol.student_prompt(self.task, q, None) for q, _ in new]
        self._pending = new, self._background.submit(self._values_in_background, prompts, [q for q, _ in new],
                                                     [g for _, g in new])
        return True

    def wait(self) -> None:
        """Take in the prefetched baselines (an error raised there is raised here, in the trainer)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            keys, values = pending
            self._baseline.update(zip(keys, values.result(), strict=True))

    def _unseen(self, questions: list[str], golds: list[str]) -> list[tuple[str, str]]:
        """The (question, gold) pairs whose baseline is not known yet, once each, in order."""
        return list(dict.fromkeys((q, g) for q, g in zip(questions, golds, strict=True) if (q, g) not in self._baseline))

    def _values_in_background(self, prompts: list, questions: list[str], golds: list[str]) -> list[float]:
        with self.clock.phase("background"):  # overlaps the teacher's writing: not part of the step's wall time
            return self._values(prompts, questions, golds)

    def _values(self, prompts: list, questions: list[str], golds: list[str]) -> list[float]:
        """The student's measure of each prompt: mean log-probability of the gold (likelihood) or
        mean grade over k answers (outcome kinds)."""
        if not prompts:
            return []
        if self.config.kind == "likelihood":
            with self.clock.phase("student"):
                return [s.mean for s in self.student.score(prompts, golds, desc="student scores", progress=False)]
        k = self.config.student_samples
        with self.clock.phase("student"):
            samples = self.student.generate(prompts, self.params, k=k, desc="student", progress=False)
        with self.clock.phase("grading"):
            grades = self.task.grader.grade_batch([self.task.messages(q) for q in questions for _ in range(k)],
                                                  [c.text for completions in samples for c in completions],
                                                  [g for g in golds for _ in range(k)])
        return [sum(g.value for g in grades[j * k:(j + 1) * k]) / k for j in range(len(samples))]

    def golds_of(self, answer: list[str], target: list[str] | None) -> list[str]:
        """What a question is measured against: its final answer, or its gold solution (likelihood)."""
        if self.config.kind != "likelihood":
            return [str(a) for a in answer]
        if target is None:
            raise ValueError("reward.kind 'likelihood' needs a 'target' column (the gold solution)")
        return list(target)

    def __call__(self, prompts: list, completions: list, question: list[str], answer: list[str],
                 target: list[str] | None = None, completion_ids: list[list[int]] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **_: object) -> list[float]:
        truncated = [len(ids) >= self.protocol.max_tokens for ids in completion_ids] if completion_ids \
            else [False] * len(completions)
        instructions = [self.protocol.clean(_completion_text(c), cut) for c, cut in zip(completions, truncated,
                                                                                       strict=True)]
        answers = [str(a) for a in answer]
        measured = self.measure(list(question), self.golds_of(answers, target), instructions)
        outcomes = [Outcome(base, with_, leaks_answer(i, q, a, self.task.grader), bool(new_numbers(i, q)))
                    for (base, with_), i, q, a in zip(measured, instructions, question, answers, strict=True)]
        self.last_outcomes, self.last_instructions = outcomes, instructions
        if log_metric is not None:
            n = max(1, len(outcomes))
            # what "with instruction" and "baseline" measure, so reports label them honestly
            name = ("logprob" if self.config.kind == "likelihood"
                    else "score" if self.task.grader.scalar else "accuracy")
            log_metric(f"student/{name}_with_instruction", sum(o.with_instruction for o in outcomes) / n)
            log_metric(f"student/{name}_baseline", sum(o.baseline for o in outcomes) / n)
            p = self.processes
            log_metric("student/helped", float(p * sum(o.helped for o in outcomes)))
            log_metric("student/harmed", float(p * sum(o.harmed for o in outcomes)))
            log_metric("student/unchanged", float(p * sum(not o.helped and not o.harmed for o in outcomes)))
            log_metric("teacher/instruction_chars", sum(len(i) for i in instructions) / n)
            log_metric("teacher/leaks", sum(o.leak for o in outcomes) / n)
            log_metric("teacher/new_numbers", sum(o.new_numbers for o in outcomes) / n)
            log_metric("teacher/truncated", sum(truncated) / n)
        return [reward_from(o, self.config) for o in outcomes]


def _completion_text(completion) -> str:
    """TRL passes conversational completions as [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion)
