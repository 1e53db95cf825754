"""From a regimen to dose and occupancy: published Gy/GBq, conservation, closed form vs numerical, BED, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.dosimetry.absorbed_dose import default_alpha_rbe
from rptici.dosimetry.dose_rate import dose_rate_modes
from rptici.errors import InputError
from rptici.dosimetry import organ_self_s_value
from rptici.kinetics.biokinetics import Covariates, agent_parameters, biokinetic_model
from rptici.kinetics.compartments import CompartmentModel
from rptici.kinetics.regimen import load_regimen
from rptici.physics import Nuclide
from rptici.radiobiology import bed_from_dose_rate, tissue
from rptici.radiobiology.regimen_dose import load_scenario, regimen_dose, scenario_dose, target_masses

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
runner = CliRunner()


def reference_dose(rpt: dict, covariates: Covariates | None = None, **keywords):
    return regimen_dose(load_regimen({"rpt": rpt}), covariates or Covariates.reference(), **keywords)


def region(result, name: str, column: str = "absorbed_dose_Gy") -> float:
    return float(getattr(result, column)[0, result.targets.index(name)])


# -- published doses for the reference adult (ICRP 89 male), tests/reference/dosimetry.yaml -------------

def test_pluvicto_six_cycles_gy_per_gbq():
    """Lu-PSMA-617 6 x 7.4 GBq: kidneys 0.53-0.82 Gy/GBq (n=9; JNM 60:1579; PMC5472088); parotid 0.72-1.90
    (PMC5472088); red marrow 0.030 +- 0.008 Gy/GBq (PMC5472088). Self-dose only."""
    result = reference_dose({"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 6})
    assert result.total_activity_MBq[0] == pytest.approx(6 * 7400.0)
    per_GBq = dict(zip(result.targets, result.dose_per_activity_Gy_per_GBq[0]))
    assert 0.53 <= per_GBq["kidneys"] <= 0.82
    assert 0.72 <= per_GBq["salivary_glands"] <= 1.90
    assert 0.022 <= per_GBq["red_marrow"] <= 0.038
    # 44.4 GBq x 0.65 Gy/GBq is about 29 Gy to the kidneys: below the 40 Gy BED limit (Bodei et al. 2008)
    kidney_limits = {limit.name: limit for limit in result.limits["kidneys"]}
    assert not kidney_limits["bed"].exceeded[0]


def test_lutathera_four_cycles_kidneys_and_marrow():
    """Lu-DOTATATE 4 x 7.4 GBq: kidneys 0.38-0.57 Gy/GBq (PMC6300448; EJNMMI Res 10.1186/s13550-018-0459-4;
    PMC8590641; OLINDA cohort); red marrow 0.33-0.42 Gy per 7.4 GBq cycle (dosimetry.yaml); the 4-cycle
    kidney BED stays below the 40 Gy limit (Bodei et al. 2008) and marrow below 2 Gy."""
    result = reference_dose({"agent": "Lutathera", "activity": "7.4 GBq", "interval": "8 weeks", "cycles": 4})
    per_GBq = dict(zip(result.targets, result.dose_per_activity_Gy_per_GBq[0]))
    assert 0.38 <= per_GBq["kidneys"] <= 0.57
    assert 0.33 <= 7.4 * per_GBq["red_marrow"] <= 0.42
    assert region(result, "kidneys", "bed_Gy") < 40.0 and region(result, "red_marrow") < 2.0


def test_xofigo_bone_endosteum_and_red_marrow():
    """Ra-223 6 x 50 kBq/kg for 70 kg (21 MBq; 55 kBq/kg on the post-2015 NIST scale): about 16 Gy to bone
    endosteum and 1.5 Gy to red marrow (Lassmann and Nosske 2013, dosimetry.yaml). Tolerance 10 %."""
    covariates = Covariates(weight_kg=70.0)
    result = reference_dose({"agent": "Xofigo", "activity": "50 kBq/kg", "interval": "4 weeks", "cycles": 6},
                            covariates)
    assert result.total_activity_MBq[0] == pytest.approx(21.0)
    assert region(result, "bone_surfaces") == pytest.approx(16.0, rel=0.10)
    assert region(result, "red_marrow") == pytest.approx(1.5, rel=0.10)
    # self-dose only, α only: the RBE-weighted dose is 5 x the absorbed dose (MIRD Pamphlet 22 default RBE)
    self_only = reference_dose({"agent": "Xofigo", "activity": "50 kBq/kg", "interval": "4 weeks", "cycles": 6},
                               covariates, cross_dose=False)
    assert region(self_only, "bone_surfaces", "rbe_weighted_dose_Gy") == pytest.approx(
        5 * region(self_only, "bone_surfaces"))
    # the photon cross-dose of Ra-223 (1.1 % of its energy is photons, ICRP-107) adds under 0.1 % to bone
    cross = region(result, "bone_surfaces") - region(self_only, "bone_surfaces")
    assert 0 < cross < 1e-3 * region(self_only, "bone_surfaces")


def test_pembrolizumab_trough_occupancy_with_pluvicto():
    """Pembrolizumab 200 mg q3w: at least 95 % PD-1 engagement at trough (issue 3, after Elassaiss-Schaap
    et al. 2017, CPT Pharmacometrics Syst Pharmacol 6:21, IC50 0.535 ug/mL)."""
    result = scenario_dose(load_scenario(SCENARIOS / "pluvicto_pembrolizumab.yaml"))
    assert np.all(result.trough_occupancy >= 0.95)
    assert np.all(result.mean_occupancy >= result.trough_occupancy - 0.05)
    assert result.occupancy.shape == (result.patients, result.times.size)


# -- internal consistency --------------------------------------------------------------------------------

@pytest.mark.parametrize("agent", ["Pluvicto", "Xofigo"])
def test_activity_is_conserved_over_the_regimen(agent):
    """administered = present in body + decayed in body + excreted, over the whole regimen (1e-9 relative)."""
    scenario = load_scenario(SCENARIOS / ("pluvicto.yaml" if agent == "Pluvicto" else "xofigo.yaml"))
    result = scenario_dose(scenario)
    for time in (0.0, 3.0, 43.0, 100.0, 260.0, 2000.0):
        balance = result.balance(time)
        total = balance["present_in_body"] + balance["decayed_in_body"] + balance["excreted"]
        np.testing.assert_allclose(total, balance["administered"], rtol=1e-9)
    assert result.balance(2000.0)["administered"] == pytest.approx(result.total_activity_MBq)


@pytest.mark.parametrize("agent", ["Lutathera", "Xofigo"])
def test_closed_form_dose_equals_numerical_integral(agent):
    """Cumulative dose from the exponential sums vs solve_ivp of the compartment ODE times S (1e-6 relative);
    activity(t) likewise."""
    covariates = (Covariates(weight_kg=[60.0, 90.0], bsa_m2=[1.7, 2.1], gfr_mL_per_min=[50.0, 120.0],
                             target_uptake_scale=[0.6, 1.5], lesion_masses_g=[[5.0], [80.0]])
                  if agent == "Lutathera" else Covariates(weight_kg=[60.0, 90.0], bsa_m2=[1.7, 2.1]))
    regimen = load_regimen({"rpt": {"agent": agent, "activity": "7.4 GBq" if agent == "Lutathera" else "55 kBq/kg",
                                    "interval": "8 weeks", "cycles": 3}})
    times = np.array([0.0, 0.2, 3.0, 56.0, 60.0, 130.0, 400.0])
    result = regimen_dose(regimen, covariates, times)
    model = biokinetic_model(agent, covariates)
    doses = [(time, np.eye(len(model.compartments))[0][None, :] * activity[:, None])
             for time, activity in zip(*regimen.rpt_administrations(covariates.weight_kg, covariates.bsa_m2))]
    activity, integrated = model.solve_numerically(times, doses)
    np.testing.assert_allclose(result.activity_MBq, activity, rtol=1e-6, atol=1e-9 * activity.max())
    from rptici.dosimetry.dose_rate import s_value_matrix
    from rptici.dosimetry.phantom import CrossDose
    _, s_matrix, _ = s_value_matrix(model, agent_parameters(agent)["nuclide"],
                                    target_masses(agent, covariates, model.compartments),
                                    agent_parameters(agent).get("bone_dosimetry"),
                                    cross_dose=CrossDose("male", covariates.weight_kg))
    numerical = np.einsum("ptc,pcn->ptn", s_matrix, integrated) / 1000.0  # MBq h x mGy/(MBq h) -> Gy
    scale = numerical.max(axis=2, keepdims=True)
    assert np.max(np.abs(result.cumulative_dose_Gy - numerical) / scale) < 1e-6
    np.testing.assert_allclose(result.cumulative_dose_Gy[:, :, -1], result.absorbed_dose_Gy, rtol=1e-3)


def test_single_cycle_bed_equals_incomplete_repair_integral():
    """BED of one cycle (exact G of the exponential sum) = BED from the incomplete-repair ODE driven by the
    same dose rate (radiobiology.bed_from_dose_rate; Dale 1985), 1e-5 relative; kidneys and lesion."""
    covariates = Covariates.reference(lesion_masses_g=[[15.0]])
    result = reference_dose({"agent": "Pluvicto", "activity": "7.4 GBq"}, covariates)
    for target in ("kidneys", "lesion_1"):
        column = result.targets.index(target)
        coefficients, rates = result.modes.coefficients[0, column] * 7400.0, result.modes.rates[0]
        parameters = tissue("tumour" if target.startswith("lesion") else target)
        breakpoints = np.concatenate([[0.0], np.geomspace(1e-4, 400.0, 60)])
        ode = bed_from_dose_rate(breakpoints, lambda t: np.sum(coefficients * np.exp(-rates * t)),
                                 parameters.alpha_beta, parameters.repair_half_time)
        assert region(result, target, "bed_Gy") == pytest.approx(float(ode.bed), rel=1e-5)
        assert region(result, target) == pytest.approx(float(ode.dose), rel=1e-5)


def test_cycles_add_and_dose_scales_with_activity():
    """Six equal cycles give six times the dose and six times one cycle's BED (cycles weeks apart add)."""
    one = reference_dose({"agent": "Lutathera", "activity": "7.4 GBq"})
    six = reference_dose({"agent": "Lutathera", "activity": "7.4 GBq", "interval": "8 weeks", "cycles": 6})
    np.testing.assert_allclose(six.absorbed_dose_Gy, 6 * one.absorbed_dose_Gy, rtol=1e-12)
    np.testing.assert_allclose(six.bed_Gy, 6 * one.bed_Gy, rtol=1e-12)
    np.testing.assert_allclose(six.dose_per_activity_Gy_per_GBq, one.dose_per_activity_Gy_per_GBq, rtol=1e-12)


