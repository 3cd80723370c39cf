"""`w2s wst push`: exactly the files a teacher is, which `Teacher.load` takes back; never a
checkpoint, a cache, a machine path or a key; no token or network is one line."""

import json

import pytest

from w2s.cli import main
from w2s.errors import W2SError
from w2s.wst.share import push_teacher, stage_teacher


@pytest.fixture
def trained_run(tiny_model, gsm_file, tmp_path):
    from test_wst_train import config, student

    from w2s.wst.train import TeacherConfig, train_teacher

    lora = TeacherConfig(model=str(tiny_model), lora=True)  # what a user shares: an adapter
    return train_teacher(config(tiny_model, gsm_file, tmp_path, steps=2, save_steps=1, teacher=lora),
                         student=student())


def test_the_staged_teacher_is_what_load_needs_and_loads_back(trained_run, tmp_path):
    from w2s.wst.teacher import Teacher

    assert list(trained_run.glob("checkpoint-*")) and (trained_run / "metrics.jsonl").is_file()
    staged = stage_teacher(trained_run, tmp_path / "staged")
    names = {p.name for p in staged.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "instruction_protocol.json", "README.md",
            "run_config.json", "tokenizer.json"} <= names
    assert not names & {"metrics.jsonl", "train_ids.json", "trainer_state.json", "optimizer.pt", "responses.sqlite"}
    assert not any(p.is_dir() for p in staged.iterdir())  # no checkpoint folders, no logs
    run_config = json.loads((staged / "run_config.json").read_text())
    assert run_config["output"] is None and run_config["cache"] is None and run_config["task"] == "gsm8k"
    card = (staged / "README.md").read_text()
    assert "student" in card.lower()
    teacher = Teacher.load(staged, cache=tmp_path / "c.sqlite")
    assert teacher.protocol.student_max_tokens == json.loads((staged / "instruction_protocol.json").read_text())[
        "student_max_tokens"]
    assert len(teacher.instruct(["What is 2 plus 2?"])) == 1


def test_a_key_in_a_teachers_files_stops_the_push(trained_run, tmp_path):
    readme = trained_run / "final" / "README.md"
    readme.write_text(readme.read_text() + "\nsk-abcdefghijklmnopqrstuvwxyz0123\n")
    with pytest.raises(W2SError, match="README.md of the teacher holds what looks like a key; nothing was uploaded"):
        stage_teacher(trained_run, tmp_path / "staged")


def test_no_token_or_network_is_one_line(trained_run, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(trained_run.parent / "hf-home"))
    with pytest.raises(W2SError, match="could not push to the hub repo someone/teacher"):
        push_teacher(trained_run, "someone/teacher")
    assert main(["wst", "push", str(trained_run)]) == 2 and "--repo-id is required" in capsys.readouterr().err


def test_a_folder_that_is_not_a_teacher_is_refused(tmp_path):
    with pytest.raises(W2SError, match="not a trained teacher"):
        stage_teacher(tmp_path, tmp_path / "staged")
