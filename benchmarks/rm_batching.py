"""Reward-model scoring: batches in arrival order against batches sorted longest first.

    python benchmarks/rm_batching.py [--model PATH] [--pairs 64] [--batch-size 8]

HH-RLHF chats run from one line to ~1,000 tokens. A batch is padded to its longest text, so in
arrival order much of each batch is padding; `RewardModel.score` sorts what it has to score
longest first, so each batch holds texts of similar length. Here the chosen and rejected
replies of `--pairs` `rm_test` dialogues are scored both ways, in one process, with no response
cache (a fresh one for the sorted run). Prints the tokens each way computes (padding included),
seconds, the ratio, and the largest difference between the two runs' scores (padding should
change nothing beyond float rounding).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from w2s.cache import ResponseCache
from w2s.reward_model import RewardModel, default_reward_model, render
from w2s.students.hf import set_cpu_threads
from w2s.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="reward model (default: the offline default reward model)")
    parser.add_argument("--pairs", type=int, default=64, help="rm_test dialogues; each gives two replies")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--data", default=None, help="HH-RLHF data (default: shared data or hub)")
    args = parser.parse_args()

    set_cpu_threads()
    task = get_task("hh_rlhf")
    examples = task.load_pairs("rm_test", args.data, limit=args.pairs)
    chats = [task.messages(e.question) for e in examples for _ in range(2)]
    replies = [r for e in examples for r in (e.answer, e.rejected)]
    with tempfile.TemporaryDirectory() as tmp:
        rm = RewardModel(args.model or default_reward_model(), batch_size=args.batch_size, dtype="float32",
                         cache=ResponseCache(Path(tmp) / "cache.sqlite"), max_length=args.max_length)
        texts = [render(rm.tokenizer, c, r) for c, r in zip(chats, replies, strict=True)]
        lengths = [min(len(ids), args.max_length) for ids in rm.tokenizer(texts, add_special_tokens=False)["input_ids"]]

        def computed(order: list[int]) -> int:
            """Tokens the model runs on, padding included, with batches taken in this order."""
            return sum(max(lengths[i] for i in order[s:s + args.batch_size]) * len(order[s:s + args.batch_size])
                       for s in range(0, len(order), args.batch_size))

        start = time.perf_counter()
        arrival = []
        for s in range(0, len(texts), args.batch_size):
            inputs = rm.tokenizer(texts[s:s + args.batch_size], return_tensors="pt", padding=True, truncation=True,
                                  max_length=args.max_length, add_special_tokens=False)
            with torch.inference_mode():
                arrival += rm.model(**inputs).logits[:, 0].float().tolist()
        arrival_s = time.perf_counter() - start
        start = time.perf_counter()
        sorted_scores = rm.score(chats, replies)
        sorted_s = time.perf_counter() - start
    longest_first = sorted(range(len(texts)), key=lambda i: -lengths[i])
    print(f"{len(texts)} replies to {args.pairs} rm_test dialogues, {sum(lengths)} tokens, batch {args.batch_size}, "
          f"max_length {args.max_length}, fp32, model {rm.name}")
    for name, order, s in (("arrival", list(range(len(texts))), arrival_s), ("sorted", longest_first, sorted_s)):
        print(f"{name:>8}: {computed(order):7d} tokens computed  {s:7.1f} s  {arrival_s / s:5.2f}x arrival")
    print(f"largest score difference: {max(abs(a - b) for a, b in zip(arrival, sorted_scores, strict=True)):.2e}")


if __name__ == "__main__":
    main()
