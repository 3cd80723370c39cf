"""The llamacpp backend's process management, with a stand-in server executable.

The real `llama-server` is built by `w2s engines install llamacpp` (minutes of compiling), so
these tests run a fake with the same command line; the engine's answers themselves are
measured in benchmarks/student_engines.py.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import alive, stand_in_executable
from fake_openai_server import answer_for

from w2s.errors import W2SError
from w2s.students import SamplingParams, StudentConfig, make_student
from w2s.students.openai_compat import LOCAL_SERVER_TIMEOUT_S

TESTS = Path(__file__).parent


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    wrapper = stand_in_executable(tmp_path, "llama-server", TESTS / "fake_llama_server.py")
    monkeypatch.setenv("FAKE_LLAMA_RECORD", str(tmp_path / "record.json"))
    return wrapper


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF not really")
    return path


def test_the_server_is_started_used_and_stopped(fake_server, gguf, tmp_path):
    config = StudentConfig(backend="llamacpp", model=str(gguf), extra={"server": str(fake_server), "slots": 2})
    student = make_student(config)
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["argv"][:2] == ["-m", str(gguf)] and record["argv"][record["argv"].index("-np") + 1] == "2"
    assert student.fingerprint.startswith("llamacpp:") and student.server.url.startswith("http://127.0.0.1:")
    answers = student.generate([[{"role": "user", "content": "hello"}]], SamplingParams(max_tokens=4), progress=False)
    assert answers[0][0].text == answer_for("hello")
    assert alive(record["pid"])
    student.close()
    assert not alive(record["pid"])
    student.close()  # twice is fine


def test_a_server_started_here_waits_longer_for_an_answer_than_a_remote_api_unless_told(fake_server, gguf):
    """Many long answers in flight on a CPU take minutes each; the remote API's 120 s would time
    them out and retry them from the start, so the config's unset timeout means the backend's own."""
    extra = {"server": str(fake_server)}
    with make_student(StudentConfig(backend="llamacpp", model=str(gguf), extra=extra)) as student:
        assert student.timeout_s == LOCAL_SERVER_TIMEOUT_S >= 1800
    with make_student(StudentConfig(backend="llamacpp", model=str(gguf), timeout_s=45, extra=extra)) as student:
        assert student.timeout_s == 45
    remote = make_student(StudentConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1"))
    assert remote.timeout_s == 120


def test_a_server_that_fails_to_start_is_one_line(fake_server, gguf, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_MODE", "crash")
    with pytest.raises(W2SError, match=r"llama-server exited with code 1 before it was ready: .*is not a GGUF file"):
        make_student(StudentConfig(backend="llamacpp", model=str(gguf), extra={"server": str(fake_server)}))


def test_a_server_that_dies_mid_run_is_named_with_its_cause_and_its_log_is_kept(fake_server, gguf, tmp_path):
    config = StudentConfig(backend="llamacpp", model=str(gguf), max_retries=0, extra={"server": str(fake_server)})
    student = make_student(config)
    params = SamplingParams(max_tokens=4)
    first = student.generate([[{"role": "user", "content": "first"}]], params, progress=False)
    pid = json.loads((tmp_path / "record.json").read_text())["pid"]
    with open(student.server.log.name, "a") as log:  # what a dying server writes last, then chatter
        log.write("RuntimeError: CPU KV cache is full\nINFO: shutting down\n")
    subprocess.run(["kill", "-9", str(pid)], check=True)
    deadline = time.monotonic() + 20
    while student.server.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(W2SError, match=r"llama-server exited with code -9 during the run: RuntimeError: CPU KV "
                                       r"cache is full \(its log: .*\) \(answers received so far are cached"):
        student.generate([[{"role": "user", "content": "second"}]], params, progress=False)
    log = Path(student.server.log.name)
    student.close()
    assert log.is_file() and "KV cache is full" in log.read_text()  # kept for the user to read
    log.unlink()
    assert first[0][0].text == answer_for("first")


def _watched_student(fake_server, gguf, monkeypatch, mode: str):
    """A student whose fake server hangs on every completion (`mode`), watched every 0.1 s."""
    monkeypatch.setenv("FAKE_LLAMA_MODE", mode)
    student = make_student(StudentConfig(backend="llamacpp", model=str(gguf), extra={"server": str(fake_server)}))
    student.watch_every_s, student.unhealthy_limit_s = 0.1, 1.0
    return student


def _generate_briefly(student) -> None:
    try:
        student.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=4), progress=False)
    finally:
        student.close()


def test_a_server_killed_while_answers_are_awaited_ends_the_run_at_once(fake_server, gguf, tmp_path, monkeypatch):
    """The requests hang; the death is named (by the watch or the dropped connections) in seconds."""
    student = _watched_student(fake_server, gguf, monkeypatch, "hang")
    pid = json.loads((tmp_path / "record.json").read_text())["pid"]
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    start = time.monotonic()
    with pytest.raises(W2SError, match=r"llama-server exited with code -9 during the run: .*answers received so "
                                       r"far are cached"):
        _generate_briefly(student)
    assert time.monotonic() - start < 15 < student.timeout_s
    Path(student.server.log.name).unlink(missing_ok=True)


@pytest.mark.parametrize("mode", ["hang", "dead-engine"])
def test_a_live_server_that_fails_its_health_check_ends_the_run(fake_server, gguf, tmp_path, monkeypatch, mode):
    """Stopped (SIGSTOP: alive, silent) or with a dead engine behind a live front end (503)."""
    student = _watched_student(fake_server, gguf, monkeypatch, mode)
    pid = json.loads((tmp_path / "record.json").read_text())["pid"]
    if mode == "hang":
        threading.Timer(0.5, os.kill, (pid, signal.SIGSTOP)).start()
    log = student.server.log.name
    with pytest.raises(W2SError, match=r"llama-server has failed its health check for \d+s: .*\(its log: "):
        _generate_briefly(student)
    Path(log).unlink(missing_ok=True)
    assert not alive(pid)  # the run stopped the server it gave up on (a stopped one is killed)


def test_a_healthy_server_that_answers_slowly_is_waited_for(fake_server, gguf, monkeypatch):
    """The watch must not end a run whose server is merely slow: health answers 200 throughout."""
    monkeypatch.setenv("FAKE_LLAMA_MODE", "slow")  # each answer takes 1.5 s, 7x the borne silence
    student = make_student(StudentConfig(backend="llamacpp", model=str(gguf), extra={"server": str(fake_server)}))
    student.watch_every_s, student.unhealthy_limit_s = 0.05, 0.2
    answers = student.generate([[{"role": "user", "content": f"q{i}"}] for i in range(3)],
                               SamplingParams(max_tokens=4), progress=False)
    student.close()
    assert [a[0].text for a in answers] == [answer_for(f"q{i}") for i in range(3)]


def test_no_server_is_left_behind_when_w2s_is_killed(fake_server, gguf, tmp_path):
    code = ("import time; from w2s.students import make_student, StudentConfig; "
            f"make_student(StudentConfig(backend='llamacpp', model={str(gguf)!r}, "
            f"extra={{'server': {str(fake_server)!r}}})); print('ready', flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "ready"
    pid = json.loads((tmp_path / "record.json").read_text())["pid"]
    assert alive(pid)
    parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the kernel can stop the child
    parent.wait()
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


def test_missing_engine_and_wrong_model_are_one_line(gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no llama-server anywhere
    with pytest.raises(W2SError, match="no llama-server found: build one with `w2s engines install llamacpp`"):
        make_student(StudentConfig(backend="llamacpp", model=str(gguf)))
    with pytest.raises(W2SError, match="runs GGUF files"):
        make_student(StudentConfig(backend="llamacpp", model=str(tmp_path)))
