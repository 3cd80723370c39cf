"""Every path a command writes is checked before any work (`w2s.outputs.plan_writes`): a write that
would land on an input or on the response cache (even one that does not exist yet), a link that
leads to an input, and a folder that cannot be made are each one line, with nothing written.

The models named here do not exist: a command that got past its plan would fail differently
(or, before the fix, first generate and then lose what it made)."""

import json
import os

import pytest

from w2s.cli import main


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def test_eval_refuses_a_new_cache_where_it_writes_its_answers(tmp_path, gsm_file, capsys):
    for cache in ("cio/responses.jsonl", "cio/summary.json"):
        code, err = run(["eval", "--model", "no-such-model", "--data", gsm_file, "--split", "train",
                         "--output", tmp_path / "cio", "--cache", tmp_path / cache], capsys)
        assert code == 2 and "is the response cache" in err and len(err.splitlines()) == 1
        assert not (tmp_path / cache).exists()


def test_eval_advises_another_output_never_moving_the_data(tmp_path, gsm_file, capsys):
    out = tmp_path / "o"
    out.mkdir()
    data = out / "responses.jsonl"
    data.write_text(gsm_file.read_text())
    code, err = run(["eval", "--model", "no-such-model", "--data", data, "--split", "train", "--output", out], capsys)
    assert code == 2 and "one of its inputs" in err and "choose another --output" in err and "mv " not in err
    assert data.read_text() == gsm_file.read_text()


def test_wst_eval_refuses_a_cache_at_its_result_file(tmp_path, gsm_file, capsys):
    code, err = run(["wst", "eval", "--task", "gsm8k", "--model", "no-such-model", "--limit", "2",
                     "--output", tmp_path / "we2", f"data={gsm_file}", "split=train",
                     f"cache={tmp_path / 'we2' / 'wst_eval.json'}"], capsys)
    assert code == 2 and "is the response cache" in err and not (tmp_path / "we2" / "wst_eval.json").exists()


def test_wst_train_refuses_a_cache_at_its_metrics_file(tmp_path, gsm_file, capsys):
    run_dir = tmp_path / "run"
    code, err = run(["wst", "train", "--task", "gsm8k", "--output", run_dir, f"data={gsm_file}",
                     "train_split=train", "eval_split=none", f"cache={run_dir / 'metrics.jsonl'}",
                     "student.model=no-such-model"], capsys)
    assert code == 2 and "metrics.jsonl" in err and not (run_dir / "metrics.jsonl").exists()


def test_reason_run_refuses_a_cache_at_one_of_its_step_files(tmp_path, gsm_file, capsys):
    out = tmp_path / "r"
    code, err = run(["reason", "run", f"output={out}", f"cache={out / 'weak_train2.jsonl'}",
                     "weak_model=no-such-model"], capsys)
    assert code == 2 and "is the response cache" in err and not (out / "weak_train2.jsonl").exists()


def wst_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    summary = {"task": "gsm8k", "split": "test", "n": 2, "conditions": [
        {"condition": "no instruction", "accuracy": {"value": 0.5, "low": 0.0, "high": 1.0, "n": 2}}]}
    (run_dir / "wst_eval.json").write_text(json.dumps(summary))
    return run_dir


@pytest.mark.parametrize("link", ["report.md", "conditions.png"])
def test_report_never_writes_through_a_link_to_its_input(tmp_path, capsys, link):
    run_dir = wst_run_folder(tmp_path)
    before = (run_dir / "wst_eval.json").read_text()
    os.symlink(run_dir / "wst_eval.json", run_dir / link)
    code, err = run(["report", run_dir], capsys)
    assert code == 2 and "one of its inputs" in err and (run_dir / "wst_eval.json").read_text() == before


def test_a_link_to_elsewhere_is_replaced_not_written_through(tmp_path, capsys):
    run_dir = wst_run_folder(tmp_path)
    elsewhere = tmp_path / "precious.md"
    elsewhere.write_text("keep me")
    os.symlink(elsewhere, run_dir / "report.md")
    code, _ = run(["report", run_dir], capsys)
    assert code == 2 and elsewhere.read_text() == "keep me"  # a link out of the run folder is refused too


