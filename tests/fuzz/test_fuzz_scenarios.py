"""Property-based fuzz of the scenario schemas (issue 19, item 11): regimen, dose, simulation and trial scenarios,
given as mappings and as YAML files (also binary and malformed ones). Each mutated example either loads, and then
what the pipeline derives from it before any simulation (administrations, infusions, arm counts, schedules, the
calibration) works or is refused, or it is refused with one clean InputError line. No simulation runs here.

The fuzz that found the crashes of issue 19 (8,000 inputs, 53 crashes from 5 root causes: bare float()/int() in the
simulation scenario, unvalidated prescribed_rpt entries, OverflowError for cycles: .inf, TypeError for a non-string
key inside rpt/ici/sequence, 10**20 target uptake, a binary scenario file) is what these tests repeat.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fuzz_inputs import example, fuzz_settings, loads_or_refuses, mutated, values, yaml_text
from rptici.api import load_scenario
from rptici.kinetics.regimen import Regimen
from rptici.radiobiology.regimen_dose import DoseScenario
from rptici.simulation.scenario import SimulationScenario, load_simulation_scenario
from rptici.trials.scenario import TrialScenario, load_calibration, parse_schedule

DOSE_EXAMPLES = [example(f"scenarios/{name}.yaml") for name in
                 ("pluvicto", "pluvicto_pembrolizumab", "lutathera_nivolumab", "xofigo_atezolizumab")]
SIMULATION_EXAMPLES = [example("simulate/mouse_nm600_like.yaml"), example("simulate/pluvicto_pembrolizumab_patient.yaml"),
                       {"kind": "simulation", "population": "mcrpc", "patients": 3, "seed": 2, "days": "90 d",
                        "regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks",
                                            "cycles": 2}}, "switches": {"sting": False},
                        "parameters": {"kill_rate": 0.05}}]
TRIAL_EXAMPLES = [example(f"trials/{name}.yaml") for name in ("prince_like", "netter1_like", "standard")]
REGIMEN_EXAMPLES = [
    example("scenarios/pluvicto_pembrolizumab.yaml")["regimen"],
    {"rpt": {"agent": "Xofigo", "activity": "55 kBq/kg", "interval": "4 weeks", "cycles": 6, "start": "1 week"},
     "ici": [{"agent": "nivolumab", "dose": "1 mg/kg", "interval": "q3w", "infusions": 4},
             {"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "q3w", "infusions": 4},
             {"agent": "nivolumab", "dose": "480 mg", "interval": "q4w", "start": "12 weeks", "duration": "2 years"}],
     "sequence": {"order": "rpt_first", "lag": "2 weeks"}},
    {"rpt": {"agent": "TLX250", "activity": "1.48 GBq/m2"}, "ici": {"agent": "atezolizumab", "dose": "1200 mg",
     "interval": "q3w", "infusions": 8, "infusion_time": "60 min"}, "sequence": {"order": "ici_first", "lead": "2 weeks"}},
]


def use_regimen(regimen: Regimen) -> None:
    """What the engine asks of a regimen before it integrates anything."""
    weights, areas = np.array([50.0, 80.0]), np.array([1.6, 2.0])
    regimen.rpt_administrations(weights, areas)
    regimen.ici_infusions(weights)
    regimen.ici_infusion_agents()
    regimen.ici_agents()


def use_trial(scenario: TrialScenario) -> None:
    scenario.arm_counts()
    scenario.control_arm
    for arm in scenario.arms:
        use_regimen(arm.load_regimen())
    parse_schedule(scenario.assessments, scenario.follow_up_days)
    scenario.treatment.confirmation_days
    scenario.treatment.ici_max_days
    load_calibration(scenario.calibration)


def use_simulation(scenario: SimulationScenario) -> None:
    scenario.overrides
    if scenario.regimen is not None:
        use_regimen(scenario.regimen)
    if scenario.patient is not None:
        scenario.patient.engine_patients(2)
        scenario.patient.kinetic_covariates()


@fuzz_settings(1500)
@given(document=st.sampled_from(REGIMEN_EXAMPLES).flatmap(mutated))
def test_fuzzed_regimens_load_or_are_refused_cleanly(document):
    regimen = loads_or_refuses(lambda: load_scenario(document, "regimen"))
    if regimen is not None:
        loads_or_refuses(lambda: use_regimen(regimen))


@fuzz_settings(1500)
@given(document=st.sampled_from(DOSE_EXAMPLES).flatmap(mutated))
def test_fuzzed_dose_scenarios_load_or_are_refused_cleanly(document):
    scenario = loads_or_refuses(lambda: load_scenario(document, "dose"))
    if scenario is not None:
        assert isinstance(scenario, DoseScenario)
        loads_or_refuses(lambda: use_regimen(scenario.regimen))
        loads_or_refuses(lambda: scenario.patient.kinetic_covariates())


@fuzz_settings(2000)
@given(document=st.sampled_from(SIMULATION_EXAMPLES).flatmap(mutated),
       patients=st.one_of(st.none(), st.integers(-2, 10**12)), seed=st.one_of(st.none(), st.integers(-2, 2**70)),
       days=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_fuzzed_simulation_scenarios_load_or_are_refused_cleanly(document, patients, seed, days):
    scenario = loads_or_refuses(lambda: load_simulation_scenario(document, patients, seed, days))
    if scenario is not None:
        loads_or_refuses(lambda: use_simulation(scenario))


@fuzz_settings(2000)
@given(document=st.sampled_from(TRIAL_EXAMPLES).flatmap(mutated))
def test_fuzzed_trial_scenarios_load_or_are_refused_cleanly(document):
    scenario = loads_or_refuses(lambda: load_scenario(document))
    if scenario is not None and isinstance(scenario, TrialScenario):
        loads_or_refuses(lambda: use_trial(scenario))


ALL_EXAMPLES = DOSE_EXAMPLES + SIMULATION_EXAMPLES + TRIAL_EXAMPLES + REGIMEN_EXAMPLES


@fuzz_settings(600)
@given(content=st.one_of(st.sampled_from(ALL_EXAMPLES).flatmap(mutated).map(lambda doc: yaml_text(doc).encode()),
                         values.map(lambda value: yaml_text(value).encode()),
                         st.binary(max_size=64),
                         st.sampled_from(ALL_EXAMPLES).map(yaml_text).flatmap(
                             lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut].encode())),
                         st.sampled_from([b"\xff\xfe\x00binary", b"\x00" * 8, b"a: [", b"{", b"!!python/object:os.system x",
                                          b"a: &x [*x]", b"[" * 500, b"- " * 300, "\ufeffkind: trial".encode()])),
       kind=st.sampled_from([None, "regimen", "dose", "simulation", "trial"]))
def test_fuzzed_scenario_files_load_or_are_refused_cleanly(tmp_path_factory, content, kind):
    path = tmp_path_factory.getbasetemp() / "fuzzed_scenario.yaml"
    path.write_bytes(content)
    scenario = loads_or_refuses(lambda: load_scenario(path, kind))
    if isinstance(scenario, TrialScenario):
        loads_or_refuses(lambda: use_trial(scenario))
    elif isinstance(scenario, SimulationScenario):
        loads_or_refuses(lambda: use_simulation(scenario))


def test_the_fuzzed_examples_are_valid_before_mutation():
    """Each base document loads: the mutations start from valid input, so they probe the checks one at a time."""
    for document in REGIMEN_EXAMPLES:
        use_regimen(load_scenario(document, "regimen"))
    for document in DOSE_EXAMPLES:
        load_scenario(document, "dose")
    for document in SIMULATION_EXAMPLES:
        use_simulation(load_scenario(document, "simulation"))
    for document in TRIAL_EXAMPLES:
        use_trial(load_scenario(document))
