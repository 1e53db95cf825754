"""Typed loader of the per-disease covariate files (``rptici/data/populations/<disease>.yaml``).

Each covariate is a marginal distribution with an inverse CDF (``ppf``), so that quasi-random points in the
unit hypercube map to patients (:mod:`rptici.population.sampling`). Families:

* ``normal``: mean, sd, optional lower/upper (truncated normal);
* ``lognormal``: median, gsd (geometric standard deviation), optional lower/upper (truncated in log space);
* ``beta``: mean, sd on [0, 1] (method of moments: a = m·k, b = (1 − m)·k, k = m(1 − m)/sd² − 1);
* ``categorical``: values and probabilities (integers such as lesion count or prior lines);
* ``hurdle_lognormal``: a score that is 0 with probability 1 − positive_fraction, otherwise a truncated
  lognormal (PD-L1: tumour proportion score or combined positive score, in %).

Lesions (``lesions``): a count, each lesion's diameter, and optionally each lesion's site (``sites``:
frequencies of bone, node, liver, lung and soft tissue) and the within-patient spread of target expression
(``uptake_spread``: the coefficient of variation of a lesion's target expression around its patient's value;
0 keeps every lesion at the patient's value). A disease without ``sites`` has lesions of unknown site.

``low_uptake_fraction`` (optional; the initial share of target-low cells in a lesion, rptici.immunity) is
drawn from its own Latin-hypercube stream, so that adding it to a disease leaves every other draw unchanged.

A covariate may differ by sex: ``{by_sex: {male: ..., female: ...}}``. Every entry carries a unit and a
source; ``assumption: true`` marks a number not found in a trial report, with ``calibrate_against`` naming
what it should be calibrated to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Union

import numpy as np
from scipy import special, stats

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..immunity.table import MAX_LESIONS
from ..kinetics.biokinetics import LESION_SITES

SEXES = ("male", "female")

#: covariate name → the unit its data entry must state
COVARIATE_UNITS = {
    "age": "year",
    "height": "cm",
    "weight": "kg",
    "egfr": "mL/min/1.73m2",
    "target_uptake": "1",
    "pdl1": "%",
    "infiltration": "1",
    "alpha": "1/Gy",
    "lymphocytes": "10^9/L",
    "prior_lines": "1",
    "psa": "ng/mL",
    "low_uptake_fraction": "1",
}
REQUIRED_COVARIATES = ("age", "height", "weight", "egfr", "target_uptake", "pdl1", "infiltration", "alpha",
                       "lymphocytes", "prior_lines")
#: covariates sampled from their own stream (not in the hypercube, so adding them changes no other draw);
#: a disease without them gets 0
SEPARATE_COVARIATES = ("low_uptake_fraction",)
#: names that a correlation may refer to: the covariates plus the lesion count
CORRELATABLE = tuple(name for name in COVARIATE_UNITS if name not in SEPARATE_COVARIATES) + ("lesion_count",)


@dataclass(frozen=True)
class Marginal:
    """One marginal distribution with its provenance; ``ppf`` maps uniforms in (0, 1) to values."""

    family: str
    parameters: dict
    unit: str
    source: str
    assumption: bool = False
    calibrate_against: str | None = None

    def ppf(self, uniform: np.ndarray) -> np.ndarray:
        """Inverse CDF at ``uniform`` (values in (0, 1))."""
        u = np.clip(np.asarray(uniform, dtype=float), 1e-12, 1.0 - 1e-12)
        p = self.parameters
        if self.family == "normal":
            return _truncated_normal_ppf(u, p["mean"], p["sd"], p.get("lower"), p.get("upper"))
        if self.family == "lognormal":
            return _truncated_lognormal_ppf(u, p["median"], p["gsd"], p.get("lower"), p.get("upper"))
        if self.family == "beta":
            a, b = _beta_shape(p["mean"], p["sd"])
            return stats.beta.ppf(u, a, b)
        if self.family == "categorical":
            values = np.asarray(p["values"], dtype=float)
            cumulative = np.cumsum(p["probabilities"])
            cumulative[-1] = 1.0
            return values[np.searchsorted(cumulative, u, side="right").clip(0, values.size - 1)]
        if self.family == "hurdle_lognormal":
            negative = 1.0 - p["positive_fraction"]
            rescaled = np.clip((u - negative) / max(p["positive_fraction"], 1e-300), 1e-12, 1.0 - 1e-12)
            positive = _truncated_lognormal_ppf(rescaled, p["median"], p["gsd"], p.get("lower"), p.get("upper"))
            return np.where(u < negative, 0.0, positive)
        raise AssertionError(self.family)  # families are checked on loading

    def median(self) -> float:
        """Median of the distribution (the ppf at one half)."""
        return float(self.ppf(np.array([0.5]))[0])

    def mean(self) -> float:
        """Mean by numerical quadrature of the ppf over (0, 1) (midpoint rule, 20,000 points)."""
        grid = (np.arange(20000) + 0.5) / 20000
        return float(np.mean(self.ppf(grid)))


@dataclass(frozen=True)
class BySex:
    """A covariate whose distribution differs between men and women."""

    male: Marginal
    female: Marginal

    def for_sex(self, sex: str) -> Marginal:
        return self.male if sex == "male" else self.female


Covariate = Union[Marginal, BySex]


@dataclass(frozen=True)
class Target:
    """Target imaging: the PET (or scintigraphy) measure sampled and the value that counts as uptake scale 1."""

    name: str
    agent: str
    measure: str
    reference_value: float
    source: str
    assumption: bool = False


@dataclass(frozen=True)
class LesionSpecification:
    """Lesions: a count, then each lesion's longest diameter (mm), spheres of the given density; each lesion's
    site drawn from ``site_frequencies`` (in the order of :data:`LESION_SITES`; empty: unknown sites) and its
    target expression relative to the patient's, log-normal with coefficient of variation ``uptake_spread``.
    ``site_hazard_ratios`` (same order, 1 where not given): the hazard ratio for death of a patient with disease at
    each site, against one without (:func:`rptici.population.sampling.site_hazard_ratio`)."""

    count: Marginal
    diameter: Marginal
    measurable_min_diameter_mm: float
    density_g_per_mL: float
    measurable_fraction: float
    measurable_source: str
    site_frequencies: tuple[float, ...] = ()
    sites_source: str = ""
    uptake_spread: float = 0.0
    uptake_spread_source: str = ""
    site_hazard_ratios: tuple[float, ...] = ()
    site_hazard_source: str = ""


@dataclass(frozen=True)
class Correlation:
    """A Gaussian-copula correlation between two sampled quantities."""

    first: str
    second: str
    rho: float
    source: str


@dataclass(frozen=True)
class Disease:
    """Everything needed to sample one disease's virtual patients."""

    name: str
    title: str
    male_fraction: float
    sex_source: str
    target: Target
    pdl1_scoring: str
    lesions: LesionSpecification
    covariates: dict[str, Covariate]
    correlations: tuple[Correlation, ...] = field(default_factory=tuple)

    @property
    def has_psa(self) -> bool:
        return "psa" in self.covariates

    def marginal(self, name: str, sex: str = "male") -> Marginal:
        """The marginal of covariate ``name`` for ``sex``."""
        if name not in self.covariates:
            raise UnknownNameError("covariate", name, tuple(self.covariates))
        entry = self.covariates[name]
        return entry.for_sex(sex) if isinstance(entry, BySex) else entry

    def assumptions(self) -> list[tuple[str, str]]:
        """(name, what to calibrate against) for every number marked as an assumption."""
        result = []
        items = [("lesion_count", self.lesions.count), ("lesion_diameter", self.lesions.diameter)]
        for name, entry in self.covariates.items():
            if isinstance(entry, BySex):
                items += [(f"{name}[male]", entry.male), (f"{name}[female]", entry.female)]
            else:
                items.append((name, entry))
        for name, marginal in items:
            if marginal.assumption:
                result.append((name, marginal.calibrate_against or ""))
        if self.target.assumption:
            result.append(("target.reference_value", self.target.source))
        return result


