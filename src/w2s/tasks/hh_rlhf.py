"""HH-RLHF (Anthropic's helpful/harmless dialogues) as an open-ended task graded by a reward model.

    get_task("hh_rlhf")                                         # harmless-base, the default grader
    get_task("hh_rlhf?subset=helpful-base&reward_model=PATH")   # another subset, another reward model

A row is a pair of full dialogues, `chosen` and `rejected`, that share everything up to the
final Assistant reply. The question is that shared dialogue up to its last Human turn,
rendered for a student as chat messages; `answer` keeps the chosen reply and `rejected` the
rejected one (for reward-model training and checks).

Data: `<data root>/hh_rlhf/<subset>-<split>.jsonl[.gz]` when the subset's train file exists
too, else the hub (`Anthropic/hh-rlhf`, `data_dir=<subset>`). When only the subset's *test*
file is present (as offline here), every split is carved out of it: its distinct prompts are
shuffled with a fixed seed and cut into disjoint shares, `rm_train` 40%, `rm_test` 10%, `train`
20%, `validation` 5% and `test` 25%, so the reward model, the WST teacher and the evaluation
never see the same prompt.

The grader is a reward model (`RewardModelGrader`): `reward_model=` a hub id or folder of any
sequence-classification reward model, else the one `w2s rm train` writes by default.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import yaml

from w2s.errors import W2SError
from w2s.graders import Grade, Grader
from w2s.jsonl import iter_jsonl
from w2s.tasks.base import Example, Message, Task, data_roots

SUBSETS = ("harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled")
# Shares of the one local file, in order; disjoint by construction.
DERIVED_SPLITS = {"rm_train": 0.40, "rm_test": 0.10, "train": 0.20, "validation": 0.05, "test": 0.25}
_SPLIT_SEED = 0
_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_dialogue(text: str, where: str = "dialogue") -> list[Message]:
    """`\\n\\nHuman: … \\n\\nAssistant: …` as chat messages (user/assistant), in order."""
    parts = _TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise W2SError(f"{where}: expected a dialogue of '\\n\\nHuman: ' and '\\n\\nAssistant: ' turns")
    return [{"role": "user" if speaker == "Human" else "assistant", "content": content.strip()}
            for speaker, content in zip(parts[1::2], parts[2::2], strict=True)]


def split_pair(chosen: str, rejected: str, where: str) -> tuple[str, str, str] | None:
    """(prompt dialogue up to its last Human turn, chosen reply, rejected reply), or None.

    The prompt is the two dialogues' common part, cut before its last `\n\nAssistant: ` (in a
    few rows the two differ before the final reply, and a turn marker lacks its blank line).
    None when that prompt does not end with a Human turn: such a row cannot be asked.
    """
    marker = "\n\nAssistant: "
    common = len(os.path.commonprefix([chosen, rejected + "\0"]))
    cut = chosen.rfind(marker, 0, common + len(marker))
    if cut < 0 or not rejected.startswith(chosen[:cut + len(marker)]):
        cut = chosen.rfind(marker, 0, common)
    if cut < 0:
        return None
    prompt = chosen[:cut]
    try:
        if parse_dialogue(prompt, where)[-1]["role"] != "user":
            return None
    except W2SError:
        return None
    return prompt, chosen[cut + len(marker):].strip(), rejected[cut + len(marker):].strip()


class RewardModelGrader(Grader):
    """A reward model's score for a reply to a chat; loaded on first use, scores cached."""

    name = "reward-model"
    scalar = True

    def __init__(self, model: str | None) -> None:
        self.model_name = model
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from w2s.reward_model import RewardModel, default_reward_model

            self._model = RewardModel(self.model_name or default_reward_model())
        return self._model

    def extract(self, response: str, strict: bool = False) -> str | None:
        return None  # open-ended: nothing to extract

    def equivalent(self, pred: str | None, gold: str, question: str | None = None) -> bool:
        return False

    def grade(self, response: str, gold: str) -> Grade:
        raise W2SError("the reward-model grader scores a reply to a chat: use grade_batch(prompts, responses, golds)")

    def grade_batch(self, prompts: list, responses: list[str], golds: list[str]) -> list[Grade]:
        scores = self.model.score(prompts, responses)
        return [Grade(None, False, None, False, score) for score in scores]


