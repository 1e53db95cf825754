"""Survival curves for the cohort models, as functions of time in years.

Three sources: a virtual trial's per-patient times (Kaplan–Meier within follow-up, a Weibull tail fitted to
the same patients beyond it), published parametric curves (exponential, Weibull, log-logistic; NICE DSU
TSD 14, Latimer 2011/2013, for the forms), and digitised points (log-linear interpolation, S(0) = 1, the last
hazard carried on). A curve is a plain callable ``S(times_years) -> array``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError, checked_array
from ..units import parse_positive

#: Days per year used for every time conversion in this package (Julian year).
DAYS_PER_YEAR = 365.25
Curve = Callable[[ArrayLike], NDArray[np.float64]]
DISTRIBUTIONS = ("exponential", "weibull", "loglogistic", "points")


def exponential(rate_per_year: float) -> Curve:
    """S(t) = exp(−λt)."""
    return lambda times: np.exp(-rate_per_year * np.asarray(times, dtype=float))


def weibull(shape: float, scale_years: float) -> Curve:
    """S(t) = exp(−(t/scale)^shape) (the parameterisation of R ``dweibull`` and lifelines)."""
    return lambda times: np.exp(-(np.asarray(times, dtype=float) / scale_years) ** shape)


def loglogistic(shape: float, scale_years: float) -> Curve:
    """S(t) = 1 / (1 + (t/scale)^shape); the median is ``scale``."""
    return lambda times: 1.0 / (1.0 + (np.asarray(times, dtype=float) / scale_years) ** shape)


def digitised(times_years: ArrayLike, survival: ArrayLike, field: str = "points") -> Curve:
    """A curve through digitised (t, S) points: log S interpolated linearly (piecewise-constant hazard),
    S(0) = 1, and the last segment's hazard carried beyond the last point."""
    times = checked_array(times_years, f"{field}.time")
    values = checked_array(survival, f"{field}.survival")
    if times.ndim != 1 or times.shape != values.shape or times.size < 2 or np.any(np.diff(times) <= 0):
        raise InputError(field, list(zip(times.tolist(), values.tolist())),
                         "at least two (time, survival) points with increasing times")
    if np.any(values <= 0) or np.any(values > 1) or np.any(np.diff(values) > 0):
        raise InputError(f"{field}.survival", values.tolist(), "non-increasing survival in (0, 1]")
    if times[0] > 0:
        times, values = np.concatenate([[0.0], times]), np.concatenate([[1.0], values])
    log_values = np.log(values)
    slope = (log_values[-1] - log_values[-2]) / (times[-1] - times[-2])

    def curve(query: ArrayLike) -> NDArray[np.float64]:
        points = np.asarray(query, dtype=float)
        inside = np.interp(points, times, log_values)
        beyond = log_values[-1] + slope * (points - times[-1])
        return np.exp(np.where(points > times[-1], beyond, inside))

    return curve


def _years(value: object, field: str) -> float:
    return parse_positive(value, "time", field) / DAYS_PER_YEAR


def curve_from_mapping(spec: Mapping[str, Any], field: str) -> Curve:
    """A published curve from a mapping: ``{distribution: weibull, shape: 1.2, scale: 14 months}``,
    ``{distribution: exponential, median: 11.3 months}``, ``{distribution: loglogistic, shape, scale}`` or
    ``{distribution: points, time: [...months...], unit: months, survival: [...]}``."""
    kind = spec.get("distribution")
    if kind not in DISTRIBUTIONS:
        raise InputError(f"{field}.distribution", kind, "one of " + ", ".join(DISTRIBUTIONS))
    if kind == "exponential":
        if "median" in spec:
            return exponential(np.log(2.0) / _years(spec["median"], f"{field}.median"))
        return exponential(1.0 / _years(spec.get("mean"), f"{field}.mean"))
    if kind == "points":
        unit = spec.get("unit", "months")
        scale = _years(f"1 {unit}", f"{field}.unit")
        return digitised(np.asarray(spec.get("time", []), dtype=float) * scale, spec.get("survival", []), field)
    shape = float(checked_array(spec.get("shape"), f"{field}.shape", positive=True))
    scale = _years(spec.get("scale"), f"{field}.scale")
    return weibull(shape, scale) if kind == "weibull" else loglogistic(shape, scale)


def trial_curve(times_days: ArrayLike, events: ArrayLike, field: str = "survival") -> Curve:
    """Kaplan–Meier of a trial arm within its follow-up, then a Weibull fitted to the same patients
    (lifelines ``WeibullFitter``, right-censored maximum likelihood) conditioned on survival at the cut:
    S(t) = S_KM(τ) · S_W(t) / S_W(τ) for t > τ, τ the last observed time (Latimer 2013, MDM 33:743)."""
    from lifelines import WeibullFitter

    from ..analysis.survival import kaplan_meier

    durations = np.asarray(times_days, dtype=float) / DAYS_PER_YEAR
    flags = np.asarray(events, dtype=bool)
    fit = kaplan_meier(durations, flags)
    cut = float(durations.max())
    survival_at_cut = float(fit.survival_at([cut])[0][0])
    if flags.sum() >= 2 and survival_at_cut > 0:
        weibull_fit = WeibullFitter().fit(np.maximum(durations, 1e-6), flags)
        tail = weibull(float(weibull_fit.rho_), float(weibull_fit.lambda_))
    else:  # too few events to fit: the average hazard over follow-up carried on (an assumption)
        rate = max(flags.sum(), 0.5) / max(durations.sum(), 1e-9)
        tail = exponential(rate)

    def curve(query: ArrayLike) -> NDArray[np.float64]:
        points = np.asarray(query, dtype=float)
        within = fit.survival_at(np.minimum(points, cut))[0]
        beyond = survival_at_cut * tail(points) / max(float(tail(cut)), 1e-300)
        return np.where(points > cut, beyond, within)

    return curve
