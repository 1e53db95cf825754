"""Virtual patients: quasi-random sampling of a disease's covariates, and one random stream per patient.

Sampling: n points in the unit hypercube (scrambled Latin hypercube or Sobol from ``scipy.stats.qmc``, or
plain pseudo-random), one dimension per quantity (sex, measurable disease, lesion count, one per lesion slot, one per
covariate); named correlations are imposed with a Gaussian copula (u → Φ⁻¹(u), multiplied by the Cholesky
factor of the correlation matrix, → Φ), which keeps every marginal exact; each column then goes through
the inverse CDF of its marginal (:mod:`rptici.population.distributions`). Body surface area follows from
height and weight (Mosteller 1987 N Engl J Med 317:1098: BSA = √(height_cm × weight_kg / 3600)), absolute
GFR from eGFR × BSA / 1.73 m², and lesion volume from the diameter as a sphere (π d³ / 6). Each lesion's site
and target expression come from a stream of their own (:func:`rptici.seeds.lesion_design`), so that they
change no other draw (:func:`lesion_sites`, :func:`lesion_uptake_factors`).

The quasi-random design spans the whole population, so patient i depends on n; everything random that
happens to a patient afterwards draws from :func:`patient_streams`, which depends only on (seed, i).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy import special
from scipy.stats import qmc

from .. import seeds
from ..errors import InputError
from ..kinetics.biokinetics import Covariates
from ..kinetics.schema import kinetic_covariates
from ..seeds import check_seed
from ..kinetics.biokinetics import LESION_SITES
from .distributions import MAX_LESIONS, SEPARATE_COVARIATES, SEXES, Disease, check_uptake_spread, load_disease

METHODS = ("lhs", "sobol", "random")
REFERENCE_BSA_M2 = 1.73  # the body surface area that eGFR is normalised to (mL/min/1.73 m²), by definition


def mosteller_bsa(height_cm, weight_kg) -> np.ndarray:
    """Body surface area (m²) by Mosteller 1987 N Engl J Med 317:1098: √(height_cm × weight_kg / 3600)."""
    return np.sqrt(np.asarray(height_cm, dtype=float) * np.asarray(weight_kg, dtype=float) / 3600.0)


def sphere_volume_mL(diameter_mm) -> np.ndarray:
    """Volume (mL) of a sphere of diameter ``diameter_mm``: π d³ / 6 with d in cm."""
    return np.pi / 6.0 * (np.asarray(diameter_mm, dtype=float) / 10.0) ** 3


def lesion_sites(frequencies, uniforms: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Each lesion's site (patients, lesions): the inverse CDF of the site ``frequencies`` (in the order of
    :data:`~rptici.kinetics.biokinetics.LESION_SITES`) at ``uniforms``; ``""`` for absent lesions and where the
    disease gives no frequencies (unknown site)."""
    if len(frequencies) == 0:
        return np.full(present.shape, "", dtype=object)
    cumulative = np.cumsum(frequencies)
    cumulative[-1] = 1.0
    index = np.searchsorted(cumulative, uniforms, side="right").clip(0, len(LESION_SITES) - 1)
    return np.where(present, np.array(LESION_SITES, dtype=object)[index], "")


def site_hazard_ratio(population: Population) -> np.ndarray:
    """Each patient's hazard ratio for death by the site of his disease: that of his worst site among the disease's
    ``site_hazard_ratios`` (mCRPC: lung and liver metastases, Halabi et al. 2016 J Clin Oncol 34:1652), 1 where
    the disease gives none or he has no disease at those sites."""
    ratios = load_disease(population.disease).lesions.site_hazard_ratios
    if not ratios:
        return np.ones(len(population))
    sites = np.asarray(population.lesion_sites, dtype=object)
    patient_ratio = np.ones(len(population))
    for site, ratio in zip(LESION_SITES, ratios):
        patient_ratio = np.where((sites == site).any(axis=1), np.maximum(patient_ratio, ratio), patient_ratio)
    return patient_ratio


