"""A standard of care given for a limited time (docetaxel's ten cycles): the lesions and the occult burden grow at
the treated doubling time while it is given and at the untreated one after its last day (the state
``standard_of_care``, ended by an event at ``care_end_time``; rptici.immunity.equations)."""

from __future__ import annotations

import numpy as np
import pytest

import rptici
from rptici.errors import InputError

TREATED_DAYS = 150.0  # docetaxel-like: the untreated 50 days divided by 1 − r, r = 2/3
UNTREATED_DAYS = 50.0
TIMES = np.arange(0.0, 361.0, 5.0)
NO_DRUG = rptici.load_scenario({
    "kind": "simulation", "species": "human", "antibody_name": None, "antibody": [],
    "prescribed_rpt": [{"day": 1000.0, "tumour_dose": "1 Gy", "effective_half_life": "2.67 d",
                        "blood_dose": "0.05 Gy", "blood_effective_half_life": "1 d"}]})  # after the horizon


def volumes(doubling_time_days: float, **care) -> np.ndarray:
    cohort = {"lesion_volumes_mL": np.array([[5.0, 12.0], [3.0, np.nan]]), "doubling_time_days": doubling_time_days,
              "occult_fraction": np.array([0.1, 0.3]), **care}
    result = rptici.simulate(NO_DRUG, cohort, times=TIMES, overrides={"switch_occult_disease": 1},
                             outputs=("volume_sum", "occult_volume"))
    assert np.all(result["status"].values == 0)
    return result["volume_sum"].values + result["occult_volume"].values


def test_a_care_without_an_end_changes_nothing():
    treated = volumes(TREATED_DAYS)
    assert np.array_equal(volumes(TREATED_DAYS, doubling_time_after_care_days=UNTREATED_DAYS), treated)
    assert np.array_equal(volumes(TREATED_DAYS, care_end_days=np.inf,
                                  doubling_time_after_care_days=UNTREATED_DAYS), treated)


def test_a_care_ended_at_once_is_untreated_growth():
    np.testing.assert_allclose(volumes(TREATED_DAYS, care_end_days=0.0, doubling_time_after_care_days=UNTREATED_DAYS),
                               volumes(UNTREATED_DAYS), rtol=1e-6)


def test_growth_speeds_up_after_the_last_day_of_care():
    end = 120.0
    stopped = volumes(TREATED_DAYS, care_end_days=end, doubling_time_after_care_days=UNTREATED_DAYS)
    treated, untreated = volumes(TREATED_DAYS), volumes(UNTREATED_DAYS)
    before = TIMES <= end
    np.testing.assert_allclose(stopped[:, before], treated[:, before], rtol=1e-6)
    after = TIMES > end
    assert np.all(stopped[:, after] > treated[:, after])
    assert np.all(stopped[:, after] < untreated[:, after])
    # from the end on, the burden grows as fast as the untreated burden did from the same size: its growth over
    # the next 60 days is within 10 % of the untreated one's from the day it had that size (Gompertz: not equal)
    at_end = stopped[:, TIMES == end][:, 0]
    day = np.array([np.interp(np.log(size), np.log(row), TIMES) for size, row in zip(at_end, untreated)])
    later = np.array([np.interp(d + 60.0, TIMES, row) for d, row in zip(day, untreated)])
    np.testing.assert_allclose(stopped[:, TIMES == end + 60.0][:, 0] / at_end, later / at_end, rtol=0.1)


@pytest.mark.parametrize("care", [{"care_end_days": -1.0}, {"care_end_days": np.array([1.0, 2.0, 3.0])},
                                  {"care_end_days": 10.0, "doubling_time_after_care_days": 0.0}])
def test_a_bad_care_covariate_is_refused_by_name(care):
    with pytest.raises(InputError, match="care"):
        volumes(TREATED_DAYS, **care)
