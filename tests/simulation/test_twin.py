"""The digital twin: measured lesions (rptici image-dose) as the patient's lesions in rptici simulate."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rptici.api import simulate
from rptici.cli import app
from rptici.errors import InputError
from rptici.imaging.dvh import cumulative_dvh
from rptici.simulation.scenario import load_simulation_scenario, run_scenario
from rptici.simulation.twin import (MeasuredLesion, build_twin, differential_dvh, heterogeneity,
                                    log_surviving_fraction)

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
phantom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phantom)
LINEAR = 1e12  # α/β so large that β = α/(α/β) vanishes: the linear model
SCENARIO = {"kind": "simulation", "name": "twin", "patient": {"weight": "75 kg"}, "days": 300,
            "prescribed_rpt": [{"day": 0, "effective_half_life": "3 d", "blood_dose": "0.1 Gy"},
                               {"day": 56, "effective_half_life": "3 d", "blood_dose": "0.1 Gy"}]}


def _lesion(doses, fractions, course=(1.0,), half_lives=(3.0,)) -> MeasuredLesion:
    doses, fractions = np.asarray(doses, float), np.asarray(fractions, float)
    mean = float(np.sum(doses * fractions))
    return MeasuredLesion("lesion", 10.0, tuple(mean * np.asarray(course)), tuple(half_lives), doses, fractions)


def test_two_level_dvh_matches_the_closed_form():
    # half the volume at D(1 − δ), half at D(1 + δ), linear model: SF = e^(−αD) cosh(αDδ) (exact)
    alpha, mean, delta = 0.35, 20.0, 0.4
    log_sf = log_surviving_fraction(np.array([mean * (1 - delta), mean * (1 + delta)]), np.array([0.5, 0.5]), alpha,
                                    LINEAR, np.array([1.0]), np.array([0.0]))
    assert log_sf == pytest.approx(-alpha * mean + math.log(math.cosh(alpha * mean * delta)), rel=1e-12)
    effect = heterogeneity(_lesion([mean * (1 - delta), mean * (1 + delta)], [0.5, 0.5]), alpha, LINEAR, 0.0625)
    # EUD of the linear model (Niemierko 1997): E = D − ln cosh(αDδ)/α
    assert effect["eud_Gy"] == pytest.approx(mean - math.log(math.cosh(alpha * mean * delta)) / alpha, rel=1e-9)
    assert effect["factor"] == pytest.approx(1 - math.log(math.cosh(alpha * mean * delta)) / (alpha * mean), rel=1e-9)


def test_gaussian_dvh_matches_the_moment_generating_function():
    # dose ~ N(μ, σ²) over the volume, linear model: E[e^(−αD)] = exp(−αμ + α²σ²/2) (normal MGF); 4001 bins
    alpha, mu, sigma = 0.2, 30.0, 5.0
    doses = np.linspace(mu - 8 * sigma, mu + 8 * sigma, 4001)
    weights = np.exp(-0.5 * ((doses - mu) / sigma) ** 2)
    log_sf = log_surviving_fraction(doses, weights / weights.sum(), alpha, LINEAR, np.array([1.0]), np.array([0.0]))
    assert log_sf == pytest.approx(-alpha * mu + alpha**2 * sigma**2 / 2, rel=1e-9)


def test_heterogeneous_lesion_survives_more_than_a_uniform_one_at_the_same_mean_dose():
    # LQ with dose rate: α 0.35/Gy, α/β 10 Gy, T_rep 1.5 h, T_eff 3 d, two cycles; mean 25 Gy per cycle
    uniform = heterogeneity(_lesion([25.0], [1.0], (1.0, 1.0), (3.0, 3.0)), 0.35, 10.0, 0.0625)
    spread = heterogeneity(_lesion([10.0, 25.0, 40.0], [0.25, 0.5, 0.25], (1.0, 1.0), (3.0, 3.0)), 0.35, 10.0, 0.0625)
    assert uniform["factor"] == pytest.approx(1.0, rel=1e-12) and uniform["eud_Gy"] == pytest.approx(50.0, rel=1e-12)
    assert spread["log_sf_mean"] == pytest.approx(uniform["log_sf_mean"], rel=1e-12)
    assert spread["log_sf_dvh"] > uniform["log_sf_dvh"] and spread["factor"] < 1 and spread["eud_Gy"] < 50.0
    # closed form: Σ v_j exp(−α Σ_c d_j(1 + G d_j/(α/β))), G = T_rep/(T_rep + T_eff)
    g = 0.0625 / (0.0625 + 3.0)
    expected = sum(v * math.exp(-0.35 * 2 * d * (1 + g * d / 10.0)) for d, v in ((10, .25), (25, .5), (40, .25)))
    assert spread["log_sf_dvh"] == pytest.approx(math.log(expected), rel=1e-12)


def test_binned_dvh_reproduces_the_voxel_surviving_fraction():
    # the twin reads the cumulative DVH (201 points) of image-dose; against the voxels themselves: within 0.5 %
    voxels = np.random.default_rng(3).gamma(9.0, 3.0, 5000)
    grid, fraction = cumulative_dvh(voxels)
    doses, weights = differential_dvh(grid, fraction, float(voxels.mean()))
    assert np.sum(doses * weights) == pytest.approx(voxels.mean(), rel=1e-12)
    exact = math.log(np.mean(np.exp(-0.1 * voxels)))
    binned = log_surviving_fraction(doses, weights, 0.1, LINEAR, np.array([1.0]), np.array([0.0]))
    assert binned == pytest.approx(exact, rel=5e-3)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """An image-dose output folder (noisy, blurred phantom: heterogeneous lesions) with 2 predicted cycles."""
    folder = tmp_path_factory.mktemp("twin")
    study = phantom.make_phantom_study(folder / "study", (40, 40, 30), 4.8, seed=4)
    result = CliRunner().invoke(app, ["image-dose", str(study), "--out", str(folder / "out"), "--predict-cycles",
                                      "2", "--activity", "5 GBq"])
    assert result.exit_code == 0, result.output
    return folder / "out"


def test_twin_lesions_are_the_image_dose_lesions(measured, tmp_path):
    summary = json.loads((measured / "image_dose.json").read_text())
    cycles = json.loads((measured / "cycles.json").read_text())
    scenario = tmp_path / "twin.yaml"
    scenario.write_text(yaml.safe_dump({**SCENARIO, "lesions_from": str(measured)}))
    result = simulate(scenario)
    for index, name in enumerate(("lesion_1", "lesion_2")):
        # the model's cumulative lesion dose at 300 d is the two cycles' mean doses (ODE rtol 1e-6; tail e^(−100))
        assert result["dose"].values[0, -1, index] == pytest.approx(cycles["regions"][name]["cumulative_dose_Gy"],
                                                                    rel=1e-4)
        assert result["volume"].values[0, 0, index] == pytest.approx(summary["regions"][name]["volume_mL"], rel=1e-5)
    rows = result.attrs["twin"]
    assert [row["region"] for row in rows] == ["lesion_1", "lesion_2"]
    assert all(0 < row["alpha_factor"] < 1 and row["dose_cv"] > 0 for row in rows)
    assert all(row["surviving_fraction_dvh"] > row["surviving_fraction_mean_dose"] for row in rows)
    uniform = load_simulation_scenario({**SCENARIO, "lesions_from": str(measured), "lesion_heterogeneity": False})
    plain = build_twin(uniform, uniform.lesions_from)
    assert np.all(plain.cohort["alpha"] == 0.35) and all(row["alpha_factor"] == 1.0 for row in plain.lesions)


def test_heterogeneity_leaves_more_tumour_in_the_model(measured):
    # one run, two copies of the twin: the measured DVH (α h per lesion) and the same lesions taken as uniform (α)
    scenario = load_simulation_scenario({**SCENARIO, "patients": 2, "lesions_from": str(measured)})
    twin = build_twin(scenario, scenario.lesions_from)
    cohort = dict(twin.cohort)
    alpha = cohort["alpha"].copy()
    alpha[1] = 0.35  # tumour_alpha of the human parameter set (data/tissues.yaml, Webb and Nahum 1993)
    assert np.all(alpha[0] < alpha[1])
    run = run_scenario(twin.scenario, times=np.arange(0.0, 301.0, 5.0), cohort={**cohort, "alpha": alpha})
    volume = np.asarray(run["values"]["volume"])
    # through both cycles' radiation effect (5–150 d) the heterogeneous lesions stay larger; later the model's
    # immune response (primed by the antigen of both) and the stroma floor bring both to about the same volume
    during = (run["times"] > 0) & (run["times"] <= 150)
    assert np.all(volume[0, during] > volume[1, during])
    dose = np.asarray(run["values"]["dose"])
    assert dose[0, -1] == pytest.approx(dose[1, -1], rel=1e-9)  # the same mean doses


def test_cli_lesions_from_prints_the_measured_lesions(measured, tmp_path):
    scenario = tmp_path / "plain.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--lesions-from", str(measured), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [row["region"] for row in summary["twin_lesions"]] == ["lesion_1", "lesion_2"]
    assert len(summary["patients"][0]["lesion_dose_Gy"]) == 2


def test_twin_input_errors(measured, tmp_path):
    def refused(document, field, folder=measured):
        with pytest.raises(InputError) as error:
            scenario = load_simulation_scenario({**document, "lesions_from": str(folder)})
            build_twin(scenario, scenario.lesions_from)
        assert error.value.field == field, error.value
        return error.value

    three = {**SCENARIO, "prescribed_rpt": SCENARIO["prescribed_rpt"] * 2}
    assert "--predict-cycles" in str(refused(three, "prescribed_rpt"))
    refused({**SCENARIO, "patient": None, "population": "mcrpc"}, "lesions_from")
    refused(SCENARIO, "lesions_from", tmp_path / "nothing")
    stale = tmp_path / "stale"
    shutil.copytree(measured, stale)
    cycles = json.loads((stale / "cycles.json").read_text())
    cycles["regions"]["lesion_1"]["dose_Gy"][0] *= 1.1
    (stale / "cycles.json").write_text(json.dumps(cycles))
    refused(SCENARIO, "lesions_from.cycles.json", stale)
    with pytest.raises(InputError) as error:
        load_simulation_scenario({**SCENARIO, "patient": {"lesions": ["10 mL"]}})  # no lesions_from: doses needed
    assert error.value.field == "prescribed_rpt[0].tumour_dose"
    with pytest.raises(InputError) as error:
        load_simulation_scenario({**SCENARIO, "patient": {"lesions": ["10 mL"]}, "prescribed_rpt": [
            {"day": 0, "effective_half_life": "3 d", "lesion_doses": ["5 Gy", "6 Gy"]}]})
    assert error.value.field == "prescribed_rpt[0].lesion_doses"
