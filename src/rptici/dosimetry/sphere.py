"""Self-dose S-values of unit-density spheres (tumours) and of organs treated as spheres.

For a uniform source in a sphere of mass m (MIRD schema, Loevinger, Budinger and Watson 1988):

    S(sphere ← sphere) = k · [φ_α E_α + φ_e E_e + φ_γ E_γ] / m

with E the mean energy emitted per decay by each radiation type (ICRP-107, equilibrium daughters
included) and k = 576.7 mGy g per MBq h per MeV (:data:`~rptici.dosimetry.absorbed_dose.ENERGY_TO_DOSE_MGY_G_PER_MBQ_H`).

Absorbed fractions (parameters and sources in ``data/absorbed_fractions.yaml``):

* charged particles (α, β, conversion and Auger electrons): straight tracks of the CSDA range with
  energy deposited evenly along them; the fraction of track length left inside a sphere of radius r is
  ``1 - 3R/(8r) + R³/(64r³)`` for R ≤ 2r and ``3r/(4R)`` beyond (Berger 1971, MIRD Pamphlet 7). Electron
  fractions are weighted by energy over the ICRP-107 β spectrum and the discrete conversion and Auger
  lines; α fractions over the α lines (ranges from the Geiger and Bragg–Kleeman rules).
* photons: the μ_en approximation (Brownell, Ellett and Reddy 1968, MIRD Pamphlet 3), φ = 1 − P_esc(μ_en r),
  with the exact escape probability of a uniform source in a sphere,
  ``P_esc(x) = 3/(8x³) · [2x² − 1 + (1 + 2x) e^(−2x)]`` (Case, de Hoffmann and Placzek 1953), summed over
  the γ, X-ray and annihilation lines of the chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..data import load_yaml
from ..errors import InputError
from ..physics import Nuclide
from ..physics.nuclides import emissions, known_nuclides
from .absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, SValue

_DATA_FILE = "absorbed_fractions.yaml"
_PHOTON_GROUPS = ("gamma", "X", "annihilation")
_ELECTRON_LINE_GROUPS = ("IE", "auger")


def _parameters() -> dict:
    return load_yaml(_DATA_FILE)


def _as_nuclide(nuclide: str | Nuclide) -> Nuclide:
    return nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)


def _check_mass(mass_g: float | np.ndarray) -> np.ndarray:
    """Mass as a float array; non-positive, NaN or infinite masses raise :class:`InputError`."""
    try:
        mass = np.asarray(mass_g, dtype=float)
    except (TypeError, ValueError):
        raise InputError("mass", mass_g, "a positive mass in g (number or array)") from None
    if mass.size == 0 or not np.all(np.isfinite(mass)) or np.any(mass <= 0):
        raise InputError("mass", mass_g, "a positive, finite mass in g (number or array)")
    return mass


def _result(values: np.ndarray, mass_g: float | np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(mass_g) == 0 else values


def sphere_radius_cm(mass_g: float | np.ndarray) -> float | np.ndarray:
    """Radius (cm) of a sphere of the model tissue's density: r = (3m / (4πρ))^(1/3)."""
    mass = _check_mass(mass_g)
    density = _parameters()["tissue"]["density_g_per_cm3"]
    return _result(np.cbrt(3.0 * mass / (4.0 * math.pi * density)), mass_g)


# --- geometry ------------------------------------------------------------------------------------

def straight_track_fraction_inside(track_length_cm: np.ndarray, radius_cm: np.ndarray) -> np.ndarray:
    """Fraction of isotropic straight tracks of length R, started uniformly in a sphere, that lies inside.

    ``1 - 3R/(8r) + R³/(64 r³)`` for R ≤ 2r, ``3r/(4R)`` for R > 2r: the mean over the track of the
    sphere's geometric reduction factor ``1 - 3s/(4r) + s³/(16 r³)`` (Berger 1971, MIRD Pamphlet 7).
    """
    length, radius = np.broadcast_arrays(np.asarray(track_length_cm, float), np.asarray(radius_cm, float))
    ratio = length / radius
    short = 1.0 - 3.0 * ratio / 8.0 + ratio**3 / 64.0
    long = 0.75 / np.where(ratio > 0, ratio, 1.0)
    return np.where(ratio <= 2.0, short, long)


