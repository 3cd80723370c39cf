"""`w2s serve`: the proxy places the teacher's instruction and forwards to a real HTTP upstream.

Driven with the official `openai` client, as a user would. The upstream is the fake
OpenAI-compatible server (a real HTTP server with faults); the teacher is scripted where the
test needs to know its words, and the tiny real model where it only needs to be a model.
"""

import json
import logging
import threading
import urllib.request

import openai
import pytest
from fake_openai_server import FakeOpenAIServer, answer_for

from w2s.serve import ServeConfig, build_proxy, serving_in_background
from w2s.students.scripted import ScriptedStudent
from w2s.wst.protocol import InstructionProtocol


def teacher(words="Check the units first."):
    return ScriptedStudent(lambda prompt, index: words, name="teacher")


def config(upstream, tmp_path, **kw):
    return ServeConfig(teacher="scripted", upstream=upstream, cache=str(tmp_path / "c.sqlite"),
                       instruction=InstructionProtocol(), **kw)


def client(url, key="none", **kw):
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, **kw)


def test_the_upstream_gets_the_instruction_and_the_users_words_and_the_client_its_answer(tmp_path):
    with FakeOpenAIServer() as upstream, serving_in_background(build_proxy(config(upstream.url, tmp_path),
                                                                           teacher())) as url:
        raw = client(url).chat.completions.with_raw_response.create(
            model="student-7b", temperature=0.3, max_tokens=7, top_p=0.9,
            messages=[{"role": "user", "content": "How many legs do 3 spiders have?"}])
        answer = raw.parse()
        health = json.loads(urllib.request.urlopen(url.removesuffix("/v1") + "/health").read())
    sent = upstream.bodies[-1]
    assert sent["messages"] == [{"role": "system", "content": "Check the units first."},
                                {"role": "user", "content": "How many legs do 3 spiders have?"}]
    assert (sent["model"], sent["temperature"], sent["max_tokens"], sent["top_p"]) == ("student-7b", 0.3, 7, 0.9)
    assert answer.choices[0].message.content == answer_for("How many legs do 3 spiders have?")
    assert raw.headers["X-W2S-Instruction"] == "Check the units first."
    assert answer.model_extra["w2s_instruction"] == "Check the units first."
    # the fake upstream reports 1 prompt + 3 completion tokens per answer; the teacher wrote one instruction
    assert health["upstream_usage"] == {"calls": 1, "prompt_tokens": 1, "completion_tokens": 3}
    assert health["teacher_usage"]["calls_generated"] == 1


def test_the_proxy_places_the_instruction_as_the_teacher_was_trained(tmp_path):
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    sent = {}
    for placement in ("system", "prefix"):
        cfg = ServeConfig(teacher="scripted", upstream="http://unused/v1", cache=str(tmp_path / f"{placement}.sqlite"),
                          instruction=InstructionProtocol(placement=placement))
        with FakeOpenAIServer() as upstream, serving_in_background(build_proxy(
                ServeConfig(**{**cfg.__dict__, "upstream": upstream.url}), teacher("Hint."))) as url:
            client(url).chat.completions.create(model="m", messages=chat)
        sent[placement] = upstream.bodies[-1]["messages"]
    # an existing system message keeps its words after the instruction; prefix goes before the last user turn
    assert sent["system"] == [{"role": "system", "content": "Hint.\n\nBe brief."}, *chat[1:]]
    assert sent["prefix"] == [*chat[:3], {"role": "user", "content": "Hint.\n\nc"}]


def test_a_request_without_a_budget_gets_the_one_the_teacher_was_trained_for(tmp_path):
    trained = InstructionProtocol(student_max_tokens=48)
    ask = [{"role": "user", "content": "How many legs do 3 spiders have?"}]
    with FakeOpenAIServer() as upstream:
        cfg = ServeConfig(teacher="scripted", upstream=upstream.url, cache=str(tmp_path / "c.sqlite"), instruction=trained)
        with serving_in_background(build_proxy(cfg, teacher())) as url:
            client(url).chat.completions.create(model="m", messages=ask)
            client(url).chat.completions.create(model="m", messages=ask, max_tokens=7)  # the client's own choice
        cfg.student_max_tokens = 100  # --student-max-tokens 100
        with serving_in_background(build_proxy(cfg, teacher())) as url:
            client(url).chat.completions.create(model="m", messages=ask)
    assert [b.get("max_tokens") for b in upstream.bodies] == [48, 7, 100]


def test_streaming_passes_through(tmp_path):
    with FakeOpenAIServer() as upstream, serving_in_background(build_proxy(config(upstream.url, tmp_path),
                                                                           teacher())) as url:
        stream = client(url).chat.completions.create(model="m", stream=True,
                                                     messages=[{"role": "user", "content": "Count to three."}])
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == answer_for("Count to three.") and upstream.bodies[-1]["stream"] is True