class HHRLHF(Task):
    """Anthropic HH-RLHF dialogues, graded by a reward model (see the module docstring)."""

    name = "hh_rlhf"
    hub_id = "Anthropic/hh-rlhf"
    local_dir = "hh_rlhf"

    @classmethod
    def from_spec(cls, spec: str) -> Task:
        return cls(spec)

    def __init__(self, spec: str = "hh_rlhf") -> None:
        self.name = spec
        _, _, query = spec.partition("?")
        params: dict[str, Any] = {}
        for item in filter(None, query.split("&")):
            key, sep, raw = item.partition("=")
            if not sep or key not in ("subset", "reward_model"):
                raise W2SError(f"task '{spec}': expected parameters subset=... and/or reward_model=..., got '{item}'")
            params[key] = str(yaml.safe_load(raw))
        self.subset = params.get("subset", "harmless-base")
        if self.subset not in SUBSETS:
            raise W2SError(f"task '{spec}': unknown subset '{self.subset}' (expected one of: {', '.join(SUBSETS)})")
        self.grader = RewardModelGrader(params.get("reward_model"))

    def messages(self, question: str) -> list[Message]:
        return parse_dialogue(question)

    def target_text(self, example: Example) -> str:
        return example.answer  # the chosen reply

    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example | None:
        """The row as an Example; None (skipped, and counted) when its dialogue cannot be asked."""
        for key in ("chosen", "rejected"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise W2SError(f"{where}: expected a non-empty string '{key}' (HH-RLHF rows have chosen and "
                               f"rejected dialogues; keys present: {', '.join(sorted(row)) or 'none'})")
        parts = split_pair(row["chosen"], row["rejected"], where)
        if parts is None:
            return None
        prompt, chosen, rejected = parts
        return Example(str(row.get("id", f"{self.subset}-{index}")), prompt, chosen, rejected=rejected)

    def _load_all(self, split: str, data: str | None) -> list[Example]:
        if data is not None:
            return _kept(super()._load_all(split, data))
        own = self._file(split)
        if own is not None and self._file("train") is not None:  # the subset's real splits are here
            return _kept([self.example_from_row(row, f"{own}:{n}", n) for n, row in iter_jsonl(own)])
        test = self._file("test")
        if test is not None and split in DERIVED_SPLITS:
            examples = [self.example_from_row(row, f"{test}:{n}", n) for n, row in iter_jsonl(test)]
            return _derived_split(_kept(examples), split)
        if test is not None:
            raise W2SError(f"task '{self.name}': unknown split '{split}' (from {test.name}: "
                           f"{', '.join(DERIVED_SPLITS)})")
        return _kept([self.example_from_row(dict(row), f"{self.hub_id}[{split}][{i}]", i)
                      for i, row in enumerate(self._load_hub_subset(split))])

    def _file(self, split: str) -> Path | None:
        for root in data_roots():
            for name in (f"{self.subset}-{split}.jsonl", f"{self.subset}-{split}.jsonl.gz"):
                if (root / self.local_dir / name).is_file():
                    return root / self.local_dir / name
        return None

    def _load_hub_subset(self, split: str):
        import datasets

        try:
            return datasets.load_dataset(self.hub_id, data_dir=self.subset, split=split)
        except Exception as err:  # noqa: BLE001
            raise W2SError(f"task '{self.name}': could not load split '{split}' of {self.hub_id} ({self.subset}) "
                           f"from the hub ({type(err).__name__}); pass --data with a local JSONL file") from None


def _kept(examples: list[Example | None]) -> list[Example]:
    """Examples minus the rows that cannot be asked (said once, never silently)."""
    kept = [e for e in examples if e is not None]
    if len(kept) < len(examples):
        print(f"note: hh_rlhf: {len(examples) - len(kept)} of {len(examples)} rows skipped (their dialogue "
              "before the final reply does not end with a Human turn)")
    return kept


def _derived_split(examples: list[Example], split: str) -> list[Example]:
    """The split's share of one file's prompts, shuffled with a fixed seed.

    Shares are of distinct prompts (a prompt can appear in several rows), so no prompt is in two
    splits; rows keep their file order within a split.
    """
    prompts = list(dict.fromkeys(e.question for e in examples))
    random.Random(_SPLIT_SEED).shuffle(prompts)
    start, share_of = 0.0, {}
    for name, share in DERIVED_SPLITS.items():
        lo, hi = round(start * len(prompts)), round((start + share) * len(prompts))
        share_of.update({p: name for p in prompts[lo:hi]})
        start += share
    if split not in DERIVED_SPLITS:
        raise W2SError(f"unknown split '{split}'")
    return [e for e in examples if share_of[e.question] == split]
