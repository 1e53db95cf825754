"""A paired trial (scenario ``allocation: paired``) simulates every virtual patient in every arm with the same random
streams: the comparison of arms is then the treatments' alone (common random numbers), which is what a replay's
model-made reference arm asks (the same men with and without the ICI)."""

from __future__ import annotations

import pandas as pd
import pytest

from rptici.analysis.replay import replay_scenario
from rptici.errors import InputError
from rptici.store import ResultStore
from rptici.trials import run_trial
from rptici.trials.run import simulate_trial
from rptici.trials.scenario import load_trial_scenario

LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2}
PEMBROLIZUMAB = {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 4}
SCENARIO = {
    "name": "paired", "disease": "mcrpc", "patients": 30, "follow_up": "6 months", "assessments": "q8w",
    "psa_assessments": "q4w", "seed": 3, "calibration": "default", "allocation": "paired",
    "arms": [{"name": "lutetium", "control": True, "regimen": {"rpt": LUTETIUM}},
             {"name": "lutetium + pembrolizumab",
              "regimen": {"rpt": LUTETIUM, "ici": PEMBROLIZUMAB, "sequence": {"order": "concurrent"}}}],
}
#: Columns that hold the patient as enrolled, before any treatment.
BASELINE = ("measurable", "age_years", "weight_kg", "lesion_count", "baseline_sum_diameters_mm", "baseline_volume_mL",
            "target_uptake", "pdl1", "immune_infiltration", "alpha_per_Gy", "lymphocytes_1e9_per_L", "psa_ng_per_mL")


def _patients(scenario, chunk_size: int) -> pd.DataFrame:
    return simulate_trial(scenario, chunk_size=chunk_size)["patients"].sort_values("patient", ignore_index=True)


def test_each_patient_is_the_same_in_every_arm_and_the_arms_alternate():
    table = _patients(SCENARIO, 30)
    assert table["arm"].tolist() == ["lutetium", "lutetium + pembrolizumab"] * 15
    first, second = table.iloc[0::2].reset_index(drop=True), table.iloc[1::2].reset_index(drop=True)
    for column in (*BASELINE, "kidney_bed_Gy", "marrow_dose_Gy"):  # the same man, the same organ doses
        pd.testing.assert_series_equal(first[column], second[column], check_exact=True, obj=column)
    assert len(set(first["psa_ng_per_mL"])) == 15  # fifteen different men, not one repeated


def test_two_arms_with_the_same_regimen_give_the_same_outcomes_to_the_last_bit():
    """The strongest form of common random numbers: with nothing different between the arms, nothing differs."""
    same = {**SCENARIO, "arms": [{"name": "a", "regimen": {"rpt": LUTETIUM}}, {"name": "b", "regimen": {"rpt": LUTETIUM}}]}
    table = _patients(same, 30).drop(columns=["patient", "arm"])
    first, second = table.iloc[0::2].reset_index(drop=True), table.iloc[1::2].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    randomised = _patients({**same, "allocation": "randomised"}, 30)  # different men in each arm
    assert randomised.groupby("arm")["psa_ng_per_mL"].sum().nunique() == 2


def test_a_paired_run_is_bit_identical_for_any_chunk_size_even_when_a_chunk_splits_a_pair(tmp_path):
    tables = []
    for size in (30, 7, 1):
        run = run_trial(SCENARIO, tmp_path / str(size), chunk_size=size, executor="serial")
        assert run.report.ok
        tables.append(ResultStore(tmp_path / str(size)).read("patients").sort_values("patient", ignore_index=True))
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other, check_exact=True)
    from rptici.analysis.summary import summarize  # the run folder says it is paired (scenario.json)

    combination = summarize(tmp_path / "7")["arms"][1]
    assert combination["psa50_paired_difference"][0] == pytest.approx(
        tables[1].groupby("arm")["psa50"].mean().diff().iloc[-1], abs=1e-12)


def test_the_pembrolizumab_effect_is_measured_without_allocation_noise():
    """The difference in kidney BED between the arms is exactly zero when paired and not when randomised (the
    RPT is the same; only which men each arm drew differs)."""
    def dose_gap(allocation: str) -> float:
        table = _patients({**SCENARIO, "allocation": allocation, "patients": 40}, 40)
        means = table.groupby("arm")["kidney_bed_Gy"].mean()
        return float(abs(means.iloc[0] - means.iloc[1]))

    assert dose_gap("paired") == 0.0
    assert dose_gap("randomised") > 0.01


@pytest.mark.parametrize("change, field", [
    ({"patients": 31}, "patients"),
    ({"arms": [{"name": "a", "regimen": None, "ratio": 2}, {"name": "b", "regimen": None}]}, "arms.ratio"),
    ({"arms": [{"name": "a", "regimen": None, "prior_lines": 1}, {"name": "b", "regimen": None}]}, "arms.prior_lines"),
    ({"arms": [{"name": "a", "regimen": None, "measurable_disease": True}, {"name": "b", "regimen": None}]},
     "arms.measurable_disease"),
    ({"allocation": "crossover"}, "allocation"),
])
def test_arms_that_cannot_be_paired_are_refused_by_name(change, field):
    with pytest.raises(InputError) as error:
        scenario = load_trial_scenario({**SCENARIO, **change})
        scenario.arm_counts()
    assert error.value.field == field


def test_a_replay_pairs_its_model_made_reference_arm_and_runs_a_randomised_trial_as_randomised():
    prince = replay_scenario("PRINCE", patients=601, calibration=None)  # rounded up to a multiple of its arms
    assert prince.allocation == "paired" and prince.patients == 602
    assert [arm.name for arm in prince.arms] == ["RPT + ICI", "RPT alone"]
    radium = replay_scenario("NCT03093428", patients=600, calibration=None)  # its comparator: radium-223 alone
    assert radium.allocation == "paired" and [arm.name for arm in radium.arms] == ["RPT + ICI", "RPT alone"]
    vision = replay_scenario("VISION", patients=601, calibration=None)  # the arms its record lists, as randomised
    assert vision.allocation == "randomised" and sum(vision.arm_counts()) == 601
    assert replay_scenario("VISION", patients=600, calibration=None, allocation="paired").allocation == "paired"


def test_a_paired_summary_gives_each_rate_its_difference_from_the_control_in_the_same_patients():
    """The paired difference of PSA50 equals the difference of the arms' rates (every patient is in both), with a
    95 % interval; it is exactly zero when the arms are the same; no paired difference for a randomised trial, nor
    for the share of progressions by new lesions (its denominator is an outcome)."""
    from rptici.analysis.summary import summarize_tables

    table = _patients({**SCENARIO, "patients": 60}, 60)
    summary = summarize_tables(table, ["lutetium", "lutetium + pembrolizumab"], "lutetium", paired=True)
    control, combination = summary["arms"]
    difference, low, high = combination["psa50_paired_difference"]
    assert difference == pytest.approx(combination["psa50"] - control["psa50"], abs=1e-12) and low <= difference <= high
    assert "psa50_paired_difference" not in control and "new_lesion_share_paired_difference" not in combination
    assert "psa50_paired_difference" not in summarize_tables(table, ["lutetium", "lutetium + pembrolizumab"],
                                                             "lutetium")["arms"][1]
    same = {**SCENARIO, "arms": [{"name": "a", "control": True, "regimen": {"rpt": LUTETIUM}},
                                 {"name": "b", "regimen": {"rpt": LUTETIUM}}]}
    twin = summarize_tables(_patients(same, 30), ["a", "b"], "a", paired=True)["arms"][1]
    assert twin["psa50_paired_difference"] == [0.0, 0.0, 0.0]
