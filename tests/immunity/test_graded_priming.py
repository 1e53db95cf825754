"""Graded immune priming (issue 13 item 3): the dendritic-cell signal scales smoothly with the antigen released.

Mechanism checks: with ``switch_priming_saturation`` off the signal is monotone and smooth in the antigen, with no
saturation at one Lu-PSMA-617 cycle's antigen; with it on (today's default) it saturates there. One cycle's
antigen: a 7.4 GBq cycle kills a median 18 mL of tumour in the mcrpc population, dying over 5–18 days with
antigen cleared at 0.5/day (data/immunity_human.yaml), i.e. 2–7 mL of antigen (docs/model.md, "Graded priming").
"""

from __future__ import annotations

import numpy as np
import pytest

from rptici.immunity import load_parameters
from rptici.immunity.equations import dendritic_signal
from rptici.immunity.table import GLOBAL_PARAMETERS

#: Antigen (mL) of one 7.4 GBq Lu-PSMA-617 cycle, the middle of 2–7 mL (module docstring).
ONE_CYCLE_ANTIGEN = 5.0


def parameter_vector(saturation: float) -> np.ndarray:
    """The global parameter block of the human set, with ``switch_priming_saturation`` set."""
    values = load_parameters("human", {"switch_priming_saturation": saturation}).values
    return np.array([values.get(name, 0.0) for name in GLOBAL_PARAMETERS], dtype=float)


def signal(antigen: np.ndarray, saturation: float) -> np.ndarray:
    p = parameter_vector(saturation)
    return np.array([dendritic_signal(float(value), p) for value in antigen])


def test_graded_signal_is_monotone_and_smooth_through_one_cycle():
    antigen = np.linspace(0.0, 10 * ONE_CYCLE_ANTIGEN, 2001)
    values = signal(antigen, 0.0)
    slopes = np.diff(values) / np.diff(antigen)
    assert np.all(slopes > 0)                                   # monotone
    assert np.max(np.abs(np.diff(slopes))) < 0.01 * slopes[0]   # no jump or kink anywhere (smooth)
    one, two = signal(np.array([ONE_CYCLE_ANTIGEN, 2 * ONE_CYCLE_ANTIGEN]), 0.0)
    assert two / one > 1.8                                      # two cycles' antigen nearly doubles it


def test_former_saturating_signal_saturates_at_one_cycle():
    one, two = signal(np.array([ONE_CYCLE_ANTIGEN, 2 * ONE_CYCLE_ANTIGEN]), 1.0)
    assert two / one < 1.1


def test_graded_signal_size_is_the_priming_strength():
    values = load_parameters("human").values
    assert values["switch_priming_saturation"] == 0.0           # graded priming is the model (issue 13)
    low, high = 0.01, 1.0                                       # the prior's bounds (model table)
    assert values["priming_strength"] == pytest.approx(np.sqrt(low * high))  # centred (log scale) on weak
    p = parameter_vector(0.0)
    assert dendritic_signal(1e6, p) == pytest.approx(values["priming_strength"], rel=1e-3)

