"""Biokinetics of [131I]NaI, [131I]I-MIBG and [225Ac]Ac-PSMA-617 (issue 20): published doses per GBq, the
iodide kinetics of the two TSH states, daughter handling of the Ac-225 chain and the paediatric body.

Published values and their sources are in the agents' data files (``published_doses``) and beside each test;
every tolerance is stated. No immune-model outcome (response, survival) is asserted here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.dosimetry.absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, default_alpha_rbe
from rptici.dosimetry.dose_rate import dose_rate_modes, released_energy
from rptici.errors import InputError, UnknownNameError
from rptici.kinetics import known_agents
from rptici.kinetics.biokinetics import (Covariates, agent_parameters, biokinetic_model, body_masses_g,
                                         organ_masses_g, reference_anatomy)
from rptici.kinetics.schema import PatientSpec
from rptici.physics import Nuclide
from rptici.radiobiology.regimen_dose import target_masses

NAI, MIBG, ACTINIUM = "[131I]NaI", "[131I]I-MIBG", "[225Ac]Ac-PSMA-617"
AGENTS = (NAI, MIBG, ACTINIUM)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
HOURS = 24.0


def _modes(agent: str, covariates: Covariates, sex: str = "male", state: str | None = None,
           release: bool = True):
    parameters = dict(agent_parameters(agent))
    if not release:
        parameters.pop("daughters", None)
    model = biokinetic_model(agent, covariates, sex, state=state)
    masses = target_masses(agent, covariates, model.compartments, sex)
    modes = dose_rate_modes(model, parameters["nuclide"], masses, parameters.get("bone_dosimetry"),
                            agent=parameters, body_masses=body_masses_g(covariates, sex))
    return model, modes


def published_dose(agent: str, entry: dict) -> float:
    """The model's dose per GBq (Gy/GBq, or Sv/GBq with ``rbe``) for one ``published_doses`` entry."""
    spec = PatientSpec(**(entry.get("patient") or {}))
    _, modes = _modes(agent, spec.kinetic_covariates(), spec.sex or "male", entry.get("state"),
                      release=entry.get("daughters_released", True))
    return float(modes.dose_per_activity(float(entry.get("rbe", 1.0)))[0, modes.index(entry["region"])]) * 1000.0


def _entries():
    return [(agent, number, entry) for agent in AGENTS
            for number, entry in enumerate(agent_parameters(agent)["published_doses"])]


def _residence_times_h(model) -> dict[str, float]:
    """Time-integrated activity per MBq administered (h) of every compartment, patient 0."""
    amplitudes, rates = model.exponential_modes()
    return dict(zip(model.compartments, (amplitudes / rates[:, None, :]).sum(axis=-1)[0] * HOURS))


def _activity(model, compartment: str, days: float) -> float:
    amplitudes, rates = model.exponential_modes()
    return float((amplitudes[0, model.index(compartment)] * np.exp(-rates[0] * days)).sum())


# -- the three agents are runnable ---------------------------------------------------------------------------

def test_the_three_agents_have_biokinetics():
    assert set(AGENTS) <= set(known_agents())


@pytest.mark.parametrize("agent, number, entry", _entries(), ids=lambda value: str(value)[:30])
def test_published_doses_per_gbq_are_reproduced(agent, number, entry):
    # a range [low, high] must hold the model's value; a single published value (low = high) within ±10 %
    # (the calibration target; sources in the data files' published_doses)
    assert {"region", "low", "high", "unit", "source"} <= set(entry) and entry["low"] <= entry["high"]
    assert entry["unit"] in ("Gy/GBq", "Sv/GBq") and (entry["unit"] == "Gy/GBq") == ("rbe" not in entry)
    value = published_dose(agent, entry)
    tolerance = 0.10 if entry["low"] == entry["high"] else 0.0
    assert entry["low"] * (1 - tolerance) <= value <= entry["high"] * (1 + tolerance), (agent, entry["region"], value)


# -- [131I]NaI: iodide kinetics after rhTSH and after thyroid hormone withdrawal ----------------------------

