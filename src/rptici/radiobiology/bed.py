"""Biologically effective dose (BED), equieffective dose in 2-Gy fractions (EQD2) and equivalent uniform dose.

BED = D (1 + G D / (α/β)) (Dale 1985 Br J Radiol 58:515), EQD2 = BED / (1 + 2/(α/β)) (Bentzen et al. 2012
Radiother Oncol 105:266). Tumour EUD: −(1/α) ln Σ v_i e^{−α D_i} (Niemierko 1997 Med Phys 24:103);
generalised EUD: (Σ v_i D_i^a)^{1/a} (Niemierko 1999, Med Phys 26:1100 abstract; a = 1/n of the LKB model).

Cycles of a radiopharmaceutical given weeks apart do not interact: the damage Γ left by one cycle decays
as e^{−μΔt}, which is below 10⁻³⁰ after one week for any repair half-time of a few hours. Their BEDs
therefore add (:func:`bed_cycles`); for cycles closer than about ten repair half-times, integrate the
whole dose-rate history with :func:`bed_from_dose_rate` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from ..errors import InputError, checked_array
from .lq import incomplete_repair_ode, incomplete_repair_piecewise_linear




@dataclass(frozen=True)
class BedResult:
    """Outcome of integrating a dose-rate history (arrays share the leading patient/region shape).

    dose (Gy), bed (Gy), g_factor (Lea–Catcheside G = 2∫ḊΓ/D²; 0 where D = 0), quadratic_integral
    (∫ḊΓ dt, Gy²), final_damage (Γ at the last time, Gy), alpha_beta (Gy), repair_half_time (d).
    """

    dose: NDArray[np.float64]
    bed: NDArray[np.float64]
    g_factor: NDArray[np.float64]
    quadratic_integral: NDArray[np.float64]
    final_damage: NDArray[np.float64]
    alpha_beta: NDArray[np.float64]
    repair_half_time: NDArray[np.float64]

    @property
    def eqd2(self) -> NDArray[np.float64]:
        return eqd2(self.bed, self.alpha_beta)


def bed_closed_form(dose: ArrayLike, alpha_beta: ArrayLike, g: ArrayLike) -> NDArray[np.float64]:
    """BED = D (1 + G D / (α/β)) (Dale 1985; G from the ``g_factor_*`` functions, 1 for an acute fraction)."""
    dose = checked_array(dose, "dose")
    alpha_beta = checked_array(alpha_beta, "alpha_beta", positive=True)
    g = np.asarray(g, dtype=float)
    if not np.all(np.isfinite(g)) or np.any((g < 0) | (g > 1)):
        raise InputError("g", g, "a Lea–Catcheside factor between 0 and 1")
    return dose * (1 + g * dose / alpha_beta)


def bed_cycles(doses: ArrayLike, alpha_beta: ArrayLike, g: ArrayLike) -> NDArray[np.float64]:
    """Total BED of cycles well separated in time (weeks apart versus T_rep of hours): Σ_k D_k(1 + G_k D_k/(α/β)).

    Cycles are on the last axis of ``doses`` (and of ``g`` where it differs by cycle).
    """
    return np.sum(bed_closed_form(doses, np.asarray(alpha_beta)[..., None], g), axis=-1)


def bed_from_dose_rate(times: ArrayLike, dose_rate: ArrayLike | Callable[[float], ArrayLike], alpha_beta: ArrayLike,
                       repair_half_time: ArrayLike) -> BedResult:
    """BED of any dose-rate history, from the incomplete-repair ODE (BED = D + (2/(α/β))∫ḊΓ dt).

    ``dose_rate`` is either an array of samples (Gy/d, shape (..., len(times))), taken as linear between
    samples and integrated exactly, or a function of time (days) integrated adaptively, with ``times``
    as breakpoints. The dose rate is zero before ``times[0]`` and after ``times[-1]``, so the samples
    must cover the whole decay. ``repair_half_time`` is in days.
    """
    alpha_beta = checked_array(alpha_beta, "alpha_beta", positive=True)
    if callable(dose_rate):
        dose, quadratic, damage = incomplete_repair_ode(dose_rate, times, repair_half_time)
    else:
        dose, quadratic, damage = incomplete_repair_piecewise_linear(times, dose_rate, repair_half_time)
    bed = dose + 2 * quadratic / alpha_beta
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(dose > 0, 2 * quadratic / np.where(dose > 0, dose, 1.0) ** 2, 0.0)
    return BedResult(dose=dose, bed=bed, g_factor=g, quadratic_integral=quadratic, final_damage=damage,
                     alpha_beta=alpha_beta, repair_half_time=np.asarray(repair_half_time, dtype=float))


def eqd2(bed: ArrayLike, alpha_beta: ArrayLike) -> NDArray[np.float64]:
    """EQD2 = BED / (1 + 2/(α/β)): the dose in 2-Gy fractions with the same effect (Bentzen et al. 2012)."""
    return checked_array(bed, "bed") / (1 + 2 / checked_array(alpha_beta, "alpha_beta", positive=True))


def _volume_weights(doses: NDArray[np.float64], volumes: ArrayLike | None) -> NDArray[np.float64]:
    if volumes is None:
        return np.full(doses.shape[-1:], 1.0 / doses.shape[-1])
    weights = checked_array(volumes, "volumes")
    try:
        np.broadcast_shapes(weights.shape, doses.shape)
    except ValueError:
        raise InputError("volumes", f"array of shape {weights.shape}",
                         f"an array broadcastable to the doses' shape {doses.shape}") from None
    total = np.sum(weights, axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("volumes", volumes, "volumes (or fractions) with a positive sum")
    return weights / total


def _doses(doses: ArrayLike) -> NDArray[np.float64]:
    array = checked_array(doses, "doses")
    if array.ndim < 1 or array.shape[-1] == 0:
        raise InputError("doses", doses, "an array of doses with regions/voxels on the last axis")
    return array


def eud_tumour(doses: ArrayLike, volumes: ArrayLike | None, alpha: ArrayLike) -> NDArray[np.float64]:
    """Tumour EUD = −(1/α) ln Σ v_i e^{−α D_i} (Niemierko 1997 Med Phys 24:103; v_i volume fractions).

    The uniform dose with the same clonogen survival. Regions/voxels on the last axis; pass BED as
    ``doses`` for an EUD in BED terms. ``volumes`` are normalised (None: equal volumes).
    """
    doses = _doses(doses)
    alpha = checked_array(alpha, "alpha", positive=True)
    weights = _volume_weights(doses, volumes)
    alpha_axis = alpha[..., None]
    with np.errstate(divide="ignore"):
        return -logsumexp(-alpha_axis * doses, b=weights, axis=-1) / alpha


def geud(doses: ArrayLike, volumes: ArrayLike | None, a: float) -> NDArray[np.float64]:
    """Generalised EUD (Σ v_i D_i^a)^{1/a} (Niemierko 1999); a = 1/n of the LKB model.

    a = 1 gives the mean dose, a → ∞ the maximum; large negative a suits tumours (minimum dose).
    """
    doses = _doses(doses)
    if not np.isfinite(a) or a == 0:
        raise InputError("a", a, "a finite, non-zero volume-effect exponent (a = 1/n)")
    weights = _volume_weights(doses, volumes)
    with np.errstate(divide="ignore"):
        if a < 0:
            # doses of zero make the sum infinite and the gEUD zero
            return np.where(np.any((doses == 0) & (weights > 0), axis=-1), 0.0,
                            np.sum(weights * np.where(doses > 0, doses, 1.0) ** a, axis=-1) ** (1 / a))
        scale = np.max(doses, axis=-1, keepdims=True)
        scale = np.where(scale > 0, scale, 1.0)
        return scale[..., 0] * np.sum(weights * (doses / scale) ** a, axis=-1) ** (1 / a)
