"""The one student interface: k completions for each of many prompts, cached and batched.

Training (WST rewards), evaluation and data generation all call `Student.generate` (and
`Student.score` for teacher-forced log-probabilities). The base class owns everything backends
have in common: deduplication, the response cache, progress bars and throughput counters.
A backend only turns a list of unseen requests into completions, reporting each as it lands
(`on_result`) so a run killed midway keeps what was already generated.

Backends live in a lazy registry (`w2s.students.BACKENDS`: name → "module:Class"), so a config names one
and only that backend's libraries are imported; `register_backend` adds a user's own.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from w2s.cache import ResponseCache, stable_key
from w2s.config import check_ranges, setting
from w2s.errors import W2SError
from w2s.progress import Progress

if TYPE_CHECKING:
    from w2s.students import StudentConfig

Prompt = str | list[dict[str, str]]  # raw text, or chat messages [{"role": ..., "content": ...}]
OnResult = Callable[[int, "Completion"], None]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy (and then every sample is the same)."""

    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:  # the command line's checks, for Python callers too
        import math

        for name, kinds in (("temperature", (int, float)), ("top_p", (int, float)), ("max_tokens", (int,)),
                            ("seed", (int,))):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"SamplingParams.{name}: expected a {'whole ' if kinds == (int,) else ''}number, "
                                 f"got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"SamplingParams.{name}: expected a finite number, got {value!r}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 <= self.temperature <= 10:
            raise ValueError(f"temperature must be in [0, 10] (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def cache_fields(self) -> dict:
        fields = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.temperature > 0:
            fields.update(top_p=self.top_p, seed=self.seed)
        return fields


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int  # generated tokens
    finish_reason: str = "stop"  # "stop", "length", or "empty" (a server answered nothing; never cached)
    cached: bool = False
    prompt_tokens: int = 0  # tokens of the prompt, as the backend counted them (0 when answered from the cache)


@dataclass(frozen=True)
class TargetScore:
    """How likely the student finds a given text as its answer (teacher-forced, no generation)."""

    logprob: float  # sum of the target tokens' log-probabilities
    n_tokens: int
    cached: bool = False

    @property
    def mean(self) -> float:
        """Mean log-probability per target token (comparable across targets of different length)."""
        return self.logprob / self.n_tokens if self.n_tokens else 0.0


def request_key(fingerprint: str, prompt: Prompt, params: SamplingParams, index: int) -> str:
    """The cache key of one generation: the model's fingerprint, the exact prompt, the sampling
    parameters and the sample index (dropped, with the seed, for greedy decoding)."""
    return stable_key({"model": fingerprint, "prompt": prompt, "params": params.cache_fields(),
                       "index": index if params.temperature > 0 else 0})


def score_key(fingerprint: str, prompt: Prompt, target: str) -> str:
    """The cache key of one teacher-forced score: the model, the prompt, the scored text."""
    return stable_key({"model": fingerprint, "prompt": prompt, "target": target, "kind": "score"})


@dataclass(frozen=True)
class Request:
    prompt: Prompt
    index: int  # sample index (0..k-1); seeds sampling


@dataclass(frozen=True)
class Price:
    """What a model costs, in currency units (say USD) per million tokens."""

    prompt: float = setting(0.0, low=0, help="per million prompt tokens")
    completion: float = setting(0.0, low=0, help="per million completion tokens")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class Budget:
    """The most a run may ask of a student: generated calls and/or tokens (prompt + completion).

    Answers from the cache are free. When the budget is spent the run stops with one line; what
    was generated is cached, so the same command with a larger budget goes on from there.
    """

    calls: int | None = setting(None, low=0, help="generated answers at most (None: no limit)")
    tokens: int | None = setting(None, low=0, help="prompt + completion tokens at most (None: no limit)")

    def __post_init__(self) -> None:
        check_ranges(self)


class BudgetSpent(W2SError):
    """The student's budget ran out; everything generated so far is cached."""


@dataclass
class GenerationStats:
    """Counters across a student's lifetime; `tokens_per_s` covers fresh generations only."""

    generated: int = 0  # calls really generated
    cached: int = 0  # generations and scores answered from the cache
    tokens: int = 0  # completion tokens generated
    prompt_tokens: int = 0  # prompt tokens of the generated calls
    cached_tokens: int = 0  # completion tokens answered from the cache (generated by an earlier run)
    seconds: float = 0.0  # generating and scoring
    empty: int = 0  # answers that stayed empty after every retry (not cached)
    retries: int = 0  # transient failures retried (remote backends)
    scored: int = 0  # (prompt, target) pairs scored
    scored_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def usage(self, price: Price | None = None) -> dict:
        """Calls and tokens, generated vs answered from the cache, and their cost under `price`."""
        out = {"calls_generated": self.generated, "prompt_tokens": self.prompt_tokens,
               "completion_tokens": self.tokens, "calls_cached": self.cached, "cached_completion_tokens":
               self.cached_tokens, "scored": self.scored, "scored_tokens": self.scored_tokens,
               "retries": self.retries, "empty": self.empty}
        if price is not None:
            out["cost"] = round((self.prompt_tokens * price.prompt + self.tokens * price.completion) / 1e6, 6)
        return out


class Student(ABC):
    """A model that answers prompts. Subclasses implement `_generate` (and may `_score`)."""

    name: str
    fingerprint: str
    # The StudentConfig fields this backend reads (besides model and extra); set ones it does
    # not read are reported by make_student instead of being silently ignored.
    options: tuple[str, ...] = ()
    # Whether the model computes on hardware this process is not using (a server on another
    # machine, or on a GPU): only then does answering while this process works save time (the WST
    # trainer overlaps the two; see rewards). A server on this machine's CPU takes the same cores:
    # measured, overlapping it slowed the teacher down more than it saved (benchmarks/README.md).
    separate_compute: bool = False

    @classmethod
    def from_config(cls, config: StudentConfig, cache: ResponseCache | None = None) -> Student:
        """Build from a StudentConfig: its `options` fields and `extra` become keyword arguments; an
        option left at None is not passed, so the backend's own default applies (a timeout that
        suits a remote API does not suit a server on this CPU)."""
        options = {o: value for o in cls.options if (value := getattr(config, o)) is not None}
        return cls(config.model, cache=cache, **options, **config.extra)

    def __init__(self, cache: ResponseCache | None = None) -> None:
        self.cache = cache
        self.stats = GenerationStats()
        self.show_progress = True  # backends may show finer-grained progress of their own
        self.budget: Budget | None = None  # set from student.budget by make_student
        self.price: Price | None = None

    def budget_spent(self) -> bool:
        """Whether the budget is used up; backends check it between batches or requests."""
        b = self.budget
        return b is not None and ((b.calls is not None and self.stats.generated >= b.calls) or
                                  (b.tokens is not None and self.stats.prompt_tokens + self.stats.tokens >= b.tokens))

    @classmethod
    def fingerprint_for(cls, config: StudentConfig) -> str | None:
        """The fingerprint a student built from `config` will have, without building it (so
        without loading a model): `--plan` counts cached answers with it. None where it cannot be
        known without the model; a backend that knows it says so here and uses it itself."""
        return None

    def close(self) -> None:
        """Release what the backend holds outside this object (a server w2s started); the
        student answers nothing afterwards. In-process backends hold nothing: a no-op."""
        return None

    def usage_line(self) -> str:
        """One line saying what this student was asked and what it cost."""
        return usage_line(self.name, self.stats.usage(self.price))

    # ---- public API -------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams, k: int = 1,
                 desc: str = "generating", progress: bool = True) -> list[list[Completion]]:
        """k completions per prompt, in prompt order; only requests never seen before are run."""
        plan = self._plan(prompts, params, k, desc, progress)
        if plan.misses and not self.budget_spent():
            misses = plan.misses
            if self.budget is not None and self.budget.calls is not None:
                misses = misses[: max(0, self.budget.calls - self.stats.generated)]
            with plan.running():
                self._generate(misses, params, plan.on_result)
        if self.budget_spent() and any(key not in plan.found for key in plan.miss_keys):
            raise BudgetSpent(self._budget_message())
        return plan.results()

    def cached(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion | None]:
        """The cached answer to each prompt (first sample), or None where there is none; generates
        nothing. What a run that failed midway had already received, for its partial result."""
        keys = [request_key(self.fingerprint, p, params, 0) for p in prompts]
        found = self.cache.get_many(dict.fromkeys(keys)) if self.cache is not None else {}
        return [Completion(*found[k], cached=True) if k in found else None for k in keys]

    def _budget_message(self) -> str:
        b, u = self.budget, self.stats
        limits = ", ".join(f"student.budget.{k}={v}" for k, v in (("calls", b.calls), ("tokens", b.tokens))
                           if v is not None)
        return (f"student budget spent ({limits}: {u.generated} calls, {u.prompt_tokens + u.tokens:,} tokens "
                "generated); everything generated is cached: rerun the same command with a larger budget "
                "to go on from here")

    def score(self, prompts: Sequence[Prompt], targets: Sequence[str], desc: str = "scoring",
              progress: bool = True) -> list[TargetScore]:
        """The log-probability of each target text as the answer to its prompt (teacher-forced).

        No generation: one forward pass per (prompt, target), batched by the backend, cached like
        generations (a pair scored once is never scored again). Backends that cannot score text
        (remote APIs) raise a one-line W2SError.
        """
        if len(prompts) != len(targets):
            raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
        keys = [score_key(self.fingerprint, p, t) for p, t in zip(prompts, targets, strict=True)]
        unique = dict(zip(keys, zip(prompts, targets, strict=True), strict=True))
        found = {k: TargetScore(lp, n, cached=True)
                 for k, (lp, n) in (self.cache.get_scores(unique) if self.cache is not None else {}).items()}
        todo = [k for k in unique if k not in found]
        self.stats.cached += len(unique) - len(todo)
        if todo:
            bar = tqdm(total=len(todo), desc=desc, unit="seq", disable=not progress, dynamic_ncols=True, leave=False)
            start = time.perf_counter()
            try:
                for key, result in zip(todo, self._score([unique[k] for k in todo], bar.update), strict=True):
                    found[key] = result
            finally:
                self.stats.seconds += time.perf_counter() - start
                bar.close()
            if self.cache is not None:
                self.cache.put_scores(self.fingerprint, [(k, found[k].logprob, found[k].n_tokens) for k in todo])
            self.stats.scored += len(todo)
            self.stats.scored_tokens += sum(found[k].n_tokens for k in todo)
        return [found[k] for k in keys]

    def _plan(self, prompts: Sequence[Prompt], params: SamplingParams, k: int, desc: str,
              progress: bool) -> _Plan:
        self.show_progress = progress
        return _Plan(self, prompts, params, k, desc, progress)

    # ---- backend hooks ------------------------------------------------------------------------

    @abstractmethod
    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        """Generate every request; call on_result(i, completion) as each one finishes."""

    def _score(self, pairs: list[tuple[Prompt, str]], advance: Callable[[int], object]) -> list[TargetScore]:
        """Score (prompt, target) pairs in order; call advance(n) as n of them are done."""
        raise W2SError(f"student '{self.name}' ({type(self).__name__}) cannot score text, so reward.kind "
                       "'likelihood' needs a local student (backend hf or vllm); use 'relative' or 'absolute'")


