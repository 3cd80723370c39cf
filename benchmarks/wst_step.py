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
A `+overlap` suffix (`vllm-server:float32+overlap`) makes the trainer treat a server on this
machine as having compute of its own, so its no-instruction answers start while the teacher
writes (`StudentReward.prefetch`); without it, w2s does that only for a server elsewhere or on a GPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.students import StudentConfig, make_student
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
    parser.add_argument("--teacher-bf16", action="store_true",
                        help="bf16 autocast for the teacher (fast only on CPUs with native bf16)")
    parser.add_argument("--questions", type=int, default=2, help="questions per step (4 instructions each)")
    args = parser.parse_args()
    per_step = {}
    for engine in args.students.split(","):
        name, _, overlap = engine.partition("+")
        backend, _, dtype = name.partition(":")
        for kind in args.reward_kinds.split(","):
            per_step[f"{kind} {engine}"] = run(args, kind, backend, dtype or "auto", overlap == "overlap")
    first = next(iter(per_step.values()))
    if len(per_step) > 1:
        print("mean step time after the first step, as a ratio to " + next(iter(per_step)) + ": "
              + ", ".join(f"{k} {v:.1f}s ({v / first:.2f}x)" for k, v in per_step.items()))


def run(args: argparse.Namespace, kind: str, backend: str = "hf", dtype: str = "auto", overlap: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        answers = args.questions * 5  # a step's answers in one go
        options = ({"batch_size": answers} if backend == "hf" else {"extra": {"slots": answers}}
                   if backend == "llamacpp" else {"concurrency": answers})
        config = WSTTrainConfig(
            task=args.task, steps=args.steps, save_steps=10_000, student_max_tokens=args.student_max_tokens,
            output=str(out), cache=str(Path(tmp) / "empty.sqlite"), questions_per_step=args.questions,
            teacher=TeacherConfig(model=args.teacher, bf16=args.teacher_bf16),
            student=StudentConfig(model=args.student, backend=backend, **({"dtype": dtype} if backend != "llamacpp"
                                                                               else {}), **options),
            reward=RewardConfig(kind=kind),
        )
        student = make_student(config.student, ResponseCache(config.cache))
        student.separate_compute = student.separate_compute or overlap
        try:
            train_teacher(config, student=student)
        finally:
            if hasattr(student, "close"):
                student.close()
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    print(f"reward {kind}: teacher {args.teacher} (LoRA), student {args.student} ({backend}, {dtype}"
          f"{', overlapped' if student.separate_compute else ''}), "
          f"{args.questions} questions x 4 instructions "
          f"per step, teacher {'bf16' if args.teacher_bf16 else 'fp32'}, student answers up to {args.student_max_tokens} tokens, empty cache")
    print(f"{'step':>4} " + " ".join(f"{p:>18}" for p in PARTS) + f" {'(overlapped)':>13} {'step':>8} reward")
    for r in rows:
        print(f"{r['step']:>4} " + " ".join(f"{r[f'time/{p}_s']:>17.1f}s" for p in PARTS)
              + f" {r['time/student_overlapped_s']:>12.1f}s {r['time/step_s']:>7.1f}s {r['reward']:.3f}")
    steady = rows[1:] or rows
    total = sum(r["time/step_s"] for r in steady)
    shares = {p: sum(r[f"time/{p}_s"] for r in steady) / total for p in PARTS}
    shares["student"] -= sum(r["time/student_overlapped_s"] for r in steady) / total  # share of the wall time
    print(f"over steps {steady[0]['step']}-{steady[-1]['step']}: "
          + ", ".join(f"{p} {100 * s:.1f}%" for p, s in shares.items()))
    verdict = "meets" if shares["student"] >= 0.70 else "misses"
    print(f"student share {100 * shares['student']:.1f}% {verdict} the 70% target "
          f"(overhead / student = {(1 - shares['student']) / max(shares['student'], 1e-9):.2f})")
    return total / len(steady)


if __name__ == "__main__":
    main()
