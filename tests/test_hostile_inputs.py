"""Inputs a careless or hostile user gives: nothing is lost, nothing runs silently wrong, one line each."""

import json

import pytest

from w2s.cli import main


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_grade_refuses_to_overwrite_its_input(tmp_path, capsys):
    src = tmp_path / "runs.jsonl"
    original = json.dumps({"response": "The answer is 4.", "answer": "4"}) + "\n"
    src.write_text(original)
    code, _, err = run(["grade", "--task", "gsm8k", "--input", src, "--output", src], capsys)
    assert code == 2 and "one of its inputs" in err and len(err.splitlines()) == 1
    assert src.read_text() == original
    same_file_other_spelling = tmp_path / "." / "runs.jsonl"
    assert run(["grade", "--task", "gsm8k", "--input", src, "--output", same_file_other_spelling], capsys)[0] == 2


def test_reason_pairs_refuses_to_overwrite_the_weak_file(tmp_path, capsys):
    weak, samples = tmp_path / "weak.jsonl", tmp_path / "samples.jsonl"
    weak.write_text(json.dumps({"id": "a", "question": "q", "response": "The answer is 1."}) + "\n")
    samples.write_text(json.dumps({"id": "a", "responses": ["The answer is 1."] * 3}) + "\n")
    before = weak.read_text()
    code, _, err = run(["reason", "pairs", "--task", "gsm8k", "--weak", weak, "--samples", samples,
                        "--output", weak], capsys)
    assert code == 2 and "one of its inputs" in err and weak.read_text() == before


def test_an_output_folder_is_refused_and_leaves_no_temporary_file(tmp_path, capsys):
    src = tmp_path / "runs.jsonl"
    src.write_text(json.dumps({"response": "4", "answer": "4"}) + "\n")
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, err = run(["grade", "--task", "gsm8k", "--input", src, "--output", folder], capsys)
    assert code == 2 and "is a folder" in err and list(folder.iterdir()) == [] and not list(tmp_path.glob("*.w2s-partial")) and not list(tmp_path.glob(".*"))


def test_eval_output_that_is_a_file_is_refused_before_any_generation(tmp_path, gsm_file, capsys):
    taken = tmp_path / "taken"
    taken.write_text("precious")
    code, _, err = run(["eval", "--model", "no-such-model", "--data", gsm_file, "--split", "train",
                        "--output", taken], capsys)
    assert code == 2 and "a file is in the way" in err and taken.read_text() == "precious"  # before the model is looked up


def test_non_utf8_input_names_the_file_and_line(tmp_path, capsys):
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(json.dumps({"response": "4", "answer": "4"}).encode() + b"\n" + '{"response": "caf\u00e9"}'.encode("latin-1"))
    code, _, err = run(["grade", "--task", "gsm8k", "--input", src], capsys)
    assert code == 2 and f"{src}:2: not UTF-8" in err


