"""Supervised and preference fine-tuning with TRL (SFT, DPO, ORPO) and PEFT LoRA.

One function, `finetune`, because every training step of progressive weak-to-strong reasoning
has the same shape: a base model folder plus rows in, a complete model folder out. With LoRA the
adapter is merged into the base before saving, so the result is an ordinary model folder that
every w2s command (and the next training step) loads like any other. The folder appears only
when training finished (it is written elsewhere and renamed), so a killed run never leaves a
half-trained model that looks finished. Meanwhile the trainer checkpoints every `save_steps`
steps into that `.partial` folder, and the same call (same method, base model, rows and config)
resumes from the last checkpoint: a run killed mid-training loses at most `save_steps` steps.

Scale-out is accelerate's: `accelerate launch -m w2s.cli reason ...` runs the same trainers on
several GPUs (bf16 is switched on when CUDA is present).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from w2s.config import check_ranges, setting
from w2s.devices import is_main_process, resolve_device, torch_dtype, trainer_precision
from w2s.errors import W2SError
from w2s.jsonl import write_json
from w2s.models.sources import TRAINING_LOG
from w2s.students import Prompt

METHODS = ("sft", "dpo", "orpo")


@dataclass
class FinetuneConfig:
    epochs: float = setting(2.0, above=0, help="passes over the training rows")
    learning_rate: float = setting(1e-4, above=0, high=1, help="peak learning rate (linear decay)")
    batch_size: int = setting(4, low=1, help="rows (SFT) or pairs (DPO/ORPO) per forward pass")
    grad_accum: int = setting(1, low=1, help="forward passes per optimizer step")
    max_length: int = setting(1024, low=1, help="prompt + response tokens; longer rows are truncated")
    lora: bool = setting(True, help="train a LoRA adapter (PEFT); false trains every weight")
    lora_r: int = setting(16, low=1, help="LoRA rank")
    lora_alpha: int = setting(32, above=0, help="LoRA scaling (alpha / r multiplies the update)")
    beta: float = setting(0.1, above=0, help="DPO / ORPO strength")
    # DPO only: weight of a likelihood (NLL) term on the chosen answers beside the DPO loss, as in
    # RPO (Pang et al., 2024). Plain DPO (0) can lower the chosen answers' likelihood along with the
    # rejected ones' when both share most tokens ("likelihood displacement"): in
    # results/reason_chain_sum_cpu.md it taught the model to repeat digits. ORPO has its own NLL term.
    sft_weight: float = setting(0.0, low=0, help="DPO only: weight of an NLL term on the chosen answers (RPO)")
    seed: int = setting(0, low=0, help="seed of the shuffle, LoRA init and dropout")
    # a LoRA forward+backward measured 1.85x faster than fp32 on a CPU with native bf16
    bf16: bool | None = setting(None, help="bf16 autocast; None: on a GPU only, true: also on a CPU with native "
                                            "bf16 (the saved model keeps its dtype)")
    # with LoRA a checkpoint is a few MB and well under a second
    save_steps: int = setting(20, low=0, help="a resumable checkpoint (adapter or weights, optimizer, scheduler, "
                                               "RNG) every N optimizer steps; 0: none")
    report_to: list[str] = setting(default_factory=lambda: ["tensorboard"],
                                   help="where training curves go, as transformers names them: tensorboard (logs "
                                        "beside the model), trackio (local, offline), wandb, mlflow, ...; [] for none")

    def __post_init__(self) -> None:  # checked when the config is read, not hours later at the DPO step
        check_ranges(self)


def sft_row(prompt: Prompt, response: str) -> dict:
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": response}]}


def preference_row(prompt: Prompt, chosen: str, rejected: str) -> dict:
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def finetune(method: str, model: str, rows: list[dict], out: str | Path, config: FinetuneConfig) -> Path:
    """Train `model` on `rows` with TRL's `method` trainer; save the (merged) model folder at `out`."""
    if method not in METHODS:
        raise W2SError(f"unknown training method '{method}' (expected one of: {', '.join(METHODS)})")
    if not rows:
        raise W2SError(f"nothing to train on for {out}: the training set is empty")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from w2s.models import resolve_model

    out = Path(out)
    work = out.with_name(out.name + ".partial")
    resume = prepare_work_folder(work, fingerprint(method, model, rows, config.__dict__))
    base = resolve_model(model).path
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    network = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype("auto", resolve_device()))
    common = dict(
        output_dir=str(work / "trainer"), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length, seed=config.seed, logging_steps=1,
        **tracking(config.report_to, out.parent / "logs" / out.name, run_name=out.name), **checkpointing(config.save_steps),
        **trainer_precision(config.bf16), activation_checkpointing=False, dataloader_num_workers=0,
        remove_unused_columns=False,  # the DPO/ORPO collators need their columns
    )
    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    dataset = Dataset.from_list(rows)
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=network, args=SFTConfig(**common), train_dataset=dataset,
                             processing_class=tokenizer, peft_config=peft_config)
    elif method == "dpo":
        from trl import DPOConfig, DPOTrainer

        losses = dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, config.sft_weight]) if config.sft_weight else {}
        trainer = DPOTrainer(model=network, args=DPOConfig(beta=config.beta, **losses, **common), train_dataset=dataset,
                             processing_class=tokenizer, peft_config=peft_config)
    else:
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        trainer = ORPOTrainer(model=network, args=ORPOConfig(beta=config.beta, **common), train_dataset=dataset,
                              processing_class=tokenizer, peft_config=peft_config)
    run_trainer(trainer, out, resume, {"method": method, "base": str(model), "rows": len(rows), **config.__dict__})
    log = [row for row in trainer.state.log_history if "loss" in row or "train_loss" in row]
    publish_model(trainer, tokenizer, work, out, merge_lora=config.lora, log={
        "method": method, "base": str(model), "rows": len(rows), "config": config.__dict__, "log": log,
        "processes": trainer.accelerator.num_processes})
    del trainer, network  # the trainer and model hold references to each other: free them now, so the
    return_freed_memory()  # next step (a 1.5B server, the next model) does not start beside this one
    return out


