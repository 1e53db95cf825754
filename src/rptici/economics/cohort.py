"""Cohort models: a partitioned-survival model and a three-state Markov (state-transition) model.

States: progression-free (PF), progressed (PD), dead. Both models give a cohort *trace*: state occupancy at
the cycle boundaries t_k = k·c (k = 0…n), and the progressions and deaths within each cycle.

* Partitioned survival (Woods et al. 2017, NICE DSU TSD 19): PF(t) = PFS(t), PD(t) = OS(t) − PFS(t),
  dead = 1 − OS(t); PFS is capped at OS.
* Markov: constant transition rates PF→PD, PF→dead and PD→dead (per year) turned into one cycle's
  transition matrix by the matrix exponential of the generator, P = exp(Q·c) (Chhatwal et al. 2016,
  MDM 36:952: the exact cycle conversion).

Rewards accrue over a cycle with the half-cycle correction by the trapezoid (life-table) rule, the mean
of the occupancy at the cycle's start and end (equivalent to the standard correction: Srivastava et al.,
medRxiv 2020.07.27.20162651), discounted at the cycle's midpoint; without the correction, the start-of-cycle occupancy
and discount factor (rewards at the start of each cycle). Discount factor 1/(1+r)^t, t in years
(Drummond et al. 2015, Methods for the Economic Evaluation of Health Care Programmes, 4th ed., ch. 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import expm

from ..errors import InputError, checked_array
from .survival import Curve

PROGRESSION_FREE, PROGRESSED, DEAD = 0, 1, 2


def discount_factors(times_years: ArrayLike, rate: float) -> NDArray[np.float64]:
    """1/(1+r)^t for annual rate ``r`` (0.03 for 3 % a year)."""
    if not 0 <= rate < 1:
        raise InputError("discount rate", rate, "an annual rate in [0, 1), e.g. 0.03")
    return (1.0 + rate) ** -np.asarray(times_years, dtype=float)


def cycle_grid(horizon_years: float, cycle_years: float) -> NDArray[np.float64]:
    """Cycle boundaries 0, c, 2c, … up to the horizon (the last cycle ends at the horizon or just after)."""
    if not (horizon_years > 0 and 0 < cycle_years <= horizon_years):
        raise InputError("cycle", cycle_years, f"a positive cycle no longer than the horizon ({horizon_years} years)")
    cycles = int(np.ceil(horizon_years / cycle_years - 1e-9))
    return cycle_years * np.arange(cycles + 1)


@dataclass(frozen=True)
class Trace:
    """Occupancy (boundaries × 3 states) at ``times`` (years) and per-cycle ``progressions`` and ``deaths``."""

    times: NDArray[np.float64]
    occupancy: NDArray[np.float64]
    progressions: NDArray[np.float64]
    deaths: NDArray[np.float64]

    @property
    def alive(self) -> NDArray[np.float64]:
        return self.occupancy[:, PROGRESSION_FREE] + self.occupancy[:, PROGRESSED]

    def alive_at(self, times_years: ArrayLike) -> NDArray[np.float64]:
        """Proportion alive at ``times_years`` (linear between boundaries; 0 beyond the horizon)."""
        points = np.asarray(times_years, dtype=float)
        return np.where(points <= self.times[-1], np.interp(points, self.times, self.alive), 0.0)

    def state_time(self, rate: float, half_cycle: bool = True) -> NDArray[np.float64]:
        """Discounted years spent in each state over the horizon, shape (3,): Σ_k c·x̄_k·d_k."""
        width = np.diff(self.times)
        if half_cycle:
            average = 0.5 * (self.occupancy[:-1] + self.occupancy[1:])
            factors = discount_factors(self.times[:-1] + 0.5 * width, rate)
        else:
            average, factors = self.occupancy[:-1], discount_factors(self.times[:-1], rate)
        return np.sum(average * (width * factors)[:, None], axis=0)

    def life_years(self, rate: float, half_cycle: bool = True) -> float:
        """Discounted years alive (progression-free plus progressed)."""
        return float(self.state_time(rate, half_cycle)[:DEAD].sum())

    def discounted_events(self, events: NDArray[np.float64], rate: float) -> float:
        """Σ_k events_k · d(midpoint of cycle k): events are taken to happen mid-cycle."""
        return float(np.sum(events * discount_factors(0.5 * (self.times[:-1] + self.times[1:]), rate)))


def partitioned_survival(progression_free: Curve, overall: Curve, times_years: ArrayLike,
                         progression_share: float = 1.0) -> Trace:
    """Trace of a partitioned-survival model; ``progression_share`` is the part of PFS events that are
    progressions (not deaths), which sets the new entries into PD (subsequent therapy)."""
    times = np.asarray(times_years, dtype=float)
    survival = np.clip(overall(times), 0.0, 1.0)
    free = np.minimum(np.clip(progression_free(times), 0.0, 1.0), survival)
    occupancy = np.stack([free, survival - free, 1.0 - survival], axis=1)
    progressions = progression_share * np.maximum(-np.diff(free), 0.0)
    return Trace(times, occupancy, progressions, np.maximum(-np.diff(survival), 0.0))


def markov(progression_rate: float, death_rate_free: float, death_rate_progressed: float,
           times_years: ArrayLike) -> Trace:
    """Trace of the three-state Markov model with constant rates (per year) from PF to PD, PF to dead,
    PD to dead; the cohort starts progression-free. Progressions in a cycle count everyone who left PF for PD,
    including those who then died within the cycle: a/(a+b) of those who left PF."""
    rates = checked_array([progression_rate, death_rate_free, death_rate_progressed], "transition rates")
    generator = np.array([[-rates[0] - rates[1], rates[0], rates[1]],
                          [0.0, -rates[2], rates[2]],
                          [0.0, 0.0, 0.0]])
    times = np.asarray(times_years, dtype=float)
    occupancy = np.zeros((times.size, 3))
    occupancy[0, PROGRESSION_FREE] = 1.0
    for index, width in enumerate(np.diff(times)):
        occupancy[index + 1] = occupancy[index] @ expm(generator * width)
    leaving = rates[0] + rates[1]
    share = rates[0] / leaving if leaving > 0 else 0.0
    progressions = share * -np.diff(occupancy[:, PROGRESSION_FREE])
    return Trace(times, occupancy, progressions, np.diff(occupancy[:, DEAD]))


def transition_rates(pfs_days: ArrayLike, pfs_event: ArrayLike, os_days: ArrayLike,
                     os_event: ArrayLike) -> tuple[float, float, float]:
    """Maximum-likelihood constant rates (per year) from per-patient data: events / person-time in each
    state (progression = a PFS event before the OS time; PD person-time = OS − PFS after progression)."""
    from .survival import DAYS_PER_YEAR

    pfs = np.asarray(pfs_days, dtype=float) / DAYS_PER_YEAR
    overall = np.asarray(os_days, dtype=float) / DAYS_PER_YEAR
    pfs_flag, os_flag = np.asarray(pfs_event, dtype=bool), np.asarray(os_event, dtype=bool)
    progressed = pfs_flag & (pfs < overall - 1e-9)
    died_free = os_flag & ~progressed
    free_time = max(float(np.where(progressed, pfs, overall).sum()), 1e-12)
    progressed_time = float(np.sum(np.where(progressed, overall - pfs, 0.0)))
    death_progressed = float(np.sum(os_flag & progressed))
    return (float(progressed.sum()) / free_time, float(died_free.sum()) / free_time,
            death_progressed / progressed_time if progressed_time > 0 else 0.0)
