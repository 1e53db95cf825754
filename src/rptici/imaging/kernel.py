"""Dose-voxel kernels (voxel S-values) of a nuclide at an image's voxel size.

A kernel K[offset] is the energy (MeV per decay) deposited in the voxel at ``offset`` from a source
voxel in which the decays are uniformly spread (the voxel S-value of MIRD Pamphlet 17, Bolch et al.
1999 J Nucl Med 40:11S, times the target voxel's mass). Dose maps are the convolution of the
time-integrated-activity map with K, divided by each voxel's mass (:mod:`rptici.imaging.dose`).

How K is computed here (one physics model with the project's sphere S-values, so the two can be compared):

* **electrons** (β spectrum, conversion and Auger lines of the nuclide and its equilibrium daughters, ICRP-107
  via :func:`rptici.dosimetry.sphere.chain_emissions`): each electron runs a straight track of its CSDA
  range in water (ESTAR, ``data/absorbed_fractions.yaml``) and loses its energy evenly along it — the model
  behind the sphere absorbed fractions of :mod:`rptici.dosimetry.sphere` (Berger 1971, MIRD Pamphlet 7). Its
  point kernel is E/(4π r² R) for r < R. The voxel average over source position, direction and position along
  the track is a 6-D integral, evaluated with a fixed scrambled Sobol sequence (deterministic). Every track ends
  inside the kernel's box, so Σ K = E_electron exactly (energy conservation).
* **α particles and recoils**: deposited in the source voxel (ranges 40–100 µm ≪ any SPECT voxel).
* **photons** (optional): the μ_en approximation of the sphere S-values (Brownell, Ellett and Reddy 1968,
  MIRD Pamphlet 3): energy absorbed at distance s along a straight ray with density μ_en e^(−μ_en s), i.e. the
  point kernel Σ E y μ_en e^(−μ_en r)/(4π r²). Voxels within 2 of the source voxel by Sobol integration as
  above, farther voxels by the point kernel at the voxel centre, out to ``photon_cutoff_cm`` (default 10 cm;
  the energy absorbed beyond it is dropped). No build-up or scatter: a first-order method.

Limits: the straight-track, uniform-loss electron model overestimates the reach of low-energy tracks slightly
compared with Monte Carlo dose-point kernels (Berger 1971 scaled kernels; Lanconelli et al. 2012 Phys Med Biol
57:517 publish Monte Carlo voxel S-values for Lu-177, Y-90, I-131 at 3–6 mm voxels that would be the
independent check); the kernel is for water (density differences act through the voxel mass only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import qmc

from ..dosimetry.sphere import chain_emissions, electron_csda_range_cm, photon_energy_absorption_coefficient
from ..errors import InputError
from ..physics import Nuclide

#: Sobol points per electron/photon energy (2**14); enough for < 0.1 % changes in the self-voxel value.
SOBOL_POINTS = 2**14
#: Fixed seed of the scrambled Sobol sequence, so that a kernel is the same in every run.
SOBOL_SEED = 20240616
#: Photon kernel radius (cm) beyond which absorbed photon energy is dropped.
PHOTON_CUTOFF_CM = 10.0
#: Voxels (Chebyshev distance) around the source integrated by Sobol for photons; beyond, centre-to-centre.
PHOTON_NEAR = 2
#: Electron spectrum is rebinned to this many groups of equal emitted energy.
ELECTRON_GROUPS = 48


@dataclass(frozen=True, eq=False)
class VoxelKernel:
    """Energy deposited (MeV per decay) in each voxel around a source voxel, by radiation type.

    Arrays are odd-sized and centred on the source voxel; ``spacing_cm`` is the voxel size (x, y, z).
    """

    nuclide: str
    spacing_cm: tuple[float, float, float]
    electron: np.ndarray
    alpha_MeV: float
    photon: np.ndarray | None
    emitted_electron_MeV: float
    emitted_photon_MeV: float

    @property
    def local_MeV(self) -> float:
        """Non-penetrating energy emitted per decay (α, recoils, electrons)."""
        return self.alpha_MeV + self.emitted_electron_MeV

    def non_penetrating(self) -> np.ndarray:
        """Kernel of electrons and α particles (MeV per decay); it sums to :attr:`local_MeV`."""
        kernel = self.electron.copy()
        centre = tuple(size // 2 for size in kernel.shape)
        kernel[centre] += self.alpha_MeV
        return kernel

    def total(self) -> np.ndarray:
        """Non-penetrating kernel plus the photon kernel (when computed), on the larger of the two grids."""
        local = self.non_penetrating()
        if self.photon is None:
            return local
        kernel = self.photon.copy()
        pad = [(k - e) // 2 for k, e in zip(kernel.shape, local.shape)]
        kernel[tuple(slice(p, p + e) for p, e in zip(pad, local.shape))] += local
        return kernel

    def summary(self) -> dict[str, object]:
        centre = tuple(size // 2 for size in self.electron.shape)
        return {"nuclide": self.nuclide, "voxel_cm": list(self.spacing_cm),
                "electron_kernel_shape": list(self.electron.shape),
                "self_voxel_electron_fraction": float(self.electron[centre] / self.emitted_electron_MeV)
                if self.emitted_electron_MeV > 0 else None,
                "alpha_MeV": self.alpha_MeV, "electron_MeV": self.emitted_electron_MeV,
                "photon_MeV": self.emitted_photon_MeV,
                "photon_kernel_shape": None if self.photon is None else list(self.photon.shape),
                "photon_absorbed_MeV_within_cutoff": None if self.photon is None else float(self.photon.sum())}


def _check_spacing(spacing_cm) -> tuple[float, float, float]:
    try:
        values = tuple(float(value) for value in spacing_cm)
    except (TypeError, ValueError):
        raise InputError("voxel_spacing", spacing_cm, "three positive voxel sizes in cm") from None
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError("voxel_spacing", spacing_cm, "three positive voxel sizes in cm")
    return values


def _electron_groups(name: str, include_daughters: bool) -> tuple[np.ndarray, np.ndarray]:
    """(energy MeV, emitted energy MeV per decay) of the electron groups: β spectrum rebinned, plus lines."""
    chain = chain_emissions(name, include_daughters)
    energies, weights = [], []
    if chain.beta_energy > 0:
        grid, density = chain.beta_spectrum_energy, chain.beta_spectrum_density
        # fine trapezoid cells of E·n(E), then equal-energy groups, each at its energy-weighted mean energy
        middle = 0.5 * (grid[1:] + grid[:-1])
        cell = np.diff(grid) * 0.5 * (grid[1:] * density[1:] + grid[:-1] * density[:-1])
        cell = cell * chain.beta_energy / cell.sum()
        group = np.minimum((np.cumsum(cell) - 0.5 * cell) / chain.beta_energy * ELECTRON_GROUPS,
                           ELECTRON_GROUPS - 1).astype(int)
        for index in np.unique(group):
            chosen = group == index
            energies.append(float(middle[chosen] @ cell[chosen] / cell[chosen].sum()))
            weights.append(float(cell[chosen].sum()))
    for energy, yield_ in chain.electron_lines:
        if energy * yield_ > 0:
            energies.append(float(energy))
            weights.append(float(energy * yield_))
    return np.array(energies), np.array(weights)


def _sobol(dimensions: int) -> np.ndarray:
    return qmc.Sobol(d=dimensions, scramble=True, seed=SOBOL_SEED).random(SOBOL_POINTS)


def _directions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos_theta = 2.0 * u - 1.0
    sin_theta = np.sqrt(np.maximum(0.0, 1.0 - cos_theta**2))
    phi = 2.0 * math.pi * v
    return np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=1)


def _deposit(distance_cm: np.ndarray, weights: np.ndarray, spacing: np.ndarray, half: np.ndarray,
             points: np.ndarray, keep=None) -> np.ndarray:
    """Histogram of ray end points (source position + distance·direction) into a box of half-widths ``half``.

    ``distance_cm`` is (energies, samples); each energy's samples carry ``weights[energy] / samples``.
    """
    start = (points[:, :3] - 0.5) * spacing          # uniform in the source voxel, centre at 0
    direction = _directions(points[:, 3], points[:, 4])
    shape = 2 * half + 1
    kernel = np.zeros(int(np.prod(shape)))
    for row, weight in zip(distance_cm, weights):
        end = start + row[:, None] * direction
        index = np.floor(end / spacing + 0.5).astype(np.int64) + half
        inside = np.all((index >= 0) & (index < shape), axis=1)
        if keep is not None:
            inside &= keep(index - half)
        flat = np.ravel_multi_index(tuple(index[inside].T), tuple(shape))
        kernel += np.bincount(flat, minlength=kernel.size) * (weight / len(row))
    kernel = kernel.reshape(tuple(shape))
    # the voxel is symmetric under each axis reflection: average the 8 reflections (less quadrature noise)
    for axis in range(3):
        kernel = 0.5 * (kernel + np.flip(kernel, axis=axis))
    return kernel


@lru_cache(maxsize=16)
def _kernel(name: str, include_daughters: bool, spacing: tuple[float, float, float], photons: bool,
            photon_cutoff_cm: float) -> VoxelKernel:
    source = Nuclide(name, include_daughters)
    energy = source.energy_per_decay
    spacing_array = np.array(spacing)
    points = _sobol(6)
    energies, weights = _electron_groups(source.name, include_daughters)
    if len(energies):
        ranges = np.asarray(electron_csda_range_cm(energies), float)
        half = np.ceil(ranges.max() / spacing_array).astype(int) + 1
        electron = _deposit(ranges[:, None] * points[None, :, 5], weights, spacing_array, half, points)
        electron *= energy.electron / electron.sum()  # ICRP-107 total; the groups sum to it up to rounding
    else:
        electron = np.zeros((1, 1, 1))
    photon_kernel = None
    if photons and energy.photon > 0:
        lines = chain_emissions(source.name, include_daughters).photon_lines
        lines = lines[lines[:, 0] * lines[:, 1] > 0]
        mu = np.asarray(photon_energy_absorption_coefficient(lines[:, 0]), float)
        line_energy = lines[:, 0] * lines[:, 1]
        half = np.floor(photon_cutoff_cm / spacing_array).astype(int)
        near = np.minimum(half, PHOTON_NEAR)
        # near voxels: Sobol over source position, direction and the exponential absorption depth
        depth = -np.log1p(-points[None, :, 5]) / mu[:, None]
        depth = np.where(depth <= photon_cutoff_cm, depth, np.inf)
        photon_kernel = np.zeros(tuple(2 * half + 1))
        near_kernel = _deposit(np.where(np.isfinite(depth), depth, 1e9), line_energy, spacing_array, near, points)
        # far voxels: point kernel at the voxel centre times the voxel volume
        axes = [np.arange(-h, h + 1) * s for h, s in zip(half, spacing_array)]
        x, y, z = np.meshgrid(*axes, indexing="ij")
        r = np.sqrt(x**2 + y**2 + z**2)
        far = np.zeros_like(r)
        safe = np.where(r > 0, r, 1.0)
        volume = float(np.prod(spacing_array))
        for e_y, m in zip(line_energy, mu):
            far += e_y * m * np.exp(-m * safe) / (4.0 * math.pi * safe**2) * volume
        far[r > photon_cutoff_cm] = 0.0
        photon_kernel[...] = far
        offsets = [np.abs(np.arange(-h, h + 1)) for h in half]
        chebyshev = np.maximum.reduce(np.meshgrid(*offsets, indexing="ij"))
        photon_kernel[chebyshev <= PHOTON_NEAR] = 0.0
        start = half - near
        photon_kernel[tuple(slice(s, s + 2 * n + 1) for s, n in zip(start, near))] += near_kernel
    return VoxelKernel(source.name, spacing, electron, float(energy.alpha), photon_kernel, float(energy.electron),
                       float(energy.photon))


def voxel_kernel(nuclide: str | Nuclide, spacing_cm, *, photons: bool = True,
                 photon_cutoff_cm: float = PHOTON_CUTOFF_CM) -> VoxelKernel:
    """The dose-voxel kernel of ``nuclide`` (equilibrium daughters included) at voxel size ``spacing_cm``."""
    source = nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)
    spacing = _check_spacing(spacing_cm)
    if not (math.isfinite(photon_cutoff_cm) and photon_cutoff_cm > 0):
        raise InputError("photon_cutoff_cm", photon_cutoff_cm, "a positive distance in cm")
    rounded = tuple(round(value, 9) for value in spacing)
    return _kernel(source.name, source.include_daughters, rounded, bool(photons), float(photon_cutoff_cm))
