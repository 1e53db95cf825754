"""Covariates → parameters: a patient's covariates and a parameter set become the parameter vector the
equations read and the untreated initial state (:func:`parameter_vector`, :func:`initial_state`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from .layout import ModelLayout
from .parameters import ImmunityParameters
from .table import TABLE


#: Covariate names a ``patients`` object may carry (attribute or mapping key), with accepted spellings.
COVARIATES: dict[str, tuple[str, ...]] = {
    "lesion_volumes": ("lesion_volumes_mL", "lesion_volumes"),
    "infiltration": ("infiltration", "immune_infiltration"),
    "pdl1": ("pdl1", "pdl1_expression"),
    "alpha": ("alpha", "radiosensitivity", "tumour_alpha"),
    "lymphocytes": ("lymphocytes", "baseline_lymphocytes", "lymphocyte_count"),
    "psa": ("psa", "baseline_psa"),
    "weight": ("weight_kg", "weight", "body_weight"),
    "doubling_time": ("doubling_time_days", "doubling_time"),
    "low_uptake_fraction": ("low_uptake_fraction",),
    "occult_fraction": ("occult_fraction",),
    "doubling_time_after_care": ("doubling_time_after_care_days",),
    "care_end": ("care_end_days",),
}


@dataclass(frozen=True)
class ImmunityCovariates:
    """Covariates of a batch of patients, arrays with patients first.

    lesion_volumes_mL (patients, lesions), NaN for an absent lesion; infiltration (≥ 0, "hot" ≈ 1, "cold" ≈
    0.1) and pdl1 (fraction of PD-L1-positive tumour cells) per patient or per lesion; alpha (1/Gy) per
    patient or lesion; lymphocytes (10⁹/L), psa (ng/mL, NaN if not prostate cancer), weight_kg per
    patient; doubling_time_days per patient or lesion; low_uptake_fraction (initial share of target-low
    cells, 0 to 1) per patient or lesion; occult_fraction (initial occult burden in detection volumes, non-negative;
    used when switch occult_disease is on) per patient; care_end_days (the day a standard of care with a duration
    ends; inf: never) per patient and doubling_time_after_care_days (the doubling time after it, per patient or
    lesion; the doubling time where not given). None: the parameter set's default.
    """

    lesion_volumes_mL: Any
    infiltration: Any = None
    pdl1: Any = None
    alpha: Any = None
    lymphocytes: Any = None
    psa: Any = None
    weight_kg: Any = None
    doubling_time_days: Any = None
    low_uptake_fraction: Any = None
    occult_fraction: Any = None
    doubling_time_after_care_days: Any = None
    care_end_days: Any = None


def _covariate(patients: Any, key: str) -> Any:
    for spelling in COVARIATES[key]:
        if isinstance(patients, Mapping):
            if spelling in patients:
                return patients[spelling]
        elif getattr(patients, spelling, None) is not None:
            return getattr(patients, spelling)
    return None


def _per_patient(value: Any, default: float, size: int, field: str, positive: bool = True,
                 allow_nan: bool = False) -> np.ndarray:
    array = np.full(size, default, dtype=float) if value is None else np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise InputError(field, f"array of shape {array.shape}", f"a number or an array of shape ({size},)")
    finite = np.isfinite(array)
    bad = ~finite if not allow_nan else np.isinf(array)
    if np.any(bad) or (positive and np.any(array[finite] <= 0)) or np.any(array[finite] < 0):
        raise InputError(field, value, ("positive" if positive else "non-negative") + " finite values"
                         + (" (NaN: not given)" if allow_nan else ""))
    return array


def _per_lesion(value: Any, default: float, size: int, lesions: int, field: str, upper: float | None = None) -> np.ndarray:
    array = np.full((size, lesions), default, dtype=float) if value is None else np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full((size, lesions), float(array))
    elif array.ndim == 1:
        if array.shape != (size,):
            raise InputError(field, f"array of shape {array.shape}",
                             f"a number, an array ({size},) per patient or ({size}, {lesions}) per lesion")
        array = np.repeat(array[:, None], lesions, axis=1)
    if array.shape != (size, lesions):
        raise InputError(field, f"array of shape {array.shape}",
                         f"a number, an array ({size},) per patient or ({size}, {lesions}) per lesion")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or (upper is not None and np.any(array > upper)):
        raise InputError(field, value, "finite values" + (f" from 0 to {upper}" if upper is not None else " ≥ 0"))
    return array


@dataclass(frozen=True)
class _Baseline:
    """Per patient/lesion quantities shared by parameter_vector and initial_state."""

    volumes: np.ndarray          # tumour-cell volumes (patients, lesions): measured × (1 − σ), 0 where absent
    present: np.ndarray          # (patients, lesions) bool
    infiltration: np.ndarray     # effective χ (switch applied)
    effector: np.ndarray         # baseline infiltrate E0 = χ
    pdl1_base: np.ndarray
    pdl1: np.ndarray             # baseline PD-L1 state
    alpha: np.ndarray
    doubling_time: np.ndarray
    doubling_after_care: np.ndarray  # the doubling time after a standard of care with a duration ends
    care_end: np.ndarray         # the day it ends per patient (inf: never)
    low_share: np.ndarray        # initial share of target-low viable cells per lesion
    lymphocytes: np.ndarray
    psa: np.ndarray              # NaN where not given
    weight: np.ndarray
    occult: np.ndarray           # initial occult burden (mL) per patient, 0 when switch occult_disease is off


def _baseline(parameters: ImmunityParameters, layout: ModelLayout, patients: Any) -> _Baseline:
    if isinstance(patients, ImmunityCovariates):
        patients = {key: getattr(patients, key) for key in ImmunityCovariates.__dataclass_fields__}
    volumes = _covariate(patients, "lesion_volumes")
    if volumes is None:
        raise InputError("patients.lesion_volumes_mL", None, "lesion volumes in mL, shape (patients, lesions)")
    volumes = np.atleast_2d(np.asarray(volumes, dtype=float))
    if volumes.ndim != 2 or volumes.shape[1] != layout.n_lesions:
        raise InputError("patients.lesion_volumes_mL", f"array of shape {volumes.shape}",
                         f"shape (patients, {layout.n_lesions}) matching the layout's lesions")
    present = np.isfinite(volumes)
    if np.any(np.isinf(volumes)) or np.any(volumes[present] <= 0) or np.any(~present.any(axis=1)):
        raise InputError("patients.lesion_volumes_mL", "non-positive, infinite or all-NaN row",
                         "positive volumes in mL (NaN for an absent lesion), at least one lesion per patient")
    capacity = parameters["carrying_capacity"]
    if np.any(volumes[present] >= capacity):
        raise InputError("patients.lesion_volumes_mL", float(np.max(volumes[present])),
                         f"volumes below the carrying capacity {capacity} mL")
    size, lesions = volumes.shape
    stroma_share = parameters.values["stroma_share"]
    stroma_ratio(stroma_share)  # validates 0 ≤ σ < 1
    values = parameters.values
    switch_trafficking = values["switch_trafficking_limit"]
    infiltration = _per_lesion(_covariate(patients, "infiltration"), values["infiltration"], size, lesions,
                               "patients.infiltration")
    infiltration = switch_trafficking * infiltration + (1.0 - switch_trafficking)
    effector = infiltration.copy()
    pdl1_observed = _per_lesion(_covariate(patients, "pdl1"), values["pdl1_expression"], size, lesions,
                                "patients.pdl1", upper=1.0)
    induced = values["switch_pdl1_ifn"] * values["pdl1_ifn_gain"] * effector / (
        effector + values["pdl1_effector_half_saturation"])
    pdl1_base = np.maximum(pdl1_observed - induced, 0.0)
    alpha = _per_lesion(_covariate(patients, "alpha"), values["tumour_alpha"], size, lesions, "patients.alpha")
    doubling = _per_lesion(_covariate(patients, "doubling_time"), values["doubling_time"], size, lesions,
                           "patients.doubling_time_days")
    if np.any(doubling <= 0):
        raise InputError("patients.doubling_time_days", "non-positive value", "positive doubling times in days")
    after_care = _covariate(patients, "doubling_time_after_care")
    doubling_after_care = doubling if after_care is None else _per_lesion(
        after_care, values["doubling_time"], size, lesions, "patients.doubling_time_after_care_days")
    if np.any(doubling_after_care <= 0):
        raise InputError("patients.doubling_time_after_care_days", "non-positive value",
                         "positive doubling times in days")
    given = _covariate(patients, "care_end")
    care_end = np.full(size, np.inf) if given is None else np.asarray(given, dtype=float)
    if care_end.ndim == 0:
        care_end = np.full(size, float(care_end))
    if care_end.shape != (size,) or np.any(np.isnan(care_end)) or np.any(care_end < 0):
        raise InputError("patients.care_end_days", given, f"a day ≥ 0, or one per patient ({size}); inf: never ends")
    low_share = _per_lesion(_covariate(patients, "low_uptake_fraction"), values["low_uptake_fraction"], size, lesions,
                            "patients.low_uptake_fraction", upper=1.0)
    odds_scale = values["low_uptake_odds_scale"]  # calibration: multiplies the odds s/(1 − s) of every share
    low_share = odds_scale * low_share / (1.0 - low_share + odds_scale * low_share)
    occult_fraction = _per_patient(_covariate(patients, "occult_fraction"), values["occult_fraction"], size,
                                   "patients.occult_fraction", positive=False)
    occult = values["switch_occult_disease"] * occult_fraction * values["occult_detection_volume"]
    return _Baseline(
        volumes=np.where(present, volumes, 0.0) * (1.0 - stroma_share), present=present, infiltration=infiltration,
        effector=effector,
        pdl1_base=pdl1_base, pdl1=pdl1_base + induced, alpha=alpha, doubling_time=doubling,
        doubling_after_care=doubling_after_care, care_end=care_end, low_share=low_share,
        lymphocytes=_per_patient(_covariate(patients, "lymphocytes"), values["lymphocyte_baseline"], size,
                                 "patients.lymphocytes"),
        psa=_per_patient(_covariate(patients, "psa"), math.nan, size, "patients.psa", positive=False,
                         allow_nan=True),
        weight=_per_patient(_covariate(patients, "weight"), values["body_weight"], size, "patients.weight_kg"),
        occult=occult)


def occult_fraction_draw(uniforms: np.ndarray, minimum: float, maximum: float = 1.0) -> np.ndarray:
    """Initial occult burden in detection volumes, log-uniform from ``minimum`` to ``maximum`` for uniforms u in
    [0, 1): minimum^(1 − u) maximum^u. The burden is the sum of a patient's micrometastases, each below detection;
    new lesions count from it (:func:`rptici.trials.run.new_lesions`), so untreated the first one appears after
    log2((f + 1)/f) doubling times from f detection volumes: a patient with much occult disease shows new lesions
    at the first scans, one with little only after log2(1/minimum) doubling times."""
    if not 0.0 < minimum <= 1.0:
        raise InputError("occult_fraction_min", minimum, "a fraction from above 0 to 1")
    low, high = next(item.bounds for item in TABLE.parameters if item.name == "occult_fraction_max")
    if not low <= maximum <= high:
        raise InputError("occult_fraction_max", maximum, f"a multiple of the detection volume from {low:g} to {high:g}")
    u = np.asarray(uniforms, dtype=float)
    return np.power(minimum, 1.0 - u) * np.power(maximum, u)


def _lesion_mean(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean over each patient's present lesions, (patients,)."""
    return np.sum(np.where(present, values, 0.0), axis=1) / np.maximum(present.sum(axis=1), 1)


