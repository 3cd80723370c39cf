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
