"""Time-integrated activity from a series of activity maps: per voxel and per region.

The scans are assumed registered to one grid (:func:`rptici.imaging.volume.check_same_grid` checks the grid, not
the alignment). Times are days after administration; activities MBq per voxel, not decay-corrected.

* **voxel** (:func:`voxel_monoexponential`): A(t) = A₀ e^(−λt), fitted in one vectorised pass by weighted
  log-linear least squares (weights ∝ A, the Poisson variance of ln A; voxels' non-positive values get zero
  weight). λ is held at or above the physical decay constant (no voxel clears slower than its nuclide decays),
  which is also the tail after the last scan. TIA = A₀/λ, from t = 0 (the uptake phase before the first scan is
  the back-extrapolated mono-exponential, as in the voxel-level methods of MIRD Pamphlet 23 / Dewaraja et al.
  2012 J Nucl Med 53:1310 and the EANM guidance, Sjögreen Gleisner et al. 2022 EJNMMI Phys 9:2). Voxels with one
  positive time point decay physically from it; voxels with none have TIA 0.
* **one scan** (:func:`voxel_single_time_point`): Hänscheid et al. 2018 (J Nucl Med 59:75), TIA ≈ A(t) 2t/ln 2,
  with its implied effective half-life T_eff = t (where the approximation is exact).
* **region** (:func:`region_fits`): the summed activity of each region at each time fitted with the project's
  :func:`rptici.dosimetry.tac.fit_tac` (mono/bi/tri-exponential, AIC selection, standard errors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dosimetry.single_time_point import hanscheid_tia
from ..dosimetry.tac import TacFit, fit_tac
from ..errors import InputError
from ..units import HOURS_PER_DAY

#: Voxels processed at once by the voxel fit (bounds its working memory).
CHUNK_VOXELS = 1 << 20


@dataclass(frozen=True, eq=False)
class VoxelTia:
    """Per-voxel TIA (MBq h) and effective decay constant (1/d) on the image grid; ``method`` names the fit."""

    tia_MBq_h: np.ndarray
    decay_constant_per_day: np.ndarray
    method: str


def check_times(times, field: str = "images.time_days") -> np.ndarray:
    """Scan times (days) as an array; they must be positive, finite and strictly increasing."""
    try:
        array = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError(field, times, "positive, strictly increasing times in days") from None
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise InputError(field, list(np.atleast_1d(times)), "positive times in days after administration")
    if np.any(np.diff(array) <= 0):
        raise InputError(field, array.tolist(), "strictly increasing times (one image per time, in order)")
    return array


def voxel_monoexponential(times, activities: np.ndarray, physical_decay_per_day: float) -> VoxelTia:
    """Weighted log-linear mono-exponential fit of every voxel; ``activities`` has shape (times, *grid)."""
    t = check_times(times)
    if activities.shape[0] != t.size:
        raise InputError("images", activities.shape[0], f"{t.size} activity maps, one per time")
    if not (math.isfinite(physical_decay_per_day) and physical_decay_per_day > 0):
        raise InputError("physical_decay_per_day", physical_decay_per_day, "a positive decay constant (1/d)")
    grid = activities.shape[1:]
    flat = activities.reshape(t.size, -1)
    tia = np.empty(flat.shape[1])
    rate = np.empty(flat.shape[1])
    for start in range(0, flat.shape[1], CHUNK_VOXELS):
        block = np.asarray(flat[:, start:start + CHUNK_VOXELS], dtype=float)
        positive = block > 0
        weight = np.where(positive, block, 0.0)
        log_a = np.log(np.where(positive, block, 1.0))
        sw = weight.sum(axis=0)
        swt = t @ weight
        swtt = (t * t) @ weight
        swy = (weight * log_a).sum(axis=0)
        swty = t @ (weight * log_a)
        count = positive.sum(axis=0)
        denominator = sw * swtt - swt**2
        fitted = count >= 2
        fitted &= denominator > 0
        safe = np.where(fitted, denominator, 1.0)
        slope = np.where(fitted, (sw * swty - swt * swy) / safe, 0.0)
        lam = np.where(fitted, np.maximum(-slope, physical_decay_per_day), physical_decay_per_day)
        # intercept for the (possibly clamped) λ: weighted mean of ln A + λ t
        sw_safe = np.where(sw > 0, sw, 1.0)
        log_a0 = (swy + lam * swt) / sw_safe
        block_tia = np.where(count > 0, np.exp(log_a0) / lam * HOURS_PER_DAY, 0.0)
        tia[start:start + block.shape[1]] = block_tia
        rate[start:start + block.shape[1]] = lam
    return VoxelTia(tia.reshape(grid), rate.reshape(grid), "voxel mono-exponential (weighted log-linear)")


def voxel_single_time_point(time_days: float, activity: np.ndarray) -> VoxelTia:
    """Hänscheid TIA of every voxel from one scan; negative voxels are set to 0."""
    t = float(check_times([time_days])[0])
    tia = hanscheid_tia(np.clip(activity, 0.0, None), t)
    rate = np.full(activity.shape, math.log(2.0) / t)
    return VoxelTia(np.asarray(tia, float), rate, "single time point (Hänscheid 2018)")


def region_fits(times, activities: np.ndarray, labels: np.ndarray, regions: dict[int, str], nuclide: str,
                model: str = "auto") -> dict[str, TacFit]:
    """The TAC of each region (Σ activity in its voxels at each time, MBq) fitted with :func:`fit_tac`."""
    t = check_times(times)
    flat_labels = labels.reshape(-1)
    flat = activities.reshape(t.size, -1)
    sums = np.stack([np.bincount(flat_labels, weights=frame, minlength=max(regions) + 1) for frame in flat])
    fits = {}
    for value, name in regions.items():
        curve = sums[:, value]
        if np.any(curve <= 0):
            raise InputError(f"regions.{name}", curve.tolist(), "a region with positive total activity at every time")
        if t.size < 3:  # the simplest model (mono-exponential, 2 parameters) needs 3 points
            continue
        fits[name] = fit_tac(t, curve, model, nuclide=nuclide, region=name)
    return fits
