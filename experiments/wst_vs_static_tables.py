"""The tables of results/wst_vs_static_protocol.md (Parts A, B, C) from the run folder `experiments/wst_vs_static.sh` fills.

    python experiments/wst_vs_static_tables.py --run RUN_DIR

Per student and budget (a cell): each condition's accuracy with its 95% interval, answers cut,
mean tokens, tokens per correct answer, helped/harmed and exact McNemar against no instruction,
and the student answers it cost to obtain; the static pick (every candidate's validation
accuracy). Then the primary test, the committed teacher against the cell's best static
instruction with Holm over the four cells, and the secondary ones (the teacher against GEPA and
against the brief line), and what each GEPA search found and cost. Part B's teacher in the same
four cells; Part C's evaluation with each condition's accuracy per dataset of the mixture. Cells
not run yet are left out and said so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from w2s.jsonl import read_jsonl
from w2s.stats import holm, mcnemar_exact

CELLS = [("eval_05b_128", "0.5B student, 128 tokens"), ("eval_05b_512", "0.5B student, 512 tokens"),
         ("eval_15b_128", "1.5B student, 128 tokens"), ("eval_15b_512", "1.5B student, 512 tokens")]
GEPA = [("gepa_05b", "0.5B student"), ("gepa_15b", "1.5B student"), ("partc_gepa", "Part C, 0.5B student")]
PART_B = [(f"partb_{folder[5:]}", title) for folder, title in CELLS]
PART_C = ("partc_eval", "the mixture, 0.5B student, 256 tokens")
LABELS = {"generic": "brief line", "optimized (GEPA)": "GEPA"}


def label(condition: str) -> str:
    return LABELS.get(condition, condition)


def outcomes(folder: Path) -> dict[str, list[bool]]:
    """Each condition's right/wrong per test question, in question order."""
    by: dict[str, list[bool]] = {}
    for row in read_jsonl(folder / "instructions_and_answers.jsonl"):
        by.setdefault(row["condition"], []).append(bool(row["correct"]))
    return by


def condition_table(summary: dict) -> None:
    print("| condition | accuracy [95% CI] | answers cut | mean tokens | tokens per correct | helped / harmed vs none "
          "| McNemar p | student answers to obtain |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in summary["conditions"]:
        a, cost = row["accuracy"], row.get("cost_to_find")
        per_correct = row.get("tokens_per_correct")
        print(f"| {label(row['condition'])} | {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | {row['answers_cut']} "
              f"| {row['mean_tokens']:.0f} | {'—' if per_correct is None else f'{per_correct:.0f}'} "
              f"| {row['helped']} / {row['harmed']} | {row['mcnemar_p']:.3g} "
              f"| {'unknown' if cost is None else cost['student_calls']} |")


def static_pick(summary: dict) -> None:
    static = summary.get("static")
    if not static:
        return
    picks = ", ".join(f"{label(c['condition'])} {c['validation_accuracy']:.3f}" for c in static["candidates"])
    print(f"\nPicked on {static['questions']} {static['split']} questions: **{label(static['best'])}** "
          f"(of: {picks}; picking cost {static['cost_of_picking']['student_calls']} new student answers)")


def cell(folder: Path, title: str) -> tuple[str, int, int, float] | None:
    """Print one cell; return its primary test (teacher better, worse, p against the best static)."""
    if not (folder / "wst_eval.json").is_file():
        print(f"**{title}**: not run yet\n")
        return None
    summary = json.loads((folder / "wst_eval.json").read_text())
    print(f"**{title}** (n = {summary['n']}, student `{summary['student']}`, {summary['student_max_tokens']} "
          "tokens)\n")
    condition_table(summary)
    static_pick(summary)
    right = outcomes(folder)
    for other in ("optimized (GEPA)", "generic"):
        if other in right and "trained teacher" in right:
            better, worse, p = mcnemar_exact(right[other], right["trained teacher"])
            print(f"\nSecondary: trained teacher vs {label(other)}: {better} better / {worse} worse, p = {p:.3g}")
    print()
    versus = next((r for r in summary.get("vs_best_static", []) if r["condition"] == "trained teacher"), None)
    return (title, versus["better"], versus["worse"], versus["mcnemar_p"]) if versus else None


def per_dataset(folder: Path, summary: dict) -> None:
    """A mixture's accuracy per source dataset for each condition: where does a condition win?"""
    from w2s.tasks import get_task

    if not summary["task"].startswith("rg:composite"):
        return
    task = get_task(summary["task"])
    examples = task.load(summary["split"], None, None, None)
    source = {e.question: task.grader.entry(e.answer, e.question)["metadata"]["source_dataset"] for e in examples}
    right: dict[str, dict[str, list[bool]]] = {}
    for row in read_jsonl(folder / "instructions_and_answers.jsonl"):
        right.setdefault(row["condition"], {}).setdefault(source[row["question"]], []).append(bool(row["correct"]))
    names = sorted({d for by in right.values() for d in by})
    print("| condition | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for condition, by in right.items():
        cells = [f"{sum(by.get(d, [])) / len(by[d]):.3f} (n = {len(by[d])})" if by.get(d) else "—" for d in names]
        print(f"| {label(condition)} | " + " | ".join(cells) + " |")
    print()


def gepa(run: Path) -> None:
    print("## What GEPA found\n")
    for step, title in GEPA:
        found = run / step / "optimized_instruction.json"
        if not found.is_file():
            print(f"- {title}: not run yet")
            continue
        f = json.loads(found.read_text())
        print(f"- {title}: {f['instruction']!r}; validation {f['validation_score']:.3f} against its seed's "
              f"{f['seed_validation_score']:.3f} ({f['validation']['val_questions']} questions); "
              f"{f['candidates_tried']} candidates, {f['cost']['student_calls']} student answers "
              f"(budget {f['budget']['student_calls']}), {f['cost']['reflection_calls']} reflection calls")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path.home() / "w2s-runs" / "wst_vs_static")
    run = parser.parse_args().run
    print("## Part A: the committed teacher against every static baseline\n")
    holm_table(run, CELLS, "the committed teacher")
    print("## Part B: a teacher paid for what it adds beyond the best static instruction\n")
    holm_table(run, PART_B, "the Part B teacher")
    print("## Part C: a mixture where per-question instructions should matter\n")
    folder, title = PART_C
    test = cell(run / folder, title)
    if test:
        print(f"Primary: the trained teacher against the best static instruction: {test[1]} better / {test[2]} worse, "
              f"exact McNemar p = {test[3]:.3g}\n")
        per_dataset(run / folder, json.loads((run / folder / "wst_eval.json").read_text()))
    gepa(run)


def holm_table(run: Path, cells: list[tuple[str, str]], teacher: str) -> None:
    """Each cell, then the teacher against each cell's best static instruction, Holm over the cells."""
    primary = [test for folder, title in cells if (test := cell(run / folder, title))]
    if primary:
        print(f"Primary: {teacher} against the best static instruction, Holm over the cells "
              f"({len(primary)} of {len(cells)} run):\n")
        print("| cell | teacher better | teacher worse | McNemar p | Holm p |")
        print("| --- | --- | --- | --- | --- |")
        for (title, better, worse, p), adjusted in zip(primary, holm([t[3] for t in primary]), strict=True):
            print(f"| {title} | {better} | {worse} | {p:.3g} | {adjusted:.3g} |")
        print()


if __name__ == "__main__":
    main()
