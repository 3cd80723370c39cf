"""reasoning-gym datasets as `rg:` tasks: disjoint deterministic splits, and a grader that agrees
with reasoning-gym's own scorer."""

import re

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
    entry = task.grader.entry(example.answer)
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
    # an answer cut off right after "The answer is" (it crashed a training run): no stated answer
    for cut in ["3 + 4 = 7. The answer is: ", "The answer is \x0c"]:
        grade = numeric.grader.grade(cut, item.answer)
        assert grade.strict_pred is None and not grade.strict_correct


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


def test_worked_solutions_are_exact_and_end_in_the_gold_answer():
    """SFT targets show the procedure line by line; `solutions=answer` keeps the bare answer."""
    task = get_task("rg:chain_sum?min_terms=3&max_terms=3&max_digits=2&size=30")
    for example in task.load("train_1"):
        target = task.target_text(example)
        lines = target.splitlines()
        assert len(lines) == 3 and lines[-1] == f"The final answer is $\\boxed{{{example.answer}}}$."
        expression = example.question.rsplit(":", 1)[-1].strip(" =")
        first, second = lines[0], lines[1]
        assert first.startswith(" ".join(expression.split()[:3]) + " = ")  # the first operation, as asked
        assert eval(second.replace("=", "==")) and eval(first.replace("=", "=="))  # noqa: S307 - digits and +/-
        assert second.endswith(f"= {example.answer}")
    bare = get_task("rg:chain_sum?min_terms=3&max_terms=3&max_digits=2&size=30&solutions=answer")
    example = bare.load("train_1")[0]
    assert bare.target_text(example) == f"The final answer is $\\boxed{{{example.answer}}}$."

    legs = get_task("rg:leg_counting?min_animals=2&max_animals=2&max_instances=3&size=20")
    for example in legs.load("train_1"):
        lines = legs.target_text(example).splitlines()
        assert len(lines) == 4 and lines[2].startswith("total: ") and lines[2].endswith(f"= {example.answer}")
    # a dataset without a solution writer trains on the boxed answer
    other = get_task("rg:family_relationships?size=10")
    assert other.target_text(other.load("train_1")[0]).startswith("The final answer is")


def test_a_worked_solution_that_disagrees_with_gold_is_dropped():
    from w2s.tasks.rg import worked_solution

    item = {"answer": "10", "metadata": {"expression": "3 + 4"}}  # 7, not 10: no target rather than a wrong one
    assert worked_solution("chain_sum", item) is None
    assert worked_solution("chain_sum", {"answer": "-1", "metadata": {"expression": "3 + 4 - 8"}}) == "3 + 4 = 7\n7 - 8 = -1"
    with pytest.raises(W2SError, match="solutions must be"):
        get_task("rg:chain_sum?solutions=steps")
    for size in ("true", "0", "-3", "2.5"):  # `true` once read as a size of 1
        with pytest.raises(W2SError, match="size must be a positive integer"):
            get_task(f"rg:chain_sum?size={size}")
    for bad in ("min_terms=2.5", "min_terms=[1,2]", "allow_negation=3"):
        with pytest.raises(W2SError, match=r"should be (int|bool) for chain_sum"):
            get_task(f"rg:chain_sum?{bad}")


MIXTURE = ("rg:composite?datasets=[{name: chain_sum, weight: 1, config: {min_terms: 3, max_terms: 4, max_digits: 2}}, "
           "{name: leg_counting, weight: 1}]&size=60")


def test_a_mixture_of_datasets_is_one_task_with_each_parts_solutions_and_scorer():
    """A task where questions need different procedures (issue #46): reasoning-gym's composite."""
    from w2s.tasks import get_task

    task = get_task(MIXTURE)
    test, train = task.load("test", None, None, None), task.load("train_1", None, None, None)
    kinds = {"chain_sum" if "arithmetic problem" in e.question else "leg_counting" for e in test}
    assert kinds == {"chain_sum", "leg_counting"}  # both parts, in one split
    assert not {e.question for e in test} & {e.question for e in train}  # splits stay disjoint
    for e in test[:10]:  # each item's worked solution is its own dataset's, ending at its gold answer
        target = task.target_text(e)
        assert ("legs =" in target) == ("legs" in e.question) and target.endswith(f"\\boxed{{{e.answer}}}$.")
        assert task.grader.grade(f"so \\boxed{{{e.answer}}}", e.answer).correct
        assert not task.grader.grade("so \\boxed{-99999}", e.answer).correct


def test_items_of_a_mixture_that_share_a_gold_answer_are_scored_by_their_own_dataset():
    """A sum and a leg count can both be "12"; chain_sum's scorer accepts "+12", the default
    scorer of leg_counting does not. Each response is scored by its own question's dataset."""
    from w2s.tasks import get_task

    task = get_task(MIXTURE)
    items = task.load("test", None, None, None) + task.load("train_1", None, None, None)
    by_gold: dict[str, dict[bool, object]] = {}
    for e in items:
        by_gold.setdefault(e.answer, {})["legs" in e.question] = e
    gold, pair = next((g, p) for g, p in by_gold.items() if len(p) == 2 and g.isdigit())
    chain, legs = pair[False], pair[True]
    grades = task.grader.grade_batch([task.messages(chain.question), task.messages(legs.question)],
                                     [f"The answer is +{gold}"] * 2, [gold, gold])
    assert [g.correct for g in grades] == [True, False]
    assert [task.grader.entry(gold, q)["question"] for q in (chain.question, legs.question)] == \
        [chain.question, legs.question]


def test_two_answers_to_one_question_agree_by_that_questions_scorer():
    """Stage I's agreement and Stage II's vote compare two models' answers, neither of them gold:
    "+N" and "N" agree on a sum (chain_sum's scorer accepts the sign) and not on a leg count,
    also when N is no item's gold and the question is from a split this task never loaded."""
    from w2s.reason.selection import consistency_filter, majority_vote
    from w2s.tasks.rg import RGTask

    other = RGTask(MIXTURE).load("train_2", None, None, None)  # as a run's answer file holds them
    chain = next(e for e in other if "legs" not in e.question)
    legs = next(e for e in other if "legs" in e.question)
    grader = RGTask(MIXTURE).grader  # has registered the test split only
    n = "987654"  # beyond every sum of 2-digit terms and every leg count
    assert consistency_filter(grader, [f"The answer is +{n}"] * 2, [f"The answer is {n}"] * 2,
                              questions=[chain.question, legs.question]) == [True, False]
    samples = [f"The answer is +{n}", f"The answer is {n}", f"The answer is {n}", "The answer is 5"]
    assert majority_vote(grader, samples, question=chain.question).confidence == 0.75
    assert majority_vote(grader, samples, question=legs.question).confidence == 0.5


@pytest.mark.parametrize("spec, message", [
    ("rg:composite", "a mixture needs datasets="),
    ("rg:composite?datasets=[{name: nope}]", "datasets[0] must name a reasoning-gym dataset"),
    ("rg:composite?datasets=[{name: chain_sum, weight: 0}]", "datasets[0]: weight must be a positive number"),
    ("rg:composite?datasets=[{name: chain_sum, config: {bogus: 1}}]", "config must be a mapping of chain_sum's"),
    ("rg:chain_sum?min_terms=[1,2]", "parameter min_terms=[1, 2] should be int"),  # was a traceback (unhashable)
])
def test_a_bad_mixture_is_one_line(spec, message):
    from w2s.errors import W2SError
    from w2s.tasks import get_task

    with pytest.raises(W2SError, match=re.escape(message)):
        get_task(spec)
