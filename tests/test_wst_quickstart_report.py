"""`w2s quickstart` end to end on tiny models and a scripted student (resumable), and `w2s report` on hand-made runs."""

import json
import re
import shutil

from w2s.cache import ResponseCache
from w2s.cli import main
from w2s.students.scripted import register_script


def instructed_right(model: str, prompt: str, index: int) -> str:
    """A student that answers right only with an instruction before the question (as the organism
    student, cut short without its teacher's cue, mostly does not)."""
    expression = re.findall(r"problem: ([-+ 0-9]+)=", prompt)
    value = eval(expression[-1]) if expression else 0  # noqa: S307 - digits and +/- from the test task
    return f"The answer is {value if prompt.count(chr(10)) > 1 else value + 1}."


def test_quickstart_shows_a_trained_teacher_lifting_the_student_and_reruns_for_free(
        tiny_model, varied_model, tmp_path, capsys):
    teacher = tmp_path / "teacher"
    shutil.copytree(varied_model, teacher)  # large random weights: it writes non-empty instructions
    (teacher / "instruction_protocol.json").write_text(json.dumps(
        {"template": "plain", "placement": "system", "max_tokens": 8, "max_chars": 600, "student_max_tokens": 12}))
    (teacher / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "reward": 0.1 * s}) + "\n" for s in (1, 2)))
    register_script("quickstart-test", instructed_right)
    out, cache = tmp_path / "qs", tmp_path / "cache.sqlite"
    argv = ["quickstart", f"teacher={teacher}", "task=rg:chain_sum?min_terms=2&max_terms=2&size=60",
            "eval_questions=8", "eval_offset=40", f"base_teacher={tiny_model}", f"output={out}", f"cache={cache}",
            "student.backend=scripted", "student.model=student", "student.extra.script=quickstart-test"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[1/3]" in printed and "[3/3] report" in printed
    assert "8 better, 0 worse, exact McNemar p = 0.0078: the trained teacher lifts the student" in printed
    assert "test questions (40-47; the published evaluation used 0-399), student answers up to 12 tokens" in printed
    report = (out / "report.md").read_text()
    assert "| no instruction | 0.000 [0.000, 0.000] |" in report and "| trained teacher | 1.000 [1.000, 1.000] |" in report
    # the comparison a user needs: the teacher against the one line they would write instead (right too here)
    assert "| generic | 1.000 [1.000, 1.000] |" in report and "0 better, 0 worse, exact McNemar p = 1" in report
    assert "(as trained)" in report and "test items 40-47" in report
    assert "with probability 0.01 " in report  # mcnemar_power(8) at the published rates
    # the published comparisons are read from their committed summaries, not restated in the code
    from w2s.wst.quickstart import LARGER_STUDENT_EVAL, PUBLISHED_EVAL, Comparison

    published, larger = Comparison.read(PUBLISHED_EVAL), Comparison.read(LARGER_STUDENT_EVAL)
    assert (published.helped, published.harmed, published.n) == (116, 8, 400)  # the organism study's result
    assert f"({published.helped} better, {published.harmed} worse of {published.n})" in report
    assert f"the line far ahead ({larger.line:.3f} against {larger.teacher:.3f}" in report
    steps = [line for line in report.splitlines() if re.match(r"\| [12] \| [-+]", line)]
    assert len(steps) == 2 and (out / "full_run_training.png").stat().st_size > 10_000
    assert len((out / "train" / "metrics.jsonl").read_text().splitlines()) == 2

    generated = ResponseCache(cache).count()
    assert main(argv) == 0  # a rerun trains nothing and generates nothing
    assert "already done" in capsys.readouterr().out
    assert ResponseCache(cache).count() == generated


def test_report_shows_the_time_split_and_per_half_means(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "reward": r, "student/accuracy_with_instruction": r, "helped": h, "harmed": 0,
             "time/teacher_generation_s": 1.0, "time/student_s": 7.0, "time/grading_s": 0.5,
             "time/reward_other_s": 0.5, "time/update_s": 1.0, "time/step_s": 10.0}
            for s, r, h in [(1, 0.0, 0), (2, 0.2, 1), (3, 0.5, 2), (4, 0.7, 3)]]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "| reward mean | 0.100 | 0.600 |" in report and "| helped per step | 0.500 | 2.500 |" in report
    assert "teacher generation 10%, student 70%, grading 5%, reward other 5%, update 10%; 10.0 s per step" in report


def test_report_labels_a_scalar_runs_curve_as_a_score(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "reward": 0.1 * s, "student/score_with_instruction": 0.5 + 0.1 * s,
             "student/score_baseline": 0.5} for s in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "| student score with instruction | 0.600 | 0.700 |" in report and "accuracy" not in report


def test_report_on_a_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "metrics.jsonl" in err and "\n" not in err


def test_report_dispatches_to_the_reasoning_report_for_reason_runs(tmp_path):
    run = tmp_path / "reason"
    run.mkdir()
    est = {"value": 0.5, "low": 0.3, "high": 0.7, "n": 10}
    (run / "metrics.json").write_text(json.dumps({
        "task": "gsm8k", "split": "test", "n": 10, "weak_floor": 0.2, "strong_ceiling": 0.6,
        "models": {"weak floor": {"accuracy": {**est, "value": 0.2, "low": 0.1}, "pgr": 0.0},
                   "Stage I": {"accuracy": est, "pgr": 0.75}}}))
    assert main(["report", str(run)]) == 0
    assert "| Stage I | 0.500 [0.300, 0.700] | +0.750 |" in (run / "report.md").read_text()


def test_native_bf16_is_read_from_the_cpu_flags():
    from w2s import devices

    assert devices.cpu_has_native_bf16("processor: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    assert devices.cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not devices.cpu_has_native_bf16("flags : fpu sse2 avx2 avx512f avx512_vnni\n")  # emulated: slower
    assert not devices.cpu_has_native_bf16("")


def test_a_task_label_hides_where_a_run_ran_but_keeps_hub_ids():
    from w2s.tasks import task_label

    assert task_label("hh_rlhf?reward_model=/home/someone/runs/hh/rm") == "hh_rlhf?reward_model=rm"
    assert task_label("hh_rlhf?reward_model=OpenAssistant/reward-model-deberta-v3-large-v2") == \
        "hh_rlhf?reward_model=OpenAssistant/reward-model-deberta-v3-large-v2"
    assert task_label("rg:chain_sum?min_terms=3&max_terms=4") == "rg:chain_sum?min_terms=3&max_terms=4"
    assert task_label("gsm8k") == "gsm8k"
