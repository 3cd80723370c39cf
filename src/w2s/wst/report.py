"""`w2s report RUN_DIR`: a Markdown report with plots for a WST run.

RUN_DIR may hold a training run (`metrics.jsonl`, written by `w2s wst train`), an evaluation
(`wst_eval.json`, written by `w2s wst eval`), or both, directly or one folder down (the layout
`w2s quickstart` writes). The report goes to RUN_DIR/report.md with PNGs beside it.
"""

from __future__ import annotations

from pathlib import Path

from w2s.errors import W2SError
from w2s.jsonl import read_json, read_jsonl, write_atomic
from w2s.outputs import plan_writes
from w2s.plots import accuracy_bars, training_curves
from w2s.stats import Estimate
from w2s.tasks import task_label
from w2s.wst.evaluate import format_table


def _find(run: Path, name: str) -> Path | None:
    for candidate in [run / name, *sorted(run.glob(f"*/{name}"))]:
        if candidate.is_file():
            return candidate
    return None


def training_section(metrics_file: Path, out: Path) -> list[str]:
    rows = [r for r in read_jsonl(metrics_file) if "reward" in r]
    if not rows:
        return [f"`{metrics_file}` has no logged steps yet."]
    steps = [r["step"] for r in rows]
    # outcome rewards log the student's accuracy (or a reward model's mean score on open-ended
    # replies); the likelihood reward its log-probability of gold
    measure = next((m for m in ("logprob", "score") if any(f"student/{m}_baseline" in r for r in rows)),
                   "accuracy")
    label = {"logprob": "student log-prob of the gold solution (per token)",
             "score": "student's mean grader score on the step's prompts",
             "accuracy": "student accuracy on the step's questions"}[measure]
    panels = {
        "teacher reward": {"reward mean": [r["reward"] for r in rows]},
        label: {"with instruction": [r.get(f"student/{measure}_with_instruction", 0.0) for r in rows],
                "no instruction": [r.get(f"student/{measure}_baseline", 0.0) for r in rows]},
        "wasted and suspect instructions": {
            "GRPO groups with all-equal rewards": [r.get("frac_reward_zero_std", 0.0) for r in rows],
            "instructions with new numbers": [r.get("teacher/new_numbers", 0.0) for r in rows],
            "instructions cut at the token limit": [r.get("teacher/truncated", 0.0) for r in rows]},
    }
    png = training_curves(steps, panels, out / "training.png", f"WST training ({metrics_file.parent.name})")
    n = len(rows)
    half = max(1, n // 2)

    def mean(key: str, part: list[dict]) -> float:
        return sum(r.get(key, 0.0) for r in part) / len(part)

    parts = ["teacher_generation", "student", "grading", "reward_other", "update"]
    totals = {p: sum(r.get(f"time/{p}_s", 0.0) for r in rows) for p in parts}
    step_total = sum(r.get("time/step_s", 0.0) for r in rows) or 1.0
    lines = [f"![training curves]({png.name})", "",
             f"{n} logged steps (last step {steps[-1]}), from `{metrics_file}`.", "",
             "| | first half of steps | second half of steps |", "| --- | --- | --- |"]
    for name, key in [("reward mean", "reward"), (f"student {measure} with instruction",
                                                   f"student/{measure}_with_instruction"),
                      ("helped per step", "helped"), ("harmed per step", "harmed"),
                      ("share of GRPO groups with all-equal rewards (no gradient)", "frac_reward_zero_std"),
                      ("share of instructions stating the answer", "teacher/leaks"),
                      ("share of instructions with new numbers", "teacher/new_numbers"),
                      ("share of instructions cut at the token limit", "teacher/truncated"),
                      ("instruction length (chars)", "teacher/instruction_chars")]:
        lines.append(f"| {name} | {mean(key, rows[:half]):.3f} | {mean(key, rows[half:] or rows):.3f} |")
    lines += ["", "Where the time went (all steps): " + ", ".join(
        f"{p.replace('_', ' ')} {100 * totals[p] / step_total:.0f}%" for p in parts)
        + f"; {step_total / n:.1f} s per step."]
    return lines


def evaluation_section(eval_file: Path, out: Path) -> list[str]:
    summary = read_json(eval_file)
    estimates = {row["condition"]: Estimate(**row["accuracy"]) for row in summary["conditions"]}
    scalar = summary.get("scalar", False)
    measure = f"mean {summary.get('grader', 'score')} score" if scalar else "accuracy"
    png = accuracy_bars(estimates, out / "conditions.png",
                        f"{task_label(summary['task'])} {summary['split']} (n={summary['n']}):\n"
                        f"student {measure} by instruction",
                        ylabel=f"{measure} (95% CI)")
    cfg = summary.get("config", {})
    test = ("the exact sign test on paired scores" if scalar else "the exact McNemar test")
    return [format_table(summary), "", sample_size_verdict(summary), "",
            f"![{measure} per condition]({png.name})", "",
            f"From `{eval_file}`. Trained teacher: `{cfg.get('trained_teacher')}`; untrained teacher: "
            f"`{cfg.get('untrained_teacher')}`; student answers up to {cfg.get('student_max_tokens')} tokens, "
            f"greedy. Intervals are 95% bootstrap; p in the first table is {test} against "
            "no instruction, in the second (when there is a trained teacher) against each other condition."]


def sample_size_verdict(summary: dict) -> str:
    """Say plainly whether the evaluation could have detected a lift, from its own numbers."""
    rows = {row["condition"]: row for row in summary["conditions"]}
    trained, n = rows.get("trained teacher"), summary["n"]
    if trained is None:
        return f"No trained teacher in this evaluation (n = {n})."
    acc = trained["accuracy"]
    width = acc["high"] - acc["low"]
    p = trained["mcnemar_p"]
    test = "exact sign test" if summary.get("scalar") else "exact McNemar"
    verdict = (f"The trained teacher differs from no instruction at p = {p:.3g} ({test}, n = {n})"
               + (": significant at 0.05." if p < 0.05 else ": not significant at 0.05."))
    if n < 100:
        verdict += (f" **This sample is too small to mean anything**: with n = {n} the 95% interval of one "
                    f"{'mean score' if summary.get('scalar') else 'accuracy'} is {width:.2f} wide, so only a very large change could show. Run "
                    "`w2s wst eval` with a few hundred questions to test the method.")
    return verdict


def write_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.md (+ training.png, conditions.png); return the report's path."""
    run = Path(run_dir)
    if not run.is_dir():
        raise W2SError(f"{run}: no such run folder")
    metrics_file, eval_file = _find(run, "metrics.jsonl"), _find(run, "wst_eval.json")
    if metrics_file is None and eval_file is None:
        raise W2SError(f"{run}: found neither metrics.jsonl (from `w2s wst train`) nor wst_eval.json "
                       "(from `w2s wst eval`) in it or its subfolders")
    report = run / "report.md"
    plan_writes([report, *([run / "conditions.png"] if eval_file else []), *([run / "training.png"] if metrics_file else [])],
                reads=[f for f in (metrics_file, eval_file) if f is not None], option="RUN_DIR (or remove the link there)")
    lines = [f"# WST report: {run.name}", ""]
    if eval_file is not None:
        lines += ["## Held-out evaluation", "", *evaluation_section(eval_file, run), ""]
    if metrics_file is not None:
        lines += ["## Training", "", *training_section(metrics_file, run), ""]
    write_atomic(report, ["\n".join(lines)])
    return report
