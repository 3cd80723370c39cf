"""`w2s rm train` and `w2s rm check`: train an offline reward model, and check any reward model's
pairwise accuracy on labelled pairs, before it grades anything.

`train_reward_model` fine-tunes a small model (the SmolLM2-135M pack by default) with TRL's
`RewardTrainer` on a task's `rm_train` pairs and reports its pairwise accuracy (chosen scored
above rejected) on the disjoint `rm_test` pairs. The component they train and check,
`RewardModel`, is in `w2s.reward_model` (below the tasks, which grade open-ended replies with it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, data_setting, setting, task_setting
from w2s.devices import is_main_process, trainer_precision
from w2s.errors import W2SError
from w2s.paths import default_cache_path, w2s_home
from w2s.reward_model import RewardModel, default_reward_model
from w2s.stats import Estimate, bootstrap_ci
from w2s.training import checkpointing, fingerprint, prepare_work_folder, publish_model, run_trainer, tracking


@dataclass
class RMCheckConfig:
    """`w2s rm check`: how often a reward model scores the human-chosen reply above the rejected
    one, on labelled pairs the evaluation never uses. Check a hub reward model before it grades."""

    model: str | None = setting(None,
                                help="hub id, folder or pack (default: the offline one `w2s rm train` wrote)")
    task: str = task_setting("hh_rlhf")
    data: str | None = data_setting()
    split: str = setting("rm_test", help="labelled split")
    limit: int | None = setting(None, low=1, help="pairs (None: all)")
    batch_size: int = setting(8, low=1, help="pairs scored at once")
    max_length: int = setting(1024, low=1, help="tokens of a prompt and reply, at most")
    device: str = setting("auto", help="auto = cuda if available else cpu")
    dtype: str = setting("auto", help="auto = float32 on CPU")
    output: str | None = setting(None, help="a folder for rm_check.json and the per-pair scores")
    cache: str | None = cache_setting()

    def __post_init__(self) -> None:
        check_ranges(self)


def pairwise_check(rm: RewardModel, task, examples: list) -> tuple[Estimate, list[tuple[float, float]]]:
    """The reward model's pairwise accuracy on labelled pairs, and each pair's (chosen, rejected) scores."""
    chats = [task.messages(e.question) for e in examples]
    chosen, rejected = rm.score(chats, [e.answer for e in examples]), rm.score(chats, [e.rejected for e in examples])
    accuracy = bootstrap_ci([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(chosen, rejected, strict=True)])
    return accuracy, list(zip(chosen, rejected, strict=True))


def check_reward_model(config: RMCheckConfig) -> dict:
    """Pairwise accuracy (ties count half) with its interval; writes rm_check.json if asked."""
    from w2s.jsonl import write_json, write_jsonl
    from w2s.outputs import plan_writes
    from w2s.tasks import get_task

    task = get_task(config.task)
    examples = task.load_pairs(config.split, config.data, config.limit)
    out = Path(config.output) if config.output else None
    cache_path = config.cache or default_cache_path()
    plan_writes([out / "scores.jsonl", out / "rm_check.json"] if out else [], reads=[config.data], cache=cache_path)
    rm = RewardModel(config.model or default_reward_model(), batch_size=config.batch_size, device=config.device,
                     dtype=config.dtype, cache=ResponseCache(cache_path),
                     max_length=config.max_length)
    accuracy, scores = pairwise_check(rm, task, examples)
    result = {"model": rm.name, "task": task.name, "split": config.split, "pairs": len(examples),
              "pairwise_accuracy": accuracy.to_dict(), "config": config.__dict__}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_jsonl(out / "scores.jsonl", [{"id": e.id, "chosen_score": a, "rejected_score": b}
                                           for e, (a, b) in zip(examples, scores, strict=True)])
        write_json(out / "rm_check.json", result, indent=1)
    return result


@dataclass
class RMTrainConfig:
    """`w2s rm train`: which model learns which preferences, and how it is checked."""

    task: str = task_setting("hh_rlhf")
    data: str | None = data_setting()
    split: str = setting("rm_train", help="split of training pairs")
    eval_split: str = setting("rm_test", help="held-out split of labelled pairs")
    limit: int | None = setting(None, low=1, help="training pairs (None: the whole split)")
    eval_limit: int | None = setting(None, low=1, help="held-out pairs (None: all)")
    model: str = setting("smollm2-135m-instruct", help="base model (a pack, folder or hub id)")
    epochs: float = setting(1.0, above=0, help="passes over the training pairs")
    learning_rate: float = setting(5e-5, above=0, high=1, help="learning rate")
    batch_size: int = setting(8, low=1, help="pairs per step")
    max_length: int = setting(512, low=16, help="tokens of a prompt and reply, at most")
    seed: int = setting(0, low=0, help="seed of the trainer")
    save_steps: int = setting(50, low=0,
                              help="a resumable checkpoint (weights and optimizer) every N steps; 0: none")
    gradient_checkpointing: bool = setting(False,
                                           help="recompute activations in the backward pass: the same "
                                                "gradients for less memory (a full fine-tune of the 135M "
                                                "pack at max_length 512 held 12 GB without it)")
    # where the training curves go, as transformers names them (tensorboard: logs/ beside the model)
    report_to: list[str] = setting(default_factory=lambda: ["tensorboard"],
                    help="trackers for the training curves: tensorboard | trackio | wandb | mlflow | none")
    output: str | None = setting(None,
                                 help="default: $W2S_HOME/reward-models/hh_rlhf (the offline default grader)")
    cache: str | None = cache_setting()

    def __post_init__(self) -> None:
        check_ranges(self)


def train_reward_model(config: RMTrainConfig) -> dict:
    """Fine-tune with TRL's RewardTrainer; returns (and writes) the held-out pairwise accuracy."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from w2s.jsonl import write_json
    from w2s.models import resolve_model
    from w2s.tasks import get_task

    task = get_task(config.task)
    train = task.load_pairs(config.split, config.data, config.limit, config.seed)
    held_out = task.load_pairs(config.eval_split, config.data, config.eval_limit)
    overlap = {e.question for e in train} & {e.question for e in held_out}
    if overlap:
        raise W2SError(f"{len(overlap)} prompts are in both {config.split} and {config.eval_split}: the check "
                       "would not be held out")
    out = Path(config.output) if config.output else w2s_home() / "reward-models" / "hh_rlhf"
    work = out.with_name(out.name + ".partial")
    base = resolve_model(config.model).path
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [{"prompt": task.messages(e.question), "chosen": [{"role": "assistant", "content": e.answer}],
             "rejected": [{"role": "assistant", "content": e.rejected}]} for e in train]
    # what changes the trained model; memory settings do not, so a run may resume with them changed
    settings = {k: v for k, v in config.__dict__.items() if k != "gradient_checkpointing"}
    resume = prepare_work_folder(work, fingerprint("reward", config.model, rows, settings))
    args = RewardConfig(output_dir=str(work / "trainer"), num_train_epochs=config.epochs,
                        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
                        max_length=config.max_length, seed=config.seed, logging_steps=1, **checkpointing(config.save_steps),
                        **tracking(config.report_to, out.parent / "logs" / out.name, out.name), dataloader_num_workers=0, activation_checkpointing=config.gradient_checkpointing,
                        **trainer_precision())
    trainer = RewardTrainer(model=str(base), args=args, train_dataset=Dataset.from_list(rows),
                            processing_class=tokenizer)
    run_trainer(trainer, out, resume)
    publish_model(trainer, tokenizer, work, out)
    rm = RewardModel(out, cache=ResponseCache(config.cache or default_cache_path()), max_length=config.max_length)
    accuracy, _ = pairwise_check(rm, task, held_out)
    loss = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    result = {"model": str(out), "base": config.model, "task": task.name, "train_pairs": len(train),
              "eval_split": config.eval_split, "eval_pairs": len(held_out), "pairwise_accuracy": accuracy.to_dict(),
              "first_loss": loss[0] if loss else None, "last_loss": loss[-1] if loss else None,
              "config": config.__dict__}
    if is_main_process():
        write_json(out / "rm_eval.json", result, indent=1)
    return result
