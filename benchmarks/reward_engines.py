"""Does the WST reward say the same thing whichever engine serves the student?

    python benchmarks/reward_engines.py [--questions 32] [--generations 4] [--student-max-tokens 128]
        [--task T] [--split validation] [--students hf:float32,vllm-server:float32,vllm-server:bfloat16,llamacpp]

A faster engine is only worth training with if the teacher learns the same thing from it. This
measures the learning signal directly, without training: the untrained teacher samples
`--generations` instructions per validation question (once, as GRPO samples them), and every
engine computes the `relative` outcome reward of the same (question, instruction) pairs, each
with a fresh, empty response cache (so every answer is that engine's own). Against the first
engine it prints, per engine:

- the mean reward and the student's accuracy without / with the instructions (bootstrap 95%);
- the share of pairs with exactly the same reward, and the paired mean difference in reward with
  a bootstrap interval over questions (pairs of one question move together);
- what GRPO reads: the share of instructions whose advantage within their group (reward minus
  the group's mean) has the same sign (-, 0, +), and the share of groups with no gradient.

Validation questions only (the split the evaluation never uses). Engines run one after another.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from w2s.cache import ResponseCache
from w2s.stats import bootstrap_ci
from w2s.students import StudentConfig, make_student
from w2s.tasks import get_task
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.rewards import RewardConfig, StudentReward
from w2s.wst.teacher import Teacher, load_teacher_lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--generations", type=int, default=4, help="instructions per question (a GRPO group)")
    parser.add_argument("--temperature", type=float, default=0.7, help="the teacher's, as in training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", default="smollm2-135m-instruct")
    parser.add_argument("--student", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--task", default="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--template", default="plain")
    parser.add_argument("--student-max-tokens", type=int, default=128)
    parser.add_argument("--students", default="hf:float32,vllm-server:float32,vllm-server:bfloat16,llamacpp",
                        help="comma-separated backend:dtype engines; the first is the reference")
    parser.add_argument("--output", help="write every pair's rewards per engine here (JSON)")
    args = parser.parse_args()

    task = get_task(args.task)
    examples = task.load(args.split, limit=args.questions, seed=args.seed)
    protocol = InstructionProtocol(template=args.template)
    with tempfile.TemporaryDirectory() as tmp:
        teacher = Teacher(load_teacher_lm(args.teacher, ResponseCache(Path(tmp) / "teacher.sqlite")), protocol)
        outs = teacher.sample([e.question for e in examples], args.generations, args.temperature, args.seed)
        del teacher
        flat = [(e, c) for e, group in zip(examples, outs, strict=True) for c in group]
        engines: dict[str, dict] = {}
        for i, engine in enumerate(args.students.split(",")):
            backend, _, dtype = engine.partition(":")
            options = ({"batch_size": len(flat)} if backend == "hf" else {"extra": {"slots": 16}}
                       if backend == "llamacpp" else {"concurrency": 40})
            config = StudentConfig(model=args.student, backend=backend,
                                   **({"dtype": dtype or "auto"} if backend != "llamacpp" else {}), **options)
            student = make_student(config, ResponseCache(Path(tmp) / f"student{i}.sqlite"))
            try:
                reward = StudentReward(task, student, protocol, RewardConfig(kind="relative"),
                                       max_tokens=args.student_max_tokens)
                start = time.perf_counter()
                rewards = reward(None, [c.text for _, c in flat], [e.question for e, _ in flat],
                                 [e.answer for e, _ in flat],
                                 completion_ids=[[0] * c.n_tokens for _, c in flat])
                seconds = time.perf_counter() - start
            finally:
                close = getattr(student, "close", None)
                if close is not None:
                    close()
            engines[engine] = {"rewards": rewards, "seconds": seconds,
                               "baseline": [o.baseline for o in reward.last_outcomes],
                               "with": [o.with_instruction for o in reward.last_outcomes]}
            print(f"{engine}: {len(flat)} pairs in {seconds:.0f} s", flush=True)

    report(engines, args.generations, len(examples))
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), "instructions": [c.text for _, c in flat],
                                                 "engines": engines}, indent=1))


def advantage_signs(rewards: list[float], k: int) -> list[int]:
    """The sign of each reward's GRPO advantage (reward minus its group's mean): what the update reads."""
    signs = []
    for g in range(0, len(rewards), k):
        group = rewards[g:g + k]
        mean = statistics.fmean(group)
        signs += [int(np.sign(round(r - mean, 9))) for r in group]
    return signs


def report(engines: dict[str, dict], k: int, n_questions: int) -> None:
    reference_name, reference = next(iter(engines.items()))
    ref_signs = advantage_signs(reference["rewards"], k)
    print(f"\n{n_questions} validation questions x {k} instructions; reference: {reference_name}")
    print("| engine | seconds | mean reward | accuracy without | accuracy with | same reward "
          "| reward difference vs reference | same advantage sign | groups with no gradient |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, e in engines.items():
        r = e["rewards"]
        per_q_diff = [statistics.fmean(a - b for a, b in zip(r[g:g + k], reference["rewards"][g:g + k], strict=True))
                      for g in range(0, len(r), k)]
        baseline = [e["baseline"][g] for g in range(0, len(r), k)]  # one per question
        same = sum(a == b for a, b in zip(r, reference["rewards"], strict=True)) / len(r)
        signs = advantage_signs(r, k)
        same_sign = sum(a == b for a, b in zip(signs, ref_signs, strict=True)) / len(signs)
        flat_groups = sum(len(set(r[g:g + k])) == 1 for g in range(0, len(r), k)) / n_questions
        print(f"| {name} | {e['seconds']:.0f} | {fmt(bootstrap_ci(r))} | {fmt(bootstrap_ci(baseline))} "
              f"| {fmt(bootstrap_ci(e['with']))} | {same:.2f} | {fmt(bootstrap_ci(per_q_diff), signed=True)} "
              f"| {same_sign:.2f} | {flat_groups:.2f} |")


def fmt(estimate, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    return f"{estimate.value:{f}} [{estimate.low:{f}}, {estimate.high:{f}}]"


if __name__ == "__main__":
    main()