def test_upstream_failures_are_clear_errors_never_hangs(tmp_path):
    def plan(prompt, attempt):
        return {"boom": ("500", 0.0), "slow": ("sleep", 3.0)}.get(prompt, ("ok", 0.0))

    with FakeOpenAIServer(plan) as upstream, serving_in_background(
            build_proxy(config(upstream.url, tmp_path, timeout_s=0.5), teacher())) as url:
        with pytest.raises(openai.APIStatusError) as failed:
            client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "boom"}])
        assert failed.value.status_code == 502 and "answered HTTP 500" in failed.value.message
        with pytest.raises(openai.APIStatusError) as slow:
            client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "slow"}])
        assert slow.value.status_code == 504 and "did not answer within 0.5s" in slow.value.message
    with serving_in_background(build_proxy(config("http://127.0.0.1:9/v1", tmp_path), teacher())) as url:
        with pytest.raises(openai.APIStatusError) as down:
            client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert down.value.status_code == 502 and "127.0.0.1:9 failed" in down.value.message
        with pytest.raises(openai.BadRequestError, match="role 'user'"):
            client(url).chat.completions.create(model="m", messages=[{"role": "system", "content": "no user"}])


def test_keys_come_from_the_environment_and_never_reach_logs_or_clients(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv("UPSTREAM_KEY", "sk-upstream-secret-0123456789")
    monkeypatch.setenv("PROXY_KEY", "proxy-client-key-abcdef")
    caplog.set_level(logging.DEBUG)
    plan = lambda prompt, attempt: ("401", 0.0) if prompt == "refuse" else ("ok", 0.0)  # noqa: E731
    with FakeOpenAIServer(plan) as upstream, serving_in_background(build_proxy(
            config(upstream.url, tmp_path, upstream_api_key_env="UPSTREAM_KEY", api_key_env="PROXY_KEY"),
            teacher())) as url:
        with pytest.raises(openai.AuthenticationError):
            client(url, key="wrong").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        good = client(url, key="proxy-client-key-abcdef")
        assert good.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices
        with pytest.raises(openai.AuthenticationError) as refused:  # the upstream's 401 echoes its key
            good.chat.completions.create(model="m", messages=[{"role": "user", "content": "refuse"}])
        assert "sk-upstream-secret" not in str(refused.value.body) and "***" in str(refused.value.body)
    assert upstream.auth_headers[0] == "Bearer sk-upstream-secret-0123456789"  # the upstream's own key
    printed = capsys.readouterr()
    for secret in ("sk-upstream-secret", "proxy-client-key"):
        assert secret not in caplog.text + printed.out + printed.err


def test_concurrent_requests_share_teacher_batches_and_repeats_are_cached(tmp_path):
    scripted = ScriptedStudent(lambda prompt, index: "Think in steps.", name="teacher")
    with FakeOpenAIServer(latency_s=0.05) as upstream:
        proxy = build_proxy(ServeConfig(teacher="scripted", upstream=upstream.url, cache=str(tmp_path / "c.sqlite"),
                                        batch_wait_ms=200, instruction=InstructionProtocol()), scripted)
        with serving_in_background(proxy) as url:
            def ask(i):
                client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(upstream.bodies) == 8 and scripted.calls == 8
            assert proxy.writer.batches < 8  # requests arriving together were written together
            ask(3)  # asked before: the instruction comes from the cache
            assert scripted.calls == 8 and len(upstream.bodies) == 9


def test_a_real_tiny_teacher_writes_what_the_upstream_receives(tiny_model, tmp_path):
    with FakeOpenAIServer() as upstream:
        proxy = build_proxy(ServeConfig(teacher=str(tiny_model), upstream=upstream.url,
                                        cache=str(tmp_path / "c.sqlite"),
                                        instruction=InstructionProtocol(max_tokens=6)))
        with serving_in_background(proxy) as url:
            raw = client(url).chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "What is 2 plus 2?"}])
    from urllib.parse import unquote

    instruction = unquote(raw.headers["X-W2S-Instruction"])
    received = upstream.bodies[-1]["messages"]
    assert received[-1] == {"role": "user", "content": "What is 2 plus 2?"}
    if instruction:
        assert received[0] == {"role": "system", "content": instruction}


