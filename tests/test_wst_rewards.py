"""WST reward: exact values on hand-made cases, harm counting, and the reward tracking the student."""

import re

import pytest

from w2s.students.scripted import ScriptedStudent
from w2s.tasks import get_task
from w2s.wst.protocol import InstructionProtocol, leaks_answer, new_numbers
from w2s.wst.rewards import Outcome, RewardConfig, StudentReward, reward_from

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
    system = InstructionProtocol(placement="system").student_prompt(GSM, "What is 2+2?", "Be careful.")
    assert system[0] == {"role": "system", "content": "Be careful."} and system[1]["role"] == "user"
    prefix = InstructionProtocol(placement="prefix").student_prompt(GSM, "What is 2+2?", "Be careful.")
    assert len(prefix) == 1 and prefix[0]["content"].startswith("Be careful.\n\nWhat is 2+2?")
    assert InstructionProtocol().student_prompt(GSM, "What is 2+2?", "") == GSM.messages("What is 2+2?")
    assert InstructionProtocol(max_chars=9).clean("  one two three  ") == "one two"
    with pytest.raises(ValueError, match="kind: expected one of relative, absolute, likelihood, got 'bogus'"):
        RewardConfig(kind="bogus")
    with pytest.raises(ValueError, match="instruction.template"):
        InstructionProtocol(template="no question here")
    with pytest.raises(ValueError, match="placement: expected one of system, prefix"):
        InstructionProtocol(placement="bogus")


def test_cleaning_keeps_the_first_hint_and_drops_an_unfinished_sentence_only_when_cut():
    protocol = InstructionProtocol()
    raw = "Hint: Find the total first. Then subtract the\n\nProblem: Next one?\nHint: more"
    assert protocol.clean(raw) == "Find the total first. Then subtract the"
    assert protocol.clean(raw, truncated=True) == "Find the total first."
    assert protocol.clean("Add them all up and", truncated=True) == "Add them all up and"  # nothing finished


def test_new_numbers_and_leaks():
    question = "Tom has 1,200 apples and gives away 200. How many are left?"
    assert new_numbers("Subtract 200 from 1200.", question) == []
    assert new_numbers("1200 - 200 = 1000, so 1,000 left.", question) == ["1000", "1,000"]
    assert leaks_answer("The answer is 1,000.", question, "1000", GSM.grader)
    assert not leaks_answer("Subtract the apples given away.", question, "1000", GSM.grader)
    assert not leaks_answer("Start from 200.", "Add 200 and 0.", "200", GSM.grader)  # in the question: no leak


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
    reward = StudentReward(GSM, student, InstructionProtocol(), RewardConfig(), max_tokens=32)
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
    reward = StudentReward(GSM, student, InstructionProtocol(), RewardConfig(harm_penalty=1.0), max_tokens=32)
    qs, answers = questions(2)
    # GRPO sends several completions per question: same question repeated in one batch
    assert reward(None, ["carefully", "shortcut", "carefully"], [qs[1]] * 3, [answers[1]] * 3) == [1.0, 0.0, 1.0]
    assert reward(None, ["shortcut"], [qs[0]], [answers[0]]) == [-2.0]
    # call 1: q2 baseline + 2 distinct instructed prompts (the repeated one is generated once);
    # call 2: q1 baseline + 1 instructed prompt. The q2 baseline is not generated again.
    assert student.calls == 5


def controlled_logprobs(prompt: str, target: str) -> tuple[float, int]:
    """A student whose log-probability of the gold solution is set by the words in its prompt:
    -2 per token by default, -1 with "carefully", -3 with "shortcut"; 4 tokens per target."""
    per_token = -1.0 if "carefully" in prompt else -3.0 if "shortcut" in prompt else -2.0
    return per_token * 4, 4


def test_likelihood_reward_is_exact_and_needs_no_generation():
    student = keyword_student()
    student.logprob = controlled_logprobs
    config = RewardConfig(kind="likelihood", harm_penalty=0.5)
    reward = StudentReward(GSM, student, InstructionProtocol(), config)
    qs, answers = questions(3)
    targets = [f"{a} is double. The final answer is $\\boxed{{{a}}}$." for a in answers]
    logged = {}
    got = reward(None, ["Work carefully.", "Use a shortcut.", "Read it."], qs, answers, target=targets,
                 log_metric=logged.__setitem__)
    # base = -2 per token; with: -1 (+1), -3 (-1, harm 1 -> -0.5 more), -2 (0)
    assert got == [pytest.approx(1.0), pytest.approx(-1.5), pytest.approx(0.0)]
    assert logged["student/logprob_baseline"] == pytest.approx(-2.0)
    assert student.calls == 0 and student.scored_pairs == 6  # 3 baselines + 3 instructions, nothing generated
    reward(None, ["Work carefully."], [qs[0]], [answers[0]], target=[targets[0]])
    assert student.scored_pairs == 7  # the baseline of a question is scored once


