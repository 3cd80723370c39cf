"""`w2s wst optimize`: one instruction for every question, found by GEPA, at a teacher's cost.

The prompt optimizer a user would run instead of training a teacher (GEPA: reflective prompt
evolution, `gepa` on PyPI). It evolves a single instruction, placed in the student's chat exactly
as a teacher's would be (the instruction protocol), scored by the task's one grader on the
student's answers to validation questions. A reflection model (any model w2s loads, like a
teacher) reads the student's answers and the grader's verdicts and proposes better instructions.

The budget is in student answers (GEPA's metric calls): `budget_calls`, or `budget_from_teacher`
= the answers a trained teacher's training asked for, so the two are compared at the same cost.
Answers go through the response cache (an answer GEPA asks for twice costs one call). The result,
`optimized_instruction.json` (the instruction, its validation score and what finding it cost), is
a condition of `w2s wst eval` (`static.optimized=OUTPUT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, data_setting, setting, task_setting, to_dict
from w2s.errors import W2SError
from w2s.jsonl import write_json
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.scoring import score_responses
from w2s.students import SamplingParams, Student, StudentConfig, make_student
from w2s.tasks import Example, Task, get_task
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.static import OPTIMIZED_FILE
from w2s.wst.teacher import teacher_protocol, trained_run_config, training_student_calls

STATE_FOLDER = "gepa_state"  # GEPA's own state after each iteration: a killed search resumes from it


@dataclass
class OptimizeConfig:
    task: str = task_setting("gsm8k")
    data: str | None = data_setting()
    split: str = setting("train_2", help="validation questions: never the test split")
    train_questions: int = setting(32, low=1, help="GEPA's feedback minibatches come from these")
    val_questions: int = setting(32, low=1, help="the candidates' scores (Pareto front) come from these")
    seed: int = setting(0, low=0, help="seed of GEPA and of the question picks")
    seed_instruction: str = setting("Let's think step by step.", help="where the search starts")
    budget_calls: int | None = setting(None, low=1, help="student answers GEPA may ask for")
    budget_from_teacher: str | None = setting(None,
                                              help="or: as many as this trained teacher's training asked for")
    student_max_tokens: int = setting(512, low=1, help="the student's answer budget while optimizing")
    instruction: InstructionProtocol | None = setting(None,
                    help="placement and limits; None: the teacher's, else defaults")
    minibatch: int = setting(4, low=1, help="questions per reflection step")
    output: str = setting("runs/wst/optimize", help="folder for optimized_instruction.json")
    cache: str | None = cache_setting()
    student: StudentConfig = setting(default_factory=StudentConfig, help="the student", flags={"model": "model"})
    reflection: StudentConfig = setting(default_factory=lambda: StudentConfig(model="qwen2.5-0.5b-instruct"),
                                        help="the model that proposes instructions", flags={"model": "reflection"})
    reflection_max_tokens: int = setting(384, low=16,
                    help="most tokens of a reflection (a proposed instruction with its reasoning)")

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.split == "test":
            raise ValueError("split: the instruction is optimized on validation questions, never on 'test'")
        if (self.budget_calls is None) == (self.budget_from_teacher is None):
            raise ValueError("set exactly one of budget_calls and budget_from_teacher (the student answers GEPA "
                             "may ask for)")
        if not self.seed_instruction.strip():
            raise ValueError("seed_instruction: expected a non-empty instruction to start from")


def budget_of(config: OptimizeConfig) -> tuple[int, str]:
    """The student-answer budget and where it came from."""
    if config.budget_calls is not None:
        return config.budget_calls, "budget_calls"
    run = trained_run_config(config.budget_from_teacher)
    if run is None:
        raise W2SError(f"budget_from_teacher: {config.budget_from_teacher} has no run config (config.json or "
                       "run_config.json) to count its training's student answers from")
    return training_student_calls(run), f"the training of {config.budget_from_teacher}"


class InstructionAdapter:
    """GEPA's adapter for one component, `instruction`: the student answers each question with it."""

    propose_new_texts = None  # GEPA's own reflective proposer writes the new instructions

    def __init__(self, task: Task, student: Student, protocol: InstructionProtocol, max_tokens: int) -> None:
        self.task, self.student, self.protocol, self.max_tokens = task, student, protocol, max_tokens

    def evaluate(self, batch: list[Example], candidate: dict[str, str], capture_traces: bool = False):
        from gepa.core.adapter import EvaluationBatch

        instruction = candidate["instruction"]
        prompts = [self.protocol.student_prompt(self.task, e.question, instruction) for e in batch]
        answers = [o[0].text for o in self.student.generate(prompts, SamplingParams(max_tokens=self.max_tokens),
                                                            progress=False)]
        scored = score_responses(self.task, batch, answers)
        scores = [float(v) for v in scored.values]
        traces = [{"question": e.question, "answer": a, "gold": e.answer, "score": s}
                  for e, a, s in zip(batch, answers, scores, strict=True)] if capture_traces else None
        return EvaluationBatch(outputs=answers, scores=scores, trajectories=traces)

    def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
        rows = [{"Inputs": t["question"], "Generated Outputs": t["answer"][-1500:],
                 "Feedback": "correct" if t["score"] >= 1 else f"wrong: the correct final answer is {t['gold']}"}
                for t in eval_batch.trajectories or []]
        return {name: rows for name in components_to_update}


