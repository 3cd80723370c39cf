"""Every command says what it asked of its students and what it cost; a budget stops a run cleanly."""

import json
import re

import pytest
from fake_openai_server import FakeOpenAIServer

from w2s.cache import ResponseCache
from w2s.cli import main
from w2s.students import Budget, BudgetSpent, Price, SamplingParams, StudentConfig, make_student
from w2s.students.openai_compat import OpenAIStudent
from w2s.students.scripted import register_script

GREEDY = SamplingParams(max_tokens=8)


def words(model, prompt, index):
    return "one two three"


def test_a_calls_budget_stops_cleanly_and_a_rerun_goes_on_from_the_cache(tmp_path):
    register_script("words", words)
    cache = ResponseCache(tmp_path / "c.sqlite")
    prompts = [f"question {i}" for i in range(5)]
    tight = make_student(StudentConfig(backend="scripted", extra={"script": "words"}, budget=Budget(calls=3)), cache)
    with pytest.raises(BudgetSpent, match=r"student.budget.calls=3: 3 calls.*cached: rerun the same command"):
        tight.generate(prompts, GREEDY)
    assert tight.calls == 3
    roomy = make_student(StudentConfig(backend="scripted", extra={"script": "words"}, budget=Budget(calls=3)), cache)
    assert [o[0].text for o in roomy.generate(prompts, GREEDY)] == ["one two three"] * 5
    assert roomy.calls == 2 and roomy.stats.cached == 3  # only what the first run did not reach


def test_a_token_budget_stops_an_api_student_between_requests():
    with FakeOpenAIServer() as server:  # the fake server reports 1 prompt + 3 completion tokens per answer
        student = OpenAIStudent("m", server.url, concurrency=1, max_retries=0)
        student.budget = Budget(tokens=10)
        with pytest.raises(BudgetSpent, match="student.budget.tokens=10: 3 calls, 12 tokens"):
            student.generate([f"q{i}" for i in range(6)], GREEDY, progress=False)
        assert sum(server.answered.values()) == 3


def test_eval_reports_usage_generated_and_cached_with_a_cost(gsm_file, tmp_path, capsys):
    register_script("words", words)
    argv = ["eval", "--data", str(gsm_file), "--split", "train", "--backend", "scripted", "--limit", "4",
            "student.extra.script=words", "student.price.prompt=2", "student.price.completion=10",
            f"cache={tmp_path / 'c.sqlite'}"]
    assert main([*argv, "--output", str(tmp_path / "a")]) == 0
    usage = json.loads((tmp_path / "a" / "summary.json").read_text())["usage"]
    assert usage["calls_generated"] == 4 and usage["completion_tokens"] == 12 and usage["prompt_tokens"] > 0
    assert usage["cost"] == pytest.approx((usage["prompt_tokens"] * 2 + 12 * 10) / 1e6)
    assert "4 calls generated" in capsys.readouterr().out
    assert main([*argv, "--output", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"0 calls generated \(0 prompt \+ 0 completion tokens\), 4 answered from the cache", out)
    assert "cost 0.0000" in out


def test_a_spent_budget_is_one_line_on_the_command_line(gsm_file, tmp_path, capsys):
    register_script("words", words)
    code = main(["eval", "--data", str(gsm_file), "--split", "train", "--backend", "scripted",
                 "student.extra.script=words", "student.budget.calls=2", f"cache={tmp_path / 'c.sqlite'}",
                 "--output", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip().splitlines()[-1]  # (after the progress bar's own lines)
    assert code == 2 and err.startswith("error: student budget spent")
    with pytest.raises(ValueError, match=r"prompt = -1 \(expected a finite number, >= 0\)"):
        Price(prompt=-1)
