"""The public API (rptici.api, re-exported by rptici): labelled simulation results, one loader, thin calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import rptici
from rptici.errors import InputError
from rptici.kinetics import load_regimen
from rptici.population import sample_population

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MOUSE = EXAMPLES / "simulate" / "mouse_nm600_like.yaml"
PATIENT = EXAMPLES / "simulate" / "pluvicto_pembrolizumab_patient.yaml"
PLUVICTO = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2}}


def test_import_rptici_stays_cheap():
    """``import rptici`` loads neither NumPy nor pydantic; the API is imported on first use."""
    code = "import sys, rptici; print('numpy' in sys.modules, 'pydantic' in sys.modules); rptici.simulate"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]


def test_simulate_returns_a_labelled_dataset_with_units():
    result = rptici.simulate(PATIENT, days=42, step=7)
    assert dict(result.sizes) == {"patient": 1, "time": 7, "lesion": 2, "organ": 2}
    assert list(result["organ"].values) == ["kidneys", "salivary_glands"]
    assert result["diameter_sum"].dims == ("patient", "time")
    assert result["dose"].dims == ("patient", "time", "lesion") and result["organ_dose"].dims[-1] == "organ"
    assert result["diameter_sum"].attrs["units"] == "mm" and result["psa"].attrs["units"] == "ng/mL"
    assert result["time"].attrs["units"] == "d" and result["time"].values[-1] == 42.0
    assert result["status"].values.tolist() == [0] and result["reason"].values.tolist() == [""]
    # baseline: the 25 mm lesion and a 12 mL sphere, 2 (3·12/(4π))^(1/3) cm = 28.41 mm; PSA as given, 40 ng/mL
    assert result["diameter_sum"].sel(patient=0, time=0.0) == pytest.approx(25.0 + 28.41, abs=0.01)
    assert result["psa"].values[0, 0] == pytest.approx(40.0, rel=1e-6)


def test_prescribed_blood_half_life_of_its_own():
    """Mono-exponential dose rates: by day t the tumour has 12 Gy (1 − 2^(−t/2.67)) and the blood, with its own
    effective half-life of 1 d, 1.2 Gy (1 − 2^(−t/1))."""
    document = yaml.safe_load(MOUSE.read_text(encoding="utf-8"))
    document["prescribed_rpt"][0]["blood_effective_half_life"] = "1 d"
    result = rptici.simulate(document, times=[0.0, 3.0])
    assert result["dose"].values[0, -1, 0] == pytest.approx(12.0 * (1 - 2 ** (-3 / 2.67)), rel=1e-5)
    assert result["marrow_dose"].values[0, -1] == pytest.approx(1.2 * (1 - 2 ** (-3 / 1.0)), rel=1e-5)


def test_simulate_a_regimen_for_patients_given_several_ways():
    """A regimen with covariates with units, a Population, or arrays in the engine's names; patient i's
    trajectory does not depend on the others (own adaptive step per patient)."""
    regimen = load_regimen(PLUVICTO)
    single = rptici.simulate(regimen, {"weight": "80 kg", "lesions": ["10 mL"]}, days=60, step=10)
    arrays = {"lesion_volumes_mL": np.array([[10.0], [30.0]]), "weight_kg": np.array([80.0, 60.0])}
    pair = rptici.simulate(regimen, arrays, days=60, step=10)
    np.testing.assert_allclose(pair["volume"].values[0], single["volume"].values[0], rtol=1e-5)
    assert pair["volume"].values[1, 0, 0] == pytest.approx(30.0)
    population = sample_population("mcrpc", 3, seed=2)
    sampled = rptici.simulate(regimen, population, days=30, step=10)
    assert sampled.sizes["patient"] == 3 and sampled.sizes["lesion"] == 8
    np.testing.assert_allclose(sampled["volume"].values[:, 0], population.lesion_volumes_mL, rtol=1e-5)


def test_simulate_overrides_and_switches():
    """Switching off the lymphocyte kill keeps the blood lymphocytes at their baseline (1.6 10⁹/L) after RPT."""
    scenario = rptici.load_scenario(PATIENT)
    assert scenario.cohort["lymphocytes"].tolist() == [1.6]  # 1.6e9/L in 10⁹/L
    on = rptici.simulate(scenario, days=21, step=7)
    off = rptici.simulate(scenario, days=21, step=7, overrides={"switch_lymphocyte_kill": 0})
    assert on["lymphocytes"].values[0, -1] < 0.95 * 1.6
    assert off["lymphocytes"].values[0, -1] > on["lymphocytes"].values[0, -1]


def test_simulate_refuses_what_it_cannot_run():
    with pytest.raises(InputError, match="scenario"):
        rptici.simulate(EXAMPLES / "trials" / "prince_like.yaml")
    with pytest.raises(InputError, match="patient"):
        rptici.simulate(load_regimen(PLUVICTO))
    with pytest.raises(InputError, match="patients.gfr"):
        rptici.simulate(load_regimen(PLUVICTO), {"gfr": 90, "lesions": ["10 mL"]})


def test_regimen_dose_through_the_api_is_the_calculator():
    from rptici.radiobiology.regimen_dose import load_scenario, scenario_dose

    path = EXAMPLES / "scenarios" / "pluvicto.yaml"
    direct = scenario_dose(load_scenario(path))
    through = rptici.regimen_dose(path)
    np.testing.assert_array_equal(through.bed_Gy, direct.bed_Gy)
    regimen = load_regimen(PLUVICTO)
    reference = rptici.regimen_dose(regimen)
    heavier = rptici.regimen_dose(regimen, rptici.load_scenario({"regimen": PLUVICTO, "patient": {"weight": "100 kg"}}
                                                                ).patient)
    assert heavier.absorbed_dose_Gy.shape == reference.absorbed_dose_Gy.shape
    with pytest.raises(InputError, match="patients"):
        rptici.regimen_dose(path, reference)


def test_run_trial_summarize_and_replay_are_the_existing_functions(tmp_path):
    run = rptici.run_trial(EXAMPLES / "trials" / "prince_like.yaml", tmp_path / "run", patients=12, seed=3)
    summary = rptici.summarize(run.folder)
    assert sum(arm["n"] for arm in summary["arms"]) == 12
    from rptici.analysis.replay import replay

    assert rptici.replay.__doc__ and replay.__name__ == "replay"


def test_a_population_scenario_samples_its_patients():
    """``population: mcrpc`` samples the disease (seed 4, 3 patients); the baseline sum of diameters is the sampled
    lesions' (RECIST sum)."""
    result = rptici.simulate({"regimen": PLUVICTO, "population": "mcrpc", "patients": 3, "seed": 4, "days": 20},
                             step=10)
    population = sample_population("mcrpc", 3, seed=4)
    np.testing.assert_allclose(result["diameter_sum"].values[:, 0], np.nansum(population.lesion_diameters_mm, axis=1),
                               rtol=1e-5)
    assert result["status"].values.tolist() == [0, 0, 0]
