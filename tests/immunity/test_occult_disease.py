"""Occult micrometastatic disease (issue 13 item 2): a burden below the detection limit that grows at the
patient's doubling time, is killed by radiation and by the systemic effector pool, and surfaces as new lesions.

Closed form used below (untreated, Gompertz growth as the visible lesions): dO/dt = r ln(K/O) O − κ O =
r O ln(K'/O) with K' = K e^{−κ/r}, so ln(K'/O(t)) = ln(K'/O0) e^{−rt} and the burden reaches the detection
volume V_d at t_d = ln(ln(K'/O0)/ln(K'/V_d))/r; at O0 the net growth rate is ln 2/T_d (the doubling time).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import rptici
from rptici.errors import InputError
from rptici.immunity.covariates import occult_fraction_draw
from rptici.immunity.model import MODEL
from rptici.immunity.parameters import load_parameters

ON = {"switch_occult_disease": 1}
OFF = {"switch_occult_disease": 0}
DOUBLING_DAYS = np.array([60.0, 90.0])
FRACTION = np.array([0.05, 0.2])
COHORT = {"lesion_volumes_mL": np.array([[5.0, 10.0], [2.0, np.nan]]), "doubling_time_days": DOUBLING_DAYS,
          "occult_fraction": FRACTION, "psa": np.array([10.0, 20.0])}


def scenario(tumour_dose_gy: float = 1.0, day: float = 1000.0):
    """Prescribed RPT (tumour dose, 2.67 d effective half-life, Lu-177-like); day 1000: after the horizon."""
    return rptici.load_scenario({
        "kind": "simulation", "species": "human", "antibody_name": None, "antibody": [],
        "prescribed_rpt": [{"day": day, "tumour_dose": f"{tumour_dose_gy} Gy", "effective_half_life": "2.67 d",
                            "blood_dose": f"{0.05 * tumour_dose_gy} Gy", "blood_effective_half_life": "1 d"}]})


def occult(overrides=None, times=np.arange(0.0, 401.0), **options):
    result = rptici.simulate(scenario(**options), COHORT, times=times, overrides=overrides,
                             outputs=("occult_volume", "psa", "volume_sum"))
    assert np.all(result["status"].values == 0)
    return {name: result[name].values for name in ("occult_volume", "psa", "volume_sum")}


def test_untreated_occult_burden_reaches_the_detection_volume_at_the_closed_form_time():
    parameters = load_parameters("human").with_overrides(ON)
    values = parameters.values
    layout = MODEL.layout(2, 4)
    vector = MODEL.parameter_vector(parameters, layout, COHORT)
    rate = vector[:, layout.parameter("occult_growth_rate")]
    capacity, detection = values["carrying_capacity"], values["occult_detection_volume"]
    start = FRACTION * detection
    kill = rate * np.log(capacity / start) - math.log(2.0) / DOUBLING_DAYS  # net growth ln 2/T_d at O0
    plateau = capacity * np.exp(-kill / rate)
    expected = np.log(np.log(plateau / start) / np.log(plateau / detection)) / rate
    times = np.arange(0.0, 801.0)
    burden = occult(ON, times=times)["occult_volume"]
    np.testing.assert_allclose(burden[:, 0], start, rtol=1e-6)
    # the doubling time at the start: ln(O(1)/O(0)) ≈ ln 2/T_d over the first day (Gompertz slows it slightly)
    np.testing.assert_allclose(np.log(burden[:, 1] / burden[:, 0]), math.log(2.0) / DOUBLING_DAYS, rtol=2e-3)
    crossing = np.array([np.interp(math.log(detection), np.log(row), times) for row in burden])
    np.testing.assert_allclose(crossing, expected, atol=0.5)
    # exponential growth would reach it after log2(1/fraction) doubling times: Gompertz is a little slower
    assert np.all(crossing > DOUBLING_DAYS * np.log2(1.0 / FRACTION))


def test_switched_off_there_is_no_occult_burden_and_nothing_else_changes():
    off, on = occult(OFF), occult(ON)
    assert np.all(off["occult_volume"] == 0.0)
    np.testing.assert_allclose(off["volume_sum"], on["volume_sum"], rtol=1e-6)  # visible lesions do not feel it
    assert np.all(on["psa"][:, -1] > off["psa"][:, -1])  # a growing occult burden makes PSA
    np.testing.assert_allclose(on["psa"][:, 0], off["psa"][:, 0])  # the baseline PSA is the patient's


def test_radiation_kills_occult_disease_but_its_target_low_part_regrows():
    """Radiation alone (priming off, so no RPT-triggered immune kill): the target-positive part is killed, the
    target-low part (the default low-uptake share, a fifth of the dose rate) regrows."""
    radiation_only = {**ON, "switch_priming": 0}
    untreated = occult(radiation_only)["occult_volume"]
    treated = occult(radiation_only, tumour_dose_gy=40.0, day=10.0)["occult_volume"]
    day_60, last = 60, -1
    assert np.all(treated[:, day_60] < 0.5 * untreated[:, day_60])
    # the target-low share (same heterogeneity as the lesions) receives little dose and keeps growing
    assert np.all(treated[:, last] > treated[:, day_60])
    stronger = occult({**radiation_only, "occult_dose_fraction": 1.0}, tumour_dose_gy=40.0, day=10.0)["occult_volume"]
    assert np.all(stronger[:, day_60] < treated[:, day_60])


def test_the_initial_occult_burden_is_drawn_log_uniform():
    """Log-uniform from occult_fraction_min to occult_fraction_max detection volumes (default max 1: below
    detection, as before the maximum existed); a patient's burden may exceed one detection volume (the sum of his
    micrometastases), not be negative or infinite."""
    draws = occult_fraction_draw(np.array([0.0, 0.5, 0.999999]), 0.01)
    np.testing.assert_allclose(draws, [0.01, 0.1, 1.0], rtol=1e-4)
    np.testing.assert_array_equal(draws, np.power(0.01, 1.0 - np.array([0.0, 0.5, 0.999999])))  # max 1: unchanged
    np.testing.assert_allclose(occult_fraction_draw(np.array([0.0, 0.5, 0.999999]), 0.01, 4.0), [0.01, 0.2, 4.0],
                               rtol=1e-4)
    result = rptici.simulate(scenario(), {**COHORT, "occult_fraction": np.array([0.5, 1.2])}, times=[0.0, 1.0],
                             overrides=ON, outputs=("occult_volume",))
    np.testing.assert_allclose(result["occult_volume"][:, 0], np.array([0.5, 1.2]) * 0.5)  # x detection volume
    for bad in (np.array([0.5, -1.0]), np.array([0.5, np.inf])):
        with pytest.raises(InputError, match="occult_fraction"):
            rptici.simulate(scenario(), {**COHORT, "occult_fraction": bad}, times=[0.0, 1.0], overrides=ON,
                            outputs=("occult_volume",))
    with pytest.raises(InputError, match="occult_fraction_min"):
        occult_fraction_draw(np.array([0.5]), 0.0)
    with pytest.raises(InputError, match="occult_fraction_max"):
        occult_fraction_draw(np.array([0.5]), 0.01, 0.5)
