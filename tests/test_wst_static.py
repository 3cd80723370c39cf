"""Static-instruction baselines: the best of N picked on validation questions, a GEPA-optimized
instruction within a student budget, each with its cost, and every teacher tested against the best.

The student is scripted: which instruction makes it right is known, so the pick is known."""

import json
import re

import pytest
from test_reason_pipeline import write_split

from w2s.cli import main
from w2s.students.scripted import ScriptedStudent
from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval
from w2s.wst.optimize import OptimizeConfig, optimize_instruction
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.static import StaticConfig, pick_static
from w2s.wst.teacher import training_student_calls


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_split(folder, "train_2", range(1, 21))
    write_split(folder, "test", range(101, 113))
    return folder


def number(prompt: str) -> int:
    return int(re.findall(r"What is (\d+) plus", prompt)[-1])


def respond(prompt: str, _: int) -> str:
    """Right with "carefully" always, with "steps" on even questions only, else on multiples of 4."""
    n, head = number(prompt), prompt.split("What is")[0]
    right = "carefully" in head or ("steps" in head and n % 2 == 0) or n % 4 == 0
    return f"The answer is {2 * n if right else 0}."


def test_the_best_candidate_on_validation_is_picked_and_its_cost_counted(data, tmp_path):
    from w2s.cache import ResponseCache
    from w2s.tasks import get_task

    task = get_task("gsm8k")
    validation = task.load("train_2", str(data))
    student = ScriptedStudent(respond, cache=ResponseCache(tmp_path / "c.sqlite"))
    candidates = {"generic": "Think in steps.", "candidate 1": "Be brief.", "candidate 2": "Work carefully.",
                  "candidate 3": "Work carefully!"}
    pick = pick_static(task, student, InstructionProtocol(), candidates, validation, budget=32)
    assert pick.validation_accuracy == {"generic": 0.5, "candidate 1": 0.25, "candidate 2": 1.0, "candidate 3": 1.0}
    assert pick.best == "candidate 2"  # a tie goes to the earlier candidate
    assert pick.cost == {"student_calls": 80, "student_tokens": student.stats.tokens}
    again = pick_static(task, student, InstructionProtocol(), candidates, validation, budget=32)
    assert again.cost["student_calls"] == 0  # picking again costs nothing: every answer is cached


def test_wst_eval_tests_the_trained_teacher_against_the_best_static_instruction(data, tmp_path):
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    run = {"task": "gsm8k", "steps": 10, "questions_per_step": 2, "num_generations": 4, "reward": {"student_samples": 2}}
    (teacher_dir / "run_config.json").write_text(json.dumps(run))
    summary = run_wst_eval(WSTEvalConfig(
        task="gsm8k", data=str(data), limit=12, generic_instruction="Think in steps.", untrained_teacher=None,
        self_instruction=True, output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite"),
        static=StaticConfig(candidates=["Be brief.", "Work carefully."], questions=20)), student=ScriptedStudent(respond))
    rows = {row["condition"]: row for row in summary["conditions"]}
    assert list(rows) == ["no instruction", "generic", "self-instruction", "best static"]
    assert summary["static"]["best"] == "candidate 2" and rows["best static"]["accuracy"]["value"] == 1.0
    assert rows["best static"]["cost_to_find"] == {"student_calls": 3 * 20} and rows["generic"]["cost_to_find"] == {
        "student_calls": 0}
    assert [r["condition"] for r in summary["vs_best_static"]] == ["self-instruction"]
    assert summary["vs_best_static"][0]["baseline"] == "best static"
    assert "Best static instruction on 20 train_2 questions" in format_table(summary)
    assert training_student_calls(run) == 10 * 2 * (4 + 1) * 2


