"""`w2s wst train`: GRPO on the teacher, rewarded by the student's outcomes (TRL GRPOTrainer).

Simplifications, stated plainly: the reward is the one in `w2s.wst.rewards` (no format or length
shaping beyond its optional penalties); only the teacher is trained (full or LoRA); KL to the
reference is off by default (`beta: 0`, TRL's default too), so no reference model is loaded.
The instruction protocol (`instruction.*`: template, placement, limits, and the student's answer
budget `student_max_tokens`) is saved with the run and with its final teacher, so `w2s wst eval`
and `w2s serve` use exactly the same one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, data_setting, setting, task_setting, to_dict
from w2s.devices import is_main_process, trainer_precision, world_size
from w2s.errors import W2SError
from w2s.jsonl import write_atomic, write_json
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.progress import StepClock
from w2s.students import Student, StudentConfig, make_student
from w2s.tasks import Example, get_task
from w2s.training import settings_to_trackers, tracking
from w2s.wst.protocol import TEMPLATES, InstructionProtocol
from w2s.wst.rewards import RewardConfig, StudentReward


@dataclass
class TeacherConfig:
    model: str = setting("smollm2-135m-instruct", help="the teacher's base: offline pack, local folder or hub id")
    lora: bool = setting(True, help="train a LoRA adapter (PEFT); false trains every weight")
    lora_r: int = setting(16, low=1, help="LoRA rank")
    lora_alpha: int = setting(32, above=0, help="LoRA scaling (alpha / r multiplies the update)")
    # 0.7 chosen on validation (results/wst_protocol.md)
    temperature: float = setting(0.7, above=0, high=10, help="sampling temperature of the teacher's instructions "
                                                             "(GRPO needs diverse samples)")
    # On a CPU with native bf16 (AVX512-BF16, AMX) it was 1.85x faster than fp32 for a LoRA
    # forward+backward; on AVX2-only CPUs it made GRPO steps about 5x slower.
    bf16: bool | None = setting(None, help="bf16 autocast of the teacher's generation and update; None: on a GPU "
                                            "only")
    # Off by default (GSM8K prompts are short); on HH-RLHF dialogues one GRPO update of a 135M LoRA
    # teacher peaked at 13 GB and another was killed at 24 GB.
    gradient_checkpointing: bool = setting(False, help="recompute activations in the backward pass: the same "
                                                       "gradients, less memory, one more forward pass")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class WSTTrainConfig:
    task: str = task_setting("gsm8k")
    data: str | None = data_setting()
    train_split: str = setting("train_1", help="split the teacher trains on")
    train_limit: int | None = setting(256, low=1, help="training questions (None: all)")
    eval_split: str = setting("test", help="its questions are removed from training (never overlap)")
    seed: int = setting(0, low=0, help="seed of the question order and the trainer")
    steps: int = setting(20, low=1, help="GRPO steps")
    questions_per_step: int = setting(2, low=1, help="questions per GRPO step")
    num_generations: int = setting(4, low=2, help="instructions sampled per question (the GRPO group)")
    learning_rate: float = setting(1e-5, above=0, high=1, help="the teacher's learning rate")
    beta: float = setting(0.0, low=0,
                          help="KL penalty towards the base teacher (0: none, and no reference model)")
    save_steps: int = setting(10, low=1, help="a resumable checkpoint every N steps")
    # where the training curves go, as transformers names them (tensorboard: RUN_DIR/runs; trackio,
    # wandb, mlflow, ...; [] for none); w2s's per-step columns (metrics.jsonl) go there too
    report_to: list[str] = setting(default_factory=lambda: ["tensorboard"],
                    help="trackers for the training curves: tensorboard | trackio | wandb | mlflow | none")
    student_max_tokens: int = setting(256, low=1, help="the student's answer budget (outcome rewards)")
    output: str = setting("runs/wst/default",
                          help="run folder (checkpoints, metrics.jsonl, final/, TensorBoard logs)")
    cache: str | None = cache_setting()
    instruction: InstructionProtocol = field(default_factory=InstructionProtocol)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        check_ranges(self)  # num_generations >= 2: GRPO compares instructions within a group
        if self.instruction.student_max_tokens not in (None, self.student_max_tokens):
            raise ValueError(f"instruction.student_max_tokens ({self.instruction.student_max_tokens}) differs from "
                             f"student_max_tokens ({self.student_max_tokens}); set student_max_tokens only")

    @property
    def protocol(self) -> InstructionProtocol:
        """The protocol this run trains under and saves: `instruction.*` plus the answer budget."""
        return replace(self.instruction, student_max_tokens=self.student_max_tokens)


def training_examples(config: WSTTrainConfig) -> list[Example]:
    """Train-split questions, shuffled by seed, minus any question that is in the eval split."""
    task = get_task(config.task)
    train = task.load(config.train_split, config.data, None, config.seed)
    held_out = {e.question.strip() for e in task.load(config.eval_split, config.data)}
    kept = [e for e in train if e.question.strip() not in held_out]
    if not kept:
        raise W2SError(f"every question of split '{config.train_split}' is also in eval split "
                       f"'{config.eval_split}'; point data at a folder with one <split>.jsonl per split")
    return kept[: config.train_limit] if config.train_limit is not None else kept


def _prepare_run(config: WSTTrainConfig, resume: bool) -> tuple[Path, int]:
    """Refuse what cannot run (checkpoints without --resume, writes on inputs, an uneven batch),
    before any model loads; returns the run folder and the number of training processes."""
    out = Path(config.output)
    if out.exists() and any(out.glob("checkpoint-*")) and not resume:
        raise W2SError(f"{out} already holds checkpoints: pass --resume to continue, or another output=")
    if is_main_process():
        run_files = ["config.json", "train_ids.json", "metrics.jsonl", "README.md", "instruction_protocol.json"]
        plan_writes([*(out / f for f in run_files), *(out / "final" / f for f in run_files[3:])],
                    reads=[config.data], cache=config.cache or default_cache_path(), option="output")
    processes = world_size()
    batch = config.questions_per_step * config.num_generations
    if batch % processes:
        raise W2SError(f"questions_per_step x num_generations ({batch}) must divide evenly over the "
                       f"{processes} training processes")
    return out, processes


def _grpo_trainer(config: WSTTrainConfig, out: Path, reward: StudentReward, rows: list[dict], processes: int):
    """TRL's GRPOTrainer for the teacher (LoRA unless turned off), timed per phase."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from w2s.models import resolve_model

    args = GRPOConfig(
        output_dir=str(out), max_steps=config.steps, learning_rate=config.learning_rate, beta=config.beta,
        per_device_train_batch_size=config.questions_per_step * config.num_generations // processes,
        num_generations=config.num_generations, max_completion_length=config.protocol.max_tokens,
        temperature=config.teacher.temperature, logging_steps=1, save_steps=config.save_steps, seed=config.seed,
        **tracking(config.report_to, out / "runs", run_name=out.name),
        **trainer_precision(config.teacher.bf16), activation_checkpointing=config.teacher.gradient_checkpointing,
        dataloader_num_workers=0,
    )
    peft_config = None
    if config.teacher.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.teacher.lora_r, lora_alpha=config.teacher.lora_alpha,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    return _timed(GRPOTrainer)(model=str(resolve_model(config.teacher.model).path), reward_funcs=[reward],
                               args=args, train_dataset=Dataset.from_list(rows), peft_config=peft_config)