def photon_escape_probability(optical_radius: np.ndarray) -> np.ndarray:
    """Probability that a photon from a uniform source in a sphere escapes uncollided; x = μ·r.

    ``P(x) = 3/(8x³) · [2x² − 1 + (1 + 2x) e^(−2x)]`` (Case, de Hoffmann and Placzek 1953); below
    x = 0.01 its series ``1 − 3x/4 + 2x²/5 − x³/6`` avoids cancellation.
    """
    x = np.asarray(optical_radius, dtype=float)
    safe = np.where(x < 0.01, 1.0, x)
    exact = 3.0 / (8.0 * safe**3) * (2.0 * safe**2 - 1.0 + (1.0 + 2.0 * safe) * np.exp(-2.0 * safe))
    series = 1.0 - 0.75 * x + 0.4 * x**2 - x**3 / 6.0
    return np.where(x < 0.01, series, exact)


# --- ranges and attenuation -----------------------------------------------------------------------

def _log_log(energy_MeV: np.ndarray, table_energy: np.ndarray, table_value: np.ndarray) -> np.ndarray:
    """Log-log interpolation, extrapolated along the end slopes."""
    log_energy = np.log(np.maximum(np.asarray(energy_MeV, float), 1e-12))
    log_x, log_y = np.log(table_energy), np.log(table_value)
    inside = np.interp(log_energy, log_x, log_y)
    low_slope = (log_y[1] - log_y[0]) / (log_x[1] - log_x[0])
    high_slope = (log_y[-1] - log_y[-2]) / (log_x[-1] - log_x[-2])
    below = log_y[0] + low_slope * (log_energy - log_x[0])
    above = log_y[-1] + high_slope * (log_energy - log_x[-1])
    return np.exp(np.where(log_energy < log_x[0], below, np.where(log_energy > log_x[-1], above, inside)))


@lru_cache(maxsize=1)
def _range_table() -> tuple[np.ndarray, np.ndarray]:
    table = _parameters()["electron_csda_range_water"]
    return np.array(table["energy_MeV"], float), np.array(table["range_g_per_cm2"], float)


@lru_cache(maxsize=1)
def _attenuation_table() -> tuple[np.ndarray, np.ndarray]:
    table = _parameters()["photon_mass_energy_absorption_water"]
    return np.array(table["energy_MeV"], float), np.array(table["mu_en_over_rho"], float)


def electron_csda_range_cm(energy_MeV: float | np.ndarray) -> float | np.ndarray:
    """CSDA range (cm) of electrons in the model tissue (ESTAR, water), log-log interpolated."""
    density = _parameters()["tissue"]["density_g_per_cm3"]
    values = _log_log(energy_MeV, *_range_table()) / density
    return float(values) if np.ndim(energy_MeV) == 0 else values


def alpha_range_cm(energy_MeV: float | np.ndarray) -> float | np.ndarray:
    """Range (cm) of α particles in water: Geiger's rule in air carried over by the Bragg–Kleeman rule."""
    rule = _parameters()["alpha_range"]
    air_range = rule["geiger_coefficient_cm_air_per_MeV_1p5"] * np.asarray(energy_MeV, float) ** rule["geiger_exponent"]
    atomic = rule["sqrt_effective_atomic_mass"]
    density = _parameters()["tissue"]["density_g_per_cm3"]
    values = air_range * rule["air_density_g_per_cm3"] / density * atomic["water"] / atomic["air"]
    return float(values) if np.ndim(energy_MeV) == 0 else values


def photon_energy_absorption_coefficient(energy_MeV: float | np.ndarray) -> float | np.ndarray:
    """Linear energy-absorption coefficient μ_en (1/cm) of the model tissue (water, Hubbell and Seltzer)."""
    density = _parameters()["tissue"]["density_g_per_cm3"]
    values = _log_log(energy_MeV, *_attenuation_table()) * density
    return float(values) if np.ndim(energy_MeV) == 0 else values


# --- emissions of a nuclide and its equilibrium daughters ------------------------------------------

@dataclass(frozen=True)
class ChainEmissions:
    """Emission lines (MeV, yield per parent decay) and the β spectrum of a nuclide with its daughters."""

    alpha_lines: np.ndarray        # (n, 2): energy, yield
    alpha_recoil_energy: float     # MeV per decay, always absorbed locally
    electron_lines: np.ndarray     # conversion and Auger electrons (and β branches without a spectrum)
    beta_spectrum_energy: np.ndarray   # MeV grid, shared by all members
    beta_spectrum_density: np.ndarray  # number per MeV per parent decay
    beta_energy: float             # mean energy per parent decay (MeV) of the β branches with a spectrum
    photon_lines: np.ndarray


