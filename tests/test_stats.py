import pytest

from w2s.stats import bootstrap_ci, mcnemar_exact, mcnemar_power


def test_mcnemar_exact_on_hand_made_cases():
    # 6 helped, 1 harmed, 3 unchanged: p = 2 * P[Bin(7, .5) <= 1] = 2 * 8/128 = 0.125
    baseline = [False] * 6 + [True] + [True, False, True]
    treatment = [True] * 6 + [False] + [True, False, True]
    assert mcnemar_exact(baseline, treatment) == (6, 1, 0.125)
    # 10 helped, 0 harmed: p = 2 / 1024
    assert mcnemar_exact([False] * 10, [True] * 10) == (10, 0, 2 / 1024)
    # no discordant pairs: p = 1
    assert mcnemar_exact([True, False], [True, False]) == (0, 0, 1.0)
    # symmetric: p capped at 1
    assert mcnemar_exact([True, False], [False, True])[2] == 1.0


def test_mcnemar_rejects_unpaired():
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_bootstrap_interval_brackets_mean_and_is_deterministic():
    outcomes = [True] * 30 + [False] * 70
    est = bootstrap_ci(outcomes)
    assert est.value == 0.3 and est.low < 0.3 < est.high
    assert 0.2 < est.low < 0.25 and 0.35 < est.high < 0.4  # binomial sd ≈ 0.046
    assert bootstrap_ci(outcomes) == est
    assert bootstrap_ci([True] * 5) == bootstrap_ci([1.0] * 5)


def test_bootstrap_needs_data():
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_pgr_interval_resamples_questions_for_all_three_models_together():
    from w2s.stats import pgr_interval

    floor = [False] * 60 + [True] * 20 + [False] * 20  # 0.2
    ceiling = [True] * 60 + [True] * 20 + [False] * 20  # 0.8
    halfway = [True] * 30 + [False] * 30 + [True] * 20 + [False] * 20  # 0.5: PGR 0.5
    interval = pgr_interval(halfway, floor, ceiling)
    assert interval.low < 0.5 < interval.high and interval.undefined == 0
    assert 0.3 < interval.low and interval.high < 0.7
    # the model equals the ceiling on every question: PGR is exactly 1 in every resample
    same = pgr_interval(ceiling, floor, ceiling)
    assert (same.low, same.high) == (1.0, 1.0)
    # a ceiling no better than the floor has no gap to recover
    assert pgr_interval(halfway, floor, floor) is None
    # a wider interval with fewer questions
    fewer = pgr_interval(halfway[::4], floor[::4], ceiling[::4])
    assert fewer.high - fewer.low > interval.high - interval.low


def test_mcnemar_power_is_exact_on_small_cases_and_grows_with_n():
    # n = 6, every item better with probability 1: 6 / 0 gives p = 2/64 < 0.05, so power is 1
    assert mcnemar_power(6, 1.0, 0.0) == pytest.approx(1.0)
    # n = 5, always better: 5 / 0 gives p = 2/32 = 0.0625, never significant
    assert mcnemar_power(5, 1.0, 0.0) == 0.0
    # n = 6, better w.p. 0.5 else the same: significant only when all six are better
    assert mcnemar_power(6, 0.5, 0.0) == pytest.approx(0.5 ** 6)
    published = [mcnemar_power(n, 116 / 400, 8 / 400) for n in (24, 32, 40)]
    assert published == sorted(published) and published[1] == pytest.approx(0.793, abs=0.001)
