"""The model table is the one definition of the tumour–immune model: indices, units and switches come from it,
and a new mechanism (one state, two parameters, a switch, an observable) needs the table and the equations only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from rptici.immunity import (GLOBAL_PARAMETERS, PARAMETER_UNITS, SWITCHES, TABLE, Observable, Parameter, State, Switch,
                             TumourImmuneModel, load_parameters)
from rptici.immunity import equations, table
from rptici.immunity.equations import equations_for
from rptici.immunity.model import MODEL
from rptici.kinetics import Regimen
from rptici.simulation.engine import simulate

numba = pytest.importorskip("numba")

# --- the toy mechanism: a systemic signal produced by the effector pool and cleared at a first-order rate ----
TOY_TABLE = TABLE.extended(
    states=(State("toy_signal", "1", "toy: a signal produced by blood effectors"),),
    parameters=(Parameter("toy_production", "1/day", "toy", file=False, default=0.3),
                Parameter("toy_clearance", "1/day", "toy", file=False, default=0.1),
                Switch("toy", "toy signal production")),
    observables=(Observable("toy_signal", "1", state="toy_signal"),),
)
_TOY = TOY_TABLE.constants
S_TOY_SIGNAL, S_EFFECTOR_BLOOD = _TOY["S_TOY_SIGNAL"], _TOY["S_EFFECTOR_BLOOD"]
P_TOY_PRODUCTION, P_TOY_CLEARANCE, P_SWITCH_TOY = _TOY["P_TOY_PRODUCTION"], _TOY["P_TOY_CLEARANCE"], _TOY["P_SWITCH_TOY"]
_BASE = equations_for(TOY_TABLE)  # the model's equations compiled against the extended table


@numba.njit
def toy_rhs(t, y, p, dydt):
    """The model's equations plus the toy term z' = s a E − b z."""
    _BASE(t, y, p, dydt)
    dydt[S_TOY_SIGNAL] = (p[P_SWITCH_TOY] * p[P_TOY_PRODUCTION] * y[S_EFFECTOR_BLOOD]
                          - p[P_TOY_CLEARANCE] * y[S_TOY_SIGNAL])


TOY = TumourImmuneModel(TOY_TABLE, toy_rhs)
ICI_ONLY = Regimen.model_validate({"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks",
                                           "infusions": 4}})
PATIENTS = {"lesion_volumes_mL": np.array([[12.0, 3.0], [40.0, np.nan], [5.0, 9.0]]),
            "infiltration": np.array([0.2, 0.6, 1.0]), "psa": np.array([10.0, 40.0, 3.0])}
TIMES = np.arange(0.0, 85.0, 7.0)


def test_generated_tables_match_the_table():
    """Indices, units and switches are generated from TABLE, in its order."""
    assert table.S_ANTIGEN == 0 and table.L_VIABLE == 0 and table.Q_PRESENT == 0
    assert GLOBAL_PARAMETERS.index("switch_growth") == table.P_SWITCH_GROWTH == 4
    assert table.P_ANTIBODY_HALF_OCCUPANCY - table.P_ANTIBODY_CLEARANCE == table.PK_HALF_OCCUPANCY == 7
    assert {"mitotic_death", "site_selective_uptake", "priming_saturation", "occult_disease",
            "immune_escape"} <= set(SWITCHES)
    assert len(SWITCHES) == 26
    assert PARAMETER_UNITS["kill_rate"] == "1/day" and "doomed_death_rate" not in PARAMETER_UNITS
    assert equations.S_MARROW_REPAIR_RESIDUAL == TABLE.systemic_states.index("marrow_repair_residual")
    # every parameter file defines exactly the table's file parameters (the loader checks both ways)
    assert set(load_parameters("mouse").values) == set(PARAMETER_UNITS) | {f"switch_{name}" for name in SWITCHES}


def test_the_extended_table_keeps_every_existing_index_but_the_lesion_blocks():
    base, toy = TABLE.constants, TOY_TABLE.constants
    assert all(toy[name] == value for name, value in base.items() if not name.startswith("N_"))
    assert toy["N_SYSTEMIC_STATES"] == base["N_SYSTEMIC_STATES"] + 1
    assert toy["N_GLOBAL_PARAMETERS"] == base["N_GLOBAL_PARAMETERS"] + 3
    assert TOY.layout(2, 4).lesion_start(0) == MODEL.layout(2, 4).lesion_start(0) + 1


def test_a_toy_mechanism_runs_through_the_engine_and_matches_its_closed_form():
    """Without RPT no cell dies, so no antigen, no priming and the effector pool stays at its baseline 1: the
    toy signal is z(t) = a/b (1 − e^{−bt}) (linear ODE z' = a − bz, z(0) = 0), with a = 0.3/d, b = 0.1/d."""
    result = simulate(ICI_ONLY, PATIENTS, TIMES, organs=(), outputs=("toy_signal", "effector_blood", "volume"),
                      model=TOY, output_dtype=np.float64)
    assert np.all(result.success)
    np.testing.assert_allclose(result["effector_blood"], 1.0, rtol=0, atol=1e-12)
    expected = 0.3 / 0.1 * (1.0 - np.exp(-0.1 * TIMES))
    np.testing.assert_allclose(result["toy_signal"], np.broadcast_to(expected, (3, TIMES.size)), rtol=1e-5, atol=1e-9)
    assert result["toy_signal"][0, -1] == pytest.approx(3.0 * (1.0 - math.exp(-8.4)), rel=1e-5)
    # the rest of the model is unchanged by the new mechanism
    base = simulate(ICI_ONLY, PATIENTS, TIMES, organs=(), outputs=("volume",), output_dtype=np.float64)
    np.testing.assert_allclose(result["volume"], base["volume"], rtol=1e-5)


def test_the_toy_switch_removes_its_term():
    parameters = load_parameters("human")
    off = dataclasses.replace(parameters, values={**parameters.values, "switch_toy": 0.0})
    result = simulate(ICI_ONLY, PATIENTS, TIMES[:4], parameters=off, organs=(), outputs=("toy_signal",), model=TOY)
    np.testing.assert_array_equal(result["toy_signal"], 0.0)