@lru_cache(maxsize=None)
def chain_emissions(name: str, include_daughters: bool = True) -> ChainEmissions:
    """Every line of ``name`` and of its equilibrium daughters, weighted by decays per parent decay."""
    nuclide = Nuclide(name, include_daughters)
    members = {nuclide.name: 1.0, **nuclide.daughters_included}
    known = set(known_nuclides())
    alpha, electrons, photons = [], [], []
    recoil = beta = 0.0
    spectra: list[tuple[np.ndarray, np.ndarray, float]] = []
    for member, weight in members.items():
        if member not in known:
            continue
        lines = emissions(member)
        alpha += [(energy, weight * yield_) for energy, yield_ in lines.get("alpha", [])]
        recoil += weight * sum(energy * yield_ for energy, yield_ in lines.get("alpha recoil", []))
        electrons += [(energy, weight * yield_) for group in _ELECTRON_LINE_GROUPS for energy, yield_ in lines.get(group, [])]
        photons += [(energy, weight * yield_) for group in _PHOTON_GROUPS for energy, yield_ in lines.get(group, [])]
        branches = [(energy, weight * yield_) for group in ("beta-", "beta+") for energy, yield_ in lines.get(group, [])]
        member_beta = sum(energy * yield_ for energy, yield_ in branches)
        spectrum = np.array(lines.get("b-spectra", []), float).reshape(-1, 2)
        if member_beta > 0 and len(spectrum) > 1:
            spectra.append((spectrum[:, 0], spectrum[:, 1], member_beta))
            beta += member_beta
        else:  # no tabulated spectrum: each β branch at its mean energy
            electrons += branches
    grid = np.unique(np.concatenate([energy for energy, _, _ in spectra])) if spectra else np.zeros(0)
    density = np.zeros_like(grid)
    for energy, number, member_beta in spectra:
        # each member's spectrum rescaled so that its energy integral is its mean β energy
        scale = member_beta / np.trapezoid(energy * number, energy)
        density += scale * np.interp(grid, energy, number, left=0.0, right=0.0)
    as_array = lambda lines: np.array(lines, float).reshape(-1, 2)  # noqa: E731
    return ChainEmissions(as_array(alpha), recoil, as_array(electrons), grid, density, beta, as_array(photons))


# --- absorbed fractions -------------------------------------------------------------------------

def monoenergetic_electron_absorbed_fraction(energy_MeV: float | np.ndarray, mass_g: float | np.ndarray) -> float | np.ndarray:
    """Absorbed fraction of electrons of one energy emitted uniformly in a unit-density sphere."""
    radius = np.asarray(sphere_radius_cm(mass_g))
    values = straight_track_fraction_inside(np.asarray(electron_csda_range_cm(energy_MeV)), radius)
    return float(values) if np.ndim(values) == 0 else values


def monoenergetic_photon_absorbed_fraction(energy_MeV: float | np.ndarray, mass_g: float | np.ndarray) -> float | np.ndarray:
    """Absorbed fraction of photons of one energy emitted uniformly in a sphere: 1 − P_esc(μ_en r)."""
    radius = np.asarray(sphere_radius_cm(mass_g))
    values = 1.0 - photon_escape_probability(np.asarray(photon_energy_absorption_coefficient(energy_MeV)) * radius)
    return float(values) if np.ndim(values) == 0 else values


def _electron_fraction_inside(energy_MeV: np.ndarray, radius_cm: np.ndarray) -> np.ndarray:
    return straight_track_fraction_inside(np.asarray(electron_csda_range_cm(energy_MeV)), radius_cm)


def _alpha_fraction_inside(energy_MeV: np.ndarray, radius_cm: np.ndarray) -> np.ndarray:
    return straight_track_fraction_inside(np.asarray(alpha_range_cm(energy_MeV)), radius_cm)


def _photon_fraction_absorbed(energy_MeV: np.ndarray, radius_cm: np.ndarray) -> np.ndarray:
    return 1.0 - photon_escape_probability(np.asarray(photon_energy_absorption_coefficient(energy_MeV)) * radius_cm)


def _absorbed_line_energy(lines: np.ndarray, fraction_of, radius: np.ndarray) -> np.ndarray:
    """Σ E·y·φ(E, r) over lines (MeV per decay); ``radius`` may be an array (result has its shape)."""
    if len(lines) == 0:
        return np.zeros_like(radius)
    fractions = fraction_of(lines[:, :1], radius.reshape(1, -1))
    return _sum_rows((lines[:, :1] * lines[:, 1:2]) * fractions).reshape(radius.shape)


def _sum_rows(terms: np.ndarray) -> np.ndarray:
    """Σ over the first axis, adding row after row: the same order for one column as for many, so a patient's
    S-value does not depend on how many patients it is computed with (``terms.sum(axis=0)`` sums a single
    column pairwise and many columns row after row; issue 19, item 13)."""
    total = terms[0].copy()
    for row in terms[1:]:
        total += row
    return total


def _line_energy(lines: np.ndarray) -> float:
    return float(lines[:, 0] @ lines[:, 1]) if len(lines) else 0.0


