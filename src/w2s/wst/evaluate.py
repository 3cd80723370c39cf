"""`w2s wst eval`: does a teacher's instruction lift the student, against the natural baselines?

For the same held-out questions and the same student, compare:

- no instruction;
- a fixed generic instruction ("Let's think step by step.");
- the untrained teacher;
- a trained teacher checkpoint (a full model folder or a LoRA adapter folder);
- the student writing its own instruction with the teacher's template (the strong model as its
  own teacher);
- optionally, any teacher behind an OpenAI-compatible API (`api_teacher`), e.g. a stronger model.

Each condition gets its accuracy with a 95% bootstrap interval, its relative gain over no
instruction, its helped/harmed counts against no instruction, and the exact McNemar p-value.
Instructions are generated greedily, so an evaluation is deterministic and fully cached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import to_dict
from w2s.evaluation import grade_responses
from w2s.jsonl import write_jsonl
from w2s.paths import default_cache_path
from w2s.stats import bootstrap_ci, mcnemar_exact
from w2s.students import SamplingParams, Student, StudentConfig, make_student
from w2s.tasks import get_task
from w2s.wst.rewards import clean_instruction, student_prompt
from w2s.wst.train import TEACHER_TEMPLATE


@dataclass
class WSTEvalConfig:
    task: str = "gsm8k"
    data: str | None = None
    split: str = "test"
    limit: int | None = 200
    seed: int | None = None  # shuffle before limit (None = file order)
    student_max_tokens: int = 512
    generic_instruction: str | None = "Let's think step by step."  # None skips the condition
    untrained_teacher: str | None = "smollm2-135m-instruct"  # None skips the condition
    trained_teacher: str | None = None  # e.g. runs/wst/<run>/final
    self_instruction: bool = True
    # any teacher behind an OpenAI-compatible API (e.g. a stronger model as teacher), e.g.
    # api_teacher.backend=openai api_teacher.model=gpt-4o-mini api_teacher.base_url=...
    api_teacher: StudentConfig | None = None
    teacher_template: str = TEACHER_TEMPLATE
    max_instruction_tokens: int = 64
    max_instruction_chars: int = 600
    placement: str = "system"
    output: str = "runs/wst/eval"
    cache: str | None = None
    student: StudentConfig = field(default_factory=StudentConfig)


def load_teacher(name: str, cache: ResponseCache | None) -> Student:
    """A teacher as a Student: any model name, or a LoRA adapter folder saved by `w2s wst train`."""
    from w2s.students.hf import HFStudent

    folder = Path(name)
    if (folder / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM
        from transformers import AutoTokenizer

        from w2s.models.sources import folder_hash

        model = AutoPeftModelForCausalLM.from_pretrained(folder).merge_and_unload()
        return HFStudent(model, AutoTokenizer.from_pretrained(folder), cache=cache,
                         fingerprint=f"{folder}@{folder_hash(folder)}", name=str(folder))
    return HFStudent(name, cache=cache)


def run_wst_eval(config: WSTEvalConfig, student: Student | None = None) -> dict:
    task = get_task(config.task)
    examples = task.load(config.split, config.data, config.limit, config.seed)
    cache = ResponseCache(config.cache or default_cache_path())
    student = student or make_student(config.student, cache)
    teacher_prompts = [[{"role": "user", "content": config.teacher_template.format(question=e.question)}]
                       for e in examples]
    writing = SamplingParams(max_tokens=config.max_instruction_tokens)

    def written_by(writer: Student) -> list[str]:
        outs = writer.generate(teacher_prompts, writing, desc=f"instructions ({writer.name})")
        return [clean_instruction(o[0].text, config.max_instruction_chars) for o in outs]

    conditions: dict[str, list[str | None]] = {"no instruction": [None] * len(examples)}
    if config.generic_instruction:
        conditions["generic"] = [config.generic_instruction] * len(examples)
    if config.untrained_teacher:
        conditions["untrained teacher"] = written_by(load_teacher(config.untrained_teacher, cache))
    if config.trained_teacher:
        conditions["trained teacher"] = written_by(load_teacher(config.trained_teacher, cache))
    if config.self_instruction:
        conditions["self-instruction"] = written_by(student)
    if config.api_teacher is not None:
        conditions[f"API teacher ({config.api_teacher.model})"] = written_by(make_student(config.api_teacher, cache))

    # Every condition's prompts go to the student in one call: batches fill up across conditions
    # and the length-sorted batching groups similar prompts together.
    answering = SamplingParams(max_tokens=config.student_max_tokens)
    prompts = [student_prompt(task, e.question, i, config.placement)
               for instructions in conditions.values() for e, i in zip(examples, instructions, strict=True)]
    outputs = student.generate(prompts, answering, desc=f"student answers ({len(conditions)} conditions)")
    rows, correct = [], {}
    for c, (name, instructions) in enumerate(conditions.items()):
        answers = [o[0].text for o in outputs[c * len(examples): (c + 1) * len(examples)]]
        graded = grade_responses(task, examples, answers)
        correct[name] = [g["correct"] for g in graded]
        rows += [{"condition": name, **g, "question": e.question, "instruction": i, "response": a}
                 for e, i, a, g in zip(examples, instructions, answers, graded, strict=True)]

    base = correct["no instruction"]
    base_acc = sum(base) / len(base)
    table = []
    for name, outcomes in correct.items():
        est = bootstrap_ci(outcomes)
        helped, harmed, p = mcnemar_exact(base, outcomes)
        gain = (est.value - base_acc) / base_acc if base_acc > 0 else None
        table.append({"condition": name, "accuracy": est.__dict__, "relative_gain": gain,
                      "helped": helped, "harmed": harmed, "mcnemar_p": p})
    out = Path(config.output)
    write_jsonl(out / "instructions_and_answers.jsonl", rows)
    summary = {"task": task.name, "split": config.split, "n": len(examples), "student": student.name,
               "conditions": table, "trained_teacher_vs": trained_teacher_vs(correct), "config": to_dict(config)}
    (out / "wst_eval.json").write_text(json.dumps(summary, indent=2))
    summary["output"] = str(out)
    return summary


def trained_teacher_vs(correct: dict[str, list[bool]]) -> list[dict]:
    """The trained teacher against every other condition, paired on the same questions.

    The method's claim is that the trained teacher beats the baselines (the untrained teacher,
    the student's own instruction), not only no instruction, so each gets the same exact McNemar
    test with the trained teacher as the treatment. Empty when there is no trained teacher.
    """
    trained = correct.get("trained teacher")
    if trained is None:
        return []
    rows = []
    for name, outcomes in correct.items():
        if name != "trained teacher":
            better, worse, p = mcnemar_exact(outcomes, trained)
            rows.append({"condition": name, "trained_better": better, "trained_worse": worse, "mcnemar_p": p})
    return rows


def format_table(summary: dict) -> str:
    lines = [f"{summary['task']} ({summary['split']}), student {summary['student']}, n={summary['n']}",
             "| condition | accuracy [95% CI] | relative gain | helped | harmed | McNemar p |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in summary["conditions"]:
        acc = row["accuracy"]
        gain = "n/a" if row["relative_gain"] is None else f"{100 * row['relative_gain']:+.1f}%"
        lines.append(f"| {row['condition']} | {acc['value']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}] | {gain} | "
                     f"{row['helped']} | {row['harmed']} | {row['mcnemar_p']:.4g} |")
    if summary.get("trained_teacher_vs"):
        lines += ["", "| trained teacher vs | trained right, other wrong | trained wrong, other right | McNemar p |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {row['condition']} | {row['trained_better']} | {row['trained_worse']} | {row['mcnemar_p']:.4g} |"
                  for row in summary["trained_teacher_vs"]]
    return "\n".join(lines)
