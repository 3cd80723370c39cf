"""How much signal a WST reward carries per second of student time: k = 1 vs k = 4 sampled answers,
and the generation-free likelihood reward. Protocol and results: results/wst_reward_samples.md.

On GSM8K train_2 validation questions (never test), the untrained teacher samples G instructions
per question exactly as in training. The student answers each instruction (and the question
alone) with S independent samples at a temperature, through the outcome reward itself
(`StudentReward`, k = 1, one seed per sample), and scores the gold solution with and without it
(`StudentReward`, likelihood). GRPO only sees advantages (rewards minus their group mean), so:

- the reliability rho_k of a k-sample advantage is the correlation between the advantages from
  two disjoint sets of k samples (k = 1: samples 2j vs 2j+1, averaged; k = S/2: the two halves);
- an advantage from all S samples stands for the true one; its reliability follows by
  Spearman-Brown, and the likelihood advantage's correlation with the true outcome advantage is
  its correlation with the S-sample advantage divided by the square root of that reliability;
- the signal per unit of student time of k samples is rho_k / (k * seconds per answer), so k = S/2
  against k = 1 is the ratio (rho_k / k) / rho_1 (`signal_ratio_k_over_1`): the share of the
  advantage variance that is true signal, gathered per answer generated.

Intervals: 95% percentile bootstrap over questions.

    python experiments/wst_reward_samples.py --questions 16 --output results/wst_reward_samples/k1_k4.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.paths import default_cache_path
from w2s.students.hf import HFStudent
from w2s.tasks import get_task
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.rewards import RewardConfig, StudentReward
from w2s.wst.teacher import Teacher


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r, None when either side is constant (no variation to correlate)."""
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sxx * syy) ** 0.5


def advantages(values: list[list[float]]) -> list[float]:
    """GRPO's view of one group: each instruction's value minus the group mean."""
    flat = [statistics.fmean(v) for v in values]
    mean = statistics.fmean(flat)
    return [v - mean for v in flat]


def summarize(groups: list[dict], samples: int, seconds_per_answer: float) -> dict:
    """Reliabilities, all-equal shares, the likelihood's correlation with the truth, signal per second.

    `groups`: per question, `outcomes[i][s]` (instruction i, sample s: 1/0) and `likelihood[i]`.
    """
    half = samples // 2

    def adv(group: dict, picks: list[int]) -> list[float]:
        return advantages([[group["outcomes"][i][s] for s in picks] for i in range(len(group["outcomes"]))])

    def rho(pairs: list[tuple[list[int], list[int]]]) -> float | None:
        rs = [pearson([a for g in groups for a in adv(g, x)], [b for g in groups for b in adv(g, y)]) for x, y in pairs]
        rs = [r for r in rs if r is not None]
        return statistics.fmean(rs) if rs else None

    rho_1 = rho([([2 * j], [2 * j + 1]) for j in range(half)])
    rho_k = rho([(list(range(half)), list(range(half, samples)))])
    rho_all = 2 * rho_k / (1 + rho_k) if rho_k is not None and rho_k > -1 else None
    truth = [a for g in groups for a in adv(g, list(range(samples)))]
    likelihood = [a for g in groups for a in advantages([[x] for x in g["likelihood"]])]
    r_lik = pearson(likelihood, truth)
    lik_vs_truth = r_lik / rho_all ** 0.5 if r_lik is not None and rho_all and rho_all > 0 else None

    def all_equal(picks: list[int]) -> float:
        return statistics.fmean(len({round(sum(g["outcomes"][i][s] for s in picks), 9)
                                     for i in range(len(g["outcomes"]))}) == 1 for g in groups)

    outcome_1_r = rho_1 ** 0.5 if rho_1 and rho_1 > 0 else None
    return {
        "signal_ratio_k_over_1": (rho_k / half) / rho_1 if rho_k is not None and rho_1 else None,
        "likelihood_minus_outcome_1_r": lik_vs_truth - outcome_1_r if lik_vs_truth is not None and outcome_1_r
        else None,
        "rho_1": rho_1, f"rho_{half}": rho_k, f"rho_{samples}_spearman_brown": rho_all,
        "likelihood_vs_outcome_r": r_lik, "likelihood_vs_true_outcome_r": lik_vs_truth,
        "outcome_1_vs_true_r": outcome_1_r,
        f"outcome_{half}_vs_true_r": rho_k ** 0.5 if rho_k and rho_k > 0 else None,
        "groups_all_equal_1": statistics.fmean(all_equal([s]) for s in range(samples)),
        f"groups_all_equal_{half}": statistics.fmean([all_equal(list(range(half))),
                                                      all_equal(list(range(half, samples)))]),
        "signal_per_student_second_1": rho_1 / seconds_per_answer if rho_1 is not None else None,
        f"signal_per_student_second_{half}": rho_k / (half * seconds_per_answer) if rho_k is not None else None,
    }


