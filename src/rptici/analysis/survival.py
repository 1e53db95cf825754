"""Survival analysis of virtual-trial results with lifelines: Kaplan–Meier, Cox hazard ratio, log-rank test.

Times are in whatever unit the caller passes (days from the simulation; ``rptici.trials.endpoints.to_months``
converts); events are booleans (True = event, False = censored).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError


def _durations(times: ArrayLike, events: ArrayLike, field: str = "times"
               ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    durations = np.asarray(times, dtype=float)
    flags = np.asarray(events)
    if durations.ndim != 1 or durations.size == 0:
        raise InputError(field, durations.shape, "a non-empty 1-D array of times")
    if flags.shape != durations.shape:
        raise InputError("events", flags.shape, f"one flag per time, shape {durations.shape}")
    if not np.all(np.isfinite(durations)) or np.any(durations < 0):
        raise InputError(field, "negative or non-finite time", "finite non-negative times (censor at end of follow-up)")
    if flags.dtype != bool and not np.all(np.isin(flags, (0, 1))):
        raise InputError("events", "value other than 0/1", "booleans or 0/1 (1 = event)")
    return durations, flags.astype(bool)


@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan–Meier step curve with pointwise 95 % CI and its median (the part shared by the per-patient and the
    counted estimates)."""

    label: str | None
    timeline: NDArray[np.float64]
    survival: NDArray[np.float64]
    survival_low: NDArray[np.float64]
    survival_high: NDArray[np.float64]
    median: float
    median_low: float
    median_high: float

    def _step(self, values: NDArray[np.float64], times: ArrayLike) -> NDArray[np.float64]:
        index = np.searchsorted(self.timeline, np.asarray(times, dtype=float), side="right") - 1
        return np.where(index >= 0, values[np.maximum(index, 0)], 1.0)

    def survival_at(self, times: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """S(t) with its 95 % CI at ``times`` (right-continuous step function)."""
        return (self._step(self.survival, times), self._step(self.survival_low, times),
                self._step(self.survival_high, times))


@dataclass(frozen=True)
class KaplanMeier(SurvivalCurve):
    """A Kaplan–Meier estimate (Kaplan & Meier 1958) with pointwise 95 % CI (lifelines: exponential Greenwood).

    ``median`` and its CI are NaN/inf when the curve (or its bound) does not reach 0.5 (lifelines returns inf).
    """

    durations: NDArray[np.float64]
    events: NDArray[np.bool_]

    def at_risk(self, times: ArrayLike) -> NDArray[np.int64]:
        """Numbers at risk: patients still observed (time ≥ t), as printed under a KM plot."""
        points = np.asarray(times, dtype=float)
        return np.sum(self.durations[:, None] >= np.atleast_1d(points)[None, :], axis=0).reshape(points.shape)


def kaplan_meier(times: ArrayLike, events: ArrayLike, label: str | None = None) -> KaplanMeier:
    """Kaplan–Meier curve, median and 95 % CIs via ``lifelines.KaplanMeierFitter``."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    durations, flags = _durations(times, events)
    fitter = KaplanMeierFitter(alpha=0.05).fit(durations, flags, label=label or "survival")
    bands = fitter.confidence_interval_survival_function_
    median_ci = median_survival_times(fitter.confidence_interval_)
    return KaplanMeier(
        label=label,
        timeline=fitter.survival_function_.index.to_numpy(dtype=float),
        survival=fitter.survival_function_.iloc[:, 0].to_numpy(dtype=float),
        survival_low=bands.iloc[:, 0].to_numpy(dtype=float),
        survival_high=bands.iloc[:, 1].to_numpy(dtype=float),
        median=float(fitter.median_survival_time_),
        median_low=float(median_ci.iloc[0, 0]),
        median_high=float(median_ci.iloc[0, 1]),
        durations=durations,
        events=flags,
    )


def cox_hazard_ratio(times: ArrayLike, events: ArrayLike, arm: ArrayLike, reference_arm: object
                     ) -> tuple[float, float, float, float]:
    """Hazard ratio of the other arm versus ``reference_arm`` with 95 % CI and Wald p (Cox 1972; lifelines).

    ``arm`` holds one arm label per patient and exactly two distinct labels.
    """
    from lifelines import CoxPHFitter

    durations, flags = _durations(times, events)
    labels = np.asarray(arm)
    if labels.shape != durations.shape:
        raise InputError("arm", labels.shape, f"one arm label per patient, shape {durations.shape}")
    distinct = list(dict.fromkeys(labels.tolist()))
    if len(distinct) != 2 or reference_arm not in distinct:
        raise InputError("arm", distinct, f"exactly two arms, one of them the reference {reference_arm!r}")
    frame = pd.DataFrame({"time": durations, "event": flags.astype(int),
                          "treatment": (labels != reference_arm).astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    row = fitter.summary.loc["treatment"]
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"]),
            float(row["p"]))


def logrank(times_a: ArrayLike, events_a: ArrayLike, times_b: ArrayLike, events_b: ArrayLike) -> tuple[float, float]:
    """Log-rank test of two groups (Mantel 1966; lifelines): (chi-squared statistic with 1 df, p-value)."""
    from lifelines.statistics import logrank_test

    durations_a, flags_a = _durations(times_a, events_a, "times_a")
    durations_b, flags_b = _durations(times_b, events_b, "times_b")
    result = logrank_test(durations_a, durations_b, event_observed_A=flags_a, event_observed_B=flags_b)
    return float(result.test_statistic), float(result.p_value)
