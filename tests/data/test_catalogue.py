"""The agents catalogue: radiopharmaceuticals and checkpoint antibodies against labels and tests/reference."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pydantic
import pytest

from rptici.data import catalogue
from rptici.data.catalogue import (
    AntibodyPK,
    CheckpointInhibitor,
    Radiopharmaceutical,
    agent,
    checkpoint_inhibitor,
    checkpoint_inhibitors,
    normalized_name,
    radiopharmaceutical,
    radiopharmaceuticals,
)
from rptici.errors import InputError, UnknownNameError
from rptici.physics import Nuclide
from rptici.units import parse_interval, parse_quantity

RADIOPHARMACEUTICALS = [
    "[223Ra]RaCl2", "[177Lu]Lu-PSMA-617", "[177Lu]Lu-DOTATATE", "[90Y]Y-ibritumomab tiuxetan",
    "[131I]I-tositumomab", "[177Lu]Lu-girentuximab", "[131I]NaI", "[131I]I-MIBG", "[90Y]Y-NM600",
    "[225Ac]Ac-PSMA-617",
]
CHECKPOINT_INHIBITORS = ["pembrolizumab", "nivolumab", "atezolizumab", "avelumab", "durvalumab", "ipilimumab"]


# --- contents ---------------------------------------------------------------------------------------

def test_catalogue_holds_the_agents_of_the_brief():
    assert sorted(radiopharmaceuticals()) == sorted(RADIOPHARMACEUTICALS)
    assert sorted(checkpoint_inhibitors()) == sorted(CHECKPOINT_INHIBITORS)


@pytest.mark.parametrize("name", RADIOPHARMACEUTICALS)
def test_every_nuclide_resolves_in_physics(name):
    agent_ = radiopharmaceutical(name)
    assert Nuclide(agent_.nuclide).name == agent_.nuclide  # stored in the canonical spelling


@pytest.mark.parametrize(
    "name, nuclide, targeting_class, target",
    [
        # DESIGN.md and the prescribing information of each approved agent
        ("[223Ra]RaCl2", "Ra-223", "ion", "bone mineral (calcium mimetic)"),
        ("[177Lu]Lu-PSMA-617", "Lu-177", "small molecule", "PSMA"),
        ("[177Lu]Lu-DOTATATE", "Lu-177", "peptide", "SSTR2"),
        ("[90Y]Y-ibritumomab tiuxetan", "Y-90", "antibody", "CD20"),
        ("[131I]I-tositumomab", "I-131", "antibody", "CD20"),
        ("[177Lu]Lu-girentuximab", "Lu-177", "antibody", "CAIX"),
        ("[131I]NaI", "I-131", "ion", "NIS"),
        ("[131I]I-MIBG", "I-131", "small molecule", "NET (norepinephrine transporter)"),
        ("[90Y]Y-NM600", "Y-90", "small molecule", "phospholipid ethers (alkylphosphocholine analogue)"),
        ("[225Ac]Ac-PSMA-617", "Ac-225", "small molecule", "PSMA"),
    ],
)
def test_nuclide_class_and_target(name, nuclide, targeting_class, target):
    agent_ = radiopharmaceutical(name)
    assert (agent_.nuclide, agent_.targeting_class, agent_.target) == (nuclide, targeting_class, target)


@pytest.mark.parametrize("name, carrier", [("[90Y]Y-ibritumomab tiuxetan", "ibritumomab"),
                                           ("[131I]I-tositumomab", "tositumomab"),
                                           ("[177Lu]Lu-girentuximab", "girentuximab")])
def test_antibody_radiopharmaceuticals_name_their_carrier(name, carrier):
    agent_ = radiopharmaceutical(name)
    assert agent_.is_antibody and agent_.carrier_antibody == carrier


def test_only_antibodies_have_a_carrier_antibody():
    for agent_ in radiopharmaceuticals().values():
        assert (agent_.carrier_antibody is not None) == (agent_.targeting_class == "antibody"), agent_.name


@pytest.mark.parametrize("name, status", [("[223Ra]RaCl2", "approved"), ("[177Lu]Lu-PSMA-617", "approved"),
                                          ("[177Lu]Lu-DOTATATE", "approved"), ("[90Y]Y-ibritumomab tiuxetan", "approved"),
                                          ("[131I]I-tositumomab", "withdrawn"), ("[177Lu]Lu-girentuximab", "investigational"),
                                          ("[90Y]Y-NM600", "preclinical"), ("[225Ac]Ac-PSMA-617", "investigational")])
def test_status(name, status):
    # FDA approvals: Xofigo 2013, Pluvicto 2022, Lutathera 2018, Zevalin 2002; Bexxar discontinued 2014
    assert radiopharmaceutical(name).status == status


@pytest.mark.parametrize("name, year", [("[223Ra]RaCl2", "2013"), ("[177Lu]Lu-PSMA-617", "2022"),
                                        ("[177Lu]Lu-DOTATATE", "2018"), ("[90Y]Y-ibritumomab tiuxetan", "2002"),
                                        ("[131I]I-tositumomab", "2003")])
def test_approval_year(name, year):
    # first FDA approval of each agent (prescribing information)
    assert f"FDA {year}" in radiopharmaceutical(name).approval


# --- regimens against the pivotal trials (tests/reference/trials_monotherapy.yaml) -----------------

def _trial_regimen(reference, trial: str, agent_name: str) -> dict:
    for entry in reference("trials_monotherapy.yaml"):
        if entry["trial"] == trial:
            for arm in entry["arms"]:
                if arm.get("rpt", {}).get("agent") == agent_name:
                    return arm["rpt"]
    raise AssertionError(f"{agent_name} not found in {trial}")


@pytest.mark.parametrize("trial, name", [("VISION", "[177Lu]Lu-PSMA-617"), ("NETTER-1", "[177Lu]Lu-DOTATATE"),
                                         ("ALSYMPCA", "[223Ra]RaCl2")])
def test_typical_regimen_matches_the_pivotal_trial(reference, trial, name):
    # VISION 7.4 GBq q6w x6 (Sartor 2021); NETTER-1 7.4 GBq q8w x4 (Strosberg 2017); ALSYMPCA 55 kBq/kg q4w x6
    # (Parker 2013, after the NIST update); exact agreement
    published = _trial_regimen(reference, trial, name)
    regimen = radiopharmaceutical(name).typical_regimen
    dimension = regimen.activity_dimension
    published_activity = str(published["activity"]).split(" (")[0]
    assert parse_quantity(regimen.activity, dimension) == pytest.approx(parse_quantity(published_activity, dimension))
    assert regimen.interval_days == pytest.approx(parse_interval(published["interval"]))
    assert regimen.cycles == published["max_cycles"]


def test_administered_activity_scales_with_weight_and_surface():
    # Xofigo 55 kBq/kg x 70 kg = 3.85 MBq per injection (Xofigo prescribing information);
    # girentuximab 2405 MBq/m2 x 1.9 m2 = 4569.5 MBq (Muselaers 2016)
    assert radiopharmaceutical("Xofigo").typical_regimen.administered_activity_MBq(weight_kg=70) == pytest.approx(3.85)
    assert radiopharmaceutical("TLX250").typical_regimen.administered_activity_MBq(body_surface_area_m2=1.9) == pytest.approx(4569.5)
    assert radiopharmaceutical("Pluvicto").typical_regimen.administered_activity_MBq() == pytest.approx(7400.0)


def test_activity_per_kg_needs_a_weight():
    with pytest.raises(InputError) as caught:
        radiopharmaceutical("Xofigo").typical_regimen.administered_activity_MBq()
    assert caught.value.field == "weight_kg"


def test_patient_specific_regimen_has_no_activity():
    # Bexxar: activity chosen per patient for a 0.75 Gy total-body dose (Bexxar prescribing information)
    regimen = radiopharmaceutical("Bexxar").typical_regimen
    assert regimen.activity is None
    assert parse_quantity(regimen.absorbed_dose_prescription, "dose") == pytest.approx(0.75)
    with pytest.raises(InputError):
        regimen.administered_activity_MBq(weight_kg=70)


def test_every_stated_regimen_parses():
    for agent_ in radiopharmaceuticals().values():
        regimen = agent_.typical_regimen
        if regimen.activity is not None:
            assert regimen.activity_dimension in catalogue.ACTIVITY_DIMENSIONS
        if regimen.interval is not None:
            assert 7 <= regimen.interval_days <= 120, agent_.name  # weeks to months between cycles
        assert agent_.source


# --- names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "spelling, name",
    [
        ("Pluvicto", "[177Lu]Lu-PSMA-617"), ("PLUVICTO", "[177Lu]Lu-PSMA-617"), ("Lu-PSMA-617", "[177Lu]Lu-PSMA-617"),
        ("177Lu-PSMA-617", "[177Lu]Lu-PSMA-617"), ("lu-psma-617", "[177Lu]Lu-PSMA-617"),
        ("[177lu]lu-psma-617", "[177Lu]Lu-PSMA-617"), ("Lutathera", "[177Lu]Lu-DOTATATE"),
        ("Xofigo", "[223Ra]RaCl2"), ("Zevalin", "[90Y]Y-ibritumomab tiuxetan"), ("Bexxar", "[131I]I-tositumomab"),
        ("Azedra", "[131I]I-MIBG"), ("225Ac-PSMA-617", "[225Ac]Ac-PSMA-617"), ("ac-psma-617", "[225Ac]Ac-PSMA-617"),
        ("90Y-NM600", "[90Y]Y-NM600"), ("radioiodine", "[131I]NaI"),
    ],
)
def test_radiopharmaceutical_aliases(spelling, name):
    assert radiopharmaceutical(spelling).name == name
    assert agent(spelling).name == name


@pytest.mark.parametrize("spelling, name", [("Keytruda", "pembrolizumab"), ("OPDIVO", "nivolumab"), ("tecentriq", "atezolizumab"),
                                            ("Bavencio", "avelumab"), ("Imfinzi", "durvalumab"), ("Yervoy", "ipilimumab"),
                                            ("MK-3475", "pembrolizumab"), ("Pembrolizumab", "pembrolizumab")])
def test_checkpoint_aliases(spelling, name):
    assert checkpoint_inhibitor(spelling).name == name
    assert agent(spelling).name == name


def test_lutetium_agents_are_not_confused():
    # Lu-PSMA-617 and Ac-PSMA-617 differ only in the nuclide: the normalised names must stay distinct
    assert radiopharmaceutical("Lu-PSMA-617").nuclide == "Lu-177"
    assert radiopharmaceutical("Ac-PSMA-617").nuclide == "Ac-225"


def test_no_spelling_names_two_agents():
    seen: dict[str, str] = {}
    everything = {**radiopharmaceuticals(), **checkpoint_inhibitors()}
    for agent_ in everything.values():
        for spelling in (agent_.name, *agent_.aliases):
            key = normalized_name(spelling)
            assert seen.setdefault(key, agent_.name) == agent_.name, spelling


def test_unknown_agent_names_field_and_closest_match():
    with pytest.raises(UnknownNameError) as caught:
        agent("Pluvictoo")
    error = caught.value
    assert isinstance(error, InputError) and isinstance(error, KeyError)
    assert error.field == "agent" and error.value == "Pluvictoo"
    assert "closest" in str(error) and "Pluvicto" in str(error)


def test_unknown_checkpoint_inhibitor_lists_close_names():
    with pytest.raises(UnknownNameError) as caught:
        checkpoint_inhibitor("nivolumb")
    assert caught.value.field == "agent"
    assert "nivolumab" in str(caught.value)


def test_kinds_are_kept_apart():
    with pytest.raises(UnknownNameError):
        radiopharmaceutical("pembrolizumab")
    with pytest.raises(UnknownNameError):
        checkpoint_inhibitor("Pluvicto")
    assert isinstance(agent("pembrolizumab"), CheckpointInhibitor)
    assert isinstance(agent("Pluvicto"), Radiopharmaceutical)


@pytest.mark.parametrize("bad", ["", None, 177])
def test_non_names_rejected(bad):
    with pytest.raises(UnknownNameError):
        agent(bad)


# --- checkpoint antibodies: PK copied from tests/reference/ici_pk.yaml -----------------------------

REFERENCE_TO_CATALOGUE = {
    "CL_L_per_d": "clearance_L_per_day",
    "V1_L": "central_volume_L",
    "Q_L_per_d": "intercompartmental_clearance_L_per_day",
    "V2_L": "peripheral_volume_L",
    "label_half_life_d": "label_half_life_days",
}


@pytest.mark.parametrize("name", CHECKPOINT_INHIBITORS)
def test_pk_equals_the_reference(reference, name):
    # every number exactly as in tests/reference/ici_pk.yaml (Ahamadi 2017, Bajaj 2017, FDA BLA 761041,
    # Masters 2022, Feng 2014 and the durvalumab popPK literature)
    published = reference("ici_pk.yaml")[name]
    inhibitor = checkpoint_inhibitor(name)
    assert inhibitor.target == published["target"]
    for key, field in REFERENCE_TO_CATALOGUE.items():
        if key in published:
            assert getattr(inhibitor.pk, field) == pytest.approx(published[key], rel=1e-12), field
    varying = published.get("time_varying_CL")
    if varying is None:
        assert inhibitor.pk.time_varying_clearance is None
    else:
        tvc = inhibitor.pk.time_varying_clearance
        assert (tvc.emax, tvc.t50_days, tvc.hill) == pytest.approx((varying["Emax"], varying["T50_d"], varying["hill"]))
    assert inhibitor.pk.confirmed == published.get("confirmed", True)
    first_source_author = published["source"].split()[0]
    assert first_source_author in inhibitor.pk.source


def test_binding_from_the_reference(reference):
    # nivolumab KD 2.6 nM; pembrolizumab ex vivo IL-2 IC50 0.535 ug/mL (ici_pk.yaml)
    published = reference("ici_pk.yaml")
    assert checkpoint_inhibitor("nivolumab").binding.affinity_nM == published["nivolumab"]["binding"]["KD_nM"]
    assert "0.535 ug/mL" in published["pembrolizumab"]["target_engagement"]
    assert checkpoint_inhibitor("pembrolizumab").binding.ic50_ug_per_mL == pytest.approx(0.535)


@pytest.mark.parametrize("name", CHECKPOINT_INHIBITORS)
def test_terminal_half_life_agrees_with_label(name):
    """Terminal half-life of the two-compartment model, ln2/beta, with
    beta = (k10+k12+k21 - sqrt((k10+k12+k21)^2 - 4 k10 k21)) / 2 (Gibaldi and Perrier), against the
    label half-life (Keytruda 22 d, Opdivo 25 d, Tecentriq 27 d, Bavencio 6.1 d, Imfinzi 18 d, Yervoy
    15.4 d). Clearance at steady state (after the time-varying decrease). Tolerance 30 %: typical values
    against label means; this catches unit slips (L/h for L/d) and swapped volumes."""
    pk = checkpoint_inhibitor(name).pk
    clearance = pk.clearance_L_per_day
    if pk.time_varying_clearance is not None:
        clearance *= math.exp(pk.time_varying_clearance.emax)
    k10 = clearance / pk.central_volume_L
    k12 = pk.intercompartmental_clearance_L_per_day / pk.central_volume_L
    k21 = pk.intercompartmental_clearance_L_per_day / pk.peripheral_volume_L
    total = k10 + k12 + k21
    beta = (total - math.sqrt(total**2 - 4 * k10 * k21)) / 2
    assert math.log(2) / beta == pytest.approx(pk.label_half_life_days, rel=0.30)


@pytest.mark.parametrize("name, kDa", [("pembrolizumab", 149), ("nivolumab", 146), ("atezolizumab", 145),
                                       ("avelumab", 147), ("durvalumab", 146), ("ipilimumab", 148)])
def test_molecular_weight(name, kDa):
    # prescribing information of each antibody (Keytruda 149, Opdivo 146, Tecentriq 145, Bavencio 147,
    # Imfinzi 146, Yervoy 148 kDa); an IgG is about 145-150 kDa
    inhibitor = checkpoint_inhibitor(name)
    assert inhibitor.molecular_weight_kDa == pytest.approx(kDa, abs=0.5)
    assert "prescribing information" in inhibitor.molecular_weight_source


@pytest.mark.parametrize("name, dose, interval_days", [
    # prescribing information: Keytruda 200 mg q3w, 400 mg q6w, 2 mg/kg q3w; Opdivo 240 mg q2w, 480 mg q4w;
    # Tecentriq 840 mg q2w, 1200 mg q3w, 1680 mg q4w; Bavencio 800 mg q2w; Imfinzi 1500 mg q4w, 10 mg/kg q2w;
    # Yervoy 3 mg/kg q3w
    ("pembrolizumab", "200 mg", 21), ("pembrolizumab", "400 mg", 42), ("pembrolizumab", "2 mg/kg", 21),
    ("nivolumab", "240 mg", 14), ("nivolumab", "480 mg", 28), ("atezolizumab", "840 mg", 14),
    ("atezolizumab", "1200 mg", 21), ("atezolizumab", "1680 mg", 28), ("avelumab", "800 mg", 14),
    ("durvalumab", "1500 mg", 28), ("durvalumab", "10 mg/kg", 14), ("ipilimumab", "3 mg/kg", 21),
])
def test_approved_dosing(name, dose, interval_days):
    schedules = {(item.dose, item.interval_days) for item in checkpoint_inhibitor(name).approved_dosing}
    assert (dose, interval_days) in schedules


def test_targets():
    targets = {name: inhibitor.target for name, inhibitor in checkpoint_inhibitors().items()}
    assert targets == {"pembrolizumab": "PD-1", "nivolumab": "PD-1", "atezolizumab": "PD-L1", "avelumab": "PD-L1",
                       "durvalumab": "PD-L1", "ipilimumab": "CTLA-4"}


# --- models ----------------------------------------------------------------------------------------

def test_models_are_frozen():
    with pytest.raises(pydantic.ValidationError):
        radiopharmaceutical("Pluvicto").nuclide = "Y-90"
    with pytest.raises(pydantic.ValidationError):
        checkpoint_inhibitor("nivolumab").pk.clearance_L_per_day = 1.0


def test_unknown_field_in_data_rejected():
    fields = dict(clearance_L_per_day=0.2, central_volume_L=3, intercompartmental_clearance_L_per_day=0.5,
                  peripheral_volume_L=3, source="test")
    AntibodyPK(**fields)
    with pytest.raises(pydantic.ValidationError):
        AntibodyPK(**fields, clearance_L_per_hour=0.01)
    with pytest.raises(pydantic.ValidationError):
        AntibodyPK(**{**fields, "clearance_L_per_day": -0.2})


def test_regimen_with_wrong_unit_rejected():
    with pytest.raises((pydantic.ValidationError, InputError)):
        catalogue.TypicalRegimen(activity="7.4 mg")


def test_summaries_are_json():
    for item in [*radiopharmaceuticals().values(), *checkpoint_inhibitors().values()]:
        summary = item.summary()
        assert json.loads(json.dumps(summary)) == summary
        assert summary["name"] == item.name and summary["kind"] == item.kind
    assert checkpoint_inhibitor("nivolumab").summary()["pk"]["time_varying_clearance"]["t50_days"] == 58.75


def test_catalogue_does_not_import_physics():
    # the data layer stays below physics (DESIGN.md layers): catalogue.py keeps nuclides as names
    tree = ast.parse(Path(catalogue.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not any("physics" in module for module in imported), imported


def test_pembrolizumab_weight_scaling():
    # Ahamadi et al. 2017: body-weight exponents 0.595 on CL and Q, 0.489 on V1 and V2 (reference weight 76.8 kg)
    pk = checkpoint_inhibitor("pembrolizumab").pk
    assert (pk.clearance_weight_exponent, pk.volume_weight_exponent) == pytest.approx((0.595, 0.489))
    assert pk.reference_weight_kg == pytest.approx(76.8)


def test_every_checkpoint_antibody_has_binding_and_ipilimumab_weight_scaling():
    # the occupancy model needs KD or IC50 for each antibody; ipilimumab body-weight exponents
    # 0.642 on CL and 0.708 on V1 at a reference of 80 kg (Feng et al. 2014 Br J Clin Pharmacol 78:106, Table 2)
    for name in CHECKPOINT_INHIBITORS:
        binding = checkpoint_inhibitor(name).binding
        assert binding.affinity_nM is not None or binding.ic50_ug_per_mL is not None, name
    pk = checkpoint_inhibitor("ipilimumab").pk
    assert (pk.clearance_weight_exponent, pk.volume_weight_exponent) == pytest.approx((0.642, 0.708))
    assert pk.reference_weight_kg == pytest.approx(80.0)
