"""Does where an instruction goes change what it does to the student? A generation-free check.

The pre-registered WST run placed every instruction as a system message. Qwen's chat template
inserts a default system prompt ("You are Qwen, created by Alibaba Cloud. ...") only when a
chat has none, so a system-placed instruction also removes that prompt, which the
no-instruction baseline keeps. This script measures, on GSM8K train_2 validation questions,
the likelihood reward (the student's mean per-token log-probability of the gold solution with
the instruction minus without it) for fixed instructions in three placements:

- `system`: the instruction is the system message (the run's placement; the default prompt goes);
- `system+default`: a system message holding the instruction, then the student's default
  system prompt (what `system` placement does to a chat that already has a system message);
- `prefix`: the instruction in front of the question in the user turn (the default prompt stays).

Per instruction and placement: the mean reward with a 95% bootstrap interval over questions, the
paired difference of each placement against `system`, and per placement the trained teacher's
constant against the generic instruction. Protocol: results/wst_placement.md.

    python experiments/wst_placement.py --questions 100 --output results/wst_placement/placement.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.paths import default_cache_path
from w2s.students.hf import HFStudent
from w2s.tasks import get_task
from w2s.wst.protocol import InstructionProtocol

INSTRUCTIONS = {
    "generic": "Let's think step by step.",
    # the trained teacher's most frequent instruction on the test set (138 of 500)
    "trained teacher's constant": "I can only provide one sentence that will help the student solve the problem correctly.",
    # the untrained teacher's most frequent instruction on the test set (14 of 500)
    "untrained teacher's constant": "To solve this problem, I'll provide a step-by-step solution using the given "
                                    "information.",
}
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
PLACEMENTS = ("system", "system+default", "prefix")


def interval(values: list[float], resamples: int, seed: int) -> dict:
    """Mean with a 95% percentile bootstrap interval over questions."""
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(resamples))
    return {"mean": statistics.fmean(values), "low": means[int(0.025 * (resamples - 1))],
            "high": means[int(0.975 * (resamples - 1))], "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2, help="train_2 shuffle")
    parser.add_argument("--student", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--student-dtype", default="bfloat16")
    parser.add_argument("--default-system", default=QWEN_DEFAULT_SYSTEM,
                        help="the student's default system prompt (its chat template's)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    task = get_task("gsm8k")
    examples = task.load("train_2", limit=args.questions, seed=args.seed)
    student = HFStudent(args.student, dtype=args.student_dtype, cache=ResponseCache(default_cache_path()))
    rendered = student.render(task.messages(examples[0].question))
    if args.default_system not in rendered:
        raise SystemExit(f"the student's chat template does not insert --default-system ({args.default_system!r}); "
                         "pass its own default system prompt")
    system, prefix = InstructionProtocol(placement="system"), InstructionProtocol(placement="prefix")

    def prompt(question: str, instruction: str | None, placement: str) -> list[dict]:
        messages = task.messages(question)
        if placement == "system+default":
            return system.place([{"role": "system", "content": args.default_system}, *messages], instruction)
        return (system if placement == "system" else prefix).place(messages, instruction)

    cells = [(None, None)] + [(name, p) for name in INSTRUCTIONS for p in PLACEMENTS]
    prompts = [prompt(e.question, INSTRUCTIONS.get(name), p or "system") for name, p in cells for e in examples]
    targets = [task.target_text(e) for _ in cells for e in examples]
    scores = [s.mean for s in student.score(prompts, targets, desc="scores")]
    n = len(examples)
    by_cell = {cell: scores[j * n:(j + 1) * n] for j, cell in enumerate(cells)}
    base = by_cell[(None, None)]
    result = {"split": "train_2", "questions": n, "seed": args.seed, "student": args.student,
              "student_dtype": args.student_dtype, "instructions": INSTRUCTIONS, "baseline_mean_logprob":
              statistics.fmean(base), "reward": {}, "minus_system": {}, "trained_minus_generic": {}}
    for name in INSTRUCTIONS:
        deltas = {p: [w - b for w, b in zip(by_cell[(name, p)], base, strict=True)] for p in PLACEMENTS}
        result["reward"][name] = {p: interval(d, args.resamples, args.seed) for p, d in deltas.items()}
        result["minus_system"][name] = {
            p: interval([a - s for a, s in zip(deltas[p], deltas["system"], strict=True)], args.resamples, args.seed)
            for p in PLACEMENTS[1:]}
    for p in PLACEMENTS:  # the same questions, so the difference is paired (the baseline cancels)
        result["trained_minus_generic"][p] = interval(
            [t - g for t, g in zip(by_cell[("trained teacher's constant", p)], by_cell[("generic", p)], strict=True)],
            args.resamples, args.seed)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    for name in INSTRUCTIONS:
        for p in PLACEMENTS:
            r = result["reward"][name][p]
            line = f"{name:30s} {p:15s} reward {r['mean']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
            if p != "system":
                d = result["minus_system"][name][p]
                line += f"   minus system {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
            print(line)
    for p in PLACEMENTS:
        d = result["trained_minus_generic"][p]
        print(f"trained teacher's constant minus generic, {p:15s} {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]")


if __name__ == "__main__":
    main()
