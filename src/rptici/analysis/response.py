"""Response rates with exact confidence intervals, paired differences of rates, and waterfall data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta, norm

from ..errors import InputError


def response_rate(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Rate k/n with the exact Clopper–Pearson interval (Clopper & Pearson 1934 Biometrika 26:404).

    low = B⁻¹(α/2; k, n − k + 1) (0 when k = 0), high = B⁻¹(1 − α/2; k + 1, n − k) (1 when k = n).
    """
    if isinstance(successes, bool) or isinstance(n, bool) or int(n) != n or int(successes) != successes:
        raise InputError("successes, n", (successes, n), "whole numbers")
    k, total = int(successes), int(n)
    if total < 1 or not 0 <= k <= total:
        raise InputError("successes", (successes, n), "0 <= successes <= n and n >= 1")
    if not 0 < confidence < 1:
        raise InputError("confidence", confidence, "a level between 0 and 1")
    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, total - k + 1))
    high = 1.0 if k == total else float(beta.ppf(1 - tail, k + 1, total - k))
    return k / total, low, high


def paired_difference(differences, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-patient differences d_i = x_i − y_i of two flags of the same patients (a paired trial: each
    virtual patient with and without a drug), with the Wald interval d̄ ± z s_d/√n, which holds at the hundreds of
    pairs of a virtual trial (Newcombe 1998 Stat Med 17:2635 compares it with small-sample intervals)."""
    values = np.asarray(differences, dtype=float)
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise InputError("differences", values.size, "at least two finite paired differences")
    if not 0 < confidence < 1:
        raise InputError("confidence", confidence, "a level between 0 and 1")
    mean = float(values.mean())
    half = float(norm.ppf(0.5 + confidence / 2) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Waterfall:
    """Best percentage changes sorted from largest increase to deepest decrease, with the original patient index."""

    percent_change: NDArray[np.float64]
    patient: NDArray[np.int64]


def waterfall(best_percent_change: ArrayLike) -> Waterfall:
    """Waterfall data: patients with a value, sorted descending (growth on the left); NaN (not assessed) dropped."""
    values = np.asarray(best_percent_change, dtype=float)
    if values.ndim != 1:
        raise InputError("best_percent_change", values.shape, "a 1-D array, one value per patient")
    if np.any(values[~np.isnan(values)] < -100):
        raise InputError("best_percent_change", "value below -100", "percent changes >= -100")
    index = np.flatnonzero(~np.isnan(values))
    order = index[np.argsort(-values[index], kind="stable")]
    return Waterfall(values[order], order.astype(np.int64))
