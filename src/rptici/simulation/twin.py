"""A patient's digital twin: the lesions measured by ``rptici image-dose`` become the patient's lesions in the model.

From an image-dose output folder (``image_dose.json``, ``dvh.parquet`` and, when written by ``--predict-cycles``,
``cycles.json``) every region whose tissue is the tumour becomes one lesion of a simulation scenario with prescribed
dose rates (``prescribed_rpt``; its k-th administration receives cycle k):

* volume: the region's volume (mL, voxelised);
* absorbed dose per administration: the region's mean dose of cycle 1 (measured) and of cycles 2… (cycles.json),
  as ``lesion_doses``; dose-rate effective half-life: the region's cycle-1 effective half-life
  (``lesion_effective_half_lives``; a later cycle's changed half-life enters through its dose, not its rate shape);
* dose heterogeneity: the surviving fraction averaged over the lesion's dose–volume histogram instead of taken at
  its mean dose — the equivalent uniform dose of Niemierko (1997 Med Phys 24:103), with the linear–quadratic model
  and dose rate of O'Donoghue (1999 J Nucl Med 40:1337). For the differential DVH (bins of dose d_j holding the
  volume fraction v_j, scaled so Σ v_j d_j is the measured mean D̄) and cycles c whose doses are s_c times cycle 1's::

      SF_DVH = Σ_j v_j exp(−α BED(d_j)),   SF(D̄) = exp(−α BED(D̄)),   BED(d) = Σ_c s_c d (1 + G_c s_c d/(α/β)),
      G_c = T_rep/(T_rep + T_c) (Dale 1985, mono-exponential dose rate),
      EUD: the uniform cycle-1 dose E with α BED(E) = −ln SF_DVH  (a E + b E² = −ln SF_DVH/α, a = Σ s_c,
           b = Σ G_c s_c²/(α/β)), reported as the course total a E.

  The model kills with α Ḋ + 2β Ḋ Γ per lesion (rptici.immunity.equations), whose log cell kill over a course is
  α BED(D̄). To make it α BED-equivalent of the DVH without touching the model, the twin gives each lesion the
  radiosensitivity h α (β = h α/(α/β) follows), h = ln SF_DVH / ln SF(D̄) ≤ 1 when the DVH spreads (for the
  dose ranges of RPT, where the α term dominates). The model's dose read-out stays the measured mean dose.

``lesion_heterogeneity: false`` (scenario) keeps h = 1 (the DVH is still reported). Caution: on SPECT without
resolution recovery most of a lesion's apparent dose spread is partial-volume blur — on the phantom of
``examples/imaging`` (uniform lesions) the dose CV is 0.02 unblurred and 0.25 with its 12 mm FWHM blur, h 0.99 vs
0.73 (docs/imaging.md) — so h is only as real as the image's resolution correction.

Assumptions: the dose distribution of later cycles is cycle 1's scaled (s_c); the SPECT-scale DVH (voxels of
mm) adds to, and is not the same as, the model's cellular target-low fraction (``low_uptake_fraction``);
α and α/β are the patient's (``patient.alpha``, else the parameter set's ``tumour_alpha``, after overrides).
New inputs of the simulation layer (the immunity layer is unchanged): ``PrescribedRpt.lesion_doses`` and
``lesion_effective_half_lives``, and the per-lesion ``alpha`` covariate the model already accepts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from ..immunity.model import MAX_LESIONS
from ..immunity.parameters import load_parameters
from ..kinetics.schema import PatientSpec
from ..radiobiology.tissues import tissue
from .scenario import SimulationScenario

#: Relative disagreement allowed between cycles.json's cycle 1 and image_dose.json (same run: rounding only).
SAME_RUN_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class MeasuredLesion:
    """One lesion of an image-dose result: volume, mean dose per cycle, cycle-1 half-life, cycle-1 DVH bins."""

    name: str
    volume_mL: float
    doses_Gy: tuple[float, ...]
    half_lives_d: tuple[float, ...]
    bin_doses_Gy: np.ndarray
    bin_fractions: np.ndarray

    @property
    def coefficient_of_variation(self) -> float:
        """Standard deviation / mean of the cycle-1 dose over the lesion's volume (from its DVH bins)."""
        mean = float(np.sum(self.bin_fractions * self.bin_doses_Gy))
        spread = float(np.sum(self.bin_fractions * (self.bin_doses_Gy - mean) ** 2))
        return math.sqrt(spread) / mean if mean > 0 else 0.0