@pytest.mark.parametrize("argv, message", [
    (["--concurrency", "0"], "'student.concurrency' = 0 (expected >= 1)"),
    (["--concurrency", "-1"], "'student.concurrency' = -1 (expected >= 1)"),
    (["--batch-size", "0"], "'student.batch_size' = 0 (expected >= 1)"),
    (["--max-tokens", "-5"], "'max_tokens' = -5 (expected >= 1)"),
    (["--temperature", "-1"], "'temperature' = -1.0 (expected >= 0 and <= 10)"),
    (["--temperature", "nan"], "'temperature' = nan (expected a finite number"),
    (["--temperature", "1e309"], "'temperature' = inf (expected a finite number"),
    (["student.timeout_s=1e309"], "'student.timeout_s' = inf (expected a finite number"),
    (["student.dtype=float99"], "'student.dtype' = 'float99' (expected one of"),
    (["student.device=tpu"], "student.device: expected"),
    (["--limit", "0"], "'limit' = 0 (expected >= 1)"),
])
def test_impossible_settings_are_refused_before_any_model_loads(argv, message, gsm_file, capsys):
    code, _, err = run(["eval", "--model", "no-such-model", "--data", gsm_file, "--split", "train", *argv], capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_unknown_backend_option_and_missing_gpu_are_one_line(tiny_model, gsm_file, capsys):
    pytest.importorskip("torch")
    import torch

    code, _, err = run(["eval", "--model", tiny_model, "--data", gsm_file, "--split", "train", "student.extra.foo=1"],
                       capsys)
    assert code == 2 and err == "error: student.extra.foo: not an option of backend 'hf'"
    if not torch.cuda.is_available():
        code, _, err = run(["eval", "--model", tiny_model, "--data", gsm_file, "--split", "train",
                            "student.device=cuda"], capsys)
        assert code == 2 and "sees no CUDA GPU" in err


def test_flag_values_are_strings_not_yaml(tmp_path, gsm_file, capsys):
    """`--output 'runs/a #1'` keeps its '#1'; `--model 0123` stays '0123'; `--output yes` is a path."""
    from w2s.cli import build_parsers
    from w2s.commands.eval import EvalConfig
    from w2s.config import config_from_flags

    parser = build_parsers()
    for output in ["runs/a #1", "yes", "0123"]:
        args = parser.parse_args(["eval", "--output", output, "--model", "0123"])
        config = config_from_flags(EvalConfig, vars(args), None, [])
        assert config.output == output and config.student.model == "0123"


def test_overrides_may_follow_a_flag(tiny_model, gsm_file, tmp_path, capsys):
    code, out, err = run(["eval", "limit=2", "--model", tiny_model, "max_tokens=3", "--data", gsm_file,
                          "--split", "train", "--output", tmp_path / "run"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n"] == 2 and summary["config"]["max_tokens"] == 3
    with pytest.raises(SystemExit):  # argparse's own one-line usage error, exit 2
        main(["eval", "--no-such-flag"])


def test_wst_eval_validates_the_instruction_protocol(gsm_file, capsys):
    code, _, err = run(["wst", "eval", "instruction.placement=bogus"], capsys)
    assert code == 2 and "'instruction.placement' = 'bogus' (expected one of: system, prefix)" in err
    code, _, err = run(["wst", "eval", "instruction.template=Just answer."], capsys)
    assert code == 2 and "instruction.template must contain {question}" in err


@pytest.mark.parametrize("row, message", [
    ({"question": "What is 9 + 9?", "answer": ["18", "20"]}, "field 'answer' must be a string or number, got list"),
    ({"question": "What is 9 + 9?", "answer": {"n": 18}}, "field 'answer' must be a string or number, got dict"),
    ({"question": ["a", "b"], "answer": "18"}, "field 'question' must be a string or number, got list"),
])
def test_eval_and_grade_refuse_the_same_malformed_fields(row, message, tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(row) + "\n")
    code, _, err = run(["eval", "--model", "no-such-model", "--data", data], capsys)
    assert code == 2 and f"{data}:1: {message}" in err
    if "answer" in message:
        graded = tmp_path / "graded.jsonl"
        graded.write_text(json.dumps({"response": "The answer is 18.", **row}) + "\n")
        code, _, err = run(["grade", "--task", "gsm8k", "--input", graded], capsys)
        assert code == 2 and f"{graded}:1: {message}" in err


def test_reason_pairs_warns_when_no_ids_match_and_refuses_null_ids(tmp_path, capsys):
    weak, samples, out = tmp_path / "weak.jsonl", tmp_path / "samples.jsonl", tmp_path / "pairs.jsonl"
    weak.write_text(json.dumps({"id": "a", "question": "q", "response": "The answer is 1."}) + "\n")
    samples.write_text(json.dumps({"id": "b", "responses": ["The answer is 1."] * 3}) + "\n")
    code, printed, err = run(["reason", "pairs", "--task", "gsm8k", "--weak", weak, "--samples", samples,
                              "--output", out], capsys)
    assert code == 0 and "warning: no id of" in err and printed.strip().endswith("pairs: 0 from 0 questions")
    weak.write_text(json.dumps({"id": None, "question": "q", "response": "The answer is 1."}) + "\n")
    code, _, err = run(["reason", "pairs", "--task", "gsm8k", "--weak", weak, "--samples", samples,
                        "--output", out], capsys)
    assert code == 2 and f"{weak}:1: field 'id' must be a string or number, got nothing" in err


def test_a_corrupt_or_folder_cache_is_one_line_that_says_what_to_do(tmp_path, gsm_file, capsys):
    broken = tmp_path / "cache.sqlite"
    broken.write_bytes(b"this is not a sqlite database" * 100)
    code, _, err = run(["eval", "--model", "m", "--data", gsm_file, "--split", "train", "--cache", broken], capsys)
    assert code == 2 and "not a usable response cache" in err and "move it aside" in err
    code, _, err = run(["eval", "--model", "m", "--data", gsm_file, "--split", "train", "--cache", tmp_path], capsys)
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize("content", ['{"task": "gsm8k", "condi', "[1, 2, 3]", '{"conditions": [{"condition": "x"}]}', ""])
def test_report_on_a_truncated_or_foreign_eval_file_is_one_line(content, tmp_path, capsys):
    (tmp_path / "wst_eval.json").write_text(content)
    code, _, err = run(["report", tmp_path], capsys)
    assert code == 2 and ("wst_eval.json" in err or "results files are incomplete" in err)
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("breakage", ["bad_json", "unknown_type", "no_weights", "truncated_weights", "no_tokenizer"])
def test_a_broken_model_folder_is_one_line(breakage, tiny_model, tmp_path, gsm_file, capsys):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    weights = folder / "model.safetensors"
    if breakage == "bad_json":
        (folder / "config.json").write_text("{not json")
    elif breakage == "unknown_type":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "model_type": "no-such-architecture"}))
    elif breakage == "no_weights":
        weights.unlink()
    elif breakage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        for f in folder.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens")):
                f.unlink()
    code, _, err = run(["eval", "--model", folder, "--data", gsm_file, "--split", "train", "--limit", "1",
                        "--output", tmp_path / "out"], capsys)
    errors = [line for line in err.splitlines() if "error:" in line]  # progress bars may share stderr
    assert code == 2 and len(errors) == 1 and str(folder) in errors[0] and "Traceback" not in err


