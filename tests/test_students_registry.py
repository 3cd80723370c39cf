"""Backends come from a lazy name → class registry; the scripted backend runs from a config."""

import json
import re
import sys

import pytest

from w2s.cli import main
from w2s.students import BACKENDS, StudentConfig, make_student, register_backend
from w2s.students.base import Completion, Student
from w2s.students.scripted import register_script


def double_on_even(model: str, prompt: str, index: int) -> str:
    """Right on even numbers only (importable as 'test_students_registry:double_on_even')."""
    n = int(re.search(r"What is (\d+)", prompt).group(1))
    return f"The answer is {2 * n}." if n % 2 == 0 else "The answer is 0."


def test_scripted_backend_from_the_command_line_grades_exactly(gsm_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--data", str(gsm_file), "--split", "train", "--output", str(out), "--backend", "scripted",
                 "--model", "pretend-7b", "student.extra.script=test_students_registry:double_on_even",
                 f"cache={tmp_path / 'c.sqlite'}"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["value"] == 0.5 and summary["model"] == "pretend-7b"
    assert summary["fingerprint"] == "scripted:test_students_registry:double_on_even:pretend-7b"


def test_scripted_backend_errors_are_one_line(gsm_file, tmp_path, capsys):
    base = ["eval", "--data", str(gsm_file), "--split", "train", "--output", str(tmp_path / "r"), "--backend",
            "scripted", f"cache={tmp_path / 'c.sqlite'}"]
    assert main(base) == 2
    assert "needs student.extra.script" in capsys.readouterr().err
    assert main([*base, "student.extra.script=no_such_module:f"]) == 2
    assert "neither a registered script nor an importable" in capsys.readouterr().err


def test_backends_load_lazily_and_a_registered_backend_is_built_from_config(tmp_path):
    import subprocess

    code = ("import sys; from w2s.students import make_student, StudentConfig; "
            "make_student(StudentConfig(backend='scripted', model='m', extra={'script': 'json:dumps'})); "
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'transformers', 'openai', 'vllm'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"

    class Echo(Student):
        options = ("batch_size",)

        def __init__(self, model, *, batch_size, cache=None, shout=False):
            super().__init__(cache)
            self.name, self.fingerprint, self.batch_size, self.shout = model, f"echo:{model}", batch_size, shout

        def _generate(self, requests, params, on_result):
            for i, r in enumerate(requests):
                on_result(i, Completion(r.prompt.upper() if self.shout else r.prompt, 1))

    sys.modules["w2s_test_echo"] = type(sys)("w2s_test_echo")
    sys.modules["w2s_test_echo"].Echo = Echo
    register_backend("echo", "w2s_test_echo:Echo")
    try:
        student = make_student(StudentConfig(backend="echo", model="e", batch_size=3, extra={"shout": True}))
        assert student.batch_size == 3 and student.generate(["hi"], params=_greedy())[0][0].text == "HI"
    finally:
        BACKENDS.pop("echo")


def test_options_a_backend_does_not_read_are_reported(capsys):
    register_script("constant", lambda model, prompt, index: "42")
    make_student(StudentConfig(backend="scripted", batch_size=4, concurrency=2, extra={"script": "constant"}))
    assert "student.batch_size, student.concurrency not used by backend 'scripted'" in capsys.readouterr().out
    with pytest.raises(ValueError, match="student.backend: expected one of"):
        StudentConfig(backend="carrier-pigeon")


def _greedy():
    from w2s.students import SamplingParams

    return SamplingParams(max_tokens=4)
