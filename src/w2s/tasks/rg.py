"""Every reasoning-gym dataset as a w2s task: `rg:<name>`, generated offline with exact answers.

    get_task("rg:chain_sum")                              # the dataset's default difficulty
    get_task("rg:chain_sum?min_terms=2&max_terms=3")      # difficulty parameters of its config
    get_task("rg:composite?datasets=[{name: chain_sum, weight: 1}, {name: leg_counting, weight: 1}]")  # a mixture

Parameters after `?` are the fields of the dataset's reasoning-gym config (values read as YAML
scalars), so the same name works on the command line and in YAML configs. Two parameters are
w2s's own: `size` (default 1000) is how many items each split generates, and `solutions`
chooses the SFT targets (`Task.target_text`):

- `worked` (the default): a worked solution written from the item's metadata, for the datasets
  in `WORKED_SOLUTIONS`, then the boxed answer. Other datasets fall back to the boxed answer.
- `answer`: the boxed final answer alone.

reasoning-gym items carry an exact answer but no solution. Trained on bare answers, a small
model has to do the whole computation in one token step; a worked solution teaches it the
procedure (measured in `results/reason_protocol.md`).

Splits `train_1`, `train_2`, `validation` and `test` are different generator seeds. They are
made disjoint by question text: test first, then each later split drops any question an
earlier one holds, so a split never overlaps test or another split. The grader is
reasoning-gym's own scorer behind the usual strict/flexible extraction (see `RGGrader`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

import yaml

from w2s.errors import W2SError
from w2s.graders import Grade, Grader, answer_is, last_boxed, parse_number
from w2s.tasks.base import Example, Task

PREFIX = "rg:"
# reasoning-gym seeds item i with (seed + i), so nearby seeds give shifted copies of one stream:
# split seeds lie 10 million apart. Test comes first: it is never trimmed.
_SPLIT_SEEDS = {"test": 30_000_000, "train_1": 10_000_000, "train_2": 20_000_000, "validation": 40_000_000}
_DEFAULT_SIZE = 1000


class RGGrader(Grader):
    """reasoning-gym's scorer for one dataset, behind w2s's extraction.

    - strict: a marked answer only: the last `\\boxed{...}`, else "The answer is ...", else
      "#### ...";
    - flexible: strict, else the last non-empty line.

    Equivalence is the dataset's own `score_answer` (full score counts as correct), with a
    numeric comparison first when both sides are numbers (so "7.0" equals "7").
    """

    name = "reasoning-gym"

    def __init__(self, dataset: Any, every_split: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.dataset = dataset
        self._every_split = every_split  # registers the other splits on the first unknown question
        # gold answer -> the items with it (their metadata is what scorers read). Two items can share
        # a gold and differ in scorer: a mixture's sum and leg count may both be "12".
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.questions: dict[str, dict[str, Any]] = {}  # question text -> its item

    def add(self, items: Any) -> None:
        """Register items so their answers are scored with their own metadata."""
        for item in items:
            same = self.entries.setdefault(str(item["answer"]), [])
            if all(known["question"] != item["question"] for known in same):
                same.append(item)
            self.questions.setdefault(item["question"], item)

    def entry(self, gold: str, prompt: Any = None) -> dict[str, Any]:
        """The item a gold answer belongs to: among items sharing that gold, the one whose question
        the prompt holds (a chat or a string); with no prompt, the first registered."""
        same = self.entries.get(str(gold))
        if not same:
            return {"question": "", "answer": gold, "metadata": {}}
        if prompt is not None and len(same) > 1:
            text = prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)
            return next((item for item in same if item["question"] in text), same[0])
        return same[0]

    def grade_batch(self, prompts: list, responses: list[str], golds: list[str]) -> list[Grade]:
        """Each response scored against its own question's item (found from the prompt)."""
        return [self._grade(response, gold, partial(self._equivalent, entry=partial(self.entry, gold, prompt)))
                for prompt, response, gold in zip(prompts, responses, golds, strict=True)]

    def extract(self, response: str, strict: bool = False) -> str | None:
        boxed = last_boxed(response)
        if boxed:
            return boxed
        stated = answer_is(response)
        if stated:
            return stated
        marked = re.findall(r"####\s*([^\n]+)", response)
        if marked:
            return marked[-1].strip()
        if strict:
            return None
        lines = [line.strip() for line in response.strip().splitlines() if line.strip()]
        return lines[-1] if lines else None

    def equivalent(self, pred: str | None, gold: str, question: str | None = None) -> bool:
        return self._equivalent(pred, gold, partial(self.reference, gold, question))

    def reference(self, gold: str, question: str | None = None) -> dict[str, Any]:
        """What `pred` is scored against: the question's own item with `gold` as its answer when
        the question is known (so a reference that is another model's answer is read by that
        question's scorer), else the item the gold belongs to."""
        if question is None:
            return self.entry(gold)
        if question not in self.questions and self._every_split is not None:
            self.add(self._every_split())
            self._every_split = None
        item = self.questions.get(question)
        if item is None:
            return self.entry(gold)
        return item if str(item["answer"]) == str(gold) else {**item, "answer": gold}

    def _equivalent(self, pred: str | None, gold: str, entry: Callable[[], dict[str, Any]]) -> bool:
        """Numbers compare as numbers; anything else goes to the dataset's scorer with `entry()`
        (looked up only then)."""
        if pred is None or not pred.strip():
            return False
        a, b = parse_number(pred), parse_number(gold)
        if a is not None and b is not None and _only_number(pred) and _only_number(gold):
            return a == b
        try:
            return float(self.dataset.score_answer(pred.strip(), entry())) >= 1.0
        except Exception:  # noqa: BLE001 - a scorer that cannot read the answer did not accept it
            return False


