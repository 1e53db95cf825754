"""From a treatment regimen to activity, dose rate, absorbed dose, BED and limits — vectorised over patients.

For a linear biokinetic model the dose rate of each target after 1 MBq is a sum of exponentials
(:func:`~rptici.dosimetry.dose_rate.dose_rate_modes`); cycles superpose by linearity, so activity(t), dose
rate(t) and cumulative dose(t) are closed-form sums over cycles and modes. BED (Dale 1985 Br J Radiol 58:515):
within a cycle the Lea–Catcheside factor G is exact for the exponential sum (Dale 1996;
:func:`~rptici.radiobiology.lq.g_factor_exponential_sum`); cycles weeks apart add, because the damage of
one cycle is repaired (half-time hours) long before the next (:func:`~rptici.radiobiology.bed.bed_cycles`):
BED = Σ_k D_k (1 + G D_k / (α/β)). BED and the limits use the RBE-weighted dose (α RBE from the data file),
as the patient workbench does (:mod:`~rptici.radiobiology.assessment`). With a checkpoint inhibitor the
serum concentration and target occupancy come from the regimen (population PK, weight effect).

Scenario files (``examples/scenarios/*.yaml``, :class:`DoseScenario`) hold ``regimen:`` (the mapping of
:func:`~rptici.kinetics.regimen.load_regimen`), ``patient:`` (the reference patient, a
:class:`~rptici.kinetics.schema.PatientSpec`: every covariate with its unit) and optionally ``patients: N``,
``seed`` and ``spread`` for a cohort sampled around the reference; see :func:`load_scenario`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, Sequence

import numpy as np
from pydantic import Field, model_validator

from .. import seeds
from ..data import load_yaml
from ..dosimetry.absorbed_dose import MGY_PER_GY, check_rbe
from ..dosimetry.dose_rate import DoseRateModes, dose_rate_modes, exponential_sum_integral
from ..dosimetry.phantom import CrossDose
from ..dosimetry.sphere import organ_self_s_value
from ..errors import InputError
from ..kinetics.biokinetics import (Covariates, agent_parameters, biokinetic_model, body_masses_g, organ_masses_g,
                                    reference_anatomy, subject, subject_covariates)
from ..kinetics.occupancy import occupancy as occupancy_fraction_of
from ..kinetics.regimen import Regimen
from ..kinetics.schema import PatientSpec, Schema, whole
from ..physics import Nuclide
from .assessment import LimitMargin, _limit_margins, check_risk_factors
from .bed import eqd2
from .lq import g_factor_exponential_sum
from .plausibility import region_warnings
from .tissues import tissue

#: Log-normal spreads (σ of ln) of a cohort sampled around the reference patient. Assumption (no single
#: published joint distribution is used): weight σ 0.15 (adult body weight CV about 15 %), GFR σ 0.25,
#: target uptake σ 0.4 (inter-patient spread of tumour SUV on PSMA/SSTR PET is of this order), lesion mass
#: σ 0.5; BSA follows weight as BSA_ref (W/W_ref)^0.425 (Du Bois and Du Bois 1916 weight exponent at fixed
#: height). Override any of them in the scenario under ``spread``.
_COHORT = load_yaml("cohort_spread.yaml")
#: Log-normal sigmas of a sampled cohort around the reference patient (assumptions; data/cohort_spread.yaml).
DEFAULT_SPREAD = {name: float(entry["value"]) for name, entry in _COHORT["spread"].items()}
BSA_WEIGHT_EXPONENT = float(_COHORT["bsa_weight_exponent"]["value"])
#: Grid of the time-averaged occupancy (trapezoid): points per ICI dosing interval. Occupancy is near 1 and
#: smooth between infusions; 12 points per interval change the mean by < 3e-3 against a 1-hour grid.
OCCUPANCY_POINTS_PER_INTERVAL = 12
#: Tissue used for the BED and limits of lesions.
LESION_TISSUE = "tumour"
# -- scenario -----------------------------------------------------------------------------------------

Sigma = Annotated[float, Field(ge=0.0, lt=3.0, allow_inf_nan=False)]


class DoseScenario(Schema):
    """A regimen with an RPT schedule, the reference patient (:class:`PatientSpec`; missing covariates are
    the ICRP 89 reference adult's of its sex) and optionally ``patients`` sampled around it with ``seed`` and
    log-normal ``spread`` (σ of ln per covariate, defaults :data:`DEFAULT_SPREAD`)."""

    kind: Literal["dose"] = "dose"
    name: str = ""
    description: str | None = None
    regimen: Regimen
    patient: PatientSpec = PatientSpec()
    patients: whole(0, 100_000) = 0  # type: ignore[valid-type]
    seed: whole(0) | None = None  # type: ignore[valid-type]
    spread: dict[Literal[tuple(DEFAULT_SPREAD)], Sigma] = {}  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _needs_rpt(self) -> DoseScenario:
        if self.regimen.rpt is None:
            raise InputError("regimen.rpt", None, "a radiopharmaceutical schedule (the dose command needs one)")
        return self

    @property
    def sex(self) -> str:
        return self.patient.sex or "male"

    @property
    def cohort_size(self) -> int:
        """The number of patients sampled around the reference (``patients``)."""
        return self.patients

    @property
    def sigmas(self) -> dict[str, float]:
        """The log-normal spreads in use: the defaults with the scenario's overrides."""
        return {**DEFAULT_SPREAD, **self.spread}

    @cached_property
    def covariates(self) -> Covariates:
        """The reference patient (index 0) followed by the sampled cohort."""
        return sample_cohort(self.patient.kinetic_covariates(), self.patients, self.seed, self.sigmas)


def sample_cohort(reference: Covariates, patients: int, seed: int | None,
                  spread: Mapping[str, float] = DEFAULT_SPREAD) -> Covariates:
    """The reference patient (index 0) followed by ``patients`` sampled around it (log-normal, see DEFAULT_SPREAD).

    Each sampled patient draws from its own stream (:func:`rptici.seeds.patients`), so patient i is the same
    whatever the cohort size.
    """
    weight0, bsa0, gfr0, uptake0 = (float(np.asarray(value)[0]) for value in (
        reference.weight_kg, reference.bsa_m2, reference.gfr_mL_per_min, reference.target_uptake_scale))
    lesions = np.asarray(reference.lesion_masses_g, dtype=float)[0]
    streams = seeds.patients(seed, 0, patients)
    draws = np.array([rng.standard_normal(3 + lesions.size) for rng in streams]).reshape(patients, 3 + lesions.size)
    weight = weight0 * np.exp(spread["weight"] * draws[:, 0])
    bsa = bsa0 * (weight / weight0) ** BSA_WEIGHT_EXPONENT
    gfr = gfr0 * np.exp(spread["gfr"] * draws[:, 1])
    uptake = uptake0 * np.exp(spread["target_uptake"] * draws[:, 2])
    masses = lesions[None, :] * np.exp(spread["lesion_mass"] * draws[:, 3:])
    return Covariates(np.concatenate([[weight0], weight]), np.concatenate([[bsa0], bsa]),
                      np.concatenate([[gfr0], gfr]), np.concatenate([[uptake0], uptake]),
                      np.vstack([lesions[None, :], masses]),
                      np.repeat(reference.lesion_uptake_factors[:1], patients + 1, axis=0),
                      None if reference.lesion_sites is None else np.repeat(reference.lesion_sites[:1], patients + 1, axis=0))


def load_scenario(source: DoseScenario | Mapping[str, Any] | str | os.PathLike[str]) -> DoseScenario:
    """A :class:`DoseScenario` from a YAML file or mapping: ``regimen``, ``patient``, optional ``patients``,
    ``seed``, ``spread``. Errors name the field (``patient.weight``)."""
    return DoseScenario.load(source)


# -- result -------------------------------------------------------------------------------------------

@dataclass
class RegimenDose:
    """Activity, dose and BED of every patient (first axis) over ``times`` (last axis, days).

    Targets (organs and lesions) are on the second axis of the dose arrays; compartments on the second
    axis of ``activity_MBq``. Absorbed doses are to infinity over all cycles; ``cumulative_dose_Gy`` to each
    time. ``limits`` maps target → tuple of :class:`LimitMargin` whose value, margin and exceeded are arrays
    over patients. Antibody arrays are None without an ICI.
    """

    agent: str
    nuclide: str
    compartments: tuple[str, ...]
    excretion: tuple[str, ...]
    decay_constant_per_day: float
    targets: tuple[str, ...]
    tissues: tuple[str, ...]
    masses_g: np.ndarray
    times: np.ndarray
    administration_times: np.ndarray
    administered_MBq: np.ndarray
    modes: DoseRateModes
    activity_amplitudes: np.ndarray
    activity_MBq: np.ndarray
    dose_rate_Gy_per_day: np.ndarray
    cumulative_dose_Gy: np.ndarray
    absorbed_dose_Gy: np.ndarray
    rbe_weighted_dose_Gy: np.ndarray
    alpha_rbe: float
    g_factor: np.ndarray
    bed_Gy: np.ndarray
    eqd2_Gy: np.ndarray
    limits: dict[str, tuple[LimitMargin, ...]]
    ici_agent: str | None = None
    ici_target: str | None = None
    concentration_ug_per_mL: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    trough_concentration_ug_per_mL: np.ndarray | None = None
    trough_occupancy: np.ndarray | None = None
    mean_occupancy: np.ndarray | None = None

    @property
    def patients(self) -> int:
        return self.masses_g.shape[0]

    @property
    def total_activity_MBq(self) -> np.ndarray:
        return self.administered_MBq.sum(axis=0)

    @property
    def dose_per_activity_Gy_per_GBq(self) -> np.ndarray:
        """Absorbed dose (not RBE-weighted) over the regimen per GBq administered in it, (patients, targets)."""
        return self.absorbed_dose_Gy / (self.total_activity_MBq[:, None] / 1000.0)

    def balance(self, time_d: float) -> dict[str, np.ndarray]:
        """Where the administered activity is at ``time_d`` (MBq-at-administration units, per patient):
        present in body + decayed in body (λ∫A dt) + excreted (present in excreta + decayed there) = administered."""
        body = np.array([name not in self.excretion for name in self.compartments])
        elapsed = float(time_d) - self.administration_times
        given = elapsed >= 0
        rates = self.modes.rates
        present = np.zeros((self.patients, len(self.compartments)))
        integral = np.zeros_like(present)
        for cycle in np.flatnonzero(given):
            weight = self.administered_MBq[cycle][:, None]
            present += weight * np.einsum("pck,pk->pc", self.activity_amplitudes, np.exp(-rates * elapsed[cycle]))
            integral += weight * exponential_sum_integral(self.activity_amplitudes, rates[:, None, :], elapsed[cycle])
        decayed = self.decay_constant_per_day * integral
        return {"administered": self.administered_MBq[given].sum(axis=0),
                "present_in_body": present[:, body].sum(axis=1), "decayed_in_body": decayed[:, body].sum(axis=1),
                "excreted": (present[:, ~body] + decayed[:, ~body]).sum(axis=1)}

    def region_summary(self, patient: int = 0) -> dict[str, dict[str, Any]]:
        """Per target: absorbed dose, RBE-weighted dose, Gy/GBq, G, BED, EQD2 and limits for one patient."""
        result = {}
        for column, target in enumerate(self.targets):
            result[target] = {
                "tissue": self.tissues[column], "mass_g": float(self.masses_g[patient, column]),
                "absorbed_dose_Gy": float(self.absorbed_dose_Gy[patient, column]),
                "rbe_weighted_dose_Gy": float(self.rbe_weighted_dose_Gy[patient, column]),
                "dose_per_activity_Gy_per_GBq": float(self.dose_per_activity_Gy_per_GBq[patient, column]),
                "g_factor": float(self.g_factor[patient, column]), "bed_Gy": float(self.bed_Gy[patient, column]),
                "eqd2_Gy": float(self.eqd2_Gy[patient, column]),
                "limits": [limit.as_dict(patient) for limit in self.limits[target]],
            }
        return result

    def summary(self, patient: int = 0) -> dict[str, Any]:
        """JSON-ready summary of one patient (default the reference) and, for a cohort, its spread."""
        result: dict[str, Any] = {
            "agent": self.agent, "nuclide": self.nuclide, "alpha_rbe": self.alpha_rbe,
            "total_activity_administered_MBq": float(self.total_activity_MBq[patient]),
            "cycles": [{"time_d": float(time), "activity_MBq": float(activity[patient])}
                       for time, activity in zip(self.administration_times, self.administered_MBq)],
            "regions": self.region_summary(patient),
        }
        result["warnings"] = region_warnings(result["regions"])
        if self.ici_agent is not None:
            result["ici"] = {"agent": self.ici_agent, "target": self.ici_target,
                             "trough_occupancy": float(self.trough_occupancy[patient]),
                             "mean_occupancy": float(self.mean_occupancy[patient]),
                             "trough_concentration_ug_per_mL": float(self.trough_concentration_ug_per_mL[patient])}
        return result

    def cohort_summary(self, patients: slice | np.ndarray = slice(1, None)) -> dict[str, Any]:
        """Median and 5th–95th percentiles over ``patients`` (default all but the reference), and the
        fraction of patients exceeding each limit."""
        def spread(values: np.ndarray) -> dict[str, float]:
            low, median, high = np.percentile(values, [5, 50, 95])
            return {"median": float(median), "p5": float(low), "p95": float(high)}

        chosen = np.arange(self.patients)[patients]
        if chosen.size == 0:
            return {}
        regions = {}
        for column, target in enumerate(self.targets):
            regions[target] = {
                "rbe_weighted_dose_Gy": spread(self.rbe_weighted_dose_Gy[chosen, column]),
                "dose_per_activity_Gy_per_GBq": spread(self.dose_per_activity_Gy_per_GBq[chosen, column]),
                "bed_Gy": spread(self.bed_Gy[chosen, column]),
                "fraction_exceeding": {limit.name: float(np.mean(np.asarray(limit.exceeded)[chosen]))
                                       for limit in self.limits[target]},
            }
        result: dict[str, Any] = {"patients": int(chosen.size), "regions": regions,
                                  "total_activity_administered_MBq": spread(self.total_activity_MBq[chosen])}
        if self.ici_agent is not None:
            result["trough_occupancy"] = spread(self.trough_occupancy[chosen])
            result["mean_occupancy"] = spread(self.mean_occupancy[chosen])
        return result


# -- computation --------------------------------------------------------------------------------------

def target_masses(agent: str, covariates: Covariates, compartments: tuple[str, ...], sex: str = "male"
                  ) -> dict[str, np.ndarray]:
    """Masses (g) of the targets of ``agent``: organs with a compartment, bone targets, derived regions (data file
    ``derived_regions``: blood-based red marrow, total body), lesions.

    Organ and bone-target masses scale with BSA (:func:`organ_masses_g`; children from the ICRP 89 paediatric
    reference individuals); bone targets use the masses that go with their absorbed fractions (ICRP 30), organs
    the ICRP 89 masses (a mouse agent: the reference mouse's). Derived regions (data file ``derived_regions``: blood-based red marrow, total body) are
    targets even without a compartment, with the mass of the region their ``mass`` names (``total_body``: the
    patient's weight); ``region_masses_g`` gives fixed masses of regions not in the reference anatomy (a thyroid
    remnant).
    """
    parameters = agent_parameters(agent)
    covariates = subject_covariates(parameters, covariates, sex)
    sex = subject(parameters, sex)
    organs = organ_masses_g(covariates, sex)
    ratio = covariates.bsa_m2 / reference_anatomy(sex)["body_surface_area_m2"]
    bone = parameters.get("bone_dosimetry") or {}
    derived = parameters.get("derived_regions") or {}
    masses: dict[str, np.ndarray] = {}
    regions = {**organs, **body_masses_g(covariates, sex)}
    for target, entry in derived.items():
        if target not in organs:  # an organ keeps its place among the organs below
            masses[target] = _derived_mass(agent, target, entry, regions)
    for organ, mass in organs.items():
        if organ in bone.get("alpha_absorbed_fractions", {}):
            continue
        if organ in derived:
            masses[organ] = _derived_mass(agent, organ, derived[organ], regions)
        elif any(name == organ or name.startswith(organ + "_") for name in compartments):
            masses[organ] = mass
    for region, entry in (parameters.get("region_masses_g") or {}).items():
        if region in compartments:
            masses[region] = np.full(covariates.patients, float(entry["value"]))
    for target, entry in bone.get("target_masses_g", {}).items():
        masses[target] = float(entry["value"]) * ratio
    for number in range(covariates.lesion_masses_g.shape[1]):
        masses[f"lesion_{number + 1}"] = covariates.lesion_masses_g[:, number]
    return masses


def _derived_mass(agent: str, target: str, entry: Mapping, regions: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mass (g) of a derived region: the region named by its ``mass`` (default its own name) among the organs,
    ``blood`` and ``total_body`` (the patient's weight)."""
    key = entry.get("mass", target) if isinstance(entry, Mapping) else target
    if key not in regions:
        raise InputError(f"{agent}.derived_regions.{target}.mass", key,
                         "a region of reference_anatomy.yaml: " + ", ".join(sorted(regions)))
    return regions[key]


def _tissue_name(target: str) -> str:
    return LESION_TISSUE if target.startswith("lesion") else target


def g_factors(coefficients: np.ndarray, rates: np.ndarray, repair_half_time_days: np.ndarray,
              chunk_bytes: float = 64e6) -> np.ndarray:
    """Lea–Catcheside G per patient and target for Ḋ = Σ_k c[p, T, k] e^(−r[p, k] t), in patient chunks
    (the pair sum is (patients, targets, modes, modes)); 0 where the dose is 0."""
    patients, targets, modes = coefficients.shape
    dose = np.sum(coefficients / rates[:, None, :], axis=-1)
    positive = dose > 0
    safe = np.where(positive[..., None], coefficients, np.eye(1, modes)[0])
    result = np.zeros((patients, targets))
    step = max(1, int(chunk_bytes // (8 * targets * modes * modes)))
    for start in range(0, patients, step):
        block = slice(start, start + step)
        result[block] = g_factor_exponential_sum(safe[block], rates[block, None, :], repair_half_time_days)
    return np.where(positive, result, 0.0)


def default_times(regimen: Regimen, weight_kg: np.ndarray, step_days: float = 1.0) -> np.ndarray:
    """Output grid: from 0 to six weeks after the last RPT cycle or one interval after the last infusion."""
    rpt_times, _ = regimen.rpt_administrations(weight_kg[:1], np.ones(1))
    end = float(rpt_times.max()) + 42.0 if rpt_times.size else 0.0
    for schedule in regimen.ici_schedules:
        infusion_times, _ = regimen.ici_infusions(weight_kg[:1], schedule.agent)
        end = max(end, float(infusion_times.max()) + schedule.interval_days)
    return np.arange(0.0, end + 0.5 * step_days, step_days)


def regimen_dose(regimen: Regimen, covariates: Covariates | None = None, times: object = None, sex: str = "male",
                 rbe: float | None = None, risk_factors: Sequence[str] = (),
                 site_selective: bool = False, stop_days: object = None, targets: Sequence[str] | None = None,
                 antibody: bool = True, cross_dose: bool = True, nuclide: str | None = None) -> RegimenDose:
    """Activity(t), dose rate(t), cumulative and total absorbed dose, BED and limits of every organ and lesion,
    and antibody concentration and occupancy(t), for each patient of ``covariates`` under ``regimen``;
    ``site_selective``: lesions at sites the agent does not reach take up nothing (``biokinetic_model``).

    ``times`` in days (default :func:`default_times`). ``rbe`` weights α doses for BED and limits (default
    from the data file). ``risk_factors`` (e.g. ``["renal"]``): limits for patients with them apply; without,
    such a limit is reported as not applicable, with the reason. ``stop_days`` (one per patient, inf for never):
    cycles after that day are not given (treatment stopped at progression). Linear biokinetics (closed form) only.
    ``targets``: only these targets (those of the agent among them, in its order), for callers that need a few
    organs (a trial's toxicity): each target's numbers are those of the full call, the other targets cost
    nothing. ``antibody`` False leaves out the antibody's concentration and occupancy. ``cross_dose`` (default):
    each target also takes the photon cross-dose of every other body compartment from the stylised reference
    phantom of ``sex``, scaled to each patient's weight (:mod:`~rptici.dosimetry.phantom`); False: self-dose only
    (organ and sphere models), for comparison and for the trial engine, whose toxicity was calibrated on it.
    ``nuclide`` replaces the agent's radionuclide (decay and emissions;
    :func:`~rptici.kinetics.biokinetics.biokinetic_model`).
    """
    if regimen.rpt is None:
        raise InputError("regimen.rpt", None, "a radiopharmaceutical schedule")
    agent = regimen.rpt.radiopharmaceutical.name
    parameters = agent_parameters(agent)
    covariates = subject_covariates(parameters, covariates, sex)
    nuclide = Nuclide(nuclide or parameters["nuclide"])
    model = biokinetic_model(agent, covariates, sex, site_selective=site_selective, state=regimen.rpt.state,
                             nuclide=nuclide.name)
    times = default_times(regimen, covariates.weight_kg) if times is None else np.atleast_1d(np.asarray(times, float))
    if times.ndim != 1 or np.any(~np.isfinite(times)) or np.any(times < 0):
        raise InputError("times", times, "finite times >= 0 (d)")
    alpha_rbe = check_rbe(rbe)
    masses = target_masses(agent, covariates, model.compartments, sex)
    if targets is not None:
        masses = {name: mass for name, mass in masses.items() if name in targets}
    modes = dose_rate_modes(model, nuclide, masses, parameters.get("bone_dosimetry"),
                            derived_regions=parameters.get("derived_regions"), agent=parameters,
                            body_masses=body_masses_g(covariates, sex),
                            cross_dose=CrossDose(sex, covariates.weight_kg) if cross_dose else None)
    amplitudes, rates = model.exponential_modes()
    if regimen.rpt.guided is not None:  # per-patient activities from the organ's dosimetry (radiobiology.guided)
        from .guided import guided_administrations

        administration_times, administered = guided_administrations(regimen, covariates, sex, rbe, site_selective,
                                                                    cross_dose)
    else:
        administration_times, administered = regimen.rpt_administrations(covariates.weight_kg, covariates.bsa_m2)
    if stop_days is not None:
        stops = np.broadcast_to(np.asarray(stop_days, dtype=float), (covariates.patients,))
        administered = np.where(administration_times[:, None] > stops[None, :], 0.0, administered)

    # superpose the cycles: W[p, k, t] = Σ_cycles A_cycle e^(−r_k (t − t_cycle)), I[p, k, t] its integral
    values = np.zeros((covariates.patients, rates.shape[1], times.size))
    integrals = np.zeros_like(values)
    ordered = bool(np.all(np.diff(times) >= 0))
    for time, activity in zip(administration_times, administered):
        elapsed = times - time
        started = slice(int(np.searchsorted(times, time)), None) if ordered else elapsed >= 0
        if elapsed[started].size == 0:
            continue
        exponent = np.exp(-rates[:, :, None] * elapsed[started])
        exponent *= activity[:, None, None]
        values[:, :, started] += exponent
        integrals[:, :, started] += (activity[:, None, None] - exponent) / rates[:, :, None]
    activity_MBq = amplitudes @ values
    dose_rate = modes.coefficients @ values
    cumulative = modes.coefficients @ integrals

    # a region that takes up nothing (a lesion an agent does not reach) can come out at -1e-17 from the eigenmodes
    per_MBq = np.maximum(modes.dose_per_activity(), 0.0)
    weighted_per_MBq = np.maximum(modes.dose_per_activity(alpha_rbe), 0.0)
    total = administered.sum(axis=0)[:, None]
    absorbed = per_MBq * total
    weighted = weighted_per_MBq * total
    tissues = tuple(tissue(_tissue_name(target)) for target in modes.targets)
    alpha_beta = np.array([item.alpha_beta for item in tissues])
    repair = np.array([item.repair_half_time for item in tissues])
    g = g_factors(modes.weighted(alpha_rbe), modes.rates, repair)
    cycle_doses = administered[:, :, None] * weighted_per_MBq[None]  # (cycles, patients, targets)
    bed = np.sum(cycle_doses * (1.0 + g[None] * cycle_doses / alpha_beta), axis=0)
    eqd2_values = eqd2(bed, alpha_beta)
    risk_factors = check_risk_factors(risk_factors, "patient.risk_factors")
    limits = {target: _limit_margins(tissues[column], weighted[:, column], bed[:, column], eqd2_values[:, column],
                                     risk_factors)
              for column, target in enumerate(modes.targets)}
    mass_array = np.stack([np.broadcast_to(np.asarray(masses[target], float), (covariates.patients,))
                           for target in modes.targets], axis=1)
    result = RegimenDose(
        agent=agent, nuclide=nuclide.name, compartments=model.compartments, excretion=model.excretion,
        decay_constant_per_day=model.decay_constant_per_day, targets=modes.targets,
        tissues=tuple(item.name for item in tissues), masses_g=mass_array, times=times,
        administration_times=administration_times, administered_MBq=administered, modes=modes,
        activity_amplitudes=amplitudes, activity_MBq=activity_MBq, dose_rate_Gy_per_day=dose_rate,
        cumulative_dose_Gy=cumulative, absorbed_dose_Gy=absorbed, rbe_weighted_dose_Gy=weighted, alpha_rbe=alpha_rbe,
        g_factor=g, bed_Gy=bed, eqd2_Gy=eqd2_values, limits=limits)
    if antibody and regimen.ici_schedules:
        _add_antibody(result, regimen, covariates)
    return result


def _add_antibody(result: RegimenDose, regimen: Regimen, covariates: Covariates) -> None:
    """Concentration and occupancy on the output grid; troughs just before each infusion and one interval
    after the last; mean occupancy over the treatment (first infusion to one interval after the last,
    trapezoid on a grid of :data:`OCCUPANCY_POINTS_PER_INTERVAL` points per dosing interval). With two
    antibodies (e.g. nivolumab + ipilimumab), those of the first listed; its interval is that of its last phase."""
    ici = next(schedule for schedule in reversed(regimen.ici_schedules)
               if schedule.agent == regimen.ici_schedules[0].agent)
    weight = covariates.weight_kg
    infusion_times, _ = regimen.ici_infusions(weight, ici.agent)
    interval = ici.interval_days
    troughs = np.append(infusion_times[1:], infusion_times[-1] + interval)
    start, end = float(infusion_times[0]), float(troughs[-1])
    window = np.linspace(start, end, int(np.ceil((end - start) / interval * OCCUPANCY_POINTS_PER_INTERVAL)) + 1)
    grid, where = np.unique(np.concatenate([result.times, troughs, window]), return_inverse=True)
    concentration = regimen.ici_concentration(grid, weight, agent=ici.agent).T[:, where]  # (patients, times)
    occupancy = occupancy_fraction_of(concentration, ici.agent)
    first, second = result.times.size, result.times.size + troughs.size
    result.ici_agent = ici.checkpoint_inhibitor.name
    result.ici_target = ici.checkpoint_inhibitor.target
    result.concentration_ug_per_mL = concentration[:, :first]
    result.occupancy = occupancy[:, :first]
    result.trough_concentration_ug_per_mL = concentration[:, first:second].min(axis=1)
    result.trough_occupancy = occupancy[:, first:second].min(axis=1)
    result.mean_occupancy = np.trapezoid(occupancy[:, second:], window, axis=1) / (end - start)


def scenario_dose(scenario: DoseScenario, times: object = None, rbe: float | None = None,
                  cross_dose: bool = True) -> RegimenDose:
    """:func:`regimen_dose` for the patients of a scenario (index 0 the reference patient); ``cross_dose`` False:
    self-dose only."""
    return regimen_dose(scenario.regimen, scenario.covariates, times, scenario.sex, rbe, scenario.patient.risk_factors,
                        cross_dose=cross_dose)
#: The total-body absorbed dose the Bexxar label prescribes (0.65 Gy with platelets 100,000-149,000/uL).
TOTAL_BODY_DOSE_GY = 0.75


def activity_for_total_body_dose(agent: str, total_body_dose_Gy: float = TOTAL_BODY_DOSE_GY,
                                 covariates: Covariates | None = None, sex: str = "male",
                                 residence_time_h: object = None) -> np.ndarray:
    """Activity (MBq, one per patient) that gives ``total_body_dose_Gy`` to the total body: the patient-specific
    dosing of [131I]I-tositumomab (Bexxar label; Wahl 2005 J Nucl Med 46 Suppl 1:128S): activity = prescribed
    total-body dose / (S(total body ← total body) × total-body residence time). The residence time is the
    patient's, measured from whole-body counts after the dosimetric dose (``residence_time_h``, one per patient),
    else the model's (the agent's ``derived_regions.total_body``); S is the self-dose S-value of a uniform source
    in the patient's total-body mass (the label's table of "activity hours" by mass; its "maximum effective mass"
    for obese patients is not applied)."""
    if not isinstance(total_body_dose_Gy, (int, float)) or isinstance(total_body_dose_Gy, bool) or \
            not np.isfinite(total_body_dose_Gy) or total_body_dose_Gy <= 0:
        raise InputError("total_body_dose_Gy", total_body_dose_Gy, "a positive absorbed dose in Gy (label: 0.75)")
    parameters = agent_parameters(agent)
    if "total_body" not in (parameters.get("derived_regions") or {}):
        raise InputError("agent", agent, "an agent whose data file has derived_regions.total_body (e.g. "
                                         "[131I]I-tositumomab)")
    covariates = subject_covariates(parameters, covariates, sex)
    model = biokinetic_model(agent, covariates, sex)
    masses = target_masses(agent, covariates, model.compartments, sex)
    if residence_time_h is None:
        modes = dose_rate_modes(model, parameters["nuclide"], {"total_body": masses["total_body"]},
                                parameters.get("bone_dosimetry"), derived_regions=parameters["derived_regions"])
        return total_body_dose_Gy / modes.dose_per_activity()[:, 0]
    residence = np.broadcast_to(np.asarray(residence_time_h, dtype=float), (covariates.patients,)) \
        if np.ndim(residence_time_h) <= 1 and np.size(residence_time_h) in (1, covariates.patients) else None
    if residence is None or np.any(~np.isfinite(residence)) or np.any(residence <= 0):
        raise InputError("residence_time_h", residence_time_h,
                         f"positive total-body residence times in h, one or one per patient ({covariates.patients})")
    s_value = organ_self_s_value(parameters["nuclide"], masses["total_body"]).total  # mGy/(MBq h)
    return total_body_dose_Gy * MGY_PER_GY / (np.asarray(s_value) * residence)