# ---------------------------------------------------------------------------------------------- loading

def _truncated_normal_ppf(u, mean, sd, lower=None, upper=None):
    low = -np.inf if lower is None else (lower - mean) / sd
    high = np.inf if upper is None else (upper - mean) / sd
    cdf_low, cdf_high = special.ndtr(low), special.ndtr(high)
    return mean + sd * special.ndtri(cdf_low + u * (cdf_high - cdf_low))


def _truncated_lognormal_ppf(u, median, gsd, lower=None, upper=None):
    return np.exp(_truncated_normal_ppf(u, math.log(median), math.log(gsd),
                                        None if lower is None else math.log(lower),
                                        None if upper is None else math.log(upper)))


def _beta_shape(mean: float, sd: float) -> tuple[float, float]:
    concentration = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * concentration, (1.0 - mean) * concentration


_FAMILY_PARAMETERS = {
    "normal": ({"mean", "sd"}, {"lower", "upper"}),
    "lognormal": ({"median", "gsd"}, {"lower", "upper"}),
    "beta": ({"mean", "sd"}, set()),
    "categorical": ({"values", "probabilities"}, set()),
    "hurdle_lognormal": ({"positive_fraction", "median", "gsd"}, {"lower", "upper"}),
}
_PROVENANCE = {"distribution", "unit", "source", "assumption", "calibrate_against", "note"}