class RGTask(Task):
    """One reasoning-gym dataset with its config parameters; see the module docstring."""

    @classmethod
    def from_spec(cls, spec: str) -> Task:
        return cls(spec)

    def __init__(self, spec: str) -> None:
        self.name = spec
        self.dataset_name, self.params, self.size, self.solutions = parse_spec(spec)
        self.grader = RGGrader(_dataset(self.dataset_name, self._frozen_params(), _SPLIT_SEEDS["test"], self.size),
                               lambda: [item for split in _SPLIT_SEEDS for item in self._split_items(split)])
        self.grader.add(self._split_items("test"))

    def example_from_row(self, row: dict[str, Any], where: str, index: int) -> Example:
        from w2s.tasks.base import text_field

        return Example(str(row.get("id", index)), text_field(row, ("question",), where),
                       text_field(row, ("answer",), where), row.get("solution"))

    def _frozen_params(self) -> str:
        """The parameters as a cache key: JSON, so lists and mappings (a mixture's datasets) work too."""
        return json.dumps(self.params, sort_keys=True)

    def _load_all(self, split: str, data: str | None) -> list[Example]:
        if data is not None:
            return super()._load_all(split, data)
        if split not in _SPLIT_SEEDS:
            raise W2SError(f"task '{self.name}': unknown split '{split}' (expected one of: {', '.join(_SPLIT_SEEDS)})")
        items = self._split_items(split)
        self.grader.add(items)
        worked = self.solutions == "worked"
        return [Example(f"{split}-{i}", item["question"], str(item["answer"]),
                        worked_solution(self.dataset_name, item) if worked else None)
                for i, item in enumerate(items)]

    def _split_items(self, split: str) -> list[dict[str, Any]]:
        """The split's items, minus any question an earlier split (test first) already holds."""
        taken: set[str] = set()
        for name in _SPLIT_SEEDS:
            items = [item for item in _items(self.dataset_name, self._frozen_params(), _SPLIT_SEEDS[name], self.size)
                     if item["question"] not in taken]
            if name == split:
                return items
            taken |= {item["question"] for item in items}
        raise W2SError(f"task '{self.name}': unknown split '{split}'")


def parse_spec(spec: str) -> tuple[str, dict[str, Any], int, str]:
    """`rg:name?key=value&...` -> (name, config parameters, size per split, solutions), checked."""
    from reasoning_gym.factory import DATASETS

    body = spec[len(PREFIX):]
    name, _, query = body.partition("?")
    if name not in DATASETS:
        close = [n for n in sorted(DATASETS) if name and (name in n or n in name)][:5]
        raise W2SError(f"unknown reasoning-gym dataset '{name}'" + (f" (did you mean: {', '.join(close)}?)" if close
                                                                      else "; `w2s tasks` lists them"))
    params: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise W2SError(f"task '{spec}': parameter '{item}' should look like key=value")
        params[key] = yaml.safe_load(raw)
    size = params.pop("size", _DEFAULT_SIZE)
    solutions = params.pop("solutions", "worked")
    fields = set(DATASETS[name][1].__dataclass_fields__) - {"seed", "size"}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise W2SError(f"task '{spec}': unknown parameter(s) {', '.join(unknown)} for {name} "
                       f"(expected: {', '.join(sorted(fields))})")
    _check_types(spec, name, DATASETS[name][1], params)
    if name == "composite":
        _check_mixture(spec, params.get("datasets"))
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000_000:
        raise W2SError(f"task '{spec}': size must be a positive integer")
    if solutions not in ("worked", "answer"):
        raise W2SError(f"task '{spec}': solutions must be 'worked' or 'answer', got '{solutions}'")
    return name, params, size, solutions


