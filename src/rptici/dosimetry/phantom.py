"""Organ S-values with photon cross-dose in a stylised adult reference phantom.

What this is (say it plainly): **not** ICRP Publication 133. No package on a registry ships the ICRP 133
specific absorbed fractions (SAFs) or a published organ S-value table, so rptici computes the penetrating
(photon) cross-dose itself, a documented physics approximation:

* organs are the analytic shapes of the Cristy–Eckerman adult phantom (Cristy and Eckerman 1987,
  ORNL/TM-8381; after Snyder et al. 1978, MIRD Pamphlet 5 Revised), listed with their sources in
  ``data/phantoms.yaml``; the body is homogeneous soft tissue (1.04 g/cm³, no lung or bone density);
* photon SAFs between two regions by point-kernel integration: for source points x_s uniform in the source
  region and target points x_t uniform in the target region,

      Φ(T ← S; E) = ⟨ (μ_en/ρ) · B_en(μr) · e^(−μr) / (4π r²) ⟩,   r = |x_t − x_s|   (1/g)

  averaged over 2¹⁷ pairs drawn with a fixed seed (the same numbers every run). Where the regions overlap
  (a region with itself, or with the whole body or its remainder) the 1/r² makes that average useless, and the
  kernel is sampled instead: from target points, a step r drawn from the kernel's own radial energy
  distribution, Φ = ⟨q_S(x_t + rΩ)⟩/ρ with q_S the source's activity density. μ and μ_en of water (Hubbell
  and Seltzer 1995, NISTIR 5632, scaled to 1.04 g/cm³); B_en = 1 + (μ/μ_en − 1)·μr, the linear
  energy-absorption buildup factor whose kernel deposits all the photon energy in an infinite medium
  (∫ 4πr² ρ Φ dr = 1; Berger 1968, MIRD Pamphlet 2, for the point-kernel method). Kernel sampling counts
  the escape through the skin (a step that leaves the body deposits nothing); the point-pair average between
  separate organs does not (infinite medium), which matters little for organs deep in the trunk;
* α particles and electrons deposit in their source region (self-dose only); bremsstrahlung is not counted,
  so a pure β emitter (Y-90) has no cross-dose here;
* self-dose S(T ← T) stays :func:`~rptici.dosimetry.sphere.organ_self_s_value` of the patient's organ mass.

    S(T ← S) = k · Σ_lines E_i y_i Φ(T ← S; E_i) · (M_ref / M_patient)^(2/3)      for T ≠ S

k = 576.7 mGy g/(MBq h MeV). The last factor is the mass scaling to the patient: for a phantom scaled
uniformly by s in length (s³ = M_patient/M_ref), the SAF of a distant source goes as 1/r², i.e. as
(M_ref/M_patient)^(2/3) (attenuation over the changed distances is neglected).
The adult female is the male geometry scaled by (60 kg / 73 kg)^(1/3) (ICRP 89 body masses), an
approximation for want of the Cristy–Eckerman adult-female shapes.

Regions: ``kidneys``, ``liver``, ``spleen``, ``salivary_glands``, ``red_marrow`` (spread over bone sites
by the adult's active-marrow fractions), ``total_body`` and ``remainder`` (the body less the named organs:
blood and the rest-of-body compartments of the biokinetic models). Lesions, whose position is not known,
are placed at random in the body: S(lesion ← S) and S(T ← lesion) use ``total_body``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..physics import Nuclide
from .absorbed_dose import ENERGY_TO_DOSE_MGY_G_PER_MBQ_H, SValue
from .sphere import _log_log, chain_emissions, organ_self_s_value

_DATA_FILE = "phantoms.yaml"
#: Point pairs per (target, source) region pair, and the seed of their draw.
PAIRS = 2**17
SEED = 20261205
#: Photon energies (MeV) at which SAFs are tabulated; line energies are log-log interpolated between them.
ENERGY_GRID_MeV = np.array([0.010, 0.015, 0.020, 0.030, 0.040, 0.050, 0.060, 0.080, 0.100, 0.150, 0.200, 0.300,
                            0.400, 0.500, 0.600, 0.800, 1.000, 1.250, 1.500, 2.000, 3.000, 4.000, 6.000, 10.00])
#: Regions of the phantom that are organs (the remainder of body is the body less these).
ORGANS = ("kidneys", "liver", "spleen", "salivary_glands", "red_marrow")
REGIONS = ORGANS + ("total_body", "remainder")
SEXES = ("male", "female")
#: Compartment-name prefixes that stand for the skeleton (bone-seeker models): the red-marrow region.
_BONE_PREFIXES = ("bone", "trabecular", "cortical")


def _data() -> dict:
    return load_yaml(_DATA_FILE)


# --- geometry ------------------------------------------------------------------------------------

def _bounds(shape: Mapping) -> tuple[np.ndarray, np.ndarray]:
    kind = shape["shape"]
    if kind == "ellipsoid":
        centre, axes = np.array(shape["centre"], float), np.array(shape["semi_axes"], float)
        return centre - axes, centre + axes
    if kind == "elliptic_cylinder":
        (x, y), (a, b), (z1, z2) = shape["centre"], shape["semi_axes"], shape["z"]
        return np.array([x - a, y - b, z1], float), np.array([x + a, y + b, z2], float)
    if kind == "cone":
        (x, y), radius, (z1, z2) = shape["centre"], max(shape["radius"]), shape["z"]
        return np.array([x - radius, y - radius, z1], float), np.array([x + radius, y + radius, z2], float)
    raise InputError("phantoms.yaml shape", kind, "ellipsoid, elliptic_cylinder or cone")


def inside(shape: Mapping, points: np.ndarray) -> np.ndarray:
    """Which of ``points`` (n, 3) lie in ``shape`` (its ``keep`` half-spaces applied, its ``minus`` removed)."""
    x, y, z = points.T
    kind = shape["shape"]
    if kind == "ellipsoid":
        (cx, cy, cz), (a, b, c) = shape["centre"], shape["semi_axes"]
        mask = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0
    elif kind == "elliptic_cylinder":
        (cx, cy), (a, b), (z1, z2) = shape["centre"], shape["semi_axes"], shape["z"]
        mask = (((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0) & (z >= z1) & (z <= z2)
    elif kind == "cone":
        (cx, cy), (r1, r2), (z1, z2) = shape["centre"], shape["radius"], shape["z"]
        radius = r1 + (r2 - r1) * (z - z1) / (z2 - z1)
        mask = ((x - cx) ** 2 + (y - cy) ** 2 <= radius**2) & (z >= z1) & (z <= z2)
    else:
        raise InputError("phantoms.yaml shape", kind, "ellipsoid, elliptic_cylinder or cone")
    for plane in shape.get("keep", ()):
        mask &= points @ np.asarray(plane["normal"], float) <= float(plane["offset"])
    for hole in shape.get("minus", ()):
        mask &= ~inside(hole, points)
    return mask


def _sample_shape(shape: Mapping, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform in ``shape`` by rejection from its bounding box."""
    low, high = _bounds(shape)
    chosen: list[np.ndarray] = []
    found = 0
    while found < count:
        candidates = rng.uniform(low, high, size=(max(4 * (count - found), 1024), 3))
        kept = candidates[inside(shape, candidates)]
        chosen.append(kept)
        found += len(kept)
    return np.concatenate(chosen)[:count]


