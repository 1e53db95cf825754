"""New lesions from occult micrometastatic disease (issue 13 item 2): RECIST 1.1 and the PCWG3 bone-scan rule
count them as progression, so rPFS comes from growth and new lesions, as in the trials.

Evidence (tests/reference/rpt_response.yaml, progression_pattern): under Lu-PSMA-617, progression at 12 weeks is
13 % by RECIST size rules vs 52-58 % counting new lesions (Gafita et al. 2022). The trial check below runs with
RPT-triggered priming off (the shipped calibration's priming eradicates visible and occult disease alike, which is
item 3's business) and no dose reaching the micrometastases (occult_dose_fraction 0), so that the visible lesions
respond while occult clones grow through: the situation the evidence describes.
"""

from __future__ import annotations

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.trials.endpoint_registry import PatientRecord, endpoint
from rptici.trials.endpoints import bone_scan_progression, recist
from rptici.trials.run import first_new_lesion, new_lesions, simulate_trial

TIMES = np.array([0.0, 56.0, 112.0, 168.0])


def test_occult_burden_becomes_counts_of_new_lesions_and_progression():
    # burden in detection volumes 0.5 → 1.2 → 2.5 → 4.0 (detection volume 0.5 mL); bone share 0.7
    burden = np.array([[0.25, 0.6, 1.25, 2.0], [0.1, 0.1, 0.1, np.nan]])
    counts = new_lesions(burden, 0.5, 0.7)
    np.testing.assert_array_equal(counts["bone"][0], [0, 0, 1, 2])  # floor(0.7 × burden/0.5)
    np.testing.assert_array_equal(counts["soft_tissue"][0], [0, 0, 0, 1])  # floor(0.3 × burden/0.5)
    np.testing.assert_array_equal(first_new_lesion(TIMES, counts["soft_tissue"]), [168.0, np.inf])
    # PCWG3: 2 new bone lesions at day 168 (after the 12-week flare window) is bone progression
    np.testing.assert_array_equal(bone_scan_progression(TIMES, counts["bone"]), [168.0, np.inf])
    # RECIST: a new lesion is progression whatever the sum of diameters did (here it shrank 40 %)
    sums = np.array([[50.0, 30.0, 30.0, 30.0], [50.0, 50.0, 50.0, 50.0]])
    response = recist(TIMES, sums, new_lesion_times=first_new_lesion(TIMES, counts["soft_tissue"]))
    np.testing.assert_array_equal(response.progression_time, [168.0, np.inf])
    # counted from the baseline's, never below 0: 2.4 detection volumes at baseline (none of its lesions new),
    # then 4.0 (one new in bone, floor(0.7 × 4.0) − floor(0.7 × 2.4) = 2 − 1, and one in soft tissue, 1 − 0),
    # then shrinking to 1.0 (none)
    counted = new_lesions(np.array([[1.2, 2.0, 0.5, np.nan]]), 0.5, 0.7)
    np.testing.assert_array_equal(counted["bone"], [[0, 1, 0, np.nan]])
    np.testing.assert_array_equal(counted["soft_tissue"], [[0, 1, 0, np.nan]])
    with pytest.raises(InputError, match="occult_detection_volume"):
        new_lesions(burden, 0.0)
    with pytest.raises(InputError, match="occult_bone_share"):
        new_lesions(burden, 0.5, 1.5)


def test_bone_progression_counts_as_radiographic_progression_and_as_progression_by_new_lesions():
    sums = np.array([[50.0, 30.0, 30.0, 30.0], [50.0, 70.0, 70.0, 70.0], [50.0, 50.0, 50.0, 50.0]])
    size_only = recist(TIMES, sums)
    record = PatientRecord(size_only, death=np.full(3, np.inf), censor=np.full(3, 200.0),
                           bone_progression=np.array([112.0, 168.0, np.inf]),
                           size_progression=size_only.progression_time)
    np.testing.assert_array_equal(record.event_time("progression"), [112.0, 56.0, np.inf])
    columns = endpoint("new_lesion_share").per_patient(record)
    np.testing.assert_array_equal(columns["radiographic_progression"], [True, True, False])
    np.testing.assert_array_equal(columns["progression_by_new_lesion"], [True, False, False])
    pfs = endpoint("pfs").per_patient(record)
    np.testing.assert_array_equal(pfs["pfs_days"], [112.0, 56.0, 200.0])


LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 4}
# The data files' values (no calibration): radiation alone shrinks the visible lesions there. With the December 2026
# calibration and priming off, most visible disease already grows 20 % by the first scan (the fitted model leans on
# RPT-triggered immune kill), so size progression comes first and the check would not isolate the new lesions.
RADIATION_ONLY = {"switch_priming": 0, "occult_dose_fraction": 0.0, "occult_fraction_min": 0.01}


def trial(overrides: dict):
    return simulate_trial({
        "name": "occult", "disease": "mcrpc", "patients": 40, "follow_up": "12 months", "assessments": "q8w",
        "psa_assessments": "q4w", "seed": 3, "chunk_size": 40, "calibration": None, "overrides": overrides,
        "arms": [{"name": "lutetium", "regimen": {"rpt": LUTETIUM}}]})["patients"]


def test_with_occult_disease_new_lesions_drive_progression_and_switched_off_rpfs_is_long_again():
    on = trial({**RADIATION_ONLY, "switch_occult_disease": 1})
    off = trial({**RADIATION_ONLY, "switch_occult_disease": 0})
    share_on = on["progression_by_new_lesion"].sum() / on["radiographic_progression"].sum()
    assert share_on > 0.0
    assert not off["progression_by_new_lesion"].any()  # off, no new lesion ever appears
    # same patients, same draws: switched off, no patient progresses earlier and some progress later
    assert np.all(off["pfs_days"].to_numpy() >= on["pfs_days"].to_numpy())
    assert off["pfs_days"].mean() > on["pfs_days"].mean()


def test_a_larger_occult_burden_brings_new_lesions_sooner():
    """``occult_fraction_max`` above 1 widens the initial occult burden upwards (the same uniforms): new lesions,
    counted from the baseline's, come at earlier scans, so no patient progresses later and some earlier."""
    on = {**RADIATION_ONLY, "switch_occult_disease": 1}
    below = trial(on)
    above = trial({**on, "occult_fraction_max": 8.0})
    assert np.all(above["pfs_days"].to_numpy() <= below["pfs_days"].to_numpy())
    assert above["progression_by_new_lesion"].sum() > below["progression_by_new_lesion"].sum()


def test_disease_control_is_a_response_or_six_months_without_progression_death_or_dropout():
    # KEYNOTE-199 (Antonarakis et al. 2020 J Clin Oncol 38:395): CR, PR, or SD / non-CR/non-PD for >= 6 months
    # patients: a responder who later progresses (day 112); stable until day 200; stable, censored at day 150;
    # stable, dead at day 170; progressing at day 56
    sums = np.array([[50.0, 30.0, 30.0, 70.0], [50.0, 50.0, 50.0, 50.0], [50.0, 50.0, 50.0, 50.0],
                     [50.0, 50.0, 50.0, 50.0], [50.0, 70.0, 70.0, 70.0]])
    response = recist(TIMES, sums)
    record = PatientRecord(response, death=np.array([np.inf, np.inf, np.inf, 170.0, np.inf]),
                           censor=np.array([400.0, 400.0, 150.0, 400.0, 400.0]))
    control = endpoint("dcr").per_patient(record)["disease_control"]
    np.testing.assert_array_equal(control, [True, True, False, False, False])


def test_therap_progression_free_survival_is_the_first_of_psa_or_radiographic_progression_or_death():
    # TheraP (Hofman et al. 2021 Lancet 397:797) counted PSA progression as a PFS event; rptici's composite_pfs is
    # the first of PSA progression, radiographic progression and death, censored at follow-up
    from types import SimpleNamespace

    sums = np.array([[50.0, 50.0, 70.0, 70.0], [50.0, 50.0, 50.0, 50.0], [50.0, 50.0, 50.0, 50.0]])
    record = PatientRecord(recist(TIMES, sums), death=np.array([np.inf, 150.0, np.inf]),
                           censor=np.full(3, 200.0),
                           psa=SimpleNamespace(progression_time=np.array([84.0, np.inf, np.inf])))
    columns = endpoint("composite_pfs").per_patient(record)
    np.testing.assert_array_equal(columns["composite_pfs_days"], [84.0, 150.0, 200.0])
    np.testing.assert_array_equal(columns["composite_pfs_event"], [True, True, False])
    # radiographic PFS alone waits for the scan at day 112
    np.testing.assert_array_equal(endpoint("pfs").per_patient(record)["pfs_days"], [112.0, 150.0, 200.0])
    # without PSA (a disease without a marker) the endpoint is not computed
    assert endpoint("composite_pfs").per_patient(PatientRecord(recist(TIMES, sums), death=np.full(3, np.inf),
                                                               censor=np.full(3, 200.0))) == {}