class _Plan:
    """One generate call: which requests are cached, which to run, and where results go."""

    def __init__(self, student: Student, prompts: Sequence[Prompt], params: SamplingParams, k: int,
                 desc: str, progress: bool) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.student = student
        self.keys = [[request_key(student.fingerprint, p, params, j) for j in range(k)] for p in prompts]
        unique: dict[str, Request] = {}
        for prompt, row in zip(prompts, self.keys, strict=True):
            for j, key in enumerate(row):
                unique.setdefault(key, Request(prompt, j if params.temperature > 0 else 0))
        self.found = {key: Completion(*row, cached=True)
                      for key, row in (student.cache.get_many(unique) if student.cache is not None else {}).items()}
        self.miss_keys = [key for key in unique if key not in self.found]
        self.misses = [unique[key] for key in self.miss_keys]
        student.stats.cached += len(unique) - len(self.misses)
        student.stats.cached_tokens += sum(c.n_tokens for c in self.found.values())
        self.bar = Progress(len(self.misses), desc, enabled=progress)

    def on_result(self, i: int, completion: Completion) -> None:
        key = self.miss_keys[i]
        self.found[key] = completion
        if completion.finish_reason == "empty":  # a server kept answering nothing: ask again next run
            self.student.stats.empty += 1
        elif self.student.cache is not None:
            self.student.cache.put_many(self.student.fingerprint, [(key, completion.text, completion.n_tokens,
                                                                    completion.finish_reason)])
        self.student.stats.generated += 1
        self.student.stats.tokens += completion.n_tokens
        self.student.stats.prompt_tokens += completion.prompt_tokens
        self.bar.update(completion.n_tokens)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Time the backend's work (counted even if it fails midway) and close the progress bar."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.student.stats.seconds += time.perf_counter() - start
            self.bar.close()

    def results(self) -> list[list[Completion]]:
        missing = [key for row in self.keys for key in row if key not in self.found]
        if missing:
            raise RuntimeError(f"backend returned no completion for {len(missing)} request(s)")
        return [[self.found[key] for key in row] for row in self.keys]