def test_the_command_serves_until_sigterm_and_shuts_down_cleanly(tiny_model, tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys

    with FakeOpenAIServer() as upstream:  # --port 0: the system picks a port, and the command says which
        proc = subprocess.Popen([sys.executable, "-m", "w2s.cli", "serve", "--teacher", str(tiny_model), "--upstream",
                                 upstream.url, "--port", "0", f"cache={tmp_path / 'c.sqlite'}",
                                 "instruction.max_tokens=4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "UPSTREAM_SECRET": "x"})
        try:
            port = None
            for line in proc.stdout:
                if found := re.search(r"w2s proxy on http://127\.0\.0\.1:(\d+)/v1", line):
                    port = int(found.group(1))
                    break
            assert port, "the server never announced its address"
            health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
            assert health["status"] == "ok"
            answer = client(f"http://127.0.0.1:{port}/v1").chat.completions.create(
                model="m", messages=[{"role": "user", "content": "What is 1 plus 1?"}])
            assert answer.choices[0].message.content == answer_for("What is 1 plus 1?")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    assert "served 1 requests" in out and "upstream 1 answers" in out


def test_a_teacher_behind_an_api_writes_the_instruction(tmp_path):
    from w2s.students import StudentConfig

    with FakeOpenAIServer() as teacher_api, FakeOpenAIServer() as upstream:
        cfg = ServeConfig(teacher_api=StudentConfig(backend="openai", model="big-teacher", base_url=teacher_api.url),
                          upstream=upstream.url, cache=str(tmp_path / "c.sqlite"), instruction=InstructionProtocol())
        with serving_in_background(build_proxy(cfg)) as url:
            client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "Is 7 prime?"}])
    asked = teacher_api.bodies[-1]["messages"][-1]["content"]
    assert "Is 7 prime?" in asked  # the teacher was asked with the protocol's template
    written = InstructionProtocol().clean(answer_for(asked))  # the teacher's answer, first paragraph
    assert upstream.bodies[-1]["messages"][0] == {"role": "system", "content": written}


def test_an_oversized_question_or_body_is_refused_before_the_teacher_reads_it(tmp_path):
    import urllib.error

    teacher_model = teacher()
    with FakeOpenAIServer() as upstream, serving_in_background(build_proxy(
            config(upstream.url, tmp_path, max_question_chars=100, max_request_mb=0.5), teacher_model)) as url:
        with pytest.raises(openai.BadRequestError, match="at most 100 \\(max_question_chars\\)"):
            client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 101}])
        big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "y" * 600_000}]}).encode()
        request = urllib.request.Request(f"{url}/chat/completions", data=big, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 413
    assert teacher_model.calls == 0 and upstream.bodies == []


def test_malformed_chats_and_odd_keys_are_400s_and_401s_never_500s(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv("PROXY_KEY", "good-key")
    with FakeOpenAIServer() as upstream, serving_in_background(build_proxy(
            config(upstream.url, tmp_path, api_key_env="PROXY_KEY"), teacher())) as url:
        def post(body, key="good-key"):
            request = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            request.add_unredirected_header("Authorization", f"Bearer {key}")
            try:
                return urllib.request.urlopen(request).status
            except urllib.error.HTTPError as err:
                return err.code
        assert post({"messages": ["not an object"]}) == 400
        assert post({"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]}) == 400
        assert post({"messages": [{"role": "user", "content": "hi"}]}, key="caf\xe9\xff") == 401
        assert post({"model": "m", "messages": [{"role": "user", "content": "hi"}]}) == 200


def test_a_port_in_use_is_one_line_after_nothing_was_announced(tmp_path, capsys):
    import socket

    from w2s.errors import W2SError
    from w2s.serve import run_server

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with FakeOpenAIServer() as upstream, pytest.raises(W2SError, match=f"cannot listen on 127.0.0.1:{port}"):
            run_server(ServeConfig(teacher="tiny", upstream=upstream.url, port=port, cache=str(tmp_path / "c.sqlite"),
                                   instruction=InstructionProtocol()), teacher())
    finally:
        taken.close()
    assert "w2s proxy on" not in capsys.readouterr().out


def test_a_stream_that_stalls_ends_with_an_error_event_not_a_quiet_cut(tmp_path):
    import urllib.error

    with FakeOpenAIServer(lambda prompt, attempt: ("stall", 3.0)) as upstream, serving_in_background(
            build_proxy(config(upstream.url, tmp_path, timeout_s=0.5), teacher())) as url:
        request = urllib.request.Request(f"{url}/chat/completions", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"model": "m", "stream": True, "messages": [
                                             {"role": "user", "content": "Count to three."}]}).encode())
        with urllib.request.urlopen(request) as response:
            events = [line for line in response.read().decode().splitlines() if line.startswith("data: ")]
    assert "Counting" in events[0]
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["code"] == 504 and "did not answer within 0.5s" in error["message"]
