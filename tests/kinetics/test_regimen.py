"""Treatment regimens: RPT cycles, ICI infusions, their sequence, and clear errors (rptici.kinetics.regimen)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from rptici.errors import InputError, UnknownNameError
from rptici.kinetics import IciSchedule, Regimen, RptSchedule, Sequence, load_regimen, simulate_antibody

THERAP_WITH_PEMBROLIZUMAB = """
rpt: {agent: "[177Lu]Lu-PSMA-617", activity: 8.5 GBq, activity_step: -0.5 GBq, interval: 6 weeks, cycles: 6}
ici: {agent: pembrolizumab, dose: 200 mg, interval: q3w, infusions: 35}
sequence: {order: concurrent}
"""


def test_therap_de_escalation_from_yaml():
    """TheraP (Hofman et al. 2021 Lancet 397:797) and PRINCE: 8.5 GBq, 0.5 GBq less each cycle, q6w x 6."""
    regimen = load_regimen(yaml.safe_load(THERAP_WITH_PEMBROLIZUMAB))
    times, activities = regimen.rpt_administrations(weight_kg=[70.0, 90.0])
    assert times == pytest.approx([0, 42, 84, 126, 168, 210])
    assert activities.shape == (6, 2)
    assert activities[:, 1] == pytest.approx([8500, 8000, 7500, 7000, 6500, 6000])
    starts, doses = regimen.ici_infusions(weight_kg=[70.0, 90.0])
    assert starts.size == 35 and starts[-1] == pytest.approx(34 * 21.0)
    assert np.all(doses == 200.0) and doses.shape == (35, 2)
    assert regimen.ici.infusion_days == pytest.approx(0.5 / 24)


def test_activity_per_kg_and_per_m2():
    """Xofigo 55 kBq/kg q4w x 6 (label); girentuximab 1.48 GBq/m2 (STARLITE 2)."""
    radium = Regimen(rpt={"agent": "Xofigo", "activity": "55 kBq/kg", "interval": "q4w", "cycles": 6})
    times, activities = radium.rpt_administrations(weight_kg=np.array([60.0, 80.0]))
    assert times[-1] == pytest.approx(140.0)
    assert activities[0] == pytest.approx([3.3, 4.4])
    girentuximab = RptSchedule(agent="TLX250", activity="1.48 GBq/m2", cycles=1)
    assert girentuximab.administrations(bsa_m2=[1.9])[1][0, 0] == pytest.approx(2812.0)
    with pytest.raises(InputError) as error:
        radium.rpt_administrations()
    assert error.value.field == "weight_kg"


def test_weight_based_dose_and_treatment_duration():
    """Pembrolizumab 2 mg/kg q3w for 2 years is 35 infusions (KEYNOTE trials: up to 35 cycles)."""
    schedule = IciSchedule(agent="Keytruda", dose="2 mg/kg", interval="q3w", duration="2 years")
    assert schedule.count == 35
    starts, doses = schedule.infusions_for([50.0, 100.0])
    assert doses[0] == pytest.approx([100.0, 200.0])


@pytest.mark.parametrize("sequence, rpt_start, ici_start", [
    ({"order": "concurrent"}, 0.0, 0.0),
    ({"order": "ici_first", "lead": "2 weeks"}, 14.0, 0.0),
    ({"order": "rpt_first", "lag": "4 weeks"}, 0.0, 28.0),
])
def test_sequence_offsets(sequence, rpt_start, ici_start):
    mapping = yaml.safe_load(THERAP_WITH_PEMBROLIZUMAB) | {"sequence": sequence}
    regimen = load_regimen(mapping)
    assert regimen.rpt_administrations()[0][0] == pytest.approx(rpt_start)
    assert regimen.ici_infusions()[0][0] == pytest.approx(ici_start)


def test_regimen_concentration_uses_its_infusions():
    regimen = load_regimen(yaml.safe_load(THERAP_WITH_PEMBROLIZUMAB) | {"sequence": {"order": "rpt_first", "lag": "1 week"}})
    times = np.array([5.0, 10.0, 30.0])
    expected = simulate_antibody("pembrolizumab", 7.0 + 21.0 * np.arange(35), 200.0, 75.0, times,
                                 infusion_days=0.5 / 24)
    assert regimen.ici_concentration(times, 75.0) == pytest.approx(expected)
    assert regimen.ici_concentration(times, 75.0)[0, 0] == 0.0
    assert 0.95 < regimen.ici_occupancy(times, 75.0)[-1, 0] < 1.0


RPT = {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "q6w", "cycles": 6}
ICI = {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 35}


@pytest.mark.parametrize("change, field", [
    ({"rpt": RPT | {"activity": "7.4 Gy"}}, "rpt.activity"),                  # wrong dimension
    ({"rpt": RPT | {"activity": "-7.4 GBq"}}, "rpt.activity"),                 # negative
    ({"rpt": RPT | {"activity": "0 MBq"}}, "rpt.activity"),                    # zero
    ({"rpt": RPT | {"interval": "-6 weeks"}}, "rpt.interval"),                 # negative interval
    ({"rpt": RPT | {"cycles": 0}}, "rpt.cycles"),                              # cycles < 1
    ({"rpt": RPT | {"cycles": 2.5}}, "rpt.cycles"),
    ({"rpt": {k: v for k, v in RPT.items() if k != "interval"}}, "rpt.interval"),
    ({"rpt": RPT | {"activity_step": "-1.5 GBq"}}, "rpt.activity_step"),       # cycle 6 would be negative
    ({"rpt": RPT | {"activity_step": "-1 kBq/kg"}}, "rpt.activity_step"),      # not the activity's dimension
    ({"rpt": RPT | {"agent": "Plutonium-PSMA"}}, "rpt.agent"),                 # unknown agent
    ({"ici": ICI | {"agent": "pembrolizumabb"}}, "ici.agent"),
    ({"ici": ICI | {"dose": "200 GBq"}}, "ici.dose"),
    ({"ici": ICI | {"dose": "-2 mg/kg"}}, "ici.dose"),
    ({"ici": ICI | {"interval": "20 min"}}, "ici.interval"),                   # shorter than the infusion
    ({"ici": ICI | {"interval": "q3w", "infusion_time": "4 weeks"}}, "ici.interval"),
    ({"ici": ICI | {"duration": "1 year"}}, "ici.infusions"),                  # both count and duration
    ({"ici": ICI | {"infusions": 0}}, "ici.infusions"),
    ({"ici": ICI | {"colour": "blue"}}, "ici.colour"),
    ({"sequence": {"order": "sideways"}}, "sequence.order"),
    ({"sequence": {"order": "ici_first"}}, "sequence.lead"),
    ({"sequence": {"order": "rpt_first", "lag": "-4 weeks"}}, "sequence.lag"),
    ({"sequence": {"order": "concurrent", "lag": "4 weeks"}}, "sequence.lag"),
])
def test_bad_regimen_names_the_field(change, field):
    mapping = {"rpt": RPT, "ici": ICI} | change
    with pytest.raises(InputError) as error:
        load_regimen(mapping)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: got ")


def test_unknown_agent_is_the_catalogue_error():
    with pytest.raises(UnknownNameError):
        load_regimen({"rpt": RPT | {"agent": "Lutetium-Unobtainium"}})
    with pytest.raises(UnknownNameError):
        IciSchedule(agent="nivo-lumab-x", dose="240 mg", interval="q2w", infusions=3)


def test_regimen_needs_a_treatment_and_both_for_an_order():
    with pytest.raises(InputError) as error:
        Regimen()
    assert error.value.field == "rpt"
    with pytest.raises(InputError) as error:
        Regimen(rpt=RPT, sequence=Sequence(order="ici_first", lead="1 week"))
    assert error.value.field == "sequence.order"
    with pytest.raises(InputError) as error:
        load_regimen(["not", "a", "mapping"])
    assert error.value.field == "regimen"


@pytest.mark.parametrize("text, expected", [("rpt: [unclosed\n", "valid YAML"), ("- just\n- a list\n", "YAML file holding")])
def test_malformed_scenario_files_are_clear_errors(tmp_path, text, expected):
    from rptici.simulation.scenario import load_simulation_scenario
    from rptici.trials.scenario import load_trial_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for load, field in ((load_regimen, "regimen"), (load_trial_scenario, "scenario"),
                        (load_simulation_scenario, "scenario")):
        with pytest.raises(InputError, match=expected) as caught:
            load(path)
        assert caught.value.field == field


def test_activity_factor_reduces_each_cycle_by_a_share():
    # STARLITE 2 (Feldman et al. 2022 J Clin Oncol 40(16 suppl):TPS4603): each later Lu-girentuximab dose is 75 % of
    # the one before: 1804, 1353, 1014.75 MBq/m2 (exact arithmetic, tolerance 1e-9 relative)
    schedule = RptSchedule(agent="[177Lu]Lu-girentuximab", activity="1804 MBq/m2", activity_factor=0.75,
                           interval="12 weeks", cycles=3)
    assert schedule.cycle_activities() == pytest.approx([1804.0, 1353.0, 1014.75], rel=1e-9)
    with pytest.raises(InputError, match="activity_factor"):
        RptSchedule(agent="[177Lu]Lu-girentuximab", activity="1.8 GBq/m2", activity_factor=0.75,
                    activity_step="-0.2 GBq/m2", interval="12 weeks", cycles=3)
    with pytest.raises(InputError, match="activity_factor"):
        RptSchedule(agent="[177Lu]Lu-girentuximab", activity="1.8 GBq/m2", activity_factor=0.0, cycles=1)
