"""The whole progressive weak-to-strong pipeline on tiny models: every artifact, exact selections,
exact PGR, resumption between steps, and a real-generation smoke run of the first steps.

Training really runs (TRL SFT and DPO on a tiny Llama). Answers are scripted per model through
the one Student interface, so what each step must keep is known exactly.
"""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from w2s.cli import main
from w2s.errors import W2SError
from w2s.reason import pipeline
from w2s.reason.pipeline import STEP_NAMES, ReasonConfig, run_metrics, run_steps
from w2s.reason.report import timing_section
from w2s.students import StudentConfig
from w2s.students.scripted import register_script
from w2s.training import FinetuneConfig


def write_split(folder: Path, name: str, numbers) -> None:
    folder.mkdir(exist_ok=True)
    rows = [{"id": f"q{n}", "question": f"What is {n} plus {n}?", "answer": f"{n} + {n} = {2 * n}\n#### {2 * n}"}
            for n in numbers]
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    write_split(folder, "train_1", range(1, 5))
    write_split(folder, "train_2", range(5, 13))
    write_split(folder, "test", range(20, 24))
    return folder


def last_n(prompt: str) -> int:
    return int(re.findall(r"What is (\d+) plus", prompt)[-1])


def respond_as(model: str):
    """Scripted answers per model (see the module docstring for why)."""
    name = Path(model).name

    def respond(prompt: str, idx: int) -> str:
        n = last_n(prompt)
        if name == "weak" or name == "full_weak_ft":
            value = 2 * n if n % 2 == 0 else n  # right on even n only
        elif name == "stage1_round1_weak":  # round 2 of an iterated Stage I
            value = 2 * n
        elif name == "stage1_round1_icl":
            value = 0 if n == 6 else 2 * n
        elif name == "stage1" and 5 <= n <= 12:  # Stage II samples, by question
            value = {8: [16, 16, 16, 16, 3], 5: [10] * 5, 7: [14, 14, 14, 0, 0],
                     9: [18, 18, 0, 0, 1]}.get(n, [2 * n] * 5)[idx]
            return f"Sample {idx}: The answer is {value}."
        elif name == "stage1":
            value = 0 if n == 21 else 2 * n
        elif name.startswith("stage2") or name == "ceiling":
            value = 2 * n
        else:  # the untouched strong model (in context on train_2, zero-shot on test)
            value = 1 if n % 4 == 1 else (n if n == 11 else 2 * n)
        return f"The answer is {value}."

    return respond


def config(data, tmp_path, tiny_model, **overrides):
    small = FinetuneConfig(epochs=1, batch_size=2, max_length=96)
    settings = dict(data=str(data), weak_model=str(tiny_model), strong_model=str(tiny_model), train1_limit=None,
                    train2_limit=None, test_limit=None, seed=None, icl_demos=2, samples=5, max_tokens=16,
                    output=str(tmp_path / "run"), cache=str(tmp_path / "cache.sqlite"), sft=small,
                    preference_training=FinetuneConfig(epochs=1, batch_size=2, max_length=96),
                    generation=StudentConfig(backend="scripted", extra={"script": "reason-test"}))
    return ReasonConfig(**{**settings, **overrides})


def script_models(script) -> None:
    """Every model of the run answers through `script(model, prompt, index)` (the scripted backend)."""
    register_script("reason-test", script)


