"""Statistics for honest small-sample claims: bootstrap intervals and exact McNemar tests."""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A proportion with its 95% interval."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}] (n={self.n})"

    def to_dict(self) -> dict:
        """The JSON form every summary file uses: {value, low, high, n}."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    @classmethod
    def from_dict(cls, data: dict) -> Estimate:
        """Back from the JSON form (`n` may be missing in files written before it was kept)."""
        return cls(data["value"], data["low"], data["high"], data.get("n", 0))

    def short(self) -> str:
        """`0.603 [0.547, 0.660]`: how every table and summary line shows an estimate."""
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def shown(estimate: dict | Estimate) -> str:
    """An estimate, or its JSON form from a results file, as `0.603 [0.547, 0.660]`."""
    return (estimate if isinstance(estimate, Estimate) else Estimate.from_dict(estimate)).short()


def bootstrap_ci(outcomes: list[bool] | list[float], confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> Estimate:
    """Mean of `outcomes` with a percentile-bootstrap interval (deterministic under `seed`)."""
    values = np.asarray(outcomes, dtype=float)
    if values.size == 0:
        raise ValueError("cannot estimate accuracy from zero outcomes")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(float(values.mean()), float(low), float(high), int(values.size))


def mcnemar_exact(baseline: list[bool] | list[float], treatment: list[bool] | list[float]) -> tuple[int, int, float]:
    """(helped, harmed, two-sided exact p) for paired outcomes on the same items.

    helped = the treatment scores higher on an item (for right/wrong outcomes: baseline wrong and
    treatment right); harmed = the reverse; ties drop out. Under H0 the untied pairs split 50/50,
    so p = min(1, 2 * P[Binomial(helped+harmed, 1/2) <= min(helped, harmed)]): McNemar's exact
    test on binary outcomes, the exact sign test on scores.
    """
    if len(baseline) != len(treatment):
        raise ValueError("paired outcomes must have the same length")
    helped = sum(1 for b, t in zip(baseline, treatment, strict=True) if t > b)
    harmed = sum(1 for b, t in zip(baseline, treatment, strict=True) if t < b)
    n = helped + harmed
    if n == 0:
        return helped, harmed, 1.0
    tail = sum(comb(n, i) for i in range(min(helped, harmed) + 1)) / 2**n
    return helped, harmed, min(1.0, 2 * tail)


def win_rate(baseline: list[float], treatment: list[float]) -> Estimate:
    """How often the treatment beats the baseline on the same item (a tie counts half), with its interval."""
    if len(baseline) != len(treatment):
        raise ValueError("paired outcomes must have the same length")
    return bootstrap_ci([1.0 if t > b else 0.5 if t == b else 0.0 for b, t in zip(baseline, treatment, strict=True)])


@dataclass(frozen=True)
class PGRInterval:
    """A PGR bootstrap interval, and how many resamples had no gap to recover."""

    low: float
    high: float
    undefined: int  # resamples where the ceiling did not exceed the floor (left out of the interval)
    resamples: int


def pgr_interval(model: list[bool], floor: list[bool], ceiling: list[bool], confidence: float = 0.95,
                 resamples: int = 10_000, seed: int = 0) -> PGRInterval | None:
    """Percentile bootstrap interval of PGR = (model - floor) / (ceiling - floor).

    The three models answered the same test questions, so each resample draws questions (not
    answers) and recomputes all three accuracies on them: the interval carries the floor's and
    the ceiling's own uncertainty, which a point PGR hides. None when no resample has a gap.
    """
    if not len(model) == len(floor) == len(ceiling) or not model:
        raise ValueError("PGR needs the three models' outcomes on the same, non-empty set of questions")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(model), size=(resamples, len(model)))
    m, f, c = (np.asarray(x, dtype=float)[picks].mean(axis=1) for x in (model, floor, ceiling))
    gap = c - f
    ok = gap > 0
    if not ok.any():
        return None
    values = (m[ok] - f[ok]) / gap[ok]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return PGRInterval(float(low), float(high), int((~ok).sum()), resamples)


def mcnemar_power(n: int, better: float, worse: float, alpha: float = 0.05) -> float:
    """The chance that n paired items give an exact McNemar test significant at `alpha` in the
    treatment's favour, when each item independently comes out better (treatment right, baseline
    wrong) with probability `better`, worse with `worse`, and the same otherwise. Exact: a sum over
    every (better, worse) count. Used to size an evaluation before it runs."""
    from math import comb

    same = 1 - better - worse
    total = 0.0
    for b in range(n + 1):
        for w in range(min(b, n - b + 1)):  # w < b: the treatment's favour
            d = b + w
            p = min(1.0, 2 * sum(comb(d, i) for i in range(w + 1)) / 2 ** d)
            if p < alpha:
                total += comb(n, b) * comb(n - b, w) * better ** b * worse ** w * same ** (n - b - w)
    return total


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: a family of tests at one alpha."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    adjusted, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adjusted[i] = running
    return adjusted
