"""Where a WST GRPO step spends its time, on the quickstart models.

    python benchmarks/wst_step.py [--steps 3] [--student-max-tokens 256] [--reward-kinds relative,likelihood]
        [--task T] [--students hf:float32,vllm-server:bfloat16]

Runs `w2s wst train` (teacher SmolLM2-135M-Instruct with LoRA, student Qwen2.5-0.5B-Instruct,
GSM8K train_1) with a fresh, empty response cache, so every student answer is really generated,
and splits each step into teacher generation, student generation, grading, other reward work and
the update (forward/backward/optimizer and logging), as logged in metrics.jsonl. The first step
also loads and warms the models, so the split is printed per step and as a total over the steps
after the first. The target is a student share of at least 70%: everything else is overhead.
With several reward kinds, each runs in turn on the same questions (a fresh cache each), and the
step time of each is printed as a ratio to the first: the likelihood reward scores the gold
solution instead of generating answers, so its student share is teacher-forcing, not decoding.
With several `--students` (backend:dtype), each engine runs the same steps the same way, and its
step time is printed as a ratio to the first (vllm-server's start-up is not part of a step).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from w2s.students import StudentConfig
from w2s.wst.rewards import RewardConfig
from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher

PARTS = ["teacher_generation", "student", "grading", "reward_other", "update"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--student-max-tokens", type=int, default=256)
    parser.add_argument("--teacher", default="smollm2-135m-instruct")
    parser.add_argument("--student", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--reward-kinds", default="relative", help="comma-separated reward.kind values")
    parser.add_argument("--task", default="gsm8k")
    parser.add_argument("--students", default="hf:auto", help="comma-separated backend:dtype student engines")
    args = parser.parse_args()
    per_step = {}
    for engine in args.students.split(","):
        backend, _, dtype = engine.partition(":")
        for kind in args.reward_kinds.split(","):
            per_step[f"{kind} {engine}"] = run(args, kind, backend, dtype or "auto")
    first = next(iter(per_step.values()))
    if len(per_step) > 1:
        print("mean step time after the first step, as a ratio to " + next(iter(per_step)) + ": "
              + ", ".join(f"{k} {v:.1f}s ({v / first:.2f}x)" for k, v in per_step.items()))


def run(args: argparse.Namespace, kind: str, backend: str = "hf", dtype: str = "auto") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        options = {"batch_size": 20} if backend == "hf" else {"concurrency": 20}  # a step's answers in one go
        train_teacher(WSTTrainConfig(
            task=args.task, steps=args.steps, save_steps=10_000, student_max_tokens=args.student_max_tokens,
            output=str(out), cache=str(Path(tmp) / "empty.sqlite"), teacher=TeacherConfig(model=args.teacher, bf16=False),
            student=StudentConfig(model=args.student, backend=backend, dtype=dtype, **options),
            reward=RewardConfig(kind=kind),
        ))
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    print(f"reward {kind}: teacher {args.teacher} (LoRA), student {args.student} ({backend}, {dtype}), "
          f"2 questions x 4 instructions "
          f"per step, student answers up to {args.student_max_tokens} tokens, empty cache")
    print(f"{'step':>4} " + " ".join(f"{p:>18}" for p in PARTS) + f" {'step':>8}")
    for r in rows:
        print(f"{r['step']:>4} " + " ".join(f"{r[f'time/{p}_s']:>17.1f}s" for p in PARTS)
              + f" {r['time/step_s']:>7.1f}s")
    steady = rows[1:] or rows
    total = sum(r["time/step_s"] for r in steady)
    shares = {p: sum(r[f"time/{p}_s"] for r in steady) / total for p in PARTS}
    print(f"over steps {steady[0]['step']}-{steady[-1]['step']}: "
          + ", ".join(f"{p} {100 * s:.1f}%" for p, s in shares.items()))
    verdict = "meets" if shares["student"] >= 0.70 else "misses"
    print(f"student share {100 * shares['student']:.1f}% {verdict} the 70% target "
          f"(overhead / student = {(1 - shares['student']) / max(shares['student'], 1e-9):.2f})")
    return total / len(steady)


if __name__ == "__main__":
    main()
