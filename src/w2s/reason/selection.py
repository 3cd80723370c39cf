"""The selection rules of progressive weak-to-strong reasoning, exactly as the method states them.

Stage I (`consistency_filter`): keep a question only when the weak answer and the strong model's
in-context answer both have a final answer and the two agree, by the task's grader (its
extraction and its equivalence). Gold answers are never looked at.

Final answers are read with the grader's **strict** extraction by default, as the method's
reference code does: only a marked answer (`#### N`, "The answer is N", `\boxed{}`) counts, so a
response without one (a solution cut at the token limit, "I cannot tell.") is "no answer" and
never votes for whatever number happens to come last in it. `strict=False` (config
`selection.extraction: flexible`) uses the flexible fallback instead.

Stage II (`majority_vote`, `build_pairs`): the Stage I model's n samples per question vote; the
majority answer is the largest group of equivalent final answers (a response with no final
answer votes for "no answer"), ties going to the answer sampled first, and confidence is the
majority's share of all n samples. Per question:

- skip if confidence < min_confidence, or the majority is "no answer";
- if the weak answer equals the majority answer: chosen = the weak response, rejected = up to
  `max_pairs` distinct minority samples (any sample outside the majority group, "no answer"
  included); skip if there are none;
- else if confidence >= flip_confidence: chosen = up to `max_pairs` distinct majority samples,
  rejected = the weak response;
- else no pair.

Random picks use a generator seeded by (seed, question id), so output does not depend on row order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from w2s.graders import Grader


@dataclass(frozen=True)
class Vote:
    """The majority of one question's samples: its answer (None = no answer) and share."""

    answer: str | None
    confidence: float
    majority: list[int]  # indices of samples in the majority group, in sample order
    minority: list[int]  # all other samples


def consistency_filter(grader: Grader, weak: list[str], in_context: list[str], strict: bool = True,
                       questions: list[str] | None = None) -> list[bool]:
    """Per question: keep it iff both responses have a final answer and the answers agree (by the
    rules of that question, when `questions` are given: see `Grader.equivalent`)."""
    if len(weak) != len(in_context) or (questions is not None and len(questions) != len(weak)):
        raise ValueError("weak and in-context responses must be paired question by question")
    return [grader.same_answer(w, s, strict, q)
            for w, s, q in zip(weak, in_context, questions or [None] * len(weak), strict=True)]


