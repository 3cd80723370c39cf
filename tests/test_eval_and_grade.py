"""`w2s eval` and `w2s grade` end to end, including a run killed midway and resumed."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from w2s.cache import ResponseCache
from w2s.cli import main
from w2s.commands.eval import EvalConfig, run_eval
from w2s.students.scripted import ScriptedStudent


def test_eval_accuracy_is_exactly_the_graders(gsm_file, tmp_path):
    # right on even numbers, wrong on odd ones; strict only when "The answer is" is used
    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        return f"The answer is {2 * n}." if n % 2 == 0 else f"I get {2 * n + 1}"

    config = EvalConfig(data=str(gsm_file), split="train", output=str(tmp_path / "run"),
                        cache=str(tmp_path / "c.sqlite"))
    result = run_eval(config, student=ScriptedStudent(respond))
    assert result.accuracy.value == 0.5 and result.strict_accuracy.value == 0.5 and result.accuracy.n == 12
    rows = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in rows] == [i % 2 == 0 for i in range(1, 13)]
    assert {"id", "question", "prompt", "response", "pred", "gold", "correct", "strict_correct"} <= set(rows[0])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["accuracy"]["value"] == 0.5 and summary["config"]["data"] == str(gsm_file)


def test_eval_cli_with_tiny_model_then_rerun_is_fully_cached(tiny_model, gsm_file, tmp_path, capsys):
    argv = ["eval", "--model", str(tiny_model), "--data", str(gsm_file), "--split", "train", "--limit", "6",
            "--max-tokens", "8", "--output", str(tmp_path / "run"), "student.batch_size=4"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "accuracy (flexible)" in first and "generated 6 (cached 0)" in first
    assert main(argv) == 0
    assert "generated 0 (cached 6)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["eval", "--task", "nope"], "error: unknown task 'nope'"),
    (["eval", "--model", "no-such-model", "--data", "{gsm}", "--split", "train"], "error: unknown model 'no-such-model'"),
    (["eval", "student.nope=1"], "error: command line: unknown key 'student.nope'"),
    (["eval", "--backend", "carrier-pigeon", "--data", "{gsm}", "--split", "train"], "student.backend: expected one of"),
    (["eval", "--backend", "vllm", "--model", "{model}", "--data", "{gsm}", "--split", "train"],
     "'vllm' (in process) was replaced by 'vllm-server'"),
])
def test_eval_errors_are_one_line(argv, message, capsys, gsm_file, tiny_model):
    argv = [a.replace("{gsm}", str(gsm_file)).replace("{model}", str(tiny_model)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) or message in err
    assert len(err.splitlines()) == 1


def test_killed_eval_resumes_without_regenerating(tiny_model, tmp_path):
    data = tmp_path / "many.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} times 3?", "answer": str(3 * i)}) + "\n"
                            for i in range(120)))
    cache_path = tmp_path / "cache.sqlite"
    cmd = [sys.executable, "-m", "w2s.cli", "eval", "--model", str(tiny_model), "--data", str(data),
           "--max-tokens", "24", "--cache", str(cache_path), "--output", str(tmp_path / "run"),
           "student.batch_size=1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # generous: on a loaded machine the process takes long to start
    while (time.time() < deadline and proc.poll() is None
           and (not cache_path.exists() or ResponseCache(cache_path).count() < 10)):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = ResponseCache(cache_path).count()
    assert 10 <= kept < 120, "the run should have been killed midway"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["cached"], summary["generated"]) == (kept, 120 - kept)
    assert ResponseCache(cache_path).count() == 120


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_grade_cli_adds_pred_and_correct(tmp_path, capsys):
    src, out = tmp_path / "runs.jsonl", tmp_path / "graded.jsonl"
    _write(src, [{"response": "so #### 1,000", "gold": "1000", "extra": 1},
                 {"response": "The answer is $18.00", "gold": "18"},
                 {"response": "I do not know", "gold": "3"},
                 {"response": "I get 4", "gold": "Since 2+2=4\n#### 4"}])
    assert main(["grade", "--task", "gsm8k", "--input", str(src), "--response-key", "response",
                 "--answer-key", "gold", "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy: 0.7500 (n=4)"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["pred"], r["correct"]) for r in rows] == [("1000", True), ("18", True), (None, False), ("4", True)]
    assert rows[0]["extra"] == 1


def test_grade_cli_math500(tmp_path, capsys):
    src = tmp_path / "m.jsonl"
    _write(src, [{"response": "thus \\boxed{\\frac{1}{2}}", "answer": "0.5"},
                 {"response": "\\boxed{(3,\\pi/2)}", "answer": "\\left( 3, \\frac{\\pi}{2} \\right)"},
                 {"response": "\\boxed{7}", "answer": "8"}])
    assert main(["grade", "--task", "math500", "--input", str(src)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy: 0.6667 (n=3)"


@pytest.mark.parametrize("rows, message", [
    ([{"response": "1", "answer": "1"}, "{broken"], r"runs\.jsonl:2: invalid JSON"),
    ([{"response": "1", "answer": "1"}, {"answer": "2"}], r"runs\.jsonl:2: missing key 'response'"),
    ([{"response": "1"}], r"runs\.jsonl:1: missing key 'answer'"),
    ([{"response": 5, "answer": "1"}], r"runs\.jsonl:1: 'response' must be a string"),
    ([], r"no rows to grade"),
])
def test_grade_errors_name_the_line(tmp_path, capsys, rows, message):
    src = tmp_path / "runs.jsonl"
    _write(src, rows)
    assert main(["grade", "--task", "gsm8k", "--input", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and len(err.splitlines()) == 1


def test_an_input_named_like_a_temporary_file_is_never_replaced(tmp_path, capsys):
    """Outputs were once written to OUTPUT.tmp and renamed: an input of that name vanished."""
    src, out = tmp_path / "answers.jsonl.tmp", tmp_path / "answers.jsonl"
    _write(src, [{"response": "#### 4", "gold": "4"}])
    before = src.read_text()
    assert main(["grade", "--task", "gsm8k", "--input", str(src), "--response-key", "response",
                 "--answer-key", "gold", "--output", str(out)]) == 0
    assert src.read_text() == before and json.loads(out.read_text())["correct"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "answers.jsonl.tmp"]
