"""Stage I filter, majority vote, every Stage II pair rule, and PGR: exact on hand-made cases."""

import json

import pytest

from w2s.cli import main
from w2s.graders import NumericGrader
from w2s.reason.selection import (
    PairRules,
    build_pairs,
    consistency_filter,
    majority_vote,
    pairs_for_question,
    performance_gap_recovered,
)

G = NumericGrader()


def ans(n, tag=""):
    return f"Work {tag}. The answer is {n}."


def test_consistency_filter_needs_two_equal_non_empty_answers():
    weak = [ans(5), "#### 1,000", "no final answer", ans(5), "The answer is 3"]
    icl = [r"so \boxed{5.0}", ans(1000), "none here either", "nothing", ans(4)]
    assert consistency_filter(G, weak, icl) == [True, True, False, False, False]


def test_majority_vote_groups_equivalent_answers_and_breaks_ties_by_first_seen():
    vote = majority_vote(G, [ans(5), ans("5.0"), ans(6), ans(6), ans(5)])
    assert (vote.answer, vote.confidence, vote.majority, vote.minority) == ("5", 0.6, [0, 1, 4], [2, 3])
    tie = majority_vote(G, [ans(6), ans(5), ans(5), ans(6)])
    assert (tie.answer, tie.confidence) == ("6", 0.5)
    empty = majority_vote(G, ["x", "y", "z", ans(5)])  # "no answer" is a vote too
    assert (empty.answer, empty.confidence, empty.minority) == (None, 0.75, [3])


RULES = PairRules(min_confidence=0.6, flip_confidence=0.8, max_pairs=1, seed=0)


def test_weak_agrees_with_the_majority_rejects_a_minority_sample():
    samples = [ans(5, "a"), ans(5, "b"), ans(5, "c"), ans(6, "x"), "no answer at all"]
    branch, pairs = pairs_for_question(G, "q", ans(5, "weak"), samples, RULES)
    assert branch == "weak agrees" and len(pairs) == 1
    assert pairs[0][0] == ans(5, "weak") and pairs[0][1] in {ans(6, "x"), "no answer at all"}
    branch, pairs = pairs_for_question(G, "q", ans(5, "weak"), samples, PairRules(max_pairs=3))
    assert branch == "weak agrees" and sorted(r for _, r in pairs) == sorted([ans(6, "x"), "no answer at all"])


def test_weak_agrees_without_minority_gives_no_pair():
    assert pairs_for_question(G, "q", ans(5), [ans(5, t) for t in "abc"], RULES) == ("weak agrees, no minority", [])


def test_confident_majority_overrules_the_weak_answer_with_distinct_chosen_samples():
    samples = [ans(5, "a"), ans(5, "a"), ans(5, "b"), ans(5, "c"), ans(6)]  # confidence 0.8
    branch, pairs = pairs_for_question(G, "q", ans(7, "weak"), samples, RULES)
    assert branch == "weak overruled" and len(pairs) == 1 and pairs[0][1] == ans(7, "weak")
    _, pairs = pairs_for_question(G, "q", ans(7, "weak"), samples, PairRules(max_pairs=3))
    assert sorted(c for c, _ in pairs) == sorted([ans(5, "a"), ans(5, "b"), ans(5, "c")])  # distinct only
    _, pairs = pairs_for_question(G, "q", ans(7), samples, PairRules(max_pairs=2))
    assert len(pairs) == 2
    # a weak response with no final answer never equals the majority, so it is overruled too
    assert pairs_for_question(G, "q", "no idea", samples, RULES)[0] == "weak overruled"


def test_no_pair_when_unsure_or_the_majority_has_no_answer():
    samples = [ans(5), ans(5), ans(5), ans(6), ans(6)]  # confidence 0.6: enough to keep, not to flip
    assert pairs_for_question(G, "q", ans(6), samples, RULES) == ("weak disagrees, not confident", [])
    assert pairs_for_question(G, "q", ans(5), [ans(5), ans(6)], RULES) == ("low confidence", [])
    assert pairs_for_question(G, "q", ans(5), ["x", "y", "z", ans(5)], RULES) == ("majority has no answer", [])