def shape_volume_cm3(shape: Mapping, samples: int = 400_000, seed: int = SEED) -> float:
    """Volume (cm³) of ``shape`` by hit-or-miss in its bounding box (fixed seed; relative error ~ 1/√samples)."""
    low, high = _bounds(shape)
    points = np.random.default_rng(seed).uniform(low, high, size=(samples, 3))
    return float(np.prod(high - low) * np.mean(inside(shape, points)))


@dataclass(frozen=True)
class _Region:
    name: str
    parts: tuple[Mapping, ...]
    weights: tuple[float, ...]   # probability of each part (by volume, or the data file's weights)
    volume_cm3: float
    excluded: tuple[Mapping, ...] = ()   # shapes removed from every part (the organs, for the remainder)
    part_volumes_cm3: tuple[float, ...] = ()

    def density(self, points: np.ndarray) -> np.ndarray:
        """Probability density (1/cm³) of the region's activity at ``points``: Σ_k w_k 1_k / V_k, less the
        excluded shapes (parts are disjoint)."""
        if self.excluded:
            inside_parts = np.any([inside(part, points) for part in self.parts], axis=0)
            outside_organs = ~np.any([inside(part, points) for part in self.excluded], axis=0)
            return (inside_parts & outside_organs) / self.volume_cm3
        result = np.zeros(len(points))
        for part, weight, volume in zip(self.parts, self.weights, self.part_volumes_cm3):
            result += inside(part, points) * (weight / volume)
        return result