@pytest.mark.parametrize("state, residence_h, uptake_48h, half_time_h", [
    (None, 14.28, 0.005, 67.6),          # rhTSH
    ("withdrawal", 21.97, 0.009, 48.0),  # thyroid hormone withdrawal
])
def test_radioiodine_whole_body_and_remnant_kinetics(state, residence_h, uptake_48h, half_time_h):
    # whole-body residence time: Ravichandran et al. 2016 (PMC5020787; journal volume not verified here), 14.28 h rhTSH and
    # 21.97 h withdrawal, ±5 %; remnant 48-h uptake and effective half-time: Hänscheid et al. 2006 J Nucl Med
    # 47:648 (0.5 % / 67.6 h rhTSH, 0.9 % / 48.0 h withdrawal), ±10 %; 14 % of the whole-body residence time in
    # the blood (Hänscheid et al. 2009 Endocr Relat Cancer 16:1283), ±0.015
    model = biokinetic_model(NAI, Covariates.reference("female"), "female", state=state)
    times = _residence_times_h(model)
    body = sum(value for name, value in times.items() if name not in model.excretion)
    assert body == pytest.approx(residence_h, rel=0.05)
    assert times["blood"] / body == pytest.approx(0.14, abs=0.015)
    assert _activity(model, "thyroid_remnant", 2.0) == pytest.approx(uptake_48h, rel=0.10)
    late = math.log(_activity(model, "thyroid_remnant", 4.0) / _activity(model, "thyroid_remnant", 8.0)) / 4.0
    assert math.log(2.0) / late * HOURS == pytest.approx(half_time_h, rel=0.10)


def test_withdrawal_raises_the_marrow_dose_and_the_remnant_dose():
    # hypothyroid patients clear iodide more slowly. Ravichandran 2016 (PMC5020787): blood dose 0.118 vs 0.087
    # mGy/MBq in women (ratio 1.36) and whole-body residence time 21.97 vs 14.28 h (ratio 1.54); the model's
    # blood-dose ratio must lie between the two ratios, ±10 %
    reference = Covariates.reference("female")
    _, rhtsh = _modes(NAI, reference, "female")
    _, withdrawal = _modes(NAI, reference, "female", state="withdrawal")
    ratio = withdrawal.dose_per_activity() / rhtsh.dose_per_activity()
    assert 0.118 / 0.087 * 0.9 <= ratio[0, rhtsh.index("red_marrow")] <= 21.97 / 14.28 * 1.1
    assert ratio[0, rhtsh.index("thyroid_remnant")] > 1.0


def test_radioiodine_marrow_dose_follows_the_eanm_blood_formula():
    # EANM SOP (Lassmann et al. 2008 Eur J Nucl Med Mol Imaging 35:1405): D_blood [Gy/GBq] = 108 τ_(mL blood) +
    # 0.0188 / W^(2/3) τ_WB, τ in h, W in kg. Fed with the model's own residence times it must give the model's
    # blood-based marrow dose within 15 % (the photon term here is a sphere of body weight, not the fitted constant)
    for sex in ("male", "female"):
        covariates = Covariates.reference(sex)
        model, modes = _modes(NAI, covariates, sex)
        times = _residence_times_h(model)
        body = sum(value for name, value in times.items() if name not in model.excretion)
        blood_mL = reference_anatomy(sex)["blood"] / 1.06
        eanm = 108.0 * times["blood"] / blood_mL + 0.0188 / covariates.weight_kg[0] ** (2 / 3) * body
        assert modes.dose_per_activity()[0, modes.index("red_marrow")] * 1000 == pytest.approx(eanm, rel=0.15)


def test_an_unknown_state_is_an_error_naming_the_field():
    with pytest.raises(UnknownNameError, match="state: got 'euthyroid'"):
        biokinetic_model(NAI, state="euthyroid")
    with pytest.raises(UnknownNameError, match="state"):
        biokinetic_model(MIBG, state="withdrawal")  # MIBG has no states block


# -- [131I]I-MIBG and the paediatric body --------------------------------------------------------------------

def test_child_organ_masses_are_icrp_89_and_adults_are_unchanged():
    # ICRP Publication 89 Table 2.8, 5-year-old: kidneys 110 g, liver 570 g, red marrow 340 g (exact at its BSA,
    # 0.78 m2); adults keep reference mass × BSA / BSA_ref (exact); the blend is continuous at 1.62 m2 (male)
    child = organ_masses_g(Covariates(19.0, 0.78, 60.0), "male")
    assert (child["kidneys"][0], child["liver"][0], child["red_marrow"][0]) == pytest.approx((110, 570, 340))
    adult = organ_masses_g(Covariates(80.0, 2.0, 125.0), "male")
    assert adult["kidneys"][0] == pytest.approx(310 * 2.0 / 1.9, rel=1e-12)
    below, above = (organ_masses_g(Covariates(56.0, bsa, 100.0), "male")["liver"][0] for bsa in (1.6199, 1.62))
    assert below == pytest.approx(above, rel=1e-3)
    assert body_masses_g(Covariates(19.0, 0.78, 60.0))["blood"][0] == pytest.approx(1400 * 1.06)  # ICRP 89 5 y


def test_a_child_gets_a_higher_whole_body_dose_per_gbq_than_an_adult():
    # same kinetics, 20.7 kg against 73 kg: the whole-body dose per GBq scales about as 1/mass (electrons) to
    # 1/mass^(2/3) (photons), so the child's is between (73/20.7)^(2/3) = 2.3 and 73/20.7 = 3.5 times the adult's
    _, child = _modes(MIBG, Covariates(20.7, 0.80, 53.0))
    _, adult = _modes(MIBG, Covariates.reference("male"))
    ratio = child.dose_per_activity()[0, child.index("total_body")] / adult.dose_per_activity()[0, adult.index("total_body")]
    assert 2.3 * 0.9 <= ratio <= 3.5 * 1.1


