"""LoRA SFT and DPO steps of one model in fp32 and in bf16 autocast, as the reasoning pipeline runs them.

    python benchmarks/train_steps.py [--model qwen2.5-coder-1.5b-instruct] [--steps 3]
        [--runs sft-fp32,sft-bf16,dpo-fp32,dpo-bf16]

Each run is `w2s.training.finetune` in a fresh process (so peak memory is that run's own), on
GSM8K train_2 gold solutions (SFT: batch 4; DPO: batch 2 pairs, chosen = the gold solution,
rejected = another question's), `--steps` optimizer steps, then the LoRA merge and save that
every pipeline step does. Printed per run: seconds per optimizer step (the trainer's own
runtime, divided by steps), training tokens per second, the whole call's wall time (load, train,
merge, save) and the process's peak RSS, as ratios to the first run: the machine is shared and
noisy, so compare within one run. bf16 autocast is fast only on a CPU with native bf16
(AVX512-BF16 or AMX); elsewhere it is emulated and slower than fp32.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(args: argparse.Namespace) -> None:
    """Child process: one (method, precision) run; prints a JSON line of its measurements."""
    from transformers import AutoTokenizer

    from w2s.models import resolve_model
    from w2s.tasks import get_task
    from w2s.training import FinetuneConfig, finetune, preference_row, sft_row

    method, precision = args.run.split("-")
    task = get_task("gsm8k")
    batch = 4 if method == "sft" else 2
    examples = task.load("train_2", limit=batch * args.steps, seed=1)
    prompts = [task.messages(e.question) for e in examples]
    golds = [task.target_text(e) for e in examples]
    if method == "sft":
        rows = [sft_row(p, g) for p, g in zip(prompts, golds, strict=True)]
    else:
        rows = [preference_row(p, g, golds[(i + 1) % len(golds)]) for i, (p, g) in enumerate(zip(prompts, golds,
                                                                                                   strict=True))]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model).path)
    texts = [tokenizer.apply_chat_template(p, tokenize=False) + g for p, g in zip(prompts, golds, strict=True)]
    tokens = sum(len(tokenizer(t).input_ids) for t in texts) * (2 if method == "dpo" else 1)
    config = FinetuneConfig(epochs=1, batch_size=batch, max_length=768, bf16=precision == "bf16", save_steps=0,
                            learning_rate=1e-4 if method == "sft" else 5e-5)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = finetune(method, args.model, rows, Path(tmp) / "model", config)
        wall = time.perf_counter() - start
        log = json.loads((out / "training_log.json").read_text())
    runtime = next(r["train_runtime"] for r in log["log"] if "train_runtime" in r)
    print(json.dumps({"run": args.run, "steps": args.steps, "train_s": runtime, "tokens": tokens, "wall_s": wall,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--runs", default="sft-fp32,sft-bf16,dpo-fp32,dpo-bf16")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.run:
        run_one(args)
        return
    results = []
    for run in args.runs.split(","):
        done = subprocess.run([sys.executable, __file__, "--run", run, "--model", args.model, "--steps",
                               str(args.steps)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{run}: failed ({(done.stderr.strip().splitlines() or ['no output'])[-1]})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not results:
        return
    first = results[0]
    print(f"{args.model}, LoRA r=16 on all linear layers, {args.steps} optimizer steps, GSM8K train_2 gold")
    print("| run | s per step | training tokens/s | ratio to first | whole call s (load, train, merge, save) "
          "| peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = first["tokens"] / first["train_s"]
    for r in results:
        rate = r["tokens"] / r["train_s"]
        print(f"| {r['run']} | {r['train_s'] / r['steps']:.1f} | {rate:.0f} | {rate / base:.2f}x | {r['wall_s']:.0f} "
              f"| {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
