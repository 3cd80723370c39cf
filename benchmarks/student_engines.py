"""Student engines on the same prompts in one run: hf static, hf continuous, llama.cpp, vLLM's server.

    python benchmarks/student_engines.py [--model qwen2.5-0.5b-instruct] [--questions 32]
        [--max-tokens 256] [--batch-size 16] [--engines hf-static,hf-continuous,llamacpp]

Each engine answers the same GSM8K train_2 questions greedily in a fresh process with an empty
response cache (so every answer is really generated and peak memory is the engine's own). For
llamacpp the peak memory is the llama-server process's (VmHWM), plus the client's. Printed per
engine: generated tokens/s (as a ratio to the first engine: the machine is shared and noisy, so
compare ratios within one run, not absolute numbers across runs), wall time, peak memory,
accuracy against the gold answers (marked final answers, with a 95% interval), and how often its
marked final answer agrees with the first engine's where both have one.

An engine may be listed more than once (`--engines llamacpp,llamacpp`): a repeat also reports how
many of its answers are token-for-token identical to the engine's previous run, which is how the
reproducibility of greedy answers is measured. `llamacpp-1slot` is llamacpp with one slot.
llamacpp needs a llama-server (`w2s engines install llamacpp`); it is skipped with a note when
there is none. `llamacpp-<threads>t` pins llama-server's threads. `hf-static-bf16` is hf static in bf16 (fast
only on a CPU with native bf16: AVX512-BF16 or AMX). `--task`/`--split` pick other questions (the
organism's `validation` split at 128 tokens, where answers finish and agreement means something).
`vllm-<dtype>-<threads>t` is the vllm-server backend (`w2s engines install vllm`)
at that precision and thread count (`vllm-<dtype>-2t-noreserve`: with no core kept for vLLM's
scheduler); its start-up time (load and warm-up) is reported apart, and
its memory is the server's process tree at the end (the server's own workers included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = {
    "hf-static": {"backend": "hf", "batching": "static"},
    "hf-continuous": {"backend": "hf", "batching": "continuous"},
    "hf-static-bf16": {"backend": "hf", "batching": "static", "dtype": "bfloat16"},
    "llamacpp": {"backend": "llamacpp"},
    "llamacpp-1slot": {"backend": "llamacpp", "slots": 1},
    **{f"llamacpp-{threads}t": {"backend": "llamacpp", "threads": threads} for threads in (1, 2)},
    **{f"vllm-{dtype}-{threads}t": {"backend": "vllm-server", "dtype": {"fp32": "float32", "bf16": "bfloat16"}[dtype],
                                    "threads": threads} for dtype in ("fp32", "bf16") for threads in (1, 2)},
    # vLLM's CPU build keeps one core for its engine's scheduler, which polls busily; this gives
    # the worker every core instead (VLLM_CPU_NUM_OF_RESERVED_CPU=0), the scheduler competing for one
    **{f"vllm-{dtype}-2t-noreserve": {"backend": "vllm-server", "dtype": {"fp32": "float32", "bf16": "bfloat16"}[dtype],
                                      "threads": 2, "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}}
       for dtype in ("fp32", "bf16")},
}


def run_one(args: argparse.Namespace) -> None:
    """Child process: one engine, fresh cache; prints a JSON line of its measurements."""
    from w2s.cache import ResponseCache
    from w2s.scoring import score_responses
    from w2s.students import SamplingParams, StudentConfig, make_student
    from w2s.tasks import get_task

    task = get_task(args.task)
    examples = task.load(args.split, limit=args.questions, seed=0)
    spec = ENGINES[args.engine]
    extra = {"slots": spec.get("slots", args.batch_size)} if spec["backend"] == "llamacpp" else {}
    if "threads" in spec and spec["backend"] == "llamacpp":
        extra["threads"] = spec["threads"]
    options = {"batch_size": args.batch_size, "batching": spec.get("batching", "static"),
               "dtype": spec.get("dtype", "auto")}
    if spec["backend"] == "vllm-server":
        extra, options = {"threads": spec["threads"]}, {"dtype": spec["dtype"], "concurrency": args.batch_size}
    config = StudentConfig(model=args.model, backend=spec["backend"], extra=extra, **options)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        student = make_student(config, ResponseCache(Path(tmp) / "cache.sqlite"))
        startup = time.perf_counter() - started
        start = time.perf_counter()
        outs = student.generate([task.messages(e.question) for e in examples], SamplingParams(max_tokens=args.max_tokens),
                                desc=args.engine)
        wall = time.perf_counter() - start
        server_peak_kb = 0
        if spec["backend"] == "llamacpp":
            pid = student.server.process.pid
            status = Path(f"/proc/{pid}/status").read_text()
            server_peak_kb = int(status.split("VmHWM:")[1].split()[0])
            student.close()
        if spec["backend"] == "vllm-server":  # the API server and its engine/worker processes, at the end
            import psutil

            root = psutil.Process(student.server.process.pid)
            server_peak_kb = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) // 1024
            student.close()
    texts = [o[0].text for o in outs]
    rows = score_responses(task, examples, texts).rows
    print(json.dumps({"engine": args.engine, "tokens": student.stats.tokens, "wall_s": wall, "startup_s": startup,
                      "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + server_peak_kb) / 1024,
                      "preds": [r["strict_pred"] for r in rows], "correct": [r["strict_correct"] for r in rows],
                      "texts": texts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-0.5b-instruct")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--engines", default="hf-static,hf-continuous,llamacpp")
    parser.add_argument("--task", default="gsm8k")
    parser.add_argument("--split", default="train_2", help="a split never used for test results")
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.engine:
        run_one(args)
        return
    from w2s.engines import installed_engines

    results = []
    for engine in args.engines.split(","):
        needs = "vllm" if engine.startswith("vllm") else "llamacpp" if engine.startswith("llamacpp") else None
        if needs and installed_engines()[needs].startswith("not installed"):
            print(f"{engine}: skipped (`w2s engines install {needs}`)")
            continue
        done = subprocess.run([sys.executable, __file__, "--engine", engine, "--model", args.model, "--questions",
                               str(args.questions), "--max-tokens", str(args.max_tokens), "--batch-size",
                               str(args.batch_size), "--task", args.task, "--split", args.split], capture_output=True, text=True,
                              env={**os.environ, **ENGINES[engine].get("env", {})})
        if done.returncode != 0:
            print(f"{engine}: failed ({(done.stderr.strip().splitlines() or ['no output'])[-1]})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not results:
        return
    from w2s.stats import bootstrap_ci

    first = results[0]
    print(f"{args.questions} {args.task} {args.split} questions, greedy, {args.max_tokens} tokens, batch/slots {args.batch_size}")
    print("| engine | generated tokens/s | ratio to first | wall s | start-up s | peak memory MB | accuracy (marked answer) "
          "| same marked answer as first | identical to its previous run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    base_rate = first["tokens"] / first["wall_s"]
    previous: dict[str, list[str]] = {}
    for r in results:
        rate = r["tokens"] / r["wall_s"]
        both = [(a, b) for a, b in zip(first["preds"], r["preds"], strict=True) if a is not None and b is not None]
        agree = sum(a == b for a, b in both)
        acc = bootstrap_ci(r["correct"])
        before = previous.get(r["engine"])
        same = "" if before is None else f"{sum(a == b for a, b in zip(before, r['texts'], strict=True))}/{len(before)}"
        previous[r["engine"]] = r["texts"]
        print(f"| {r['engine']} | {rate:.1f} | {rate / base_rate:.2f}x | {r['wall_s']:.0f} | {r['startup_s']:.0f} | "
              f"{r['peak_mb']:.0f} | "
              f"{acc.value:.2f} [{acc.low:.2f}, {acc.high:.2f}] | {agree}/{len(both)} (where both have one) | {same} |")


if __name__ == "__main__":
    main()
