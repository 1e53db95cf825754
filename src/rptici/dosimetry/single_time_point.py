"""Single-time-point estimates of the time-integrated activity.

Both assume mono-exponential clearance after the measurement at time t (days) of activity A(t) (MBq).

* Hänscheid et al. 2018 (J Nucl Med 59:75): TIA ≈ A(t) · 2t / ln 2. It needs no half-life: the
  exact mono-exponential TIA is A(t) e^(λt)/λ, and the ratio of the two, 2x · 2^(−x) with
  x = t / T_eff, is 1 at x = 1 and x = 2 and at most 2/(e ln 2) ≈ 1.061 at x = 1/ln 2 ≈ 1.44;
  so for mono-exponential kinetics the estimate is within ±10 % for 0.76 T_eff ≤ t ≤ 2.44 T_eff
  (derived here from the formula; Hänscheid et al. recommend measuring near 1.5 T_eff, e.g. at 4 days
  for [177Lu]Lu-DOTATATE/-TOC kidneys and tumours).
* Madsen et al. 2018 (Med Phys 45:2318): TIA = A(t) · e^(λ_eff t) / λ_eff with λ_eff = ln 2 / T_eff
  from a population (or an earlier cycle of the same patient).

Results in MBq h.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import checked_array
from ..units import HOURS_PER_DAY



def _result(value: np.ndarray) -> float | np.ndarray:
    return float(value) if np.ndim(value) == 0 else value


def hanscheid_tia(activity: object, time: object) -> float | np.ndarray:
    """TIA ≈ A(t) · 2t / ln 2 (Hänscheid et al. 2018, J Nucl Med 59:75), in MBq h; ``time`` in days."""
    activity_array = checked_array(activity, "activity", allowed="a non-negative activity in MBq")
    time_array = checked_array(time, "time", positive=True, allowed="a positive time after administration in days")
    return _result(activity_array * 2.0 * time_array / math.log(2.0) * HOURS_PER_DAY)


def hanscheid_ratio(time: object, effective_half_life: object) -> float | np.ndarray:
    """Hänscheid estimate divided by the exact mono-exponential TIA: 2x · 2^(−x), x = t / T_eff."""
    time_array = checked_array(time, "time", positive=True, allowed="a positive time after administration in days")
    half_life = checked_array(effective_half_life, "effective_half_life", positive=True, allowed="a positive effective half-life in days")
    x = time_array / half_life
    return _result(2.0 * x * np.exp2(-x))


def madsen_tia(activity: object, time: object, effective_half_life: object) -> float | np.ndarray:
    """TIA = A(t) · e^(λ t) / λ with λ = ln 2 / T_eff (Madsen et al. 2018, Med Phys 45:2318), in MBq h.

    ``time`` and ``effective_half_life`` in days; the half-life is a population value for the agent
    and region (or the patient's own from a previous cycle).
    """
    activity_array = checked_array(activity, "activity", allowed="a non-negative activity in MBq")
    time_array = checked_array(time, "time", positive=True, allowed="a positive time after administration in days")
    half_life = checked_array(effective_half_life, "effective_half_life", positive=True, allowed="a positive effective half-life in days")
    constant = math.log(2.0) / half_life
    return _result(activity_array * np.exp(constant * time_array) / constant * HOURS_PER_DAY)
