"""reasoning-gym datasets as `rg:` tasks: disjoint deterministic splits, and a grader that agrees
with reasoning-gym's own scorer."""

import pytest

from w2s.errors import W2SError
from w2s.tasks import get_task


@pytest.mark.parametrize("spec", ["rg:chain_sum?min_terms=2&max_terms=3&size=60", "rg:family_relationships?size=40"])
def test_splits_are_disjoint_and_deterministic(spec):
    task = get_task(spec)
    splits = {name: task.load(name) for name in ("train_1", "train_2", "validation", "test")}
    questions = {name: {e.question for e in examples} for name, examples in splits.items()}
    names = list(questions)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not questions[a] & questions[b], f"{a} and {b} overlap"
    assert len(splits["test"]) == 60 if "chain" in spec else 40  # test is never trimmed
    assert all(len(s) > 0.8 * len(splits["test"]) for s in splits.values())  # nearby seeds would empty them
    again = get_task(spec)
    assert [e.question for e in again.load("train_2")] == [e.question for e in splits["train_2"]]
    assert [(e.question, e.answer) for e in again.load("test")] == [(e.question, e.answer) for e in splits["test"]]


def test_grader_agrees_with_reasoning_gyms_scorer_on_hand_made_cases():
    task = get_task("rg:family_relationships?size=20")
    example = task.load("test")[0]
    scorer = task.grader.dataset
    entry = task.grader.entries[example.answer]
    for response, strict_expected in [(f"The answer is {example.answer}.", True),
                                      (f"Thinking... \\boxed{{{example.answer}}}", True),
                                      (f"#### {example.answer}", True),
                                      ("The answer is zebra.", True),  # marked, but wrong
                                      (f"it must be\n{example.answer}", False)]:  # unmarked: flexible only
        grade = task.grader.grade(response, example.answer)
        pred = task.grader.extract(response)
        assert grade.correct == (scorer.score_answer(pred, entry) >= 1.0)
        assert (grade.strict_pred is not None) == strict_expected
    numeric = get_task("rg:basic_arithmetic?size=20")
    item = numeric.load("test")[0]
    assert numeric.grader.grade(f"The answer is {item.answer}.0", item.answer).correct  # 7.0 is 7
    assert not numeric.grader.grade("Step s5: I cannot tell.", item.answer).strict_correct


def test_bad_specs_are_one_line():
    with pytest.raises(W2SError, match="unknown reasoning-gym dataset 'chain_summ'"):
        get_task("rg:chain_summ")
    with pytest.raises(W2SError, match="unknown parameter"):
        get_task("rg:chain_sum?colour=red")
    with pytest.raises(W2SError, match="unknown split"):
        get_task("rg:chain_sum?size=5").load("train")


def test_gsm_symbolic_train_keeps_its_questions():
    """Its split seeds once lay 2 apart, and reasoning-gym seeds item i with seed + i: train lost all
    but 2 of its items to the test overlap."""
    task = get_task("gsm_symbolic")
    assert len(task.load("train")) > 900
