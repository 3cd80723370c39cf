"""GSM-Symbolic: GSM8K-style problems generated offline by reasoning-gym, with exact answers.

Needs no data files at all, so it is the fallback task when neither local data nor the hub is
available. Splits are different generator seeds, and the train split drops any question that
also occurs in the test split of the same size, so the two never overlap.
"""

from __future__ import annotations

from typing import Any

from w2s.errors import W2SError
from w2s.graders import NumericGrader
from w2s.tasks.base import Example, Task

# reasoning-gym seeds item i with (seed + i): nearby seeds are shifted copies of one stream (with
# seeds 1 and 3, train lost all but 2 of 1000 items to the test overlap), so seeds lie far apart.
_SPLIT_SEEDS = {"train": 10_000_000, "validation": 20_000_000, "test": 30_000_000}
_DEFAULT_SIZE = 1000


class GSMSymbolic(Task):
    name = "gsm_symbolic"
    grader = NumericGrader()

    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example:
        return Example(str(row.get("id", index)), str(row["question"]), str(row["answer"]))

    def _load_all(self, split: str, data: str | None) -> list[Example]:
        if data is not None:
            return super()._load_all(split, data)
        if split not in _SPLIT_SEEDS:
            raise W2SError(f"task 'gsm_symbolic': unknown split '{split}' (expected one of: {', '.join(_SPLIT_SEEDS)})")
        rows = _generate(split, _DEFAULT_SIZE)
        if split != "test":
            test_questions = {row["question"] for row in _generate("test", _DEFAULT_SIZE)}
            rows = [row for row in rows if row["question"] not in test_questions]
        return [self.example_from_row(row, f"gsm_symbolic[{split}][{i}]", i) for i, row in enumerate(rows)]


def _generate(split: str, size: int) -> list[dict[str, Any]]:
    import reasoning_gym

    dataset = reasoning_gym.create_dataset("gsm_symbolic", size=size, seed=_SPLIT_SEEDS[split])
    return [{"id": f"{split}-{i}", "question": item["question"], "answer": str(item["answer"])}
            for i, item in enumerate(dataset)]
