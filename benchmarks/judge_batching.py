"""hf batching modes on the pairwise judge's workload: long prompts that share a prefix, few new tokens.

    python benchmarks/judge_batching.py [--dialogues 8] [--batch-size 16] [--dtype float32]
        [--batchings static,continuous]

A judge prompt is the judge's instructions, the whole conversation (HH-RLHF dialogues run to
~800 tokens), then reply A and reply B. `w2s wst eval` asks the judge about every condition
against no instruction, in both orders: eight prompts per dialogue that share everything up to
the replies. Static batches prefill every prompt in full. transformers' continuous batching
keeps completed KV blocks and shares them with a later prompt that starts with the same tokens
(block sharing), so a dialogue's later prompts prefill only their replies, when they come soon
after its first.

Here each `rm_test` dialogue gets `--pairs` reply pairs built from its chosen and rejected
replies (whole, and cut to half), each in both orders, with the prompts of one dialogue next to
each other. They are asked once per batching mode, greedy, no response cache, in one process.
Prints prompt tokens, seconds, the ratio to the first mode, and how many verdicts agree with it.
"""

from __future__ import annotations

import argparse
import time

from w2s.judge import JUDGE_PROMPT, conversation_text, parse_verdict
from w2s.students import SamplingParams
from w2s.students.hf import HFStudent, set_cpu_threads
from w2s.tasks import get_task


def judge_prompts(chat: list[dict], chosen: str, rejected: str, pairs: int) -> list[list[dict]]:
    """`pairs` distinct (A, B) reply pairs for one conversation, each in both orders."""
    half_chosen, half_rejected = chosen[: len(chosen) // 2], rejected[: len(rejected) // 2]
    candidates = [(chosen, rejected), (half_chosen, rejected), (chosen, half_rejected), (half_chosen, half_rejected)]
    conversation = conversation_text(chat)
    return [[{"role": "user", "content": JUDGE_PROMPT.format(conversation=conversation, a=x, b=y)}]
            for a, b in candidates[:pairs] for x, y in ((a, b), (b, a))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-0.5b-instruct", help="judge model (any w2s model name)")
    parser.add_argument("--dialogues", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=4, help="reply pairs per dialogue (1-4), each in both orders")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batchings", default="static,continuous", help="modes to compare; the first is the reference")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--data", default=None, help="HH-RLHF data (default: shared data or hub)")
    args = parser.parse_args()

    set_cpu_threads()
    task = get_task("hh_rlhf")
    prompts = [p for e in task.load_pairs("rm_test", args.data, limit=args.dialogues)
               for p in judge_prompts(task.messages(e.question), e.answer, e.rejected, args.pairs)]
    params = SamplingParams(max_tokens=8)
    verdicts, seconds = {}, {}
    for batching in args.batchings.split(","):
        judge = HFStudent(args.model, batch_size=args.batch_size, dtype=args.dtype, batching=batching)
        judge.show_progress = False
        tokens = sum(len(judge.tokenizer(judge.render(p))["input_ids"]) for p in prompts)
        start = time.perf_counter()
        answers = judge.generate(prompts, params, progress=False)
        seconds[batching] = time.perf_counter() - start
        verdicts[batching] = [parse_verdict(a[0].text) for a in answers]
        del judge
    first = next(iter(seconds))
    print(f"{len(prompts)} judge prompts ({args.dialogues} dialogues x {args.pairs} pairs x 2 orders), "
          f"{tokens} prompt tokens, {args.dtype}, batch {args.batch_size}")
    for mode, s in seconds.items():
        same = sum(a == b for a, b in zip(verdicts[mode], verdicts[first], strict=True))
        print(f"{mode:>12}: {s:7.1f} s  {tokens / s:7.1f} prompt tokens/s  {seconds[first] / s:5.2f}x {first}  "
              f"verdicts equal to {first}: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