def return_freed_memory() -> None:
    """Collect, then hand freed heap pages back to the OS. glibc keeps them in the process: after a
    1.5B LoRA fine-tune the process still held 18.7 GB, and the next step's vLLM server ran a 24 GB
    machine out of memory (`benchmarks/finetune_memory.py` measures it). A no-op without glibc."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library (macOS, musl): nothing to trim
        pass


def tracking(report_to: list[str], logs: Path, run_name: str) -> dict:
    """Trainer arguments that send the training curves to `report_to`, named `run_name`; TensorBoard
    writes into `logs` (transformers would otherwise write into ./runs of wherever w2s was started)."""
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(logs)  # read when the trainer builds its callbacks
    return {"report_to": list(report_to) or "none", "run_name": run_name, "project": "w2s"}  # trackio's project


def checkpointing(save_steps: int) -> dict:
    """Trainer arguments for a resumable checkpoint every `save_steps` steps (0: none), the last kept."""
    return dict(save_strategy="steps" if save_steps > 0 else "no", save_steps=max(save_steps, 1), save_total_limit=1)


def run_trainer(trainer, out: Path, resume: Path | None, settings: dict | None = None) -> None:
    """Run the trainer, from `resume` (a checkpoint of this very training) when there is one.
    `settings` (w2s's own config of the run) go to the trackers with the model's config."""
    if resume:
        print(f"  resuming {out.name} from {resume.name}")
    with settings_to_trackers(trainer.model, settings):
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)


@contextmanager
def settings_to_trackers(model, settings: dict | None):
    """While training, the model's config carries w2s's settings (`w2s`): every transformers
    tracker logs the model config beside the trainer's arguments (TensorBoard as text, trackio,
    wandb and mlflow as the run's config). Removed afterwards, so no saved model carries it."""
    config = getattr(model, "config", None)
    if settings is None or config is None:
        yield
        return
    config.w2s = json.loads(json.dumps(settings, default=str))
    try:
        yield
    finally:
        config.__dict__.pop("w2s", None)


def fingerprint(method: str, model: str, rows: list[dict], settings: dict) -> str:
    """What a checkpoint was trained on: a checkpoint resumes only the very same training."""
    settings = {k: v for k, v in settings.items() if k not in ("save_steps", "output", "cache", "report_to")}  # change no weight
    if not settings.get("sft_weight"):  # added later: a checkpoint from before it still resumes
        settings.pop("sft_weight", None)
    blob = json.dumps({"method": method, "model": str(model), "rows": rows, "config": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare_work_folder(work: Path, stamp_text: str) -> Path | None:
    """Keep `work` and return its last checkpoint when it holds the same training (`stamp_text`);
    otherwise start it afresh. Under accelerate launch only the main process writes."""
    stamp = work / "fingerprint"
    same = stamp.is_file() and stamp.read_text() == stamp_text
    # trainer_state.json is written last: a checkpoint without it was cut off while saving
    checkpoints = sorted((c for c in (work / "trainer").glob("checkpoint-*") if (c / "trainer_state.json").is_file()),
                         key=lambda c: int(c.name.split("-")[-1]))
    if is_main_process() and not same:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        stamp.write_text(stamp_text)
    return checkpoints[-1] if same and checkpoints else None


def publish_model(trainer, tokenizer, work: Path, out: Path, merge_lora: bool = False,
                  log: dict | None = None) -> None:
    """Save a trained model as an ordinary folder at `out`, atomically and once.

    The main process writes it in `work` (the `.partial` folder of a run killed midway is never
    taken for a finished model) and renames it into place; every process then waits, so none
    reads the model before it is complete.
    """
    if is_main_process():
        trained = trainer.accelerator.unwrap_model(trainer.model)
        if merge_lora:
            trained = trained.merge_and_unload()
        trained.config.pad_token_id = tokenizer.pad_token_id
        trained.save_pretrained(work / "model")
        tokenizer.save_pretrained(work / "model")
        if log is not None:
            write_json(work / "model" / TRAINING_LOG, log, indent=1)
        if out.exists():
            shutil.rmtree(out)
        (work / "model").rename(out)
        shutil.rmtree(work, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