def lesion_uptake_factors(spread: float, normals: np.ndarray, volumes_mL: np.ndarray) -> np.ndarray:
    """Each lesion's target expression relative to its patient's (patients, lesions; NaN for absent lesions).

    Log-normal with coefficient of variation ``spread`` (σ² = ln(1 + CV²), u = exp(σ z − σ²/2) for standard
    normal ``normals`` z), then divided by the patient's volume-weighted mean, so that the whole-body tumour
    uptake (what PET's whole-body SUVmean measures) stays the patient's sampled value. ``spread`` 0: every
    lesion exactly 1. Evidence: lesion doses of Lu-PSMA-617 vary about 100 % (CV) between the lesions of one
    patient (voxel Monte Carlo dosimetry, 13 patients, 295 lesions; Violet et al. 2019 J Nucl Med 60:517;
    tests/reference/rpt_response.yaml).
    """
    spread = check_uptake_spread(spread)
    present = np.isfinite(volumes_mL)
    if spread == 0.0:
        return np.where(present, 1.0, np.nan)
    sigma = np.sqrt(np.log1p(spread**2))
    raw = np.exp(sigma * np.asarray(normals, dtype=float) - 0.5 * sigma**2)
    weights = np.where(present, volumes_mL, 0.0)
    mean = np.sum(raw * weights, axis=1, keepdims=True) / np.sum(weights, axis=1, keepdims=True)
    return np.where(present, raw / mean, np.nan)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Population:
    """Virtual patients of one disease: one row per patient in every array (read-only arrays).

    Lesion arrays are (patients, 8), NaN where a patient has fewer lesions. ``target_uptake`` is the PET
    measure named by the disease's target (for example PSMA PET SUVmean); ``target_uptake_scale`` is it
    over the agent's reference value. ``pdl1`` is in % (tumour proportion score or combined positive score,
    ``pdl1_scoring``). ``low_uptake_fraction`` is the initial share of target-low cells in the patient's
    lesions (0 for a disease whose file does not give it). ``lesion_sites`` (``""`` absent or unknown) and
    ``lesion_uptake_factors`` (each lesion's target expression relative to the patient's; NaN absent; 1 when
    not given) are (patients, 8) like the other lesion arrays. ``psa_ng_per_mL`` is NaN for diseases without PSA. ``patient_id`` is the index that
    selects the patient's random stream (:func:`patient_streams`) and survives :meth:`subset`.
    """

    disease: str
    seed: int
    method: str
    pdl1_scoring: str
    patient_id: np.ndarray
    sex: np.ndarray
    age_years: np.ndarray
    height_cm: np.ndarray
    weight_kg: np.ndarray
    bsa_m2: np.ndarray
    egfr_mL_per_min_per_1_73m2: np.ndarray
    gfr_mL_per_min: np.ndarray
    target_uptake: np.ndarray
    target_uptake_scale: np.ndarray
    pdl1: np.ndarray
    immune_infiltration: np.ndarray
    alpha_per_Gy: np.ndarray
    lymphocytes_1e9_per_L: np.ndarray
    prior_lines: np.ndarray
    psa_ng_per_mL: np.ndarray
    measurable_disease: np.ndarray
    lesion_count: np.ndarray
    lesion_diameters_mm: np.ndarray
    lesion_volumes_mL: np.ndarray
    lesion_density_g_per_mL: float = 1.0
    low_uptake_fraction: np.ndarray | None = None
    lesion_sites: np.ndarray | None = None
    lesion_uptake_factors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.low_uptake_fraction is None:
            object.__setattr__(self, "low_uptake_fraction", np.zeros(self.patient_id.shape))
        present = np.isfinite(np.asarray(self.lesion_volumes_mL, dtype=float))
        if self.lesion_sites is None:
            object.__setattr__(self, "lesion_sites", np.full(present.shape, "", dtype=object))
        if self.lesion_uptake_factors is None:
            object.__setattr__(self, "lesion_uptake_factors", np.where(present, 1.0, np.nan))
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, item.name, _read_only(value))

    def __len__(self) -> int:
        return int(self.patient_id.size)

    @property
    def lesion_masses_g(self) -> np.ndarray:
        """(patients, 8) lesion masses in g (volume × density), NaN for absent lesions."""
        return self.lesion_volumes_mL * self.lesion_density_g_per_mL

    @property
    def total_lesion_volume_mL(self) -> np.ndarray:
        return np.nansum(self.lesion_volumes_mL, axis=1)

    @property
    def has_psa(self) -> bool:
        """Every patient has a baseline PSA (the engine then simulates PSA)."""
        return bool(np.all(np.isfinite(self.psa_ng_per_mL)))

    def kinetic_covariates(self) -> Covariates:
        """The kinetics layer's :class:`~rptici.kinetics.biokinetics.Covariates` (absent lesions as mass 0)."""
        return kinetic_covariates(self.engine_patients(), density_g_per_mL=self.lesion_density_g_per_mL)

    def engine_patients(self, doubling_time_days: float | None = None) -> dict[str, np.ndarray]:
        """The patients as the engine takes them (:func:`rptici.simulation.engine.simulate`): covariates in its
        names and internal units (PD-L1 from % to a fraction, capped at 1; PSA only where every patient has one);
        ``doubling_time_days`` the tumour doubling time, one for all patients or one per patient (None: the
        parameter set's).
        The one adapter from a Population to the engine."""
        patients = {
            "lesion_volumes_mL": np.array(self.lesion_volumes_mL),
            "infiltration": np.array(self.immune_infiltration),
            "pdl1": np.clip(np.array(self.pdl1) / 100.0, 0.0, 1.0),
            "alpha": np.array(self.alpha_per_Gy),
            "lymphocytes": np.array(self.lymphocytes_1e9_per_L),
            "weight_kg": np.array(self.weight_kg),
            "bsa_m2": np.array(self.bsa_m2),
            "gfr_mL_per_min": np.array(self.gfr_mL_per_min),
            "target_uptake_scale": np.array(self.target_uptake_scale),
            "low_uptake_fraction": np.array(self.low_uptake_fraction),
            "lesion_uptake_factors": np.array(self.lesion_uptake_factors),
            "lesion_sites": np.array(self.lesion_sites),
        }
        if self.has_psa:
            patients["psa"] = np.array(self.psa_ng_per_mL)
        if doubling_time_days is not None:
            patients["doubling_time_days"] = np.array(np.broadcast_to(np.asarray(doubling_time_days, dtype=float),
                                                                      (len(self),)))
        return patients

    def subset(self, indices) -> "Population":
        """The patients at positions ``indices`` (integers or a boolean mask), keeping their ``patient_id``."""
        index = np.asarray(indices)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise InputError("indices", f"boolean mask of shape {index.shape}", f"a mask of length {len(self)}")
            index = np.flatnonzero(index)
        elif index.size and not np.issubdtype(index.dtype, np.integer):
            raise InputError("indices", indices, "integer positions or a boolean mask")
        index = index.astype(np.intp).ravel()
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise InputError("indices", indices, f"positions from 0 to {len(self) - 1}")
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = value[index] if isinstance(value, np.ndarray) else value
        return Population(**values)

    def to_frame(self):
        """A pandas DataFrame, one row per patient; lesions as ``lesion_<k>_diameter_mm`` and ``_volume_mL``."""
        import pandas as pd

        columns = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray) and value.ndim == 1:
                columns[item.name] = value
        for k in range(MAX_LESIONS):
            columns[f"lesion_{k + 1}_diameter_mm"] = self.lesion_diameters_mm[:, k]
            columns[f"lesion_{k + 1}_volume_mL"] = self.lesion_volumes_mL[:, k]
            columns[f"lesion_{k + 1}_site"] = self.lesion_sites[:, k]
            columns[f"lesion_{k + 1}_uptake_factor"] = self.lesion_uptake_factors[:, k]
        columns["total_lesion_volume_mL"] = self.total_lesion_volume_mL
        frame = pd.DataFrame(columns)
        frame.attrs.update(disease=self.disease, seed=self.seed, method=self.method, pdl1_scoring=self.pdl1_scoring)
        return frame