def usage_line(name: str, u: dict) -> str:
    """`GenerationStats.usage()` as one line: what was generated, what came from the cache, the cost."""
    line = (f"{name}: {u['calls_generated']} calls generated ({u['prompt_tokens']:,} prompt + "
            f"{u['completion_tokens']:,} completion tokens), {u['calls_cached']} answered from the cache")
    if u.get("scored"):
        line += f", {u['scored']} texts scored ({u['scored_tokens']:,} tokens)"
    if u.get("retries"):  # a slow or failing server: the run took longer than its answers say
        line += f", {u['retries']} retries"
    if u.get("empty"):
        line += f", {u['empty']} answers empty after every retry"
    if "cost" in u:
        line += f"; cost {u['cost']:.4f}"
    return line


def prompt_text(prompt: Prompt) -> str:
    """A readable one-string form of a prompt (for logs and JSONL outputs)."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


def check_base_url(url: str, setting: str = "student.base_url", key_setting: str = "student.api_key_env") -> str:
    """Refuse credentials inside a server URL: they would reach logs, summaries and cache keys.

    The key belongs in the environment variable named by `student.api_key_env`. The message
    names only the scheme and host, never the offending part, and the setting it came from.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting}: expected http(s)://host[:port]/path, got a URL with scheme "
                         f"'{parts.scheme}'")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{setting}: credentials, query parameters or a fragment in the URL "
                         f"({parts.scheme}://{parts.hostname}/...) are refused; put the API key in the "
                         f"environment variable named by {key_setting}")
    return url