def reason_run_folder(tmp_path, accuracy):
    run_dir = tmp_path / "reason"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"task": "gsm8k", "split": "test", "n": 2, "models": {
        "weak floor": {"accuracy": accuracy}}}))
    return run_dir


def test_reason_report_never_writes_through_a_link_to_its_metrics(tmp_path, capsys):
    run_dir = reason_run_folder(tmp_path, {"value": 0.5, "low": 0.0, "high": 1.0, "n": 2})
    before = (run_dir / "metrics.json").read_text()
    os.symlink(run_dir / "metrics.json", run_dir / "accuracy.png")
    code, err = run(["reason", "report", run_dir], capsys)
    assert code == 2 and "one of its inputs" in err and (run_dir / "metrics.json").read_text() == before


def test_reason_report_names_a_field_that_is_not_a_number(tmp_path, capsys):
    run_dir = reason_run_folder(tmp_path, {"value": "0.5", "low": 0.0, "high": 1.0, "n": 2})
    code, err = run(["reason", "report", run_dir], capsys)
    assert code == 2 and "models.weak floor.accuracy must hold numbers" in err and len(err.splitlines()) == 1


def test_a_report_path_that_is_a_folder_is_one_line(tmp_path, capsys):
    run_dir = wst_run_folder(tmp_path)
    (run_dir / "report.md").mkdir()
    code, err = run(["report", run_dir], capsys)
    assert code == 2 and "report.md: is a folder" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_output_folder_that_cannot_be_made_fails_before_any_work(tmp_path, gsm_file, capsys, where):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "sub" if where == "under-a-file" else "/proc/w2s-cannot-write-here"
    src = tmp_path / "runs.jsonl"
    src.write_text(json.dumps({"response": "The answer is 4.", "answer": "4"}) + "\n")
    weak = tmp_path / "weak.jsonl"
    weak.write_text(json.dumps({"id": "a", "question": "q", "response": "The answer is 1."}) + "\n")
    commands = [
        ["eval", "--model", "no-such-model", "--data", gsm_file, "--split", "train", "--output", out],
        ["grade", "--task", "gsm8k", "--input", src, "--output", f"{out}/graded.jsonl"],
        ["reason", "pairs", "--task", "gsm8k", "--weak", weak, "--samples", weak, "--output", f"{out}/p.jsonl"],
        ["wst", "train", "--task", "gsm8k", "--output", out, f"data={gsm_file}", "train_split=train",
         "eval_split=none", "student.model=no-such-model"],
        ["reason", "run", f"output={out}", "weak_model=no-such-model"],
    ]
    for argv in commands:
        code, err = run(argv, capsys)
        assert code == 2 and "cannot be" in err and len(err.splitlines()) == 1, (argv, err)


def test_a_teacher_that_is_not_there_is_one_line_before_any_model_loads(tmp_path, gsm_file, capsys):
    killed = tmp_path / "killed_run"
    (killed / "checkpoint-5").mkdir(parents=True)
    for teacher, message in [(tmp_path / "no" / "such", "no such folder"),
                             (killed, "this run has no final/ yet (it stopped after checkpoint-5)")]:
        code, err = run(["wst", "eval", "--task", "gsm8k", "--teacher", teacher, "--model", "no-such-model",
                         f"data={gsm_file}", "split=train", f"output={tmp_path / 'e'}",
                         f"cache={tmp_path / 'c.sqlite'}"], capsys)
        assert code == 2 and message in err and len(err.splitlines()) == 1
        assert not (tmp_path / "w2s-home" / "models").exists()  # no teacher (nor pack) was loaded


def test_outputs_get_the_users_umask_not_the_temporary_files_0600(tmp_path):
    from w2s.jsonl import write_json, write_jsonl

    old = os.umask(0o022)
    try:
        write_jsonl(tmp_path / "a.jsonl", [{"x": 1}])
        write_json(tmp_path / "summary.json", {"partial": True})
    finally:
        os.umask(old)
    assert {oct((tmp_path / f).stat().st_mode & 0o777) for f in ("a.jsonl", "summary.json")} == {"0o644"}
