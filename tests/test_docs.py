"""docs/python-api.md runs as written: every Python block, in order, in one namespace.

Only the first block (the names used below: a trained teacher, the student, the task, …) is
replaced by tiny stand-ins: a tiny in-process model as teacher, with an instruction protocol
saved beside it; a scripted student that answers right only when given an instruction; a
small reasoning-gym task. Everything else, the API calls, runs verbatim, and the test then checks
what the snippets computed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from w2s.reason.pipeline import ReasonConfig
from w2s.students import StudentConfig
from w2s.students.scripted import register_script
from w2s.training import FinetuneConfig

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def answer(model: str, prompt: str, index: int) -> str:
    """Right only with an instruction (a system line before the question), so a teacher helps."""
    expression = re.findall(r"problem: ([-+ 0-9]+)=", prompt) or re.findall(r"What is ([-+ 0-9]+)\?", prompt)
    value = eval(expression[-1]) if expression else 0  # noqa: S307 - digits and +/- only, from the test's own task
    instructed = prompt.count("\n") > 1
    return f"The answer is {value if instructed else value + 1}."


def stand_in_teacher(varied_model: Path, tmp_path: Path) -> Path:
    """A tiny teacher with a saved protocol (large random weights: it writes non-empty instructions)
    and the run config of a short training (3 steps x 2 questions x (4 + 1) = 30 student answers)."""
    teacher = tmp_path / "teacher"
    shutil.copytree(varied_model, teacher)
    (teacher / "instruction_protocol.json").write_text(json.dumps(
        {"template": "plain", "placement": "system", "max_tokens": 8, "max_chars": 600, "student_max_tokens": 16}))
    (teacher / "run_config.json").write_text(json.dumps(
        {"task": "rg:chain_sum?min_terms=2&max_terms=2&size=420", "steps": 3, "questions_per_step": 2,
         "num_generations": 4}))
    return teacher


def reflect(model: str, prompt: str, index: int) -> str:
    """A reflection model that proposes one fixed instruction."""
    return "```\nAdd the numbers.\n```"


STUDENT = {"model": "scripted-student", "backend": "scripted", "extra": {"script": "docs-student"}}


def test_the_readme_python_snippet_runs(tmp_path, varied_model, monkeypatch):
    [block] = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    stand_ins = {'Teacher.load("results/wst_organism_teacher")': "Teacher.load(TEACHER)",
                 'get_task("rg:chain_sum?min_terms=3&max_terms=4&max_digits=2")': "get_task(TASK)",
                 'load_lm("qwen2.5-0.5b-instruct")': "load_lm(**STUDENT)"}
    for real, stand_in in stand_ins.items():
        assert real in block
        block = block.replace(real, stand_in)
    register_script("docs-student", answer)
    namespace = {"TEACHER": str(stand_in_teacher(varied_model, tmp_path)), "STUDENT": STUDENT,
                 "TASK": "rg:chain_sum?min_terms=2&max_terms=2&size=420"}
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["task"].grader.grade(namespace["answer"], namespace["task"].load("test", offset=400)[0].answer).correct


def test_every_python_snippet_in_the_api_doc_runs(tmp_path, tiny_model, varied_model, monkeypatch):
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 7 and "TEACHER =" in blocks[0]
    teacher = stand_in_teacher(varied_model, tmp_path)
    register_script("docs-student", answer)
    register_script("docs-reflect", reflect)
    student = STUDENT
    reasoning = ReasonConfig(task="rg:chain_sum?min_terms=2&max_terms=2&size=30", weak_model=str(tiny_model),
                             strong_model=str(tiny_model), train1_limit=4, train2_limit=4, test_limit=4, max_tokens=8,
                             sft=FinetuneConfig(epochs=1, batch_size=2, max_length=256),
                             generation=StudentConfig(backend="scripted", extra={"script": "docs-student"}))
    namespace = {"TEACHER": str(teacher), "STUDENT": student, "BASE_TEACHER": str(tiny_model),
                 "TASK": "rg:chain_sum?min_terms=2&max_terms=2&size=420", "REASONING": reasoning, "OUT": "runs/api",
                 "REFLECTION": {"model": "reflect", "backend": "scripted", "extra": {"script": "docs-reflect"}}}
    monkeypatch.chdir(tmp_path)
    for block in blocks[1:]:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the documentation's own code

    # what the snippets computed: the teacher's protocol travelled with it, and its budget was used
    assert namespace["teacher"].protocol.student_max_tokens == 16
    assert namespace["messages"][0]["role"] == "system" and namespace["messages"][0]["content"]
    assert len(namespace["answers"]) == 4 and all(g.correct for g in namespace["grades"])
    summary = namespace["summary"]
    assert summary["student_max_tokens"] == 16 and summary["student_max_tokens_source"] == "as trained"
    rows = {r["condition"]: r for r in summary["conditions"]}
    assert rows["no instruction"]["accuracy"]["value"] == 0.0 and rows["trained teacher"]["accuracy"]["value"] == 1.0
    assert namespace["trained"].protocol.student_max_tokens == 128
    # the optimizer's budget is the stand-in teacher's training (30 answers), checked before each
    # iteration: the last one may go over by two minibatches (4) and a validation pass (8). Every
    # instruction is right with this student, so the pick is the first candidate and the teacher ties with it
    found = namespace["found"]
    assert found["budget"]["student_calls"] == 30 and 30 <= found["cost"]["student_calls"] <= 30 + 2 * 4 + 8
    assert found["validation_score"] == 1.0 and namespace["best"] == "generic"
    assert (namespace["versus"]["trained_better"], namespace["versus"]["trained_worse"]) == (0, 0)
    assert (tmp_path / "runs/api/reason/weak_train2.jsonl").is_file() and namespace["metrics"] == {}
    assert [e.answer for e in namespace["get_task"]("doubling").load("test", limit=2)] == ["0", "2"]


def test_help_names_exactly_the_tasks_and_backends_the_code_accepts(capsys, monkeypatch):
    """Help text comes from the registries, so it cannot drift from what the code accepts."""
    import pytest

    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapped inside a name (vllm-server)
    from w2s.cli import main
    from w2s.students import BACKENDS
    from w2s.tasks import TASKS

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in BACKENDS) and "| vllm |" not in out and "vllm (" not in out
    assert all(name in out for name in TASKS if name != "rg") and "rg:<reasoning-gym dataset>" in out
    with pytest.raises(SystemExit):
        main(["wst", "eval", "--help"])
    assert "default: the trained teacher's own task" in " ".join(capsys.readouterr().out.split())
