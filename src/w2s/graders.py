"""Graders: extract a final answer from a response and decide if it matches the gold answer.

One grader per task, used by evaluation, RL rewards and data filters alike, so a score means the
same thing everywhere. As in lm-evaluation-harness, each grade carries two extractions because
the choice moves scores a lot:

- strict: only an explicitly marked answer counts (`#### N`, `The answer is N`, `\\boxed{N}`);
- flexible: strict, else a fallback (GSM8K: the last number; MATH: the last `$...$` expression).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import logging
import multiprocessing
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache


@dataclass(frozen=True)
class Grade:
    """The verdicts for one response: flexible (the headline) and strict.

    `score` is what evaluations average and rewards compare: 1.0/0.0 for a right/wrong final
    answer, or the scalar an open-ended grader gives (a reward model's score), in which case
    `correct` is False and the extractions are None.
    """

    pred: str | None
    correct: bool
    strict_pred: str | None
    strict_correct: bool
    score: float | None = None

    @property
    def value(self) -> float:
        return float(self.correct) if self.score is None else self.score


class Grader(ABC):
    """Extraction + equivalence for one kind of answer.

    `scalar` graders (open-ended answers) score a response to a prompt instead of checking a final
    answer; callers then use `grade_batch` with the prompts, and `Grade.score`.
    """

    name: str
    scalar: bool = False

    def grade_batch(self, prompts: list, responses: list[str], golds: list[str]) -> list[Grade]:
        """Grades for many responses at once (a model-based grader batches them); prompts are the
        chats the responses answer. The default grades one by one and ignores the prompts."""
        return [self.grade(r, g) for r, g in zip(responses, golds, strict=True)]

    @abstractmethod
    def extract(self, response: str, strict: bool = False) -> str | None:
        """The final answer in `response`, or None when there is none."""

    @abstractmethod
    def equivalent(self, pred: str | None, gold: str, question: str | None = None) -> bool:
        """Whether an extracted answer means the same as the reference answer `gold`.

        `question` is the question both answer. A grader whose scorer reads the question's own
        data (reasoning-gym) uses it, so that two models' answers to one question (Stage I's
        agreement, Stage II's vote) are compared by that question's rules, not by those of
        whichever item happens to have the reference as its gold.
        """

    def grade(self, response: str, gold: str) -> Grade:
        return self._grade(response, gold, self.equivalent)

    def _grade(self, response: str, gold: str, equivalent: Callable[[str | None, str], bool]) -> Grade:
        """`grade` with the equivalence given: a grader whose scorer needs the question's own item
        (reasoning-gym) passes one bound to it."""
        strict_pred = self.extract(response, strict=True)
        pred = strict_pred if strict_pred is not None else self.extract(response, strict=False)
        strict_correct = equivalent(strict_pred, gold)
        correct = strict_correct if pred == strict_pred else equivalent(pred, gold)
        return Grade(pred, correct, strict_pred, strict_correct)

    def same_answer(self, response_a: str, response_b: str, strict: bool = False,
                    question: str | None = None) -> bool:
        """Both responses (to `question`) have a non-empty final answer and the answers agree
        (Stage I filter). With strict=True only marked final answers count, as the method's
        reference code reads them.
        """
        a, b = self.extract(response_a, strict), self.extract(response_b, strict)
        return a is not None and b is not None and (a == b or self.equivalent(a, b, question))


# --------------------------------------------------------------------------------------------
# Shared extraction helpers


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` with balanced braces (or `\\boxed 5`)."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:]
    brace = rest.find("{")
    head = rest[: brace if brace >= 0 else len(rest)]
    if brace < 0 or head.strip() not in ("\\boxed", "\\fbox"):
        match = re.match(r"\\boxed\s+([^\s$]+)", rest)
        return match.group(1) if match else None
    depth = 0
    for i in range(brace, len(rest)):
        if rest[i] == "{":
            depth += 1
        elif rest[i] == "}":
            depth -= 1
            if depth == 0:
                return rest[brace + 1 : i].strip()
    return None


_ANSWER_IS = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s+is\s*[:：]?\s*(.+)", re.IGNORECASE)


def answer_is(text: str) -> str | None:
    """What follows the last 'The answer is' up to the end of its line, markdown stripped."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    lines = matches[-1].group(1).strip().splitlines()
    if not lines:  # "The answer is" with only blanks after it (a student cut off mid-sentence)
        return None
    tail = lines[0].strip().strip("*").strip()
    tail = re.sub(r"[.。]\s*$", "", tail).strip()
    return tail or None


# --------------------------------------------------------------------------------------------
# GSM8K: numbers

_NUMBER = re.compile(r"-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


def numbers_in(text: str) -> list[str]:
    """Every number written in `text`, in order, as written (without a leading '$')."""
    return [m.group(0).replace("$", "").replace(" ", "") for m in _NUMBER.finditer(text.replace("\\$", "$"))]


def parse_number(text: str | None) -> Decimal | None:
    """The first number in `text`, tolerant of $, commas, units, %, LaTeX wrappers and a final '.'."""
    if text is None:
        return None
    cleaned = re.sub(r"\\(?:text|mathrm|textbf)\{([^}]*)\}", r"\1", text)
    cleaned = cleaned.replace("\\$", "$").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    frac = re.search(r"-?\\d?frac\{(-?\d+)\}\{(-?\d+)\}", cleaned)
    # Decimal, not int: a 5,000-digit denominator is a (silly) answer, not a crash
    if frac and Decimal(frac.group(2)) != 0:
        value = Decimal(frac.group(1)) / Decimal(frac.group(2))
        return -value if cleaned.lstrip().startswith("-") and value > 0 else value
    match = _NUMBER.search(cleaned)
    if match is None:
        return None
    token = match.group(0).replace("$", "").replace(",", "").replace(" ", "")
    try:
        return Decimal(token)
    except InvalidOperation:
        return None


class NumericGrader(Grader):
    """GSM8K-style answers: one number, compared exactly as a decimal (so `$18.00` equals `18`, and
    1000001 does not equal 1000000: GSM8K's answers are exact, so no tolerance)."""

    name = "numeric"

    def extract(self, response: str, strict: bool = False) -> str | None:
        candidates: list[tuple[int, str]] = []
        for match in re.finditer(r"####\s*([^\n]+)", response):
            candidates.append((match.start(), match.group(1)))
        boxed = last_boxed(response)
        if boxed is not None:
            candidates.append((max(response.rfind("\\boxed"), response.rfind("\\fbox")), boxed))
        for match in _ANSWER_IS.finditer(response):
            candidates.append((match.start(), match.group(1).splitlines()[0]))
        for _, text in sorted(candidates, reverse=True):
            number = parse_number(text)
            if number is not None:
                return _format_number(number)
        if strict:
            return None
        numbers = [m.group(0) for m in _NUMBER.finditer(response.replace("\\$", "$"))]
        for token in reversed(numbers):
            number = parse_number(token)
            if number is not None:
                return _format_number(number)
        return None

    def equivalent(self, pred: str | None, gold: str, question: str | None = None) -> bool:
        a, b = parse_number(pred), parse_number(gold)
        if a is None or b is None:
            return False
        return a == b


def _format_number(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------------------------
# MATH: LaTeX expressions, equivalence by math-verify in a worker process

_VERIFY_TIMEOUT_S = 5.0
_STARTUP_TIMEOUT_S = 300.0


class MathGrader(Grader):
    """MATH-style answers: `\\boxed{}` extraction, equivalence through math-verify.

    math-verify's own timeouts use signals, which only work in the main thread; we disable them
    and instead run every check in one long-lived worker process that is killed and restarted if
    a check exceeds `_VERIFY_TIMEOUT_S`. So grading is bounded in time and safe from any thread.
    """

    name = "math"

    def extract(self, response: str, strict: bool = False) -> str | None:
        boxed = last_boxed(response)
        if boxed is not None or strict:
            return boxed or None
        stated = answer_is(response)
        if stated is not None:
            inner = re.fullmatch(r"\$+(.+?)\$+", stated)
            return inner.group(1).strip() if inner else stated
        maths = re.findall(r"\$([^$]+)\$", response)
        return maths[-1].strip() if maths else None

    def equivalent(self, pred: str | None, gold: str, question: str | None = None) -> bool:
        if pred is None or not pred.strip():
            return False
        if _normalize_latex(pred) == _normalize_latex(gold):
            return True
        return _verify_cached(gold, pred)


def _normalize_latex(text: str) -> str:
    text = re.sub(r"\\(?:left|right|displaystyle|!|,|;|\s)", "", text)
    text = text.replace("dfrac", "frac").replace("tfrac", "frac").replace("$", "")
    return re.sub(r"\s+", "", text).rstrip(".")


@lru_cache(maxsize=65536)
def _verify_cached(gold: str, pred: str) -> bool:
    return _VERIFIER.verify(gold, pred)


def _warm_up() -> bool:
    import math_verify  # noqa: F401

    return True


def _verify_in_worker(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    parsed_gold = parse(f"\\boxed{{{gold}}}", parsing_timeout=None)
    parsed_pred = parse(f"\\boxed{{{pred}}}", parsing_timeout=None)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=None))


class _Verifier:
    """One spawned worker process; restarted after a timeout or crash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                # shut down before the interpreter tears modules down (else its manager thread
                # fails at exit: "Exception ignored in ... weakref_cb")
                atexit.register(self._pool.shutdown, wait=True, cancel_futures=True)
                # Start the worker and import math-verify (sympy) outside the per-check timeout: on a
                # loaded machine start-up alone can take longer, and a timed-out check grades wrong.
                self._pool.submit(_warm_up).result(timeout=_STARTUP_TIMEOUT_S)
            return self._pool

    def _restart(self, pool: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def verify(self, gold: str, pred: str) -> bool:
        pool = self._executor()
        try:
            return pool.submit(_verify_in_worker, gold, pred).result(timeout=_VERIFY_TIMEOUT_S)
        except cf.TimeoutError:
            self._restart(pool)
            return False
        except cf.process.BrokenProcessPool:
            self._restart(pool)
            return False
        except Exception:  # noqa: BLE001 - an unparsable answer is simply not equivalent
            return False


_VERIFIER = _Verifier()
