"""Radiopharmaceutical biokinetics: closed form vs numerical, conservation, published Gy/GBq, covariates."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.data import load_yaml
from rptici.dosimetry import absorbed_dose, organ_self_s_value
from rptici.errors import InputError, UnknownNameError
from rptici.kinetics.biokinetics import (Covariates, agent_parameters, biokinetic_model, known_agents,
                                         reference_anatomy)
from rptici.kinetics.compartments import Administration, CompartmentModel
from rptici.physics import Nuclide

#: 1 MeV per decay deposited in 1 g is 576.7 mGy per MBq h (reference/dosimetry.yaml unit_conversion).
MGY_G_PER_MEV_MBQ_H = 576.7


def self_dose_per_GBq(agent: str, organ: str, mass_key: str | None = None) -> float:
    """Self-dose (Gy/GBq) of ``organ`` for the reference adult male, TIA from the model, S from dosimetry."""
    model = biokinetic_model(agent)
    tia = model.time_integrated_activity(1000.0)[0, model.index(organ)]
    mass = reference_anatomy("male")[mass_key or organ]
    return float(absorbed_dose(tia, organ_self_s_value(model_nuclide(agent), mass)))


def model_nuclide(agent: str) -> str:
    return agent_parameters(agent)["nuclide"]


def varied_patients() -> Covariates:
    return Covariates(weight_kg=[60.0, 80.0, 110.0], bsa_m2=[1.6, 1.9, 2.3], gfr_mL_per_min=[40.0, 90.0, 130.0],
                      target_uptake_scale=[0.5, 1.0, 2.0], lesion_masses_g=[[5.0, 0.0], [20.0, 3.0], [150.0, 40.0]])


# -- closed form -------------------------------------------------------------------------------------

@pytest.mark.parametrize("agent", ["Lutathera", "Pluvicto", "Xofigo"])
def test_closed_form_matches_numerical_integration(agent):
    """Eigen solution vs solve_ivp of the same equations, two administrations: 1e-6 relative."""
    covariates = varied_patients() if agent != "Xofigo" else Covariates.reference(patients=2)
    model = biokinetic_model(agent, covariates)
    doses = [Administration(0.0, 7400.0), Administration(10.0, np.linspace(3000.0, 6000.0, model.patients))]
    times = np.array([0.0, 0.01, 0.5, 3.0, 10.0, 12.5, 40.0])
    closed = model.activity(times, doses)
    numerical, cumulative = model.solve_numerically(times, doses)
    scale = closed.max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(closed - numerical) / scale) < 1e-6
    integrated = np.stack([model.time_integrated_activity(doses, 0.0, t) for t in times], axis=-1)
    assert np.max(np.abs(integrated - cumulative) / integrated.max(axis=(1, 2), keepdims=True)) < 1e-6


def test_defective_matrix_falls_back_to_matrix_exponential():
    """A catenary chain of equal rates has a defective K: the closed form must still match the numerical one."""
    rates = np.zeros((3, 3))
    rates[1, 0] = rates[2, 1] = 0.7
    model = CompartmentModel(("blood", "organ", "urine"), rates, 0.1, excretion=("urine",))
    times = np.array([0.5, 2.0, 9.0])
    closed = model.activity(times, 100.0)
    numerical, _ = model.solve_numerically(times, 100.0)
    np.testing.assert_allclose(closed, numerical, rtol=1e-7, atol=1e-9)
    # organ: A(t) = 100·k·t·e^{−(k+λ)t} for a two-step chain with equal rates (Bateman)
    np.testing.assert_allclose(closed[0, 1], 100 * 0.7 * times * np.exp(-0.8 * times), rtol=1e-9)
    np.testing.assert_allclose(model.time_integrated_activity(100.0)[0, 1], 100 * 0.7 / 0.8**2 * 24, rtol=1e-9)


def test_single_compartment_is_the_textbook_exponential():
    """One organ with biological rate k: TIA = A0/(k+λ) (h), A(t) = A0 e^{−(k+λ)t}."""
    rates = np.array([[0.0, 0.0], [0.3, 0.0]])
    model = CompartmentModel(("organ", "urine"), rates, 0.1, excretion=("urine",))
    dose = Administration(0.0, 50.0, "organ")
    np.testing.assert_allclose(model.activity([2.0], dose)[0, 0, 0], 50 * np.exp(-0.8), rtol=1e-12)
    np.testing.assert_allclose(model.time_integrated_activity(dose)[0, 0], 50 / 0.4 * 24, rtol=1e-12)


@pytest.mark.parametrize("agent", ["Lutathera", "Pluvicto", "Xofigo"])
def test_activity_is_conserved(agent):
    """Administered = present in body + decayed in body + excreted, to 1e-9 relative (issue 3)."""
    model = biokinetic_model(agent, varied_patients() if agent != "Xofigo" else None)
    doses = [Administration(0.0, 7400.0), Administration(42.0, 6000.0)]
    for time in (0.1, 5.0, 42.0, 60.0, 400.0):
        balance = model.balance(time, doses)
        total = balance["present_in_body"] + balance["decayed_in_body"] + balance["excreted"]
        np.testing.assert_allclose(total, balance["administered"], rtol=1e-9)


def test_saturable_model_conserves_activity_and_reduces_to_linear():
    """With a huge binding capacity the saturable (numerical) model equals the linear closed form (1e-6)."""
    covariates = Covariates.reference(patients=2, lesion_masses_g=[[10.0], [200.0]])
    linear = biokinetic_model("Pluvicto", covariates)
    saturable = biokinetic_model("Pluvicto", covariates, saturable=True)
    saturable.ligand_nmol_per_MBq = 1e-12
    times = np.array([1.0, 7.0, 30.0])
    np.testing.assert_allclose(saturable.activity(times, 7400.0), linear.activity(times, 7400.0), rtol=1e-6, atol=1e-6)


# -- published absorbed dose per activity -----------------------------------------------------------

def test_lutathera_kidney_and_marrow_doses():
    """reference/dosimetry.yaml: kidneys 0.38-0.57 Gy/GBq (PMC6300448, EJNMMI Res 10.1186/s13550-018-0459-4,
    PMC8590641, OLINDA cohort); red marrow 0.33-0.42 Gy per 7.4 GBq cycle. Self-dose only (no cross-dose)."""
    assert 0.38 <= self_dose_per_GBq("Lutathera", "kidneys") <= 0.57
    assert 0.33 <= 7.4 * self_dose_per_GBq("Lutathera", "red_marrow") <= 0.42


def test_pluvicto_organ_doses():
    """reference/dosimetry.yaml: kidneys 0.53-0.82 Gy/GBq (n=9; JNM 60:1579; PMC5472088); parotid 0.72-1.90
    (n=9; PMC5472088); red marrow 0.030 +- 0.008 (PMC5472088); lacrimal 2.82 (n=9 series, +-25 % here)."""
    assert 0.53 <= self_dose_per_GBq("Pluvicto", "kidneys") <= 0.82
    assert 0.72 <= self_dose_per_GBq("Pluvicto", "salivary_glands") <= 1.90
    assert 0.022 <= self_dose_per_GBq("Pluvicto", "red_marrow") <= 0.038
    assert 2.82 * 0.75 <= self_dose_per_GBq("Pluvicto", "lacrimal_glands") <= 2.82 * 1.25


def test_xofigo_bone_surface_and_marrow_doses():
    """Lassmann & Nosske 2013 (reference/dosimetry.yaml): 6 x 50 kBq/kg (21 MBq for 70 kg; 55 kBq/kg after
    the 2015 NIST recalibration is the same activity) gives about 16 Gy to bone endosteum and 1.5 Gy to
    red marrow. ICRP 137 radium model + ICRP 30 alpha absorbed fractions; tolerance 10 %."""
    model = biokinetic_model("Xofigo")
    per_cycle = 0.050 * 70.0
    doses = [Administration(28.0 * cycle, per_cycle) for cycle in range(6)]
    tia = model.time_integrated_activity(doses)[0]
    np.testing.assert_allclose(tia, 6 * model.time_integrated_activity(per_cycle)[0], rtol=1e-9)  # superposition
    bone = agent_parameters("Xofigo")["bone_dosimetry"]
    alpha = Nuclide("Ra-223").energy_per_decay.alpha
    doses_Gy = {}
    for target, fractions in bone["alpha_absorbed_fractions"].items():
        energy = sum(entry["value"] * tia[model.index(source)] for source, entry in fractions.items())
        doses_Gy[target] = MGY_G_PER_MEV_MBQ_H * alpha * energy / bone["target_masses_g"][target]["value"] / 1000
    assert doses_Gy["bone_surfaces"] == pytest.approx(16.0, rel=0.10)
    assert doses_Gy["red_marrow"] == pytest.approx(1.5, rel=0.10)


# -- covariates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("agent", ["Lutathera", "Pluvicto"])
def test_tumour_sink_lowers_kidney_dose(agent):
    """A larger tumour burden takes ligand from the blood: kidney TIA falls (Begum et al. 2018 J Nucl Med
    59:1411; Gafita et al. 2021). Linear model and saturable model."""
    burdens = [[0.0], [100.0], [1000.0]]
    covariates = Covariates.reference(patients=3, lesion_masses_g=burdens)
    for saturable in (False, True):
        model = biokinetic_model(agent, covariates, saturable=saturable)
        kidneys = model.time_integrated_activity(7400.0)[:, model.index("kidneys")]
        assert kidneys[0] > kidneys[1] > kidneys[2]


def test_saturation_lowers_uptake_per_gram_of_small_lesions():
    """With saturable binding a lesion gets less than in the linear model (receptors fill)."""
    covariates = Covariates.reference(lesion_masses_g=[[2.0]])
    model = biokinetic_model("Pluvicto", covariates)
    linear = model.time_integrated_activity(7400.0)[0, model.index("lesion_1")]
    saturable = biokinetic_model("Pluvicto", covariates, saturable=True).time_integrated_activity(7400.0)
    assert saturable[0, model.index("lesion_1")] < linear


def test_lower_gfr_raises_kidney_and_marrow_exposure():
    """Renal impairment slows elimination: higher kidney and marrow TIA (Pluvicto label, renal impairment)."""
    covariates = Covariates(gfr_mL_per_min=[30.0, 60.0, 125.0])
    for agent in ("Lutathera", "Pluvicto"):
        model = biokinetic_model(agent, covariates)
        tia = model.time_integrated_activity(7400.0)
        for organ in ("kidneys", "red_marrow"):
            values = tia[:, model.index(organ)]
            assert values[0] > values[1] > values[2]


def test_target_expression_raises_lesion_uptake():
    covariates = Covariates(target_uptake_scale=[0.5, 1.0, 2.0], lesion_masses_g=[[10.0]] * 3)
    model = biokinetic_model("Lutathera", covariates)
    lesion = model.time_integrated_activity(7400.0)[:, model.index("lesion_1")]
    assert lesion[0] < lesion[1] < lesion[2]


def test_many_patients_are_cheap():
    """100,000 patients: closed-form TIA in one batched eigen-decomposition."""
    patients = 100_000
    rng = np.random.default_rng(1)
    covariates = Covariates(gfr_mL_per_min=rng.uniform(30, 140, patients), target_uptake_scale=rng.lognormal(0, 0.3, patients),
                            lesion_masses_g=rng.uniform(0, 50, (patients, 2)))
    tia = biokinetic_model("Pluvicto", covariates).time_integrated_activity(7400.0)
    assert tia.shape == (patients, 12) and np.all(np.isfinite(tia)) and np.all(tia >= -1e-6)


# -- data and errors ---------------------------------------------------------------------------------

def test_reference_anatomy_is_icrp_89():
    """ICRP 89 Table 2.8: kidneys 310 g (male) and 275 g (female), liver 1800 g, red marrow 1170 g."""
    male, female = reference_anatomy("male"), reference_anatomy("female")
    assert (male["kidneys"], female["kidneys"], male["liver"], male["red_marrow"]) == (310, 275, 1800, 1170)


def test_every_agent_rate_has_a_source():
    for agent in known_agents():
        parameters = agent_parameters(agent)
        for transfer in parameters["transfers"]:
            assert transfer.get("source"), (agent, transfer)
    assert {"[177Lu]Lu-DOTATATE", "[177Lu]Lu-PSMA-617", "[223Ra]RaCl2"} <= set(known_agents())
    assert load_yaml("reference_anatomy.yaml")["male"]["organs_g"]["kidneys"]["source"]


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(UnknownNameError):
        biokinetic_model("Unobtainium-999")
    with pytest.raises(InputError, match="gfr_mL_per_min"):
        Covariates(gfr_mL_per_min=[-5.0])
    with pytest.raises(InputError, match="covariates"):
        Covariates(weight_kg=[70.0, 80.0], gfr_mL_per_min=[90.0, 100.0, 110.0])
    with pytest.raises(InputError, match="lesion_masses_g"):
        Covariates(lesion_masses_g=[[-1.0]])
    with pytest.raises(InputError, match="rates"):
        CompartmentModel(("a", "b"), np.array([[0.0, -1.0], [1.0, 0.0]]), 0.1)
    with pytest.raises(InputError, match="excretion"):
        CompartmentModel(("a", "b"), np.array([[0.0, 1.0], [1.0, 0.0]]), 0.1, excretion=("b",))
    with pytest.raises(InputError, match="decay_constant"):
        CompartmentModel(("a",), np.zeros((1, 1)), 0.0)
    model = biokinetic_model("Lutathera")
    with pytest.raises(UnknownNameError):
        model.activity([1.0], Administration(0.0, 100.0, "brain"))
    with pytest.raises(InputError, match="time_d"):
        model.activity([1.0], Administration(-1.0, 100.0))
    with pytest.raises(InputError, match="activity_MBq"):
        model.activity([1.0], Administration(0.0, -100.0))
    with pytest.raises(InputError, match="times"):
        model.activity([-1.0], 100.0)
    with pytest.raises(InputError, match="saturable"):
        biokinetic_model("Xofigo", saturable=True)


# -- nearly defective transfer matrices ------------------------------------------------------------------

def near_defective_chain() -> CompartmentModel:
    """blood → organ → organ_2 → urine with equal rates 0.7/d blood→organ and organ→organ_2 (patient 0: K
    defective) or rates 10⁻¹² apart (patient 1: eigenvectors condition ~10¹¹): the 10,000-patient failure."""
    rates = np.zeros((2, 4, 4))
    rates[:, 1, 0] = rates[:, 2, 1] = 0.7
    rates[:, 3, 2] = 0.35
    rates[1, 1, 0] = 0.7 * (1.0 + 1e-12)
    return CompartmentModel(("blood", "organ", "organ_2", "urine"), rates, 0.1, excretion=("urine",))


def test_exponential_modes_of_a_defective_matrix_match_the_numerical_solution():
    """Both patients are ill-conditioned; the perturbed sum of exponentials (ε = 10⁻⁹ … 10⁻⁶, error-checked)
    matches solve_ivp to 10⁻⁶ per MBq, and the organ follows the Bateman equal-rate solution
    A(t) = k t e^{−(k+λ)t} (Bateman 1910, limit of equal rates) to 10⁻⁶."""
    model = near_defective_chain()
    assert np.all(model._eigensystem()[3])  # the closed form's eigenvectors are ill-conditioned
    amplitudes, rates = model.exponential_modes()
    times = np.array([0.05, 0.5, 2.0, 9.0, 30.0, 120.0])
    modes = np.einsum("pck,pkt->pct", amplitudes, np.exp(-rates[:, :, None] * times))
    numerical, _ = model.solve_numerically(times, 1.0, rtol=1e-12, atol=1e-14)
    assert np.max(np.abs(modes - numerical)) < 1e-6
    np.testing.assert_allclose(modes[:, 1], np.tile(0.7 * times * np.exp(-0.8 * times), (2, 1)), atol=1e-6)
    # the fallback closed forms agree too (matrix exponential without scipy's triangular shortcut)
    np.testing.assert_allclose(model.activity(times, 1.0), numerical, rtol=0, atol=1e-9)


def test_exponential_modes_refuse_what_no_perturbation_fixes():
    """Three equal rates in a chain need t²e^{−kt}: no pure sum of exponentials holds it to 10⁻⁶."""
    rates = np.zeros((4, 4))
    rates[1, 0] = rates[2, 1] = rates[3, 2] = 0.7
    model = CompartmentModel(("blood", "a", "b", "c"), rates, 0.1)
    with pytest.raises(InputError, match="sum of real exponentials"):
        model.exponential_modes()


# -- Ra-223 bone metastases ---------------------------------------------------------------------------------

def test_radium_lesions_take_up_more_per_gram_than_normal_bone():
    """Osteoblastic lesions take up Ra-223 like bone surfaces, 3× more per gram than the normal skeleton
    (assumption in ra223_dichloride.yaml, order of 99mTc-MDP tumour-to-non-tumour ratios); part of the
    lesion activity is buried in lesion mineral (ICRP 137 surface → volume 0.116/d). Tolerance 5 %."""
    model = biokinetic_model("Xofigo", Covariates(lesion_masses_g=[[10.0, 30.0]]))
    assert "lesion_1_mineral" in model.compartments
    tia = model.time_integrated_activity(1.0)[0]
    lesion_per_g = (tia[model.index("lesion_1")] + tia[model.index("lesion_1_mineral")]) / 10.0
    bone = sum(tia[number] for number, name in enumerate(model.compartments) if "bone" in name)
    skeleton_g = 10500.0  # ICRP 89 male skeleton, the normal-bone mass of the uptake ratio
    assert lesion_per_g / (bone / skeleton_g) == pytest.approx(3.0, rel=0.05)
    assert tia[model.index("lesion_1_mineral")] > 0.1 * tia[model.index("lesion_1")]
    # balance: lesions keep every atom they take
    balance = model.balance(40.0, 3.5)
    total = balance["present_in_body"] + balance["decayed_in_body"] + balance["excreted"]
    np.testing.assert_allclose(total, balance["administered"], rtol=1e-9)