def test_marrow_involvement_raises_the_marrow_dose_with_net_expression():
    low, high = (_modes(MIBG, Covariates(20.7, 0.80, 53.0, uptake))[1] for uptake in (0.5, 2.0))
    row = low.index("red_marrow")
    assert high.dose_per_activity()[0, row] > low.dose_per_activity()[0, row]


# -- [225Ac]Ac-PSMA-617: the chain, the daughters and α RBE ---------------------------------------------------

def test_actinium_chain_daughters_and_branching():
    # radioactivedecay (ICRP-107): Ac-225 -> Fr-221 -> At-217 -> Bi-213 -> Po-213 (97.9 %) / Tl-209 (2.1 %) -> Pb-209
    chain = Nuclide("Ac-225").daughters_included
    assert set(chain) == {"Fr-221", "At-217", "Bi-213", "Po-213", "Tl-209", "Pb-209"}
    assert chain["Po-213"] == pytest.approx(0.979, abs=0.002) and chain["Tl-209"] == pytest.approx(0.021, abs=0.002)
    # 4 α per decay chain at 5.8-8.4 MeV: about 27.9 MeV of α energy (α + recoil), ICRP-107
    assert Nuclide("Ac-225").energy_per_decay.alpha == pytest.approx(27.9, abs=0.3)
    # Bi-213 and its daughters: Po-213 8.38 MeV α × 0.979 + Bi-213 α (2.1 %): about 8.5 MeV (ICRP-107)
    assert released_energy(Nuclide("Ac-225"), ["Bi-213", "Po-213", "Tl-209", "Pb-209"]).alpha == pytest.approx(8.5, abs=0.15)


def test_released_bismuth_moves_its_energy_to_the_kidneys_and_nothing_else():
    # D_kidney(release) − D_kidney(in place) = f · k · E_Bi213-chain / m_kidney · Ã(blood + rest_of_body), and
    # the other organs are unchanged (the freed daughters leave only blood and interstitial fluid)
    covariates = Covariates.reference("male")
    model, with_release = _modes(ACTINIUM, covariates)
    _, in_place = _modes(ACTINIUM, covariates, release=False)
    entry = agent_parameters(ACTINIUM)["daughters"]["released"][0]
    energy = released_energy(Nuclide("Ac-225"), entry["nuclides"])
    times = _residence_times_h(model)
    kidney_mass = organ_masses_g(covariates)["kidneys"][0]
    from rptici.dosimetry.sphere import photon_absorbed_fraction
    deposited = energy.alpha + energy.electron + float(photon_absorbed_fraction("Ac-225", kidney_mass)) * energy.photon
    expected = (entry["fraction"]["value"] * ENERGY_TO_DOSE_MGY_G_PER_MBQ_H * deposited / kidney_mass
                * (times["blood"] + times["rest_of_body"]) / 1000.0)  # Gy per MBq
    difference = with_release.dose_per_activity() - in_place.dose_per_activity()
    row = with_release.index("kidneys")
    assert difference[0, row] == pytest.approx(expected, rel=1e-6)
    assert np.delete(difference[0], row) == pytest.approx(0.0, abs=1e-12)
    assert 0.03 < difference[0, row] / in_place.dose_per_activity()[0, row] < 0.3  # a few to tens of per cent


def test_alpha_particles_dominate_the_rbe_weighted_salivary_dose():
    # α RBE 5 for deterministic effects (MIRD Pamphlet 22, Sgouros et al. 2010 J Nucl Med 51:311); Kratochwil
    # et al. 2017 J Nucl Med 58:1624: the RBE-weighted dose is 99.4 % α. Here the α share must be >= 99 %
    assert default_alpha_rbe() == 5.0
    _, modes = _modes(ACTINIUM, Covariates.reference("male"))
    row = modes.index("salivary_glands")
    alpha = 5.0 * np.sum(modes.alpha_coefficients[0, row] / modes.rates[0])
    assert alpha / modes.dose_per_activity(5.0)[0, row] >= 0.99


def test_a_daughter_not_in_the_chain_is_an_error_naming_the_field():
    with pytest.raises(InputError, match="daughters.released.nuclides: got 'Ra-223'"):
        released_energy(Nuclide("Ac-225"), ["Ra-223"])


# -- the CLI runs every new agent ------------------------------------------------------------------------------

