"""The scenario schema (rptici.kinetics.schema and the scenario kinds): every covariate is a quantity parsed by
pint into the internal unit, so a value can no longer be read in the wrong unit (issue 12: ``gfr: 1.5 mL/s``
was read as 1.5 mL/min and ``bsa: 19000 cm2`` as 19,000 m² by ``rptici simulate``)."""

from __future__ import annotations

import math

import pytest

from rptici.api import load_scenario, scenario_kind
from rptici.errors import InputError
from rptici.kinetics.schema import PatientSpec

REGIMEN = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}}
PRESCRIBED = [{"day": 0, "tumour_dose": "5 Gy", "effective_half_life": "2 d"}]

# field, a value in another unit, its internal value (unit conversions: SI definitions), a wrong dimension
CONVERSIONS = [
    ("weight", "80000 g", 80.0, "80 mL"),                      # kg
    ("bsa", "19000 cm2", 1.9, "1.9 kg"),                       # m²
    ("gfr", "1.5 mL/s", 90.0, "1.5 mL"),                       # mL/min
    ("lymphocytes", "1600 /uL", 1.6, "1.6 mg/L"),              # 10⁹/L
    ("psa", "0.04 ug/mL", 40.0, "40 mg"),                      # ng/mL
    ("alpha", "0.0015 /cGy", 0.15, "0.15 Gy"),                 # 1/Gy
    ("doubling_time", "4 weeks", 28.0, "28 mL"),               # d
    ("pdl1", "10 %", 0.1, "10 mL"),                            # fraction
    ("infiltration", "50 %", 0.5, "1 kg"),                     # dimensionless
    ("target_uptake", "150 %", 1.5, "1 Gy"),                   # dimensionless
    ("low_uptake_fraction", "20 %", 0.2, "1 d"),               # fraction
]
DIMENSIONED = ("weight", "bsa", "gfr", "lymphocytes", "psa", "alpha", "doubling_time")


def patient_error(**covariates) -> InputError:
    with pytest.raises(InputError) as caught:
        load_scenario({"regimen": REGIMEN, "patient": {"lesions": ["10 mL"], **covariates}, "days": 10})
    return caught.value


@pytest.mark.parametrize("name, value, expected, wrong", CONVERSIONS)
def test_each_covariate_converts_and_refuses_a_wrong_dimension(name, value, expected, wrong):
    assert getattr(PatientSpec.load({name: value}), name) == pytest.approx(expected, rel=1e-12)
    error = patient_error(**{name: wrong})
    assert error.field == f"patient.{name}" and error.value == wrong
    assert "\n" not in str(error)  # one readable line, not pydantic's report


@pytest.mark.parametrize("name", DIMENSIONED)
def test_a_dimensioned_covariate_needs_its_unit_and_a_known_unit(name):
    error = patient_error(**{name: 2.0})
    assert error.field == f"patient.{name}" and "unit" in error.allowed
    assert patient_error(**{name: "2 furlongz"}).field == f"patient.{name}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, "nan %", True])
def test_non_finite_negative_or_boolean_covariates_are_errors(value):
    assert patient_error(infiltration=value).field == "patient.infiltration"


def test_lesions_as_volume_mass_or_diameter():
    """Sphere of diameter 2.5 cm: π 2.5³ / 6 = 8.1812 mL; 0.02 kg at 1 g/mL: 20 mL; 1 cL = 10 mL."""
    assert PatientSpec.load({"lesions": ["25 mm", "0.02 kg", "1 cL"]}).lesions == pytest.approx(
        (math.pi * 2.5 ** 3 / 6, 20.0, 10.0))
    for lesions, field in (([10], "patient.lesions[0]"), (["10 mL", "5 Gy"], "patient.lesions[1]"),
                           (["-3 g"], "patient.lesions[0]"), ("10 mL", "patient.lesions")):
        assert patient_error(lesions=lesions).field == field


def test_the_unit_bug_is_gone_in_both_paths():
    """gfr 1.5 mL/s = 90 mL/min and bsa 19000 cm² = 1.9 m², in the simulation and in the dose scenario alike."""
    patient = {"gfr": "1.5 mL/s", "bsa": "19000 cm2", "lesions": ["20 g"]}
    simulation = load_scenario({"regimen": REGIMEN, "patient": patient, "days": 30})
    assert simulation.cohort["gfr_mL_per_min"][0] == pytest.approx(90.0)
    assert simulation.cohort["bsa_m2"][0] == pytest.approx(1.9)
    dose = load_scenario({"regimen": REGIMEN, "patient": patient})
    assert dose.covariates.gfr_mL_per_min[0] == pytest.approx(90.0)
    assert dose.covariates.bsa_m2[0] == pytest.approx(1.9)


