"""How much memory a fine-tune leaves in the process, with and without returning freed pages.

    python benchmarks/finetune_memory.py [--model qwen2.5-coder-0.5b-instruct] [--steps 2]

The reasoning pipeline trains a model, then starts a vLLM server for the next step in the same
process tree: memory the trainer freed but the process kept is memory the server cannot have (a
1.5B LoRA fine-tune left 18.7 GB and the next server ran a 24 GB machine out of memory). This
trains a few LoRA SFT steps with `w2s.training.finetune` (which returns freed pages at its end)
and prints the process's resident memory before, at the peak, and after.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def rss_gb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    from w2s.training import FinetuneConfig, finetune

    rows = [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}],
             "completion": [{"role": "assistant", "content": f"{i} + {i} = {2 * i}. The answer is {2 * i}."}]}
            for i in range(4 * args.steps)]
    before = rss_gb()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        finetune("sft", args.model, rows, Path(out) / "model", FinetuneConfig(epochs=1, batch_size=4, max_length=64))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{args.model}, {args.steps} LoRA SFT steps ({time.perf_counter() - started:.0f} s): resident memory "
          f"{before:.2f} GB before, {peak:.2f} GB at the peak, {rss_gb():.2f} GB after")


if __name__ == "__main__":
    main()