def test_pairs_are_deterministic_under_a_seed_and_independent_of_row_order():
    weak = [{"id": f"q{i}", "question": f"Q{i}", "response": ans(5, "w")} for i in range(20)]
    samples = [{"id": f"q{i}", "responses": [ans(5, t) for t in "abcdefg"] + [ans(6, t) for t in "xyz"]}
               for i in range(20)]
    first, branches = build_pairs(G, weak, samples, RULES)
    again, _ = build_pairs(G, weak[::-1], samples, RULES)
    assert first == build_pairs(G, weak, samples, RULES)[0] and branches == {"weak agrees": 20}
    assert sorted(first, key=lambda r: r["id"]) == sorted(again, key=lambda r: r["id"])
    other, _ = build_pairs(G, weak, samples, PairRules(seed=1))
    assert [r["rejected"] for r in other] != [r["rejected"] for r in first]


def test_pgr_is_exact():
    assert performance_gap_recovered(0.5, 0.2, 0.6) == pytest.approx(0.75)
    assert performance_gap_recovered(0.1, 0.2, 0.6) == pytest.approx(-0.25)
    assert performance_gap_recovered(0.5, 0.6, 0.6) is None


def test_pairs_command_contract(tmp_path, capsys):
    weak = tmp_path / "weak.jsonl"
    samples = tmp_path / "samples.jsonl"
    weak.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "question": "QA", "response": ans(5, "w")},   # agrees, 2 distinct minority samples
        {"id": "b", "question": "QB", "response": ans(9, "w")},   # overruled (confidence 0.8)
        {"id": "c", "question": "QC", "response": ans(1, "w")},   # unsure
        {"id": "d", "question": "QD", "response": ans(1, "w")},   # no samples at all
    ]))
    samples.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "responses": [ans(5, "a"), ans(5, "b"), ans(5, "c"), ans(6, "x"), ans(7, "y")]},
        {"id": "b", "responses": [ans(4, "a"), ans(4, "b"), ans(4, "c"), ans(4, "d"), ans(6)]},
        {"id": "c", "responses": [ans(4), ans(4), ans(4), ans(6), ans(6)]},
    ]))
    out = tmp_path / "pairs.jsonl"
    argv = ["reason", "pairs", "--task", "gsm8k", "--weak", str(weak), "--samples", str(samples),
            "--output", str(out), "--max-pairs", "3", "--seed", "0"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "pairs: 5 from 2 questions"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "a", "b", "b", "b"] and set(rows[0]) == {
        "id", "question", "chosen", "rejected"}
    assert all(r["chosen"] == ans(5, "w") for r in rows if r["id"] == "a")
    assert all(r["rejected"] == ans(9, "w") for r in rows if r["id"] == "b")


def test_pairs_command_names_the_bad_line(tmp_path, capsys):
    weak = tmp_path / "weak.jsonl"
    weak.write_text(json.dumps({"id": "a", "question": "Q", "response": "r"}) + "\n" + json.dumps({"id": "b"}) + "\n")
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"id": "a", "responses": "not a list"}) + "\n")
    assert main(["reason", "pairs", "--task", "gsm8k", "--weak", str(weak), "--samples", str(samples),
                 "--output", str(tmp_path / "p.jsonl")]) == 2
    assert f"{weak}:2: missing field 'question'" in capsys.readouterr().err
    weak.write_text(json.dumps({"id": "a", "question": "Q", "response": "r"}) + "\n")
    assert main(["reason", "pairs", "--task", "gsm8k", "--weak", str(weak), "--samples", str(samples),
                 "--output", str(tmp_path / "p.jsonl")]) == 2
    assert f"{samples}:1: field 'responses' must be a non-empty list of strings" in capsys.readouterr().err


def test_selection_reads_marked_final_answers_only():
    """A response without a marked answer is "no answer", never a vote for its last number."""
    grader = G
    unmarked = ["Step s5: I cannot tell.", "First 12 * 3 = 36, then 36 + 5 = 41, and then we"]  # 2nd cut short
    assert consistency_filter(grader, unmarked, ["The answer is 5.", "The answer is 41."]) == [False, False]
    assert consistency_filter(grader, unmarked, ["The answer is 5.", "The answer is 41."], strict=False) == [True, True]
    samples = ["so 36 + 5 = 41 and", "then 41 more", "The answer is 7.", "The answer is 7."]
    strict_vote = majority_vote(grader, samples)
    assert strict_vote.answer is None and strict_vote.majority == [0, 1]  # two "no answer" votes, first seen
    assert majority_vote(grader, samples, strict=False).answer == "41"
    rules = PairRules(min_confidence=0.5, flip_confidence=0.5)
    assert pairs_for_question(grader, "q", "The answer is 41.", samples, rules) == ("majority has no answer", [])
