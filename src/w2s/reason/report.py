"""`w2s reason report RUN_DIR`: every model's test accuracy with 95% intervals and PGR, a bar chart
with the weak floor and strong ceiling marked, and the sizes of the filtered sets and pairs."""

from __future__ import annotations

from pathlib import Path

from w2s.errors import W2SError
from w2s.jsonl import read_json, read_jsonl, write_atomic
from w2s.outputs import plan_writes
from w2s.plots import accuracy_bars
from w2s.stats import Estimate, shown
from w2s.tasks import task_label


def format_pgr(row: dict) -> str:
    """PGR with its bootstrap interval, e.g. `+0.412 [+0.105, +0.730]`."""
    if row.get("pgr") is None:
        return "n/a"
    interval = row.get("pgr_interval")
    return f"{row['pgr']:+.3f}" + (f" [{interval['low']:+.3f}, {interval['high']:+.3f}]" if interval else "")


def format_table(metrics: dict) -> str:
    lines = [f"{metrics['task']} ({metrics['split']}), n={metrics['n']}",
             "| model | accuracy [95% CI] | PGR [95% CI] | vs full weak FT: better / worse, McNemar p | strict accuracy |",
             "| --- | --- | --- | --- | --- |"]
    for name, row in metrics["models"].items():
        acc = row["accuracy"]
        versus = row.get("vs_full_weak_ft")
        test = f"{versus['better']} / {versus['worse']}, p={versus['mcnemar_p']:.4g}" if versus else ""
        strict = row.get("strict_accuracy")
        marked = f"{shown(strict)}" if strict else ""
        lines.append(f"| {name} | {shown(acc)} | {format_pgr(row)} | {test} "
                     f"| {marked} |")
    return "\n".join(lines)


def read_metrics(run: Path) -> dict:
    """metrics.json, checked for what the report reads (one line naming what is wrong)."""
    metrics_file = run / "metrics.json"
    if not metrics_file.is_file():
        raise W2SError(f"{run}: no metrics.json (run `w2s reason run` or its 'metrics' step first)")
    metrics = read_json(metrics_file)
    missing = [key for key in ("task", "split", "n", "models") if not isinstance(metrics, dict) or key not in metrics]
    if missing or not isinstance(metrics["models"], dict) or \
            any(not isinstance(row, dict) or "accuracy" not in row for row in metrics["models"].values()):
        raise W2SError(f"{metrics_file}: not a metrics file of `w2s reason` (missing {', '.join(missing) or 'models.*.accuracy'});"
                       " rerun the 'metrics' step")
    bad = next((name for name, row in metrics["models"].items()
                if not isinstance(row["accuracy"], dict) or not all(isinstance(row["accuracy"].get(k), (int, float))
                                                                    for k in ("value", "low", "high", "n"))), None)
    if bad is not None:
        raise W2SError(f"{metrics_file}: models.{bad}.accuracy must hold numbers value, low, high and n; "
                       "rerun the 'metrics' step")
    return metrics


def is_reason_run(run_dir: str | Path) -> bool:
    """A `w2s reason run` folder, finished (metrics.json) or not (its config names a strong model)."""
    run = Path(run_dir)
    if (run / "metrics.json").is_file():
        return True
    try:
        return "strong_model" in read_json(run / "config.json")
    except (W2SError, TypeError):
        return False


def write_reason_report(run_dir: str | Path, metrics: dict, left: list[str] | tuple[str, ...] = ()) -> Path:
    """RUN_DIR/report.md and accuracy.png from a run's metrics (`w2s.reason.pipeline.run_metrics`):
    metrics.json's, or for an unfinished run the models evaluated so far, with the steps `left`."""
    run = Path(run_dir)
    metrics_file = run / "metrics.json"
    report = run / "report.md"
    plan_writes([report, run / "accuracy.png"], reads=[metrics_file, run / "config.json", run / "timings.jsonl",
                                                       run / "stage1" / "filter_stats.json", run / "pairs_stats.json"],
                option="RUN_DIR (or remove the link there)")
    estimates = {name: Estimate(**row["accuracy"]) for name, row in metrics["models"].items()}
    lines_ = {k: v for k, v in (("weak floor", metrics.get("weak_floor")),
                                ("strong ceiling", metrics.get("strong_ceiling"))) if v is not None}
    png = accuracy_bars(estimates, run / "accuracy.png",
                        f"{task_label(metrics['task'])} {metrics['split']} accuracy (n={metrics['n']})", lines_)
    lines = [f"# Progressive weak-to-strong reasoning: {run.name}", "",
             *([f"**Unfinished run**: the models evaluated so far; steps left: {', '.join(left)}."
                + ("" if metrics.get("weak_floor") is not None and metrics.get("strong_ceiling") is not None
                   else " PGR waits for the weak floor and the strong ceiling."), ""] if left else []),
             format_table(metrics), "",
             f"![accuracy per model]({png.name})", "",
             "PGR = (accuracy - weak floor) / (strong ceiling - weak floor). Intervals are 95% percentile "
             "bootstrap intervals; PGR's resamples the test questions for the model, the floor and the ceiling "
             "together. Stage I and II are tested against full weak FT with the exact McNemar test. Accuracy uses "
             "the task's flexible extraction; strict accuracy counts only marked final answers, as selection does.", ""]
    if metrics.get("not_trained") and not left:
        lines += [f"Not trained in this run (see the run's log for why): {', '.join(metrics['not_trained'])}.", ""]
    lines += [*_settings_lines(run), *_selection_lines(run), *timing_section(run / "timings.jsonl")]
    write_atomic(report, ["\n".join(lines)])
    return report


