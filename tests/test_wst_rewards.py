"""WST reward: exact values on hand-made cases, harm counting, and the reward tracking the student."""

import re

import pytest
from scripted_students import ScriptedStudent

from w2s.students import SamplingParams
from w2s.tasks import get_task
from w2s.wst.rewards import (
    Outcome,
    RewardConfig,
    StudentOutcomeReward,
    clean_instruction,
    reward_from,
    student_prompt,
)

GSM = get_task("gsm8k")


@pytest.mark.parametrize("base, with_, kind, penalty, expected", [
    (0.0, 1.0, "relative", 0.0, 1.0),    # helped
    (1.0, 1.0, "relative", 0.0, 0.0),    # already right: no credit under relative
    (1.0, 0.0, "relative", 0.0, -1.0),   # harmed
    (1.0, 0.0, "relative", 0.5, -1.5),   # harmed, penalised
    (1.0, 0.0, "absolute", 0.5, -0.5),
    (1.0, 1.0, "absolute", 0.5, 1.0),
    (0.25, 0.75, "relative", 1.0, 0.5),  # k=4 samples: no harm term when the score rises
    (0.75, 0.25, "absolute", 2.0, -0.75),
])
def test_reward_definition_is_exact(base, with_, kind, penalty, expected):
    assert reward_from(Outcome(base, with_), RewardConfig(kind=kind, harm_penalty=penalty)) == pytest.approx(expected)


def test_helped_harmed_unchanged():
    outcomes = [Outcome(0, 1), Outcome(1, 0), Outcome(1, 1), Outcome(0, 0), Outcome(0.5, 0.75)]
    assert [(o.helped, o.harmed) for o in outcomes] == [(True, False), (False, True), (False, False),
                                                        (False, False), (True, False)]


def test_instruction_placement_and_cut():
    system = student_prompt(GSM, "What is 2+2?", "Be careful.", "system")
    assert system[0] == {"role": "system", "content": "Be careful."} and system[1]["role"] == "user"
    prefix = student_prompt(GSM, "What is 2+2?", "Be careful.", "prefix")
    assert len(prefix) == 1 and prefix[0]["content"].startswith("Be careful.\n\nWhat is 2+2?")
    assert student_prompt(GSM, "What is 2+2?", "", "system") == GSM.messages("What is 2+2?")
    assert clean_instruction("  one two three  ", 9) == "one two"
    with pytest.raises(ValueError, match="reward.kind"):
        RewardConfig(kind="bogus")


def keyword_student(word="carefully"):
    """Right only when the instruction contains `word`, except on question 1, which it always
    gets right, and where a 'shortcut' instruction makes it wrong."""
    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        if "shortcut" in prompt:
            return "The answer is -1."
        right = word in prompt or n == 1
        return f"The answer is {2 * n}." if right else "The answer is 0."
    return ScriptedStudent(respond)


def questions(n):
    return [f"What is {i} doubled?" for i in range(1, n + 1)], [str(2 * i) for i in range(1, n + 1)]


def test_reward_rises_when_the_students_answers_improve():
    student = keyword_student()
    reward = StudentOutcomeReward(GSM, student, SamplingParams(max_tokens=32), RewardConfig())
    qs, answers = questions(4)
    logged = {}
    plain = reward(None, [[{"role": "assistant", "content": "Read the problem."}]] * 4, qs, answers,
                   log_metric=logged.__setitem__)
    good = reward(None, ["Work carefully."] * 4, qs, answers)
    bad = reward(None, ["Use a shortcut."] * 4, qs, answers)
    assert plain == [0.0, 0.0, 0.0, 0.0]
    assert good == [0.0, 1.0, 1.0, 1.0]  # question 1 was already right: relative reward 0
    assert bad == [-1.0, 0.0, 0.0, 0.0]
    assert logged["student/accuracy_baseline"] == 0.25 and logged["student/unchanged"] == 4
    assert [o.harmed for o in reward.last_outcomes] == [True, False, False, False]
    # baselines are generated once per question: 4 baselines + 3 x 4 instructed answers
    assert student.calls == 16


def test_baseline_is_cached_across_calls_and_duplicates_share_generation():
    student = keyword_student()
    reward = StudentOutcomeReward(GSM, student, SamplingParams(max_tokens=32), RewardConfig(harm_penalty=1.0))
    qs, answers = questions(2)
    # GRPO sends several completions per question: same question repeated in one batch
    assert reward(None, ["carefully", "shortcut", "carefully"], [qs[1]] * 3, [answers[1]] * 3) == [1.0, 0.0, 1.0]
    assert reward(None, ["shortcut"], [qs[0]], [answers[0]]) == [-2.0]
    # call 1: q2 baseline + 2 distinct instructed prompts (the repeated one is generated once);
    # call 2: q1 baseline + 1 instructed prompt. The q2 baseline is not generated again.
    assert student.calls == 5
