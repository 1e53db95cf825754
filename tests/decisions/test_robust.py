"""Robust marking across the calibration ensemble (rptici.decisions.robust): the rule on synthetic ensembles whose
answer is known, and one tiny end-to-end optimize --ensemble run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.decisions.robust import holds, robust_covariates, robust_points
from rptici.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "decisions" / "lu_psma_pembrolizumab_space.yaml"


def test_holds_is_pareto_dominance_among_feasible_points():
    points = np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [5.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    feasible = np.array([True, True, True, True, True, False])
    # (3, 3) is dominated by (2, 2); equal points (2, 2) do not dominate each other; the infeasible (0.5, 0.5)
    # neither holds nor dominates
    assert holds(points, feasible).tolist() == [True, True, False, True, True, False]


def synthetic_ensemble():
    """Four front points under five members (objectives to minimise: −PFS, toxicity).

    Point 0 is the best on toxicity in every member; point 1 is beaten on both by point 2 in member 3; point 2
    breaks an organ limit in member 4; point 3 holds everywhere."""
    base = np.array([[-10.0, 0.05], [-14.0, 0.30], [-15.0, 0.25], [-18.0, 0.45]])
    objectives = np.repeat(base[None], 5, axis=0)
    objectives[[0, 1, 2, 4], 2, 0] = [-15.0, -15.2, -14.8, -15.1]  # point 2 a trade-off against point 1 ...
    objectives[[0, 1, 2, 4], 2, 1] = [0.31, 0.32, 0.33, 0.34]      # (longer PFS, more toxicity)
    objectives[3, 2] = [-14.5, 0.28]   # ... except in member 3, where it beats point 1 on both
    feasible = np.ones((5, 4), dtype=bool)
    feasible[4, 2] = False
    return objectives, feasible


def test_robust_points_follow_the_rule_on_a_synthetic_ensemble():
    objectives, feasible = synthetic_ensemble()
    everywhere = robust_points(objectives, feasible)
    assert everywhere["held"][3].tolist() == [True, False, True, True]   # member 3: point 1 dominated
    assert everywhere["held"][4].tolist() == [True, True, False, True]   # member 4: point 2 over a limit
    assert everywhere["share_held"].tolist() == pytest.approx([1.0, 0.8, 0.8, 1.0])
    assert everywhere["robust"].tolist() == [True, False, False, True]
    most = robust_points(objectives, feasible, share=0.8)
    assert most["robust"].tolist() == [True, True, True, True]
    assert robust_points(objectives, feasible, share=0.81)["robust"].tolist() == [True, False, False, True]


def test_bad_share_and_shapes_are_named():
    objectives, feasible = synthetic_ensemble()
    with pytest.raises(InputError, match="--robust-share"):
        robust_points(objectives, feasible, share=0)
    with pytest.raises(InputError, match="objectives"):
        robust_points(objectives[0], feasible)


def analysis(rows, selection=("pdl1", ">=")):
    return {"covariates": [{"covariate": name, "interaction_hr_per_sd": hr, "predictive": predictive}
                           for name, hr, predictive in rows],
            "benefit": {"selection": None if selection is None else {"covariate": selection[0],
                                                                     "direction": selection[1]}},
            "all_comers": {"hr": 0.7}}


def test_robust_covariates_follow_the_rule_on_a_synthetic_ensemble():
    """PD-L1 predictive with HR < 1 in all three members: robust. Tumour burden predictive in all, but its HR
    crosses 1 in one member: not robust. Lymphocytes predictive in two of three: robust only at share ≤ 2/3."""
    documents = [analysis([("pdl1", 0.6, True), ("baseline_volume_mL", 1.5, True), ("lymphocytes_1e9_per_L", 0.8, True)]),
                 analysis([("pdl1", 0.7, True), ("baseline_volume_mL", 1.3, True), ("lymphocytes_1e9_per_L", 0.85, True)]),
                 analysis([("pdl1", 0.65, True), ("baseline_volume_mL", 0.9, True), ("lymphocytes_1e9_per_L", 0.9, False)],
                          selection=("baseline_volume_mL", "<="))]
    result = robust_covariates(documents)
    rows = {row["covariate"]: row for row in result["covariates"]}
    assert rows["pdl1"]["robust"] and rows["pdl1"]["interaction_hr_range"] == [0.6, 0.7]
    assert not rows["baseline_volume_mL"]["robust"] and not rows["baseline_volume_mL"]["same_direction"]
    assert rows["lymphocytes_1e9_per_L"]["share_predictive"] == pytest.approx(2 / 3)
    assert not rows["lymphocytes_1e9_per_L"]["robust"]
    assert result["robust_predictors"] == ["pdl1"]
    assert result["selection"]["commonest"] == "pdl1 >=" and result["selection"]["share"] == pytest.approx(2 / 3)
    assert not result["selection"]["robust"]
    lenient = robust_covariates(documents, share=0.6)
    assert set(lenient["robust_predictors"]) == {"pdl1", "lymphocytes_1e9_per_L"} and lenient["selection"]["robust"]


def test_tiny_optimize_run_marks_each_front_point_by_the_rule(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--out", str(tmp_path / "run"), "--generations", "1",
                                 "--population", "4", "--patients", "30", "--ensemble", "2", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    ensemble = document["ensemble"]
    assert ensemble["members"] == 2 and len(ensemble["points"]) == len(document["front"]) > 0
    for point, robustness in zip(document["front"], ensemble["points"]):
        assert robustness["key"] == point["key"]
        assert len(robustness["held_per_member"]) == 2
        assert point["robust"] == all(robustness["held_per_member"])  # share 1: holds in every member
        assert robustness["share_held"] == pytest.approx(np.mean(robustness["held_per_member"]))
