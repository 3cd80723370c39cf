"""`w2s quickstart` end to end on tiny models (resumable), and `w2s report` on hand-made runs."""

import json

from w2s.cache import ResponseCache
from w2s.cli import main


def test_quickstart_runs_the_whole_loop_and_reruns_for_free(tiny_model, gsm_file, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    lines = gsm_file.read_text().splitlines()
    (data / "test.jsonl").write_text("\n".join(lines[:4]) + "\n")
    (data / "train_1.jsonl").write_text("\n".join(lines[4:]) + "\n")
    out, cache = tmp_path / "qs", tmp_path / "cache.sqlite"
    argv = ["quickstart", f"data={data}", f"output={out}", f"cache={cache}", f"teacher.model={tiny_model}",
            f"student.model={tiny_model}", "eval_questions=4", "steps=2", "num_generations=2",
            "student_max_tokens=6", "instruction.max_tokens=6"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[1/4] baseline" in printed and "[4/4] report" in printed
    report = (out / "report.md").read_text()
    for condition in ("no instruction", "generic", "untrained teacher", "trained teacher"):
        assert f"| {condition} |" in report
    assert "## Training" in report and (out / "training.png").stat().st_size > 0
    assert (out / "conditions.png").stat().st_size > 0
    assert len((out / "train" / "metrics.jsonl").read_text().splitlines()) == 2

    generated = ResponseCache(cache).count()
    assert main(argv) == 0  # a rerun trains nothing and generates nothing
    assert "teacher already trained" in capsys.readouterr().out
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


def test_quickstart_falls_back_to_gsm_symbolic_without_gsm8k_data(tmp_path, monkeypatch, capsys):
    from w2s.errors import W2SError
    from w2s.tasks.base import Task
    from w2s.wst.quickstart import QuickstartConfig, pick_data

    monkeypatch.chdir(tmp_path)  # no ./shared/data or ../shared/data here
    monkeypatch.setenv("W2S_DATA_DIR", str(tmp_path / "nothing"))

    def offline(self, hub_id, split):
        raise W2SError(f"task '{self.name}': could not load split '{split}' of '{hub_id}' from the hub")

    monkeypatch.setattr(Task, "_load_hub", offline)
    assert pick_data(QuickstartConfig()) == ("gsm_symbolic", "train", "test")
    assert "using the offline gsm_symbolic task" in capsys.readouterr().out
    data = tmp_path / "d"
    data.mkdir()
    (data / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n')
    (data / "train.jsonl").write_text('{"question": "p", "answer": "#### 2"}\n')
    assert pick_data(QuickstartConfig(data=str(data))) == ("gsm8k", "train", "test")  # a user path wins


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


def test_quickstart_takes_bf16_only_on_a_cpu_that_has_it_and_never_over_the_users_choice(monkeypatch):
    from w2s import devices
    from w2s.students import StudentConfig
    from w2s.wst import quickstart
    from w2s.wst.quickstart import QuickstartConfig, use_native_bf16
    from w2s.wst.train import TeacherConfig

    assert devices.cpu_has_native_bf16("processor: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    assert devices.cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not devices.cpu_has_native_bf16("flags : fpu sse2 avx2 avx512f avx512_vnni\n")  # emulated: slower
    assert not devices.cpu_has_native_bf16("")

    monkeypatch.setattr(quickstart, "cuda_available", lambda: False)
    monkeypatch.setattr(quickstart, "cpu_has_native_bf16", lambda: True)
    config = QuickstartConfig()
    assert use_native_bf16(config) and config.student.dtype == "bfloat16" and config.teacher.bf16 is True
    chosen = QuickstartConfig(student=StudentConfig(dtype="float32"), teacher=TeacherConfig(bf16=False))
    assert not use_native_bf16(chosen) and chosen.student.dtype == "float32" and chosen.teacher.bf16 is False
    monkeypatch.setattr(quickstart, "cpu_has_native_bf16", lambda: False)
    plain = QuickstartConfig()
    assert not use_native_bf16(plain) and plain.student.dtype == "auto" and plain.teacher.bf16 is None


def test_a_task_label_hides_where_a_run_ran_but_keeps_hub_ids():
    from w2s.tasks import task_label

    assert task_label("hh_rlhf?reward_model=/home/someone/runs/hh/rm") == "hh_rlhf?reward_model=rm"
    assert task_label("hh_rlhf?reward_model=OpenAssistant/reward-model-deberta-v3-large-v2") == \
        "hh_rlhf?reward_model=OpenAssistant/reward-model-deberta-v3-large-v2"
    assert task_label("rg:chain_sum?min_terms=3&max_terms=4") == "rg:chain_sum?min_terms=3&max_terms=4"
    assert task_label("gsm8k") == "gsm8k"