def _marginal(entry: dict, where: str, unit: str | None) -> Marginal:
    if not isinstance(entry, dict) or "distribution" not in entry:
        raise InputError(where, entry, "a mapping with 'distribution', its parameters, 'unit' and 'source'")
    family = entry["distribution"]
    if family not in _FAMILY_PARAMETERS:
        raise UnknownNameError(f"{where}.distribution", family, tuple(_FAMILY_PARAMETERS))
    required, optional = _FAMILY_PARAMETERS[family]
    parameters = {k: v for k, v in entry.items() if k not in _PROVENANCE}
    missing, extra = required - set(parameters), set(parameters) - required - optional
    if missing or extra:
        raise InputError(where, entry, f"parameters {sorted(required)} (optional {sorted(optional)}) for {family}")
    if "source" not in entry or "unit" not in entry:
        raise InputError(where, entry, "a 'unit' and a 'source'")
    if unit is not None and str(entry["unit"]) != unit:
        raise InputError(f"{where}.unit", entry["unit"], repr(unit))
    _check_parameters(family, parameters, where)
    return Marginal(family, parameters, str(entry["unit"]), str(entry["source"]), bool(entry.get("assumption", False)),
                    entry.get("calibrate_against"))


def _check_parameters(family: str, p: dict, where: str) -> None:
    positive = {"sd", "median"} & set(p)
    for key in positive:
        if not float(p[key]) > 0:
            raise InputError(f"{where}.{key}", p[key], "a positive number")
    if "gsd" in p and not float(p["gsd"]) > 1:
        raise InputError(f"{where}.gsd", p["gsd"], "a geometric standard deviation > 1")
    if "lower" in p and "upper" in p and not p["lower"] < p["upper"]:
        raise InputError(where, (p["lower"], p["upper"]), "lower < upper")
    if family == "beta":
        mean, sd = float(p["mean"]), float(p["sd"])
        if not (0 < mean < 1 and sd**2 < mean * (1 - mean)):
            raise InputError(where, p, "0 < mean < 1 and sd² < mean(1 − mean)")
    if family == "categorical":
        probabilities = np.asarray(p["probabilities"], dtype=float)
        if (len(p["values"]) != probabilities.size or np.any(probabilities < 0)
                or abs(probabilities.sum() - 1.0) > 1e-6 or list(p["values"]) != sorted(p["values"])):
            raise InputError(where, p, "ascending values and as many probabilities >= 0 summing to 1")
    if family == "hurdle_lognormal" and not 0 < float(p["positive_fraction"]) <= 1:
        raise InputError(f"{where}.positive_fraction", p["positive_fraction"], "a fraction in (0, 1]")


