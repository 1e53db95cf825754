"""Uncertainty of region doses and DVHs from the uncertainty of the regions' time-integrated activities.

Each region's TAC fit (:func:`rptici.dosimetry.tac.fit_tac`) has a parameter covariance. Monte Carlo draws of its
parameters (:func:`rptici.dosimetry.tac.tia_monte_carlo`, multivariate normal, invalid draws rejected) give TIA
draws Ã_r^(k); their ratio to the fitted TIA is a **scale on the region**, s_r^(k) = Ã_r^(k)/Ã_r, applied to the
region's voxel TIAs (the voxel pattern is kept; the kinetics' uncertainty moves the region as a whole). Dose is
linear in the TIA map, so with D_r the dose map of region r's TIA alone (one convolution per region) and D_rest that
of the voxels outside the fitted regions,

    D^(k) = Σ_r s_r^(k) D_r + D_rest,

and every draw is a weighted sum, not a new convolution. Regions are drawn independently (the fits are). From the
draws: the 95 % interval (2.5th–97.5th percentiles) of each region's mean dose, D2, D50, D98, and of the cumulative
DVH V(D) at each dose — the DVH band. Regions of more than :data:`MAX_BAND_VOXELS` voxels (a body remainder) have
their band and D_x intervals from a fixed random subset of that many voxels, which bounds the memory.

What it does not hold: voxel-level noise within a region (it changes the DVH's width, not its position; see
docs/imaging.md for the measured coverage), the calibration factor's uncertainty (common to every region and time;
add it in quadrature as a scale on everything), segmentation and registration errors, and the partial-volume
correction's own uncertainty (the PSF width). The approach follows the propagation of the EANM guidance on
uncertainty analysis (Gear et al. 2018 Eur J Nucl Med Mol Imaging 45:2456), with Monte Carlo in place of the
analytic propagation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..dosimetry.tac import TacFit, tia_monte_carlo
from ..errors import InputError
from .dose import dose_map
from .dvh import DOSE_LEVELS
from .kernel import voxel_kernel

#: Default Monte Carlo draws and seed (deterministic: same study, same intervals).
DEFAULT_DRAWS = 200
DEFAULT_SEED = 0
#: Dose points of each band (from 0 to the 99.5th percentile of the drawn maxima).
BAND_BINS = 200
#: Regions larger than this are drawn on a fixed random subset of this many voxels (the binomial error of a
#: volume fraction is then at most 0.5/√n = 0.35 %); the mean dose interval always uses every voxel.
MAX_BAND_VOXELS = 20_000


def check_uncertainty(spec: object) -> dict[str, int] | None:
    """The study's ``uncertainty`` entry → {draws, seed}; absent means the defaults, ``false`` means off."""
    if spec is None or spec is True:
        return {"draws": DEFAULT_DRAWS, "seed": DEFAULT_SEED}
    if spec is False:
        return None
    if not isinstance(spec, Mapping) or set(spec) - {"draws", "seed"}:
        raise InputError("uncertainty", spec, "{draws: 200, seed: 0}, true (the defaults) or false (off)")
    draws, seed = spec.get("draws", DEFAULT_DRAWS), spec.get("seed", DEFAULT_SEED)
    if not isinstance(draws, int) or isinstance(draws, bool) or not 20 <= draws <= 100_000:
        raise InputError("uncertainty.draws", draws, "an integer from 20 to 100000")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError("uncertainty.seed", seed, "a non-negative integer")
    return {"draws": draws, "seed": seed}


def region_scales(fits: Mapping[str, TacFit], draws: int, seed: int) -> dict[str, np.ndarray]:
    """Per region, ``draws`` TIA scale factors Ã^(k)/Ã from the fit covariance (accepted draws resampled to ``draws``)."""
    generator = np.random.default_rng(seed)
    scales = {}
    for name, fit in fits.items():
        samples = tia_monte_carlo(fit, draws, generator, "parameters").samples / fit.tia
        scales[name] = samples if samples.size == draws else generator.choice(samples, draws, replace=True)
    return scales


