"""Absorbed-dose and BED maps from a time-integrated-activity map.

    D(voxel) = k · Σ_offsets Ã(voxel − offset) · K(offset) / m(voxel)      (MIRD Pamphlet 17, Bolch et al. 1999)

with Ã in MBq h, K the kernel of :mod:`rptici.imaging.kernel` in MeV per decay, m = ρ·V in g and
k = 576.78 mGy g/(MBq h MeV) (:data:`~rptici.dosimetry.absorbed_dose.ENERGY_TO_DOSE_MGY_G_PER_MBQ_H`). The sum is an
FFT convolution (``scipy.signal.fftconvolve``); activity near the image border loses what its kernel would have
deposited outside the field of view. ``method="local"`` deposits the non-penetrating energy (α, electrons) in the
source voxel (K = E_local δ) and ignores photons — the local-deposition method of the EANM guidance.

Density: 1.04 g/mL (soft tissue, ICRP Publication 89) or from a CT in HU by a bilinear calibration
(:func:`density_from_hu`). The kernel is for water; density acts through the voxel mass only.

BED per voxel (:func:`bed_map`): BED = D (1 + G D/(α/β)), G = T_rep/(T_rep + T_eff) with T_eff = ln 2/λ of the voxel's
fitted mono-exponential (Dale 1985; :mod:`rptici.radiobiology`), α/β and T_rep of the region's tissue
(``data/tissues.yaml``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve

from ..dosimetry.absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, MGY_PER_GY
from ..errors import InputError
from ..physics import Nuclide
from ..radiobiology.bed import bed_closed_form
from ..radiobiology.lq import g_factor_monoexponential
from ..radiobiology.tissues import tissue
from .kernel import voxel_kernel

#: Default soft-tissue density (g/mL), ICRP Publication 89 (adult soft tissue 1.03–1.05).
SOFT_TISSUE_DENSITY = 1.04
#: Bilinear HU → density calibration: ρ = 1 + HU/1000 for HU ≤ 0 (air–water line), ρ = 1 + HU·slope above, with
#: slope 6.1e-4 g/mL per HU (cortical bone, 1.92 g/mL, at about 1500 HU; the shape of Schneider et al. 1996 Phys Med
#: Biol 41:111). Generic: replace by the scanner's own calibration (``ct.hu_slope_above_water``).
HU_SLOPE_BELOW_WATER = 1.0e-3
HU_SLOPE_ABOVE_WATER = 6.1e-4
DENSITY_BOUNDS = (0.001, 3.0)
METHODS = ("kernel", "local")


def density_from_hu(hu: np.ndarray, slope_above_water: float = HU_SLOPE_ABOVE_WATER) -> np.ndarray:
    """Mass density (g/mL) from CT numbers by the bilinear calibration above, clipped to [0.001, 3]."""
    hu = np.asarray(hu, float)
    density = np.where(hu <= 0, 1.0 + HU_SLOPE_BELOW_WATER * hu, 1.0 + slope_above_water * hu)
    return np.clip(density, *DENSITY_BOUNDS)


def dose_map(tia_MBq_h: np.ndarray, nuclide: str | Nuclide, spacing_cm, *, method: str = "kernel",
             density: float | np.ndarray = SOFT_TISSUE_DENSITY, photons: bool = True) -> np.ndarray:
    """Absorbed dose (Gy) of every voxel from the TIA map (MBq h per voxel)."""
    if method not in METHODS:
        raise InputError("method", method, "one of " + ", ".join(METHODS))
    tia = np.asarray(tia_MBq_h, float)
    if tia.ndim != 3:
        raise InputError("tia", f"shape {tia.shape}", "a 3-D map")
    density_array = np.asarray(density, float)
    if not np.all(np.isfinite(density_array)) or np.any(density_array <= 0) or density_array.shape not in ((), tia.shape):
        raise InputError("density", f"shape {density_array.shape}", "a positive density (g/mL), one value or one per voxel")
    kernel = voxel_kernel(nuclide, spacing_cm, photons=photons and method == "kernel")
    volume_ml = float(np.prod(kernel.spacing_cm))
    if method == "local":
        energy = tia * kernel.local_MeV
    else:
        energy = fftconvolve(tia, kernel.total(), mode="same")
    return ENERGY_TO_DOSE_MGY_G_PER_MBQ_H * energy / (density_array * volume_ml) / MGY_PER_GY


def bed_map(dose_Gy: np.ndarray, decay_constant_per_day: np.ndarray, labels: np.ndarray,
            tissues: dict[int, str]) -> np.ndarray:
    """BED (Gy) per voxel for the labelled voxels whose region has a tissue; NaN elsewhere."""
    bed = np.full(dose_Gy.shape, np.nan)
    for value, name in tissues.items():
        chosen = labels == value
        if not np.any(chosen):
            continue
        params = tissue(name)
        half_life = math.log(2.0) / decay_constant_per_day[chosen]
        g = g_factor_monoexponential(half_life, params.repair_half_time)
        bed[chosen] = bed_closed_form(np.clip(dose_Gy[chosen], 0.0, None), params.alpha_beta, g)
    return bed