@pytest.mark.parametrize("example", ["radioiodine_dtc.yaml", "mibg_neuroblastoma.yaml", "ac225_psma617.yaml"])
def test_regimen_dose_runs_for_each_agent(example):
    result = CliRunner().invoke(app, ["regimen", "dose", str(EXAMPLES / example), "--json"])
    assert result.exit_code == 0, result.output
    regions = json.loads(result.output)["regions"]
    assert "red_marrow" in regions and "lesion_1" in regions
    assert all(region["absorbed_dose_Gy"] > 0 for region in regions.values())


@pytest.mark.parametrize("agent, activity", [(NAI, "5.55 GBq"), (MIBG, "666 MBq/kg"), (ACTINIUM, "100 kBq/kg")])
def test_simulate_runs_for_each_agent(tmp_path, agent, activity):
    pytest.importorskip("numba")
    scenario = tmp_path / "one.yaml"
    scenario.write_text(f'kind: simulation\nname: one\nregimen:\n  rpt: {{agent: "{agent}", activity: {activity}}}\n'
                        "patient:\n  weight: 30 kg\n  lesions: [25 mm]\ndays: 60\n")
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--json"])
    assert result.exit_code == 0, result.output
    patient = json.loads(result.output[result.output.index("{"):])["patients"][0]
    assert patient["status"] == "ok", patient["reason"]
    final = {name: np.ravel(patient[name])[-1] for name in ("marrow_dose_Gy", "lesion_dose_Gy")}
    assert final["marrow_dose_Gy"] > 0 and final["lesion_dose_Gy"] > 0, final


def test_the_tsh_state_is_chosen_in_the_regimen_and_checked():
    # `rpt: {..., state: withdrawal}` reaches the dose path (regimen dose and the engine's dose-rate response)
    from rptici.kinetics.regimen import load_regimen
    from rptici.radiobiology.regimen_dose import regimen_dose
    from rptici.simulation.drivers import dose_rate_response
    doses = {}
    for state in (None, "withdrawal"):
        rpt = {"agent": NAI, "activity": "3.7 GBq", **({"state": state} if state else {})}
        result = regimen_dose(load_regimen({"rpt": rpt}), Covariates.reference("female"), sex="female")
        doses[state] = result.absorbed_dose_Gy[0, result.targets.index("red_marrow")]
        response = dose_rate_response(NAI, Covariates.reference("female"), sex="female", state=state)
        assert response.regions == ("red_marrow",)
    _, modes = _modes(NAI, Covariates.reference("female"), "female", state="withdrawal")
    assert doses["withdrawal"] == pytest.approx(3700 * modes.dose_per_activity()[0, modes.index("red_marrow")], rel=1e-9)
    assert doses["withdrawal"] > doses[None]
    with pytest.raises(InputError, match="rpt.state: got 'hypothyroid'; expected a state of \\[131I\\]NaI: withdrawal"):
        load_regimen({"rpt": {"agent": NAI, "activity": "3.7 GBq", "state": "hypothyroid"}})
    with pytest.raises(InputError, match="rpt.state: got 'withdrawal'"):
        load_regimen({"rpt": {"agent": MIBG, "activity": "3.7 GBq", "state": "withdrawal"}})


def test_the_radioiodine_durvalumab_trial_replays_without_a_failed_patient():
    # NCT03215095 ([131I]NaI + durvalumab, DTC) failed every patient before [131I]NaI had biokinetics (issue 20)
    pytest.importorskip("numba")
    result = CliRunner().invoke(app, ["registry", "replay", "NCT03215095", "--patients", "4", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    arms = json.loads(result.output[result.output.index("{"):])["summary"]["arms"]
    assert arms and all(arm["failed"] == 0 and arm["n"] > 0 for arm in arms)


def test_bad_dosimetry_blocks_are_errors_naming_the_field():
    from rptici.dosimetry.dose_rate import s_value_matrix
    covariates = Covariates.reference("male", lesion_masses_g=np.array([[10.0]]))
    model = biokinetic_model(ACTINIUM, covariates)
    masses = target_masses(ACTINIUM, covariates, model.compartments)
    parameters = dict(agent_parameters(ACTINIUM))
    lesion_release = {"released": [{**parameters["daughters"]["released"][0], "from": ["lesion_1"]}]}
    with pytest.raises(InputError, match="daughters.released.from"):
        s_value_matrix(model, "Ac-225", masses, agent={**parameters, "daughters": lesion_release})
    too_much = {"released": [{**parameters["daughters"]["released"][0], "fraction": 1.5}]}
    with pytest.raises(InputError, match="daughters.released.fraction: got 1.5"):
        s_value_matrix(model, "Ac-225", masses, agent={**parameters, "daughters": too_much})
    iodine = biokinetic_model(NAI)
    with pytest.raises(InputError, match="body_masses"):  # the whole-body photon term needs the patient's weight
        s_value_matrix(iodine, "I-131", target_masses(NAI, Covariates.reference(), iodine.compartments),
                       agent=agent_parameters(NAI))
