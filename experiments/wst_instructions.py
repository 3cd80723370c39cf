"""What the teachers wrote in a `w2s wst eval` folder, and how the student fared with it.

Reads EVAL_DIR/instructions_and_answers.jsonl and prints, per instruction-writing condition, the
instructions' length, how many distinct instructions there are (a teacher that collapsed to a
constant sentence has few), how many use a number from their question (question-specific), how
many contain numbers the question does not (a sign the teacher is solving), how many state the
gold answer, how many are identical to the untrained teacher's; and, against no instruction,
the helped/harmed counts split by whether the instruction holds new numbers. A second table takes
the instructions that state a marked final answer ("the answer is N", read by the task's grader as
it reads the student's): how often that stated answer is right, how often the student repeats it,
and the student's accuracy when the stated answer is right and when it is wrong; this tells a
teacher that solves for the student from one that changes how the student answers. Last, a
leak check: each condition's accuracy with every question whose instruction states the right
answer scored wrong, tested (exact McNemar) against no instruction and the untrained teacher.
`--examples K` prints K instructions of each teacher on the same questions.

    python experiments/wst_instructions.py EVAL_DIR [--examples 5]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from w2s.graders import numbers_in, parse_number
from w2s.jsonl import read_jsonl
from w2s.stats import mcnemar_exact
from w2s.tasks import get_task
from w2s.wst.protocol import leaks_answer, new_numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir")
    parser.add_argument("--task", default="gsm8k", help="the task the evaluation ran (its grader reads numbers)")
    parser.add_argument("--examples", type=int, default=0)
    args = parser.parse_args()
    grader = get_task(args.task).grader
    rows = list(read_jsonl(f"{args.eval_dir}/instructions_and_answers.jsonl"))
    by = defaultdict(dict)  # condition -> question id -> row
    for row in rows:
        by[row["condition"]][row["id"]] = row
    base = by["no instruction"]
    untrained = by.get("untrained teacher", {})
    print("| condition | n | mean chars | distinct | with a number from the question | with new numbers | "
          "stating the gold answer | identical to untrained teacher's | helped / harmed, instruction with new "
          "numbers | helped / harmed, without |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, got in by.items():
        if name == "no instruction":
            continue
        n = len(got)
        counts = {True: [0, 0], False: [0, 0]}
        chars = numbered = leaked = same = specific = 0
        for qid, row in got.items():
            text, question = row["instruction"] or "", row["question"]
            has_new = bool(new_numbers(text, question))
            specific += bool(values(text) & values(question))
            chars += len(text)
            numbered += has_new
            leaked += leaks_answer(text, question, row["gold"], grader)
            same += qid in untrained and untrained[qid]["instruction"] == text
            before, after = base[qid]["correct"], row["correct"]
            counts[has_new][0] += after and not before
            counts[has_new][1] += before and not after
        identical = "—" if name == "untrained teacher" else f"{same} ({same / n:.1%})"
        distinct = len({row["instruction"] for row in got.values()})
        print(f"| {name} | {n} | {chars / n:.0f} | {distinct} | {specific} ({specific / n:.1%}) | "
              f"{numbered} ({numbered / n:.1%}) | {leaked} | {identical} | "
              f"{counts[True][0]} / {counts[True][1]} | {counts[False][0]} / {counts[False][1]} |")
    stated_answers(by, grader)
    for qid in list(base)[: args.examples]:
        print(f"\n### {qid}: {base[qid]['question'][:160]}")
        for name, got in by.items():
            if name != "no instruction":
                mark = "right" if got[qid]["correct"] else "wrong"
                print(f"- {name} ({mark}): {(got[qid]['instruction'] or '').strip()!r}")
        print(f"- no instruction ({'right' if base[qid]['correct'] else 'wrong'})")


def stated_answers(by: dict, grader) -> None:
    """Instructions that state a marked final answer: is it right, and does the student follow it?"""
    print("\n| condition | instructions stating an answer | stated answer right | student gives the stated answer | "
          "student accuracy, stated answer right | student accuracy, stated answer wrong | "
          "student accuracy, no stated answer |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, got in by.items():
        if name == "no instruction":
            continue
        stated = {True: [], False: []}  # stated answer right -> the student's outcomes
        followed, unstated = 0, []
        for row in got.values():
            claim = grader.extract(row["instruction"] or "", strict=True)
            if claim is None:
                unstated.append(row["correct"])
                continue
            stated[grader.equivalent(claim, row["gold"])].append(row["correct"])
            followed += grader.same_answer(row["instruction"], row["response"])
        n_stated = len(stated[True]) + len(stated[False])
        print(f"| {name} | {n_stated} | {len(stated[True])} | {followed} | {share(stated[True])} | "
              f"{share(stated[False])} | {share(unstated)} |")
    print("\nLeak check: questions whose instruction states the right answer scored wrong.")
    ids = list(by["no instruction"])
    for name, got in by.items():
        if name == "no instruction":
            continue
        claims = [grader.extract(got[q]["instruction"] or "", strict=True) for q in ids]
        kept = [got[q]["correct"] and not (c is not None and grader.equivalent(c, got[q]["gold"]))
                for q, c in zip(ids, claims, strict=True)]
        tests = []
        for other in ("no instruction", "untrained teacher"):
            if other in by and other != name:
                better, worse, p = mcnemar_exact([by[other][q]["correct"] for q in ids], kept)
                tests.append(f"vs {other} {better} / {worse}, p = {p:.2g}")
        print(f"- {name}: {sum(kept)} of {len(ids)} ({sum(kept) / len(ids):.3f}); " + "; ".join(tests))


def share(outcomes: list[bool]) -> str:
    return f"{sum(outcomes)} of {len(outcomes)} ({sum(outcomes) / len(outcomes):.1%})" if outcomes else "—"


def values(text: str) -> set:
    """The absolute values of the numbers written in `text` (signs are operators in these questions)."""
    return {abs(v) for v in map(parse_number, numbers_in(text)) if v is not None}


if __name__ == "__main__":
    main()
