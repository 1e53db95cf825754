"""Prevalence weighting (rptici.population.weighting): entropy balancing, Kish ESS, systematic resampling, and a
replay resampled to the trial's reported baseline."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.population import sample_population
from rptici.population.weighting import (baseline_summary, baseline_targets, covariate_table, entropy_balance,
                                         kish_ess, select_by_weights, target_moments, weight_population,
                                         weighted_cohort)


@pytest.fixture(scope="module")
def pool():
    return sample_population("mcrpc", 2000, 1)


def test_weights_reproduce_the_target_moments(pool):
    targets = {"psa": np.log(77.5), "age": 70.0, "bone": 0.915, "node": 0.497, "liver": 0.114,
               "suvmean": np.log(7.6)}
    table = covariate_table(pool, tuple(targets))
    result = entropy_balance(table, targets)
    w = result.weights
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
    for name, target in targets.items():
        assert abs(w @ table[name] - target) < 1e-6, name
    assert 1.0 < result.ess < len(pool)


def test_targets_equal_to_the_sample_moments_give_uniform_weights(pool):
    table = covariate_table(pool, ("psa", "age", "node", "liver"))
    targets = {name: float(np.mean(column)) for name, column in table.items()}
    result = entropy_balance(table, targets)
    np.testing.assert_allclose(result.weights, 1.0 / len(pool), rtol=1e-6)
    assert result.ess == pytest.approx(len(pool), rel=1e-9)


def test_infeasible_target_names_the_covariate_and_range(pool):
    table = covariate_table(pool, ("age", "liver"))
    with pytest.raises(InputError, match=r"targets\['age'\].*sampled range of age"):
        entropy_balance(table, {"age": 120.0, "liver": 0.1})
    with pytest.raises(InputError, match=r"liver"):
        entropy_balance(table, {"liver": 1.0})


def test_a_constant_column_at_its_target_is_matched(pool):
    table = covariate_table(pool, ("male", "age"))  # mCRPC: every patient male
    result = entropy_balance(table, {"male": 1.0, "age": 71.0})
    assert result.weights @ table["age"] == pytest.approx(71.0, abs=1e-6)
    with pytest.raises(InputError, match="male"):
        entropy_balance(table, {"male": 0.5})


def test_kish_ess_known_cases():
    assert kish_ess(np.ones(10)) == pytest.approx(10.0)
    assert kish_ess([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert kish_ess([0.5, 0.25, 0.25]) == pytest.approx(1.0 / (0.25 + 0.0625 + 0.0625))  # (Σw)²/Σw² = 8/3
    with pytest.raises(InputError):
        kish_ess([1.0, -0.1])


def test_select_by_weights_is_deterministic_and_proportional():
    w = np.array([0.5, 0.3, 0.15, 0.05])
    first = select_by_weights(w, 20, seed=3)
    assert np.array_equal(first, select_by_weights(w, 20, seed=3))
    assert np.all(np.diff(first) >= 0)
    counts = np.bincount(first, minlength=4)
    assert np.all(np.abs(counts - 20 * w) < 1.0)  # systematic resampling: floor or ceil of n w_i
    assert not np.array_equal(select_by_weights(np.full(1000, 1e-3), 500, 1), select_by_weights(np.full(1000, 1e-3), 500, 2))


def test_reported_medians_are_matched_on_the_log_scale():
    moments = target_moments(baseline_targets("VISION")["targets"])
    assert moments["psa"] == pytest.approx(np.log(77.5))  # Sartor et al. 2021 Table 1
    assert moments["liver"] == pytest.approx(0.114)
    with pytest.raises(InputError, match="statistic"):
        target_moments([{"covariate": "bone", "statistic": "median", "value": 0.9}])


def test_weighted_pool_matches_the_vision_baseline(pool):
    weighting = weight_population(pool, "VISION")
    rows = baseline_summary(pool, "VISION", weighting.weights)
    for row in rows:
        assert row["simulated"] == pytest.approx(row["reported"], rel=1e-6), row["covariate"]
    cohort, again = weighted_cohort(pool, 500, "VISION", seed=1)
    assert np.array_equal(cohort.patient_id, np.arange(500))
    assert again.ess == pytest.approx(weighting.ess)
    resampled = {row["covariate"]: row["simulated"] for row in baseline_summary(cohort, "VISION")}
    plain = {row["covariate"]: row["simulated"] for row in baseline_summary(pool, "VISION")}
    assert abs(resampled["node"] - 0.497) < abs(plain["node"] - 0.497)
    assert abs(resampled["suvmean"] - 7.6) < abs(plain["suvmean"] - 7.6)


def test_replay_with_weighting_changes_only_the_cohort_and_is_deterministic():
    from rptici.analysis.replay import replay, replay_scenario
    from rptici.trials.run import calibrated_population
    from rptici.trials.scenario import load_calibration

    plain = replay_scenario("VISION", 120, 1)
    weighted = replay_scenario("VISION", 120, 1, weight_baseline=True)
    assert weighted.baseline_weighting == "VISION"
    assert plain.model_dump(exclude={"baseline_weighting"}) == weighted.model_dump(exclude={"baseline_weighting"})
    calibration = load_calibration("default")
    a = calibrated_population(weighted, 120, 1, calibration)
    assert np.array_equal(a.psa_ng_per_mL, calibrated_population(weighted, 120, 1, calibration).psa_ng_per_mL)
    assert not np.array_equal(a.psa_ng_per_mL, calibrated_population(plain, 120, 1, calibration).psa_ng_per_mL)

    first = replay("VISION", patients=120, seed=1, weight_baseline=True)
    second = replay("VISION", patients=120, seed=1, weight_baseline=True)
    assert first["endpoints"] == second["endpoints"]
    assert first["baseline"]["weighted"] and first["baseline"]["pool"] == 480
    unweighted = replay("VISION", patients=120, seed=1)
    assert not unweighted["baseline"]["weighted"]
    assert [row["simulated"] for row in unweighted["endpoints"]] != [row["simulated"] for row in first["endpoints"]]


def test_weighting_needs_a_trial_of_the_scenarios_disease():
    from rptici.trials.scenario import load_trial_scenario

    document = {"disease": "gep_net", "arms": [{"name": "none", "regimen": None}], "patients": 10,
                "baseline_weighting": "VISION"}
    with pytest.raises(InputError, match="baseline_weighting"):
        load_trial_scenario(document)
    with pytest.raises(InputError):
        load_trial_scenario({**document, "baseline_weighting": "no such trial"})