def test_pipeline_end_to_end_with_exact_selections_pgr_and_resume(data, tmp_path, tiny_model, capsys):
    asked = []  # (model, question number) of every answer really generated

    def script(model, prompt, idx):
        asked.append((Path(model).name, last_n(prompt)))
        return respond_as(model)(prompt, idx)

    script_models(script)
    cfg = config(data, tmp_path, tiny_model)
    run = run_steps(cfg, until="stage1-filter")
    weak = [json.loads(line) for line in (run.path / "weak_train2.jsonl").read_text().splitlines()]
    assert [r["id"] for r in weak] == [f"q{n}" for n in range(5, 13)]
    kept = [json.loads(line) for line in (run.path / "stage1" / "weak.jsonl").read_text().splitlines()]
    # agreement on even n, and on q11 where both are wrong the same way (gold is never consulted)
    assert [r["id"] for r in kept] == ["q6", "q8", "q10", "q11", "q12"]
    hybrid = (run.path / "stage1" / "hybrid.jsonl").read_text().splitlines()
    assert len(hybrid) == 10
    stats = json.loads((run.path / "stage1" / "filter_stats.json").read_text())
    assert stats[0]["kept"] == 5 and stats[0]["gold_accuracy_weak_kept"] == "0.800"
    assert not (run.path / "models" / "stage1").exists()
    weak_model_time = (run.path / "models" / "weak" / "model.safetensors").stat().st_mtime

    # a training step killed halfway leaves only a .partial folder, which is not "done"
    (run.path / "models" / "stage1.partial").mkdir(parents=True)
    capsys.readouterr()
    asked.clear()
    run = run_steps(cfg)  # resumes: earlier steps are not redone
    printed = capsys.readouterr().out
    assert "[1/17] weak-sft: done already" in printed and "[4/17] icl-answers: done already" in printed
    assert (run.path / "models" / "weak" / "model.safetensors").stat().st_mtime == weak_model_time
    assert not [n for model, n in asked if model == "weak" and n < 20]  # train_2 answers not regenerated
    assert not (run.path / "models" / "stage1.partial").exists()
    timed = [json.loads(line) for line in (run.path / "timings.jsonl").read_text().splitlines()]
    assert [t["step"] for t in timed] == STEP_NAMES  # each step timed once: finished steps are not re-run
    assert {t["outcome"] for t in timed} == {"done"}

    pairs = [json.loads(line) for line in (run.path / "pairs.jsonl").read_text().splitlines()]
    assert [p["id"] for p in pairs] == ["q5", "q8", "q11"]
    by_id = {p["id"]: p for p in pairs}
    assert by_id["q8"] == {"id": "q8", "question": "What is 8 plus 8?", "chosen": "The answer is 16.",
                           "rejected": "Sample 4: The answer is 3."}
    assert by_id["q5"]["rejected"] == "The answer is 5." and by_id["q5"]["chosen"].endswith("is 10.")
    assert by_id["q11"]["rejected"] == "The answer is 11."

    metrics = json.loads((run.path / "metrics.json").read_text())
    acc = {k: v["accuracy"]["value"] for k, v in metrics["models"].items()}
    pgr = {k: v["pgr"] for k, v in metrics["models"].items()}
    assert acc == {"weak floor": 0.5, "strong zero-shot": 0.75, "full weak FT": 0.5, "Stage I": 0.75,
                   "Stage II (DPO)": 1.0, "strong ceiling": 1.0}
    assert pgr["Stage I"] == pytest.approx(0.5) and pgr["full weak FT"] == 0 and pgr["Stage II (DPO)"] == 1
    # Stage II is right on 21 and 23 where full weak FT is wrong, and never the reverse
    assert metrics["models"]["Stage II (DPO)"]["vs_full_weak_ft"] == {"better": 2, "worse": 0, "mcnemar_p": 0.5}
    assert metrics["models"]["Stage I"]["vs_full_weak_ft"] == {"better": 1, "worse": 0, "mcnemar_p": 1.0}
    assert "vs_full_weak_ft" not in metrics["models"]["strong ceiling"]
    interval = metrics["models"]["Stage I"]["pgr_interval"]
    assert interval["low"] <= 0.5 <= interval["high"] and interval["undefined_resamples"] > 0  # n=4 resamples
    for model in ("weak", "stage1", "full_weak_ft", "ceiling", "stage2_dpo"):
        assert (run.path / "models" / model / "config.json").is_file()

    assert main(["reason", "report", str(run.path)]) == 0
    report = (run.path / "report.md").read_text()
    assert "| Stage I | 0.750" in report and "+0.500 [" in report and (run.path / "accuracy.png").is_file()
    assert "| 2 / 0, p=0.5 | 1.000 [" in report  # strict accuracy: every scripted answer is marked
    assert metrics["models"]["Stage I"]["strict_accuracy"]["value"] == 0.75
    assert "3 pairs from 3 questions" in report
    assert "## Where the time went" in report and "| weak-sft |" in report and "| all |" in report

    with pytest.raises(W2SError, match="different config .*changed: samples"):
        run_steps(config(data, tmp_path, tiny_model, samples=7))
    # a run started before an option existed resumes: the missing option counts as its default
    saved = json.loads((run.path / "config.json").read_text())
    del saved["sft"]["bf16"], saved["selection"]
    (run.path / "config.json").write_text(json.dumps(saved))
    run_steps(cfg, only="metrics")
    with pytest.raises(W2SError, match="different config .*changed: sft"):
        run_steps(config(data, tmp_path, tiny_model, sft=FinetuneConfig(epochs=1, batch_size=2, max_length=96,
                                                                        bf16=True)))