@pytest.mark.parametrize("change, field", [
    ({"patients": 2.7}, "patients"),
    ({"patients": True}, "patients"),
    ({"patients": 0}, "patients"),
    ({"seed": -1}, "seed"),
    ({"prescribed_rpt": [{**PRESCRIBED[0], "tumour_dose": "-5 Gy"}]}, "prescribed_rpt[0].tumour_dose"),
    ({"prescribed_rpt": [{**PRESCRIBED[0], "tumor_dose": "5 Gy"}]}, "prescribed_rpt[0].tumor_dose"),
    ({"prescribed_rpt": [{**PRESCRIBED[0], "effective_half_life": "0 d"}]}, "prescribed_rpt[0].effective_half_life"),
    ({"antibody": [{"day": 0, "dose": "-1 mg"}]}, "antibody[0].dose"),
    ({"antibody": [{"day": 0, "dose": "1 mg", "route": "iv"}]}, "antibody[0].route"),
    ({"species": "rat"}, "species"),
    ({"population": "flu"}, "population"),
])
def test_bad_simulation_scenarios_name_the_field(change, field):
    scenario = {"prescribed_rpt": PRESCRIBED, "patient": {"lesions": ["1 mL"]}, **change}
    if "population" in change:
        scenario.pop("patient")
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    assert caught.value.field == field


@pytest.mark.parametrize("change, field", [
    ({"patients": 2.7}, "patients"),
    ({"patients": True}, "patients"),
    ({"regimen": {"rpt": {"agent": "Pluvicto", "activity": "-7.4 GBq"}}}, "regimen.rpt.activity"),
    ({"regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "dose": "1 mg"}}}, "regimen.rpt.dose"),
    ({"regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}, "ici": {"agent": "pembrolizumab",
                  "dose": "200 mg", "interval": "q3w", "infusions": 2, "rate": 1}}}, "regimen.ici.rate"),
    ({"spread": {"height": 0.1}}, "spread.height"),
    ({"spread": {"weight": 5.0}}, "spread.weight"),
])
def test_bad_dose_scenarios_name_the_field(change, field):
    with pytest.raises(InputError) as caught:
        load_scenario({"kind": "dose", "regimen": REGIMEN, "patient": {}, **change})
    assert caught.value.field == field


@pytest.mark.parametrize("change, field", [
    ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"),
    ({"patients": 2.7}, "patients"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"arms": [{"name": "a", "patients": True}]}, "arms[0].patients"),
    ({"arms": [{"name": "a", "patients": 3, "regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq",
                                                                "cycle": 2}}}]}, "arms[0].regimen.rpt.cycle"),
])
def test_bad_trial_scenarios_name_the_field(change, field):
    with pytest.raises(InputError) as caught:
        load_scenario({"disease": "mcrpc", "arms": [{"name": "a", "patients": 3}], **change})
    assert caught.value.field == field


@pytest.mark.parametrize("document, kind", [
    ({"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}}, "regimen"),
    ({"regimen": REGIMEN, "patient": {}, "patients": 3, "seed": 2}, "dose"),
    ({"regimen": REGIMEN, "patient": {"lesions": ["1 mL"]}, "days": 30}, "simulation"),
    ({"prescribed_rpt": PRESCRIBED, "patient": {"lesions": ["1 mL"]}}, "simulation"),
    ({"disease": "mcrpc", "arms": [{"name": "a"}], "patients": 4}, "trial"),
    ({"kind": "simulation", "regimen": REGIMEN, "patient": {"lesions": ["1 mL"]}}, "simulation"),
])
def test_one_loader_chooses_the_kind(document, kind):
    assert scenario_kind(document) == kind
    assert type(load_scenario(document)).__name__ == {"regimen": "Regimen", "dose": "DoseScenario",
                                                      "simulation": "SimulationScenario",
                                                      "trial": "TrialScenario"}[kind]


def test_an_unknown_kind_is_an_error():
    with pytest.raises(InputError, match="kind: got 'dosimetry'; expected one of regimen, dose, simulation, trial"):
        load_scenario({"kind": "dosimetry", "regimen": REGIMEN})


# --- issue 19, item 14: messages about a bool quantity and about a whole scenario --------------------------------
@pytest.mark.parametrize("field", ["activity", "activity_step"])
def test_a_bool_quantity_is_an_error_of_its_own_field(field):
    rpt = {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2, field: True}
    with pytest.raises(InputError) as caught:
        load_scenario({"kind": "dose", "regimen": {"rpt": rpt}, "patient": {"lesions": ["25 mm"]}})
    assert caught.value.field == f"regimen.rpt.{field}" and "not true/false" in str(caught.value)


def test_a_rule_about_the_whole_scenario_says_it_in_one_short_line():
    arm = {"regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 6}},
           "control": True}
    document = {"kind": "trial", "name": "two controls", "disease": "mcrpc", "patients": 10, "follow_up": "6 months",
                "arms": [{"name": "a", **arm}, {"name": "b", **arm}]}
    with pytest.raises(InputError) as caught:
        load_scenario(document)
    message = str(caught.value)
    assert message.startswith("trial scenario: got {") and message.endswith("expected at most one arm with control: true")
    assert "Value error" not in message and "\n" not in message and len(message) < 200
    assert caught.value.value == document  # the error keeps the whole value for a program


def test_an_allocation_ratio_error_has_no_pydantic_prefix():
    document = {"kind": "trial", "name": "x", "disease": "mcrpc", "patients": 10, "follow_up": "6 months",
                "arms": [{"name": "a", "regimen": None, "ratio": math.inf}, {"name": "b", "regimen": None}]}
    with pytest.raises(InputError, match=r"^arms\[0\]\.ratio: got inf; expected a positive allocation ratio$"):
        load_scenario(document)
