"""Student generation throughput (hf backend) at several batch sizes, against this machine's limit.

    python benchmarks/student_throughput.py [--model qwen2.5-0.5b-instruct] [--max-tokens 128]

Prompts are real GSM8K test questions in the chat format `w2s eval` uses (a different slice per
batch size, and no response cache, so nothing is reused). Tokens/s counts generated tokens
only, prefill included in the time. The limit is measured in the same process: fp32 matmul
GFLOP/s divided by the FLOPs per generated token (2 x the parameters of every linear layer,
lm_head included; the embedding lookup is not a matmul).
"""

from __future__ import annotations

import argparse
import time

import torch

from w2s.students import SamplingParams
from w2s.students.hf import HFStudent, set_cpu_threads
from w2s.tasks import get_task


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def linear_params(model: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-0.5b-instruct", help="any w2s model name")
    parser.add_argument("--max-tokens", type=int, default=128, help="new tokens per answer")
    parser.add_argument("--batch-sizes", default="1,4,8,16", help="comma-separated batch sizes")
    parser.add_argument("--data", default=None, help="GSM8K test JSONL/folder (default: shared data or hub)")
    args = parser.parse_args()

    set_cpu_threads()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    questions = get_task("gsm8k").load("test", args.data, limit=sum(sizes))
    prompts = [get_task("gsm8k").messages(e.question) for e in questions]

    from transformers import AutoModelForCausalLM

    from w2s.models import resolve_model

    source = resolve_model(args.model)
    params = linear_params(AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32))
    student = HFStudent(args.model)  # packed oneDNN linears on CPU, as every w2s run uses
    gflops = matmul_gflops()
    limit = gflops * 1e9 / (2 * params)
    print(f"model {args.model}: {params / 1e6:.0f}M linear parameters; torch threads {torch.get_num_threads()}")
    print(f"measured fp32 matmul {gflops:.1f} GFLOP/s -> compute limit {limit:.1f} generated tokens/s")

    params_sampling = SamplingParams(max_tokens=args.max_tokens)
    rates: dict[int, float] = {}
    offset = 0
    for size in sizes:
        student.batch_size = size
        batch = prompts[offset : offset + size]
        offset += size
        tokens_before, start = student.stats.tokens, time.perf_counter()
        student.generate(batch, params_sampling, progress=False)
        seconds = time.perf_counter() - start
        rates[size] = (student.stats.tokens - tokens_before) / seconds
        print(f"batch {size:3d}: {student.stats.tokens - tokens_before:5d} tokens in {seconds:6.1f} s = "
              f"{rates[size]:6.1f} tokens/s")
    base = rates[sizes[0]]
    print("ratios:")
    for size in sizes:
        print(f"  batch {size:3d}: {rates[size] / base:5.2f}x batch {sizes[0]}, {100 * rates[size] / limit:5.1f}% of limit")


if __name__ == "__main__":
    main()