def test_iterated_stage1_filters_answers_of_models_trained_on_the_previous_round(data, tmp_path, tiny_model):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    run = run_steps(config(data, tmp_path, tiny_model, stage1_rounds=2), until="stage1-filter")
    assert (run.path / "models" / "stage1_round1_weak").is_dir() and (run.path / "models" / "stage1_round1_icl").is_dir()
    stats = json.loads((run.path / "stage1" / "filter_stats.json").read_text())
    assert [s["kept"] for s in stats] == [5, 7]
    final = [json.loads(line)["id"] for line in (run.path / "stage1" / "weak.jsonl").read_text().splitlines()]
    assert final == [f"q{n}" for n in range(5, 13) if n != 6]


def test_two_rounds_and_both_preference_methods_are_each_trained_and_evaluated(data, tmp_path, tiny_model, capsys):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    cfg = config(data, tmp_path, tiny_model, stage1_rounds=2, preference=["dpo", "orpo"])
    run = run_steps(cfg)
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert list(metrics["models"]) == ["weak floor", "strong zero-shot", "full weak FT", "Stage I (round 1)",
                                       "Stage I (round 2)", "Stage II (DPO)", "Stage II (ORPO)", "strong ceiling"]
    assert metrics["models"]["Stage II (ORPO)"]["model"].endswith("stage2_orpo")
    # round 1's Stage I model is trained on round 1's set (5 agreeing questions, hybrid: 10 rows)
    assert metrics["models"]["Stage I (round 1)"]["model"].endswith("stage1_round1")
    assert metrics["models"]["Stage I (round 1)"]["accuracy"]["value"] == 0.75  # answers as the untouched model
    assert main(["reason", "report", str(run.path)]) == 0
    assert "Stage II DPO and ORPO" in (run.path / "report.md").read_text()
    # a Stage II run killed after its DPO model (so before any Stage II answers) resumes with ORPO only
    shutil.rmtree(run.path / "models" / "stage2_orpo")
    (run.path / "eval" / "stage_ii_orpo.jsonl").unlink()
    dpo_time = (run.path / "models" / "stage2_dpo" / "config.json").stat().st_mtime
    capsys.readouterr()
    run_steps(cfg)
    printed = capsys.readouterr().out
    assert "ORPO from the Stage I model" in printed and "DPO from" not in printed.replace("ORPO from", "")
    assert (run.path / "models" / "stage2_dpo" / "config.json").stat().st_mtime == dpo_time
    with pytest.raises(ValueError, match="preference must be"):
        ReasonConfig(preference=["dpo", "dpo"])


def test_when_stage1_keeps_nothing_the_baselines_and_evaluation_still_run(data, tmp_path, tiny_model, capsys):
    def script(model, prompt, idx):
        if Path(model).name == "weak":  # never agrees with the strong model
            return "The answer is 999."
        return respond_as(model)(prompt, idx)

    script_models(script)
    cfg = config(data, tmp_path, tiny_model)
    with pytest.raises(W2SError, match="step 'stage1-sft' had nothing to train on, so stage1-sft, eval-stage1, "
                                       "stage2-samples, stage2-pairs, stage2-train, eval-stage2 did not run"):
        run_steps(cfg)
    printed = capsys.readouterr().out
    assert "[9/17] stage2-samples: skipped (stage1-sft had nothing to train on)" in printed
    metrics = json.loads((Path(cfg.output) / "metrics.json").read_text())
    assert list(metrics["models"]) == ["weak floor", "strong zero-shot", "full weak FT", "strong ceiling"]
    assert metrics["not_trained"] == ["Stage I", "Stage II (DPO)"] and metrics["weak_floor"] == 0.0


