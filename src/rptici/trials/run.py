"""Run a virtual trial: population → arms → engine → endpoints and toxicity → chunked Parquet results.

Steps (every random draw is per patient, so numbers do not depend on the chunk size or the executor):

1. the whole trial's population is sampled once (``sample_population(disease, N, seed)``: the quasi-random
   design depends on N), calibrated covariate scales applied, and patients allocated to arms by a seeded
   permutation of the per-arm counts (stream :func:`rptici.seeds.allocation`); a paired trial samples N/k patients
   and simulates each in all k arms, rows k·m … k·m + k − 1 being patient m's, with patient m's stream
   (:func:`arm_labels`, :func:`trial_population`, :func:`row_uniforms`);
2. chunks of ``chunk_size`` consecutive patients run through :func:`rptici.parallel.run_chunks`; within a
   chunk each arm is simulated by :func:`rptici.simulation.simulate` on a grid of ``output_step`` plus the
   assessment days;
3. each patient draws 9 uniforms from its own stream (:func:`rptici.population.patient_streams`): death 1,
   dropout 1, radiation toxicity 4, immune events 2, background disease-related event 1 (the ninth, so the first
   eight are those drawn before it existed), initial occult burden 1 (the tenth); an arm's standard of care
   (:mod:`.standard_of_care`) lengthens the tumour doubling time and adds background grade ≥ 3 events; then new
   lesions from the occult burden (:func:`new_lesions`), RECIST 1.1 (growth or new lesions), the PCWG3 bone-scan
   rule and PSA, death (burden = total lesion volume plus occult burden in mL), dropout, PFS and OS, radiation and
   immune toxicity and their attribution;
4. tables ``patients``, ``assessments`` and ``failures`` are written per chunk to a
   :class:`rptici.store.ResultStore`; a re-run into the same folder completes the missing chunks only.

Organ doses for toxicity come from :func:`rptici.radiobiology.regimen_dose.regimen_dose` evaluated at one time
point (closed form: kidney and salivary-gland BED, RBE-weighted red-marrow dose, no time grid), which is cheaper
than the engine's per-time organ outputs and gives the BED that the NTCP models take. Lesions are not passed
to it for agents whose biokinetics have no lesion compartment (Ra-223).

Treatment as given (``treatment:`` of the scenario, :class:`.scenario.TreatmentRules`): by default every patient
receives the whole regimen; with ``stop_at`` a patient's administrations end at confirmed progression (RPT and ICI)
or at a grade ≥ 3 irAE (ICI), found by a first pass and applied in a second (:func:`_as_given`), and the patient is
followed for OS after stopping. Simplifications stated once: no dose holds or reductions, radiation toxicity
never stops treatment (its grade has no onset time here); there is no staggered accrual (follow-up is the same for
everyone); progression is by the RECIST target and non-target sums (:func:`target_sums`), and by new lesions
only when switch ``occult_disease`` is on (off by default: then no new lesion ever appears); the stop rule reads
progression by the size rules alone.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .. import seeds
from ..errors import InputError
from ..immunity.table import MAX_LESIONS
from ..parallel import ChunkReport, LazyChunks, chunk_ranges, run_chunks
from ..population import Population, load_disease, patient_streams, sample_population, site_hazard_ratio
from ..population.weighting import POOL_FACTOR, Weighting, weighted_cohort
from ..store import ResultStore, scenario_hash
from .endpoint_registry import PatientRecord, endpoint, endpoints, flag_columns
from ..immunity.covariates import occult_fraction_draw
from ..immunity.parameters import load_parameters
from .endpoints import (PROGRESSIVE_DISEASE, bone_scan_progression, censoring_times, death_times, dropout_times,
                        pcwg3_psa, recist, target_lesion_rules)
from .scenario import (ARM_CRITERIA, SCALES, SPREADS, Calibration, TreatmentRules, TrialScenario, load_calibration,
                       load_trial_scenario, parse_schedule)
from .standard_of_care import background_adverse_events, standard_of_care, treated_doubling_time
from .toxicity import attribute_toxicity, immune_adverse_events, immune_event_onset, radiation_toxicity

#: Uniforms each patient draws, in this order: death, dropout, 4 radiation toxicity, 2 immune events, background
#: event, occult burden, anaemia, growth rate (each added last, so that the others keep their numbers).
UNIFORMS_PER_PATIENT = 12
OK, FAILED = "ok", "failed"
ENGINE_OUTPUTS = ("diameter", "volume_sum", "psa", "lymphocytes", "occupancy", "ctla4_occupancy",
                  "occult_volume", "tumour_dose")


@dataclass(frozen=True)
class TrialRun:
    """A finished (or partly finished) run: its folder, the scenario and the chunk report."""

    folder: Path
    scenario: TrialScenario
    report: ChunkReport

    @property
    def store(self) -> ResultStore:
        return ResultStore(self.folder)


@dataclass(frozen=True)
class ChunkTask:
    """Everything one chunk needs (picklable for process and Dask executors)."""

    scenario: TrialScenario
    calibration: Calibration
    population: Population
    arms: np.ndarray  # arm index per patient of the chunk
    start: int
    stop: int
    seed: int


def sampled_population(scenario: TrialScenario, patients: int, seed: int, calibration: Calibration,
                       arms: np.ndarray | None = None) -> tuple[Population, Weighting | None]:
    """The trial's sampled patients (the calibration's within-patient spread of lesion target expression,
    ``lesion_uptake_spread``, else the disease file's, and the correlation of target uptake with the target-low
    share, ``low_uptake_anticorrelation``) and, with ``baseline_weighting``, the weighting: then the
    patients are resampled from a pool of :data:`~rptici.population.weighting.POOL_FACTOR` times as many by its
    entropy-balancing weights to the trial's reported baseline (:mod:`rptici.population.weighting`). The
    trial's ``excluded_sites`` and, given each patient's arm (``arms``), the arms' eligibility criteria select
    from such a pool too (:func:`eligible_patients`, :func:`arm_cohorts`)."""
    options = {"lesion_uptake_spread": calibration.lesion_uptake_spread(),
               "low_uptake_correlation": calibration.low_uptake_correlation()}
    by_arm = arms is not None and scenario.arms_select
    if scenario.baseline_weighting is None and not scenario.excluded_sites and not by_arm:
        return sample_population(scenario.disease, patients, seed, scenario.population_method, **options), None
    pool = sample_population(scenario.disease, POOL_FACTOR * patients, seed, scenario.population_method, **options)
    if scenario.excluded_sites:
        pool = eligible_patients(pool, scenario.excluded_sites,
                                 None if scenario.baseline_weighting or by_arm else patients)
    if by_arm:
        return arm_cohorts(pool, scenario, np.asarray(arms)), None
    if scenario.baseline_weighting is None:
        return pool, None
    return weighted_cohort(pool, patients, scenario.baseline_weighting, seed)


def eligible_patients(pool: Population, excluded_sites: tuple[str, ...], patients: int | None) -> Population:
    """The patients of ``pool`` without a lesion at ``excluded_sites`` (a trial's eligibility, e.g. ALSYMPCA: no
    visceral metastases), the first ``patients`` of them renumbered 0..n−1 (all of them when None); InputError
    when the pool holds too few."""
    eligible = np.flatnonzero(~np.isin(np.asarray(pool.lesion_sites, dtype=object), excluded_sites).any(axis=1))
    needed = eligible.size if patients is None else patients
    if eligible.size < max(needed, 1):
        raise InputError("excluded_sites", list(excluded_sites),
                         f"sites that leave at least {needed} of {len(pool)} sampled patients eligible "
                         f"({eligible.size} are)")
    cohort = pool.subset(eligible[:needed])
    return dataclasses.replace(cohort, patient_id=np.arange(needed))


def measurable_at_baseline(population: Population) -> np.ndarray:
    """RECIST-measurable disease at baseline per patient: drawn as measurable and with a target lesion
    (:func:`target_sums`: in prostate cancer a bone-only patient has none) — ORR's denominator."""
    has_psa = load_disease(population.disease).has_psa and population.has_psa
    diameters = np.asarray(population.lesion_diameters_mm, dtype=float)[:, None, :]
    has_target = np.isfinite(target_sums(diameters, np.asarray(population.lesion_sites, dtype=object),
                                         not has_psa)[0][:, 0])
    return np.asarray(population.measurable_disease, dtype=bool) & has_target


