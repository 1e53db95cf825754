"""Tumour control probability (TCP): Poisson statistics of surviving clonogens.

TCP = exp(−N S) with S = exp(−α·BED), since −ln S = αD + 2β∫ḊΓ dt = α·BED for the LQ model with
incomplete repair. Heterogeneity of radiosensitivity after Webb & Nahum 1993 Phys Med Biol 38:653:

* between cells of one tumour: S = ∫ g(α) e^{−α·BED} dα (α normal with mean ᾱ and SD σ_cells, truncated
  at α ≥ 0);
* between patients: TCP_population = ∫ g(α) exp(−N e^{−α·BED}) dα (σ_patients).

The integrals over α use the trapezoid rule on a grid over ± 8 SD (cut at α = 0 and renormalised),
fine enough for the steep dependence of TCP on α. Memory grows as (batch × 2001 × 401) when both
spreads are used at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError, checked_array

_POPULATION_POINTS = 2001  # TCP(α) is steep: a fine grid between patients
_CELL_POINTS = 401  # e^{−α·BED} is smooth: a coarser grid between cells
_GRID_HALF_WIDTH = 8.0



def _normal_grid(mean: NDArray[np.float64], sd: NDArray[np.float64], points: int
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes α (last axis) and trapezoid weights of N(mean, sd²) truncated at α ≥ 0; weights sum to 1.

    The grid runs from max(0, mean − 8 sd) to mean + 8 sd, so the truncation point is a node.
    """
    low = np.maximum(0.0, mean - _GRID_HALF_WIDTH * sd)
    high = mean + _GRID_HALF_WIDTH * sd
    fraction = np.linspace(0.0, 1.0, points)
    alpha = low[..., None] + (high - low)[..., None] * fraction
    weights = np.exp(-0.5 * ((alpha - mean[..., None]) / sd[..., None]) ** 2)
    weights[..., [0, -1]] *= 0.5
    return alpha, weights / np.sum(weights, axis=-1, keepdims=True)


def surviving_fraction(bed: ArrayLike, alpha: ArrayLike, alpha_sd: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Clonogen surviving fraction S = E[e^{−α·BED}] over cells with α ~ N(ᾱ, σ²), α ≥ 0 (Webb & Nahum 1993).

    With σ = 0 this is e^{−ᾱ·BED}; for untruncated normal α it equals exp(−ᾱ·BED + σ²BED²/2).
    """
    bed = checked_array(bed, "bed")
    alpha = checked_array(alpha, "alpha")
    sd = checked_array(alpha_sd, "alpha_sd")
    if not np.any(sd > 0):
        return np.exp(-alpha * bed)
    alpha, sd, bed = np.broadcast_arrays(alpha, sd, bed)
    nodes, weights = _normal_grid(alpha, np.where(sd > 0, sd, 1.0), _CELL_POINTS)
    exact = np.exp(-alpha * bed)
    return np.where(sd > 0, np.sum(weights * np.exp(-nodes * bed[..., None]), axis=-1), exact)


def tcp_poisson(bed: ArrayLike, alpha: ArrayLike, clonogen_number: ArrayLike, volume_fractions: ArrayLike | None = None,
                alpha_sd_cells: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Poisson TCP = exp(−N Σ v_i S_i) (Webb & Nahum 1993).

    ``bed`` (Gy) is one value per tumour, or voxel/region values on the last axis when
    ``volume_fractions`` (clonogen fractions per voxel, normalised here) are given. ``alpha`` in Gy⁻¹,
    ``alpha_sd_cells`` the inter-cell SD of α within the tumour.
    """
    number = checked_array(clonogen_number, "clonogen_number")
    survival = surviving_fraction(bed, np.asarray(alpha)[..., None] if volume_fractions is not None else alpha,
                                  np.asarray(alpha_sd_cells)[..., None] if volume_fractions is not None else alpha_sd_cells)
    if volume_fractions is not None:
        fractions = checked_array(volume_fractions, "volume_fractions")
        total = np.sum(fractions, axis=-1, keepdims=True)
        if np.any(total <= 0):
            raise InputError("volume_fractions", volume_fractions, "fractions with a positive sum")
        survival = np.sum(fractions / total * survival, axis=-1)
    return np.exp(-number * survival)


def tcp_population(bed: ArrayLike, alpha_mean: ArrayLike, alpha_sd: ArrayLike, clonogen_number: ArrayLike,
                   alpha_sd_cells: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Population TCP = ∫ g(α) TCP(α) dα with α ~ N(ᾱ, σ²) between patients, α ≥ 0 (Webb & Nahum 1993).

    Inter-patient spread flattens the dose–response curve; ``alpha_sd_cells`` adds inter-cell spread
    within each tumour. ``bed`` is one (uniform-equivalent) BED per tumour.
    """
    bed = checked_array(bed, "bed")
    mean = checked_array(alpha_mean, "alpha_mean")
    sd = checked_array(alpha_sd, "alpha_sd")
    number = checked_array(clonogen_number, "clonogen_number")
    cells = checked_array(alpha_sd_cells, "alpha_sd_cells")
    mean, sd, bed, number, cells = np.broadcast_arrays(mean, sd, bed, number, cells)
    if not np.any(sd > 0):
        return tcp_poisson(bed, mean, number, alpha_sd_cells=cells)
    nodes, weights = _normal_grid(mean, np.where(sd > 0, sd, 1.0), _POPULATION_POINTS)
    per_patient = tcp_poisson(bed[..., None], nodes, number[..., None], alpha_sd_cells=cells[..., None])
    population = np.sum(weights * per_patient, axis=-1)
    return np.where(sd > 0, population, tcp_poisson(bed, mean, number, alpha_sd_cells=cells))
