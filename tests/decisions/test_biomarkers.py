"""rptici biomarkers: recovers an interaction planted in a synthetic population, finds none where none is planted,
gives Schoenfeld's event count, and runs end to end on a tiny virtual trial."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.decisions.biomarkers import analyse, schoenfeld_events

ROOT = Path(__file__).resolve().parents[2]
MONTH = 30.4375


def synthetic(patients: int, planted: bool, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Exponential PFS, 24 months of follow-up; target uptake is prognostic in both arms; with ``planted`` the
    ICI's log-hazard ratio is −0.1 − 0.8 z(PD-L1) (benefit grows with PD-L1), else −0.1 for everyone. Returns the
    table and each patient's true benefit (their own hazard ratio < 0.8)."""
    rng = np.random.default_rng(seed)
    covariates = {"target_uptake": rng.normal(10, 3, patients), "pdl1": rng.uniform(0, 1, patients),
                  "immune_infiltration": rng.uniform(0, 1, patients),
                  "psa_ng_per_mL": np.exp(rng.normal(3, 1, patients)), "age_years": rng.normal(70, 8, patients)}
    arm = rng.permutation(np.repeat(["control", "ici"], patients // 2))
    z = (covariates["pdl1"] - 0.5) / math.sqrt(1 / 12)
    log_ratio = -0.1 - (0.8 * z if planted else 0.0)
    predictor = -0.4 * (covariates["target_uptake"] - 10) / 3 + (arm == "ici") * log_ratio
    times = rng.exponential(1 / (0.08 * np.exp(predictor))) * MONTH
    end = 24 * MONTH
    table = pd.DataFrame({**covariates, "arm": arm, "status": "ok", "pfs_days": np.minimum(times, end),
                          "pfs_event": times < end})
    return table, np.exp(log_ratio) < 0.8 if planted else np.zeros(patients, dtype=bool)


def test_recovers_a_planted_interaction():
    table, truth = synthetic(800, planted=True, seed=3)
    result = analyse(table, "ici", "control")
    assert result["predictive"] == ["pdl1"]
    best = result["covariates"][0]
    assert best["covariate"] == "pdl1" and best["interaction_p_holm"] < 1e-3
    # planted: exp(-0.8) = 0.45 per SD of PD-L1; 800 patients give about ±0.15 on the log scale
    assert best["interaction_hr_per_sd"] == pytest.approx(math.exp(-0.8), rel=0.3)
    assert "target_uptake" in result["prognostic"]
    selection = result["benefit"]["selection"]
    assert selection["covariate"] == "pdl1" and selection["direction"] == ">="
    chosen = table["pdl1"].to_numpy() >= selection["threshold"]
    assert np.mean(chosen[truth]) > 0.8 and np.mean(~chosen[~truth]) > 0.8  # against the planted truth
    enrichment = result["enrichment"]
    assert enrichment["supported"]
    assert enrichment["selected"]["patients"] < enrichment["all_comers"]["patients"]


def test_finds_no_interaction_where_none_is_planted():
    for seed in (3, 4, 5):
        result = analyse(synthetic(800, planted=False, seed=seed)[0], "ici", "control")
        assert result["predictive"] == []
        assert "target_uptake" in result["prognostic"]
        if result.get("enrichment"):
            assert not result["enrichment"]["supported"] and "caution" in result["enrichment"]


def test_schoenfeld_events():
    """Schoenfeld 1983: HR 0.7, two-sided α 0.05, power 0.8, 1:1 → 4 (1.95996 + 0.84162)² / ln²(0.7) = 247 events."""
    assert schoenfeld_events(0.7) == pytest.approx(4 * (1.959964 + 0.841621) ** 2 / math.log(0.7) ** 2, rel=1e-6)
    assert math.ceil(schoenfeld_events(0.7)) == 247
    assert schoenfeld_events(1.0) is None


def test_bad_arms_and_endpoints_are_named():
    table = synthetic(100, planted=False, seed=1)[0]
    from rptici.errors import InputError

    with pytest.raises(InputError) as error:
        analyse(table, "pembro", "control")
    assert error.value.field == "--treatment"
    with pytest.raises(InputError) as error:
        analyse(table, "ici", "control", endpoint="dfs")
    assert error.value.field == "--endpoint"


def test_tiny_cli_run(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "prince"
    made = runner.invoke(app, ["trial", "run", str(ROOT / "examples" / "trials" / "prince_like.yaml"), "--patients",
                               "120", "--seed", "2", "--out", str(folder), "--executor", "serial"])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["biomarkers", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["control"] == "Lu-PSMA-617" and document["treatment"] == "Lu-PSMA-617 + pembrolizumab"
    assert document["model_status"]["headline"]
    names = {row["covariate"] for row in document["covariates"]}
    assert {"target_uptake", "pdl1", "immune_infiltration", "psa_ng_per_mL"} <= names
    text = runner.invoke(app, ["biomarkers", str(folder)])
    assert text.exit_code == 0 and "Model status" in text.output


def test_tiny_cli_run_across_the_ensemble(tmp_path):
    """biomarkers --ensemble 2: the trial simulated again under two members; a covariate is marked robust exactly
    when the rule of rptici.decisions.robust says so (predictive in every member, same direction)."""
    runner = CliRunner()
    folder = tmp_path / "prince"
    made = runner.invoke(app, ["trial", "run", str(ROOT / "examples" / "trials" / "prince_like.yaml"), "--patients",
                               "120", "--seed", "2", "--out", str(folder), "--executor", "serial"])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["biomarkers", str(folder), "--ensemble", "2", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    ensemble = document["ensemble"]
    assert ensemble["members"] == 2 and len(ensemble["all_comers_hr_over_members"]) == 2
    # the run's patients and seed (120 and 2 from the command line), not the scenario file's (400 and 1)
    assert ensemble["patients"] == 120 and ensemble["seed"] == 2
    assert all(100 <= count <= 120 for count in ensemble["patients_analysed"])  # a few may fail and be excluded
    for row in ensemble["covariates"]:
        assert row["robust"] == (row["share_predictive"] == 1.0 and row["same_direction"])
    robust = set(ensemble["robust_predictors"])
    assert all(row["robust"] == (row["covariate"] in robust) for row in document["covariates"])
    text = runner.invoke(app, ["biomarkers", str(folder), "--ensemble", "2"])
    assert text.exit_code == 0 and "calibration-ensemble members" in text.output
