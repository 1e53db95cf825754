"""Dose–volume statistics of a region: mean, min, max, D_x, and the cumulative DVH.

All voxels have the same volume, so volume fractions are voxel fractions. D_x is the smallest dose received by the
hottest x % of the region's volume (D2 near-maximum, D50 median, D98 near-minimum; ICRU Report 83): with the doses
sorted in decreasing order d₁ ≥ d₂ ≥ … ≥ d_n, D_x = d_⌈x n/100⌉. The cumulative DVH V(D) is the fraction of the
volume receiving at least D; it is non-increasing in D by construction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InputError

#: The D_x reported for every region.
DOSE_LEVELS = (2, 50, 98)


def dose_at_volume(doses: np.ndarray, percent: float) -> float:
    """D_x: the dose received by at least ``percent`` % of the voxels (the ⌈x n/100⌉-th largest)."""
    values = np.asarray(doses, float).ravel()
    if values.size == 0:
        raise InputError("doses", "an empty region", "at least one voxel")
    if not 0 < percent <= 100:
        raise InputError("percent", percent, "a volume percentage in (0, 100]")
    rank = max(1, math.ceil(percent * values.size / 100.0 - 1e-9))
    return float(-np.partition(-values, rank - 1)[rank - 1])


def region_statistics(doses: np.ndarray, voxel_volume_ml: float) -> dict[str, float]:
    """Mean, minimum, maximum, D2, D50, D98 (Gy), voxel count and volume (mL) of one region's doses."""
    values = np.asarray(doses, float).ravel()
    stats = {"voxels": int(values.size), "volume_mL": float(values.size * voxel_volume_ml),
             "mean_Gy": float(values.mean()), "min_Gy": float(values.min()), "max_Gy": float(values.max())}
    stats.update({f"D{level}_Gy": dose_at_volume(values, level) for level in DOSE_LEVELS})
    return stats


def cumulative_dvh(doses: np.ndarray, bins: int = 200, maximum: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dose grid in Gy from 0, fraction of voxels with dose ≥ each grid value)."""
    values = np.sort(np.asarray(doses, float).ravel())
    top = float(values[-1]) if maximum is None else float(maximum)
    grid = np.linspace(0.0, max(top, 1e-12) * 1.0, bins + 1)
    below = np.searchsorted(values, grid, side="left")
    return grid, (values.size - below) / values.size


def dvh_table(dose_Gy: np.ndarray, labels: np.ndarray, regions: dict[int, str], bins: int = 200,
              quantity: str = "dose") -> pd.DataFrame:
    """Long table (region, quantity, dose_Gy, volume_fraction) of every region's cumulative DVH."""
    rows = []
    for value, name in regions.items():
        inside = dose_Gy[labels == value]
        inside = inside[np.isfinite(inside)]
        if inside.size == 0:
            continue
        grid, fraction = cumulative_dvh(inside, bins)
        rows.append(pd.DataFrame({"region": name, "quantity": quantity, "dose_Gy": grid, "volume_fraction": fraction}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["region", "quantity", "dose_Gy", "volume_fraction"])
