"""`--plan` says beforehand what a run asks of the student: a fresh run on an empty cache makes
exactly the planned calls, and after it the cache holds every call whose prompt was known."""

import re

from w2s.cli import main
from w2s.students import StudentConfig
from w2s.students.scripted import register_script
from w2s.wst.evaluate import WSTEvalConfig, run_wst_eval
from w2s.wst.plan import eval_plan, train_plan
from w2s.wst.static import StaticConfig


def answer(model, prompt, index):
    n = int(re.findall(r"(?:What is|Compute) (\d+)", prompt)[-1])
    return f"The answer is {2 * n if 'step' in prompt else 0}."


def eval_config(tmp_path, gsm_file, teacher, **kw):
    register_script("plan-test", answer)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "test.jsonl").write_text(gsm_file.read_text())
    lines = gsm_file.read_text().splitlines()
    (tmp_path / "data" / "train_2.jsonl").write_text("\n".join(line.replace("What is", "Compute") for line in lines))
    return WSTEvalConfig(task="gsm8k", data=str(tmp_path / "data"), limit=6, untrained_teacher=str(teacher),
                         self_instruction=False, output=str(tmp_path / "e"), cache=str(tmp_path / "c.sqlite"),
                         student=StudentConfig(backend="scripted", model="s", extra={"script": "plan-test"}), **kw)


def test_an_evaluations_plan_is_its_real_calls(gsm_file, tmp_path, varied_model):
    config = eval_config(tmp_path, gsm_file, varied_model)  # a teacher whose instructions all differ
    plan = eval_plan(config)
    assert plan["known_prompts_cached"] == 0
    summary = run_wst_eval(config)
    assert plan["calls_at_most"] == summary["usage"]["student s"]["calls_generated"] == 6 * 3
    assert eval_plan(config)["known_prompts_cached"] == plan["known_prompts"] == 12  # none and generic, cached now


def test_with_static_picks_the_plan_is_an_upper_bound(gsm_file, tmp_path, varied_model):
    config = eval_config(tmp_path, gsm_file, varied_model, static=StaticConfig(candidates=["Think in steps."],
                                                                               questions=5))
    plan = eval_plan(config)
    summary = run_wst_eval(config)
    generated = summary["usage"]["student s"]["calls_generated"]
    # 2 candidates x 5 validation questions, and the best static on test unless it is the generic line
    extra = 0 if summary["static"]["best"] == "generic" else 6
    assert plan["calls_at_most"] == 6 * 4 + 2 * 5 and generated == 6 * 3 + extra + 2 * 5 <= plan["calls_at_most"]


def test_a_trainings_plan_is_its_real_calls(gsm_file, tmp_path, tiny_model):
    from test_wst_train import config as train_config
    from test_wst_train import student

    from w2s.wst.train import train_teacher

    config = train_config(tiny_model, gsm_file, tmp_path, steps=2)
    plan = train_plan(config)
    scripted = student()
    train_teacher(config, student=scripted)
    assert plan["calls_at_most"] == scripted.stats.generated == 2 * 2 * (2 + 1)


def test_the_command_prints_the_plan_and_loads_no_model(gsm_file, tmp_path, capsys):
    assert main(["wst", "eval", "--plan", "--task", "gsm8k", "--model", "qwen2.5-0.5b-instruct", "--limit", "4",
                 f"data={gsm_file}", "split=train", "untrained_teacher=null", "self_instruction=false",
                 "student.price={prompt: 1.0, completion: 2.0}", f"cache={tmp_path / 'c.sqlite'}"]) == 0
    out = capsys.readouterr().out
    assert "at most 8 calls and 4,096 completion tokens" in out and "completions cost at most 0.0082" in out
    assert not (tmp_path / "w2s-home" / "models").exists()  # nothing was installed, converted or loaded
