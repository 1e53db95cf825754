"""Time-integrated activity without a fitted model: trapezoid rule plus a tail after the last point.

The area has three parts (MIRD Pamphlet 16, Siegel et al. 1999, J Nucl Med 40:37S):

* start, from t = 0 to the first measurement: with ``start="zero"`` (default) the activity rises
  linearly from 0 at administration to the first measurement (suits uptake, slightly low for an
  organ already at its peak); ``"extrapolate"`` back-extrapolates the exponential through the first
  two points to t = 0 and joins it linearly to the first point; ``"constant"`` holds the first
  measurement back to t = 0;
* between measurements: the trapezoid rule (``interpolation="linear"``), or the exact area of an
  exponential through each decreasing pair (``"log"``, the log-trapezoid);
* tail after the last point: ``"physical"`` assumes only physical decay from then on,
  A_last / λ_phys (an upper bound when biological clearance continues); ``"terminal"`` uses the
  effective slope of the last points, A_last / λ_eff with λ_eff ≥ λ_phys; ``"none"`` stops at the last point.

Times in days, activities in MBq, result in MBq h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..units import HOURS_PER_DAY
from .tac import _resolve_decay_constant, validate_curve


@dataclass(frozen=True)
class TrapezoidTia:
    """The time-integrated activity (MBq h) by trapezoid plus tail, and its three parts (MBq h)."""

    tia: float
    start_area: float
    measured_area: float
    tail_area: float
    tail_decay_constant: float | None
    start: str
    tail: str

    def summary(self) -> dict[str, object]:
        return {"tia_MBq_h": self.tia, "start_area_MBq_h": self.start_area, "measured_area_MBq_h": self.measured_area,
                "tail_area_MBq_h": self.tail_area, "tail_decay_constant_per_day": self.tail_decay_constant,
                "start": self.start, "tail": self.tail}


def exponential_segment_area(t0: float | np.ndarray, t1: float | np.ndarray,
                             a0: float | np.ndarray, a1: float | np.ndarray) -> np.ndarray:
    """Area under the exponential through (t0, a0) and (t1, a1): (a0 − a1)(t1 − t0) / ln(a0/a1).

    Falls back to the linear trapezoid where the activities are equal or not both positive.
    """
    t0, t1, a0, a1 = (np.asarray(value, dtype=float) for value in (t0, t1, a0, a1))
    linear = 0.5 * (a0 + a1) * (t1 - t0)
    usable = (a0 > 0) & (a1 > 0) & (np.abs(a0 - a1) > 1e-12 * np.maximum(a0, a1))
    with np.errstate(divide="ignore", invalid="ignore"):
        logarithmic = (a0 - a1) * (t1 - t0) / np.log(np.where(usable, a0 / np.where(a1 > 0, a1, 1.0), 2.0))
    return np.where(usable, logarithmic, linear)


def terminal_slope(times: np.ndarray, activities: np.ndarray, points: int = 2) -> float | None:
    """Effective decay constant (1/d) of a log-linear fit to the last ``points`` measurements; None if not decreasing."""
    tail_times, tail_values = times[-points:], activities[-points:]
    if tail_times.size < 2 or np.any(tail_values <= 0):
        return None
    slope = -np.polyfit(tail_times, np.log(tail_values), 1)[0]
    return float(slope) if slope > 0 else None


def trapezoid_tia(times: object, activities: object, decay_constant: float | None = None, *,
                  nuclide: str | None = None, start: str = "zero", tail: str = "physical",
                  interpolation: str = "linear", tail_points: int = 2, region: str | None = None) -> TrapezoidTia:
    """Time-integrated activity (MBq h) from measured points: start area + trapezoids + tail.

    ``decay_constant`` is the physical decay constant (1/d), or give ``nuclide``; the ``"physical"`` tail
    needs one, and the ``"terminal"`` tail uses it as the lower bound of the fitted slope (and falls
    back to it when the last points do not decrease).
    """
    times_array, activities_array = validate_curve(times, activities, region)
    physical = _resolve_decay_constant(decay_constant, nuclide)
    if start not in ("zero", "extrapolate", "constant"):
        raise InputError("start", start, "'zero', 'extrapolate' or 'constant'")
    if tail not in ("physical", "terminal", "none"):
        raise InputError("tail", tail, "'physical', 'terminal' or 'none'")
    if interpolation not in ("linear", "log"):
        raise InputError("interpolation", interpolation, "'linear' or 'log'")
    if not isinstance(tail_points, (int, np.integer)) or tail_points < 2:
        raise InputError("tail_points", tail_points, "an integer of at least 2")

    first_time, first_activity = times_array[0], activities_array[0]
    if start == "zero":
        start_area = 0.5 * first_activity * first_time
    elif start == "constant":
        start_area = first_activity * first_time
    else:
        if times_array.size < 2:
            raise InputError("start", start, "'zero' or 'constant' when there is a single measurement")
        a0, a1 = activities_array[0], activities_array[1]
        if a0 > 0 and a1 > 0:
            slope = math.log(a0 / a1) / (times_array[1] - first_time)
            extrapolated = a0 * math.exp(slope * first_time)
        else:
            extrapolated = a0
        start_area = 0.5 * (extrapolated + first_activity) * first_time

    t0, t1 = times_array[:-1], times_array[1:]
    a0, a1 = activities_array[:-1], activities_array[1:]
    if interpolation == "log":
        segments = np.where(a1 < a0, exponential_segment_area(t0, t1, a0, a1), 0.5 * (a0 + a1) * (t1 - t0))
    else:
        segments = 0.5 * (a0 + a1) * (t1 - t0)
    measured_area = float(np.sum(segments))

    tail_constant: float | None = None
    if tail == "physical":
        if physical is None:
            raise InputError("decay_constant", decay_constant, "the physical decay constant (1/d) or a nuclide "
                                                               "for the physical-decay tail")
        tail_constant = physical
    elif tail == "terminal":
        slope = terminal_slope(times_array, activities_array, tail_points)
        candidates = [value for value in (slope, physical) if value is not None]
        if not candidates:
            raise InputError("tail", tail, "'physical' with a decay constant, or decreasing last points")
        tail_constant = max(candidates)
    tail_area = activities_array[-1] / tail_constant if tail_constant else 0.0

    total = (start_area + measured_area + tail_area) * HOURS_PER_DAY
    return TrapezoidTia(tia=float(total), start_area=float(start_area * HOURS_PER_DAY),
                        measured_area=measured_area * HOURS_PER_DAY, tail_area=float(tail_area * HOURS_PER_DAY),
                        tail_decay_constant=tail_constant, start=start, tail=tail)