@lru_cache(maxsize=1)
def _regions() -> dict[str, _Region]:
    data = _data()
    body = tuple(data["body"].values()) if isinstance(data["body"], Mapping) else tuple(data["body"])
    body = tuple(part for part in body if isinstance(part, Mapping))
    body_volumes = [shape_volume_cm3(part) for part in body]
    regions: dict[str, _Region] = {}
    organ_parts: list[Mapping] = []
    for name in ORGANS:
        entry = data["regions"][name]
        parts = tuple(entry["parts"])
        volumes = [shape_volume_cm3(part) for part in parts]
        if entry.get("weighted"):
            weights = np.array([float(part["weight"]) for part in parts])
        else:
            weights = np.array(volumes)
        regions[name] = _Region(name, parts, tuple(weights / weights.sum()), float(sum(volumes)),
                                part_volumes_cm3=tuple(volumes))
        if name != "red_marrow":
            organ_parts += list(parts)
    total = float(sum(body_volumes))
    regions["total_body"] = _Region("total_body", body, tuple(np.array(body_volumes) / total), total,
                                    part_volumes_cm3=tuple(body_volumes))
    organ_volume = sum(regions[name].volume_cm3 for name in ORGANS if name != "red_marrow")
    regions["remainder"] = _Region("remainder", body, tuple(np.array(body_volumes) / total), total - organ_volume,
                                   tuple(organ_parts), tuple(body_volumes))
    return regions


@lru_cache(maxsize=32)
def sample_region(name: str, count: int, seed: int = SEED) -> np.ndarray:
    """``count`` points (n, 3, cm, male phantom) distributed in region ``name`` as its activity would be
    (cached: treat as read-only)."""
    regions = _regions()
    if name not in regions:
        raise UnknownNameError("phantom region", name, tuple(regions))
    region = regions[name]
    rng = np.random.default_rng([seed, REGIONS.index(name)])
    counts = rng.multinomial(count, region.weights)
    points = [_sample_shape(part, number, rng) for part, number in zip(region.parts, counts) if number]
    result = np.concatenate(points)
    if region.excluded:  # rejection of points inside the named organs, redrawn until enough remain
        keep = ~np.any([inside(part, result) for part in region.excluded], axis=0)
        result = result[keep]
        while len(result) < count:
            extra = sample_region.__wrapped__("total_body", 2 * (count - len(result)), int(rng.integers(2**31)))
            extra = extra[~np.any([inside(part, extra) for part in region.excluded], axis=0)]
            result = np.concatenate([result, extra])
        result = result[:count]
    result = rng.permutation(result)
    result.flags.writeable = False
    return result


