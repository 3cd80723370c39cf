"""The openai backend against a real local HTTP server that injects latency and failures."""

import json
import time

import pytest
from fake_openai_server import FakeOpenAIServer, answer_for

from w2s.cache import ResponseCache
from w2s.errors import W2SError
from w2s.students import SamplingParams
from w2s.students.openai_compat import OpenAIStudent

GREEDY = SamplingParams(max_tokens=8)


def student(url, **kwargs):
    defaults = dict(concurrency=16, max_retries=5, timeout_s=5.0, backoff_base_s=0.01, backoff_cap_s=0.05)
    return OpenAIStudent("test-model", url, **{**defaults, **kwargs})


def chat(i):
    return [{"role": "user", "content": f"question {i}"}]


def test_every_request_answered_once_despite_faults():
    def plan(prompt, attempt):
        n = int(prompt.split()[-1])
        if attempt == 0 and n % 5 == 0:
            return ("429", 0.05)
        if attempt == 0 and n % 5 == 1:
            return ("500", 0)
        if attempt == 0 and n % 5 == 2:
            return ("garbage", 0)
        if attempt == 0 and n % 5 == 3:
            return ("sleep", 1.5)  # longer than the client timeout below
        return ("ok", 0)

    with FakeOpenAIServer(plan) as server:
        s = student(server.url, timeout_s=0.5)
        out = s.generate([chat(i) for i in range(40)], GREEDY, progress=False)
    assert [o[0].text for o in out] == [answer_for(f"question {i}") for i in range(40)]
    assert s.stats.generated == 40
    # every injected failure (8 each of 429, 500, garbage, timeout) was retried; a slow machine
    # may add timeouts of its own, which are retried the same way
    assert s.stats.retries >= 32
    assert all(server.attempts[f"question {i}"] >= 2 for i in range(40) if i % 5 != 4)
    assert all(server.answered[f"question {i}"] >= 1 for i in range(40))


def test_retry_after_is_honoured():
    with FakeOpenAIServer(lambda p, a: ("429", 0.6) if a == 0 else ("ok", 0)) as server:
        s = student(server.url)
        start = time.perf_counter()
        s.generate([chat(0)], GREEDY, progress=False)
        assert time.perf_counter() - start >= 0.6
    assert s.usage_line().endswith(", 0 answered from the cache, 1 retries")  # printed after every run


def test_persistent_failure_is_a_clear_error_and_successes_are_kept(tmp_path):
    plan = lambda prompt, attempt: ("500", 0) if prompt.endswith(" 3") else ("ok", 0)  # noqa: E731
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(plan) as server:
        s = student(server.url, max_retries=2, cache=cache)
        with pytest.raises(W2SError, match=r"1 of 5 requests .* failed .*HTTP 500 .* after 3 attempt"):
            s.generate([chat(i) for i in range(5)], GREEDY, progress=False)
        assert server.attempts["question 3"] == 3
        assert cache.count() == 4  # the four answers that did arrive are not lost
        s2 = student(server.url, cache=cache)
        with pytest.raises(W2SError):
            s2.generate([chat(i) for i in range(5)], GREEDY, progress=False)
        assert sum(server.answered.values()) == 4  # nothing answered twice


def test_client_errors_are_not_retried():
    with FakeOpenAIServer(lambda p, a: ("400", 0)) as server:
        s = student(server.url)
        with pytest.raises(W2SError, match="HTTP 400 .*bad request.* after 1 attempt"):
            s.generate([chat(0)], GREEDY, progress=False)
        assert server.attempts["question 0"] == 1


def test_unreachable_server():
    s = OpenAIStudent("m", "http://127.0.0.1:9/v1", max_retries=1, backoff_base_s=0.01, timeout_s=30)
    with pytest.raises(W2SError, match=r"requests to http://127.0.0.1:9/v1 failed.*connection to .* (failed|dropped).* after 2 attempt") as err:
        s.generate([chat(0)], GREEDY, progress=False)
    assert "timeout" not in str(err.value)


def test_a_dropped_connection_is_not_called_a_timeout():
    """The aiohttp transport raises a timeout error when the server closes the connection."""
    with FakeOpenAIServer(lambda p, a: ("drop", 0.0)) as server:
        s = student(server.url, max_retries=1, timeout_s=30)
        with pytest.raises(W2SError, match=r"connection to .* dropped after 0\.\ds.* after 2 attempt") as err:
            s.generate([chat(0)], GREEDY, progress=False)
        assert "timeout" not in str(err.value) and server.attempts["question 0"] == 2


