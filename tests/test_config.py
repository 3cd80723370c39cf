import pytest

from w2s.commands.eval import EvalConfig
from w2s.config import apply_overrides, build, load_yaml
from w2s.errors import W2SError


def test_yaml_plus_overrides_builds_nested_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: math500\nstudent:\n  model: some/model\n  batch_size: 4\n")
    data = apply_overrides(load_yaml(path), ["student.batch_size=8", "limit=10", "temperature=1"])
    config = build(EvalConfig, data, str(path))
    assert (config.task, config.limit, config.student.model, config.student.batch_size) == \
        ("math500", 10, "some/model", 8)
    assert isinstance(config.temperature, float) and config.temperature == 1.0


@pytest.mark.parametrize("overrides, message", [
    (["student.bogus=1"], "unknown key 'student.bogus'"),
    (["limt=2"], "unknown key 'limt' (did you mean 'limit'?)"),  # a misspelling gets the nearest key
    (["student.batch_sise=2"], "(did you mean 'student.batch_size'?)"),
    (["limit=ten"], "'limit' = 'ten' (expected int)"),
    (["student.batch_size=true"], "'student.batch_size' = True (expected int)"),
    (["student=3"], "'student' must be a mapping of settings, got int 3"),
    (["noequals"], "expected key.sub=value"),
])
def test_bad_keys_and_values_get_one_line_errors(overrides, message):
    with pytest.raises(W2SError) as err:
        build(EvalConfig, apply_overrides({}, overrides), "cfg.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: gsm8k\nstudent: [unclosed\n")
    with pytest.raises(W2SError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_yaml(path)


def test_missing_config_file():
    with pytest.raises(W2SError, match="config file not found"):
        load_yaml("/nonexistent/config.yaml")


def test_a_key_given_twice_names_the_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("task: gsm8k\nstudent:\n  model: a\n  model: b\n")
    with pytest.raises(W2SError, match=r"twice\.yaml:4: invalid YAML \(key 'model' is given twice\)"):
        load_yaml(path)


def test_exponent_floats_without_a_dot_are_floats():
    """YAML 1.1 reads `1e-3` as a string; a float field takes it as the number it means."""
    from w2s.wst.train import WSTTrainConfig

    config = build(WSTTrainConfig, apply_overrides({}, ["learning_rate=1e-3"]))
    assert config.learning_rate == 0.001
    with pytest.raises(W2SError, match="expected float"):
        build(WSTTrainConfig, apply_overrides({}, ["learning_rate=fast"]))


def test_every_shipped_config_builds():
    """A config in configs/ that no longer matches its command would fail a user on first use."""
    from pathlib import Path

    from w2s.commands.eval import EvalConfig
    from w2s.reason.pipeline import ReasonConfig
    from w2s.wst.train import WSTTrainConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    kinds = {"wst": WSTTrainConfig, "reason": ReasonConfig, "eval": EvalConfig}
    files = sorted(root.glob("*/*.yaml"))
    assert files
    for path in files:
        build(kinds[path.parent.name], load_yaml(path), str(path))


def test_prose_overrides_stay_text_and_structures_need_brackets():
    """YAML would read `Be brief: one line` as a mapping and drop ` # 2` as a comment."""
    from w2s.wst.evaluate import WSTEvalConfig

    prose = r"Be brief: work it out, then give the final answer in \boxed{}."
    config = build(WSTEvalConfig, apply_overrides({}, [f"generic_instruction={prose}", "untrained_teacher=null",
                                                       "self_instruction=false", "output=runs/a #2"]))
    assert config.generic_instruction == prose and config.output == "runs/a #2"
    assert config.untrained_teacher is None and config.self_instruction is False
    data = apply_overrides({}, ["a=[1, 2]", "b={x: 1}", "c='quoted: text'", "d=- item", "e=7"])
    assert data == {"a": [1, 2], "b": {"x": 1}, "c": "quoted: text", "d": "- item", "e": 7}


def config_classes():
    """Every config a command or the Python API builds, with the dotted prefix it is reached by."""
    import dataclasses
    import typing

    from w2s.commands.judge import JudgeCheckConfig
    from w2s.commands.rm import RMCheckConfig, RMTrainConfig
    from w2s.reason.pipeline import ReasonConfig
    from w2s.serve import ServeConfig
    from w2s.wst.evaluate import WSTEvalConfig
    from w2s.wst.quickstart import QuickstartConfig
    from w2s.wst.train import WSTTrainConfig

    required = {ServeConfig: {"upstream": "http://127.0.0.1:9/v1", "teacher": "t"}}
    found = []

    def walk(cls, top, prefix):
        found.append((cls, top, prefix))
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            for candidate in (typing.get_args(hints[f.name]) or (hints[f.name],)):
                if dataclasses.is_dataclass(candidate):
                    walk(candidate, top, f"{prefix}{f.name}.")

    for top in (EvalConfig, WSTTrainConfig, WSTEvalConfig, ServeConfig, ReasonConfig, QuickstartConfig,
                RMTrainConfig, RMCheckConfig, JudgeCheckConfig):
        walk(top, top, "")
    return found, required


def numeric_fields():
    import dataclasses
    import typing

    found, required = config_classes()
    for cls, top, prefix in found:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kinds = typing.get_args(hints[f.name]) or (hints[f.name],)
            if any(k in (int, float) for k in kinds):
                yield top, prefix + f.name, f, required.get(top, {})


def test_every_numeric_setting_declares_its_range_and_refuses_nan_infinity_and_values_outside_it():
    from w2s.config import numeric_range, set_key

    checked = 0
    for top, dotted, f, base in numeric_fields():
        bounds = numeric_range(f)
        assert bounds is not None, f"{top.__name__}: '{dotted}' declares no range (use w2s.config.setting)"
        for bad in (float("nan"), float("inf"), float("-inf"), 0, -1, -0.5):
            if isinstance(bad, float) and bad == bad and abs(bad) != float("inf") and bounds.allows(bad):
                continue
            if isinstance(bad, int) and bounds.allows(bad):
                continue
            data = set_key({k: v for k, v in base.items()}, dotted, bad)
            with pytest.raises(W2SError) as err:
                build(top, data, "cfg.yaml")
            message = str(err.value)
            assert f"'{dotted}'" in message and "\n" not in message, message
            checked += 1
    assert checked > 150  # every numeric setting of every config, several bad values each


@pytest.mark.parametrize("dotted, value, expected", [
    ("train_limit", 0, "'train_limit' = 0 (expected >= 1)"),
    ("learning_rate", float("inf"), "'learning_rate' = inf (expected a finite number, > 0 and <= 1)"),
    ("reward.harm_penalty", float("nan"), "'reward.harm_penalty' = nan (expected a finite number, >= 0)"),
    ("teacher.lora_alpha", -5, "'teacher.lora_alpha' = -5 (expected > 0)"),
    ("teacher.temperature", 0, "'teacher.temperature' = 0.0 (expected > 0 and <= 10)"),
    ("student.timeout_s", 1e309, "'student.timeout_s' = inf (expected a finite number, > 0 and <= 86400)"),
    ("student.price.prompt", float("nan"), "'student.price.prompt' = nan"),
])
def test_impossible_training_settings_name_the_key(dotted, value, expected):
    from w2s.config import set_key
    from w2s.wst.train import WSTTrainConfig

    with pytest.raises(W2SError, match=None) as err:
        build(WSTTrainConfig, set_key({}, dotted, value), "cfg.yaml")
    assert expected in str(err.value)


def test_a_config_built_in_python_is_checked_too():
    from w2s.wst.train import WSTTrainConfig

    with pytest.raises(ValueError, match=r"steps = 0 \(expected a finite number, >= 1\)"):
        WSTTrainConfig(steps=0)


def test_a_judge_mode_that_does_not_exist_is_refused():
    from w2s.wst.evaluate import WSTEvalConfig

    with pytest.raises(W2SError, match=r"cfg.yaml: 'judge_mode' = 'bogus' \(expected one of: verdict, probability\)"):
        build(WSTEvalConfig, {"judge_mode": "bogus"}, "cfg.yaml")
    with pytest.raises(ValueError, match="judge_mode: expected one of verdict, probability, got 'bogus'"):
        WSTEvalConfig(judge_mode="bogus")  # built in Python: the same check


def test_a_bad_value_is_blamed_on_where_it_came_from(tmp_path, capsys):
    from w2s.cli import main

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("seed: 0\nsteps: 2\n")
    bad.write_text("student: 5\n")
    assert main(["wst", "train", "--config", str(good), "seed=-1"]) == 2
    assert "command line: 'seed' = -1" in capsys.readouterr().err
    assert main(["eval", "--config", str(bad), "--model", "m"]) == 2
    assert f"{bad}: 'student' must be a mapping" in capsys.readouterr().err


def test_a_sections_own_check_names_the_key_where_the_section_sits(capsys):
    from w2s.cli import main

    for argv, key in [(["reason", "run", "generation.backend=bogus"], "generation.backend"),
                      (["eval", "student.backend=bogus"], "student.backend"),
                      (["wst", "eval", "api_teacher.dtype=bogus"], "api_teacher.dtype")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: command line: ") and key in err and "expected one of" in err


def test_bf16_on_a_cpu_without_it_is_said_once_before_the_work(monkeypatch, capsys):
    """Emulated bf16 made a LoRA step >15x slower and vLLM unable to start (benchmarks/README.md):
    the user who asks for it is told, once, and keeps what they asked for."""
    from w2s import devices

    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    monkeypatch.setattr(devices, "_BF16_NOTED", set())
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert devices.trainer_precision(True)["bf16"] is True
    assert devices.trainer_precision(True)["bf16"] is True
    assert capsys.readouterr().err.count("note: training in bf16 on a CPU without native bf16") == 1
    assert devices.trainer_precision(False) == {"bf16": False, "use_cpu": True}
    monkeypatch.setattr(devices, "_BF16_NOTED", set())
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    devices.trainer_precision(True)
    assert capsys.readouterr().err == ""  # native bf16: the fast choice, nothing to say


def test_every_setting_of_every_command_says_what_it_is_beside_its_field():
    """`--settings`, `--help` and the Python API read a setting's help from its declaration: a
    setting documented only in a comment (or nowhere) would be blank there."""
    from w2s.cli import all_commands
    from w2s.config import declared_settings

    blank = sorted({f"{c.path}: {row.key}" for c in all_commands() for row in declared_settings(c.settings())
                    if not row.help.strip()})
    assert not blank, blank


def test_settings_lists_nested_keys_with_the_given_value_default_and_range_and_loads_nothing(capsys):
    from w2s.cli import main

    assert main(["wst", "eval", "--settings", "static.questions=8", "--limit", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entry = {line.split(" = ")[0]: (line.split(" = ", 1)[1], lines[i + 1].strip())
             for i, line in enumerate(lines) if " = " in line and not line.startswith(" ")}
    assert entry["static.questions"][0] == "8   (default 64)" and entry["static.questions"][1].startswith("[int, >= 1]")
    assert entry["limit"][0] == "20   (default 200)" and entry["split"][0] == "test"
    assert entry["instruction.placement"][1].startswith("[one of: system, prefix]")
    assert entry["student.budget.calls"][0] == "null"  # a section's sections too
    # a section's defaults are those of the value its field defaults to, not its class's
    assert main(["quickstart", "--settings"]) == 0
    out = capsys.readouterr().out
    assert "\nstudent.dtype = float32\n" in out and "\nstudent.batch_size = 96\n" in out
    assert main(["grade", "--settings"]) == 0 and "\ninput = (required)\n" in capsys.readouterr().out


def test_settings_checks_the_given_values_as_a_run_would(capsys):
    from w2s.cli import main

    assert main(["wst", "eval", "--settings", "static.questions=0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'static.questions' = 0 (expected >= 1)" in err


def test_a_config_file_may_leave_a_required_setting_to_the_command_line_and_its_own_values_are_still_blamed_on_it(
        tmp_path, capsys):
    from w2s.cli import main

    rows = tmp_path / "in.jsonl"
    rows.write_text('{"question": "q", "response": "The answer is 7.", "answer": "7"}\n')
    (tmp_path / "grade.yaml").write_text("task: gsm8k\n")
    assert main(["grade", "--config", str(tmp_path / "grade.yaml"), "--input", str(rows)]) == 0
    assert capsys.readouterr().out.strip().endswith("accuracy: 1.0000 (n=1)")
    (tmp_path / "pairs.yaml").write_text("task: gsm8k\nmin_confidence: 2\n")
    assert main(["reason", "pairs", "--config", str(tmp_path / "pairs.yaml"), "--weak", str(rows), "--samples",
                 str(rows), "--output", str(tmp_path / "pairs.jsonl")]) == 2
    assert f"{tmp_path / 'pairs.yaml'}: 'min_confidence' = 2.0 (expected >= 0 and <= 1)" in capsys.readouterr().err
