"""The calibration ensemble (likelihood-ratio set), resumable fits and prediction intervals (issue 14 items 2, 4)."""

from __future__ import annotations

import json

import pytest
import yaml

from rptici import seeds
from rptici.analysis import calibration as calibration_module
from rptici.analysis.calibration import calibrate, write_calibration
from rptici.analysis.ensemble import (arm_estimates, ensemble_members, interval, join_block,
                                      likelihood_ratio_set, predict_run)
from rptici.analysis.replay import replay
from rptici.errors import InputError

NAMES = ["immunity.kill_rate", "immunity.pdl1_suppression"]


def test_likelihood_ratio_set_keeps_the_sets_within_the_tempered_chi_square():
    """Two fitted parameters, 12 terms: φ = J_min/(12 − 2) = 3, threshold J_min + 3 χ²₂(0.95) = 30 + 3 × 5.991
    (χ²₂(0.95) = −2 ln 0.05, the closed form for two degrees of freedom)."""
    evaluated = [({"a": float(i), "b": 1.0}, objective)
                 for i, objective in enumerate([40.0, 30.0, 47.9, 48.1, 31.0, 100.0])]
    section = likelihood_ratio_set(evaluated, terms=12, members=10)
    assert section["dispersion"] == pytest.approx(3.0)
    assert section["threshold"] == pytest.approx(30.0 + 3.0 * 5.991465, abs=1e-4)
    assert [member["objective"] for member in section["members"]] == [30.0, 31.0, 40.0, 47.9]
    assert section["inside"] == 4 and section["evaluations"] == 6


def test_likelihood_ratio_set_thins_by_rank_and_keeps_the_best():
    evaluated = [({"a": float(i), "b": 0.0}, 10.0 + i * 1e-3) for i in range(50)]
    section = likelihood_ratio_set(evaluated, terms=100, members=5)
    objectives = [member["objective"] for member in section["members"]]
    assert len(objectives) == 5 and objectives[0] == 10.0 and objectives == sorted(objectives)


def test_interval_counts_a_median_not_reached_as_beyond_every_reached_one():
    assert interval([1.0, 2.0, 3.0]) == (1.0, 3.0)
    low, high = interval([5.0, None, None, None])
    assert low == 5.0 and high is None
    assert interval([]) == (None, None)


def test_arm_estimates_keep_estimates_and_leave_counts_out():
    row = {"arm": "a", "n": 10, "failed": 0, "control": False, "orr": 0.3, "orr_ci": [0.1, 0.6], "orr_responders": 3,
           "median_os_months": None, "hr_os": None, "hr_os_p": None, "grade3plus_rate": {"any": 0.2}}
    assert arm_estimates(row) == {"orr": 0.3, "median_os_months": None, "grade3plus_any": 0.2}
    # a hazard ratio or a paired difference [estimate, low, high] contributes its estimate
    assert arm_estimates({"arm": "a", "psa50_paired_difference": [0.04, 0.01, 0.07], "hr_pfs": [0.8, 0.6, 1.1],
                          "hr_pfs_p": 0.2}) == {"psa50_paired_difference": 0.04, "hr_pfs": 0.8}


def test_member_seeds_are_distinct_and_reproducible():
    drawn = [seeds.ensemble_member(1, member) for member in range(20)]
    assert len(set(drawn)) == 20 and drawn == [seeds.ensemble_member(1, member) for member in range(20)]
    assert seeds.ensemble_member(2, 0) != drawn[0]


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    """A CMA-ES fit of two parameters to KEYNOTE-017 (20 patients), with its evaluation history and ensemble."""
    folder = tmp_path_factory.mktemp("fit")
    history = folder / "history.jsonl"
    result = calibrate(("KEYNOTE-017",), patients=20, max_evaluations=8, method="cma", parameters=NAMES,
                       history=history)
    return result, history, write_calibration(result, folder / "fit.yaml")


def test_a_fit_resumes_from_its_history_without_computing_again(small_fit, monkeypatch):
    """Re-running with the same history file asks for the same points and takes their recorded objectives: no
    evaluation is computed (evaluate would raise), and the result is the same to the bit."""
    result, history, _ = small_fit
    lines = history.read_text().splitlines()
    assert len(lines) == result.evaluations

    def refuse(*_):
        raise AssertionError("an evaluation was computed again")

    monkeypatch.setattr(calibration_module, "evaluate", refuse)
    again = calibrate(("KEYNOTE-017",), patients=20, max_evaluations=8, method="cma", parameters=NAMES,
                      history=history)
    assert again.values == result.values and again.objective == result.objective
    assert [value for _, value in again.evaluated] == [value for _, value in result.evaluated]