def arm_cohorts(pool: Population, scenario: TrialScenario, arms: np.ndarray) -> Population:
    """The trial's patients drawn from ``pool`` arm by arm (``arms``: each patient's arm index): the arms in order
    each take the next unused pool patients that meet their criteria, placed at the arm's positions; renumbered
    0..n−1. ``measurable_disease``: cohorts defined by their disease, as KEYNOTE-199's (measurable disease in cohorts
    1-2, bone-predominant in cohort 3); ``pet_screen_exclusion`` f: a PET screen that turns away the share f of the
    pool with the largest target-low share (TheraP's PSMA-low or FDG-discordant disease). InputError when the pool
    holds too few."""
    measurable = measurable_at_baseline(pool)
    low_share = np.asarray(pool.low_uptake_fraction, dtype=float)
    used = np.zeros(len(pool), dtype=bool)
    order = np.empty(arms.size, dtype=np.intp)
    for index, arm in enumerate(scenario.arms):
        positions = np.flatnonzero(arms == index)
        wanted = ~used
        if arm.measurable_disease is not None:
            wanted &= measurable == arm.measurable_disease
        if arm.pet_screen_exclusion is not None:
            if not np.any(low_share > 0):
                raise InputError(f"arms[{index}].pet_screen_exclusion", arm.pet_screen_exclusion,
                                 f"null: the {scenario.disease} population has no target-low share "
                                 "(low_uptake_fraction) for a PET screen to read")
            wanted &= low_share <= np.quantile(low_share, 1.0 - arm.pet_screen_exclusion)
        chosen = np.flatnonzero(wanted)[:positions.size]
        if chosen.size < positions.size:
            criteria = {name: getattr(arm, name) for name in ARM_CRITERIA if getattr(arm, name) is not None}
            field, value = f"arms[{index}]", criteria
            if len(criteria) == 1:  # name the one criterion, as the scenario's fields are named
                (name, value), = criteria.items()
                field = f"{field}.{name}"
            raise InputError(field, value,
                             f"criteria that {positions.size} of {len(pool)} sampled patients meet "
                             f"(after the arms before it: {chosen.size} do)")
        used[chosen] = True
        order[positions] = chosen
    return dataclasses.replace(pool.subset(order), patient_id=np.arange(arms.size))


def calibrated_population(scenario: TrialScenario, patients: int, seed: int, calibration: Calibration,
                          arms: np.ndarray | None = None) -> Population:
    """The trial's population (:func:`sampled_population`) with the calibration's covariate scales applied
    (the spreads ``alpha_spread``, ``infiltration_spread`` first, then the scales ``alpha_scale``,
    ``infiltration_scale``, each with its disease-specific value ``<name>.<disease>`` where the calibration has one,
    then the infiltration factor per prior systemic line, ``prior_line_infiltration.<disease>``), the immune
    deserts of ``inflamed_share.<disease>`` before all of them (:func:`immune_deserts`). A scenario's
    ``prior_lines`` gives every patient that many prior lines (a first-line trial: 0), an arm's ``prior_lines`` its
    own patients (``arms``: each patient's arm index, :func:`allocate`; also for the arms' eligibility,
    :func:`arm_cohorts`)."""
    population = sampled_population(scenario, patients, seed, calibration, arms)[0]
    sampled = np.asarray(population.prior_lines)
    lines = sampled.copy()
    if scenario.prior_lines is not None:
        lines[:] = assigned_prior_lines(sampled, scenario.prior_lines)
    for index, arm in enumerate(scenario.arms):
        if arm.prior_lines is not None and arms is not None:
            rows = np.asarray(arms) == index
            lines[rows] = assigned_prior_lines(sampled[rows], arm.prior_lines)
    population = dataclasses.replace(population, prior_lines=lines)
    population = immune_deserts(population, calibration.inflamed_share(scenario.disease))
    spreads = {attribute: spread_log(np.asarray(getattr(population, attribute)),
                                     load_disease(scenario.disease).marginal(marginal).median(),
                                     calibration.spread(name, scenario.disease))
               for name, (attribute, marginal) in SPREADS.items() if calibration.spread(name, scenario.disease) != 1.0}
    population = dataclasses.replace(population, **spreads) if spreads else population
    changes = {attribute: np.asarray(getattr(population, attribute)) * calibration.scale(name, scenario.disease)
               for name, attribute in SCALES.items() if calibration.scale(name, scenario.disease) != 1.0}
    per_line = calibration.prior_line_infiltration(scenario.disease)
    if per_line != 1.0:
        infiltration = changes.get("immune_infiltration", np.asarray(population.immune_infiltration))
        changes["immune_infiltration"] = infiltration * per_line ** np.asarray(population.prior_lines, dtype=float)
    return dataclasses.replace(population, **changes) if changes else population


def assigned_prior_lines(sampled: np.ndarray, prior_lines: int | Mapping[int, float]) -> np.ndarray:
    """The prior lines a cohort's patients get: ``prior_lines`` for all, or for a mixed cohort ({lines: share}) the
    shares in order of the patients' sampled lines (the fewest sampled get the fewest; ties in patient order), each
    share's count rounded from the cumulative shares, so that the numbers do not depend on the chunking."""
    if not isinstance(prior_lines, Mapping):
        return np.full(len(sampled), prior_lines, dtype=np.int64)
    order = np.argsort(np.asarray(sampled), kind="stable")
    bounds = np.rint(np.cumsum([0.0] + list(prior_lines.values())) * len(sampled)).astype(int)
    bounds[-1] = len(sampled)  # shares summing to 1 within rounding still place every patient
    result = np.empty(len(sampled), dtype=np.int64)
    for lines, start, stop in zip(prior_lines, bounds[:-1], bounds[1:]):
        result[order[start:stop]] = lines
    return result


def death_hazard_ratio(population: Population, calibration: Calibration, disease: str) -> np.ndarray:
    """Each patient's factor on the disease's part of his death hazard: the site of his disease
    (:func:`rptici.population.sampling.site_hazard_ratio`) times g^lines, g = ``prior_line_hazard.<disease>`` per
    prior systemic line (the later the line, the shorter the survival, whatever the measured burden: the disease
    that earlier lines left behind is more resistant, and fewer effective treatments remain)."""
    lines = np.asarray(population.prior_lines, dtype=float)
    return site_hazard_ratio(population) * calibration.prior_line_hazard(disease) ** lines


