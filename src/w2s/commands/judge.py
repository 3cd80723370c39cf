"""`w2s judge check`: a pairwise judge's agreement with human labels, and its position bias.

The judge itself, `PairwiseJudge`, is in `w2s.judge` (a scoring component used by `w2s wst eval`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from w2s.config import cache_setting, check_ranges, data_setting, seed_setting, setting, task_setting, to_dict
from w2s.judge import PairwiseJudge, position_report
from w2s.students import StudentConfig


@dataclass
class JudgeCheckConfig:
    """`w2s judge check`: how often a judge agrees with human preference labels (chosen vs rejected).

    A judge is only a second opinion if it can tell good replies from bad ones; this measures it
    on labelled pairs the evaluation never uses (hh_rlhf's `rm_test` by default) before its
    verdicts are trusted.
    """

    task: str = task_setting("hh_rlhf")
    data: str | None = data_setting()
    split: str = setting("rm_test", help="labelled split")
    limit: int | None = setting(None, low=1, help="pairs (None: all)")
    seed: int | None = seed_setting()
    output: str | None = setting(None, help="a folder for judge_check.json and the per-pair verdicts")
    cache: str | None = cache_setting()
    judge: StudentConfig = setting(default_factory=lambda: StudentConfig(model="qwen2.5-0.5b-instruct"),
                                   help="the judge", flags={"model": "model", "backend": "backend"})
    mode: Literal["verdict", "probability"] = setting(
        "verdict", help="verdict: the judge's generated A/B/tie (any backend); probability: its log-probabilities of A "
                        "and B averaged over both orders, no generation (hf, or a vLLM server)")

    def __post_init__(self) -> None:
        check_ranges(self)


def check_judge(config: JudgeCheckConfig) -> dict:
    """Agreement = mean verdict for the human-chosen reply (1 chosen, 0.5 tie, 0 rejected; in
    probability mode the order-averaged probability), with its interval; 0.5 is a judge with no
    signal. Also the verdicts' split (above / below 0.5) and the exact sign test between them."""
    from w2s.cache import ResponseCache
    from w2s.jsonl import write_json, write_jsonl
    from w2s.outputs import plan_writes
    from w2s.paths import default_cache_path
    from w2s.stats import bootstrap_ci, mcnemar_exact
    from w2s.students import make_student
    from w2s.tasks import get_task

    task = get_task(config.task)
    examples = task.load_pairs(config.split, config.data, config.limit, config.seed)
    out = Path(config.output) if config.output else None
    cache_path = config.cache or default_cache_path()
    plan_writes([out / "verdicts.jsonl", out / "judge_check.json"] if out else [], reads=[config.data],
                cache=cache_path)
    judge = PairwiseJudge(make_student(config.judge, ResponseCache(cache_path)),
                          mode=config.mode)
    chats = [task.messages(e.question) for e in examples]
    judged = judge.compare(chats, [e.answer for e in examples], [e.rejected for e in examples])
    verdicts = judged.scores
    chosen_wins, rejected_wins, p = mcnemar_exact([0.5] * len(verdicts), verdicts)
    result = {"judge": config.judge.model, "backend": config.judge.backend, "mode": config.mode, "task": task.name,
              "split": config.split,
              "agreement": bootstrap_ci(verdicts).to_dict(), "chosen_wins": chosen_wins,
              "rejected_wins": rejected_wins, "ties": len(verdicts) - chosen_wins - rejected_wins, "sign_p": p,
              "unreadable_answers": judged.unreadable, **position_report(judged.orders), "config": to_dict(config)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # the judge's own answer in each order (chosen shown first, then rejected shown first)
        write_jsonl(out / "verdicts.jsonl", [{"id": e.id, "verdict_for_chosen": v, "chosen_first": f,
                                              "rejected_first": b}
                                             for e, v, (f, b) in zip(examples, verdicts, judged.orders,
                                                                     strict=True)])
        write_json(out / "judge_check.json", result, indent=1)
    return result
