"""The tables of results/reason_gsm8k_15b_protocol.md from the run folder `experiments/reason_gsm8k_15b.sh` fills.

    python experiments/reason_gsm8k_15b_tables.py --run RUN_DIR

Part 2 (transfer of the committed teachers to the 1.5B): per evaluation, each condition's accuracy
with its 95% bootstrap interval, answers cut, mean tokens, helped/harmed and exact McNemar against
no instruction, the teacher against the brief line, and the Holm correction over the three
primary tests (and over the three secondary ones). Part 1 (progressive reasoning): every model's
accuracy, strict accuracy, PGR with its interval, McNemar against full weak FT with Holm over the
three method rows, answers cut, and what Stage I's filter and Stage II's pairs kept. Steps not run
yet are left out and said so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from w2s.jsonl import read_jsonl
from w2s.stats import bootstrap_ci, holm, mcnemar_exact

PART2 = [("organism_128", "organism teacher, organism test 640-939, 128 tokens"),
         ("organism_512", "organism teacher, organism test 640-939, 512 tokens"),
         ("gsm8k_512", "GSM8K teacher, GSM8K test 500-799, 512 tokens")]
LABELS = {"no instruction": "no instruction", "generic": "brief line", "trained teacher": "trained teacher"}


def conditions(folder: Path) -> dict[str, list[dict]] | None:
    if not (folder / "wst_eval.json").is_file():
        return None
    by: dict[str, list[dict]] = {}
    for row in read_jsonl(folder / "instructions_and_answers.jsonl"):
        by.setdefault(row["condition"], []).append(row)
    return by


def fmt(est) -> str:
    return f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def part2(run: Path) -> None:
    print("## Part 2: the committed teachers in front of the 1.5B\n")
    primary, secondary = [], []
    for step, title in PART2:
        by = conditions(run / step)
        if by is None:
            print(f"{title}: not run yet\n")
            continue
        none = [bool(r["correct"]) for r in by["no instruction"]]
        print(f"**{title}** (n = {len(none)})\n")
        print("| condition | accuracy [95% CI] | answers cut | mean tokens | helped / harmed vs none | McNemar p |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, rows in by.items():
            right = [bool(r["correct"]) for r in rows]
            better, worse, p = mcnemar_exact(none, right)
            cut = sum(r["finish_reason"] == "length" for r in rows)
            tokens = sum(r["n_tokens"] for r in rows) / len(rows)
            print(f"| {LABELS.get(name, name)} | {fmt(bootstrap_ci(right))} | {cut} | {tokens:.0f} | "
                  f"{better} / {worse} | {p:.3g} |")
        trained = [bool(r["correct"]) for r in by["trained teacher"]]
        brief = [bool(r["correct"]) for r in by["generic"]]
        primary.append((title, *mcnemar_exact(none, trained)))
        secondary.append((title, *mcnemar_exact(brief, trained)))
        print()
    for name, family in (("primary: trained teacher vs no instruction", primary),
                         ("secondary: trained teacher vs the brief line", secondary)):
        if family:
            print(f"Holm over the {name} ({len(family)} of 3 run):\n")
            print("| evaluation | teacher better | teacher worse | McNemar p | Holm p |")
            print("| --- | --- | --- | --- | --- |")
            for (title, b, w, p), adjusted in zip(family, holm([f[3] for f in family]), strict=True):
                print(f"| {title} | {b} | {w} | {p:.3g} | {adjusted:.3g} |")
            print()


def answers_so_far(folder: Path) -> None:
    """Before `metrics.json`: each evaluated model's test accuracy alone (no comparison is made
    until every row is in, as the protocol says)."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        print("not evaluated yet\n")
        return
    print("In progress: the models evaluated so far (no comparison until every row is in)\n")
    print("| answers file | n | accuracy [95% CI] | strict | no marked answer | mean response characters |")
    print("| --- | --- | --- | --- | --- | --- |")
    for file in files:
        rows = list(read_jsonl(file))
        print(f"| {file.name} | {len(rows)} | {fmt(bootstrap_ci([r['correct'] for r in rows]))} | "
              f"{sum(bool(r['strict_correct']) for r in rows) / len(rows):.3f} | "
              f"{sum(r['strict_pred'] is None for r in rows)} | {sum(len(r['response']) for r in rows) / len(rows):.0f} |")
    print()


def part1(run: Path) -> None:
    print("## Part 1: progressive weak-to-strong reasoning\n")
    metrics_file = run / "reason" / "metrics.json"
    if not metrics_file.is_file():
        answers_so_far(run / "reason" / "eval")
        return
    metrics = json.loads(metrics_file.read_text())
    methods = [name for name in metrics["models"] if name.startswith("Stage")]
    adjusted = dict(zip(methods, holm([metrics["models"][m]["vs_full_weak_ft"]["mcnemar_p"] for m in methods]),
                        strict=True))
    print(f"n = {metrics['n']} GSM8K test questions\n")
    print("| model | accuracy [95% CI] | strict | PGR [95% CI] | vs full weak FT (better / worse, p, Holm p) |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in metrics["models"].items():
        a, s = row["accuracy"], row["strict_accuracy"]
        pgr = "n/a" if row.get("pgr") is None else f"{row['pgr']:.2f}"
        if row.get("pgr_interval"):
            pgr += f" [{row['pgr_interval']['low']:.2f}, {row['pgr_interval']['high']:.2f}]"
        versus = row.get("vs_full_weak_ft")
        vs = (f"{versus['better']} / {versus['worse']}, {versus['mcnemar_p']:.3g}, {adjusted[name]:.3g}"
              if versus else "")
        print(f"| {name} | {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | {s['value']:.3f} | {pgr} | {vs} |")
    stats = run / "reason" / "stage1" / "filter_stats.json"
    if stats.is_file():
        for s in json.loads(stats.read_text()):
            print(f"\nStage I filter, round {s['round']}: kept {s['kept']} of {s['questions']} train_2 questions; "
                  f"gold accuracy of the kept weak answers {s['gold_accuracy_weak_kept']} against "
                  f"{s['gold_accuracy_all_weak']} over all weak answers")
    pairs = run / "reason" / "pairs_stats.json"
    if pairs.is_file():
        p = json.loads(pairs.read_text())
        print(f"\nStage II: {p['pairs']} pairs from {p['questions']} questions ({p['branches']}); gold-correct chosen "
              f"{p['chosen_gold_correct']}, rejected {p['rejected_gold_correct']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path.home() / "w2s-runs" / "reason_15b")
    run = parser.parse_args().run
    part2(run)
    part1(run)


if __name__ == "__main__":
    main()
