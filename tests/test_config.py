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
    (["limit=ten"], "'limit' = 'ten' (expected int)"),
    (["student.batch_size=true"], "'student.batch_size' = True (expected int)"),
    (["student=3"], "'student.' must be a mapping"),
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