def _chain(nuclide: str | Nuclide) -> ChainEmissions:
    source = _as_nuclide(nuclide)
    return chain_emissions(source.name, source.include_daughters)


def electron_absorbed_fraction(nuclide: str | Nuclide, mass_g: float | np.ndarray) -> float | np.ndarray:
    """Energy-weighted absorbed fraction of all electrons (β spectrum, conversion, Auger) of a nuclide
    and its equilibrium daughters, in a unit-density sphere of ``mass_g``."""
    chain = _chain(nuclide)
    radius = np.asarray(sphere_radius_cm(mass_g), float)
    absorbed = _absorbed_line_energy(chain.electron_lines, _electron_fraction_inside, radius)
    if chain.beta_energy > 0:
        grid = chain.beta_spectrum_energy
        weight = grid * chain.beta_spectrum_density
        fractions = _electron_fraction_inside(grid[:, None], radius.reshape(1, -1))
        values = weight[:, None] * fractions  # the trapezoid rule, summed in the same order for any number of radii
        beta_fraction = _sum_rows(np.diff(grid)[:, None] * (values[1:] + values[:-1]) / 2.0) / np.trapezoid(weight, grid)
        absorbed = absorbed + beta_fraction.reshape(radius.shape) * chain.beta_energy
    emitted = _line_energy(chain.electron_lines) + chain.beta_energy
    return _result(absorbed / emitted if emitted > 0 else np.ones_like(radius), mass_g)


def alpha_absorbed_fraction(nuclide: str | Nuclide, mass_g: float | np.ndarray) -> float | np.ndarray:
    """Energy-weighted absorbed fraction of α particles and recoil nuclei (recoils stop where emitted)."""
    chain = _chain(nuclide)
    radius = np.asarray(sphere_radius_cm(mass_g), float)
    emitted = _line_energy(chain.alpha_lines) + chain.alpha_recoil_energy
    if emitted <= 0:
        return _result(np.ones_like(radius), mass_g)
    absorbed = _absorbed_line_energy(chain.alpha_lines, _alpha_fraction_inside, radius) + chain.alpha_recoil_energy
    return _result(absorbed / emitted, mass_g)


def photon_absorbed_fraction(nuclide: str | Nuclide, mass_g: float | np.ndarray) -> float | np.ndarray:
    """Energy-weighted absorbed fraction of the γ, X-ray and annihilation photons of a nuclide and its
    chain, in a unit-density sphere of ``mass_g`` (μ_en approximation)."""
    chain = _chain(nuclide)
    radius = np.asarray(sphere_radius_cm(mass_g), float)
    emitted = _line_energy(chain.photon_lines)
    if emitted <= 0:
        return _result(np.ones_like(radius), mass_g)
    return _result(_absorbed_line_energy(chain.photon_lines, _photon_fraction_absorbed, radius) / emitted, mass_g)


# --- S-values -----------------------------------------------------------------------------------

def sphere_s_value(nuclide: str | Nuclide, mass_g: float | np.ndarray) -> SValue:
    """Self-dose S-value (mGy/(MBq h)) of a uniform source in a unit-density sphere of ``mass_g``.

    Components by radiation type; arrays when ``mass_g`` is an array.
    """
    source = _as_nuclide(nuclide)
    mass = _check_mass(mass_g)
    energy = source.energy_per_decay
    per_mass = ENERGY_TO_DOSE_MGY_G_PER_MBQ_H / mass
    alpha = per_mass * energy.alpha * np.asarray(alpha_absorbed_fraction(source, mass)) if energy.alpha > 0 else 0.0 * per_mass
    electron = per_mass * energy.electron * np.asarray(electron_absorbed_fraction(source, mass))
    photon = per_mass * energy.photon * np.asarray(photon_absorbed_fraction(source, mass))
    return SValue(_result(alpha, mass_g), _result(electron, mass_g), _result(photon, mass_g))


def organ_self_s_value(nuclide: str | Nuclide, mass_g: float | np.ndarray) -> SValue:
    """Organ self-dose S-value (mGy/(MBq h)): α and electrons absorbed locally, photons as in a sphere.

    ``S = k · (E_local + φ_γ(m) E_photon) / m``; the organ is a unit-density sphere of its mass for the
    photon term (the DESIGN.md rule for organs when no S-value table is supplied).
    """
    source = _as_nuclide(nuclide)
    mass = _check_mass(mass_g)
    energy = source.energy_per_decay
    per_mass = ENERGY_TO_DOSE_MGY_G_PER_MBQ_H / mass
    photon = per_mass * energy.photon * np.asarray(photon_absorbed_fraction(source, mass))
    return SValue(_result(per_mass * energy.alpha, mass_g), _result(per_mass * energy.electron, mass_g), _result(photon, mass_g))