def reflection_lm(lm: Student, max_tokens: int):
    """GEPA's reflection model: a prompt in, the model's answer out (sampled, cached by seed)."""
    calls = [0]

    def ask(prompt: str) -> str:
        calls[0] += 1
        params = SamplingParams(temperature=0.7, max_tokens=max_tokens, seed=calls[0])
        return lm.generate([[{"role": "user", "content": prompt}]], params, progress=False)[0][0].text

    return ask, calls


def optimize_instruction(config: OptimizeConfig, student: Student | None = None,
                         reflection: Student | None = None) -> dict:
    """Run GEPA within the budget; write and return the best instruction with its cost."""
    try:
        import gepa
    except ImportError:
        raise W2SError("w2s wst optimize needs GEPA: pip install 'gepa>=0.1.4,<0.2'") from None
    budget, budget_source = budget_of(config)
    out = Path(config.output)
    cache_path = config.cache or default_cache_path()
    plan_writes([out / OPTIMIZED_FILE], folders=[out / STATE_FOLDER], reads=[config.data], cache=cache_path)
    protocol, _ = teacher_protocol(config.budget_from_teacher, config.instruction)
    task = get_task(config.task)
    questions = task.load(config.split, config.data, config.train_questions + config.val_questions, config.seed)
    if len(questions) < config.train_questions + config.val_questions:
        raise W2SError(f"split '{config.split}' has {len(questions)} questions; train_questions + val_questions "
                       f"need {config.train_questions + config.val_questions}")
    train, val = questions[: config.train_questions], questions[config.train_questions:]
    if budget < len(val):
        raise W2SError(f"a budget of {budget} student answers ({budget_source}) cannot even score the seed "
                       f"instruction on {len(val)} val_questions; raise the budget or lower val_questions")
    cache = ResponseCache(cache_path)
    student = student or make_student(config.student, cache)
    reflection = reflection or make_student(config.reflection, cache)
    adapter = InstructionAdapter(task, student, protocol, config.student_max_tokens)
    ask, asked = reflection_lm(reflection, config.reflection_max_tokens)
    result = gepa.optimize(seed_candidate={"instruction": config.seed_instruction}, trainset=train, valset=val,
                           adapter=adapter, reflection_lm=ask, max_metric_calls=budget,
                           reflection_minibatch_size=config.minibatch, seed=config.seed, display_progress_bar=False,
                           raise_on_exception=True, run_dir=str(out / STATE_FOLDER))
    best = result.best_candidate["instruction"]
    found = {"instruction": best, "seed_instruction": config.seed_instruction,
             "validation_score": result.val_aggregate_scores[result.best_idx],
             "seed_validation_score": result.val_aggregate_scores[0], "candidates_tried": len(result.candidates),
             "budget": {"student_calls": budget, "source": budget_source},
             # the student answers the search used (from the cache or not, in every attempt of a resumed
             # run): its cost to find, counted as a teacher's training is (its calls, not what was new)
             "cost": {"student_calls": result.total_metric_calls, "generated_by_this_attempt": student.stats.generated,
                      "student_tokens": student.stats.tokens, "metric_calls": result.total_metric_calls,
                      "reflection_calls": asked[0],
                      "reflection_tokens": reflection.stats.tokens},
             "validation": {"split": config.split, "train_questions": len(train), "val_questions": len(val)},
             "protocol": to_dict(protocol), "config": to_dict(config)}
    if len(best) > protocol.max_chars:
        print(f"note: the optimized instruction has {len(best)} characters, more than a teacher may write "
              f"({protocol.max_chars}, the protocol's max_chars)")
    write_json(out / OPTIMIZED_FILE, found)
    return found