def test_dose_rate_modes_reproduce_the_model_tia():
    """Σ c_k / r_k of the dose-rate modes x activity = TIA (model) x S: the exponential sums are the model's."""
    covariates = Covariates.reference(lesion_masses_g=[[10.0]])
    model = biokinetic_model("Pluvicto", covariates)
    modes = dose_rate_modes(model, "Lu-177", {"kidneys": 310.0, "lesion_1": 10.0})
    tia = model.time_integrated_activity(1.0)[0]
    from rptici.dosimetry import organ_self_s_value, sphere_s_value
    expected = [tia[model.index("kidneys")] * organ_self_s_value("Lu-177", 310.0).total / 1000,
                tia[model.index("lesion_1")] * sphere_s_value("Lu-177", 10.0).total / 1000]
    np.testing.assert_allclose(modes.dose_per_activity()[0], expected, rtol=1e-10)
    assert modes.coefficients.shape == (1, 2, len(model.compartments)) and np.all(modes.rates > 0)


def test_cohort_is_vectorised_and_reproducible():
    first = load_scenario(SCENARIOS / "lutathera.yaml")
    second = load_scenario(SCENARIOS / "lutathera.yaml")
    np.testing.assert_array_equal(first.covariates.gfr_mL_per_min, second.covariates.gfr_mL_per_min)
    result = scenario_dose(first)
    assert result.absorbed_dose_Gy.shape == (21, len(result.targets))
    assert np.std(result.absorbed_dose_Gy[1:, result.targets.index("kidneys")]) > 0
    # lower GFR -> higher kidney dose per GBq across the sampled cohort (renal clearance scaling)
    gfr = first.covariates.gfr_mL_per_min / first.covariates.bsa_m2
    kidney = result.dose_per_activity_Gy_per_GBq[:, result.targets.index("kidneys")]
    assert np.corrcoef(gfr, kidney)[0, 1] < 0