def region_mass_g(name: str, sex: str = "male") -> float:
    """Mass (g) of a phantom region at the soft-tissue density (red marrow: its bone-site shapes, not a mass)."""
    check_sex(sex)
    density = float(_data()["soft_tissue_density_g_per_cm3"]["value"])
    regions = _regions()
    if name not in regions:
        raise UnknownNameError("phantom region", name, tuple(regions))
    return regions[name].volume_cm3 * density * _length_scale(sex) ** 3


# --- photon specific absorbed fractions ------------------------------------------------------------

def check_sex(sex: str) -> str:
    if sex not in SEXES:
        raise InputError("phantom", sex, "male or female (the adult reference phantoms)")
    return sex


def _reference_body_g(sex: str) -> float:
    return float(load_yaml("reference_anatomy.yaml")[sex]["total_body_g"]["value"])


def _length_scale(sex: str) -> float:
    """Length scale of the phantom of ``sex`` relative to the male geometry: (M_sex / M_male)^(1/3)."""
    return (_reference_body_g(sex) / _reference_body_g("male")) ** (1.0 / 3.0)


@lru_cache(maxsize=2)
def _attenuation() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = load_yaml("absorbed_fractions.yaml")
    attenuation, absorption = table["photon_mass_attenuation_water"], table["photon_mass_energy_absorption_water"]
    energy = np.array(attenuation["energy_MeV"], float)
    if energy.tolist() != list(absorption["energy_MeV"]):
        raise InputError("absorbed_fractions.yaml", "energy_MeV", "the same energies for mu/rho and mu_en/rho")
    return energy, np.array(attenuation["mu_over_rho"], float), np.array(absorption["mu_en_over_rho"], float)


def point_kernel(distance_cm: np.ndarray, energy_MeV: float) -> np.ndarray:
    """Specific absorbed fraction (1/g) at ``distance_cm`` from a point source of photons of ``energy_MeV`` in
    infinite soft tissue: (μ_en/ρ) B_en(μr) e^(−μr) / (4π r²) with B_en = 1 + (μ/μ_en − 1) μr."""
    energies, mu_rho, mu_en_rho = _attenuation()
    density = float(_data()["soft_tissue_density_g_per_cm3"]["value"])
    mu = float(_log_log(energy_MeV, energies, mu_rho)) * density
    mu_en_over_rho = float(_log_log(energy_MeV, energies, mu_en_rho))
    depth = mu * np.asarray(distance_cm, float)
    buildup = 1.0 + (mu / (mu_en_over_rho * density) - 1.0) * depth
    return mu_en_over_rho * buildup * np.exp(-depth) / (4.0 * math.pi * np.asarray(distance_cm, float) ** 2)


@lru_cache(maxsize=64)
def _distances(target: str, source: str) -> np.ndarray:
    """|x_t − x_s| (cm, male phantom) for :data:`PAIRS` independent pairs."""
    points_t = sample_region(target, PAIRS, SEED)
    points_s = sample_region(source, PAIRS, SEED + 1)
    return np.maximum(np.linalg.norm(points_t - points_s, axis=1), 1e-6)


def overlapping(target: str, source: str) -> bool:
    """Whether two regions share volume (the same region, or one of them the whole body or its remainder)."""
    return target == source or bool({target, source} & {"total_body", "remainder"})


def _coefficients(energy_MeV: float) -> tuple[float, float]:
    """(μ in 1/cm, μ_en/ρ in cm²/g) of soft tissue at ``energy_MeV``."""
    energies, mu_rho, mu_en_rho = _attenuation()
    density = float(_data()["soft_tissue_density_g_per_cm3"]["value"])
    return float(_log_log(energy_MeV, energies, mu_rho)) * density, float(_log_log(energy_MeV, energies, mu_en_rho))