def patient_streams(seed: int, start: int, stop: int) -> list[np.random.Generator]:
    """Random generators of patients ``start`` to ``stop - 1`` (:func:`rptici.seeds.patients`): patient i's
    stream depends on (seed, i) only, not on chunk boundaries."""
    return seeds.patients(check_seed(seed), start, stop)


def unit_hypercube(n: int, dimensions: int, rng: np.random.Generator, method: str) -> np.ndarray:
    """n points in [0, 1)^dimensions: scrambled Latin hypercube, scrambled Sobol, or pseudo-random, from ``rng``
    (a stream of :mod:`rptici.seeds`)."""
    if method == "lhs":
        return qmc.LatinHypercube(d=dimensions, scramble=True, seed=rng).random(n)
    if method == "sobol":
        with warnings.catch_warnings():  # n need not be a power of 2 for marginal coverage
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(d=dimensions, scramble=True, seed=rng).random(n)
    return rng.random((n, dimensions))


def _correlation_matrix(disease: Disease, columns: dict[str, int], dimensions: int) -> np.ndarray:
    matrix = np.eye(dimensions)
    for correlation in disease.correlations:
        i, j = columns[correlation.first], columns[correlation.second]
        matrix[i, j] = matrix[j, i] = correlation.rho
    return matrix