def test_first_steps_generate_for_real_with_the_hf_backend(data, tmp_path, tiny_model):
    """No scripting: the tiny weak model is fine-tuned and really answers train_2."""
    cfg = config(data, tmp_path, tiny_model, max_tokens=4, generation=StudentConfig())
    assert main(["reason", "run", "--until", "weak-answers", f"data={data}", f"weak_model={tiny_model}",
                 f"strong_model={tiny_model}", "train1_limit=4", "train2_limit=3", "test_limit=2",
                 "max_tokens=4", f"output={cfg.output}", f"cache={cfg.cache}", "sft.epochs=1",
                 "sft.max_length=96"]) == 0
    rows = [json.loads(line) for line in (Path(cfg.output) / "weak_train2.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(set(r) == {"id", "question", "response", "gold", "pred", "correct", "strict_pred", "strict_correct"} for r in rows)
    # a single step run on its own needs its inputs
    assert main(["reason", "stage1-sft", f"output={tmp_path / 'other'}", f"data={data}"]) == 2


def test_demonstrations_are_the_same_every_time_even_without_a_seed():
    from w2s.reason.pipeline import pick_demos

    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "response": "x", "pred": None if i % 3 else str(i)}
            for i in range(30)]
    picked = [r["id"] for r in pick_demos(rows, 4, None)]
    assert picked == [r["id"] for r in pick_demos(rows, 4, None)] == [r["id"] for r in pick_demos(rows, 4, 0)]
    assert len(picked) == 5 and all(int(i[1:]) % 3 == 0 for i in picked)  # only answers with a final answer


def test_a_lost_model_folder_is_retrained_only_while_a_step_still_reads_it(data, tmp_path, tiny_model, capsys):
    """A new machine keeps the run's small files but not its model folders: each model answered
    the test questions right after training, so only a model some unfinished step reads is trained
    again, and no answer already in a file is generated again."""
    asked = []

    def script(model, prompt, idx):
        asked.append(Path(model).name)
        return respond_as(model)(prompt, idx)

    script_models(script)
    cfg = config(data, tmp_path, tiny_model)
    run = run_steps(cfg, until="stage2-samples")
    assert (run.path / "eval" / "stage_i.jsonl").is_file() and not (run.path / "pairs.jsonl").exists()
    for folder in ("weak", "stage1"):  # the machine is lost
        shutil.rmtree(run.path / "models" / folder)
    asked.clear()
    capsys.readouterr()
    cfg = dataclasses.replace(cfg, cache=str(tmp_path / "new_machine.sqlite"))  # an empty cache: answers are asked for
    run_steps(cfg)
    printed = capsys.readouterr().out
    # weak's readers (weak-answers, eval-weak) are done; stage1's Stage II training is not
    assert "[1/17] weak-sft: done already" in printed and "[7/17] stage1-sft ..." in printed
    assert "[8/17] eval-stage1: done already" in printed and "[9/17] stage2-samples: done already" in printed
    assert set(asked) == {"stage2_dpo", "full_weak_ft", "ceiling"}  # only the new models answer (test)
    before = json.loads((run.path / "metrics.json").read_text())["models"]

    for folder in ("stage1", "stage2_dpo", "full_weak_ft", "ceiling"):
        shutil.rmtree(run.path / "models" / folder)
    asked.clear()
    capsys.readouterr()
    run_steps(dataclasses.replace(cfg, cache=str(tmp_path / "another_machine.sqlite")))
    assert not asked and " ..." not in capsys.readouterr().out.replace("[17/17] metrics ...", "")
    after = json.loads((run.path / "metrics.json").read_text())["models"]
    assert {k: v["accuracy"] for k, v in after.items()} == {k: v["accuracy"] for k, v in before.items()}
    assert after["Stage II (DPO)"]["vs_full_weak_ft"] == {"better": 2, "worse": 0, "mcnemar_p": 0.5}


def test_a_step_run_alone_names_each_missing_input_and_the_step_that_makes_it(data, tmp_path, tiny_model):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    cfg = config(data, tmp_path, tiny_model)
    with pytest.raises(W2SError, match=r"step 'stage1-filter' needs .*weak_train2.jsonl \(from the 'weak-answers' "
                                       r"step\); .*icl_train2.jsonl \(from the 'icl-answers' step\)"):
        run_steps(cfg, only="stage1-filter")


def test_the_docs_step_table_is_the_pipelines_file_graph():
    """docs/commands.md lists exactly the steps of STEPS, in order, with what each writes."""
    from w2s.reason.pipeline import STEPS

    text = (Path(__file__).parents[1] / "docs" / "commands.md").read_text()
    table = text[text.index("| step | reads | writes |"):].split("\n\n")[0].splitlines()[2:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table]
    assert [c[0].strip("`") for c in cells] == STEP_NAMES
    for step, (_, reads, writes, _) in zip(STEPS, cells, strict=True):
        assert reads.replace("`", "").split(", ") == (list(step.reads) or ["—"])
        assert writes.replace("`", "").split(", ") == list(step.writes)