def differential_dvh(dose_Gy: np.ndarray, volume_fraction: np.ndarray, mean_Gy: float) -> tuple[np.ndarray, np.ndarray]:
    """Bins (dose, volume fraction) of a cumulative DVH V(D) on an increasing grid: the fraction V_k − V_{k+1} at the
    bin's mid-dose, the last V at the last grid dose; doses scaled so that the binned mean is ``mean_Gy``."""
    grid = np.asarray(dose_Gy, float)
    cumulative = np.asarray(volume_fraction, float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0) or np.any(np.diff(cumulative) > 1e-12):
        raise InputError("dvh", grid.size, "a cumulative DVH: increasing doses, non-increasing volume fractions")
    fractions = np.append(cumulative[:-1] - cumulative[1:], cumulative[-1])
    doses = np.append(0.5 * (grid[:-1] + grid[1:]), grid[-1])
    fractions = fractions / fractions.sum()
    binned = float(np.sum(fractions * doses))
    return (doses * (mean_Gy / binned) if binned > 0 else doses), fractions


def log_surviving_fraction(bin_doses_Gy: np.ndarray, fractions: np.ndarray, alpha: float, alpha_beta: float,
                           scales: np.ndarray, g: np.ndarray) -> float:
    """ln Σ_j v_j exp(−α BED(d_j)) with BED(d) = Σ_c s_c d (1 + G_c s_c d/(α/β)) (module docstring)."""
    d = np.asarray(bin_doses_Gy, float)[:, None]
    bed = np.sum(scales * d * (1.0 + g * scales * d / alpha_beta), axis=1)
    exponent = -alpha * bed
    weights = np.asarray(fractions, float)
    keep = weights > 0
    top = float(np.max(exponent[keep]))
    return top + math.log(float(np.sum(weights[keep] * np.exp(exponent[keep] - top))))


def heterogeneity(lesion: MeasuredLesion, alpha: float, alpha_beta: float, repair_half_time_d: float) -> dict[str, float]:
    """ln SF over the DVH and at the mean, the factor h = ln SF_DVH / ln SF(D̄), the course EUD (Gy) and the CV."""
    doses = np.asarray(lesion.doses_Gy, float)
    half_lives = np.asarray(lesion.half_lives_d, float)
    g = repair_half_time_d / (repair_half_time_d + half_lives)
    mean = doses[0]
    if mean <= 0:
        return {"log_sf_dvh": 0.0, "log_sf_mean": 0.0, "factor": 1.0, "eud_Gy": 0.0, "cv": 0.0}
    scales = doses / mean
    log_dvh = log_surviving_fraction(lesion.bin_doses_Gy, lesion.bin_fractions, alpha, alpha_beta, scales, g)
    log_mean = log_surviving_fraction(np.array([mean]), np.array([1.0]), alpha, alpha_beta, scales, g)
    a, b = float(scales.sum()), float(np.sum(g * scales**2) / alpha_beta)
    target = -log_dvh / alpha
    eud = 2 * target / (a + math.sqrt(a * a + 4 * b * target))  # the root of b E² + a E = target, stable as b → 0
    return {"log_sf_dvh": log_dvh, "log_sf_mean": log_mean, "factor": log_dvh / log_mean, "eud_Gy": a * eud,
            "cv": lesion.coefficient_of_variation}