def immune_deserts(population: Population, inflamed_share: float) -> Population:
    """``population`` with the patients whose sampled immune infiltration lies below the population file's
    (1 − ``inflamed_share``) quantile given no infiltration: immune deserts, whose tumours T cells do not enter, so
    that a checkpoint inhibitor has nothing to release (1: every patient as sampled).

    Why: immune phenotypes are close to bimodal, inflamed against desert or excluded (Chen and Mellman 2017 Nature
    541:321), and most mCRPC is not inflamed; pembrolizumab controls mCRPC for six months in 9-10 % of patients and
    shrinks it in 3-5 % (KEYNOTE-199, Antonarakis et al. 2020 J Clin Oncol 38:395). A continuous infiltration, however
    widely spread, lets PD-1 blockade slow the growth of most cold tumours a little, which no mCRPC trial shows. The
    threshold is the population file's quantile, not the sample's, so it does not depend on the number of patients
    or the chunking."""
    if not 0.0 < inflamed_share <= 1.0:
        raise InputError("inflamed_share", inflamed_share, "a share above 0 and at most 1")
    if inflamed_share == 1.0:
        return population
    threshold = load_disease(population.disease).marginal("infiltration").ppf(1.0 - inflamed_share)
    infiltration = np.asarray(population.immune_infiltration, dtype=float)
    return dataclasses.replace(population, immune_infiltration=np.where(infiltration < threshold, 0.0, infiltration))


def spread_log(values: np.ndarray, median: float, exponent: float) -> np.ndarray:
    """A covariate with its between-patient log-spread around ``median`` multiplied by ``exponent``:
    x' = median × (x/median)^exponent (same order of patients, same median, no new random numbers).

    Why, for the tumour radiosensitivity α (``alpha_spread``): the population files' α comes from external-beam fits
    (Webb and Nahum 1993: SD 0.08 around 0.35/Gy), but in RPT the dose explains only part of the response between
    patients (Lu-PSMA-617: whole-body tumour dose vs PSA change r = −0.57, responders 14.1 vs non-responders 9.6 Gy
    median with overlap, Violet et al. 2019 J Nucl Med 60:517; NETTER-1 dosimetry: no dose–shrinkage correlation,
    Bodei et al. 2025), so the effective radiosensitivity spreads wider; the exponent is fitted to the monotherapy
    PSA waterfall. For the immune infiltration (``infiltration_spread.<disease>``): a checkpoint inhibitor helps few
    patients of a cold tumour, durably, and leaves the rest progressing (mCRPC: pembrolizumab ORR 3-5 % with disease
    control of at least 6 months in 9-10 %, KEYNOTE-199, Antonarakis et al. 2020 J Clin Oncol 38:395), which the
    population file's narrow beta distribution of infiltration does not give: immune phenotypes are close to bimodal
    (inflamed vs desert, Chen and Mellman 2017 Nature 541:321)."""
    return median * (np.maximum(values, 1e-12) / median) ** exponent


def allocate(counts: list[int], seed: int) -> np.ndarray:
    """Arm index per patient: a permutation of the per-arm counts from the allocation stream
    (:func:`rptici.seeds.allocation`)."""
    labels = np.repeat(np.arange(len(counts)), counts)
    return seeds.allocation(seed).permutation(labels)


def arm_labels(scenario: TrialScenario, counts: list[int], seed: int) -> np.ndarray:
    """Arm index per row of the trial: randomised, :func:`allocate`; paired, every patient in each arm in turn."""
    if scenario.allocation == "paired":
        return np.tile(np.arange(len(counts)), counts[0])
    return allocate(counts, seed)


