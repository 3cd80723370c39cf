"""The task contract: examples from a split, one prompt format, exactly one grader."""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2s.errors import W2SError
from w2s.graders import Grader
from w2s.jsonl import iter_jsonl

Message = dict[str, str]


@dataclass(frozen=True)
class Example:
    """One question with its gold final answer (and full gold solution when the data has one)."""

    id: str
    question: str
    answer: str
    solution: str | None = None
    rejected: str | None = None  # preference data: the reply that was not chosen (`answer` was)


class Task(ABC):
    """A benchmark: where its data lives, how to ask a question, how to grade an answer."""

    name: str
    grader: Grader
    hub_id: str | None = None
    hub_config: str | None = None
    local_dir: str | None = None  # folder name under a data root, e.g. "gsm8k"
    answer_format = "Please reason step by step, and put your final answer within \\boxed{}."

    @classmethod
    def from_spec(cls, spec: str) -> Task:
        """The task for a spec (`get_task`): its name; tasks that take `?key=value` parameters override this."""
        if "?" in spec:
            raise W2SError(f"task '{spec}': {cls.name} takes no parameters")
        return cls()

    def messages(self, question: str) -> list[Message]:
        """The chat prompt for a question (the student's no-instruction baseline)."""
        return [{"role": "user", "content": f"{question}\n{self.answer_format}"}]

    def load(self, split: str = "test", data: str | None = None, limit: int | None = None,
             seed: int | None = None, offset: int = 0) -> list[Example]:
        """Examples of `split` from `data` (JSONL file, folder of `<split>.jsonl`, or hub id).

        With no `data`, the first `<root>/<local_dir>/<split>.jsonl` found under the data roots
        (`$W2S_DATA_DIR`, `./shared/data`, `../shared/data`) is used, else the hub. `seed`
        shuffles before `offset` and `limit` are applied, so a seeded limit is a random sample;
        `offset` skips that many first (questions a published evaluation already used, say).
        """
        examples = self._load_all(split, data)
        if not examples:
            raise W2SError(f"task '{self.name}': split '{split}' from {data or 'default source'} is empty")
        if seed is not None:
            random.Random(seed).shuffle(examples)
        if offset:
            if offset >= len(examples):
                raise W2SError(f"task '{self.name}': offset {offset} skips all {len(examples)} questions of "
                               f"split '{split}'")
            examples = examples[offset:]
        if limit is not None:
            if limit <= 0:
                raise W2SError(f"limit must be positive, got {limit}")
            examples = examples[:limit]
        return examples

    def load_pairs(self, split: str, data: str | None = None, limit: int | None = None,
                   seed: int | None = None) -> list[Example]:
        """`load`, for preference pairs (reward models, judges): every row must have a rejected
        reply, and the first that does not is named in one line."""
        examples = self.load(split, data, limit, seed)
        missing = next((e for e in examples if e.rejected is None), None)
        if missing is not None:
            raise W2SError(f"task '{self.name}' split '{split}' row {missing.id}: no rejected reply; preference "
                           "pairs need both a chosen and a rejected reply")
        return examples

    def target_text(self, example: Example) -> str:
        """The gold solution written the way the prompt asks answers to look (SFT targets).

        Ends with the final answer in \\boxed{}, so a model fine-tuned on it answers in the format
        the grader reads strictly. Without a gold solution, the boxed answer alone.
        """
        solution = (example.solution or "").strip()
        if "\\boxed" in solution:
            return solution
        final = f"The final answer is $\\boxed{{{example.answer}}}$."
        return f"{solution}\n{final}" if solution else final

    def gold_from_text(self, text: str) -> str:
        """A gold final answer from a gold field that may hold a whole solution."""
        return text.strip()

    @abstractmethod
    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example:
        """Normalize one raw row (local JSONL or hub) to an Example; `where` names it in errors."""

    def _load_all(self, split: str, data: str | None) -> list[Example]:
        path = self._local_path(split, data)
        if path is not None:
            return [self.example_from_row(row, f"{path}:{n}", n) for n, row in iter_jsonl(path)]
        source = data or self.hub_id
        if source is None:
            raise W2SError(f"task '{self.name}': no data for split '{split}'; pass --data PATH")
        return [self.example_from_row(dict(row), f"{source}[{split}][{i}]", i)
                for i, row in enumerate(self._load_hub(source, split))]

    def _local_path(self, split: str, data: str | None) -> Path | None:
        if data is not None:
            path = Path(data).expanduser()
            if path.is_file():
                return path
            if path.is_dir():
                for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
                    if (path / name).is_file():
                        return path / name
                raise W2SError(f"{path}: no {split}.jsonl in this folder")
            if data.startswith((".", "/", "~")) or data.endswith((".jsonl", ".gz")):
                raise W2SError(f"{data}: no such file or folder")
            return None  # a hub id
        for root in data_roots():
            for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
                candidate = root / (self.local_dir or self.name) / name
                if candidate.is_file():
                    return candidate
        return None

    def _load_hub(self, hub_id: str, split: str):
        import datasets

        try:
            return datasets.load_dataset(hub_id, self.hub_config, split=split)
        except Exception as err:  # noqa: BLE001 - every hub failure gets the same advice
            raise W2SError(
                f"task '{self.name}': could not load split '{split}' of '{hub_id}' from the hub "
                f"({type(err).__name__}); pass --data with a local JSONL file or folder"
            ) from None


def data_roots() -> list[Path]:
    """Folders searched for `<task>/<split>.jsonl` when no data path is given."""
    roots = []
    if os.environ.get("W2S_DATA_DIR"):
        roots.append(Path(os.environ["W2S_DATA_DIR"]).expanduser())
    roots += [Path("shared/data"), Path("../shared/data")]
    return [root for root in roots if root.is_dir()]


def text_field(row: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    """The first of `keys` present in row, as a non-empty string; else a one-line error.

    Numbers are accepted (GSM8K answers are often stored as numbers); lists, dicts and booleans
    are refused, so `w2s eval` never renders `['a', 'b']` as a question or grades against it.
    This is the one validation of task fields, shared by every command that loads a task.
    """
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise W2SError(f"{where}: field '{key}' must be a string or number, got {type(value).__name__}")
        if str(value).strip():
            return str(value)
    present = [k for k in keys if k in row]
    if present:  # there, but null or blank: say so rather than call it missing
        raise W2SError(f"{where}: field '{present[0]}' is {'null' if row[present[0]] is None else 'empty'}; "
                       "expected a non-empty string or number")
    have = ", ".join(sorted(row)) or "none"
    raise W2SError(f"{where}: missing field '{keys[0]}' (fields present: {have})")