@pytest.mark.parametrize("setting, message", [
    ("static.candidates=[]", "the candidate list is empty"),
    ('static.candidates=["Be brief.", "Be brief."]', "a duplicate of an earlier candidate"),
    ("static.split=test", "never on 'test'"),
    (f'static.candidates=["{"x" * 700}"]', "more than the protocol's max_chars"),
])
def test_bad_static_settings_are_one_line_before_any_model_loads(data, tmp_path, capsys, setting, message):
    code = main(["wst", "eval", "--task", "gsm8k", "--model", "no-such-model", f"data={data}", setting,
                 f"output={tmp_path / 'e'}", f"cache={tmp_path / 'c.sqlite'}", "untrained_teacher=null"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_validation_questions_that_are_also_test_questions_are_refused(data, tmp_path):
    from w2s.errors import W2SError

    write_split(data, "train_2", range(101, 105))  # the first test questions
    with pytest.raises(W2SError, match="shares 4 questions with the evaluation split"):
        run_wst_eval(WSTEvalConfig(task="gsm8k", data=str(data), limit=4, untrained_teacher=None,
                                   self_instruction=False, output=str(tmp_path / "e"), cache=str(tmp_path / "c.sqlite"),
                                   static=StaticConfig(candidates=["Be brief."])), student=ScriptedStudent(respond))


def reflect(prompt: str, _: int) -> str:
    """A reflection model that, shown wrong answers, proposes the instruction that fixes them."""
    return "```\nWork carefully.\n```" if "wrong" in prompt else "```\nThink in steps.\n```"


def test_gepa_finds_the_instruction_that_works_within_the_budget_and_eval_uses_it(data, tmp_path):
    student = ScriptedStudent(respond)
    found = optimize_instruction(OptimizeConfig(
        task="gsm8k", data=str(data), train_questions=8, val_questions=8, seed_instruction="Be brief.",
        budget_calls=60, student_max_tokens=32, output=str(tmp_path / "opt"), cache=str(tmp_path / "c.sqlite")),
        student=student, reflection=ScriptedStudent(reflect, name="reflect"))
    assert found["instruction"] == "Work carefully." and found["validation_score"] == 1.0
    from w2s.tasks import get_task

    val = get_task("gsm8k").load("train_2", str(data), 16, 0)[8:]  # the val questions, as GEPA got them
    assert found["seed_validation_score"] == sum(number(e.question) % 4 == 0 for e in val) / 8 < 1
    assert found["cost"]["student_calls"] == found["cost"]["metric_calls"] <= 60  # what the search used
    assert found["cost"]["generated_by_this_attempt"] == student.stats.generated <= found["cost"]["metric_calls"]
    assert json.loads((tmp_path / "opt" / "optimized_instruction.json").read_text())["instruction"] == "Work carefully."
    summary = run_wst_eval(WSTEvalConfig(
        task="gsm8k", data=str(data), limit=12, generic_instruction="Be brief.", untrained_teacher=None,
        self_instruction=False, output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite"),
        static=StaticConfig(optimized=str(tmp_path / "opt"), questions=20)), student=ScriptedStudent(respond))
    rows = {row["condition"]: row for row in summary["conditions"]}
    assert summary["static"]["best"] == "optimized (GEPA)" and rows["optimized (GEPA)"]["accuracy"]["value"] == 1.0
    assert rows["optimized (GEPA)"]["cost_to_find"]["student_calls"] == found["cost"]["student_calls"] + 2 * 20


def test_a_killed_search_resumes_from_its_state_without_asking_again(data, tmp_path):
    """GEPA keeps its state in the output folder after each iteration: a rerun on a new machine
    (here: an empty response cache) continues from it instead of searching again."""
    config = OptimizeConfig(task="gsm8k", data=str(data), train_questions=8, val_questions=8,
                            seed_instruction="Be brief.", budget_calls=60, student_max_tokens=32,
                            output=str(tmp_path / "opt"), cache=str(tmp_path / "first.sqlite"))
    first = optimize_instruction(config, student=ScriptedStudent(respond),
                                 reflection=ScriptedStudent(reflect, name="reflect"))
    assert (tmp_path / "opt" / "gepa_state" / "gepa_state.bin").is_file()
    config.cache = str(tmp_path / "new_machine.sqlite")
    student, reflection = ScriptedStudent(respond), ScriptedStudent(reflect, name="reflect")
    again = optimize_instruction(config, student=student, reflection=reflection)
    assert again["instruction"] == first["instruction"] and again["cost"]["student_calls"] == first["cost"]["student_calls"]
    # nothing of the search is asked again: GEPA only re-scores its seed on the 8 validation questions
    assert student.stats.generated == 8 and reflection.stats.generated == 0


@pytest.mark.parametrize("settings, message", [
    ({"budget_calls": 4}, "cannot even score the seed instruction on 8 val_questions"),
    ({}, "set exactly one of budget_calls and budget_from_teacher"),
    ({"budget_calls": 50, "split": "test"}, "never on 'test'"),
])
def test_a_budget_that_cannot_be_met_is_one_line(data, tmp_path, settings, message):
    from w2s.errors import W2SError

    with pytest.raises((W2SError, ValueError), match=message):
        optimize_instruction(OptimizeConfig(task="gsm8k", data=str(data), train_questions=8, val_questions=8,
                                            output=str(tmp_path / "o"), cache=str(tmp_path / "c.sqlite"), **settings),
                             student=ScriptedStudent(respond), reflection=ScriptedStudent(reflect))


def test_the_budget_can_be_a_trained_teachers_training(tmp_path):
    from w2s.wst.optimize import budget_of

    assert budget_of(OptimizeConfig(budget_from_teacher="results/wst_organism_teacher")) == (
        100 * 4 * (4 + 1) * 1, "the training of results/wst_organism_teacher")


def test_a_base_instruction_is_its_own_condition_and_teachers_add_to_it(data, tmp_path, tiny_model):
    summary = run_wst_eval(WSTEvalConfig(
        task="gsm8k", data=str(data), limit=12, generic_instruction="Think in steps.", untrained_teacher=str(tiny_model),
        self_instruction=False, instruction=InstructionProtocol(base_instruction="Work carefully.", max_tokens=4),
        output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite")), student=ScriptedStudent(respond))
    accuracy = {row["condition"]: row["accuracy"]["value"] for row in summary["conditions"]}
    assert list(accuracy) == ["no instruction", "base instruction", "generic", "untrained teacher"]
    # the base makes every answer right, and the teacher's words are added to it; the generic line stands alone
    assert accuracy["base instruction"] == accuracy["untrained teacher"] == 1.0
    assert accuracy["no instruction"] == 3 / 12 and accuracy["generic"] == 6 / 12
