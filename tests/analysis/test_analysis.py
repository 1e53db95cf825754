"""Analysis: Kaplan–Meier, Cox hazard ratio, log-rank (lifelines), Clopper–Pearson response rates, waterfall."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rptici.analysis import cox_hazard_ratio, kaplan_meier, logrank, response_rate, waterfall
from rptici.errors import InputError


def exponential_trial(rate: float, patients: int, seed: int, follow_up: float = math.inf):
    times = np.random.default_rng(seed).exponential(1 / rate, patients)
    return np.minimum(times, follow_up), times <= follow_up


def test_kaplan_meier_median_of_exponential_data():
    # Median of an exponential = ln2/λ = 12 months. n = 20,000: the median's relative SD is about 1 %; tolerance 4 %.
    rate = math.log(2) / 12.0
    times, events = exponential_trial(rate, 20_000, seed=11, follow_up=36.0)
    curve = kaplan_meier(times, events, label="control")
    assert curve.median == pytest.approx(12.0, rel=0.04)
    assert curve.median_low < 12.0 < curve.median_high
    survival, low, high = curve.survival_at([12.0, 24.0])
    assert survival == pytest.approx([0.5, 0.25], abs=0.02)  # S(t) = exp(-λt)
    assert np.all(low < survival) and np.all(survival < high)
    assert curve.at_risk([0.0])[0] == 20_000


def test_kaplan_meier_on_a_hand_example():
    # Four deaths at 1..4 with one censored at 2.5: S = 0.8, 0.6, then 0.6·(1 − 1/2) = 0.3 (Kaplan & Meier 1958).
    curve = kaplan_meier([1, 2, 2.5, 3, 4], [1, 1, 0, 1, 1])
    survival, _, _ = curve.survival_at([0.5, 1, 2, 2.7, 3, 4])
    assert survival.tolist() == pytest.approx([1.0, 0.8, 0.6, 0.6, 0.3, 0.0])
    assert curve.median == 3.0
    assert curve.at_risk([0, 2, 2.6, 5]).tolist() == [5, 4, 2, 0]


def test_cox_recovers_a_hazard_ratio_of_one_half():
    # Proportional hazards with HR 0.5 (treatment vs control); 1,500 patients per arm. The true value must lie in
    # the 95 % CI and the estimate within 15 %.
    control_times, control_events = exponential_trial(0.1, 1500, seed=1, follow_up=24.0)
    treated_times, treated_events = exponential_trial(0.05, 1500, seed=2, follow_up=24.0)
    times = np.concatenate([control_times, treated_times])
    events = np.concatenate([control_events, treated_events])
    arm = np.array(["control"] * 1500 + ["combination"] * 1500)
    hazard_ratio, low, high, p = cox_hazard_ratio(times, events, arm, reference_arm="control")
    assert low < 0.5 < high
    assert hazard_ratio == pytest.approx(0.5, rel=0.15)
    assert p < 1e-10
    statistic, p_logrank = logrank(treated_times, treated_events, control_times, control_events)
    assert statistic > 50 and p_logrank < 1e-10


def test_logrank_of_identical_groups_is_zero():
    times, events = exponential_trial(0.1, 200, seed=3, follow_up=20.0)
    statistic, p = logrank(times, events, times, events)
    assert statistic == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0)


def test_clopper_pearson_against_known_values():
    # 5/20: exact 95 % CI [0.0866, 0.4910] (Clopper & Pearson 1934; scipy.stats.binomtest(5, 20).proportion_ci()).
    rate, low, high = response_rate(5, 20)
    assert rate == 0.25 and low == pytest.approx(0.0866, abs=5e-5) and high == pytest.approx(0.4910, abs=5e-5)
    # 0/10: upper bound 1 − 0.025^(1/10) = 0.3085; 10/10: lower bound 0.025^(1/10) = 0.6915.
    assert response_rate(0, 10)[1:] == pytest.approx((0.0, 1 - 0.025 ** 0.1))
    assert response_rate(10, 10)[1:] == pytest.approx((0.025 ** 0.1, 1.0))
    # VISION (Sartor 2021): PSA50 46.0 % of 551 = 253/551; exact CI [0.4170, 0.5018] (scipy.stats.binomtest)
    _, low, high = response_rate(253, 551)
    assert low == pytest.approx(0.417, abs=2e-3) and high == pytest.approx(0.502, abs=2e-3)


def test_paired_difference_is_the_wald_interval_of_the_mean_difference():
    """34 pairs, 12 responding in the first arm only and 2 in the second only: difference (b − c)/n = 10/34 = 0.294,
    and the variance of the paired differences in closed form, s_d² = (b + c − (b − c)²/n)/(n − 1), gives the
    95 % interval 0.0995 to 0.4887 (worked by hand)."""
    from rptici.analysis import response
    from rptici.errors import InputError

    differences = np.array([1.0] * 12 + [-1.0] * 2 + [0.0] * 20)
    mean, low, high = response.paired_difference(differences)
    half = 1.959964 * np.sqrt((14 - 10 ** 2 / 34) / 33) / np.sqrt(34)
    assert mean == pytest.approx(10 / 34) and (low, high) == pytest.approx((10 / 34 - half, 10 / 34 + half))
    assert (low, high) == pytest.approx((0.0995, 0.4887), abs=1e-4)
    with pytest.raises(InputError, match="differences"):
        response.paired_difference([1.0])


def test_waterfall_sorts_and_drops_unassessed():
    result = waterfall([-30.0, np.nan, 20.0, -100.0, 5.0])
    assert result.percent_change.tolist() == [20.0, 5.0, -30.0, -100.0]
    assert result.patient.tolist() == [2, 4, 0, 3]


@pytest.mark.parametrize("call", [
    lambda: kaplan_meier([1, 2, -1], [1, 1, 1]),
    lambda: kaplan_meier([1, 2, 3], [1, 1]),
    lambda: cox_hazard_ratio([1, 2, 3], [1, 1, 1], ["a", "b", "c"], "a"),
    lambda: cox_hazard_ratio([1, 2, 3], [1, 1, 1], ["a", "b", "b"], "z"),
    lambda: response_rate(21, 20),
    lambda: response_rate(2.5, 20),
    lambda: waterfall([[1.0, 2.0]]),
])
def test_bad_input_raises(call):
    with pytest.raises(InputError):
        call()