def train_teacher(config: WSTTrainConfig, resume: bool = False, student: Student | None = None) -> Path:
    """Run GRPO; checkpoints, metrics.jsonl, TensorBoard logs and split ids go to config.output."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers.trainer_utils import get_last_checkpoint

    out, processes = _prepare_run(config, resume)
    task = get_task(config.task)
    examples = training_examples(config)
    protocol = config.protocol
    main = is_main_process()  # under accelerate launch, one process writes the run's files
    if main:
        write_json(out / "config.json", to_dict(config))
        write_json(out / "train_ids.json", [e.id for e in examples], indent=None)
        protocol.save(out)
    if student is None:
        student = make_student(config.student, ResponseCache(config.cache or default_cache_path()))
        if main and config.student.backend == "hf" and config.reward.kind != "likelihood":
            _batching_hint(config, processes)
    # Each process asks the student about its own share of the step's instructions.
    reward = StudentReward(task, student, protocol, config.reward, config.student_max_tokens, config.seed,
                           processes=processes)
    rows = [{"prompt": protocol.teacher_prompt(e.question), "question": e.question, "answer": e.answer,
             "target": task.target_text(e), "id": e.id} for e in examples]
    trainer = _grpo_trainer(config, out, reward, rows, processes)
    if main:  # first, so the trackers' callbacks see the columns it adds to each step's logs
        trainer.callback_handler.callbacks.insert(0, _jsonl_metrics(out / "metrics.jsonl", reward, student))
    last = get_last_checkpoint(str(out)) if resume else None
    if main:  # steps logged after the checkpoint (or by an attempt killed before its first) are trained again
        _keep_metrics_through(out / "metrics.jsonl", int(Path(last).name.split("-")[-1]) if last else 0)
    with settings_to_trackers(trainer.model, to_dict(config)):
        trainer.train(resume_from_checkpoint=last)
    trainer.save_model(str(out / "final"))  # written by the main process only
    if main:
        protocol.save(out / "final")
        _name_base_model(out / "final", config.teacher.model)
        card = run_card(config, len(examples), trainer.state.global_step)
        for folder in (out, out / "final"):  # replaces TRL's and PEFT's generic cards
            write_atomic(folder / "README.md", [card])
    print(f"student usage{'' if processes == 1 else ' (this process)'}: {student.usage_line()}")
    return out


def _batching_hint(config: WSTTrainConfig, processes: int) -> None:
    """Say when one step's answers need several decoding passes of the hf student.

    A step asks for each question's instructed answers plus, the first time a question is seen,
    its answer without an instruction. Each decoding pass pays a fixed cost per token (reading
    the weights, per-layer overhead) on top of its rows, so a small remainder batch is nearly as
    slow as a full one: 16 + 4 answers of 128 tokens in two batches took 131 s a step on a
    2-core CPU, one batch of 20 took 95 s (results/wst_organism_protocol.md, amendment 2).
    """
    k = config.reward.student_samples
    per_step = config.questions_per_step * (config.num_generations + 1) * k // processes
    passes = -(-per_step // config.student.batch_size)
    if passes > 1:
        print(f"w2s: a training step asks the student for up to {per_step} answers; student.batch_size="
              f"{config.student.batch_size} decodes them in {passes} batches, student.batch_size={per_step} "
              "in one (if memory allows)")


def _name_base_model(folder: Path, name: str) -> None:
    """Record the teacher's base as the name the user gave (a pack, a hub id), not this machine's
    path to it, so the adapter loads anywhere (`load_teacher_lm` resolves the name)."""
    config = folder / "adapter_config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        data["base_model_name_or_path"] = name
        write_json(config, data)


def run_card(config: WSTTrainConfig, questions: int, steps: int) -> str:
    """The README of a run folder and its `final/`: what was trained, against what, and how to use it.

    It replaces the cards TRL and PEFT write (TRL's names no base model; PEFT's is a blank
    template), so a teacher shared on the hub says what it is. It names models as the user gave
    them (a pack or hub id rather than where this machine keeps it) and claims nothing about gains:
    those come from an evaluation.
    """
    c, r, p = config, config.reward, config.protocol
    adapter = f"LoRA adapter (r = {c.teacher.lora_r})" if c.teacher.lora else "full fine-tune"
    what = {"relative": "grade with the instruction minus without", "absolute": "grade with the instruction",
            "likelihood": "log-probability of the gold answer with the instruction minus without"}[r.kind]
    samples = (f"{r.student_samples} answers sampled at temperature {r.student_temperature:g}"
               if r.student_samples > 1 else "one greedy answer" if r.student_temperature == 0
               else f"one answer sampled at temperature {r.student_temperature:g}")
    over = "" if r.kind == "likelihood" else f", over its {samples}, answers cut at {c.student_max_tokens} tokens"
    return f"""---