def test_every_commands_help_prints(capsys):
    """argparse %-formats help strings (not descriptions): a stray '%' breaks --help with a traceback."""
    import argparse

    from w2s.cli import build_parsers

    def commands(parser: argparse.ArgumentParser, path: list[str]):
        yield path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, [*path, name])

    paths = list(commands(build_parsers(), []))
    assert ["rm", "check"] in paths and ["reason", "report"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0, path
        assert "usage: w2s" in capsys.readouterr().out


def test_eval_refuses_an_output_folder_whose_files_are_its_data_or_its_cache(tmp_path, gsm_file, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    data = folder / "responses.jsonl"
    data.write_text(gsm_file.read_text())
    code, _, err = run(["eval", "--model", "no-such-model", "--data", data, "--split", "train", "--output", folder], capsys)
    assert code == 2 and "responses.jsonl: this command writes this file, but it is one of its inputs" in err
    assert data.read_text() == gsm_file.read_text()
    cache = tmp_path / "cio" / "responses.jsonl"
    cache.parent.mkdir()
    cache.write_bytes(b"")
    code, _, err = run(["eval", "--model", "no-such-model", "--data", gsm_file, "--split", "train",
                        "--output", cache.parent, f"cache={cache}"], capsys)
    assert code == 2 and "is the response cache" in err and cache.read_bytes() == b""


def test_more_bad_inputs_are_one_line_each(tmp_path, gsm_file, capsys):
    import gzip

    not_gzip = tmp_path / "test.jsonl.gz"
    not_gzip.write_bytes(b"plain text, not gzip\n")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress((json.dumps({"question": "q", "answer": "1"}) + "\n").encode() * 50)[:-20])
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"question": "q", "answer": NaN}\n')
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"question": "q", "answer": ' + "9" * 5000 + "}\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("task: gsm8k\n# caf\xe9\n".encode("latin-1"))
    under_a_file = tmp_path / "file.txt"
    under_a_file.write_text("x")
    for argv, message in [
        (["eval", "--model", "m", "--data", not_gzip], "not a complete gzip file"),
        (["eval", "--model", "m", "--data", cut], "not a complete gzip file"),
        (["eval", "--model", "m", "--data", huge], "huge.jsonl:1: unreadable JSON"),
        (["eval", "--model", "m", "--data", nan], "nan.jsonl:1: unreadable JSON (NaN is not a JSON value)"),
        (["eval", "--config", latin], "latin.yaml: not UTF-8 text"),
        (["eval", "--model", "m", "--data", gsm_file, "--split", "train", "--output", under_a_file / "out"],
         "part of its path is a file"),
        (["reason", "report", tmp_path], "no metrics.json or config.json, so not a `w2s reason run` folder"),
    ]:
        code, _, err = run(argv, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    (tmp_path / "metrics.json").write_text("{}")
    code, _, err = run(["reason", "report", tmp_path], capsys)
    assert code == 2 and "not a metrics file of `w2s reason`" in err


def test_messages_name_what_is_really_wrong(tmp_path, gsm_file, capsys, monkeypatch):
    blank = tmp_path / "null.jsonl"
    blank.write_text(json.dumps({"question": None, "answer": "4"}) + "\n")
    code, _, err = run(["eval", "--model", "m", "--data", blank], capsys)
    assert code == 2 and "field 'question' is null" in err and "missing" not in err
    code, _, err = run(["eval", "--model", "m", "--data", gsm_file, "--split", "train", "--cache", "/dev/null"], capsys)
    assert code == 2 and "/dev/null: is not a regular file" in err and "mv " not in err
    code, _, err = run(["serve", "--teacher", "t", "--upstream", "http://u:p@127.0.0.1:9/v1"], capsys)
    assert code == 2 and "upstream (--upstream): credentials" in err and "student.base_url" not in err
    monkeypatch.setenv("BAD_KEY", "sk-abc\n")
    code, _, err = run(["eval", "--model", "m", "--data", gsm_file, "--split", "train", "--backend", "openai",
                        "--base-url", "http://127.0.0.1:9/v1", "student.api_key_env=BAD_KEY",
                        f"cache={tmp_path / 'c.sqlite'}", "--output", tmp_path / "o"], capsys)
    assert code == 2 and "the key in $BAD_KEY has characters an HTTP header cannot carry" in err
    assert "sk-abc" not in err and "malformed response" not in err


def test_the_python_api_refuses_what_the_command_line_refuses():
    """One line (a W2SError or ValueError naming the setting) for each, never a raw traceback
    from deep inside, and never a silently different run."""
    import math

    import w2s
    from w2s.errors import W2SError
    from w2s.students import SamplingParams

    for bad, message in [({"temperature": math.nan}, "temperature: expected a finite number"),
                         ({"temperature": math.inf}, "temperature: expected a finite number"),
                         ({"max_tokens": "5"}, "max_tokens: expected a whole number"),
                         ({"max_tokens": 2.5}, "max_tokens: expected a whole number"),
                         ({"temperature": 50}, r"temperature must be in \[0, 10\]")]:
        with pytest.raises(ValueError, match=message):
            SamplingParams(**bad)
    for call, message in [(lambda: w2s.get_task(5), "a task is named by a string"),
                          (lambda: w2s.register_task(5, lambda spec: None), "a task name is a non-empty string"),
                          (lambda: w2s.register_task("t", "no_such_module:Thing"), "not an importable"),
                          (lambda: w2s.register_task("gsm8k", lambda spec: None), "exists already; pass replace=True"),
                          (lambda: w2s.register_task("t", 5), "must be a Task subclass, a callable"),
                          (lambda: w2s.train_teacher(5), "config: expected a YAML file's path or a WSTTrainConfig"),
                          (lambda: w2s.evaluate(student=5), "'student' must be a mapping of settings, got int")]:
        with pytest.raises(W2SError, match=message):
            call()
    assert w2s.get_task("gsm8k").name == "gsm8k"  # the built-in task was not replaced