def test_every_attempt_at_a_step_is_timed_and_the_report_sums_them(data, tmp_path, tiny_model, monkeypatch):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    cfg = config(data, tmp_path, tiny_model)

    def interrupted(run):
        raise KeyboardInterrupt

    steps = [dataclasses.replace(s, run=interrupted) if s.name == "weak-answers" else s for s in pipeline.STEPS]
    monkeypatch.setattr(pipeline, "STEPS", steps)
    with pytest.raises(KeyboardInterrupt):
        run_steps(cfg, until="weak-answers")
    monkeypatch.undo()
    run = run_steps(cfg, until="weak-answers")
    timed = [json.loads(line) for line in (run.path / "timings.jsonl").read_text().splitlines()]
    assert [(t["step"], t["outcome"]) for t in timed] == [("weak-sft", "done"), ("weak-answers", "failed"),
                                                          ("weak-answers", "done")]
    rows = [line for line in timing_section(run.path / "timings.jsonl") if line.startswith("| weak-answers |")]
    assert len(rows) == 1 and rows[0].endswith("| 2 |")  # one row per step, both attempts counted


def test_each_model_is_released_before_the_next_one_answers(data, tmp_path, tiny_model, monkeypatch):
    """A server w2s starts for one model (vllm-server, llamacpp) is stopped before the next model's
    starts: a study of 1.5B models cannot hold several in memory at once."""
    from w2s.students.scripted import ScriptedStudent

    live, most = set(), [0]
    generate, close = ScriptedStudent._generate, ScriptedStudent.close

    def tracked_generate(self, *args, **kwargs):
        live.add(id(self))
        most[0] = max(most[0], len(live))
        return generate(self, *args, **kwargs)

    def tracked_close(self):
        live.discard(id(self))
        close(self)

    monkeypatch.setattr(ScriptedStudent, "_generate", tracked_generate)
    monkeypatch.setattr(ScriptedStudent, "close", tracked_close)
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    run_steps(config(data, tmp_path, tiny_model, baselines=False), until="stage2-samples")
    assert most == [1] and not live


def test_an_unfinished_run_reports_the_models_evaluated_so_far_as_the_finished_run_will(data, tmp_path, tiny_model,
                                                                                         capsys):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    cfg = config(data, tmp_path, tiny_model)
    run = run_steps(cfg, until="eval-weak")  # weak-sft is done; in-context answers are not
    (run.path / "config.json").rename(run.path / "config.saved")
    assert main(["reason", "report", str(run.path)]) == 2
    assert "no metrics.json or config.json, so not a `w2s reason run` folder" in capsys.readouterr().err
    (run.path / "config.saved").rename(run.path / "config.json")

    run = run_steps(cfg, until="eval-stage1")
    capsys.readouterr()
    assert main(["report", str(run.path)]) == 0  # `w2s report` knows an unfinished reasoning run too
    report = (run.path / "report.md").read_text()
    assert "steps left: stage2-samples, stage2-pairs, stage2-train, eval-stage2, full-weak-ft, " \
           "eval-full-weak-ft, ceiling, eval-ceiling, metrics" in report
    assert "| weak floor | 0.500" in report and "| Stage I | 0.750" in report and "full weak FT |" not in report
    assert not (run.path / "metrics.json").exists()  # the metrics step writes it, once, at the end
    so_far = run_metrics(run.path)[0]["models"]

    run_steps(cfg)
    finished = json.loads((run.path / "metrics.json").read_text())["models"]
    for name in ("weak floor", "strong zero-shot", "Stage I"):
        assert so_far[name]["accuracy"] == finished[name]["accuracy"]
    assert so_far["Stage I"]["pgr"] is None and finished["Stage I"]["pgr"] == pytest.approx(0.5)


def test_a_run_whose_models_have_not_answered_yet_says_which_steps_are_left(data, tmp_path, tiny_model, capsys):
    script_models(lambda model, prompt, idx: respond_as(model)(prompt, idx))
    run = run_steps(config(data, tmp_path, tiny_model), until="weak-answers")
    capsys.readouterr()
    assert main(["reason", "report", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "no model has answered the test questions yet; steps left: eval-weak, icl-answers" in err
    assert "Traceback" not in err