def test_a_malformed_history_line_is_a_clear_error(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text('{"objective": 1.0}\nnot json\n')
    with pytest.raises(InputError, match="line 1"):
        calibrate(("KEYNOTE-017",), patients=5, max_evaluations=0, history=history)


def test_a_block_set_joins_the_ensemble_it_held_its_other_parameters_from():
    held = {"level": 0.95, "threshold": 10.0, "members": [{"objective": 1.0, "values": {"a": 1.0, "b": 2.0}},
                                                         {"objective": 2.0, "values": {"a": 1.5, "b": 2.5}},
                                                         {"objective": 3.0, "values": {"a": 0.5, "b": 1.5}}]}
    block = {"level": 0.95, "threshold": 5.0, "members": [{"objective": 4.0, "values": {"b": 9.0}},
                                                         {"objective": 4.5, "values": {"b": 8.0}}]}
    joined = join_block(held, block)
    # paired by rank, the shorter list repeated; the block's parameter from the block, the others from the held set
    assert [member["values"] for member in joined["members"]] == [{"a": 1.0, "b": 9.0}, {"a": 1.5, "b": 8.0},
                                                                  {"a": 0.5, "b": 9.0}]
    assert [member["held_objective"] for member in joined["members"]] == [1.0, 2.0, 3.0]
    assert joined["threshold"] == 5.0 and joined["held_ensemble"] == [{"level": 0.95, "threshold": 10.0}]
    # joined again, the provenance accumulates
    assert len(join_block(joined, block)["held_ensemble"]) == 2


def test_a_block_fit_keeps_the_uncertainty_of_the_parameters_it_held(tmp_path):
    """A block fit of two parameters started from the packaged calibration: its members vary the block's two
    parameters and carry the packaged ensemble's values of the others (which vary between members)."""
    from rptici.trials.scenario import calibration_document

    packaged = calibration_document("default")[0]["ensemble"]
    result = calibrate(("KEYNOTE-017",), patients=10, max_evaluations=6, method="cma", parameters=NAMES,
                       held_ensemble=packaged)
    members = ensemble_members(str(write_calibration(result, tmp_path / "block.yaml")))
    assert len(members) == max(len(packaged["members"]), len(result.ensemble()["members"]))
    held = [name for name in packaged["members"][0]["values"] if name not in NAMES]
    assert any(len({member.values[name] for member in members}) > 1 for name in held)
    for member, source in zip(members, packaged["members"]):
        assert all(member.values[name] == pytest.approx(source["values"][name]) for name in held)


def test_the_calibration_file_carries_its_ensemble_and_convergence(small_fit):
    result, _, path = small_fit
    document = yaml.safe_load(path.read_text())
    section = document["ensemble"]
    assert section["members"][0]["objective"] == pytest.approx(result.objective, rel=1e-4)
    assert all(member["objective"] <= section["threshold"] for member in section["members"])
    assert document["convergence"][-1] == [result.evaluations, pytest.approx(result.objective, rel=1e-4)]
    members = ensemble_members(str(path))
    assert len(members) == len(section["members"])
    assert members[0].values["immunity.kill_rate"] == pytest.approx(result.values["immunity.kill_rate"], rel=1e-5)


def test_replay_with_the_ensemble_gives_reproducible_prediction_intervals(small_fit):
    """KEYNOTE-017 (Ribas et al. 2019 JAMA Oncol 5:187, 50 patients): every endpoint gets an interval from the
    members, each a virtual trial of the trial's own 50 patients; the same seed gives the same interval."""
    _, _, path = small_fit
    first = replay("KEYNOTE-017", patients=20, seed=3, calibration=str(path), ensemble=3)
    second = replay("KEYNOTE-017", patients=20, seed=3, calibration=str(path), ensemble=3)
    assert first["prediction"]["patients_per_member"] == 50 and first["prediction"]["members"] == 3
    for row, again in zip(first["endpoints"], second["endpoints"]):
        assert (row["prediction_low"], row["prediction_high"]) == (again["prediction_low"], again["prediction_high"])
        if row["prediction_high"] is not None:
            assert row["prediction_low"] <= row["prediction_high"]
    orr = next(row for row in first["endpoints"] if row["endpoint"] == "orr")
    assert 0.0 <= orr["prediction_low"] <= orr["prediction_high"] <= 1.0


def test_a_paired_replay_gives_the_ensemble_interval_of_the_direction_check(small_fit):
    """PRINCE replayed with the reference arm paired: each member's PSA50 gain from pembrolizumab is collected, so
    the direction check carries the calibration ensemble's interval around the seed's own gain."""
    from rptici.analysis.validation import direction_checks

    _, _, path = small_fit
    result = replay("PRINCE", patients=20, seed=3, calibration=str(path), ensemble=3)
    # PRINCE's 37 men (its record's n), each simulated with and without pembrolizumab
    assert result["allocation"] == "paired" and result["prediction"]["patients_per_member"] == 2 * 37
    low, high = result["prediction"]["arms"]["RPT + ICI"]["psa50_paired_difference"]
    assert -1.0 <= low <= high <= 1.0
    gain = direction_checks({"PRINCE": result})[0]
    assert gain.prediction == (low, high)
    # a record without results has no size of its own: the members are the replay's size
    unreported = replay("NCT03996473", patients=20, seed=3, calibration=str(path), ensemble=2)
    assert unreported["allocation"] == "paired" and unreported["prediction"]["patients_per_member"] == 20


def test_replay_ensemble_needs_a_calibration_with_an_ensemble():
    with pytest.raises(InputError, match="ensemble"):
        replay("KEYNOTE-017", patients=10, calibration=None, ensemble=2)


def test_trial_run_predictions_land_in_the_summary(small_fit, tmp_path):
    from rptici.api import run_trial, summarize

    _, _, path = small_fit
    scenario = {"name": "pembrolizumab", "disease": "merkel", "patients": 12, "seed": 2, "follow_up": "12 months",
                "calibration": str(path),
                "arms": [{"name": "pembrolizumab", "regimen": {"ici": {"agent": "pembrolizumab", "dose": "200 mg",
                                                                       "interval": "3 weeks", "infusions": 4}}}]}
    run = run_trial(scenario, tmp_path / "run")
    prediction = predict_run(run.folder, members=2)
    assert json.loads((run.folder / "prediction.json").read_text()) == json.loads(json.dumps(prediction))
    row = summarize(run.folder)["arms"][0]
    low, high = row["prediction"]["orr"]
    assert 0.0 <= low <= high <= 1.0
