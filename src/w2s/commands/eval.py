"""`w2s eval`: a student's accuracy on a task split, with intervals, throughput and every answer."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import check_ranges, seed_setting, setting, task_setting, to_dict
from w2s.errors import W2SError
from w2s.jsonl import write_atomic, write_jsonl
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.scoring import score_responses
from w2s.stats import Estimate
from w2s.students import SamplingParams, Student, StudentConfig, make_student
from w2s.students.base import prompt_text, usage_line
from w2s.tasks import get_task


@dataclass
class EvalConfig:
    """Everything that determines an evaluation run (saved beside its results)."""

    task: str = task_setting("gsm8k")
    split: str = setting("test", help="data split")
    data: str | None = setting(None, help="JSONL file, folder, or hub id; default: shared data, then the hub")
    limit: int | None = setting(None, low=1, help="questions (None: all)")
    seed: int | None = seed_setting()
    max_tokens: int = setting(512, low=1, help="the answer budget: most tokens per answer")
    temperature: float = setting(0.0, low=0, high=10, help="0 = greedy")
    output: str | None = setting(None, help="run folder; default runs/eval/<task>-<split>-<model>")
    cache: str | None = setting(None, help="response cache file; default $W2S_HOME/responses.sqlite")
    student: StudentConfig = setting(default_factory=StudentConfig, help="the model that answers", flags={
        "model": "model", "backend": "backend", "batch_size": "batch-size", "base_url": "base-url",
        "concurrency": "concurrency"})

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class EvalResult:
    accuracy: Estimate
    strict_accuracy: Estimate
    rows: list[dict]
    summary: dict


def run_eval(config: EvalConfig, student: Student | None = None) -> EvalResult:
    """Generate (through the cache), grade, summarize, and write responses.jsonl + summary.json."""
    task = get_task(config.task)
    examples = task.load(config.split, config.data, config.limit, config.seed)
    out_dir = Path(config.output or default_output(config))
    cache_path = config.cache or default_cache_path()
    plan_writes([out_dir / "responses.jsonl", out_dir / "summary.json"], reads=[config.data], cache=cache_path)
    cache = ResponseCache(cache_path)
    if student is None:
        student = make_student(config.student, cache)
    prompts = [task.messages(e.question) for e in examples]
    params = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed or 0)
    start = time.perf_counter()
    try:
        completions = [c[0] for c in student.generate(prompts, params, desc=f"{task.name} {config.split}")]
    except W2SError as err:  # some requests kept failing: keep what was answered, say what was not
        write_partial(out_dir, task, examples, prompts, student.cached(prompts, params), str(err), config)
        raise W2SError(f"{err}; the answered part is in {out_dir}/summary.json (partial) and a rerun of the "
                       "same command asks only for the rest") from None
    scored = score_responses(task, examples, [c.text for c in completions])
    rows = [{**row, "question": e.question, "prompt": prompt_text(p), "response": c.text,
             "n_tokens": c.n_tokens, "finish_reason": c.finish_reason}
            for row, e, p, c in zip(scored.rows, examples, prompts, completions, strict=True)]
    accuracy, strict = scored.accuracy, scored.strict_accuracy
    summary = {
        "task": task.name, "split": config.split, "model": student.name, "fingerprint": student.fingerprint,
        "n": len(rows), "accuracy": accuracy.to_dict(), "strict_accuracy": strict.to_dict(),
        "generated": student.stats.generated, "cached": student.stats.cached,
        "empty_answers": student.stats.empty,  # still empty after every retry; not cached, so a rerun asks again
        "retries": student.stats.retries,
        "usage": student.stats.usage(student.price),
        "generated_tokens": student.stats.tokens, "generation_seconds": round(student.stats.seconds, 2),
        "tokens_per_s": round(student.stats.tokens_per_s, 2),
        "truncated": sum(r["finish_reason"] == "length" for r in rows),
        "wall_seconds": round(time.perf_counter() - start, 2), "config": to_dict(config),
    }
    write_jsonl(out_dir / "responses.jsonl", rows)
    write_atomic(out_dir / "summary.json", [json.dumps(summary, indent=2)])
    summary["output"] = str(out_dir)
    return EvalResult(accuracy, strict, rows, summary)


def write_partial(out_dir: Path, task, examples: list, prompts: list, answers: list, error: str,
                  config: EvalConfig) -> None:
    """summary.json and responses.jsonl for the questions answered before a failure, marked partial,
    with the ids of those that were not (accuracy over the answered ones only, labelled so)."""
    answered = [(e, p, a) for e, p, a in zip(examples, prompts, answers, strict=True) if a is not None]
    summary = {"task": task.name, "split": config.split, "partial": True, "error": error, "n": len(examples),
               "answered": len(answered), "unanswered_ids": [e.id for e, a in zip(examples, answers, strict=True)
                                                              if a is None], "config": to_dict(config)}
    rows = []
    if answered:
        scored = score_responses(task, [e for e, _, _ in answered], [a.text for _, _, a in answered])
        summary["accuracy_of_answered"] = scored.accuracy.to_dict()
        rows = [{**row, "question": e.question, "prompt": prompt_text(p), "response": a.text, "n_tokens": a.n_tokens,
                 "finish_reason": a.finish_reason} for row, (e, p, a) in zip(scored.rows, answered, strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "responses.jsonl", rows)
    write_atomic(out_dir / "summary.json", [json.dumps(summary, indent=2)])


def default_output(config: EvalConfig) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", config.student.model.strip("/"))[-60:]
    return f"runs/eval/{config.task}-{config.split}-{slug}"


def format_summary(result: EvalResult) -> str:
    s = result.summary
    lines = [
        f"task {s['task']} ({s['split']}), model {s['model']}, n={s['n']}",
        f"  accuracy (flexible): {result.accuracy}",
        f"  accuracy (strict):   {result.strict_accuracy}",
        f"  generated {s['generated']} (cached {s['cached']}), {s['generated_tokens']} tokens in "
        f"{s['generation_seconds']} s = {s['tokens_per_s']} tokens/s; {s['truncated']} hit max_tokens"
        + (f"; {s['empty_answers']} stayed empty (not cached; rerun to ask again)" if s["empty_answers"] else ""),
        f"  usage: {usage_line(s['model'], s['usage'])}",
        f"  wrote {s['output']}/responses.jsonl and summary.json",
    ]
    return "\n".join(lines)
