"""PCWG3 target lesions and trial eligibility (issue 14: the progression structure of mCRPC).

Prostate cancer's bone lesions are assessed by the bone scan, not by RECIST (Scher et al. 2016 J Clin Oncol
34:1402); a patient without target lesions progresses by a new lesion alone (RECIST 1.1, Eisenhauer et al. 2009
Eur J Cancer 45:228); ALSYMPCA enrolled no patient with visceral metastases (Parker et al. 2013 N Engl J Med
369:213)."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.analysis.replay import replay_scenario
from rptici.errors import InputError, UnknownNameError
from rptici.trials.endpoints import recist
from rptici.trials.run import eligible_patients, sampled_population, target_sums
from rptici.trials.scenario import load_calibration

TIMES = np.array([0.0, 56.0, 112.0])


def test_bone_lesions_are_not_target_lesions_in_prostate_cancer():
    # one patient, two lesions over three scans: a growing bone lesion (+50 %) and a stable 20 mm node
    diameter = np.array([[[20.0, 20.0], [30.0, 20.0], [40.0, 20.0]]])
    sites = np.array([["bone", "node"]], dtype=object)
    assert target_sums(diameter, sites, bone_is_target=False)[0][0].tolist() == [20.0, 20.0, 20.0]
    assert target_sums(diameter, sites, bone_is_target=True)[0][0].tolist() == [40.0, 50.0, 60.0]
    # the same growth seen by RECIST: progression (+25 % and +10 mm at day 56) only when bone is a target
    assert recist(TIMES, target_sums(diameter, sites, True)[0]).progression_time[0] == 56.0
    assert np.isinf(recist(TIMES, *target_sums(diameter, sites, False)[:1]).progression_time[0])
    assert np.isnan(target_sums(diameter, sites, False)[1]).all()  # bone is not non-target disease either


def test_a_patient_with_bone_lesions_only_has_no_target_and_progresses_by_a_new_lesion():
    diameter = np.array([[[20.0, np.nan], [40.0, np.nan], [60.0, np.nan]]])
    sums, non_target = target_sums(diameter, np.array([["bone", ""]], dtype=object), bone_is_target=False)
    assert np.isnan(sums).all() and np.isnan(non_target).all()
    alone = recist(TIMES, sums)
    assert np.isinf(alone.progression_time[0]) and alone.best_response_labels[0] == "NE"
    # a new soft-tissue lesion first present before the day-112 scan: progression dated at that scan
    assert recist(TIMES, sums, new_lesion_times=np.array([100.0])).progression_time[0] == 112.0
    with pytest.raises(InputError, match="sum_diameters"):  # a missing baseline with later values stays an error
        recist(TIMES, np.array([[np.nan, 20.0, 20.0]]))


def test_a_node_below_15_mm_is_non_target_and_progresses_by_unequivocal_growth():
    # RECIST 1.1 section 3.1.1: a node is a target from 15 mm short axis; section 4.3.3: unequivocal growth of
    # non-target disease is PD, "a modest increase" is not. A 12 mm node beside a stable 20 mm liver lesion.
    sites = np.array([["node", "liver"]], dtype=object)
    growing = np.array([[[12.0, 20.0], [14.5, 20.0], [18.0, 20.0]]])
    target, non_target = target_sums(growing, sites, bone_is_target=False)
    assert target[0].tolist() == [20.0, 20.0, 20.0] and non_target[0].tolist() == [12.0, 14.5, 18.0]
    # the node's +6 mm raises the whole burden by 19 %: modest, not PD
    assert np.isinf(recist(TIMES, target, non_target_sums=non_target).progression_time[0])
    # to 24 mm it raises the burden 32 -> 44 mm (+38 %): unequivocal, PD at day 112
    doubling = target_sums(np.array([[[12.0, 20.0], [14.5, 20.0], [24.0, 20.0]]]), sites, False)
    assert recist(TIMES, doubling[0], non_target_sums=doubling[1]).progression_time[0] == 112.0
    # with no target lesion the node alone is the burden: +2.5 mm (21 %) at day 56 is under 5 mm, +6 mm PD
    alone = target_sums(growing[:, :, :1], sites[:, :1], False)
    assert np.isnan(alone[0]).all()
    assert recist(TIMES, alone[0], non_target_sums=alone[1]).progression_time[0] == 112.0
    # a 15 mm node is a target lesion (the threshold is inclusive)
    at_threshold = target_sums(np.array([[[15.0], [15.0], [15.0]]]), np.array([["node"]], dtype=object), False)
    assert at_threshold[0][0].tolist() == [15.0] * 3 and np.isnan(at_threshold[1]).all()


def test_at_most_five_target_lesions_the_largest_and_two_per_organ():
    # RECIST 1.1 section 3.3.1: lymph nodes count as one organ; the rest is non-target disease
    sites = np.array([["liver", "liver", "liver", "node", "node", "node", "lung", "lung"]], dtype=object)
    baseline = np.array([30.0, 25.0, 20.0, 40.0, 35.0, 16.0, 12.0, 11.0])
    target, non_target = target_sums(np.stack([baseline, baseline])[None], sites, bone_is_target=False)
    assert target[0, 0] == 40 + 35 + 30 + 25 + 12 and non_target[0, 0] == 20 + 16 + 11


def test_a_complete_response_needs_the_non_target_lesions_gone():
    # RECIST 1.1 table 1: target CR with non-target disease present is a PR
    target = np.array([[20.0, 0.0, 0.0]])
    assert recist(TIMES, target).best_response_labels[0] == "CR"
    assert recist(TIMES, target, non_target_sums=np.array([[12.0, 8.0, 8.0]])).best_response_labels[0] == "PR"
    assert recist(TIMES, target, non_target_sums=np.array([[12.0, 0.0, 0.0]])).best_response_labels[0] == "CR"
    with pytest.raises(InputError, match="non_target_sums"):
        recist(TIMES, target, non_target_sums=np.array([[12.0, 8.0]]))


def test_alsympca_replay_enrols_no_patient_with_visceral_metastases():
    scenario = replay_scenario("ALSYMPCA", 200, seed=3)
    assert set(scenario.excluded_sites) == {"liver", "lung"}
    population, _ = sampled_population(scenario, 200, 3, load_calibration("default"))
    sites = np.asarray(population.lesion_sites, dtype=object)
    assert len(population) == 200 and not np.isin(sites, ["liver", "lung"]).any()
    assert np.array_equal(population.patient_id, np.arange(200))
    # the mCRPC file puts 10 % of lesions in liver or lung: without the rule a 200-patient cohort has some
    unrestricted = sampled_population(replay_scenario("VISION", 200, seed=3), 200, 3, load_calibration("default"))[0]
    assert np.isin(np.asarray(unrestricted.lesion_sites, dtype=object), ["liver", "lung"]).any()


def test_radium_223_replays_in_mcrpc_follow_its_label_and_other_replays_do_not():
    # Xofigo label: "symptomatic bone metastases and no known visceral metastatic disease" (radium-223 + pembrolizumab,
    # NCT03093428, replays within it); radium-223 in NSCLC (NCT03996473) keeps lung lesions, the primary's site
    assert set(replay_scenario("NCT03093428", 200, seed=3).excluded_sites) == {"liver", "lung"}
    assert replay_scenario("NCT03996473", 200, seed=3).excluded_sites == ()
    assert replay_scenario("PRINCE", 200, seed=3).excluded_sites == ()


def test_a_trials_own_eligibility_overrides_the_label_rule():
    """Radium-223 + atezolizumab (NCT02814669) required visceral metastases and/or lymphadenopathy and RECIST-measurable
    disease (ClinicalTrials.gov inclusion criteria; its amendment): its replay excludes no site and enrols measurable
    disease only, so some of its men have liver or lung lesions, where the label rule would have left none. A site
    that is not one is refused by name where a record gives it."""
    from rptici.trials.registry import _excluded_sites

    scenario = replay_scenario("NCT02814669", 200, seed=3)
    assert scenario.excluded_sites == () and all(arm.measurable_disease for arm in scenario.arms)
    population, _ = sampled_population(scenario, 200, 3, load_calibration("default"))
    assert np.isin(np.asarray(population.lesion_sites, dtype=object), ["liver", "lung"]).any()
    with pytest.raises(UnknownNameError, match="brain"):
        _excluded_sites(["bone", "brain"], "trials[0].excluded_sites")


def test_eligibility_that_leaves_too_few_patients_is_a_clear_error():
    scenario = replay_scenario("ALSYMPCA", 50, seed=1)
    pool, _ = sampled_population(replay_scenario("VISION", 50, seed=1), 50, 1, load_calibration("default"))
    with pytest.raises(InputError, match="excluded_sites"):
        eligible_patients(pool, ("bone", "node", "liver", "lung", "soft_tissue"), 10)
    assert len(eligible_patients(pool, scenario.excluded_sites, None)) < len(pool)


def test_an_unknown_excluded_site_names_the_field_and_the_sites_allowed():
    from rptici.trials.scenario import load_trial_scenario

    document = {"disease": "mcrpc", "arms": [{"name": "control", "regimen": None}], "excluded_sites": ["brain"]}
    with pytest.raises(InputError, match="excluded_sites.*brain"):
        load_trial_scenario(document)


def test_the_assessments_table_holds_the_sums_that_recist_reads():
    # prostate: the stored sum of diameters is the target-lesion sum (no bone lesions, PCWG3), so a report's waterfall
    # and the RECIST calls read the same numbers; a bone-only patient has no sum
    from rptici.trials.run import simulate_trial

    tables = simulate_trial(replay_scenario("VISION", 60, seed=3), patients=60, seed=3)
    patients = tables["patients"].set_index("patient")
    first = tables["assessments"].sort_values("time_days").groupby("patient").first()
    lesions = first[[f"lesion_{k}" for k in range(1, 9)]].sum(axis=1, min_count=1)
    total = patients.loc[first.index, "baseline_sum_diameters_mm"]
    assert (first["sum_diameters_mm"].dropna() <= total[first["sum_diameters_mm"].notna()] + 1e-6).all()
    assert (first["sum_diameters_mm"] < lesions - 1e-6).any()  # some patients carry bone lesions besides targets
    assert first["sum_diameters_mm"].isna().any()  # bone-only patients: no RECIST target
    assert not patients.loc[first.index[first["sum_diameters_mm"].isna()], "measurable"].any()
    # nodes below 15 mm are non-target (RECIST 1.1 section 3.1.1): their sum is stored beside the target sum
    nodes = first["non_target_sum_mm"].dropna()
    assert len(nodes) and (nodes < 15.0 * 8).all()
    assert ((first["sum_diameters_mm"].fillna(0) + first["non_target_sum_mm"].fillna(0)) <= lesions + 1e-6).all()