def _covariate(entry: dict, where: str, unit: str) -> Covariate:
    if isinstance(entry, dict) and "by_sex" in entry:
        by_sex = entry["by_sex"]
        if not isinstance(by_sex, dict) or set(by_sex) != set(SEXES):
            raise InputError(f"{where}.by_sex", by_sex, "entries for male and female")
        return BySex(_marginal(by_sex["male"], f"{where}.male", unit),
                     _marginal(by_sex["female"], f"{where}.female", unit))
    return _marginal(entry, where, unit)


def _site_frequencies(entry: dict | None, where: str) -> tuple[tuple[float, ...], str]:
    """Lesion-site frequencies in the order of :data:`LESION_SITES` (missing sites 0) and their source; () when
    the disease gives none."""
    if entry is None:
        return (), ""
    if not isinstance(entry, dict) or not isinstance(entry.get("frequencies"), dict) or "source" not in entry:
        raise InputError(where, entry, "a mapping with 'frequencies' ({site: fraction}), 'unit' and 'source'")
    frequencies = entry["frequencies"]
    for site in frequencies:
        if site not in LESION_SITES:
            raise UnknownNameError(f"{where}.frequencies", site, LESION_SITES)
    values = np.array([float(frequencies.get(site, 0.0)) for site in LESION_SITES])
    if np.any(~np.isfinite(values)) or np.any(values < 0) or abs(values.sum() - 1.0) > 1e-6:
        raise InputError(f"{where}.frequencies", frequencies, "fractions >= 0 summing to 1")
    return tuple(values / values.sum()), str(entry["source"])


def _site_hazard_ratios(entry: dict | None, where: str) -> tuple[tuple[float, ...], str]:
    """Death hazard ratios by site in the order of :data:`LESION_SITES` (missing sites 1) and their source; ()
    when the disease gives none."""
    ratios = (entry or {}).get("death_hazard_ratios")
    if ratios is None:
        return (), ""
    if not isinstance(ratios, dict) or "death_hazard_source" not in entry:
        raise InputError(f"{where}.death_hazard_ratios", ratios,
                         "a mapping {site: hazard ratio} with 'death_hazard_source' beside it")
    for site, value in ratios.items():
        if site not in LESION_SITES:
            raise UnknownNameError(f"{where}.death_hazard_ratios", site, LESION_SITES)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(f"{where}.death_hazard_ratios.{site}", value, "a positive finite hazard ratio")
    return tuple(float(ratios.get(site, 1.0)) for site in LESION_SITES), str(entry["death_hazard_source"])


def _uptake_spread(entry: dict | None, where: str) -> tuple[float, str]:
    """The within-patient coefficient of variation of lesion target expression (0 when not given), its source."""
    if entry is None:
        return 0.0, ""
    if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
        raise InputError(where, entry, "a mapping with 'value' (a coefficient of variation), 'unit' and 'source'")
    value = check_uptake_spread(entry["value"], where)
    bounds = entry.get("bounds")
    if bounds is not None and not (len(bounds) == 2 and 0 <= bounds[0] <= value <= bounds[1]):
        raise InputError(f"{where}.bounds", bounds, f"[lower, upper] with 0 <= lower <= value ({value}) <= upper")
    return value, str(entry["source"])