def test_the_leak_penalty_fires_when_an_instruction_states_the_answer():
    student = keyword_student()
    student.logprob = lambda prompt, target: (-0.5 * 4, 4) if "is 8" in prompt else (-2.0 * 4, 4)
    reward = StudentReward(GSM, student, InstructionProtocol(), RewardConfig(kind="likelihood", leak_penalty=2.0))
    q, a = "What is 4 doubled?", "8"
    got = reward(None, ["The answer is 8.", "Double it carefully."], [q, q], [a, a], target=["4 * 2 = 8"] * 2)
    assert got == [pytest.approx(1.5 - 2.0), pytest.approx(0.0)]  # stating the answer no longer pays
    assert [o.leak for o in reward.last_outcomes] == [True, False]
    number_penalty = StudentReward(GSM, keyword_student(), InstructionProtocol(),
                                   RewardConfig(new_number_penalty=0.25), max_tokens=32)
    assert number_penalty(None, ["Use 4 + 4 = 8 carefully.", "Work carefully."], [q, q], [a, a]) == [
        pytest.approx(1.0 - 1.0 - 0.25), pytest.approx(1.0)]  # leak (1.0) and a new number (0.25)


def test_truncated_instructions_are_counted_and_cut_back_to_a_sentence():
    student = keyword_student()
    reward = StudentReward(GSM, student, InstructionProtocol(max_tokens=5), RewardConfig(), max_tokens=32)
    qs, answers = questions(2)
    logged = {}
    reward(None, ["Work carefully. Then the", "Be quick."], qs, answers, completion_ids=[[1] * 5, [1] * 3],
           log_metric=logged.__setitem__)
    assert reward.last_instructions == ["Work carefully.", "Be quick."] and logged["teacher/truncated"] == 0.5


def test_scalar_rewards_on_an_open_ended_task_are_exact_and_grade_the_users_prompt():
    """Reward-model scores instead of correctness: relative = score with - score without."""
    from w2s.graders import Grade, Grader
    from w2s.tasks.hh_rlhf import HHRLHF

    scores = {"Polite reply.": 2.5, "Rude reply.": -1.0}
    graded_prompts = []

    class LookupGrader(Grader):  # a stand-in reward model with hand-made scores
        name, scalar = "lookup", True

        def extract(self, response, strict=False):
            return None

        def equivalent(self, pred, gold, question=None):
            return False

        def grade_batch(self, prompts, responses, golds):
            graded_prompts.extend(prompts)
            return [Grade(None, False, None, False, scores[r]) for r in responses]

    task = HHRLHF()
    task.grader = LookupGrader()
    student = ScriptedStudent(lambda prompt, _: "Polite reply." if "be kind" in prompt else "Rude reply.")
    dialogue = "\n\nHuman: Help me with my homework."
    logged = {}
    for kind, expected in (("relative", [3.5, 0.0]), ("absolute", [2.5, -1.0])):
        reward = StudentReward(task, student, InstructionProtocol(), RewardConfig(kind=kind, leak_penalty=0.0))
        values = reward(prompts=[None, None], completions=["Please be kind.", "Answer fast."],
                        question=[dialogue, dialogue], answer=["chosen reply", "chosen reply"],
                        log_metric=logged.__setitem__)
        assert values == pytest.approx(expected)
    # the log names a mean score as a score, so no report calls it an accuracy
    assert logged["student/score_with_instruction"] == pytest.approx(0.75)
    assert logged["student/score_baseline"] == pytest.approx(-1.0) and "student/accuracy_baseline" not in logged
    # the reward model judged each reply to the user's own dialogue, never to the instructed prompt
    assert all(p == [{"role": "user", "content": "Help me with my homework."}] for p in graded_prompts)


def test_beside_a_base_instruction_a_teacher_is_paid_only_for_what_it_adds():
    """With `base_instruction` the student always gets the static line; the relative reward is
    right(base + teacher) - right(base): an instruction that repeats what the base already does
    earns nothing, where without the base it earned 1 on every question the base fixes."""
    student = keyword_student()
    beside = StudentReward(GSM, student, InstructionProtocol(base_instruction="Work carefully."), RewardConfig(),
                           max_tokens=32)
    qs, answers = questions(4)
    assert beside(None, ["Work carefully."] * 4, qs, answers) == [0.0, 0.0, 0.0, 0.0]
    assert beside(None, ["Use a shortcut."] * 4, qs, answers) == [-1.0, -1.0, -1.0, -1.0]
    prompt = InstructionProtocol(base_instruction="Work carefully.").student_prompt(GSM, "What is 1 plus 1?", "Hint.")
    assert prompt[0] == {"role": "system", "content": "Work carefully.\n\nHint."}


def test_the_answer_budget_is_settled_in_one_place():
    trained = InstructionProtocol(student_max_tokens=128)
    assert trained.answer_budget(None, 512) == (128, "as trained")
    assert trained.answer_budget(512, 512) == (512, "override (the teacher was trained at 128)")
    assert trained.answer_budget(128, 512) == (128, "set")
    assert InstructionProtocol().answer_budget(None, 512) == (512, "default")
    assert InstructionProtocol().answer_budget(None, None) == (None, "default")  # serving: the client decides
