"""The tables of results/wst_seed_protocol.md from the run folder `experiments/wst_seed.sh` fills.

    python experiments/wst_seed_tables.py --run RUN_DIR [--output results/wst_seed/tables.json]

Reads each step's `instructions_and_answers.jsonl` (one row per question and condition) and
prints, as Markdown: part 1 (accuracy with 95% bootstrap intervals, exact McNemar of the trained
teacher against each other condition with Holm's correction, tokens, answers cut); part 2 (per
teacher and budget: accuracy, answers cut, accuracy among answers not cut, the teacher's gain over
no instruction, and Δ = gain(B) − gain(4B) with a paired bootstrap interval over questions); part
3 (the organism teacher's gain per engine, and agreement of final answers with the hf engine);
and the GSM8K teacher's training curve, ten steps to a row, from its `metrics.jsonl` (read as a
curve on training questions, not as a result). Steps not run yet are left out and said so.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from w2s.jsonl import read_jsonl
from w2s.stats import bootstrap_ci, holm, mcnemar_exact

NONE, BRIEF, UNTRAINED, TRAINED = "no instruction", "generic", "untrained teacher", "trained teacher"
LABELS = {NONE: "no instruction", BRIEF: "brief line", UNTRAINED: "untrained teacher", TRAINED: "trained teacher"}


def load(folder: Path) -> dict[str, list[dict]] | None:
    """condition -> rows in question order, or None when the step has not finished."""
    path = folder / "instructions_and_answers.jsonl"
    if not (folder / "wst_eval.json").is_file() or not path.is_file():
        return None
    by: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by.setdefault(row["condition"], []).append(row)
    return by


def right(rows: list[dict]) -> list[bool]:
    return [bool(r["correct"]) for r in rows]


def fmt(values: list[bool]) -> str:
    e = bootstrap_ci(values)
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def paired_mean(diffs: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """The mean of per-question differences with a 95% bootstrap interval over questions."""
    n = len(diffs)
    rng = random.Random(seed)
    draws = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return {"delta": sum(diffs) / n, "low": draws[int(0.025 * resamples)], "high": draws[int(0.975 * resamples) - 1]}


def gain(by: dict[str, list[dict]]) -> dict:
    """The teacher's gain: trained − no instruction accuracy, paired over questions."""
    return paired_mean([t - n for t, n in zip(right(by[TRAINED]), right(by[NONE]), strict=True)])


