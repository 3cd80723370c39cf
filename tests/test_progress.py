"""Progress that tells the truth: no estimate from the first answer of a burst, an estimate that
settles on throughput, totals in answers and tokens, and plain lines when output is a log file."""

import io

from w2s import progress
from w2s.progress import Progress


def arrivals(monkeypatch, times):
    clock = iter(times)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))


def test_a_static_batch_engine_gets_an_estimate_within_a_factor_of_two(monkeypatch):
    # 64 answers in two batches of 32, each batch taking 60 s: all of a batch arrive together
    times = [0.0] + [60.0 + 0.01 * i for i in range(32)] + [120.0 + 0.01 * i for i in range(32)]
    arrivals(monkeypatch, times + [999.0] * 200)
    bar = Progress(64, "answers", enabled=False)
    estimates = []
    for _ in range(64):
        bar.update(100)
        estimates.append(bar.left())
    assert estimates[:32] == [None] * 32  # no estimate from a burst still arriving
    first = estimates[32]  # the first answer of batch 2: the first burst is over
    assert first is not None and 0.5 <= (120.0 + first) / 120.0 <= 2.0
    assert bar.tokens == 6400 and bar.done == 64


def test_a_continuous_engine_settles_on_its_throughput(monkeypatch):
    arrivals(monkeypatch, [0.0] + [2.0 * i for i in range(1, 101)] + [999.0] * 10)
    bar = Progress(100, "answers", enabled=False)
    for _ in range(50):
        bar.update(10)
    assert abs(bar.left() - 100.0) <= 2.0  # 50 answers left at one every 2 s


def test_a_log_file_gets_plain_lines_with_totals(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    out = io.StringIO()  # not a terminal
    bar = Progress(3, "student answers", stream=out)
    for _ in range(3):
        bar.update(7)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[-1].startswith("student answers: 3/3 answers, 21 tokens, 0:00 elapsed")


def test_a_step_clock_gives_each_steps_phases_once_and_counts_background_work():
    import threading
    import time

    from w2s.progress import StepClock

    clock = StepClock()
    with clock.phase("teacher"):
        time.sleep(0.02)
    def in_background():
        with clock.phase("background"):
            time.sleep(0.01)

    worker = threading.Thread(target=in_background)
    worker.start()
    with clock.phase("reward"), clock.phase("student"):
        time.sleep(0.01)
    worker.join()
    first = clock.take()
    assert first["teacher"] >= 0.02 and first["student"] >= 0.01 and first["reward"] >= first["student"]
    assert first["step"] >= first["teacher"] + first["reward"]
    assert first["background"] >= 0.01  # measured in its own thread, beside the step's main work
    second = clock.take()
    assert set(second) == {"step"} and second["step"] < first["step"]  # taken once: the next step starts empty