def _apply_copula(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    if np.allclose(matrix, np.eye(matrix.shape[0])):
        return points
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError as error:
        raise InputError("correlations", "matrix", "a positive definite set of correlations") from error
    normal = special.ndtri(np.clip(points, 1e-12, 1 - 1e-12))
    return special.ndtr(normal @ factor.T)


def correlated_uniforms(anchor: np.ndarray, own: np.ndarray, rho: float) -> np.ndarray:
    """Uniforms whose normal scores have correlation ``rho`` with those of ``anchor`` (a Gaussian copula):
    Φ(ρ z_anchor + √(1 − ρ²) z_own). ρ = 0 returns ``own`` unchanged (bit for bit).

    Used for the target-low share, which lowers a lesion's mean uptake: patients with a low PSMA-PET SUVmean
    respond less to Lu-PSMA-617 (TheraP PSA50 91 % at SUVmean ≥ 10 vs 52 % below; Buteau et al. 2022 Lancet Oncol
    23:1389), which an independent share cannot give."""
    if not -1.0 < rho < 1.0 or not math.isfinite(rho):
        raise InputError("low_uptake_correlation", rho, "a correlation strictly between -1 and 1")
    if rho == 0.0:
        return own
    clip = (1e-12, 1 - 1e-12)
    return special.ndtr(rho * special.ndtri(np.clip(anchor, *clip))
                        + math.sqrt(1.0 - rho * rho) * special.ndtri(np.clip(own, *clip)))


def sample_population(disease: str | Disease, n: int, seed: int, method: str = "lhs", sex: str | None = None,
                      lesion_uptake_spread: float | None = None, low_uptake_correlation: float = 0.0) -> Population:
    """Sample ``n`` virtual patients of ``disease`` (a name or a :class:`Disease`); same (disease, n, seed,
    method, sex, spread, correlation) → identical arrays.

    ``sex``: None draws it from the disease's male fraction; "male" or "female" fixes it.
    ``lesion_uptake_spread``: the within-patient CV of lesion target expression (None: the disease file's).
    ``low_uptake_correlation``: the Gaussian-copula correlation ρ between a patient's target uptake (SUVmean) and
    the share of target-low cells in its lesions (:func:`correlated_uniforms`; 0: independent, as before).
    """
    spec = disease if isinstance(disease, Disease) else load_disease(disease)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise InputError("n", n, "an integer >= 1")
    check_seed(seed)
    if method not in METHODS:
        raise InputError("method", method, "one of " + ", ".join(METHODS))
    if sex is not None and sex not in SEXES:
        raise InputError("sex", sex, "None, 'male' or 'female'")
    if sex == "female" and spec.male_fraction >= 1.0 or sex == "male" and spec.male_fraction <= 0.0:
        raise InputError("sex", sex, f"a sex that {spec.name} occurs in")

    separate = [name for name in SEPARATE_COVARIATES if name in spec.covariates]
    names = (["sex", "measurable", "lesion_count"] + [f"lesion_{k}" for k in range(MAX_LESIONS)]
             + [name for name in spec.covariates if name not in separate])
    columns = {name: i for i, name in enumerate(names)}
    points = unit_hypercube(int(n), len(names), seeds.design(seed), method)
    points = _apply_copula(points, _correlation_matrix(spec, columns, len(names)))

    if sex is None:
        is_male = points[:, columns["sex"]] < spec.male_fraction
    else:
        is_male = np.full(n, sex == "male")
    sexes = np.where(is_male, "male", "female")

    def draw(name: str) -> np.ndarray:
        u = points[:, columns[name]]
        male, female = spec.marginal(name, "male"), spec.marginal(name, "female")
        if male is female:
            return male.ppf(u)
        return np.where(is_male, male.ppf(u), female.ppf(u))

    lesions = spec.lesions
    count = lesions.count.ppf(points[:, columns["lesion_count"]]).astype(np.int64)
    slots = np.arange(MAX_LESIONS)[None, :]
    diameters = lesions.diameter.ppf(points[:, [columns[f"lesion_{k}"] for k in range(MAX_LESIONS)]])
    diameters = np.where(slots < count[:, None], diameters, np.nan)

    low_uptake = np.zeros(n)
    if separate:
        extra = unit_hypercube(int(n), len(separate), seeds.separate_design(seed), method)
        marginal = spec.marginal("low_uptake_fraction")
        own = extra[:, separate.index("low_uptake_fraction")]
        low_uptake = marginal.ppf(correlated_uniforms(points[:, columns["target_uptake"]], own,
                                                      low_uptake_correlation))

    volumes = sphere_volume_mL(diameters)
    spread = lesions.uptake_spread if lesion_uptake_spread is None else lesion_uptake_spread
    lesion_points = unit_hypercube(int(n), 2 * MAX_LESIONS, seeds.lesion_design(seed), method)
    sites = lesion_sites(lesions.site_frequencies, lesion_points[:, :MAX_LESIONS], np.isfinite(volumes))
    factors = lesion_uptake_factors(spread, special.ndtri(np.clip(lesion_points[:, MAX_LESIONS:], 1e-12, 1 - 1e-12)),
                                    volumes)

    height, weight = draw("height"), draw("weight")
    bsa = mosteller_bsa(height, weight)
    egfr = draw("egfr")
    uptake = draw("target_uptake")
    return Population(
        disease=spec.name, seed=int(seed), method=method, pdl1_scoring=spec.pdl1_scoring,
        patient_id=np.arange(n, dtype=np.int64), sex=sexes, age_years=draw("age"), height_cm=height,
        weight_kg=weight, bsa_m2=bsa, egfr_mL_per_min_per_1_73m2=egfr, gfr_mL_per_min=egfr * bsa / REFERENCE_BSA_M2,
        target_uptake=uptake, target_uptake_scale=uptake / spec.target.reference_value, pdl1=draw("pdl1"),
        immune_infiltration=draw("infiltration"), alpha_per_Gy=draw("alpha"),
        lymphocytes_1e9_per_L=draw("lymphocytes"), prior_lines=draw("prior_lines").astype(np.int64),
        psa_ng_per_mL=draw("psa") if spec.has_psa else np.full(n, np.nan),
        measurable_disease=points[:, columns["measurable"]] < lesions.measurable_fraction,
        lesion_count=count, lesion_diameters_mm=diameters, lesion_volumes_mL=volumes,
        lesion_density_g_per_mL=lesions.density_g_per_mL, low_uptake_fraction=low_uptake, lesion_sites=sites,
        lesion_uptake_factors=factors)