def _settings_lines(run: Path) -> list[str]:
    """The run's models, sizes and methods, from its config.json."""
    config_file = run / "config.json"
    lines: list[str] = []
    if config_file.is_file():
        config = read_json(config_file)
        lines += [f"Weak model `{config['weak_model']}`, strong model `{config['strong_model']}`, task "
                  f"`{config['task']}`: train_1 {config['train1_limit']}, train_2 {config['train2_limit']}, "
                  f"test {config['test_limit']} questions (seed {config['seed']}); Stage I set "
                  f"`{config['stage1_data']}`, {config['stage1_rounds']} round(s); Stage II "
                  f"{' and '.join(m.upper() for m in _methods(config['preference']))}, {config['samples']} samples per "
                  "question.", ""]
    return lines


def _selection_lines(run: Path) -> list[str]:
    """What Stage I's filter kept and Stage II's pairs, from their stats files."""
    lines: list[str] = []
    stats_file = run / "stage1" / "filter_stats.json"
    if stats_file.is_file():
        lines += ["## Stage I consistency filter", "",
                  "Round 1 compares the weak model's answers with the strong model's in-context answers; a later "
                  "round compares the answers of two strong models fine-tuned on the previous round's weak and "
                  "in-context sets, so its \"weak-side\" answers are those of the first of them.", "",
                  "| round | questions | kept | gold acc. of kept weak-side answers "
                  "| gold acc. of all weak-side answers |", "| --- | --- | --- | --- | --- |"]
        for s in read_json(stats_file):
            lines.append(f"| {s['round']} | {s['questions']} | {s['kept']} | {s['gold_accuracy_weak_kept']} | "
                         f"{s['gold_accuracy_all_weak']} |")
        lines.append("")
    pairs_file = run / "pairs_stats.json"
    if pairs_file.is_file():
        p = read_json(pairs_file)
        lines += ["## Stage II pairs", "", f"{p['pairs']} pairs from {p['questions']} questions; branches: "
                  + ", ".join(f"{k} {v}" for k, v in p["branches"].items())
                  + f". Gold-correct (diagnostic): chosen {p['chosen_gold_correct']}, rejected "
                  f"{p['rejected_gold_correct']}.", ""]
    return lines


def timing_section(timings_file: Path) -> list[str]:
    """Wall time per step, summed over its attempts (interrupted ones included), in step order."""
    if not timings_file.is_file():
        return []
    seconds: dict[str, float] = {}
    attempts: dict[str, int] = {}
    for row in read_jsonl(timings_file):
        seconds[row["step"]] = seconds.get(row["step"], 0.0) + float(row["seconds"])
        attempts[row["step"]] = attempts.get(row["step"], 0) + 1
    total = sum(seconds.values()) or 1.0
    lines = ["## Where the time went", "", "| step | wall time | share | attempts |", "| --- | --- | --- | --- |"]
    lines += [f"| {step} | {_minutes(s)} | {s / total:.0%} | {attempts[step]} |" for step, s in seconds.items()]
    lines += [f"| all | {_minutes(total)} | | |", "",
              "From `timings.jsonl`: every attempt at a step, summed; a process killed outright records nothing "
              "for the step it was in.", ""]
    return lines


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _methods(preference: str | list[str]) -> list[str]:
    return [preference] if isinstance(preference, str) else list(preference)
