"""`w2s wst eval`: every condition graded on the same questions, with exact paired statistics."""

import json
import re
from dataclasses import replace
from pathlib import Path

from fake_openai_server import FakeOpenAIServer

from w2s.config import to_dict
from w2s.students import StudentConfig
from w2s.students.scripted import ScriptedStudent as _ScriptedStudent
from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval, trained_teacher_vs
from w2s.wst.protocol import InstructionProtocol


class ScriptedStudent(_ScriptedStudent):
    """The scripted student, also recording the answer budgets it was asked with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.budgets: set[int] = set()

    def _generate(self, requests, params, on_result) -> None:
        self.budgets.add(params.max_tokens)
        super()._generate(requests, params, on_result)


def test_conditions_and_paired_statistics_are_exact(gsm_file, tmp_path, tiny_model):
    # Right without help on questions 1-3; "step" in the system message fixes every question;
    # the student's own instruction (it answers the teacher prompt with "The answer is 0.") harms.
    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        if prompt.startswith("You are a teacher"):
            return "The answer is 0."
        if prompt.startswith("The answer is 0."):
            return "no idea"
        instruction = prompt.split("What is")[0]  # the system message, if any, comes first
        return f"The answer is {2 * n}." if "step" in instruction or n <= 3 else "The answer is 0."

    config = WSTEvalConfig(data=str(gsm_file), split="train", limit=12, untrained_teacher=str(tiny_model),
                           instruction=InstructionProtocol(max_tokens=4), output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite"))
    summary = run_wst_eval(config, student=ScriptedStudent(respond))
    by_name = {row["condition"]: row for row in summary["conditions"]}
    assert list(by_name) == ["no instruction", "generic", "untrained teacher", "self-instruction"]
    none, generic, own = by_name["no instruction"], by_name["generic"], by_name["self-instruction"]
    assert none["accuracy"]["value"] == 0.25 and (none["helped"], none["harmed"], none["mcnemar_p"]) == (0, 0, 1.0)
    assert generic["accuracy"]["value"] == 1.0 and generic["relative_gain"] == 3.0
    assert (generic["helped"], generic["harmed"], generic["mcnemar_p"]) == (9, 0, 2 / 2**9)
    assert own["accuracy"]["value"] == 0.0 and (own["helped"], own["harmed"]) == (0, 3)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "instructions_and_answers.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 12 and {r["instruction"] for r in rows if r["condition"] == "generic"} == {
        "Let's think step by step."}
    assert "| generic | 1.000" in format_table(summary)
    assert summary["trained_teacher_vs"] == [] and "trained teacher vs" not in format_table(summary)


def test_the_trained_teacher_is_tested_against_every_other_condition():
    correct = {"no instruction": [True, False, False, False, True],
               "untrained teacher": [True, True, True, False, False],
               "trained teacher": [False, True, True, True, True]}
    rows = trained_teacher_vs(correct)
    assert rows == [
        {"condition": "no instruction", "trained_better": 3, "trained_worse": 1, "mcnemar_p": 0.625},
        {"condition": "untrained teacher", "trained_better": 2, "trained_worse": 1, "mcnemar_p": 1.0}]
    table = format_table({"task": "gsm8k", "split": "test", "n": 5, "student": "s", "conditions": [],
                          "trained_teacher_vs": rows})
    assert "| untrained teacher | 2 | 1 | 1 |" in table


def test_a_teacher_behind_an_openai_compatible_api_is_one_more_condition(gsm_file, tmp_path):
    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        return f"The answer is {2 * n}." if n <= 3 else "The answer is 0."

    with FakeOpenAIServer() as server:  # its "instruction" is the teacher prompt reversed
        config = WSTEvalConfig(data=str(gsm_file), split="train", limit=12, untrained_teacher=None,
                               generic_instruction=None, self_instruction=False,
                               api_teacher=StudentConfig(backend="openai", model="big-teacher", base_url=server.url),
                               output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite"))
        summary = run_wst_eval(config, student=ScriptedStudent(respond))
        assert sum(server.answered.values()) == 12
    assert [row["condition"] for row in summary["conditions"]] == ["no instruction", "API teacher (big-teacher)"]
    rows = [json.loads(line) for line in (tmp_path / "eval" / "instructions_and_answers.jsonl").read_text().splitlines()]
    api_rows = [r for r in rows if r["condition"] == "API teacher (big-teacher)"]
    assert len(api_rows) == 12 and all(r["instruction"].startswith("echo:") for r in api_rows)
    assert summary["conditions"][1]["accuracy"]["value"] == 0.25


def test_a_trained_teacher_is_evaluated_with_the_protocol_it_was_trained_with(tiny_model, gsm_file, tmp_path):
    import pytest

    from w2s.errors import W2SError
    from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher

    trained_with = InstructionProtocol(template="Advise on: {question}", placement="prefix", max_tokens=5)

    def respond(prompt, _):
        return "The answer is 0."

    data = split_data(gsm_file, tmp_path)
    run = train_teacher(WSTTrainConfig(
        data=str(data), train_split="train", eval_split="test", steps=1, questions_per_step=2, num_generations=2,
        output=str(tmp_path / "run"), cache=str(tmp_path / "c.sqlite"), instruction=trained_with,
        teacher=TeacherConfig(model=str(tiny_model), lora=False)), student=ScriptedStudent(respond))
    with FakeOpenAIServer() as server:  # an API teacher writes non-empty instructions ("echo: ...")
        config = WSTEvalConfig(data=str(data), split="test", limit=3, untrained_teacher=str(tiny_model),
                               trained_teacher=str(run), generic_instruction=None, self_instruction=False,
                               api_teacher=StudentConfig(backend="openai", model="t", base_url=server.url),
                               output=str(tmp_path / "eval"), cache=str(tmp_path / "c.sqlite"))
        student = ScriptedStudent(respond)
        summary = run_wst_eval(config, student=student)
    # the protocol travels with the teacher, with the answer budget training used (256, the default)
    assert summary["protocol"] == to_dict(replace(trained_with, student_max_tokens=256))
    assert summary["protocol_source"].startswith("as trained")
    # the API teacher was asked with the trained template, and its instruction went in front of the user turn
    instructed = [p for p in student.prompts if "echo:" in json.dumps(p)]
    assert len(instructed) == 3 and all(len(p) == 1 and p[0]["role"] == "user" for p in instructed)
    assert all(p[0]["content"].startswith("echo:") and "Advise on"[::-1] in p[0]["content"] for p in instructed)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "instructions_and_answers.jsonl").read_text().splitlines()]
    assert all(r["n_tokens"] == 4 for r in rows)  # "The answer is 0." counts 4 tokens here
    assert summary["conditions"][0]["tokens_per_correct"] is None
    assert summary["student_max_tokens"] == 256 and summary["student_max_tokens_source"] == "as trained"
    assert student.budgets == {256}  # every answer was asked within the teacher's budget
    config.student_max_tokens, config.api_teacher = 64, None  # another budget: allowed, and said
    student = ScriptedStudent(respond)
    summary = run_wst_eval(config, student=student)
    assert student.budgets == {64} and summary["student_max_tokens"] == 64
    assert summary["student_max_tokens_source"] == "override (the teacher was trained at 256)"
    assert "student budget 64 tokens (override (the teacher was trained at 256))" in format_table(summary)
    config.instruction = InstructionProtocol(placement="system")
    with pytest.raises(W2SError, match="differs from the protocol"):
        run_wst_eval(config, student=ScriptedStudent(respond))


def test_a_lora_teacher_copied_elsewhere_loads_by_its_base_models_name(tiny_model, gsm_file, tmp_path, monkeypatch):
    """The adapter records the base as the user named it (a name, never a path only this machine
    has), is found again by that name elsewhere, and its weights are really applied."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from w2s import models
    from w2s.models.sources import ModelSource
    from w2s.students import SamplingParams
    from w2s.students.hf import HFStudent
    from w2s.wst.teacher import Teacher
    from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher

    base = shutil.copytree(tiny_model, tmp_path / "base-here")
    known = {"tiny-base": ModelSource("tiny-base", base, "tiny-base@test", "tiny")}
    real = models.resolve_model
    monkeypatch.setattr(models, "resolve_model", lambda name, *a, **k: known.get(name) or real(name, *a, **k))
    data = split_data(gsm_file, tmp_path)
    run = train_teacher(WSTTrainConfig(
        data=str(data), train_split="train", eval_split="test", steps=1, questions_per_step=2, num_generations=2,
        output=str(tmp_path / "run"), cache=str(tmp_path / "c.sqlite"), instruction=InstructionProtocol(max_tokens=4),
        teacher=TeacherConfig(model="tiny-base", lora=True)),
        student=ScriptedStudent(lambda prompt, _: "The answer is 0."))
    assert json.loads((run / "final" / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-base"
    copy = shutil.copytree(run / "final", tmp_path / "elsewhere" / "teacher")
    weights = load_file(copy / "adapter_model.safetensors")  # make the adapter's effect unmistakable
    save_file({k: torch.randn_like(v) * 3 if "lora_B" in k else v for k, v in weights.items()},
              copy / "adapter_model.safetensors")
    shutil.move(base, tmp_path / "base-moved")  # no path of the training machine is left
    known["tiny-base"] = ModelSource("tiny-base", tmp_path / "base-moved", "tiny-base@test", "tiny")
    teacher = Teacher.load(copy, cache=tmp_path / "c2.sqlite")
    assert teacher.protocol == InstructionProtocol(max_tokens=4, student_max_tokens=256)
    prompts, params = ["Write a hint about apples."], SamplingParams(max_tokens=6)
    with_adapter = teacher.lm.generate(prompts, params, progress=False)[0][0].text
    base_only = HFStudent(str(tmp_path / "base-moved")).generate(prompts, params, progress=False)[0][0].text
    assert with_adapter != base_only


def test_a_saved_adapter_names_the_base_not_this_machines_path(tmp_path):
    """The adapter loads on any machine (its base is resolved by name there); its card is
    `run_card`'s, which names models as the user gave them (tests/test_wst_train.py)."""
    from w2s.wst.train import _name_base_model

    folder = tmp_path / "final"
    folder.mkdir()
    local = "/home/someone/.cache/w2s/models/smollm2-135m-instruct"
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": local, "r": 16}))
    _name_base_model(folder, "smollm2-135m-instruct")
    assert json.loads((folder / "adapter_config.json").read_text()) == {"base_model_name_or_path": "smollm2-135m-instruct",
                                                                         "r": 16}


def split_data(gsm_file, tmp_path):
    """The GSM8K-format file as a data folder: its first 4 rows the test split, the rest train."""
    data = tmp_path / "data"
    data.mkdir()
    lines = gsm_file.read_text().splitlines()
    (data / "train.jsonl").write_text("\n".join(lines[4:]) + "\n")
    (data / "test.jsonl").write_text("\n".join(lines[:4]) + "\n")
    return data


def test_a_teacher_is_evaluated_on_the_task_it_was_trained_on_unless_told(tmp_path):
    from w2s.wst.teacher import trained_task

    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    assert trained_task(run) is None
    (run / "config.json").write_text(json.dumps({"task": "rg:chain_sum?min_terms=2&max_terms=2", "steps": 3}))
    assert trained_task(run) == trained_task(run / "final") == "rg:chain_sum?min_terms=2&max_terms=2"
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "run_config.json").write_text(json.dumps({"task": "hh_rlhf"}))
    assert trained_task(committed) == "hh_rlhf"
    assert trained_task(Path(__file__).resolve().parents[1] / "results" / "wst_organism_teacher") == \
        "rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