def gain_change(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> dict:
    """Δ = gain(a) − gain(b), paired over questions."""
    ta, na, tb, nb = right(a[TRAINED]), right(a[NONE]), right(b[TRAINED]), right(b[NONE])
    return paired_mean([ta[i] - na[i] - tb[i] + nb[i] for i in range(len(ta))])


def interval(e: dict) -> str:
    return f"{e['delta']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}]"


def condition_table(by: dict[str, list[dict]], budget: int) -> list[str]:
    lines = []
    for name in (NONE, BRIEF, UNTRAINED, TRAINED):
        if name not in by:
            continue
        rows = by[name]
        kept = [r for r in rows if r.get("finish_reason") != "length"]
        cut = len(rows) - len(kept)
        among = fmt(right(kept)) if kept else "n/a"
        vs = ""
        if name != NONE:
            helped, harmed, p = mcnemar_exact(right(by[NONE]), right(rows))
            vs = f"{helped} / {harmed}, p = {p:.2g}"
        tokens = sum(r["n_tokens"] for r in rows)
        correct = sum(right(rows))
        per = f"{tokens / correct:.0f}" if correct else "n/a"
        lines.append(f"| {budget} | {LABELS[name]} | {fmt(right(rows))} | {cut} | {among} | {vs} | "
                     f"{tokens / len(rows):.0f} | {per} |")
    return lines


def training_curve(metrics: Path, per_row: int = 10) -> list[str]:
    """Ten steps to a row (a resumed run's metrics hold each step once: `w2s wst train` trims them)."""
    logged = [r for r in read_jsonl(metrics) if "reward" in r]
    lines = ["| steps | mean reward | student accuracy without | with | helped / harmed "
             "| groups with all-equal rewards | instructions cut | s a step |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for start in range(0, len(logged), per_row):
        rows = logged[start:start + per_row]

        def mean(key: str, rows: list[dict] = rows) -> float:
            return sum(float(r[key]) for r in rows) / len(rows)

        helped = sum(int(r["student/helped"]) for r in rows)
        harmed = sum(int(r["student/harmed"]) for r in rows)
        lines.append(f"| {rows[0]['step']}–{rows[-1]['step']} | {mean('reward'):+.3f} "
                     f"| {mean('student/accuracy_baseline'):.3f} | {mean('student/accuracy_with_instruction'):.3f} "
                     f"| {helped} / {harmed} | {mean('frac_reward_zero_std'):.2f} | {mean('teacher/truncated'):.2f} "
                     f"| {mean('step_time'):.0f} |")
    return lines


HEADER = ["| budget | condition | accuracy [95% CI] | answers cut | accuracy among answers not cut "
          "| better / worse than no instruction, McNemar | mean tokens | tokens per correct |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--output", type=Path, help="also write every number as JSON here")
    args = parser.parse_args()
    steps = {name: load(args.run / name) for name in (
        "gsm8k_256", "gsm8k_512", "gsm8k_1024", "organism_128", "organism_256", "organism_512",
        "transfer_llamacpp", "transfer_vllm")}
    missing = [k for k, v in steps.items() if v is None]
    if missing:
        print(f"not finished yet: {', '.join(missing)}\n")
    numbers: dict = {}

    metrics = args.run / "gsm8k_teacher" / "metrics.jsonl"
    if metrics.is_file():
        print("## GSM8K teacher: training curve (training questions; a curve, not a result)\n")
        print("\n".join(training_curve(metrics)) + "\n")

    part1 = steps["gsm8k_256"]
    if part1:
        print("## Part 1: GSM8K, 256 tokens, test items 500-799\n")
        print("\n".join(HEADER + condition_table(part1, 256)))
        others = [c for c in (NONE, BRIEF, UNTRAINED) if c in part1]
        tests = [mcnemar_exact(right(part1[c]), right(part1[TRAINED])) for c in others]
        adjusted = holm([p for _, _, p in tests])
        print("\ntrained teacher against each (exact McNemar, two-sided; Holm over the three):")
        for c, (better, worse, p), q in zip(others, tests, adjusted, strict=True):
            print(f"- vs {LABELS[c]}: {better} better / {worse} worse, p = {p:.3g}, Holm-adjusted {q:.3g}")
        numbers["part1"] = {c: {"better": b, "worse": w, "p": p, "holm": q}
                            for c, (b, w, p), q in zip(others, tests, adjusted, strict=True)}

    for teacher, budgets in (("gsm8k", (256, 512, 1024)), ("organism", (128, 256, 512))):
        done = {b: steps[f"{teacher}_{b}"] for b in budgets if steps[f"{teacher}_{b}"]}
        if not done:
            continue
        print(f"\n## Part 2: budget sweep, {teacher} teacher\n")
        lines = list(HEADER)
        for b, by in done.items():
            lines += [line for line in condition_table(by, b) if "untrained" not in line]
        print("\n".join(lines))
        print("\nthe teacher's gain over no instruction (paired bootstrap interval; exact McNemar):")
        for b, by in done.items():
            better, worse, p = mcnemar_exact(right(by[NONE]), right(by[TRAINED]))
            g = gain(by)
            numbers[f"part2_{teacher}_{b}"] = {**g, "better": better, "worse": worse, "p": p}
            print(f"- {b} tokens: {interval(g)}, {better} better / {worse} worse, p = {p:.2g}")
        first, last = budgets[0], budgets[-1]
        if first in done and last in done:
            change = gain_change(done[first], done[last])
            numbers[f"part2_{teacher}"] = change
            print(f"\nΔ = gain({first}) − gain({last}) = {interval(change)} (paired bootstrap over questions)")

    hf = steps["organism_128"]
    engines = {"hf fp32 (as trained)": hf, "llama.cpp (4-bit GGUF)": steps["transfer_llamacpp"],
               "vLLM server fp32": steps["transfer_vllm"]}
    if any(engines.values()):
        print("\n## Part 3: the organism teacher on three servings of the student, 128 tokens\n")
        print("| engine | no instruction | trained teacher | gain | better / worse, McNemar | holds? "
              "| answers cut (none / teacher) | same final answer as hf (none / teacher) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        hf_gain = gain(hf)["delta"] if hf else None
        for name, by in engines.items():
            if not by:
                continue
            better, worse, p = mcnemar_exact(right(by[NONE]), right(by[TRAINED]))
            g = gain(by)
            # the protocol's test: beats no instruction (p < 0.05) with at least half hf's gain
            holds = "as trained" if by is hf else "n/a (no hf row)" if not hf else "yes" if (
                better > worse and p < 0.05 and g["delta"] >= hf_gain / 2) else "no"
            cuts = " / ".join(str(sum(r.get("finish_reason") == "length" for r in by[c])) for c in (NONE, TRAINED))
            agree = ""
            if hf:
                agree = " / ".join(f"{sum(a['pred'] == b['pred'] for a, b in zip(hf[c], by[c], strict=True))}"
                                   f"/{len(by[c])}" for c in (NONE, TRAINED))
            print(f"| {name} | {fmt(right(by[NONE]))} | {fmt(right(by[TRAINED]))} | {interval(g)} "
                  f"| {better} / {worse}, p = {p:.2g} | {holds} | {cuts} | {agree} |")
            numbers[f"part3_{name}"] = {**g, "better": better, "worse": worse, "p": p, "holds": holds}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