def check_uptake_spread(value: object, where: str = "uptake_spread") -> float:
    """``value`` as a coefficient of variation (a finite number >= 0), or InputError."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise InputError(where, value, "a coefficient of variation >= 0 (0: every lesion at the patient's value)")
    return number


def parse_disease(data: dict, name: str) -> Disease:
    """Build a :class:`Disease` from the parsed data file ``data`` (checks every entry)."""
    where = f"populations/{name}.yaml"
    covariates_data = data.get("covariates", {})
    unknown = set(covariates_data) - set(COVARIATE_UNITS)
    if unknown:
        raise UnknownNameError(f"{where}: covariates", sorted(unknown)[0], tuple(COVARIATE_UNITS))
    missing = [c for c in REQUIRED_COVARIATES if c not in covariates_data]
    if missing:
        raise InputError(f"{where}: covariates", missing, f"all of {', '.join(REQUIRED_COVARIATES)}")
    covariates = {key: _covariate(value, f"{where}: {key}", COVARIATE_UNITS[key])
                  for key, value in covariates_data.items()}

    sex = data["sex"]
    male_fraction = float(sex["male_fraction"])
    if not 0 <= male_fraction <= 1:
        raise InputError(f"{where}: sex.male_fraction", male_fraction, "a fraction in [0, 1]")

    lesion_data = data["lesions"]
    count = _marginal(lesion_data["count"], f"{where}: lesions.count", "1")
    values = count.parameters.get("values", [])
    if count.family != "categorical" or not all(float(v).is_integer() and 1 <= v <= MAX_LESIONS for v in values):
        raise InputError(f"{where}: lesions.count", lesion_data["count"],
                         f"a categorical over integers 1 to {MAX_LESIONS}")
    diameter = _marginal(lesion_data["diameter"], f"{where}: lesions.diameter", "mm")
    minimum = float(lesion_data["measurable_min_diameter"]["value"])
    if float(diameter.parameters.get("lower", 0.0)) < minimum:
        raise InputError(f"{where}: lesions.diameter.lower", diameter.parameters.get("lower"),
                         f">= the measurable minimum {minimum} mm")
    frequencies, sites_source = _site_frequencies(lesion_data.get("sites"), f"{where}: lesions.sites")
    hazard_ratios, hazard_source = _site_hazard_ratios(lesion_data.get("sites"), f"{where}: lesions.sites")
    spread, spread_source = _uptake_spread(lesion_data.get("uptake_spread"), f"{where}: lesions.uptake_spread")
    lesions = LesionSpecification(count, diameter, minimum, float(lesion_data["density"]["value"]),
                                  float(lesion_data["measurable_fraction"]["value"]),
                                  str(lesion_data["measurable_fraction"]["source"]), frequencies, sites_source,
                                  spread, spread_source, hazard_ratios, hazard_source)

    target_data = data["target"]
    target = Target(str(target_data["name"]), str(target_data["agent"]), str(target_data["measure"]),
                    float(target_data["reference_value"]), str(target_data["source"]),
                    bool(target_data.get("assumption", False)))
    if not target.reference_value > 0:
        raise InputError(f"{where}: target.reference_value", target.reference_value, "a positive number")

    correlations = []
    for item in data.get("correlations", []) or []:
        first, second = item["between"]
        for variable in (first, second):
            if variable not in CORRELATABLE or (variable in COVARIATE_UNITS and variable not in covariates):
                raise UnknownNameError(f"{where}: correlations", variable,
                                       tuple(c for c in CORRELATABLE if c in covariates or c == "lesion_count"))
        rho = float(item["rho"])
        if not -1 < rho < 1 or first == second:
            raise InputError(f"{where}: correlations", item, "two different variables and -1 < rho < 1")
        correlations.append(Correlation(first, second, rho, str(item["source"])))
    return Disease(name, str(data["title"]), male_fraction, str(sex["source"]), target,
                   str(data.get("pdl1_scoring", "")), lesions, covariates, tuple(correlations))


@lru_cache(maxsize=1)
def known_diseases() -> tuple[str, ...]:
    """Names of the diseases that have a population data file."""
    folder = resources.files("rptici.data").joinpath("populations")
    return tuple(sorted(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".yaml")))


@lru_cache(maxsize=None)
def load_disease(name: str) -> Disease:
    """The covariate distributions of disease ``name`` (case-insensitive; ``-`` and spaces read as ``_``)."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in known_diseases():
        raise UnknownNameError("disease", name, known_diseases())
    return parse_disease(load_yaml(f"populations/{key}.yaml"), key)