@lru_cache(maxsize=64)
def _kernel_walk(target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Target points, unit directions and the random numbers of the radial draw (fixed seed)."""
    rng = np.random.default_rng([SEED, 7, REGIONS.index(target)])
    points = sample_region(target, PAIRS, SEED + 2)
    directions = rng.standard_normal((PAIRS, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return points, directions, rng.standard_exponential(PAIRS), rng.standard_exponential(PAIRS), rng.uniform(size=PAIRS)


def _kernel_sampled_saf(target: str, source: str, energy_MeV: float, scale: float) -> tuple[float, float]:
    """SAF (1/g) by sampling the kernel: Φ(T ← S) = E[q_S(x_t + rΩ)] / ρ with r drawn from the kernel's own radial
    energy distribution 4πr²ρΦ(r), which for the linear buildup is the mixture (μ_en/μ)·Exp + (1 − μ_en/μ)·Gamma(2)
    in μr. Bounded variance where the regions overlap (the pair average's 1/r² is not). ``scale``: length scale."""
    mu, mu_en_over_rho = _coefficients(energy_MeV)
    density = float(_data()["soft_tissue_density_g_per_cm3"]["value"])
    points, directions, first, second, choose = _kernel_walk(target)
    depth = np.where(choose < mu_en_over_rho * density / mu, first, first + second)
    ends = points + directions * (depth / (mu * scale))[:, None]
    values = _regions()[source].density(ends) / (density * scale**3)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


@lru_cache(maxsize=256)
def _saf_grid(target: str, source: str, sex: str) -> tuple[np.ndarray, np.ndarray]:
    """(SAF, standard error) in 1/g at :data:`ENERGY_GRID_MeV` for the reference phantom of ``sex``, from the
    packaged table (:data:`TABLE_FILE`, written by :func:`write_saf_table`) when it was made with this module's
    settings, else computed (:func:`compute_saf`)."""
    table = _packaged_table()
    key = _pair_key(target, source)
    if table is not None and key in table["saf_per_g"][sex]:
        return np.array(table["saf_per_g"][sex][key]), np.array(table["standard_error_per_g"][sex][key])
    return compute_saf(target, source, sex)


#: Packaged SAF table (data folder): every pair of :data:`REGIONS` for both sexes at :data:`ENERGY_GRID_MeV`.
TABLE_FILE = "phantom_safs.json"


def _pair_key(target: str, source: str) -> str:
    """Table key of an unordered region pair (Φ is reciprocal: Φ(T ← S) = Φ(S ← T))."""
    return "|".join(sorted((target, source)))


def _settings() -> dict:
    return {"pairs": PAIRS, "seed": SEED, "energy_MeV": ENERGY_GRID_MeV.tolist(), "regions": list(REGIONS)}


@lru_cache(maxsize=1)
def _packaged_table() -> dict | None:
    from importlib import resources

    path = resources.files("rptici.data") / TABLE_FILE
    if not path.is_file():
        return None
    table = json.loads(path.read_text(encoding="utf-8"))
    return table if table.get("settings") == _settings() else None


def write_saf_table(path: str | Path) -> Path:
    """Compute every region pair for both sexes and write the table that :func:`_saf_grid` reads (JSON)."""
    pairs = [(target, source) for index, target in enumerate(REGIONS) for source in REGIONS[index:]]
    values: dict[str, dict[str, list[float]]] = {sex: {} for sex in SEXES}
    errors: dict[str, dict[str, list[float]]] = {sex: {} for sex in SEXES}
    for sex in SEXES:
        for target, source in pairs:
            saf, error = compute_saf(target, source, sex)
            values[sex][_pair_key(target, source)] = saf.tolist()
            errors[sex][_pair_key(target, source)] = error.tolist()
    document = {"what": "photon specific absorbed fractions (1/g) of the stylised adult phantoms, "
                        "rptici.dosimetry.phantom.compute_saf; regenerate with python -m rptici.dosimetry.phantom",
                "settings": _settings(), "saf_per_g": values, "standard_error_per_g": errors}
    path = Path(path)
    path.write_text(json.dumps(document, indent=0) + "\n", encoding="utf-8")
    return path


def compute_saf(target: str, source: str, sex: str) -> tuple[np.ndarray, np.ndarray]:
    """(SAF, standard error) in 1/g at :data:`ENERGY_GRID_MeV` for the reference phantom of ``sex``: point pairs
    for separate regions, kernel sampling where they overlap (:func:`overlapping`)."""
    scale = _length_scale(sex)
    if overlapping(target, source):
        # reciprocity: sample points in the smaller (organ) region and score the larger one's density
        first, second = (source, target) if target in ("total_body", "remainder") else (target, source)
        estimates = [_kernel_sampled_saf(first, second, float(energy), scale) for energy in ENERGY_GRID_MeV]
        return np.array([value for value, _ in estimates]), np.array([error for _, error in estimates])
    distance = _distances(*sorted((target, source))) * scale  # reciprocity: the same pairs both ways
    values, errors = [], []
    for energy in ENERGY_GRID_MeV:
        kernel = point_kernel(distance, float(energy))
        values.append(kernel.mean())
        errors.append(kernel.std(ddof=1) / math.sqrt(kernel.size))
    return np.array(values), np.array(errors)


def _check_region(name: str, field: str) -> str:
    if name not in REGIONS:
        raise UnknownNameError(field, name, REGIONS)
    return name


def photon_saf(target: str, source: str, energy_MeV: float | np.ndarray, sex: str = "male") -> float | np.ndarray:
    """Photon specific absorbed fraction Φ(target ← source) in 1/kg of the reference phantom of ``sex``
    (log-log interpolation in energy between :data:`ENERGY_GRID_MeV`)."""
    _check_region(target, "target"), _check_region(source, "source"), check_sex(sex)
    energy = np.asarray(energy_MeV, float)
    if np.any(~np.isfinite(energy)) or np.any(energy <= 0):
        raise InputError("energy_MeV", energy_MeV, "photon energies > 0 MeV")
    values, _ = _saf_grid(target, source, sex)
    result = _log_log(energy, ENERGY_GRID_MeV, values) * 1000.0
    return float(result) if np.ndim(energy_MeV) == 0 else result


def photon_saf_relative_error(target: str, source: str, energy_MeV: float, sex: str = "male") -> float:
    """Relative standard error of the Monte Carlo point-pair estimate of :func:`photon_saf` at the grid energy
    nearest ``energy_MeV``."""
    values, errors = _saf_grid(_check_region(target, "target"), _check_region(source, "source"), check_sex(sex))
    index = int(np.argmin(np.abs(np.log(ENERGY_GRID_MeV / energy_MeV))))
    return float(errors[index] / values[index])


@dataclass(frozen=True)
class CrossDose:
    """Ask for the photon cross-dose of the reference phantom of ``sex``, scaled to ``body_mass_kg`` (a number
    or one per patient; None: the reference body mass)."""

    sex: str = "male"
    body_mass_kg: float | np.ndarray | None = None

    def __post_init__(self) -> None:
        check_sex(self.sex)
        mass_scaling(self.body_mass_kg, self.sex)


# --- S-values --------------------------------------------------------------------------------------

def _nuclide(nuclide: str | Nuclide) -> Nuclide:
    return nuclide if isinstance(nuclide, Nuclide) else Nuclide(nuclide)


def mass_scaling(body_mass_kg: float | np.ndarray | None, sex: str = "male") -> float | np.ndarray:
    """(M_ref / M_patient)^(2/3) for the photon cross-dose of a patient of ``body_mass_kg`` (None: 1)."""
    if body_mass_kg is None:
        return 1.0
    mass = np.asarray(body_mass_kg, float)
    if mass.size == 0 or np.any(~np.isfinite(mass)) or np.any(mass <= 0):
        raise InputError("body_mass_kg", body_mass_kg, "a positive body mass in kg (number or one per patient)")
    scale = (_reference_body_g(check_sex(sex)) / 1000.0 / mass) ** (2.0 / 3.0)
    return float(scale) if np.ndim(body_mass_kg) == 0 else scale


def photon_cross_s_value(nuclide: str | Nuclide, target: str, source: str, sex: str = "male",
                         body_mass_kg: float | np.ndarray | None = None) -> float | np.ndarray:
    """Photon cross-dose S(target ← source) in mGy/(MBq h): k Σ E_i y_i Φ(E_i) · (M_ref/M)^(2/3).

    Every γ, X-ray and annihilation line of the nuclide and its equilibrium daughters (ICRP-107).
    """
    source_nuclide = _nuclide(nuclide)
    lines = chain_emissions(source_nuclide.name, source_nuclide.include_daughters).photon_lines
    _check_region(target, "target"), _check_region(source, "source"), check_sex(sex)
    if len(lines) == 0:
        return 0.0 * np.asarray(mass_scaling(body_mass_kg, sex))
    saf_per_g = np.asarray(photon_saf(target, source, lines[:, 0], sex)) / 1000.0
    energy_absorbed = float(np.sum(lines[:, 0] * lines[:, 1] * saf_per_g))
    return ENERGY_TO_DOSE_MGY_G_PER_MBQ_H * energy_absorbed * mass_scaling(body_mass_kg, sex)


def phantom_region(name: str, excretion: Sequence[str] = ()) -> str | None:
    """The phantom region that a compartment or target called ``name`` stands for (None: outside the body).

    An organ and its sub-compartments (``kidneys``, ``kidneys_slow``); bone compartments → ``red_marrow``
    (the skeleton's proxy); lesions → ``total_body`` (position unknown); excretion → None; anything else
    (blood, rest of body, soft tissue) → ``remainder``.
    """
    if name in excretion:
        return None
    for organ in ORGANS:
        if name == organ or name.startswith(organ + "_"):
            return organ
    if name.startswith("lesion") or name in ("tumour", "tumor", "total_body", "whole_body"):
        return "total_body"
    if name.startswith(_BONE_PREFIXES):
        return "red_marrow"
    return "remainder"


def organ_s_value(nuclide: str | Nuclide, target: str, source: str, target_mass_g: float | np.ndarray,
                  sex: str = "male", body_mass_kg: float | np.ndarray | None = None) -> SValue:
    """S(target ← source) in mGy/(MBq h) split by radiation type: the organ self-dose model when ``target``
    and ``source`` are the same region, the phantom's photon cross-dose otherwise (α and electrons 0)."""
    if target == source:
        return organ_self_s_value(nuclide, target_mass_g)
    photon = photon_cross_s_value(nuclide, target, source, sex, body_mass_kg)
    return SValue(0.0 * np.asarray(photon), 0.0 * np.asarray(photon), photon)


def s_value_table(nuclide: str | Nuclide, sex: str = "male", targets: Sequence[str] = ORGANS,
                  sources: Sequence[str] = ORGANS + ("remainder",), masses_g: Mapping[str, float] | None = None,
                  body_mass_kg: float | None = None) -> dict[tuple[str, str], float]:
    """{(target, source): S in mGy/(MBq h)}: self-dose at the ICRP 89 organ masses of ``sex`` (or ``masses_g``),
    photon cross-dose from the phantom scaled to ``body_mass_kg``, for every target and source."""
    anatomy = load_yaml("reference_anatomy.yaml")[check_sex(sex)]["organs_g"]
    masses = {name: float(anatomy[name]["value"]) for name in targets if name in anatomy}
    masses.update(masses_g or {})
    table = {}
    for target in targets:
        for source in sources:
            if target == source and target not in masses:
                raise InputError(f"masses_g.{target}", None, "the mass (g) of a region with self-dose")
            table[(target, source)] = float(organ_s_value(nuclide, target, source, masses.get(target, 1.0), sex,
                                                          body_mass_kg).total)
    return table

if __name__ == "__main__":  # python -m rptici.dosimetry.phantom [path]: regenerate the packaged SAF table
    import sys

    target_path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "data" / TABLE_FILE
    print(write_saf_table(target_path))