def _exceeding(sorted_doses: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Fraction of each row's voxels with dose ≥ each grid value (rows sorted ascending)."""
    count = sorted_doses.shape[1]
    return np.stack([(count - np.searchsorted(row, grid, side="left")) / count for row in sorted_doses])


def _percentile_rank(sorted_doses: np.ndarray, percent: float) -> np.ndarray:
    """D_x of every row (the ⌈x n/100⌉-th largest dose), rows sorted ascending."""
    count = sorted_doses.shape[1]
    rank = max(1, int(np.ceil(percent * count / 100.0 - 1e-9)))
    return sorted_doses[:, count - rank]


def _component(tia: np.ndarray, mask: np.ndarray, study: Any, half: np.ndarray) -> np.ndarray:
    """Dose map of the TIA inside ``mask`` alone, convolved on the mask's bounding box widened by the kernel's
    half-width (all its deposits fall inside the box, so the result equals the full-grid convolution)."""
    where = np.argwhere(mask)
    if where.size == 0:
        return np.zeros(mask.shape)
    start = np.maximum(where.min(axis=0) - half, 0)
    stop = np.minimum(where.max(axis=0) + half + 1, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(start, stop))
    density = study.density if np.ndim(study.density) == 0 else study.density[box]
    out = np.zeros(mask.shape)
    out[box] = dose_map(np.where(mask[box], tia[box], 0.0), study.nuclide, study.reference.spacing_cm,
                        method=study.method, density=density, photons=study.photons)
    return out


def dose_uncertainty(tia_MBq_h: np.ndarray, study: Any, fits: Mapping[str, TacFit], regions: dict[str, dict[str, Any]],
                     draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED,
                     dose_Gy: np.ndarray | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """DVH bands (long table) and a summary; adds 95 % intervals to each entry of ``regions`` (in place).

    ``dose_Gy`` (the nominal dose map, when already computed) saves one convolution: the largest component is the
    nominal dose less the others."""
    labels = study.labels
    by_name = {region.name: region.label for region in study.regions}
    fitted = [name for name in fits if name in by_name]
    masks = [labels == by_name[name] for name in fitted]
    masks.append(~np.logical_or.reduce(masks) if masks else np.ones(labels.shape, bool))
    kernel = voxel_kernel(study.nuclide, study.reference.spacing_cm,
                          photons=study.photons and study.method == "kernel").total()
    half = np.array(kernel.shape) // 2 if study.method == "kernel" else np.zeros(3, int)
    largest = int(np.argmax([mask.sum() for mask in masks])) if dose_Gy is not None else -1
    components = [None if index == largest else _component(tia_MBq_h, mask, study, half)
                  for index, mask in enumerate(masks)]
    if largest >= 0:
        components[largest] = dose_Gy - sum(c for c in components if c is not None)
    scales = region_scales({name: fits[name] for name in fitted}, draws, seed)
    matrix = np.column_stack([scales[name] for name in fitted] + [np.ones(draws)])     # (draws, components)
    rows = []
    subset = np.random.default_rng(seed)
    for region in study.regions:
        inside = labels == region.label
        values = np.stack([component[inside] for component in components])            # (components, voxels)
        nominal = np.sort(values.sum(axis=0))
        entry = regions[region.name]
        low, high = np.percentile(matrix @ values.mean(axis=1), [2.5, 97.5])         # mean dose: linear, every voxel
        entry["mean_Gy_interval_95"] = [float(low), float(high)]
        if values.shape[1] > MAX_BAND_VOXELS:
            values = values[:, np.sort(subset.choice(values.shape[1], MAX_BAND_VOXELS, replace=False))]
        doses = np.sort(matrix @ values, axis=1)                                        # (draws, voxels)
        for level in DOSE_LEVELS:
            low, high = np.percentile(_percentile_rank(doses, level), [2.5, 97.5])
            entry[f"D{level}_Gy_interval_95"] = [float(low), float(high)]
        if region.name in scales:
            entry["tia_relative_sd"] = float(np.std(scales[region.name], ddof=1))
        top = max(float(np.percentile(doses[:, -1], 99.5)), float(nominal[-1]), 1e-12)
        grid = np.linspace(0.0, top, BAND_BINS + 1)
        band = _exceeding(doses, grid)
        low, high = np.percentile(band, [2.5, 97.5], axis=0)
        rows.append(pd.DataFrame({"region": region.name, "quantity": "dose", "dose_Gy": grid,
                                  "volume_fraction": _exceeding(nominal[None, :], grid)[0],
                                  "volume_fraction_low": low, "volume_fraction_high": high}))
    summary = {"method": "Monte Carlo over each region's TAC-fit parameters (covariance), a TIA scale per region",
               "draws": draws, "seed": seed, "interval": 0.95, "regions_drawn": fitted,
               "not_included": "voxel noise within a region, calibration factor, segmentation, registration, PSF width"}
    return pd.concat(rows, ignore_index=True), summary
