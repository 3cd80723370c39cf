"""hf batching modes on long, varied answers: the evaluation workload.

    python benchmarks/student_batching.py [--questions 32] [--max-tokens 512] [--batch-size 16]
        [--batchings static,continuous] [--dtype bfloat16]

The same GSM8K test questions (the `w2s eval` chat format, greedy, no response cache) are answered
once per batching mode, in one process. A fixed batch (`static`) decodes until its longest
answer ends, so its short answers idle as padding; `continuous` (transformers' continuous
batching) refills a finished slot at once. Prints answered tokens/s for each, the ratio to the first mode, and how many answers came
out identical to the first mode's.
"""

from __future__ import annotations

import argparse
import time

from w2s.students import SamplingParams
from w2s.students.hf import HFStudent, set_cpu_threads
from w2s.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-0.5b-instruct", help="any w2s model name")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=512, help="answer budget (w2s wst eval uses 512)")
    parser.add_argument("--batch-size", type=int, default=16, help="static batch size")
    parser.add_argument("--batchings", default="static,continuous", help="modes to compare; the first is the reference")
    parser.add_argument("--dtype", default="auto", help="student dtype (auto = float32 on CPU)")
    parser.add_argument("--data", default=None, help="GSM8K test JSONL/folder (default: shared data or hub)")
    args = parser.parse_args()

    set_cpu_threads()
    task = get_task("gsm8k")
    prompts = [task.messages(e.question) for e in task.load("test", args.data, limit=args.questions)]
    params = SamplingParams(max_tokens=args.max_tokens)
    modes = args.batchings.split(",")
    rates, texts = {}, {}
    for batching in modes:
        student = HFStudent(args.model, batch_size=args.batch_size, batching=batching, dtype=args.dtype)
        start = time.perf_counter()
        out = student.generate(prompts, params, progress=False)
        seconds = time.perf_counter() - start
        lengths = [c[0].n_tokens for c in out]
        rates[batching] = sum(lengths) / seconds
        texts[batching] = [c[0].text for c in out]
        print(f"{batching:10s}: {sum(lengths):6d} answer tokens in {seconds:7.1f} s = {rates[batching]:5.1f} tokens/s "
              f"(answers: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)} tokens, "
              f"{sum(n == args.max_tokens for n in lengths)} at the budget)", flush=True)
    first = modes[0]
    for batching in modes[1:]:
        same = sum(a == b for a, b in zip(texts[first], texts[batching], strict=True))
        print(f"ratio {batching} / {first}: {rates[batching] / rates[first]:.2f}x; "
              f"identical answers {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
