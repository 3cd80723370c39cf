"""What of w2s's CUDA path runs, on a GPU machine with nothing but torch, transformers, accelerate and
peft (TRL and w2s's other small dependencies come as wheel files): one line per check, and a JSON
summary. Run by `benchmarks/gpu_check.sh`; see there.

    python benchmarks/gpu_check.py --out SUMMARY.json [--work DIR]

Every check uses the tiny in-process model of `w2s.tiny` and GSM8K-shaped questions written here,
so it needs no network and no data. Each runs in its own process (a crash is that check's line,
not the end of the script) with a time limit. Without CUDA the script says so in one line, writes
a summary with `"cuda": false`, and exits 0: CI runs it that way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 150  # per check: the whole script must stay under 8 minutes


def questions(path: Path, n: int = 8) -> Path:
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"}
            for i in range(1, n + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def w2s(*args: str) -> list[str]:
    return [sys.executable, "-m", "w2s.cli", *args]


def snippet(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def checks(model: Path, data: Path, work: Path, gpus: int) -> list[tuple[str, list[str]]]:
    """(name, command) of every check, in order; commands use the cuda device through w2s's settings."""
    score = ("from w2s import load_lm; import math; "
             f"lm = load_lm({str(model)!r}, device='cuda', dtype='DTYPE'); "
             "s = lm.score([[{'role': 'user', 'content': 'What is 1 plus 1?'}]], ['The answer is 2.']); "
             "assert math.isfinite(s[0].logprob) and s[0].n_tokens > 0, s; print('logprob', round(s[0].logprob, 3))")
    common = [f"data={data}", "split=train"]
    found = [
        *[(f"generate on cuda, {dtype}", w2s("eval", "--task", "gsm8k", "--model", str(model), "--limit", "8",
                                             "--max-tokens", "16", "--output", str(work / f"eval_{dtype}"),
                                             f"--data={data}", "--split", "train", "student.device=cuda",
                                             f"student.dtype={dtype}", f"cache={work / 'cache.sqlite'}"))
          for dtype in ("float32", "bfloat16")],
        *[(f"score on cuda, {dtype}", snippet(score.replace("DTYPE", dtype))) for dtype in ("float32", "bfloat16")],
        ("student on cuda has separate compute (the WST trainer overlaps it)",
         snippet("from w2s.students import StudentConfig, make_student; "
                 f"s = make_student(StudentConfig(model={str(model)!r}, device='cuda')); "
                 "assert s.separate_compute, 'separate_compute is False'; print('separate_compute True')")),
        ("WST train, 1 GRPO step on cuda", w2s(
            "wst", "train", "--task", "gsm8k", "--output", str(work / "wst"), f"data={data}", "train_split=train",
            "eval_split=none", "steps=1", "questions_per_step=1", "num_generations=2", f"teacher.model={model}",
            f"student.model={model}", "student.device=cuda", "student_max_tokens=8", "instruction.max_tokens=8",
            f"cache={work / 'cache.sqlite'}")),
        ("WST eval of that teacher on cuda", w2s(
            "wst", "eval", "--task", "gsm8k", "--teacher", str(work / "wst"), "--model", str(model), "--limit", "4",
            "--output", str(work / "wst_eval"), *common, f"untrained_teacher={model}", "self_instruction=false",
            "student.device=cuda", f"cache={work / 'cache.sqlite'}")),
        ("reasoning: weak SFT, answers, Stage I SFT, Stage II DPO on cuda", w2s(
            "reason", "run", "--until", "stage2-train", f"output={work / 'reason'}", f"data={data.parent}",
            f"weak_model={model}", f"strong_model={model}", "train1_limit=4", "train2_limit=4", "test_limit=2",
            "max_tokens=8", "samples=2", "min_confidence=0.5", "sft.max_length=96",
            "preference_training.max_length=96", "baselines=false", "generation.device=cuda",
            f"cache={work / 'cache.sqlite'}")),
    ]
    if gpus > 1:
        found.append((f"accelerate launch, {gpus} processes: WST train", [
            sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(gpus), "-m", "w2s.cli",
            "wst", "train", "--task", "gsm8k", "--output", str(work / "wst_ddp"), f"data={data}",
            "train_split=train", "eval_split=none", "steps=1", f"questions_per_step={gpus}", "num_generations=2",
            f"teacher.model={model}", f"student.model={model}", "student.device=cuda", "student_max_tokens=8",
            f"cache={work / 'cache_ddp.sqlite'}"]))
    return found


def run_check(name: str, command: list[str]) -> dict:
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=LIMIT_S)
        ok, tail = done.returncode == 0, (done.stdout + done.stderr).strip().splitlines()
        detail = (tail or ["no output"])[-1][:300]
    except subprocess.TimeoutExpired:
        ok, detail = False, f"timed out after {LIMIT_S}s"
    seconds = round(time.perf_counter() - started, 1)
    print(f"{'ok  ' if ok else 'FAIL'} {name} ({seconds}s): {detail}", flush=True)
    return {"check": name, "ok": ok, "seconds": seconds, "detail": detail}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    import torch

    summary = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "checks": []}
    if not summary["cuda"]:
        print(f"no CUDA: torch {torch.__version__} sees no GPU here; nothing to check")
        Path(args.out).write_text(json.dumps(summary, indent=1))
        return 0
    gpus = torch.cuda.device_count()
    summary.update(gpus=gpus, names=[torch.cuda.get_device_name(i) for i in range(gpus)],
                   cuda_version=torch.version.cuda)
    print(f"CUDA {torch.version.cuda}, torch {torch.__version__}, {gpus} GPU(s): {', '.join(summary['names'])}")
    from w2s.tiny import build_tiny_model

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "tiny", hidden_size=64, intermediate_size=128)
        (work / "data").mkdir()
        data = questions(work / "data" / "train.jsonl")
        for split in ("train_1", "train_2", "test"):
            questions(work / "data" / f"{split}.jsonl")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ["W2S_HOME"] = str(work / "home")
        for name, command in checks(model, data, work, gpus):
            summary["checks"].append(run_check(name, command))
            Path(args.out).write_text(json.dumps(summary, indent=1))  # what ran so far survives a kill
    failed = [c["check"] for c in summary["checks"] if not c["ok"]]
    print(f"{len(summary['checks']) - len(failed)} of {len(summary['checks'])} checks passed"
          + (f"; failed: {'; '.join(failed)}" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