def occult_parts(base: _Baseline) -> tuple[np.ndarray, np.ndarray]:
    """(target-positive, target-low) initial occult burden (mL): split by the mean target-low share of the
    patient's lesions (the same heterogeneity as visible disease)."""
    low_share = _lesion_mean(base.low_share, base.present)
    return base.occult * (1.0 - low_share), base.occult * low_share


def stroma_ratio(share: float | np.ndarray) -> np.ndarray:
    """Stroma volume per tumour-cell volume, σ/(1 − σ), for the stromal share σ (0 ≤ σ < 1) of a lesion."""
    share = np.asarray(share, dtype=float)
    if np.any(~np.isfinite(share)) or np.any(share < 0) or np.any(share >= 1):
        raise InputError("stroma_share", share, "a fraction from 0 (no stroma) to below 1")
    return share / (1.0 - share)


def measured_volume(tumour: np.ndarray, stroma_volume: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Lesion volume a CT measures (mL): tumour cells (viable + doomed) plus stroma.

    The stroma (fibrosis, necrosis, vessels, extracellular matrix) does not shrink when tumour cells die: it
    stays at its baseline volume S0 = σ/(1 − σ) V0 and grows with the tumour, max(S0, σ/(1 − σ) V_tumour).
    """
    return tumour + np.maximum(stroma_volume, stroma_ratio(share) * tumour)


def parameter_vector(parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                     overrides: Mapping[str, object] | None = None) -> np.ndarray:
    """Parameter vectors, float64 (patients, layout.n_params), for the covariates in ``patients``.

    ``patients``: an :class:`ImmunityCovariates`, a mapping or any object with the attributes of
    :data:`COVARIATES`. ``overrides`` replace values of the parameter set first (InputError for an
    unknown name). The growth rate of each lesion is chosen so that the untreated net growth at its
    initial volume has the stated doubling time; the dose-rate decay rates are left at 0 for the engine.
    """
    parameters = parameters.with_overrides(overrides)
    values = parameters.values
    if not 0.0 <= values["immune_escape_fraction"] < 1.0:
        raise InputError("immune_escape_fraction", values["immune_escape_fraction"], "a share from 0 to below 1")
    base = _baseline(parameters, layout, patients)
    size = base.volumes.shape[0]
    vector = np.zeros((size, layout.n_params))

    def put(name: str, value: object) -> None:
        vector[:, layout.parameter(name)] = value

    put("n_lesions", layout.n_lesions)
    put("n_exponentials", layout.n_exponentials)
    defaults = layout.table.defaults
    for name in layout.table.global_parameters:
        if name in values or name in defaults:
            put(name, values.get(name, defaults.get(name)))
    put("doomed_death_rate", 1.0 / values["doomed_cell_lifetime"])
    lymphocyte_alpha = values["lymphocyte_alpha"]
    put("lymphocyte_beta", lymphocyte_alpha / values["lymphocyte_alpha_beta"])
    put("lymphocyte_baseline", base.lymphocytes)
    put("marrow_repair_rate", math.log(2.0) / values["marrow_repair_half_time"])
    psa_clearance = math.log(2.0) / values["psa_half_life"]
    put("psa_clearance_rate", psa_clearance)
    total_volume = base.volumes.sum(axis=1) + base.occult
    put("psa_production", np.where(np.isfinite(base.psa), psa_clearance * np.nan_to_num(base.psa) / total_volume, 0.0))
    for prefix, antibody in (("antibody", parameters.antibody), ("ctla4", parameters.ctla4_antibody)):
        if antibody is None:
            put(f"{prefix}_central_volume", 1.0)
            put(f"{prefix}_peripheral_volume", 1.0)
            put(f"{prefix}_clearance_t50", 1.0)
            put(f"{prefix}_clearance_hill", 1.0)
            put(f"{prefix}_half_occupancy", 1.0)
            continue
        pk = antibody.per_patient(base.weight)
        put(f"{prefix}_clearance", pk["clearance"])
        put(f"{prefix}_central_volume", pk["central_volume"])
        put(f"{prefix}_intercompartmental_clearance", pk["intercompartmental_clearance"])
        put(f"{prefix}_peripheral_volume", pk["peripheral_volume"])
        put(f"{prefix}_clearance_emax", pk["clearance_emax"])
        put(f"{prefix}_clearance_t50", pk["clearance_t50_days"])
        put(f"{prefix}_clearance_hill", pk["clearance_hill"])
        put(f"{prefix}_half_occupancy", antibody.half_occupancy)

    suppression = 1.0 / (1.0 + values["pdl1_suppression"] * base.pdl1
                         + values["switch_regulatory_suppression"] * (values["treg_suppression"] + values["mdsc_suppression"]))
    baseline_kill = values["kill_rate"] * base.effector * suppression
    capacity = values["carrying_capacity"]
    safe_volume = np.where(base.present, base.volumes, 1.0)
    shape = np.log(capacity / safe_volume) if values["switch_gompertz"] else 1.0 - safe_volume / capacity
    # Σ_i V_i²/(V_i + v_c) / V over the target-high and target-low parts (each regrows from its own cells)
    cell_volume = values["cell_volume"]
    low_volume = base.low_share * safe_volume
    high_volume = safe_volume - low_volume
    extinction = (high_volume**2 / (high_volume + cell_volume) + low_volume**2 / (low_volume + cell_volume)) / safe_volume
    growth_rate = (math.log(2.0) / base.doubling_time + baseline_kill) / (shape * extinction)
    growth_rate_after_care = (math.log(2.0) / base.doubling_after_care + baseline_kill) / (shape * extinction)
    occult_kill = _occult_baseline_kill(values, base)
    put("occult_growth_rate", _occult_growth_rate(values, base, base.doubling_time, occult_kill))
    put("occult_growth_rate_after_care", _occult_growth_rate(values, base, base.doubling_after_care, occult_kill))
    put("care_end_time", base.care_end)
    put("occult_baseline_immune_kill", occult_kill)
    alpha_beta = values["tumour_alpha_beta"]
    repair = math.log(2.0) / values["tumour_repair_half_time"]
    # mitotic death: doomed cells live k × T_d (at least τ0); stroma: σ/(1 − σ) of the initial tumour-cell volume
    # (= σ of the measured volume)
    doomed_death_rate = 1.0 / np.maximum(values["doomed_cell_lifetime"],
                                         values["doomed_lifetime_doublings"] * base.doubling_time)
    stroma_volume = stroma_ratio(values["stroma_share"]) * base.volumes
    for lesion in range(layout.n_lesions):
        start = layout.lesion_parameter_start(lesion)
        columns = {"present": base.present[:, lesion].astype(float), "growth_rate": growth_rate[:, lesion],
                   "growth_rate_after_care": growth_rate_after_care[:, lesion],
                   "carrying_capacity": capacity, "alpha": base.alpha[:, lesion],
                   "beta": base.alpha[:, lesion] / alpha_beta, "repair_rate": repair,
                   "infiltration": base.infiltration[:, lesion], "pdl1_base": base.pdl1_base[:, lesion],
                   "doomed_death_rate": doomed_death_rate[:, lesion], "stroma_volume": stroma_volume[:, lesion],
                   "baseline_volume": base.volumes[:, lesion] / (1.0 - values["stroma_share"]),
                   "baseline_immune_kill": baseline_kill[:, lesion]}
        for offset, name in enumerate(layout.table.lesion_parameters):
            vector[:, start + offset] = np.where(base.present[:, lesion], columns[name], 0.0) \
                if name != "present" else columns[name]
    return vector


def _occult_growth_rate(values: Mapping[str, float], base: _Baseline, doubling_time: np.ndarray,
                        baseline_kill: np.ndarray) -> np.ndarray:
    """Growth rate r_o (1/d) of the occult burden: untreated, r_o G(O0) e(O0) − κ_o = ln 2/T̄_d at the initial
    burden O0 (T̄_d the mean of the patient's lesions' ``doubling_time``, κ_o = ``baseline_kill`` the baseline immune
    kill of the equations' occult term, :func:`_occult_baseline_kill`; e the one-cell extinction factor); O0 = one
    detection volume where it is 0."""
    high, low = occult_parts(base)
    total = np.where(base.occult > 0, base.occult, values["occult_detection_volume"])
    high = np.where(base.occult > 0, high, total)
    cell_volume = values["cell_volume"]
    extinction = (high**2 / (high + cell_volume) + low**2 / (low + cell_volume)) / total
    capacity = values["carrying_capacity"]
    shape = np.log(capacity / total) if values["switch_gompertz"] else 1.0 - total / capacity
    doubling = _lesion_mean(doubling_time, base.present)
    return (math.log(2.0) / doubling + baseline_kill) / (shape * extinction)


def _occult_baseline_kill(values: Mapping[str, float], base: _Baseline) -> np.ndarray:
    """κ_o (1/d), the untreated immune kill of the occult burden in the equations' occult term: the lesions' mean
    infiltration, suppressed by their volume-weighted PD-L1 and the systemic suppressors at baseline."""
    volumes = np.where(base.present, base.volumes, 0.0)
    mean_pdl1 = np.sum(volumes * base.pdl1, axis=1) / np.maximum(volumes.sum(axis=1), 1e-300)
    return values["kill_rate"] * _lesion_mean(base.infiltration, base.present) / (
        1.0 + values["pdl1_suppression"] * mean_pdl1
        + values["switch_regulatory_suppression"] * (values["treg_suppression"] + values["mdsc_suppression"]))


def initial_state(parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                  overrides: Mapping[str, object] | None = None) -> np.ndarray:
    """Initial states (patients, layout.n_states): untreated steady state of every immune state.

    Lesions at (1 − stroma_share) of their volumes (all viable, the share ``low_uptake_fraction`` of them target-low), no dose, baseline infiltrate and PD-L1; effector, regulatory
    and suppressor pools at 1 (their baseline), no antigen, interferon, mature DCs, memory or exhausted
    cells; lymphocytes
    and PSA at the patient's baseline (PSA 0 where not given); no antibody; the standard of care given (1).
    """
    parameters = parameters.with_overrides(overrides)
    base = _baseline(parameters, layout, patients)
    size = base.volumes.shape[0]
    state = np.zeros((size, layout.n_states))
    for name in ("effector_blood", "regulatory", "suppressor"):
        state[:, layout.state(name)] = 1.0
    state[:, layout.state("lymphocytes")] = base.lymphocytes
    state[:, layout.state("psa")] = np.nan_to_num(base.psa)
    state[:, layout.state("occult")], state[:, layout.state("occult_low")] = occult_parts(base)
    state[:, layout.state("standard_of_care")] = 1.0  # given from day 0; an event at care_end_time ends it
    for lesion in range(layout.n_lesions):
        present = base.present[:, lesion]
        state[:, layout.state("viable", lesion)] = base.volumes[:, lesion] * (1.0 - base.low_share[:, lesion])
        state[:, layout.state("viable_low", lesion)] = base.volumes[:, lesion] * base.low_share[:, lesion]
        state[:, layout.state("effector", lesion)] = np.where(present, base.effector[:, lesion], 0.0)
        state[:, layout.state("pdl1", lesion)] = np.where(present, base.pdl1[:, lesion], 0.0)
    return state
