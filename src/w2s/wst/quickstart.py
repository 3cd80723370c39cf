"""`w2s quickstart`: the whole WST loop on the offline defaults, small enough for a 2-core CPU.

Teacher SmolLM2-135M-Instruct (LoRA), student Qwen2.5-0.5B-Instruct (offline packs), task GSM8K
from the default data roots (else the hub, else the offline `gsm_symbolic` generator):

1. the student's no-instruction baseline on held-out test questions;
2. a short GRPO run of the teacher on train questions, with the likelihood reward (the student
   scores the gold solution with and without each instruction: no student generation, so a
   step takes seconds rather than minutes);
3. `w2s wst eval` on the same held-out questions (none / generic / untrained / trained teacher);
4. `w2s report` on the run folder.

Its settings are the pre-registered run's (results/wst_protocol.md) at a smaller size: LoRA
learning rate 1e-4 (at the trainer's 1e-5, six steps left the teacher writing the untrained
teacher's instructions), student answers of up to 512 tokens (at 256, two thirds of the
0.5B student's GSM8K answers were cut, so accuracy measured truncation), and bf16 for the student
and the teacher's updates on a CPU with native bf16 (about twice as fast there; fp32 elsewhere,
where emulated bf16 would be slower).

It is a demonstration of the pipeline sized to finish in about a quarter of an hour, not a result:
a few GRPO steps on a dozen questions cannot show a significant gain, and the report says so
(see results/ for real runs).
Rerunning continues where it stopped: generations come from the cache, training resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.devices import cpu_has_native_bf16, cuda_available
from w2s.errors import W2SError
from w2s.evaluation import score_responses
from w2s.paths import default_cache_path
from w2s.students import SamplingParams, StudentConfig, make_student
from w2s.tasks import get_task
from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.report import sample_size_verdict, write_report
from w2s.wst.rewards import RewardConfig
from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher


@dataclass
class QuickstartConfig:
    task: str = "gsm8k"
    data: str | None = None
    output: str = "runs/quickstart"
    eval_questions: int = 12
    steps: int = 6
    questions_per_step: int = 2
    num_generations: int = 4
    student_max_tokens: int = 512
    learning_rate: float = 1e-4
    cache: str | None = None
    instruction: InstructionProtocol = field(default_factory=InstructionProtocol)
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(kind="likelihood"))
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)


def pick_data(config: QuickstartConfig) -> tuple[str, str, str]:
    """(task, train split, eval split): GSM8K train_1/test, else hub train/test, else gsm_symbolic."""
    task = get_task(config.task)
    for train_split in ("train_1", "train"):
        try:
            task.load("test", config.data, limit=1)
            task.load(train_split, config.data, limit=1)
            return config.task, train_split, "test"
        except W2SError as err:
            reason = err
    if config.data is not None:
        raise reason
    print(f"note: no {config.task} data found ({reason}); using the offline gsm_symbolic task instead")
    return "gsm_symbolic", "train", "test"


def use_native_bf16(config: QuickstartConfig) -> bool:
    """On a CPU with native bf16, run the student in bf16 and the teacher's updates under bf16
    autocast, unless the user chose (student.dtype, teacher.bf16). GPUs get bf16 by default."""
    if config.student.device not in ("auto", "cpu") or (config.student.device == "auto" and cuda_available()):
        return False
    if not cpu_has_native_bf16():
        return False
    changed = False
    if config.student.backend == "hf" and config.student.dtype == "auto":
        config.student.dtype, changed = "bfloat16", True
    if config.teacher.bf16 is None:
        config.teacher.bf16, changed = True, True
    return changed


def run_quickstart(config: QuickstartConfig) -> Path:
    out = Path(config.output)
    if use_native_bf16(config):
        print("this CPU has native bf16: the student runs in bf16 and the teacher trains under bf16 autocast "
              "(student.dtype=float32 teacher.bf16=false to turn off)")
    task_name, train_split, eval_split = pick_data(config)
    task = get_task(task_name)
    cache = ResponseCache(config.cache or default_cache_path())
    student = make_student(config.student, cache)
    examples = task.load(eval_split, config.data, config.eval_questions)
    print(f"[1/4] baseline: {student.name} on {len(examples)} held-out {task_name} {eval_split} questions, "
          "no instruction")
    params = SamplingParams(max_tokens=config.student_max_tokens)
    outputs = student.generate([config.instruction.student_prompt(task, e.question, None) for e in examples], params,
                               desc="student baseline")
    print(f"      baseline accuracy {score_responses(task, examples, [o[0].text for o in outputs]).accuracy}")

    train_out = out / "train"
    final = train_out / "final"
    if (final / "adapter_config.json").is_file() or (final / "config.json").is_file():
        print(f"[2/4] teacher already trained: {final}")
    else:
        print(f"[2/4] training the teacher ({config.teacher.model}) with GRPO for {config.steps} steps on "
              f"{task_name} {train_split} questions")
        train_teacher(WSTTrainConfig(
            task=task_name, data=config.data, train_split=train_split, eval_split=eval_split,
            steps=config.steps, questions_per_step=config.questions_per_step, learning_rate=config.learning_rate,
            num_generations=config.num_generations, save_steps=1, student_max_tokens=config.student_max_tokens,
            output=str(train_out), cache=config.cache, instruction=config.instruction, reward=config.reward,
            teacher=config.teacher, student=config.student,
        ), resume=any(train_out.glob("checkpoint-*")), student=student)

    print("[3/4] held-out evaluation: no instruction, generic, untrained teacher, trained teacher")
    summary = run_wst_eval(WSTEvalConfig(
        task=task_name, data=config.data, split=eval_split, limit=config.eval_questions,
        student_max_tokens=config.student_max_tokens, untrained_teacher=config.teacher.model,
        trained_teacher=str(final), self_instruction=False, output=str(out / "eval"),
        cache=config.cache, student=config.student,
    ), student=student)
    print(format_table(summary))
    report = write_report(out)
    print(f"[4/4] report: {report} (plots beside it); training metrics: {train_out}/metrics.jsonl")
    print(sample_size_verdict(summary).replace("**", ""))
    print("This is a few-minute demonstration, not a result: see README 'Results' for real runs.")
    return report