base_model: {c.teacher.model}
library_name: {"peft" if c.teacher.lora else "transformers"}
tags: [w2s, wst, grpo, teacher]
---

# A WST teacher trained with w2s

{c.teacher.model}, {adapter}, trained by GRPO to write a per-question instruction for a student
that answers with it: {c.student.model} (served by `{c.student.backend}`), on task `{c.task}`.
Only the teacher was trained; the student was not changed.

- Training: {steps} steps x {c.questions_per_step} questions x {c.num_generations} instructions, from {questions}
  questions of split `{c.train_split}` (their ids: `train_ids.json` in the run folder; questions of
  `{c.eval_split}` excluded), learning rate {c.learning_rate:g}, seed {c.seed}.
- Reward: `{r.kind}` (the student's {what}){over}; leak penalty {r.leak_penalty:g}.
- Instructions: at most {p.max_tokens} tokens, template `{p.template if p.template in TEMPLATES else 'custom'}`, placed as `{p.placement}`
  (`instruction_protocol.json`; evaluation and serving use it, with the {c.student_max_tokens}-token budget).

Whether it helps a student is for an evaluation to say, against no instruction:

```bash
w2s wst eval --task "{c.task}" --teacher <this folder> student.model={c.student.model}
w2s serve --teacher <this folder> --upstream <an OpenAI-compatible server of the student>
```

```python
from w2s import Teacher
teacher = Teacher.load("<this folder>")
```
"""


def _keep_metrics_through(path: Path, step: int) -> None:
    """Keep the metrics rows of steps up to `step` (a resumed run logs the later ones anew)."""
    if path.is_file():
        rows = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        write_atomic(path, (line + "\n" for line in rows))


def _timed(trainer_cls: type) -> type:
    """A GRPOTrainer that clocks teacher generation and reward computation (student + grading),
    and starts the step's student baselines before the teacher writes (`StudentReward.prefetch`).

    These are TRL's own `_generate_and_score_completions`, `_generate` and `_calculate_rewards`
    hooks; the update time is the rest of the step. They are private, so their presence is checked
    here: a TRL release that renames them fails loudly at start-up instead of logging a silently
    wrong time split.
    """
    hooks = ("_generate_and_score_completions", "_generate", "_calculate_rewards")
    missing = [hook for hook in hooks if not callable(getattr(trainer_cls, hook, None))]
    if missing:
        raise W2SError(f"this TRL version's GRPOTrainer has no {', '.join(missing)} (w2s times those hooks); "
                       "install the TRL range in pyproject.toml")

    class TimedGRPOTrainer(trainer_cls):
        def _clock(self) -> StepClock:  # the step clock the student reward keeps
            return next(f.clock for f in self.reward_funcs if isinstance(f, StudentReward))

        def _generate_and_score_completions(self, inputs, *args, **kwargs):
            for func in self.reward_funcs:
                if isinstance(func, StudentReward) and inputs and "question" in inputs[0]:
                    targets = [x["target"] for x in inputs] if "target" in inputs[0] else None
                    func.prefetch([x["question"] for x in inputs],
                                  func.golds_of([x["answer"] for x in inputs], targets))
            return super()._generate_and_score_completions(inputs, *args, **kwargs)

        def _generate(self, *args, **kwargs):
            with self._clock().phase("teacher"):
                return super()._generate(*args, **kwargs)

        def _calculate_rewards(self, *args, **kwargs):
            with self._clock().phase("reward"):
                return super()._calculate_rewards(*args, **kwargs)

    return TimedGRPOTrainer


def _jsonl_metrics(path: Path, reward: StudentReward, student: Student):
    """`_JsonlMetrics` as a transformers callback (transformers is imported here, not when the
    command line is built: `w2s --help` loads no model library)."""
    from transformers import TrainerCallback

    return type("JsonlMetrics", (_JsonlMetrics, TrainerCallback), {})(path, reward, student)


class _JsonlMetrics:
    """Appends every logged step (TRL's metrics, the student's outcomes, the time split) to metrics.jsonl.

    time/*_s split each step into teacher generation, student generation, grading, other reward
    work, and the update (forward/backward/optimizer plus logging: the remainder of the step).
    time/student_overlapped_s is the part of the student's time spent while the teacher was
    writing (prefetched baselines), so it is not part of the step's wall time.
    """

    def __init__(self, path: Path, reward: StudentReward, student: Student) -> None:
        self.path, self.reward, self.student = path, reward, student
        self.reward.clock.take()  # a step's time starts now, not when the models were loading
        self._counts = self._student_counts()

    def _student_counts(self) -> dict[str, int]:
        return {"retries": self.student.stats.retries, "empty": self.student.stats.empty}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs and "reward" not in logs:
            return
        t = self.reward.clock.take()  # this step's phases, one dict
        now = self._student_counts()
        d, self._counts = {k: now[k] - self._counts[k] for k in now}, now
        # helped/harmed/unchanged count the whole step, every process's share (see StudentReward)
        counts = {k: int(round(logs.get(f"student/{k}", 0))) for k in ("helped", "harmed", "unchanged")}
        student, grading, background = t.get("student", 0.0), t.get("grading", 0.0), t.get("background", 0.0)
        teacher, reward = t.get("teacher", 0.0), t.get("reward", 0.0)
        # "student" and "grading" include what ran in the background (baselines answered while the
        # teacher wrote): that part overlaps the step, so the parts sum to the step plus it
        times = {"time/teacher_generation_s": teacher, "time/student_s": student, "time/grading_s": grading,
                 "time/reward_other_s": max(0.0, reward - (student + grading - background)),
                 "time/update_s": max(0.0, t["step"] - teacher - reward),
                 "time/student_overlapped_s": background, "time/step_s": t["step"]}
        # requests the student retried (timeouts, server errors) and answers left empty: a slow
        # or failing student shows here rather than only in a longer step
        counts |= {"student_retries": int(d["retries"]), "student_empty": int(d["empty"])}
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))},
               **counts,
               **{k: round(v, 3) for k, v in times.items()}}
        logs.update({k: v for k, v in row.items() if k not in logs and k != "step"})  # to the trackers too
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