def trial_population(scenario: TrialScenario, rows: int, seed: int, calibration: Calibration,
                     arms: np.ndarray) -> Population:
    """One patient per row (:func:`calibrated_population`); paired, rows/k patients, each repeated in every arm
    (the arms enrol alike, so the first arm's criteria serve all), the rows numbered 0..rows−1."""
    if scenario.allocation != "paired":
        return calibrated_population(scenario, rows, seed, calibration, arms)
    per_patient = len(scenario.arms)
    patients = calibrated_population(scenario, rows // per_patient, seed, calibration, arms[::per_patient])
    repeated = patients.subset(np.repeat(np.arange(rows // per_patient), per_patient))
    return dataclasses.replace(repeated, patient_id=np.arange(rows))


def row_uniforms(task: "ChunkTask") -> np.ndarray:
    """The uniforms of the chunk's rows (:func:`patient_uniforms`): paired, row r draws from patient r // k's
    stream, so that a patient meets the same chances in every arm."""
    if task.scenario.allocation != "paired" or task.stop <= task.start:
        return patient_uniforms(task.seed, task.start, task.stop)
    patients = np.arange(task.start, task.stop) // len(task.scenario.arms)
    return patient_uniforms(task.seed, int(patients[0]), int(patients[-1]) + 1)[patients - patients[0]]


def patient_uniforms(seed: int, start: int, stop: int) -> np.ndarray:
    """(patients, 12) uniforms in [0, 1), each row from that patient's own stream (the first ones are the same as
    when fewer were drawn: a stream's draws come in order)."""
    if stop <= start:
        return np.zeros((0, UNIFORMS_PER_PATIENT))
    return np.stack([stream.random(UNIFORMS_PER_PATIENT) for stream in patient_streams(seed, start, stop)])


def output_grid(scenario: TrialScenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid of output days, indices of the imaging assessments in it, indices of the PSA assessments)."""
    horizon = scenario.follow_up_days
    imaging = parse_schedule(scenario.assessments, horizon, "assessments")
    psa = parse_schedule(scenario.psa_assessments, horizon, "psa_assessments")
    grid = np.unique(np.concatenate([np.arange(0.0, horizon, scenario.output_step_days), [horizon], imaging, psa]))
    return grid, np.searchsorted(grid, imaging), np.searchsorted(grid, psa)


#: Organ categories graded from RPT doses (:func:`.toxicity.radiation_toxicity`); an arm without RPT grades them 0.
RADIATION_GRADED = ("kidney", "salivary", "platelets", "neutrophils", "haemoglobin")


#: The targets whose doses the toxicity models take (only these are computed: the others cost as much again).
DOSE_TARGETS = ("kidneys", "salivary_glands", "red_marrow")


def _organ_doses(regimen, population: Population, site_selective: bool = False,
                 stop_days: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Kidney and salivary BED (Gy), RBE-weighted red-marrow dose and its α part (Gy) per patient; empty without RPT.
    Self-dose only (``cross_dose=False``): the toxicity models were calibrated on self-dose organ doses.
    ``site_selective``: lesions at sites the agent does not reach take none of it (as in the engine);
    ``stop_days``: no cycle after that day (treatment stopped)."""
    from ..radiobiology.regimen_dose import regimen_dose

    if regimen.rpt is None:
        return {}
    covariates = population.kinetic_covariates()
    try:
        result = regimen_dose(regimen, covariates, times=np.array([0.0]), site_selective=site_selective,
                              stop_days=stop_days, targets=DOSE_TARGETS, antibody=False, cross_dose=False)
    except InputError as error:
        if error.field != "lesion_masses_g":
            raise
        covariates = dataclasses.replace(covariates, lesion_masses_g=np.zeros((len(population), 0)),
                                         lesion_uptake_factors=None, lesion_sites=None)
        result = regimen_dose(regimen, covariates, times=np.array([0.0]), stop_days=stop_days, targets=DOSE_TARGETS,
                              antibody=False, cross_dose=False)
    alpha_part = (result.rbe_weighted_dose_Gy - result.absorbed_dose_Gy) * (
        result.alpha_rbe / (result.alpha_rbe - 1.0) if result.alpha_rbe > 1.0 else 0.0)
    doses = {}
    for key, target, array in (("kidney_bed", "kidneys", result.bed_Gy), ("salivary_bed", "salivary_glands", result.bed_Gy),
                               ("marrow_dose", "red_marrow", result.rbe_weighted_dose_Gy),
                               ("marrow_alpha_dose", "red_marrow", alpha_part)):
        if target in result.targets:
            doses[key] = array[:, result.targets.index(target)]
    return doses


def arm_doubling_time(scenario: TrialScenario, calibration: Calibration, arm_index: int) -> float | None:
    """The tumour doubling time (days) the arm's patients get: the calibration's for the disease (None: the
    parameter set's), divided by (1 − r) when the arm declares a standard of care with growth-rate reduction r."""
    doubling = calibration.doubling_time_days(scenario.disease)
    name = scenario.arms[arm_index].standard_of_care
    if name is None:
        return doubling
    reduction = standard_of_care(name).growth_rate_reduction
    if reduction == 0.0:
        return doubling
    if doubling is None:
        from ..immunity import load_parameters

        doubling = load_parameters("human")["doubling_time"]
    return treated_doubling_time(doubling, reduction)


def care_end_covariates(scenario: TrialScenario, arm_index: int, doubling_time_days: float | np.ndarray | None
                        ) -> dict[str, float | np.ndarray]:
    """The engine covariates of a standard of care given for a limited time: the day it ends (``care_end_days``)
    and the patients' doubling times after it, untreated (``doubling_time_after_care_days``: the arm's doubling
    times times 1 − r); none for an arm whose standard of care has no duration."""
    name = scenario.arms[arm_index].standard_of_care
    care = standard_of_care(name) if name is not None else None
    if care is None or care.duration_days is None:
        return {}
    if doubling_time_days is None:
        from ..immunity import load_parameters

        doubling_time_days = treated_doubling_time(load_parameters("human")["doubling_time"],
                                                   care.growth_rate_reduction)
    return {"care_end_days": care.duration_days,
            "doubling_time_after_care_days": doubling_time_days * (1.0 - care.growth_rate_reduction)}


def patient_doubling_times(doubling_time_days: float | None, growth_spread: float,
                           uniforms: np.ndarray) -> float | np.ndarray | None:
    """Each patient's tumour doubling time: the arm's T_d with a log-normal spread of the growth rate ln 2/T_d,
    T_d,i = T_d exp(−σ Φ⁻¹(u_i)) (median T_d; σ = ``growth_spread.<disease>``, 0: T_d for all, unchanged).

    Why: tumours of one disease grow at very different rates (NET: Ki-67 below 3 % to 20 %, WHO grades 1-2;
    volume doubling times of weeks to years), so a checkpoint inhibitor that holds none of them still leaves the
    slow ones free of progression for months (KEYNOTE-158 NET: median PFS 4.1 months, 39 % at 6 months) while
    the same population's treated responders stay controlled for years (NETTER-1: 65 % at 20 months)."""
    if growth_spread <= 0.0:
        return doubling_time_days
    if doubling_time_days is None:
        from ..immunity import load_parameters

        doubling_time_days = load_parameters("human")["doubling_time"]
    draws = np.clip(np.asarray(uniforms, dtype=float), 1e-9, 1 - 1e-9)
    return doubling_time_days * np.exp(-growth_spread * ndtri(draws))


def _rows(value: float | np.ndarray | None, rows) -> float | np.ndarray | None:
    """``value`` for the patients at ``rows`` when it is one per patient, else itself."""
    return value[rows] if isinstance(value, np.ndarray) else value


def _rows_of(covariates: Mapping[str, Any], rows) -> dict[str, Any]:
    """``covariates`` for the patients at ``rows`` (each value one per patient, one for all, or None)."""
    return {name: _rows(value, rows) for name, value in covariates.items()}


def _cumulative_exposure(times: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
    """∫₀ᵗ occupancy dt (days) at each output time (trapezoid), (patients, times)."""
    values = np.nan_to_num(occupancy)
    steps = 0.5 * (values[:, 1:] + values[:, :-1]) * np.diff(times)[None, :]
    return np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)


def _exposure(times: np.ndarray, occupancy: np.ndarray, end: np.ndarray) -> np.ndarray:
    """∫ occupancy dt (days) from 0 to each patient's ``end`` (trapezoid on the output grid)."""
    inside = times[None, :] <= end[:, None]
    values = np.where(inside, np.nan_to_num(occupancy), 0.0)
    widths = np.diff(times)[None, :] * inside[:, 1:]
    return np.sum(0.5 * (values[:, 1:] + values[:, :-1]) * widths, axis=1)


def _failed_frame(patient: np.ndarray, arm: str, reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"patient": patient.astype(np.int64), "arm": [arm] * len(patient),
                         "reason": [str(reason) for reason in reasons]})


WHOLE_ARM = "simulation not possible: "


def _simulate_isolating(simulate_function: Callable, regimen, population: Population, grid: np.ndarray,
                        covariates: Mapping[str, Any], overrides: Mapping[str, float] | None,
                        stops: tuple[np.ndarray, np.ndarray] | None = None
                        ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], dict[str, np.ndarray]]:
    """(outputs, status, reasons, organ doses) of ``population``; when the batch raises InputError (a patient whose
    inputs the kinetics cannot take), the batch is halved until the failing patients are isolated, so that one
    patient never takes others down with it. Each patient's result does not depend on its batch (own step).
    ``covariates``: the engine covariates the arm adds to the population's (doubling times, initial occult burden,
    the standard of care's end), one value for all or one per patient; ``stops``: (RPT, ICI) stop day per patient
    (treatment as given, :class:`.scenario.TreatmentRules`)."""
    from ..simulation.engine import site_selective_uptake

    try:
        patients = population.engine_patients()
        patients.update({name: value for name, value in covariates.items() if value is not None})
        extra = {} if stops is None else {"rpt_stop_days": stops[0], "ici_stop_days": stops[1]}
        result = simulate_function(regimen, patients, grid, organs=(), outputs=ENGINE_OUTPUTS, overrides=overrides,
                                   **extra)
        organ = _organ_doses(regimen, population, site_selective_uptake(overrides=overrides),
                             None if stops is None else stops[0])
        outputs = {name: np.asarray(result.outputs[name], dtype=float) for name in ENGINE_OUTPUTS}
        return outputs, np.asarray(result.status), list(result.reasons), organ
    except InputError as error:
        count = len(population)
        if count == 1:
            shapes = {name: (1, grid.size, MAX_LESIONS) if name == "diameter" else (1, grid.size)
                      for name in ENGINE_OUTPUTS}
            return ({name: np.full(shape, np.nan) for name, shape in shapes.items()}, np.array([-1]),
                    [WHOLE_ARM + str(error)], {})
        middle = count // 2
        parts = [_simulate_isolating(simulate_function, regimen, population.subset(np.arange(start, stop)), grid,
                                     _rows_of(covariates, slice(start, stop)), overrides,
                                     None if stops is None else (stops[0][start:stop], stops[1][start:stop]))
                 for start, stop in ((0, middle), (middle, count))]
    outputs = {name: np.concatenate([part[0][name] for part in parts]) for name in ENGINE_OUTPUTS}
    status = np.concatenate([part[1] for part in parts])
    reasons = parts[0][2] + parts[1][2]
    keys = set(parts[0][3]) | set(parts[1][3])
    sizes = [len(part[1]) for part in parts]
    organ = {key: np.concatenate([part[3].get(key, np.full(size, np.nan)) for part, size in zip(parts, sizes)])
             for key in keys}
    return outputs, status, reasons, organ


def simulate_arm(scenario: TrialScenario, calibration: Calibration, arm_index: int, population: Population,
                 uniforms: np.ndarray, simulate_function: Callable | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(patients, assessments, failures) tables of one arm's patients (``population`` with global ids)."""
    from ..simulation import simulate

    simulate_function = simulate_function or simulate
    arm = scenario.arms[arm_index]
    ids = np.asarray(population.patient_id, dtype=np.int64)
    count = ids.size
    regimen = arm.load_regimen()
    grid, imaging, psa_index = output_grid(scenario)
    overrides = {**calibration.immunity_overrides(scenario.disease), **scenario.overrides}
    occult = occult_settings(overrides)
    occult_fraction = occult_fraction_draw(uniforms[:, 9], occult["occult_fraction_min"],
                                           occult["occult_fraction_max"])
    doubling = patient_doubling_times(arm_doubling_time(scenario, calibration, arm_index),
                                      calibration.growth_spread(scenario.disease), uniforms[:, 11])
    covariates = {"doubling_time_days": doubling, "occult_fraction": occult_fraction,
                  **care_end_covariates(scenario, arm_index, doubling)}
    rules = scenario.treatment
    stops = _maximum_duration_stops(rules, regimen, count) if rules.active else None
    simulated = _simulate_isolating(simulate_function, regimen, population, grid, covariates, overrides or None,
                                    stops)
    has_psa = load_disease(scenario.disease).has_psa and population.has_psa

    def sums_of(diameter: np.ndarray, rows: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        return target_sums(diameter, np.asarray(population.lesion_sites, dtype=object)[rows], not has_psa)

    if rules.active:
        simulated, stops = _as_given(simulated, stops, rules, regimen, grid, imaging, uniforms[:, 6],
                                     lambda rows, part: _simulate_isolating(
                                         simulate_function, regimen, population.subset(rows), grid,
                                         _rows_of(covariates, rows), overrides or None, part), sums_of)
    outputs_all, status, reasons, organ = simulated
    if not np.any(status == 0) and all(reason.startswith(WHOLE_ARM) for reason in reasons):
        return pd.DataFrame(), pd.DataFrame(), _failed_frame(ids, arm.name, reasons)
    ok = status == 0
    failures = _failed_frame(ids[~ok], arm.name, [reasons[i] or f"solver status {status[i]}" for i in np.flatnonzero(~ok)])
    index = np.flatnonzero(ok)
    columns = _base_columns(population, ids, arm.name)  # the table is built once at the end, not column by column
    columns["status"] = np.where(ok, OK, FAILED)
    if index.size == 0:
        return pd.DataFrame(columns), pd.DataFrame(), failures
    outputs = {name: outputs_all[name][index] for name in ENGINE_OUTPUTS}
    draws = uniforms[index]
    ages = np.asarray(population.age_years)[index]
    survival = calibration.survival_parameters(scenario.disease)
    occult_volume = np.nan_to_num(np.maximum(outputs["occult_volume"], 0.0))
    burden = np.nan_to_num(np.maximum(outputs["volume_sum"], 0.0)) + occult_volume
    death = death_times(grid, burden, ages, draws[:, 0], survival,
                        death_hazard_ratio(population, calibration, scenario.disease)[index])
    rate = None if scenario.dropout_per_year is None else scenario.dropout_per_year / 365.25
    dropout = dropout_times(draws[:, 1], rate)
    censor = censoring_times(np.full(index.size, scenario.follow_up_days), dropout)
    end = np.minimum(death, censor)

    times = grid[imaging]
    observed = times[None, :] <= end[:, None]
    target_sum, non_target_sum = sums_of(outputs["diameter"][:, imaging], index)  # PCWG3: bone is the bone scan's
    sums, non_target = (np.where(observed, value, np.nan) for value in (target_sum, non_target_sum))
    psa = None
    # new lesions from the occult burden: bone ones by the PCWG3 bone-scan rule where the disease has PSA (prostate)
    bone_share = occult["occult_bone_share"] if has_psa else 0.0
    counts = new_lesions(np.where(observed, occult_volume[:, imaging], np.nan), occult["occult_detection_volume"],
                         bone_share)
    new_lesion_time = first_new_lesion(times, counts["soft_tissue"])
    bone = bone_scan_progression(times, counts["bone"]) if has_psa else None
    if has_psa:
        psa_times = grid[psa_index]
        psa_values = np.where(psa_times[None, :] <= end[:, None], outputs["psa"][:, psa_index], np.nan)
        psa = pcwg3_psa(psa_times, np.maximum(psa_values, 0.0))
    measurable = measurable_at_baseline(population)[index]
    columns["measurable"] = np.asarray(columns["measurable"], dtype=bool).copy()
    columns["measurable"][index] = measurable  # response-evaluable: a target lesion at baseline (ORR's denominator)
    record = PatientRecord(recist(times, sums, new_lesion_times=new_lesion_time, confirm=scenario.confirm_response,
                                  non_target_sums=non_target),
                           death, censor, psa, bone_progression=bone,
                           size_progression=recist(times, sums, confirm=scenario.confirm_response,
                                                   non_target_sums=non_target).progression_time,
                           measurable=measurable)

    lymphocytes = np.where(grid[None, :] <= end[:, None], outputs["lymphocytes"], np.nan)
    radiation = radiation_toxicity(draws[:, [2, 3, 4, 5, 10]], kidney_bed=organ["kidney_bed"][index] if "kidney_bed" in organ else None,
                                   salivary_bed=organ["salivary_bed"][index] if "salivary_bed" in organ else None,
                                   marrow_dose=organ["marrow_dose"][index] if "marrow_dose" in organ else None,
                                   marrow_alpha_dose=organ["marrow_alpha_dose"][index] if "marrow_dose" in organ else None,
                                   lymphocyte_counts=lymphocytes)
    for organ_name in RADIATION_GRADED:  # no RPT dose to an organ: grade 0, not a missing value (issue 19, item 14)
        radiation.setdefault(organ_name, np.zeros(index.size, dtype=np.int64))
    exposure_end = end if rules.immune_exposure == "follow_up" else \
        np.minimum(end, endpoint("pfs").per_patient(record)["pfs_days"])
    exposure = np.zeros(index.size)
    exposure_by_class: dict[str, np.ndarray] = {}
    for target in dict.fromkeys(regimen.ici_agents().values()):
        occupancy = outputs["ctla4_occupancy" if target == "CTLA-4" else "occupancy"]
        exposure_by_class[target] = _exposure(grid, occupancy, exposure_end)
        exposure = exposure + exposure_by_class[target]
    immune = immune_adverse_events(exposure_by_class, draws[:, 6:8])
    background = None
    if any(item.standard_of_care for item in scenario.arms):  # the column in every arm of such a trial
        rate = standard_of_care(arm.standard_of_care).background_grade3plus if arm.standard_of_care else 0.0
        background = background_adverse_events(rate, draws[:, 8])
    record = dataclasses.replace(record, toxicity=attribute_toxicity(radiation, immune, background=background))
    rows = {"death_days": death, "censor_days": censor, "ici_exposure_days": exposure,
            "kidney_bed_Gy": organ["kidney_bed"][index] if "kidney_bed" in organ else np.zeros(index.size),
            "marrow_dose_Gy": organ["marrow_dose"][index] if "marrow_dose" in organ else np.zeros(index.size),
            "marrow_alpha_dose_Gy": organ["marrow_alpha_dose"][index] if "marrow_dose" in organ else np.zeros(index.size),
            "tumour_dose_Gy": np.nan_to_num(outputs["tumour_dose"][:, -1])}
    if stops is not None:
        rows.update({"rpt_stop_days": stops[0][index], "ici_stop_days": stops[1][index]})
    for item in endpoints():
        rows.update(item.per_patient(record))
    for column, values in rows.items():
        full = np.full(count, np.nan, dtype=float) if np.asarray(values).dtype.kind in "fbiu" \
            else np.full(count, "", dtype=object)
        if np.asarray(values).dtype.kind == "b":
            full = np.zeros(count, dtype=bool)
        full[index] = values
        columns[column] = full
    patients = pd.DataFrame(columns)

    assessment_columns = {"patient": np.repeat(ids[index], times.size), "arm": arm.name,
                          "time_days": np.tile(times, index.size),
                          "sum_diameters_mm": target_sum.ravel(), "non_target_sum_mm": non_target_sum.ravel(),
                          "psa": outputs["psa"][:, imaging].ravel() if has_psa else np.nan,
                          "lymphocytes": outputs["lymphocytes"][:, imaging].ravel()}
    diameters = outputs["diameter"][:, imaging, :]
    for lesion in range(MAX_LESIONS):
        assessment_columns[f"lesion_{lesion + 1}"] = diameters[:, :, lesion].ravel() \
            if lesion < diameters.shape[2] else np.nan
    assessments = pd.DataFrame(assessment_columns)
    assessments = assessments[observed.ravel()].reset_index(drop=True)
    return patients, assessments, failures


def occult_settings(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Detection volume (mL), bone share of new lesions and the range of the initial occult burden (in detection
    volumes) of the human parameter set with ``overrides`` (data/immunity_human.yaml)."""
    values = load_parameters("human").with_overrides(overrides).values
    return {name: float(values[name]) for name in ("occult_detection_volume", "occult_bone_share",
                                                   "occult_fraction_min", "occult_fraction_max")}


def new_lesions(occult_volume: np.ndarray, detection_volume: float, bone_share: float = 0.0
                ) -> dict[str, np.ndarray]:
    """Cumulative counts of new lesions seen at each assessment (patients, assessments; NaN where not assessed; the
    first assessment is baseline): every ``detection_volume`` of occult burden is one lesion, the share
    ``bone_share`` of it in bone (``bone``) and the rest in soft tissue (``soft_tissue``), counted from the
    baseline's (what the baseline scan shows is not new) and never below 0 (disease that shrinks does not
    un-appear)."""
    if not detection_volume > 0:
        raise InputError("occult_detection_volume", detection_volume, "a positive volume in mL")
    if not 0.0 <= bone_share <= 1.0:
        raise InputError("occult_bone_share", bone_share, "a fraction from 0 to 1")
    lesions = np.asarray(occult_volume, dtype=float) / detection_volume
    counts = {"bone": np.floor(bone_share * lesions), "soft_tissue": np.floor((1.0 - bone_share) * lesions)}
    return {site: np.maximum(count - count[:, :1], 0.0) for site, count in counts.items()}


def first_new_lesion(times: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Day of the first assessment showing a new lesion (count ≥ 1) per patient; inf when none does."""
    seen = np.nan_to_num(counts) >= 1.0
    return np.where(seen.any(axis=1), np.asarray(times, dtype=float)[seen.argmax(axis=1)], np.inf)


def _maximum_duration_stops(rules, regimen, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(RPT, ICI) stop days before any outcome is known: inf, and the ICI's maximum duration after its first
    infusion (``ici_max_duration``)."""
    ici_stop = np.full(count, np.inf)
    infusion_times, _ = regimen.ici_infusions(np.ones(1))
    if rules.ici_max_days is not None and infusion_times.size:
        # an infusion exactly at the maximum duration is not given: "up to 2 years" of q3w is 35 infusions
        ici_stop[:] = float(infusion_times.min()) + rules.ici_max_days * (1.0 - 1e-9)
    return np.full(count, np.inf), ici_stop


def target_sums(diameter: np.ndarray, sites: np.ndarray, bone_is_target: bool) -> tuple[np.ndarray, np.ndarray]:
    """RECIST 1.1 sums of the target and of the non-target lesions' diameters [P, T] in mm from the lesions'
    diameters [P, T, L] (column 0 the baseline, which fixes each lesion's role).

    Target lesions are the largest measurable lesions at baseline, at most five, at most two per organ (all lymph
    nodes one organ), a lymph node only from 15 mm short axis (RECIST 1.1 sections 3.1.1 and 3.3.1; Eisenhauer et
    al. 2009 Eur J Cancer 45:228); every other lesion is non-target. In prostate cancer (``bone_is_target``
    False) bone is neither: PCWG3 assesses it by the bone scan (2 + 2 new lesions) and RECIST only the soft tissue
    (Scher et al. 2016 J Clin Oncol 34:1402). NaN where a patient has no lesion of the kind: without a target
    lesion he is assessed by new lesions and non-target disease."""
    lesions = diameter.shape[2]
    sites = np.asarray(sites, dtype=object)[:, :lesions]
    node_minimum, most, per_organ = target_lesion_rules()
    baseline = diameter[:, 0, :]
    assessed = np.isfinite(baseline) & (sites != ("bone" if not bone_is_target else None))
    eligible = assessed & ((sites != "node") | (baseline >= node_minimum))
    organ = np.unique(sites.astype(str), return_inverse=True)[1].reshape(sites.shape)
    target = np.zeros_like(eligible)
    chosen = np.zeros((len(sites), organ.max(initial=0) + 1), dtype=np.int64)
    rows = np.arange(len(sites))
    for lesion in np.argsort(np.where(eligible, -baseline, np.inf), axis=1, kind="stable").T:  # largest first
        take = eligible[rows, lesion] & (target.sum(axis=1) < most) & (chosen[rows, organ[rows, lesion]] < per_organ)
        target[rows[take], lesion[take]] = True
        chosen[rows[take], organ[rows[take], lesion[take]]] += 1

    def sum_over(kind: np.ndarray) -> np.ndarray:
        present = np.isfinite(diameter) & kind[:, None, :]
        return np.where(present.any(axis=2), np.where(present, diameter, 0.0).sum(axis=2), np.nan)

    return sum_over(target), sum_over(assessed & ~target)


def progression_stop_days(times: np.ndarray, sums: np.ndarray, confirmation_days: float | None,
                          non_target_sums: np.ndarray | None = None) -> np.ndarray:
    """Day treatment stops at RECIST 1.1 progression: the first PD scan, or with a confirmation interval the first
    later scan at least that long after it that still shows PD (iRECIST-style confirmation, Seymour et al. 2017
    Lancet Oncol 18:e143); inf when progression is not (yet) confirmed. ``sums`` and ``non_target_sums``
    (patients, scans; :func:`target_sums`), column 0 the baseline."""
    result = recist(times, sums, non_target_sums=non_target_sums)
    first = result.progression_time
    if not confirmation_days:
        return first
    later = times[1:][None, :]
    confirming = (result.assessment_response == PROGRESSIVE_DISEASE) & \
        (later >= first[:, None] + confirmation_days * (1.0 - 1e-9))
    return np.where(confirming.any(axis=1), later[0][np.argmax(confirming, axis=1)], np.inf)


def _as_given(simulated, stops, rules, regimen, grid: np.ndarray, imaging: np.ndarray, event_uniforms: np.ndarray,
              simulate_part: Callable, sums_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]):
    """Treatment as given in trials (issue 13 item 5), two passes: the first pass (every patient dosed up to the
    maximum duration) gives each patient's stop day — confirmed progression stops RPT and ICI, the onset of a
    grade ≥ 3 irAE stops the ICI; the patients with administrations after their stop day are simulated again
    without them. Exact, because a trajectory up to a day depends only on the doses given before it: the second
    pass equals the first up to the stop day, so the progression or irAE that set it is unchanged.
    ``simulate_part(rows, (rpt_stop, ici_stop))`` simulates the arm's patients at positions ``rows`` again;
    ``sums_of(diameter)`` gives the RECIST target and non-target sums (:func:`target_sums`) of the lesions'
    diameters."""
    outputs, status, reasons, organ = simulated
    rpt_stop, ici_stop = (stops[0].copy(), stops[1].copy())
    failed = status != 0
    if "progression" in rules.stop_at:
        target, non_target = sums_of(outputs["diameter"][:, imaging])
        progression = progression_stop_days(grid[imaging], target, rules.confirmation_days, non_target)
        progression[failed] = np.inf
        rpt_stop, ici_stop = np.minimum(rpt_stop, progression), np.minimum(ici_stop, progression)
    agents = regimen.ici_agents()
    if "toxicity" in rules.stop_at and agents:
        cumulative = {target: _cumulative_exposure(grid, outputs["ctla4_occupancy" if target == "CTLA-4"
                                                                else "occupancy"])
                      for target in dict.fromkeys(agents.values())}
        onset = immune_event_onset(grid, cumulative, event_uniforms)
        onset[failed] = np.inf
        ici_stop = np.minimum(ici_stop, onset)
    rpt_times, _ = regimen.rpt_administrations(np.ones(1), np.ones(1))
    ici_times, _ = regimen.ici_infusions(np.ones(1))
    last_rpt = rpt_times.max() if rpt_times.size else -np.inf
    last_ici = ici_times.max() if ici_times.size else -np.inf
    again = np.flatnonzero(~failed & ((rpt_stop < last_rpt) | (ici_stop < np.minimum(last_ici, stops[1]))))
    if again.size:
        part_outputs, part_status, part_reasons, part_organ = simulate_part(again, (rpt_stop[again], ici_stop[again]))
        for name in outputs:
            outputs[name][again] = part_outputs[name]
        status = status.copy()
        status[again] = part_status
        for number, row in enumerate(again):
            reasons[row] = part_reasons[number]
        for key in organ:
            if key in part_organ:
                organ[key][again] = part_organ[key]
    return (outputs, status, reasons, organ), (rpt_stop, ici_stop)


def _base_frame(population: Population, ids: np.ndarray, arm: str) -> pd.DataFrame:
    return pd.DataFrame(_base_columns(population, ids, arm))


def _base_columns(population: Population, ids: np.ndarray, arm: str) -> dict[str, Any]:
    """The baseline columns of the patient table (ids, arm, covariates), in table order."""
    return {
        "patient": ids, "arm": arm, "measurable": np.asarray(population.measurable_disease, dtype=bool),
        "age_years": population.age_years, "weight_kg": population.weight_kg,
        "lesion_count": np.asarray(population.lesion_count, dtype=np.int64),
        "baseline_sum_diameters_mm": np.nansum(population.lesion_diameters_mm, axis=1),
        "baseline_volume_mL": population.total_lesion_volume_mL, "target_uptake": population.target_uptake,
        "pdl1": population.pdl1, "immune_infiltration": population.immune_infiltration,
        "alpha_per_Gy": population.alpha_per_Gy, "lymphocytes_1e9_per_L": population.lymphocytes_1e9_per_L,
        "psa_ng_per_mL": population.psa_ng_per_mL}


def simulate_chunk(task: ChunkTask, simulate_function: Callable | None = None) -> dict[str, pd.DataFrame]:
    """Tables ``patients``, ``assessments`` and ``failures`` of one chunk (global patient ids, sorted)."""
    uniforms = row_uniforms(task)
    parts: dict[str, list[pd.DataFrame]] = {"patients": [], "assessments": [], "failures": []}
    for arm_index in np.unique(task.arms):
        rows = np.flatnonzero(task.arms == arm_index)
        frames = simulate_arm(task.scenario, task.calibration, int(arm_index), task.population.subset(rows),
                              uniforms[rows], simulate_function)
        for name, frame in zip(parts, frames):
            if len(frame):
                parts[name].append(frame)
    tables = {}
    for name, frames in parts.items():
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if name == "failures" and frame.empty:
            frame = pd.DataFrame({"patient": pd.Series(dtype="int64"), "arm": pd.Series(dtype="str"),
                                  "reason": pd.Series(dtype="str")})
        if "patient" in frame.columns:
            frame = frame.sort_values(["patient"] + (["time_days"] if "time_days" in frame.columns else []),
                                      kind="stable").reset_index(drop=True)
        tables[name] = frame
    patients = tables["patients"]
    failed = tables["failures"]
    if len(failed):  # arms that could not be simulated at all: rows with status failed
        missing = failed[~failed["patient"].isin(patients.get("patient", pd.Series(dtype="int64")))]
        if len(missing):
            positions = missing["patient"].to_numpy() - task.start
            extra = _base_frame(task.population.subset(positions), missing["patient"].to_numpy(np.int64), "")
            extra["arm"] = missing["arm"].to_numpy()
            extra["status"] = FAILED
            patients = pd.concat([patients, extra], ignore_index=True).sort_values("patient", kind="stable")
    for column in flag_columns():  # True only where set (arms without the endpoint leave NaN or nothing)
        if column in patients.columns and patients[column].dtype != bool:
            patients[column] = np.array([value is True or isinstance(value, np.bool_) and bool(value)
                                         for value in patients[column]], dtype=bool)
    tables["patients"] = patients.reset_index(drop=True)
    if tables["assessments"].empty:
        tables.pop("assessments")
    return tables


def _resolved(scenario: TrialScenario, patients: int | None, seed: int | None, chunk_size: int | None
              ) -> tuple[int, int, int, list[int]]:
    counts = scenario.arm_counts(patients)
    seed = scenario.seed if seed is None else seed
    chunk_size = scenario.chunk_size if chunk_size is None else chunk_size
    for name, value, minimum in (("seed", seed, 0), ("chunk_size", chunk_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise InputError(name, value, f"an integer >= {minimum}")
    return int(sum(counts)), int(seed), int(chunk_size), counts


def run_size(scenario: TrialScenario | Mapping[str, Any] | str | os.PathLike[str], patients: int | None = None,
             chunk_size: int | None = None) -> tuple[int, int]:
    """(patients, chunk size) a run of ``scenario`` will have (the scenario's where not given): for progress
    displays."""
    total, _, size, _ = _resolved(load_trial_scenario(scenario), patients, None, chunk_size)
    return total, size


def chunk_tasks(scenario: TrialScenario, patients: int | None = None, seed: int | None = None,
                chunk_size: int | None = None, calibration: Calibration | None = None,
                indices: Iterable[int] | None = None) -> Mapping[int, ChunkTask]:
    """The chunks of a trial by index (``indices``: only those), each built when it is looked up
    (:class:`rptici.parallel.LazyChunks`), so that a million-patient run holds its population once and only
    the chunks in flight beside it (the population is sampled once for the whole trial)."""
    total, seed, chunk_size, counts = _resolved(scenario, patients, seed, chunk_size)
    calibration = load_calibration(scenario.calibration) if calibration is None else calibration
    arms = arm_labels(scenario, counts, seed)
    population = trial_population(scenario, total, seed, calibration, arms)
    ranges = chunk_ranges(total, chunk_size)

    def build(index: int) -> ChunkTask:
        part = ranges[index]
        return ChunkTask(scenario, calibration, population.subset(np.arange(part.start, part.stop)),
                         arms[part.start:part.stop], part.start, part.stop, seed)

    return LazyChunks(range(len(ranges)) if indices is None else indices, build)


def simulate_trial(scenario: TrialScenario | Mapping[str, Any] | str | os.PathLike[str], *, patients: int | None = None,
                   seed: int | None = None, chunk_size: int | None = None,
                   calibration: Calibration | None = None) -> dict[str, pd.DataFrame]:
    """The whole trial in memory (serial, no files): tables ``patients``, ``assessments``, ``failures``."""
    scenario = load_trial_scenario(scenario)
    parts: dict[str, list[pd.DataFrame]] = {}
    for task in chunk_tasks(scenario, patients, seed, chunk_size, calibration).values():
        for name, frame in simulate_chunk(task).items():
            parts.setdefault(name, []).append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


def run_hash(scenario: TrialScenario, calibration: Calibration) -> str:
    """Hash of what determines the numbers: the scenario without seed, patients and chunk size (the manifest
    pins those) and the calibration values."""
    excluded = {"kind", "seed", "chunk_size", "patients"}
    if scenario.treatment == TreatmentRules():  # the default leaves the hashes of earlier runs as they were
        excluded.add("treatment")
    if scenario.allocation == "randomised":  # likewise
        excluded.add("allocation")
    if scenario.baseline_weighting is None:
        excluded.add("baseline_weighting")
    exclude: dict[str, Any] = dict.fromkeys(excluded, True)
    unset = set(ARM_CRITERIA) - set(scenario.arm_criteria_set)
    if unset:  # as for the treatment rules
        exclude["arms"] = {"__all__": unset}
    document = scenario.model_dump(mode="json", exclude=exclude)
    return scenario_hash({"scenario": document, "calibration": dict(calibration.values)})


def simulate_and_write(task: ChunkTask, folder: str) -> dict[str, Any]:
    """Worker side of a run whose workers write (:func:`run_trial` with ``worker_writes``): simulate the chunk and
    write its tables and completion marker into the run folder ``folder`` (a path every worker reaches: the same
    machine, or a shared file system). Returns only the chunk index and its row counts, so that nothing but
    completion goes back to the client."""
    store = ResultStore(folder)
    index = task.start // store.manifest.chunk_size
    tables = simulate_chunk(task)
    store.write_chunk(index, tables)
    return {"chunk": index, "rows": {name: int(len(table)) for name, table in tables.items()}}


def _written_by_worker(index: int, result: Mapping[str, Any]) -> None:
    """Client side of worker writes: the chunk's marker is already written; check it is the chunk sent."""
    if result.get("chunk") != index:
        raise InputError("chunk", result.get("chunk"), f"chunk {index}, the one sent to the worker")


def run_trial(scenario: TrialScenario | Mapping[str, Any] | str | os.PathLike[str], out: str | os.PathLike[str], *,
              patients: int | None = None, seed: int | None = None, chunk_size: int | None = None,
              executor: Any = None, progress: Callable[[int, int], None] | None = None,
              worker_writes: bool | None = None) -> TrialRun:
    """Run (or resume) a trial into folder ``out``; only chunks without a completion marker are simulated.

    ``patients`` overrides the scenario's total (split by the arms' ratios); ``executor``: see
    :func:`rptici.parallel.executor_from` ("local", "serial", "processes:N", "dask:N", "tcp://host:port", ...).
    ``worker_writes`` (default: on a Dask executor): each worker writes its chunk's Parquet files and marker into
    ``out`` itself (:func:`simulate_and_write`; ``out`` must then be a path the workers reach) and the client
    only records completion; otherwise the tables come back and the calling process writes them.
    """
    from ..parallel import DaskExecutor, executor_from

    scenario = load_trial_scenario(scenario)
    total, seed, chunk_size, counts = _resolved(scenario, patients, seed, chunk_size)
    calibration = load_calibration(scenario.calibration)
    store = ResultStore(out, scenario_hash=run_hash(scenario, calibration), seed=seed, patients=total,
                        chunk_size=chunk_size)
    _write_scenario(store.folder, scenario, counts, calibration)
    missing = store.missing_chunks()
    tasks = chunk_tasks(scenario, patients, seed, chunk_size, calibration, missing) if missing else {}
    if not missing:
        return TrialRun(store.folder, scenario, run_chunks(simulate_chunk, {}, progress=progress))
    pool, owned = executor_from(executor)
    finished = False
    try:
        if worker_writes is None:
            worker_writes = isinstance(pool, DaskExecutor)
        function, on_result = (functools.partial(simulate_and_write, folder=str(store.folder)), _written_by_worker) \
            if worker_writes else (simulate_chunk, store.write_chunk)
        report = run_chunks(function, tasks, executor=pool, on_result=on_result, progress=progress,
                            max_pending="auto")
        finished = True
    finally:
        if owned:  # as run_chunks does for an executor it makes: on an interrupt, queued chunks are dropped
            pool.shutdown(wait=finished, cancel_futures=not finished)
    return TrialRun(store.folder, scenario, report)


def _write_scenario(folder: Path, scenario: TrialScenario, counts: list[int], calibration: Calibration) -> None:
    """``scenario.json`` beside the manifest: what the summary needs (arm order, control, disease)."""
    import json

    path = folder / "scenario.json"
    if path.is_file():
        return
    document = {"scenario": scenario.model_dump(mode="json"), "arm_counts": counts,
                "calibration": {"source": calibration.source, "values": dict(calibration.values)}}
    temporary = path.with_name(".scenario.json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
