import multiprocessing

from w2s.cache import ResponseCache
from w2s.students import SamplingParams
from w2s.students.base import request_key


def test_keys_separate_what_matters():
    greedy, sampled = SamplingParams(max_tokens=5), SamplingParams(temperature=0.7, max_tokens=5, seed=1)
    prompt = [{"role": "user", "content": "hi"}]
    assert request_key("m", prompt, greedy, 0) == request_key("m", prompt, greedy, 3)  # greedy: index irrelevant
    assert request_key("m", prompt, SamplingParams(max_tokens=5, seed=9), 0) == request_key("m", prompt, greedy, 0)
    assert request_key("m", prompt, sampled, 0) != request_key("m", prompt, sampled, 1)
    assert request_key("m", prompt, sampled, 0) != request_key("m", prompt, SamplingParams(0.7, 5, seed=2), 0)
    assert request_key("m", prompt, greedy, 0) != request_key("m2", prompt, greedy, 0)
    assert request_key("m", prompt, greedy, 0) != request_key("m", "hi", greedy, 0)


def test_roundtrip(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put_many("m", [("k1", "text", 3, "length")])
    assert cache.get_many(["k1", "k2"]) == {"k1": ("text", 3, "length")}
    assert ResponseCache(tmp_path / "c.sqlite").count("m") == 1


def _writer(path: str, worker: int) -> None:
    cache = ResponseCache(path)
    for i in range(50):
        cache.put_many("m", [(f"{worker}-{i}", f"w{worker} {i}", 1, "stop")])


def test_concurrent_writer_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert ResponseCache(path).count() == 200


def test_the_cache_and_report_import_no_student_or_model_code():
    """The cache knows no student types; `w2s report` must not pay for loading transformers."""
    import subprocess
    import sys

    cache_only = "import sys, w2s.cache; assert 'w2s.students.base' not in sys.modules"
    reports = ("import sys, w2s.wst.report, w2s.reason.report; "
               "bad = [m for m in ('transformers', 'torch', 'trl') if m in sys.modules]; assert not bad, bad")
    for code in (cache_only, reports):
        subprocess.run([sys.executable, "-c", code], check=True)


def test_a_cache_another_process_holds_locked_at_open_is_retried_not_refused(tmp_path, monkeypatch):
    import sqlite3

    from w2s.cache import ResponseCache

    real_connect, refusals = sqlite3.connect, []

    class Busy:  # a connection whose first statement meets another process's lock, as at a WAL switch
        def __init__(self, *args, **kwargs):
            self.db = real_connect(*args, **kwargs)

        def execute(self, sql, *args):
            if not refusals:
                refusals.append(sql)
                raise sqlite3.OperationalError("database is locked")
            return self.db.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.db, name)

    monkeypatch.setattr(sqlite3, "connect", Busy)
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put_many("m", [("k", "text", 1, "stop")])
    assert refusals == ["PRAGMA journal_mode=WAL"] and cache.get_many(["k"]) == {"k": ("text", 1, "stop")}


def test_two_runs_at_once_on_one_cache_duplicate_work_but_keep_one_answer_each(tmp_path):
    """The documented behaviour (docs/models.md): both generate everything, neither fails, and
    the cache ends with exactly one answer per request."""
    import threading
    import time as clock

    from w2s.cache import ResponseCache
    from w2s.students import SamplingParams
    from w2s.students.scripted import ScriptedStudent

    def slow(prompt, _):
        clock.sleep(0.05)  # the plans of both runs are made long before the first answer
        return f"answer to {prompt}"

    prompts = [f"question {i}" for i in range(20)]
    students = [ScriptedStudent(slow, cache=ResponseCache(tmp_path / "c.sqlite")) for _ in range(2)]
    start = threading.Barrier(2)

    def run(student):
        start.wait()
        student.generate(prompts, SamplingParams(max_tokens=8), progress=False)

    threads = [threading.Thread(target=run, args=(s,)) for s in students]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s.stats.generated for s in students] == [20, 20]  # duplicated work, as documented
    assert ResponseCache(tmp_path / "c.sqlite").count() == 20