def _read_json(path: Path, field: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(field, str(path), "an image-dose output folder (rptici image-dose STUDY --out DIR)") from None
    except json.JSONDecodeError as error:
        raise InputError(field, str(path), f"valid JSON ({error.msg})") from None


def read_measured_lesions(folder: str | Path) -> list[MeasuredLesion]:
    """The lesions (regions whose tissue is tumour) of an image-dose output folder, with cycles.json's cycles."""
    import pandas as pd

    from ..imaging.cycles import is_tumour

    folder = Path(folder)
    summary = _read_json(folder / "image_dose.json", "lesions_from")
    cycles = _read_json(folder / "cycles.json", "lesions_from") if (folder / "cycles.json").exists() else None
    dvh_file = folder / "dvh.parquet"
    if not dvh_file.exists():
        raise InputError("lesions_from", str(dvh_file), "an image-dose output folder with its dvh.parquet")
    dvh = pd.read_parquet(dvh_file)
    lesions = []
    for name, region in summary.get("regions", {}).items():
        if not is_tumour(region.get("tissue")):
            continue
        mean = float(region["mean_Gy"])
        half_life = region.get("effective_half_life_d") or (region.get("fit") or {}).get("terminal_effective_half_life_d")
        if half_life is None:
            raise InputError(f"lesions_from.regions.{name}.effective_half_life_d", None,
                             "an effective half-life (image-dose of this version writes it)")
        doses, half_lives = (mean,), (float(half_life),)
        if cycles is not None:
            predicted = cycles["regions"][name]
            if not math.isclose(predicted["dose_Gy"][0], mean, rel_tol=SAME_RUN_RTOL, abs_tol=1e-12):
                raise InputError("lesions_from.cycles.json", predicted["dose_Gy"][0],
                                 f"cycle 1 of the same run as image_dose.json (mean {mean:.6g} Gy for {name}); "
                                 "rerun rptici image-dose with --predict-cycles")
            doses, half_lives = tuple(predicted["dose_Gy"]), tuple(predicted["effective_half_life_d"])
        curve = dvh[(dvh["region"] == name) & (dvh["quantity"] == "dose")]
        if curve.empty:
            raise InputError("lesions_from.dvh", name, "a dose DVH for every lesion in dvh.parquet")
        bins, fractions = differential_dvh(curve["dose_Gy"].to_numpy(), curve["volume_fraction"].to_numpy(), mean)
        lesions.append(MeasuredLesion(name, float(region["volume_mL"]), doses, half_lives, bins, fractions))
    if not lesions:
        raise InputError("lesions_from", str(folder), "an image-dose result with at least one region of tissue tumour")
    if len(lesions) > MAX_LESIONS:
        raise InputError("lesions_from", len(lesions), f"at most {MAX_LESIONS} lesions")
    return lesions


@dataclass(frozen=True, eq=False)
class Twin:
    """The scenario with the measured lesions, the engine's patients (per-lesion α h) and a row per lesion."""

    scenario: SimulationScenario
    cohort: dict[str, np.ndarray]
    lesions: list[dict[str, Any]]


def build_twin(scenario: SimulationScenario, folder: str | Path, overrides: Mapping[str, float] | None = None) -> Twin:
    """``scenario`` (prescribed_rpt, one patient) with the lesions measured in an image-dose folder; ``overrides``
    (parameters, as for :func:`~rptici.simulation.scenario.run_scenario`) enter the α used for the heterogeneity."""
    if scenario.regimen is not None or not scenario.prescribed_rpt:
        raise InputError("lesions_from", str(folder), "a scenario with prescribed_rpt administrations (their days; "
                                                      "the lesions' doses come from the images), not a regimen")
    if scenario.population is not None:
        raise InputError("lesions_from", str(folder), "a scenario with one patient: (the twin), not a population")
    lesions = read_measured_lesions(folder)
    available = min(len(lesion.doses_Gy) for lesion in lesions)
    if len(scenario.prescribed_rpt) > available:
        raise InputError("prescribed_rpt", len(scenario.prescribed_rpt),
                         f"at most {available} administration(s): the imaged cycle and the cycles predicted in "
                         "cycles.json (rptici image-dose STUDY --out DIR --predict-cycles N --activity A)")
    patient = scenario.patient
    if patient is not None and (patient.lesion_uptake or patient.lesion_sites):
        raise InputError("patient.lesion_uptake", list(patient.lesion_uptake) or list(patient.lesion_sites),
                         "no per-lesion covariates with lesions_from (the lesions are the measured ones)")
    # copies in internal units (days, Gy, mL), validated above or by the image-dose run
    entries = tuple(entry.model_copy(update={
        "tumour_dose": None, "lesion_doses": tuple(float(lesion.doses_Gy[k]) for lesion in lesions),
        "lesion_effective_half_lives": tuple(float(lesion.half_lives_d[0]) for lesion in lesions)})
        for k, entry in enumerate(scenario.prescribed_rpt))
    volumes = tuple(lesion.volume_mL for lesion in lesions)
    patient = (patient or PatientSpec()).model_copy(update={"lesions": volumes})
    document = {name: getattr(scenario, name) for name in SimulationScenario.model_fields}
    document.update(prescribed_rpt=entries, patient=patient, population=None, lesions_from=None)
    twin = SimulationScenario.load(document)
    antibody = scenario.antibody_name or ("anti_pd1" if scenario.species == "mouse" else "pembrolizumab")
    values = load_parameters(scenario.species, antibody=antibody).with_overrides({**twin.overrides, **(overrides or {})}).values
    alpha = float(patient.alpha) if patient is not None and patient.alpha is not None else values["tumour_alpha"]
    alpha_beta, repair = values["tumour_alpha_beta"], values["tumour_repair_half_time"]
    rows, factors = [], []
    count = len(entries)
    for k, lesion in enumerate(lesions):
        course = MeasuredLesion(lesion.name, lesion.volume_mL, lesion.doses_Gy[:count], lesion.half_lives_d[:count],
                                lesion.bin_doses_Gy, lesion.bin_fractions)
        effect = heterogeneity(course, alpha, alpha_beta, repair)
        factors.append(effect["factor"] if scenario.lesion_heterogeneity else 1.0)
        rows.append({"lesion": f"lesion_{k + 1}", "region": lesion.name, "volume_mL": lesion.volume_mL,
                     "dose_Gy": list(course.doses_Gy), "course_dose_Gy": float(sum(course.doses_Gy)),
                     "dose_cv": effect["cv"], "eud_Gy": effect["eud_Gy"],
                     "surviving_fraction_dvh": math.exp(effect["log_sf_dvh"]),
                     "surviving_fraction_mean_dose": math.exp(effect["log_sf_mean"]),
                     "alpha_factor": factors[-1]})
    cohort = twin.cohort
    cohort["alpha"] = np.tile(alpha * np.array(factors), (twin.patients, 1))
    return Twin(twin, cohort, rows)