def _same(grader: Grader, a: str | None, b: str | None, question: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or grader.equivalent(a, b, question)


def majority_vote(grader: Grader, responses: list[str], strict: bool = True, question: str | None = None) -> Vote:
    """Group samples (answers to `question`) by equivalent final answer; the largest group wins,
    ties to the first seen."""
    if not responses:
        raise ValueError("majority vote over zero samples")
    groups: list[tuple[str | None, list[int]]] = []
    for i, response in enumerate(responses):
        answer = grader.extract(response, strict)
        for representative, members in groups:
            if _same(grader, representative, answer, question):
                members.append(i)
                break
        else:
            groups.append((answer, [i]))
    answer, members = max(groups, key=lambda g: len(g[1]))  # max keeps the first of equal groups
    chosen = set(members)
    return Vote(answer, len(members) / len(responses), members,
                [i for i in range(len(responses)) if i not in chosen])


@dataclass(frozen=True)
class PairRules:
    min_confidence: float = 0.6
    flip_confidence: float = 0.8
    max_pairs: int = 1
    seed: int = 0
    strict: bool = True  # marked final answers only (see the module docstring)

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence <= 1 or not 0 <= self.flip_confidence <= 1:
            raise ValueError("min_confidence and flip_confidence must be within [0, 1]")
        if self.max_pairs < 1:
            raise ValueError(f"max_pairs must be at least 1, got {self.max_pairs}")


def _distinct_pick(texts: list[str], k: int, rng: random.Random) -> list[str]:
    unique = list(dict.fromkeys(texts))
    return rng.sample(unique, min(k, len(unique)))


def pairs_for_question(grader: Grader, question_id: str, weak_response: str, samples: list[str],
                       rules: PairRules, question: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    """(which branch fired, [(chosen, rejected), ...]) for one question (its text: `question`)."""
    vote = majority_vote(grader, samples, rules.strict, question)
    if vote.confidence < rules.min_confidence:
        return "low confidence", []
    if vote.answer is None:
        return "majority has no answer", []
    rng = random.Random(f"{rules.seed}:{question_id}")
    weak_answer = grader.extract(weak_response, rules.strict)
    if weak_answer is not None and _same(grader, weak_answer, vote.answer, question):
        rejected = _distinct_pick([samples[i] for i in vote.minority], rules.max_pairs, rng)
        if not rejected:
            return "weak agrees, no minority", []
        return "weak agrees", [(weak_response, r) for r in rejected]
    if vote.confidence >= rules.flip_confidence:
        chosen = _distinct_pick([samples[i] for i in vote.majority], rules.max_pairs, rng)
        return "weak overruled", [(c, weak_response) for c in chosen]
    return "weak disagrees, not confident", []


def build_pairs(grader: Grader, weak: list[dict], samples: list[dict], rules: PairRules
                ) -> tuple[list[dict], dict[str, int]]:
    """Pairs for every question in `weak` ({id, question, response}) with samples ({id, responses}).

    Returns the pair rows ({id, question, chosen, rejected}) in `weak` order, and how many
    questions took each branch.
    """
    by_id = {row["id"]: row["responses"] for row in samples}
    rows: list[dict] = []
    branches: dict[str, int] = {}
    for item in weak:
        if item["id"] not in by_id:
            branch, pairs = "no samples", []
        else:
            branch, pairs = pairs_for_question(grader, item["id"], item["response"], by_id[item["id"]], rules,
                                               item["question"])
        branches[branch] = branches.get(branch, 0) + 1
        rows += [{"id": item["id"], "question": item["question"], "chosen": c, "rejected": r} for c, r in pairs]
    return rows, branches


def performance_gap_recovered(accuracy: float, weak_floor: float, strong_ceiling: float) -> float | None:
    """PGR = (acc - floor) / (ceiling - floor); None when the ceiling does not exceed the floor."""
    gap = strong_ceiling - weak_floor
    return (accuracy - weak_floor) / gap if gap > 0 else None


def _read_unique_rows(path: str, parse) -> list[dict]:
    """Rows of a JSONL file through `parse(row, where)`, refusing duplicate ids (file:line errors)."""
    from w2s.errors import W2SError
    from w2s.jsonl import iter_jsonl

    rows, seen = [], set()
    for number, row in iter_jsonl(path):
        where = f"{path}:{number}"
        if row.get("id") is None or isinstance(row.get("id"), (bool, list, dict)):
            raise W2SError(f"{where}: field 'id' must be a string or number, got "
                           f"{'nothing' if row.get('id') is None else type(row['id']).__name__}")
        item = parse(row, where)
        if item["id"] in seen:
            raise W2SError(f"{where}: duplicate id '{item['id']}'")
        seen.add(item["id"])
        rows.append(item)
    return rows


def read_weak_file(path: str) -> list[dict]:
    """Rows {id, question, response} with one-line errors naming the file, line and field."""
    from w2s.errors import W2SError
    from w2s.jsonl import require_field

    def parse(row: dict, where: str) -> dict:
        item = {"id": str(require_field(row, "id", where)), "question": require_field(row, "question", where),
                "response": require_field(row, "response", where)}
        if not isinstance(item["response"], str) or not isinstance(item["question"], str):
            raise W2SError(f"{where}: fields 'question' and 'response' must be strings")
        return item

    return _read_unique_rows(path, parse)


def read_samples_file(path: str) -> list[dict]:
    """Rows {id, responses: [str, ...]} with one-line errors naming the file, line and field."""
    from w2s.errors import W2SError
    from w2s.jsonl import require_field

    def parse(row: dict, where: str) -> dict:
        responses = require_field(row, "responses", where)
        if not isinstance(responses, list) or not responses or not all(isinstance(r, str) for r in responses):
            raise W2SError(f"{where}: field 'responses' must be a non-empty list of strings")
        return {"id": str(require_field(row, "id", where)), "responses": responses}

    return _read_unique_rows(path, parse)
