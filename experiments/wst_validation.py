"""Validation study for a WST protocol: which instruction template, and what the reward sees.

Runs on validation questions only (never test): GSM8K train_2 by default, or any task's split.
For each candidate template, the untrained teacher samples instructions exactly as in training
(temperature, num_generations per question), and we measure what a protocol rule reads:

- share of instructions with a number the question does not contain (the teacher is solving),
- share that leak the gold answer, share cut at the token limit, mean length,
- the reward of each instruction as it will be trained: the generation-free `likelihood` reward
  (student teacher-forced scores) or the outcome reward `relative` (the student's greedy answer
  graded, with and without the instruction, at `--student-max-tokens`), its mean, the share of
  instructions with a positive reward, and the share of GRPO groups whose rewards are all equal
  (no gradient); for the outcome reward also the student's accuracy with and without.

    python experiments/wst_validation.py --questions 40 --generations 4 --output results/wst_validation.json
    python experiments/wst_validation.py --task "rg:chain_sum?min_terms=3&max_terms=4&max_digits=2" \
        --split validation --reward relative --student-max-tokens 128 --templates plain,hint-chat \
        --temperature 0.7 --questions 48 --output OUT.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from w2s.cache import ResponseCache
from w2s.paths import default_cache_path
from w2s.students.hf import HFStudent
from w2s.tasks import get_task
from w2s.wst.protocol import TEMPLATES, InstructionProtocol
from w2s.wst.rewards import RewardConfig, StudentReward
from w2s.wst.teacher import Teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--teacher", default="smollm2-135m-instruct")
    parser.add_argument("--student", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--student-dtype", default="bfloat16")
    parser.add_argument("--student-batch-size", type=int, default=8)
    parser.add_argument("--templates", default=",".join(TEMPLATES))
    parser.add_argument("--temperature", type=float, default=1.0, help="the teacher's, as in training")
    parser.add_argument("--task", default="gsm8k")
    parser.add_argument("--split", default="train_2", help="a split the evaluation never uses")
    parser.add_argument("--reward", default="likelihood", choices=["likelihood", "relative"])
    parser.add_argument("--student-max-tokens", type=int, default=256, help="outcome reward: the answer budget")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    task = get_task(args.task)
    examples = task.load(args.split, limit=args.questions, seed=args.seed)
    cache = ResponseCache(default_cache_path())
    teacher = HFStudent(args.teacher, cache=cache)
    student = HFStudent(args.student, dtype=args.student_dtype, batch_size=args.student_batch_size, cache=cache)
    results = {"task": task.name, "split": args.split, "reward": args.reward,
               "student_max_tokens": args.student_max_tokens, "n_questions": len(examples), "generations": args.generations,
               "seed": args.seed, "teacher": args.teacher, "student": args.student,
               "student_dtype": args.student_dtype, "temperature": args.temperature, "templates": {}}
    for name in args.templates.split(","):
        protocol = InstructionProtocol(template=name)
        start = time.perf_counter()
        outs = Teacher(teacher, protocol).sample([e.question for e in examples], args.generations, args.temperature,
                                                 args.seed, desc=f"teacher ({name})")
        teacher_s = time.perf_counter() - start
        flat = [(e, c) for e, cs in zip(examples, outs, strict=True) for c in cs]
        reward = StudentReward(task, student, protocol, RewardConfig(kind=args.reward),
                               max_tokens=args.student_max_tokens)
        start = time.perf_counter()
        targets = [task.target_text(e) for e, _ in flat] if args.reward == "likelihood" else None
        rewards = reward(None, [c.text for _, c in flat], [e.question for e, _ in flat],
                         [e.answer for e, _ in flat], target=targets,
                         completion_ids=[[0] * c.n_tokens for _, c in flat])
        score_s = time.perf_counter() - start
        outcomes = reward.last_outcomes
        groups = [rewards[i:i + args.generations] for i in range(0, len(rewards), args.generations)]
        n = len(flat)
        results["templates"][name] = {
            "new_numbers": sum(o.new_numbers for o in outcomes) / n,
            "leaks": sum(o.leak for o in outcomes) / n,
            "truncated": sum(c.finish_reason == "length" for _, c in flat) / n,
            "mean_chars": statistics.mean(len(i) for i in reward.last_instructions),
            "mean_reward": statistics.mean(rewards),
            "positive_reward": sum(r > 0 for r in rewards) / n,
            "groups_all_equal": sum(len(set(g)) == 1 for g in groups) / len(groups),
            # outcome reward: the student's accuracy (or log-prob) without and with the instructions
            "student_baseline": statistics.mean(o.baseline for o in outcomes),
            "student_with_instruction": statistics.mean(o.with_instruction for o in outcomes),
            "teacher_seconds": round(teacher_s, 1), "scoring_seconds": round(score_s, 1),
            "examples": [{"question": e.question[:120], "instruction": i, "reward": round(r, 4)}
                         for (e, _), i, r in list(zip(flat, reward.last_instructions, rewards, strict=True))[:8]],
        }
        print(name, json.dumps({k: v for k, v in results["templates"][name].items() if k != "examples"}))
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
