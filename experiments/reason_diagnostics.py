"""Exploratory diagnostics of a `w2s reason run` folder on `rg:chain_sum` (results/reason_chain_sum_cpu.md):
none of this is in the protocol; it explains what the registered numbers show.

    python experiments/reason_diagnostics.py RUN_DIR
    python experiments/reason_diagnostics.py RUN3 --against RUN_DIR   # part 3: its DPO vs part 2's models

Prints:
- the Stage II samples' gold accuracy, per sample and by majority vote over marked answers;
- per evaluated model, how many wrong answers hold a worked line whose arithmetic is wrong, and how
  many of those first wrong lines are the right value with its last digit repeated (`-2` -> `-22`),
  the error that separates DPO from every other model in that run;
- the exploratory McNemar tests quoted in the results;
- with `--against RUN`, this run's Stage II (DPO) against every model of RUN (McNemar, the same test
  questions paired by id): the tests of the protocol's part 3.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from w2s.jsonl import read_jsonl
from w2s.reason.pipeline import answers_file
from w2s.reason.selection import majority_vote
from w2s.stats import mcnemar_exact
from w2s.tasks import get_task

LINE = re.compile(r"^(-?\d+) ([+-]) (-?\d+) = (-?\d+)$", re.M)


def first_wrong_line(response: str) -> tuple[str, str] | None:
    """(right value, written value) of the first `a ± b = c` line whose c is wrong, if any."""
    for m in LINE.finditer(response):
        a, op, b, written = int(m[1]), m[2], int(m[3]), m[4]
        value = str(a + b if op == "+" else a - b)
        if value != written:
            return value, written
    return None


def is_stutter(value: str, written: str) -> bool:
    """The right value with its last digit written twice."""
    return written == value + value[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--against", help="another run folder on the same test questions")
    args = parser.parse_args()
    run = Path(args.run_dir)
    config = json.loads((run / "config.json").read_text())
    grader = get_task(config["task"]).grader

    gold = {r["id"]: r["gold"] for r in read_jsonl(run / "weak_train2.jsonl")}
    samples = list(read_jsonl(run / "stage2_samples.jsonl"))
    right = total = majority = 0
    for row in samples:
        preds = [grader.extract(x, strict=True) for x in row["responses"]]
        right += sum(p is not None and grader.equivalent(p, gold[row["id"]]) for p in preds)
        total += len(preds)
        vote = majority_vote(grader, row["responses"], strict=True)  # the vote Stage II's pairs use
        majority += vote.answer is not None and grader.equivalent(vote.answer, gold[row["id"]])
    print(f"Stage II samples: {right / total:.3f} gold-correct per sample, {majority / len(samples):.3f} by majority "
          f"vote ({len(samples)} questions x {total // len(samples)})")

    models = json.loads((run / "metrics.json").read_text())["models"]
    outcomes = {}
    for name in models:
        rows = list(read_jsonl(run / answers_file(name)))
        outcomes[name] = [bool(r["correct"]) for r in rows]
        wrong = [r for r in rows if not r["correct"]]
        lines = [first_wrong_line(r["response"]) for r in wrong]
        lines = [x for x in lines if x]
        stutters = [x for x in lines if is_stutter(*x)]
        print(f"{name:20} wrong {len(wrong):3}, with a wrong line {len(lines):3}, first wrong line a stutter "
              f"{len(stutters):3} (negative {sum(v.startswith('-') for v, _ in stutters)}), unmarked "
              f"{sum(r.get('strict_pred') is None for r in rows)}")

    for base, model in [("Stage I (round 2)", "Stage II (ORPO)"), ("Stage I (round 1)", "Stage I (round 2)"),
                        ("weak floor", "full weak FT")]:
        if base in outcomes and model in outcomes:
            better, worse, p = mcnemar_exact(outcomes[base], outcomes[model])
            print(f"exploratory: {model} vs {base}: {better} better / {worse} worse, McNemar p={p:.2g}")

    if args.against:
        other = Path(args.against)
        mine = {r["id"]: bool(r["correct"]) for r in read_jsonl(run / answers_file("Stage II (DPO)"))}
        for name in json.loads((other / "metrics.json").read_text())["models"]:
            theirs = {r["id"]: bool(r["correct"]) for r in read_jsonl(other / answers_file(name))}
            if theirs.keys() != mine.keys():
                raise SystemExit(f"{other}: {name} answered other test questions than {run}")
            ids = sorted(mine)
            better, worse, p = mcnemar_exact([theirs[i] for i in ids], [mine[i] for i in ids])
            print(f"{run.name} Stage II (DPO) vs {other.name} {name}: {better} better / {worse} worse, McNemar p={p:.2g}")


if __name__ == "__main__":
    main()