def test_api_key_comes_from_the_named_variable_and_is_not_in_the_fingerprint(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    with FakeOpenAIServer() as server:
        s = student(server.url, api_key_env="MY_KEY")
        s.generate(["raw text prompt"], GREEDY, progress=False)
    assert server.auth_headers == ["Bearer sk-secret-123"]
    assert "sk-secret" not in s.fingerprint


def test_cache_prevents_repeat_requests_and_sampling_indices_are_distinct(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer() as server:
        s = student(server.url, cache=cache)
        s.generate([chat(1), chat(2), chat(1)], GREEDY, progress=False)  # duplicate in one call
        s.generate([chat(1), chat(2)], GREEDY, progress=False)  # all cached
        assert sum(server.attempts.values()) == 2
        s.generate([chat(1)], SamplingParams(temperature=1.0, max_tokens=8), k=3, progress=False)
        assert server.attempts["question 1"] == 4  # 3 new sampled requests


def test_requests_run_concurrently_up_to_the_limit_and_never_beyond():
    # Behaviour, not speed (speed is measured in benchmarks/): with each answer taking 0.3 s,
    # a client allowed 16 requests at a time keeps many in flight, and never more than 16.
    with FakeOpenAIServer(latency_s=0.3) as server:
        s = student(server.url, concurrency=16)
        out = s.generate([chat(i) for i in range(64)], GREEDY, progress=False)
        assert [o[0].text for o in out] == [answer_for(f"question {i}") for i in range(64)]
        assert 8 <= server.max_in_flight <= 16, server.max_in_flight
        sequential = student(server.url, concurrency=1)
        sequential.generate([chat(i) for i in range(100, 104)], GREEDY, progress=False)
        assert server.max_in_flight <= 16  # unchanged: one at a time adds no overlap
    with FakeOpenAIServer(latency_s=0.3) as server:
        student(server.url, concurrency=1).generate([chat(i) for i in range(4)], GREEDY, progress=False)
        assert server.max_in_flight == 1


def test_empty_answers_are_retried_never_cached_and_counted(tmp_path):
    # question 1 answers "" twice then properly; question 2 never answers anything
    plan = lambda prompt, attempt: ("empty", 0) if prompt.endswith(" 2") or (prompt.endswith(" 1") and attempt < 2) \
        else ("ok", 0)  # noqa: E731
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(plan) as server:
        s = student(server.url, max_retries=3, cache=cache)
        out = s.generate([chat(i) for i in range(3)], GREEDY, progress=False)
        assert [o[0].text for o in out] == [answer_for("question 0"), answer_for("question 1"), ""]
        assert out[2][0].finish_reason == "empty" and s.stats.empty == 1
        assert server.attempts["question 1"] == 3 and server.attempts["question 2"] == 4
        assert cache.count() == 2  # the empty answer is not cached: a rerun asks again
        again = student(server.url, max_retries=0, cache=cache)
        again.generate([chat(i) for i in range(3)], GREEDY, progress=False)
        assert server.attempts["question 2"] == 5 and again.stats.cached == 2


def test_a_key_echoed_by_the_server_never_reaches_the_error(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-live-abcdefgh12345678")
    with FakeOpenAIServer(lambda p, a: ("401", 0)) as server:
        s = student(server.url, api_key_env="MY_KEY")
        with pytest.raises(W2SError) as err:
            s.generate([chat(0)], GREEDY, progress=False)
    assert "HTTP 401" in str(err.value) and "abcdefgh" not in str(err.value) and "***" in str(err.value)


@pytest.mark.parametrize("url", ["http://user:pass@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1?api-key=s3cr3t",
                                 "http://127.0.0.1:8000/v1#sk-s3cr3t"])
def test_credentials_in_the_base_url_are_refused_without_repeating_them(url, capsys):
    from w2s.cli import main

    assert main(["eval", "--backend", "openai", "--base-url", url, "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert "student.base_url: credentials" in err and "pass" not in err and "s3cr3t" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_key_is_redacted_in_every_encoding_and_before_any_cut():
    from w2s.errors import redact

    key = "sk-up/SECRET+key"
    for body in ('{"error": "bad key sk-up\\/SECRET+key"}',  # JSON with an escaped slash
                 "bad key sk-up%2FSECRET%2Bkey", "bad key sk-up%2FSECRET+key", "bad key sk-up/SECRET+key"):
        assert "SECRET" not in redact(body, key) and "***" in redact(body, key)
    straddling = "x" * 290 + key  # the cut at 300 falls inside the key
    cut = redact(straddling, key, limit=300)
    assert "sk-up" not in cut and len(cut) <= 301


def test_a_retry_after_that_is_neither_seconds_nor_a_date_falls_back_to_backoff():
    from w2s.students.openai_compat import _retry_after

    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({"retry-after": "2"}) == 2.0


def test_timeout_bounds_the_whole_request_even_when_the_body_trickles():
    import time

    with FakeOpenAIServer(lambda prompt, attempt: ("trickle", 0.05)) as server:  # ~200 bytes: ~10 s in all
        s = student(server.url, timeout_s=1.0, max_retries=0)
        start = time.monotonic()
        with pytest.raises(W2SError, match=r"no complete answer within 1.0s"):
            s.generate([chat(0)], GREEDY, progress=False)
    assert time.monotonic() - start < 5


def test_a_token_count_a_server_reports_wrong_is_not_taken():
    from w2s.students.openai_compat import _count

    assert [_count(v) for v in (7, 0, -5, None, True, "12", 3.5)] == [7, 0, 0, 0, 0, 0, 0]


def test_an_eval_whose_requests_keep_failing_writes_what_was_answered(gsm_file, tmp_path, capsys):
    from w2s.cli import main

    plan = lambda prompt, attempt: ("500", 0) if "What is 3 plus" in prompt else ("ok", 0)  # noqa: E731
    with FakeOpenAIServer(plan) as server:
        code = main(["eval", "--data", str(gsm_file), "--split", "train", "--backend", "openai", "--base-url",
                     server.url, "--model", "m", "student.max_retries=0", f"cache={tmp_path / 'c.sqlite'}",
                     "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "1 of 12 requests" in err and "summary.json (partial)" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["partial"] and (summary["n"], summary["answered"]) == (12, 11)
    assert summary["unanswered_ids"] == ["q3"] and "HTTP 500" in summary["error"]
    assert len((tmp_path / "out" / "responses.jsonl").read_text().splitlines()) == 11


def test_a_server_with_prompt_logprobs_scores_text_like_a_local_model(tmp_path):
    """vLLM's /tokenize + prompt_logprobs: the target's own tokens are summed, the prompt's are not."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FakeOpenAIServer(scoring=True) as server:
        s = student(server.url, cache=cache)
        scores = s.score([chat(0), "raw prompt"], ["The answer is 42", "12"])
        assert [(round(x.logprob, 6), x.n_tokens) for x in scores] == [(-28.2, 16), (-0.2, 2)]  # 14 non-digits, 2 digits
        asked = ["".join(map(chr, b["prompt"])) for b in server.bodies if "prompt_logprobs" in b]  # in any order
        assert sorted(asked) == sorted(["user:question 0\nassistant:The answer is 42", "raw prompt12"])
        asked_before = len([b for b in server.bodies if "prompt_logprobs" in b])
        again = student(server.url, cache=cache).score([chat(0)], ["The answer is 42"])  # cached: not asked again
        assert again[0].logprob == scores[0].logprob
        assert len([b for b in server.bodies if "prompt_logprobs" in b]) == asked_before


def test_a_server_without_prompt_logprobs_refuses_to_score_in_one_line():
    with FakeOpenAIServer() as server, pytest.raises(W2SError) as err:
        student(server.url).score([chat(0)], ["x"])
    message = str(err.value)
    assert "has no /tokenize endpoint" in message and "\n" not in message and "after" not in message


@pytest.mark.parametrize("url, gpu, separate", [
    ("http://127.0.0.1:8000/v1", False, False), ("http://localhost:8000/v1", False, False),
    ("http://[::1]:8000/v1", False, False), ("http://0.0.0.0:8000/v1", False, False),
    ("http://127.0.0.1:8000/v1", True, True),  # a GPU serves it: the trainer's CPU is free
    ("https://api.openai.com/v1", False, True), ("http://10.0.0.5:8000/v1", False, True)])
def test_only_a_server_with_compute_of_its_own_answers_while_the_trainer_works(url, gpu, separate, monkeypatch):
    """A server on this machine's CPU shares the trainer's cores: prefetching its answers slowed
    WST steps down (benchmarks/README.md), so the reward does not start them early."""
    import w2s.students.openai_compat as openai_compat
    from w2s.tasks import get_task
    from w2s.wst.protocol import InstructionProtocol
    from w2s.wst.rewards import RewardConfig, StudentReward

    monkeypatch.setattr(openai_compat, "cuda_available", lambda: gpu)
    s = student(url)
    assert s.separate_compute is separate
    if not separate:  # (a separate one would send a request to a server that is not there)
        reward = StudentReward(get_task("gsm8k"), s, InstructionProtocol(), RewardConfig())
        assert reward.prefetch(["What is 2 + 2?"], ["4"]) is False


def test_a_key_in_the_url_path_never_reaches_a_file(gsm_file, tmp_path, capsys):
    """`--base-url http://host/sk-…/v1` (some gateways take the key in the path): the run works, and
    neither summary.json nor the answers file holds the key (one redactor for every file)."""
    from fake_openai_server import FakeOpenAIServer

    from w2s.cli import main

    key = "sk-inpath0123456789abcdef"
    with FakeOpenAIServer() as server:
        url = server.url.replace("/v1", f"/{key}/v1")
        assert main(["eval", "--backend", "openai", "--base-url", url, "--model", "m", "--data", str(gsm_file),
                     "--split", "train", "--limit", "2", "--max-tokens", "8", "--output", str(tmp_path / "o"),
                     "--cache", str(tmp_path / "c.sqlite")]) == 0
    written = "".join(p.read_text() for p in (tmp_path / "o").iterdir())
    assert key not in written and "***" in written and key not in capsys.readouterr().out


def test_files_lose_keys_but_keep_ordinary_words():
    """The file redactor touches only what is surely a credential: a model's answer saying
    "ask-questions" or "bearer instruments" or "token: 5" is written as it is."""
    from w2s.errors import redact_data

    for text in ("Ask-questionnaire, task-abcdefghijklm", "the bearer instruments", "token: 5", "sk-short1"):
        assert redact_data(text) == text
    assert redact_data("key sk-abcdefghijklmnopqrstuvwxyz0123 end") == "key *** end"
