"""Progress of a long generation that tells the truth, on a terminal and in a log file.

Answers of a batched engine arrive in bursts: the first after a whole batch's time, the rest of
the batch at once. An estimate from the first answer (what a plain progress bar shows) is then
off by the batch size. So the estimate uses the rate up to the end of the last burst (answers
less than a second apart are one burst): none until the first burst is over, then the engine's
throughput, for static batches and continuous batching alike. Totals are in answers and tokens. On a terminal it is a tqdm bar; when
output is not a terminal (a background run's log, read later) it prints one plain line a minute.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOG_EVERY_S = 60.0
BURST_S = 1.0  # answers closer together than this arrived together


class Progress:
    """Counts answers and tokens of one generate call; `update` after each answer, then `close`."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream=None) -> None:
        self.total, self.desc, self.done, self.tokens = total, desc, 0, 0
        self.stream = stream or sys.stderr
        self.started = self.last_line = self.last_answer = time.monotonic()
        self.settled: tuple[float, int] | None = None  # (time, answers done) at the end of the last burst
        self.enabled = enabled and total > 0
        self.bar = None
        if self.enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="answer", dynamic_ncols=True, leave=False, smoothing=0,
                            file=self.stream, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {postfix}")

    def update(self, tokens: int) -> None:
        now = time.monotonic()
        if self.done and now - self.last_answer > BURST_S:
            self.settled = (self.last_answer, self.done)
        self.done += 1
        self.tokens += tokens
        self.last_answer = now
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(self.status(now), refresh=False)
            self.bar.update(1)
        elif now - self.last_line >= LOG_EVERY_S or self.done == self.total:
            self.last_line = now
            print(f"{self.desc}: {self.done}/{self.total} answers, {self.status(now)}", file=self.stream, flush=True)

    def status(self, now: float) -> str:
        """Tokens, elapsed time, rate, and what is left once the estimate can be trusted."""
        elapsed = now - self.started
        rate = self.tokens / elapsed if elapsed > 0 else 0.0
        line = f"{self.tokens:,} tokens, {_clock(elapsed)} elapsed, {rate:.1f} tokens/s"
        if self.done < self.total:
            line += f", about {_clock(left)} left" if (left := self.left()) is not None else ", estimating the time left"
        return line

    def left(self) -> float | None:
        """Seconds still to go at the rate up to the last burst's end; None before a burst ends."""
        if self.settled is None:
            return None
        at, done = self.settled
        return (at - self.started) / done * (self.total - self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class StepClock:
    """A training step's time by phase, measured where each phase runs and taken once per step as
    one dict (verl's `marked_timer` pattern), instead of differences of running totals kept by
    several objects. Phases may run in a background thread (their time overlaps the step's)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._totals: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self._totals[name] = self._totals.get(name, 0.0) + time.perf_counter() - start

    def take(self) -> dict[str, float]:
        """The seconds of each phase since the last take, and `step`: the wall time since then."""
        with self._lock:
            now = time.perf_counter()
            taken, self._totals = {**self._totals, "step": now - self._started}, {}
            self._started = now
        return taken
