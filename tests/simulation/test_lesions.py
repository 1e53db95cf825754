"""Lesions differ from each other (issue 13 item 1): each lesion's target expression and site, hence its own dose;
the whole-body tumour dose; radium-223 reaches bone lesions only (switch ``site_selective_uptake``).

Mechanism checks (each can fail):
- with the within-patient spread at the evidence's value (CV 1.0), Lu-PSMA-617 lesion doses vary about 100 %
  (CV) between the lesions of one patient (tests/reference/rpt_response.yaml: voxel Monte Carlo, 13 patients,
  295 lesions, "lesion dose CV about 100 %"; Violet et al. 2019 J Nucl Med 60:517; Völter et al. 2021
  Diagnostics 11:428);
- with the switch on, radium-223 gives a soft-tissue lesion no dose and it keeps growing (ALSYMPCA excluded
  visceral disease; no soft-tissue response to Ra-223 is published: Parker et al. 2013 N Engl J Med 369:213);
- spread 0 (the population files' default) reproduces today's doses exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rptici.errors import InputError, UnknownNameError
from rptici.kinetics import Regimen
from rptici.kinetics.biokinetics import LESION_SITES, Covariates, biokinetic_model
from rptici.population import load_disease, sample_population
from rptici.population.distributions import parse_disease
from rptici.population.sampling import lesion_sites, lesion_uptake_factors
from rptici.radiobiology.regimen_dose import regimen_dose
from rptici.simulation.engine import simulate, site_selective_uptake

pytest.importorskip("numba")

PSMA = "[177Lu]Lu-PSMA-617"
RADIUM = "[223Ra]RaCl2"
#: Within-patient CV of Lu-PSMA-617 lesion doses (tests/reference/rpt_response.yaml, voxel Monte Carlo study).
EVIDENCE_CV = 1.0
ON = {"switch_site_selective_uptake": 1.0}
OFF = {"switch_site_selective_uptake": 0.0}


def _psma(cycles: int = 1) -> Regimen:
    return Regimen.model_validate({"rpt": {"agent": PSMA, "activity": "7.4 GBq", "interval": "6 weeks",
                                           "cycles": cycles}})


def _radium() -> Regimen:  # ALSYMPCA: 50 kBq/kg (55 kBq/kg NIST 2015) q4w x 6
    return Regimen.model_validate({"rpt": {"agent": RADIUM, "activity": "55 kBq/kg", "interval": "4 weeks",
                                           "cycles": 6}})


def _without_lesion_covariates(patients: dict) -> dict:
    return {key: value for key, value in patients.items() if key not in ("lesion_uptake_factors", "lesion_sites")}


# --- population ------------------------------------------------------------------------------------------------

def test_every_population_file_gives_sites_and_the_evidence_spread():
    """Each disease has site frequencies (summing to 1, with a source) and the within-patient spread of the
    evidence (lesion-dose CV about 100 %, tests/reference/rpt_response.yaml)."""
    from rptici.population import known_diseases

    for name in known_diseases():
        lesions = load_disease(name).lesions
        assert len(lesions.site_frequencies) == len(LESION_SITES) and abs(sum(lesions.site_frequencies) - 1) < 1e-9
        assert lesions.sites_source and lesions.uptake_spread == EVIDENCE_CV and lesions.uptake_spread_source


def test_lesion_factors_keep_the_patients_whole_body_value():
    """Factors are log-normal with the stated CV, then their volume-weighted mean is 1 in every patient (the
    patient's whole-body uptake stays the sampled PET value); spread 0 gives exactly 1."""
    rng = np.random.default_rng(5)
    volumes = rng.uniform(0.5, 30.0, (4000, 8))
    volumes[:, 6:] = np.nan
    factors = lesion_uptake_factors(EVIDENCE_CV, rng.standard_normal((4000, 8)), volumes)
    weights = np.nan_to_num(volumes)
    np.testing.assert_allclose(np.nansum(factors * weights, axis=1) / weights.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isnan(factors[:, 6:])) and np.all(factors[:, :6] > 0)
    logs = np.log(factors[:, :6])
    pooled = np.mean(np.var(logs, axis=1, ddof=1))  # within-patient log variance; normalisation cancels
    assert np.sqrt(np.expm1(pooled)) == pytest.approx(EVIDENCE_CV, rel=0.05)
    zero = lesion_uptake_factors(0.0, rng.standard_normal((3, 8)), volumes[:3])
    assert np.array_equal(zero[:, :6], np.ones((3, 6))) and np.all(np.isnan(zero[:, 6:]))
    with pytest.raises(InputError, match="coefficient of variation"):
        lesion_uptake_factors(-0.1, np.zeros((1, 8)), volumes[:1])


def test_sites_follow_the_disease_frequencies_and_change_no_other_draw():
    frequencies = load_disease("mcrpc").lesions.site_frequencies
    present = np.ones((20000, 1), dtype=bool)
    sites = lesion_sites(frequencies, np.random.default_rng(2).random((20000, 1)), present)
    for site, frequency in zip(LESION_SITES, frequencies):
        assert np.mean(sites == site) == pytest.approx(frequency, abs=0.015)
    assert np.all(lesion_sites((), np.zeros((2, 3)), np.ones((2, 3), dtype=bool)) == "")
    base = sample_population("mcrpc", 50, 4, lesion_uptake_spread=0.0)
    spread = sample_population("mcrpc", 50, 4)
    for name in ("lesion_volumes_mL", "target_uptake_scale", "alpha_per_Gy", "low_uptake_fraction", "psa_ng_per_mL"):
        np.testing.assert_array_equal(getattr(base, name), getattr(spread, name))
    np.testing.assert_array_equal(base.lesion_sites, spread.lesion_sites)
    present = np.isfinite(base.lesion_volumes_mL)
    assert np.all(base.lesion_uptake_factors[present] == 1.0) and np.all(base.lesion_sites[present] != "")
    assert np.all(base.lesion_sites[~present] == "") and not np.allclose(spread.lesion_uptake_factors[present], 1.0)


def test_bad_site_entries_are_refused_with_the_field_named():
    from rptici.data import load_yaml

    data = load_yaml("populations/mcrpc.yaml")
    wrong = {**data, "lesions": {**data["lesions"], "sites": {**data["lesions"]["sites"],
                                                              "frequencies": {"bone": 0.5, "brain": 0.5}}}}
    with pytest.raises(UnknownNameError, match="brain"):
        parse_disease(wrong, "mcrpc")
    wrong["lesions"]["sites"]["frequencies"] = {"bone": 0.5, "node": 0.2}
    with pytest.raises(InputError, match="summing to 1"):
        parse_disease(wrong, "mcrpc")
    wrong = {**data, "lesions": {**data["lesions"], "uptake_spread": {"value": -1, "unit": "1", "source": "x"}}}
    with pytest.raises(InputError, match="uptake_spread"):
        parse_disease(wrong, "mcrpc")
    with pytest.raises(UnknownNameError, match="lesion_sites"):
        Covariates(lesion_masses_g=np.ones((1, 2)), lesion_sites=[["bone", "brain"]])


# --- doses -----------------------------------------------------------------------------------------------------

def test_spread_zero_reproduces_todays_doses_exactly():
    """With spread 0 every lesion has its patient's value: the engine's lesion doses, tumour volumes and marrow
    dose, and the closed-form organ doses, equal bit for bit those computed without any per-lesion covariate
    (the inputs of the model before lesions differed), with the site switch off (it is on by default)."""
    assert site_selective_uptake() and not site_selective_uptake(overrides=OFF)
    population = sample_population("mcrpc", 24, 3, lesion_uptake_spread=0.0)
    patients = population.engine_patients()
    times = np.array([0.0, 30.0, 120.0])
    outputs = ("dose", "volume", "marrow_dose")
    for regimen in (_psma(2), _radium()):
        ours = simulate(regimen, patients, times, outputs=outputs, output_dtype=np.float64, overrides=OFF)
        before = simulate(regimen, _without_lesion_covariates(patients), times, outputs=outputs,
                          output_dtype=np.float64, overrides=OFF)
        for name in outputs:
            np.testing.assert_array_equal(ours[name], before[name], err_msg=name)
    covariates = population.kinetic_covariates()
    plain = dataclasses.replace(covariates, lesion_uptake_factors=None, lesion_sites=None)
    for regimen in (_psma(2), _radium()):
        ours, before = regimen_dose(regimen, covariates, times), regimen_dose(regimen, plain, times)
        for name in ("absorbed_dose_Gy", "bed_Gy", "cumulative_dose_Gy"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(before, name), err_msg=name)


def test_lu_psma_lesion_dose_cv_near_one_at_the_evidence_spread():
    """Lu-PSMA-617, one 7.4 GBq cycle, mCRPC patients with >= 2 lesions: the CV of lesion doses between the
    lesions of one patient (pooled within-patient log variance, the log-normal CV) is about 1 with the spread at
    the evidence's CV (tests/reference/rpt_response.yaml: "lesion dose CV about 100 %"), and near 0 (the sphere
    absorbed fraction only) with the spread 0."""
    regimen, times = _psma(), np.array([0.0, 90.0])
    cvs = {}
    for spread in (0.0, EVIDENCE_CV):
        population = sample_population("mcrpc", 160, 1, lesion_uptake_spread=spread)
        result = simulate(regimen, population.engine_patients(), times, outputs=("dose", "tumour_dose"))
        assert np.all(result.status == 0)
        doses = np.asarray(result["dose"][:, -1, :], dtype=float)
        several = population.lesion_count >= 2
        logs = np.log(doses[several])
        variance = np.nansum((logs - np.nanmean(logs, axis=1, keepdims=True)) ** 2) / np.sum(
            population.lesion_count[several] - 1)
        cvs[spread] = float(np.sqrt(np.expm1(variance)))
    assert cvs[0.0] < 0.05
    assert 0.8 <= cvs[EVIDENCE_CV] <= 1.25, cvs


def test_whole_body_tumour_dose_is_the_mass_weighted_lesion_dose():
    population = sample_population("mcrpc", 12, 2, lesion_uptake_spread=EVIDENCE_CV)
    result = simulate(_psma(), population.engine_patients(), np.array([0.0, 20.0, 60.0]),
                      outputs=("dose", "tumour_dose"), output_dtype=np.float64)
    doses = result["dose"]
    masses = np.nan_to_num(population.lesion_masses_g)[:, None, :]
    expected = np.nansum(doses * masses, axis=2) / masses.sum(axis=2)
    np.testing.assert_allclose(result["tumour_dose"], expected, rtol=1e-12)
    assert np.all(result["tumour_dose"][:, -1] > 0)


def test_radium_reaches_bone_lesions_only_and_soft_tissue_lesions_keep_growing():
    """Radium-223 with the switch on: a node and a liver lesion get no dose while the bone lesion gets its dose;
    with the switch off every lesion takes up radium as before. Without an out-of-field immune
    response (none is reported for RPT alone in patients, tests/reference/rpt_response.yaml; here immunogenic
    cell death off, so that the check isolates the kinetics), the soft-tissue lesions then keep growing like
    untreated lesions, whereas with the switch off radium shrinks them. The other agents list no sites: the
    switch leaves Lu-PSMA-617 doses unchanged."""
    patients = {"lesion_volumes_mL": np.array([[10.0, 10.0, 10.0]]),
                "lesion_sites": np.array([["bone", "node", "liver"]]), "weight_kg": np.array([80.0]),
                "infiltration": np.array([0.2]), "psa": np.array([50.0])}
    times = np.array([0.0, 84.0, 168.0])
    outputs = ("dose", "volume")
    no_immune = {"switch_immunogenic_cell_death": 0.0}
    on = simulate(_radium(), patients, times, outputs=outputs, overrides={**ON, **no_immune})
    off = simulate(_radium(), patients, times, outputs=outputs, overrides={**OFF, **no_immune})
    untreated = simulate(_radium(), patients, times, outputs=("volume",),  # no radiation kill in any lesion
                         overrides={**ON, **no_immune, "switch_radiation_kill": 0.0})
    assert on["dose"][0, -1, 0] > 1.0 and np.all(on["dose"][0, -1, 1:] < 1e-9)  # 0 up to the exponential fit
    assert np.all(off["dose"][0, -1, :] > 1.0)
    soft = slice(1, 3)
    assert np.all(on["volume"][0, -1, soft] > 2.0 * on["volume"][0, 0, soft])  # soft tissue keeps growing
    # like lesions no radiation reaches, within 5 % (systemic coupling: the marrow dose kills lymphocytes)
    np.testing.assert_allclose(on["volume"][0, :, soft], untreated["volume"][0, :, soft], rtol=0.05)
    assert np.all(off["volume"][0, -1, soft] < 0.5 * on["volume"][0, -1, soft])
    default = simulate(_radium(), patients, times, outputs=("dose",), overrides=ON)  # with the immune response
    assert np.all(default["dose"][0, -1, soft] < 1e-9)
    psma_on = simulate(_psma(), patients, times, outputs=("dose",), overrides=ON)
    psma_off = simulate(_psma(), patients, times, outputs=("dose",), overrides=OFF)
    np.testing.assert_array_equal(psma_on["dose"], psma_off["dose"])


def test_kinetics_site_rule_and_lesion_factors():
    """biokinetic_model: lesion uptake scales with each lesion's factor; site_selective leaves no radium uptake
    at a node; a lesion of unknown site counts as reached."""
    covariates = Covariates.reference(patients=1, lesion_masses_g=np.array([[10.0, 10.0, 10.0]]))
    scaled = dataclasses.replace(covariates, lesion_uptake_factors=np.array([[1.0, 2.0, 0.5]]),
                                 lesion_sites=np.array([["bone", "node", ""]]))
    for agent in (PSMA, RADIUM):
        base, model = biokinetic_model(agent, covariates), biokinetic_model(agent, scaled)
        blood = base.compartments.index("blood")
        rows = [base.compartments.index(f"lesion_{k}") for k in (1, 2, 3)]
        np.testing.assert_allclose(model.rates[0, rows, blood] / base.rates[0, rows, blood], [1.0, 2.0, 0.5])
    selective = biokinetic_model(RADIUM, scaled, site_selective=True)
    assert selective.rates[0, rows[1], blood] == 0.0 and selective.rates[0, rows[2], blood] > 0
    psma = biokinetic_model(PSMA, scaled, site_selective=True)
    assert psma.rates[0, psma.index("lesion_2"), psma.index("blood")] > 0


def test_closed_form_doses_of_a_lesion_radium_does_not_reach_are_zero():
    """The closed-form regimen dose (organ doses of the trial runner) takes the same rule: a node gets exactly 0 Gy
    (no rounding below zero, which the BED would refuse) and the bone lesion its dose."""
    covariates = Covariates.reference(patients=1, lesion_masses_g=np.array([[10.0, 10.0]]))
    covariates = dataclasses.replace(covariates, lesion_sites=np.array([["bone", "node"]]))
    result = regimen_dose(_radium(), covariates, np.array([0.0]), site_selective=True, cross_dose=False)
    doses = dict(zip(result.targets, result.absorbed_dose_Gy[0]))
    assert doses["lesion_1"] > 1.0 and doses["lesion_2"] == 0.0
    assert np.all(result.bed_Gy >= 0.0)


def test_a_scenario_patient_gives_each_lesion_its_site_and_uptake():
    from rptici.kinetics.schema import PatientSpec

    spec = PatientSpec.load({"lesions": ["10 mL", "25 mm"], "lesion_sites": ["bone", "liver"],
                             "lesion_uptake": [1.5, 0.5]}, "patient")
    covariates = spec.kinetic_covariates()
    np.testing.assert_array_equal(covariates.lesion_uptake_factors, [[1.5, 0.5]])
    assert covariates.lesion_sites.tolist() == [["bone", "liver"]]
    with pytest.raises(InputError, match="lesion_sites"):
        PatientSpec.load({"lesions": ["10 mL"], "lesion_sites": ["brain"]}, "patient")
    with pytest.raises(InputError, match="one value per lesion"):
        PatientSpec.load({"lesions": ["10 mL"], "lesion_uptake": [1.0, 2.0]}, "patient").engine_patients()