def _check_mixture(spec: str, datasets: Any) -> None:
    """`rg:composite?datasets=[{name: chain_sum, weight: 1, config: {...}}, ...]`: each part a known
    dataset (not a mixture itself), a positive weight, and parameters its config has."""
    from reasoning_gym.factory import DATASETS

    if not isinstance(datasets, list) or not datasets:
        raise W2SError(f"task '{spec}': a mixture needs datasets=[{{name: NAME, weight: W, config: {{...}}}}, ...]")
    for i, part in enumerate(datasets):
        where = f"task '{spec}': datasets[{i}]"
        if not isinstance(part, dict) or part.get("name") not in DATASETS or part.get("name") == "composite":
            raise W2SError(f"{where} must name a reasoning-gym dataset (name: NAME; `w2s tasks` lists them)")
        weight, config = part.get("weight", 1), part.get("config") or {}
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise W2SError(f"{where}: weight must be a positive number, got {weight!r}")
        known = set(DATASETS[part["name"]][1].__dataclass_fields__) - {"seed", "size"}
        if not isinstance(config, dict) or set(config) - known:
            raise W2SError(f"{where}: config must be a mapping of {part['name']}'s parameters "
                           f"({', '.join(sorted(known))})")
        _check_types(spec, part["name"], DATASETS[part["name"]][1], config)


def _check_types(spec: str, name: str, config_cls: type, params: dict[str, Any]) -> None:
    """Each parameter of the type its reasoning-gym config field declares (`min_terms=2.5` and
    `min_terms=[1,2]` would otherwise fail deep inside the generator, or pass as something else)."""
    import typing

    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # noqa: BLE001 - a config whose hints cannot be read is checked by reasoning-gym alone
        return
    for key, value in params.items():
        expected = hints.get(key)
        if expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif expected is bool:
            ok = isinstance(value, bool)
        else:
            continue
        if not ok:
            raise W2SError(f"task '{spec}': parameter {key}={value!r} should be {expected.__name__} for {name}")


def dataset_names() -> list[str]:
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


@lru_cache(maxsize=64)
def _dataset(name: str, params: str, seed: int, size: int) -> Any:
    import reasoning_gym

    settings = json.loads(params)
    if name == "composite":  # a mixture: reasoning-gym's own composite dataset of the named ones
        from reasoning_gym.composite import DatasetSpec

        settings["datasets"] = [DatasetSpec(d["name"], float(d.get("weight", 1)), d.get("config") or {})
                                for d in settings["datasets"]]
    try:
        return reasoning_gym.create_dataset(name, seed=seed, size=size, **settings)
    except (TypeError, ValueError, AssertionError, KeyError) as err:
        raise W2SError(f"reasoning-gym dataset '{name}' refused parameters {json.loads(params)}: {err}") from None


@lru_cache(maxsize=64)
def _items(name: str, params: str, seed: int, size: int) -> tuple[dict[str, Any], ...]:
    dataset = _dataset(name, params, seed, size)
    return tuple(dataset[i] for i in range(len(dataset)))


def _only_number(text: str) -> bool:
    return re.fullmatch(r"\s*-?\$?\s?[\d,]*\.?\d+\s*", text) is not None


def _chain_sum_solution(item: dict[str, Any]) -> str | None:
    """Left to right, one operation a line: '55 + 98 = 153', '153 - 93 = 60', ..."""
    tokens = str(item["metadata"].get("expression", "")).split()
    if len(tokens) < 3 or len(tokens) % 2 == 0 or any(op not in "+-" for op in tokens[1::2]):
        return None
    try:
        total, numbers = int(tokens[0]), [int(t) for t in tokens[2::2]]
    except ValueError:
        return None
    lines = []
    for op, number in zip(tokens[1::2], numbers, strict=True):
        new = total + number if op == "+" else total - number
        lines.append(f"{total} {op} {number} = {new}")
        total = new
    return "\n".join(lines)


def _leg_counting_solution(item: dict[str, Any]) -> str | None:
    """One line per kind of animal (count × legs each), then the total."""
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    animals = item["metadata"].get("animals") or {}
    if not animals or any(name not in ANIMALS for name in animals):
        return None
    totals = [count * ANIMALS[name] for name, count in animals.items()]
    lines = [f"{name}: {count} × {ANIMALS[name]} legs = {total}"
             for (name, count), total in zip(animals.items(), totals, strict=True)]
    if len(totals) > 1:
        lines.append(f"total: {' + '.join(map(str, totals))} = {sum(totals)}")
    return "\n".join(lines)


# reasoning-gym dataset -> a writer of worked solutions from an item's metadata (None where it cannot)
WORKED_SOLUTIONS: dict[str, Any] = {"chain_sum": _chain_sum_solution, "leg_counting": _leg_counting_solution}


def worked_solution(dataset: str, item: dict[str, Any]) -> str | None:
    """The dataset's worked solution for `item`, only when its result is the gold answer: never a wrong target."""
    if dataset == "composite":  # a mixture's item is solved as its own dataset's
        dataset = str(item.get("metadata", {}).get("source_dataset", ""))
    write = WORKED_SOLUTIONS.get(dataset)
    text = write(item) if write else None
    if text is None:
        return None
    last = parse_number(text.splitlines()[-1].rsplit("=", 1)[-1])
    return text if last is not None and last == parse_number(str(item["answer"])) else None
