"""Treatment as given in trials (issue 13 item 5): stop at confirmed progression or at a grade ≥ 3 irAE, checkpoint
inhibitors for up to two years, follow-up for OS after stopping (KEYNOTE-199 and CheckMate protocols: pembrolizumab
200 mg q3w "until progression or unacceptable toxicity, up to 35 cycles"; Antonarakis et al. 2020 J Clin Oncol
38:395). The mechanism check of the issue: stopping at progression lowers irAE rates against fixed two-year dosing.
"""

from __future__ import annotations

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.kinetics import Regimen
from rptici.simulation.engine import simulate
from rptici.trials.run import progression_stop_days, run_hash, simulate_trial
from rptici.trials.scenario import load_trial_scenario

PEMBROLIZUMAB = {"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 35}}
TRIAL = {"name": "pembrolizumab in mCRPC", "disease": "mcrpc", "follow_up": "30 months", "assessments": "q9w",
         "patients": 400, "arms": [{"name": "pembrolizumab", "regimen": PEMBROLIZUMAB}]}
FIXED = {"ici_max_duration": "2 years", "immune_exposure": "follow_up"}


def run(**rules) -> dict:
    return simulate_trial(TRIAL | {"treatment": FIXED | rules}, seed=3)["patients"]


@pytest.fixture(scope="module")
def fixed():
    return run()


def test_stopping_at_progression_lowers_immune_adverse_events(fixed):
    stopped = run(stop_at=["progression"], progression_confirmation="4 weeks")
    # the same patients and draws: less exposure for each, and an irAE only where fixed dosing had one
    assert np.all(stopped["ici_exposure_days"] <= fixed["ici_exposure_days"] + 1e-6)
    # measured (December 2026 calibration, 400 patients, seed 3): 413 → 391 days of full occupancy, grade ≥ 3 irAE
    # 0.385 → 0.373; occupancy outlasts the last infusion by months, so stopping saves less than it might seem
    assert stopped["ici_exposure_days"].mean() < fixed["ici_exposure_days"].mean()
    assert not np.any(stopped["grade3plus_immune"] & ~fixed["grade3plus_immune"])
    assert stopped["grade3plus_immune"].mean() < fixed["grade3plus_immune"].mean()
    # exact two passes: stopping after the confirming scan leaves progression itself unchanged
    np.testing.assert_array_equal(stopped["pfs_days"], fixed["pfs_days"])
    progressed = stopped["ici_stop_days"] < 2 * 365.25 - 1  # stopped before the maximum of two years
    assert progressed.mean() > 0.3 and np.all(stopped["ici_stop_days"][progressed] >= stopped["pfs_days"][progressed])
    # followed for OS after stopping: deaths are still counted beyond the stop day
    assert np.any(stopped["os_days"][progressed] > stopped["ici_stop_days"][progressed])


def test_stopping_at_toxicity_keeps_the_event_that_stopped_it(fixed):
    stopped = run(stop_at=["toxicity"])
    assert np.array_equal(stopped["grade3plus_immune"], fixed["grade3plus_immune"])
    events = stopped["grade3plus_immune"].to_numpy(bool)
    assert events.any() and np.all(np.isfinite(stopped["ici_stop_days"][events]))
    assert np.all(stopped["ici_exposure_days"] <= fixed["ici_exposure_days"] + 1e-6)


def test_a_shorter_maximum_duration_gives_less_exposure(fixed):
    one_year = run(ici_max_duration="1 year")
    assert one_year["ici_exposure_days"].mean() < fixed["ici_exposure_days"].mean()


def test_stopped_infusions_are_the_shorter_regimen():
    """Zeroed administrations after the stop day give the same trajectory as a regimen without them."""
    patients = {"lesion_volumes_mL": np.array([[5.0, 12.0], [20.0, np.nan]]), "weight_kg": np.array([70.0, 90.0])}
    times = np.arange(0.0, 120.0, 3.0)
    long = Regimen.model_validate({"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w",
                                           "infusions": 6}})
    short = Regimen.model_validate({"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w",
                                            "infusions": 3}})
    stopped = simulate(long, patients, times, organs=(), outputs=("occupancy", "volume_sum"), ici_stop_days=50.0)
    reference = simulate(short, patients, times, organs=(), outputs=("occupancy", "volume_sum"))
    for name in ("occupancy", "volume_sum"):
        np.testing.assert_allclose(stopped[name], reference[name], rtol=1e-5)


def test_progression_stops_at_the_confirming_scan():
    times = np.array([0.0, 56.0, 112.0, 168.0])
    sums = np.array([[100.0, 125.0, 130.0, 140.0],   # PD at day 56, confirmed at 112
                     [100.0, 125.0, 80.0, 80.0],     # PD at day 56 by sum; the confirming scan is no longer PD
                     [100.0, 90.0, 95.0, 96.0]])     # no progression
    np.testing.assert_array_equal(progression_stop_days(times, sums, None), [56.0, 56.0, np.inf])
    np.testing.assert_array_equal(progression_stop_days(times, sums, 28.0), [112.0, np.inf, np.inf])
    # a fourth patient without target lesions: his non-target node grows unequivocally (+6 mm, 60 % at day 112;
    # still PD at 168); the third one's node adds 7 mm to a 100 mm burden, which is not progression
    sums = np.vstack([sums, np.full(4, np.nan)])
    non_target = np.array([[np.nan] * 4, [np.nan] * 4, [10.0, 12.0, 16.0, 17.0], [10.0, 12.0, 16.0, 17.0]])
    np.testing.assert_array_equal(progression_stop_days(times, sums, None, non_target), [56.0, 56.0, np.inf, 112.0])
    np.testing.assert_array_equal(progression_stop_days(times, sums, 28.0, non_target), [112.0, np.inf, np.inf, 168.0])


def test_rules_are_checked_and_the_default_keeps_run_hashes():
    with pytest.raises(InputError) as error:
        load_trial_scenario(TRIAL | {"treatment": {"stop_at": ["boredom"]}})
    assert "stop_at" in error.value.field
    with pytest.raises(InputError) as error:
        load_trial_scenario(TRIAL | {"treatment": {"progression_confirmation": "4 weeks"}})
    assert error.value.field.endswith("progression_confirmation")
    from rptici.trials.scenario import load_calibration

    calibration = load_calibration(None)
    plain = load_trial_scenario(TRIAL)
    assert run_hash(plain, calibration) == run_hash(load_trial_scenario(TRIAL | {"treatment": {}}), calibration)
    assert run_hash(plain, calibration) != run_hash(load_trial_scenario(TRIAL | {"treatment": FIXED}), calibration)