# -- scenario errors and CLI ------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"patient": {"weight": "80 GBq"}}, "patient.weight"),
    ({"patient": {"gfr": "fast"}}, "patient.gfr"),
    ({"patient": {"lesions": ["-3 g"]}}, "patient.lesions[0]"),
    ({"patient": {"height": "1.8 m"}}, "patient.height"),
    ({"patients": -2}, "patients"),
    ({"regimen": {"rpt": {"agent": "Pluvicto", "activity": "200 mg"}}}, "regimen.rpt.activity"),
    ({"regimen": {"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 3}}},
     "regimen.rpt"),
])
def test_bad_scenarios_name_the_field(change, field):
    scenario = {"regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}}, "patient": {}}
    scenario.update(change)
    with pytest.raises(InputError) as error:
        load_scenario(scenario)
    assert error.value.field == field


def test_cli_regimen_dose_json_and_plot(tmp_path):
    result = runner.invoke(app, ["regimen", "dose", str(SCENARIOS / "pluvicto_pembrolizumab.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    kidneys = answer["regions"]["kidneys"]
    assert {"absorbed_dose_Gy", "dose_per_activity_Gy_per_GBq", "bed_Gy", "eqd2_Gy", "limits"} <= set(kidneys)
    assert {"name", "quantity", "limit_Gy", "value_Gy", "margin_Gy", "exceeded", "source"} <= set(kidneys["limits"][0])
    assert answer["total_activity_administered_MBq"] == pytest.approx(44400.0)
    assert answer["ici"]["trough_occupancy"] >= 0.95 and "mean_occupancy" in answer["ici"]
    assert answer["cohort"]["patients"] == 20
    for suffix in ("png", "html"):
        out = tmp_path / f"plot.{suffix}"
        result = runner.invoke(app, ["regimen", "plot", str(SCENARIOS / "xofigo_atezolizumab.yaml"), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 10_000
    bad = runner.invoke(app, ["regimen", "dose", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "scenario" in bad.output


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_example_scenario_runs(path):
    result = scenario_dose(load_scenario(path))
    assert np.all(np.isfinite(result.bed_Gy)) and np.all(result.absorbed_dose_Gy > 0)


def test_xofigo_bone_metastasis_dose_and_unchanged_normal_bone():
    """Ra-223 50 kBq/kg for 70 kg: a 10 g bone metastasis gets 0.43-1.21 Gy (α, RBE 1) per administration,
    the range of quantitative SPECT dosimetry in four lesions (Pacilio et al. 2016, PubMed 26613714; the model
    gives 0.85 Gy). A 60 g lesion burden lowers the bone-surface and red-marrow doses by < 1 % (Lassmann and
    Nosske 2013: 16 Gy and 1.5 Gy for six cycles, tolerance 10 %)."""
    without = reference_dose({"agent": "Xofigo", "activity": "50 kBq/kg", "interval": "4 weeks", "cycles": 6},
                             Covariates(weight_kg=70.0))
    lesions = Covariates(weight_kg=70.0, lesion_masses_g=[[10.0, 20.0, 30.0]])
    result = reference_dose({"agent": "Xofigo", "activity": "50 kBq/kg", "interval": "4 weeks", "cycles": 6},
                            lesions)
    per_cycle = region(result, "lesion_1") / 6
    assert 0.43 <= per_cycle <= 1.21
    assert per_cycle == pytest.approx(0.85, rel=0.05)
    for target, published in (("bone_surfaces", 16.0), ("red_marrow", 1.5)):
        assert region(result, target) == pytest.approx(published, rel=0.10)
        assert region(result, target) == pytest.approx(region(without, target), rel=0.01)
        assert region(result, target) < region(without, target)  # the lesions take radium from the blood
    # α deposited locally: the lesion's RBE-weighted dose is about 5 × (α is 96 % of the local energy)
    assert region(result, "lesion_1", "rbe_weighted_dose_Gy") == pytest.approx(5 * per_cycle * 6, rel=0.05)


def test_dose_rate_modes_of_a_near_defective_model_integrate_to_the_dose():
    """dose_rate_modes on a nearly defective K (the two patients that failed the 10,000-patient trial
    had one): the modes exist and their integral equals S × TIA from the fallback closed form (1e-6)."""
    rates = np.zeros((2, 4, 4))
    rates[:, 1, 0] = rates[:, 2, 1] = 0.7
    rates[:, 3, 2] = 0.35
    rates[1, 1, 0] = 0.7 * (1.0 + 1e-12)
    model = CompartmentModel(("blood", "kidneys", "liver", "urine"), rates, Nuclide("Lu-177").decay_constant_per_day,
                             excretion=("urine",))
    modes = dose_rate_modes(model, "Lu-177", {"kidneys": 300.0})
    tia = model.time_integrated_activity(1.0)[:, 1]
    s_value = organ_self_s_value("Lu-177", 300.0).total
    np.testing.assert_allclose(modes.dose_per_activity()[:, 0], tia * s_value / 1000.0, rtol=1e-6)


def test_simulate_radium_with_atezolizumab_for_mcrpc_patients_with_bone_lesions():
    """Ra-223 55 kBq/kg q4w × 3 with atezolizumab 1200 mg q3w (design of NCT02814669) for three mCRPC
    patients with 1-3 bone lesions: the engine runs (no lesion refusal) and each lesion's delivered dose
    by day 300 equals the closed form Σ_a A_a Σ_k c_k/r_k of the exact dose-rate modes (rtol 1e-3; the
    engine carries 4 exponentials that keep the integral exact), RBE-weighted as the engine's cell kill is
    (α × 5, MIRD Pamphlet 22); the absorbed dose itself is of the order Pacilio et al. 2016 measured."""
    pytest.importorskip("numba")
    from rptici.kinetics import Regimen
    from rptici.simulation.engine import simulate
    regimen = Regimen.model_validate({
        "rpt": {"agent": "Xofigo", "activity": "55 kBq/kg", "interval": "4 weeks", "cycles": 3},
        "ici": {"agent": "atezolizumab", "dose": "1200 mg", "interval": "q3w", "infusions": 4}})
    volumes = np.array([[5.0, 20.0, np.nan], [12.0, 3.0, 40.0], [8.0, np.nan, np.nan]])
    weights = np.array([65.0, 80.0, 95.0])
    result = simulate(regimen, {"lesion_volumes_mL": volumes, "weight_kg": weights}, [0.0, 150.0, 300.0],
                      organs=())
    assert np.all(result.status == 0)
    delivered = np.asarray(result.outputs["dose"][:, -1], float)
    covariates = Covariates(weight_kg=weights, lesion_masses_g=np.nan_to_num(volumes))
    model = biokinetic_model("Xofigo", covariates)
    masses = target_masses("Xofigo", covariates, model.compartments)
    lesions = ("lesion_1", "lesion_2", "lesion_3")
    modes = dose_rate_modes(model, "Ra-223", {name: masses[name] for name in lesions})
    # 55 kBq/kg × 3 cycles; Ra-223 decays to 4e-7 of a cycle's dose between day 56 and day 300
    administered = (0.055 * weights * 3)[:, None]
    expected = modes.dose_per_activity(rbe=default_alpha_rbe()) * administered
    absorbed = modes.dose_per_activity() * administered
    present = np.isfinite(volumes)
    np.testing.assert_allclose(delivered[present], expected[present], rtol=1e-3)
    assert np.all((absorbed[present] > 0.43 * 3 * 0.5) & (absorbed[present] < 1.21 * 3 * 2))  # Pacilio 2016 order
    assert np.all(expected[present] > 4.5 * absorbed[present])  # nearly all of radium-223's dose is α


# -- lesion (tumour) absorbed dose per activity for a typical lesion at target-uptake scale 1 ---------------------

def lesion_dose_per_GBq(agent: str, masses_g: list[float]) -> np.ndarray:
    """Self-dose per GBq of one 7.4 GBq cycle to lesions of the given masses (one lesion per patient)."""
    covariates = Covariates.reference(patients=len(masses_g), lesion_masses_g=[[mass] for mass in masses_g])
    result = reference_dose({"agent": agent, "activity": "7.4 GBq", "interval": "8 weeks", "cycles": 1}, covariates)
    return result.dose_per_activity_Gy_per_GBq[:, result.targets.index("lesion_1")]


def test_lutathera_typical_lesion_dose_per_gbq():
    """Lu-DOTATATE tumours 3.41 +- 0.68 mGy/MBq (Gupta et al. 2013 Clin Nucl Med 38:188); tolerance: mean +- 2 SD
    (2.05-4.77 Gy/GBq) for 10-30 g lesions. Roth et al. 2022 J Nucl Med (PMC8978188): 2-77 Gy per 7.4 GBq cycle."""
    per_GBq = lesion_dose_per_GBq("Lutathera", [10.0, 20.0, 30.0])
    assert np.all((per_GBq >= 2.05) & (per_GBq <= 4.77)), per_GBq


def test_pluvicto_typical_lesion_dose_per_gbq():
    """Lu-PSMA-617 mean tumour dose 4.0 +- 2.9 Gy/GBq in PERCIST non-responders, 10.2 +- 12.0 in responders
    (Voelter et al. 2021 Diagnostics 11:428, PMC7999994); Okamoto et al. 2017 J Nucl Med 58:445 report about
    3-6 Gy/GBq (not verified). Tolerance: 3.0 Gy/GBq to the non-responder mean + 1 SD (6.9) for 10-30 g lesions."""
    per_GBq = lesion_dose_per_GBq("Pluvicto", [10.0, 20.0, 30.0])
    assert np.all((per_GBq >= 3.0) & (per_GBq <= 6.9)), per_GBq


# --- limits that apply only with a risk factor (issue 19, item 5) -----------------------------------------------
# Bodei et al. 2008 Eur J Nucl Med Mol Imaging 35:1847: kidney BED limit 40 Gy, 28 Gy with renal risk factors
# (hypertension, diabetes). The example's kidneys get a BED between the two (32.6 Gy).

def _kidney_limits(scenario_mapping):
    result = scenario_dose(load_scenario(scenario_mapping))
    return {limit["name"]: limit for limit in result.summary(0)["regions"]["kidneys"]["limits"]}


def test_the_risk_factor_kidney_limit_applies_only_to_patients_with_renal_risk_factors():
    import yaml

    document = yaml.safe_load((SCENARIOS / "pluvicto_pembrolizumab.yaml").read_text(encoding="utf-8"))
    without = _kidney_limits(document)
    assert 28.0 < without["bed"]["value_Gy"] < 40.0
    assert without["bed_with_risk_factors"]["applies"] is False and not without["bed_with_risk_factors"]["exceeded"]
    assert "only for patients with renal risk factors" in without["bed_with_risk_factors"]["why"]
    assert not without["bed"]["exceeded"]
    document["patient"]["risk_factors"] = ["renal"]
    with_risk = _kidney_limits(document)
    assert with_risk["bed_with_risk_factors"]["applies"] is True and with_risk["bed_with_risk_factors"]["exceeded"]


def test_an_unknown_risk_factor_is_an_error_naming_the_field():
    import yaml

    document = yaml.safe_load((SCENARIOS / "pluvicto_pembrolizumab.yaml").read_text(encoding="utf-8"))
    document["patient"]["risk_factors"] = ["smoking"]
    with pytest.raises(InputError, match="risk_factors.*smoking.*renal"):
        scenario_dose(load_scenario(document))