def bootstrap(groups: list[dict], samples: int, seconds: float, resamples: int, seed: int) -> dict:
    rng = random.Random(seed)
    draws = [summarize([rng.choice(groups) for _ in groups], samples, seconds) for _ in range(resamples)]
    out = {}
    for key in draws[0]:
        values = sorted(d[key] for d in draws if d[key] is not None)
        if values:
            out[key] = {"low": values[int(0.025 * (len(values) - 1))], "high": values[int(0.975 * (len(values) - 1))],
                        "defined": len(values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--generations", type=int, default=4, help="instructions per question (G)")
    parser.add_argument("--samples", type=int, default=8, help="student samples per prompt (S, even)")
    parser.add_argument("--student-temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1, help="question shuffle and teacher sampling, as the validation study")
    parser.add_argument("--teacher", default="smollm2-135m-instruct")
    parser.add_argument("--student", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--student-dtype", default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.samples < 2 or args.samples % 2:
        parser.error("--samples must be even and at least 2")

    task = get_task("gsm8k")
    examples = task.load("train_2", limit=args.questions, seed=args.seed)
    cache = ResponseCache(default_cache_path())
    protocol = InstructionProtocol(template="plain", placement="system", max_tokens=48)  # the protocol run's
    teacher = HFStudent(args.teacher, cache=cache)
    student = HFStudent(args.student, dtype=args.student_dtype, batch_size=args.batch_size, cache=cache)
    outs = Teacher(teacher, protocol).sample([e.question for e in examples], args.generations, 0.7, args.seed)
    flat = [(e, c) for e, cs in zip(examples, outs, strict=True) for c in cs]
    questions, answers = [e.question for e, _ in flat], [e.answer for e, _ in flat]
    texts, ids = [c.text for _, c in flat], [[0] * c.n_tokens for _, c in flat]

    likelihood = StudentReward(task, student, protocol, RewardConfig(kind="likelihood", leak_penalty=0.0))
    start = time.perf_counter()
    likelihood(None, texts, questions, answers, target=[task.target_text(e) for e, _ in flat], completion_ids=ids)
    scoring_seconds = time.perf_counter() - start
    fresh_scores = student.stats.scored  # 0 when every score came from the cache (then the time means nothing)
    lik = [o.with_instruction - o.baseline for o in likelihood.last_outcomes]

    per_sample, generated_before = [], student.stats.generated
    start = time.perf_counter()
    for s in range(args.samples):  # one seed per sample: S independent k = 1 outcome rewards
        reward = StudentReward(task, student, protocol, RewardConfig(kind="relative", student_samples=1,
                               student_temperature=args.student_temperature, leak_penalty=0.0),
                               max_tokens=args.max_tokens, seed=1000 + s)
        reward(None, texts, questions, answers, completion_ids=ids)
        per_sample.append([o.with_instruction for o in reward.last_outcomes])
        print(f"sample {s + 1}/{args.samples}: student accuracy with the instructions "
              f"{statistics.fmean(per_sample[-1]):.3f}", flush=True)
    generation_seconds = time.perf_counter() - start
    answers_generated = student.stats.generated - generated_before
    if answers_generated == 0:
        raise SystemExit("every answer came from the cache: delete nothing, but time cannot be measured; "
                         "rerun with other --seed or report the earlier timing")
    seconds_per_answer = generation_seconds / answers_generated

    g = args.generations
    groups = [{"outcomes": [[per_sample[s][q * g + i] for s in range(args.samples)] for i in range(g)],
               "likelihood": lik[q * g:(q + 1) * g]} for q in range(len(examples))]
    result = {
        "split": "train_2", "questions": len(examples), "generations": g, "samples": args.samples,
        "student_temperature": args.student_temperature, "max_tokens": args.max_tokens, "seed": args.seed,
        "teacher": args.teacher, "student": args.student, "student_dtype": args.student_dtype,
        "batch_size": args.batch_size, "answers_generated": answers_generated,
        "seconds_per_answer": seconds_per_answer, "likelihood_seconds_per_instruction":
        scoring_seconds / fresh_scores if fresh_scores else None, "likelihood_scores_fresh": fresh_scores,
        "estimates": summarize(groups, args.samples, seconds_per_answer),
        "intervals": bootstrap(groups, args.samples, seconds_per_answer, args.resamples, args.seed),
        "groups": groups,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "groups"}, indent=1))


if __name__ == "__main__":
    main()
