"""Trial endpoints from simulated trajectories: RECIST 1.1, PCWG3 (PSA and bone scan), death, PFS/rPFS and OS.

Inputs are arrays, one row per patient, with assessment times in days (column 0 is baseline). Missing
assessments (after death or dropout) are NaN. Randomness enters only through uniform numbers drawn by the
caller from each patient's own stream, so results do not depend on how patients are chunked.
Thresholds come from ``data/endpoints.yaml`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..data import load_yaml
from ..errors import InputError

#: Response codes, best first; ``RESPONSE_LABELS[code]`` is the label.
COMPLETE_RESPONSE, PARTIAL_RESPONSE, STABLE_DISEASE, PROGRESSIVE_DISEASE, NOT_EVALUABLE = range(5)
RESPONSE_LABELS = ("CR", "PR", "SD", "PD", "NE")

#: Relative tolerance of the threshold comparisons, so that an exact 30 % decrease counts as 30 % in floating point.
_RELATIVE_TOLERANCE = 1e-9


def _value(section: str, key: str, *subsections: str) -> Any:
    entry = load_yaml("endpoints.yaml")[section]
    for name in subsections:
        entry = entry[name]
    return entry[key]["value"]


def days_per_month() -> float:
    """Days in a month of trial reports (365.25 / 12 = 30.4375)."""
    return float(_value("survival", "days_per_month"))


def disease_control_days() -> float:
    """How long stable disease must last to count as disease control (data/endpoints.yaml, KEYNOTE-199: 6 months)."""
    return float(_value("recist", "disease_control_duration"))


def target_lesion_rules() -> tuple[float, int, int]:
    """RECIST 1.1 target-lesion selection: the smallest short axis (mm) of a target lymph node (section 3.1.1),
    at most this many target lesions in all and per organ (section 3.3.1)."""
    return (float(_value("recist", "nodal_target_short_axis")), int(_value("recist", "target_lesions_max")),
            int(_value("recist", "target_lesions_per_organ")))


def to_months(days: ArrayLike) -> NDArray[np.float64]:
    """Convert days to months of 30.4375 days."""
    return np.asarray(days, dtype=float) / days_per_month()


def to_days(months: ArrayLike) -> NDArray[np.float64]:
    """Convert months of 30.4375 days to days."""
    return np.asarray(months, dtype=float) * days_per_month()


# ----------------------------------------------------------------------------------------------- validation


def _assessment_arrays(times: ArrayLike, values: ArrayLike, field: str, unit: str, absent_allowed: bool = False
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check ``values`` [P, T] (column 0 baseline, > 0; later NaN allowed, else >= 0) and ``times`` [T] or [P, T].
    ``absent_allowed``: a patient's row may be all NaN (nothing measured: no target lesion)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] < 2:
        raise InputError(field, values.shape,
                         "a 2-D array [patients, assessments] with baseline and at least one assessment")
    time_array = _times_like(times, values.shape, field)
    if np.any(np.isinf(values)) or np.any(values[~np.isnan(values)] < 0):
        raise InputError(field, "negative or infinite value", f"non-negative {unit} (NaN for a missing assessment)")
    absent = np.isnan(values).all(axis=1) if absent_allowed else np.zeros(values.shape[0], dtype=bool)
    if np.any(~(values[:, 0] > 0) & ~absent):
        raise InputError(field + "[:, 0]", values[:, 0][~(values[:, 0] > 0)][:5], f"a positive baseline in {unit}")
    return time_array, values


def _times_like(times: ArrayLike, shape: tuple[int, int], field: str) -> NDArray[np.float64]:
    """Times [T] shared by all patients or [P, T] per patient, broadcast to ``shape`` (else InputError)."""
    time_array = np.asarray(times, dtype=float)
    if time_array.ndim == 1 and time_array.shape[0] == shape[1]:
        time_array = np.broadcast_to(time_array, shape)
    if time_array.shape != shape:
        raise InputError("times", np.shape(times), f"shape ({shape[1]},) or {shape} to match {field}")
    if not np.all(np.isfinite(time_array)) or np.any(np.diff(time_array, axis=1) <= 0):
        raise InputError("times", times, "finite times in days, strictly increasing (baseline first)")
    return time_array


def _per_patient(value: ArrayLike | None, patients: int, field: str, default: float) -> NDArray[np.float64]:
    if value is None:
        return np.full(patients, default)
    array = np.asarray(value, dtype=float)
    try:
        return np.broadcast_to(array, (patients,)).astype(float)
    except ValueError:
        raise InputError(field, array.shape, f"a scalar or one value per patient ({patients})") from None


def _first_true(mask: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """Whether each row has a True, and the column of the first one (0 where none)."""
    return mask.any(axis=1), mask.argmax(axis=1)


def _confirmed(ok_here: NDArray[np.bool_], ok_later: NDArray[np.bool_], times: NDArray[np.float64],
               interval: float, allowed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """[P, T] mask: ``ok_here[i]`` and a later j with ``ok_later[j]``, t_j − t_i ≥ interval, ``allowed[j]``."""
    gap = times[:, None, :] - times[:, :, None]  # [P, i, j]
    later = (gap >= interval * (1 - _RELATIVE_TOLERANCE)) & (ok_later & allowed)[:, None, :]
    return ok_here & later.any(axis=2)


# ----------------------------------------------------------------------------------------------- RECIST 1.1


@dataclass(frozen=True)
class RecistResult:
    """RECIST 1.1 per patient.

    ``best_response``: codes (0 CR, 1 PR, 2 SD, 3 PD, 4 NE); ``progression_time``: day of the assessment that
    first showed PD (inf if none); ``best_percent_change``: smallest change of the sum from baseline in %
    (waterfall; NaN without a post-baseline assessment); ``assessment_response`` and ``percent_change``:
    [P, T−1], one column per post-baseline assessment.
    """

    best_response: NDArray[np.int64]
    progression_time: NDArray[np.float64]
    best_percent_change: NDArray[np.float64]
    assessment_response: NDArray[np.int64]
    percent_change: NDArray[np.float64]

    @property
    def best_response_labels(self) -> NDArray[np.str_]:
        return np.asarray(RESPONSE_LABELS)[self.best_response]

    @property
    def assessment_labels(self) -> NDArray[np.str_]:
        return np.asarray(RESPONSE_LABELS)[self.assessment_response]

    @property
    def objective_response(self) -> NDArray[np.bool_]:
        """CR or PR (the numerator of the objective response rate)."""
        return self.best_response <= PARTIAL_RESPONSE

    @property
    def progressed(self) -> NDArray[np.bool_]:
        return np.isfinite(self.progression_time)


def recist(times: ArrayLike, sum_diameters: ArrayLike, new_lesion_times: ArrayLike | None = None,
           confirm: bool = False, complete_response_threshold: ArrayLike | None = None,
           minimum_stable_duration: float | None = None, non_target_sums: ArrayLike | None = None) -> RecistResult:
    """RECIST 1.1 response from the sum of target-lesion diameters (Eisenhauer et al. 2009 Eur J Cancer 45:228).

    ``sum_diameters`` [P, T] in mm, column 0 the baseline at ``times[0]`` ([T] or [P, T], days, increasing);
    NaN marks a missing assessment. Per assessment: PD if the sum is ≥ 20 % and ≥ 5 mm above the smallest
    earlier sum (baseline included), or a new lesion appeared (``new_lesion_times`` [P] in days, detected at the
    first assessment at or after it); CR if the sum is ≤ ``complete_response_threshold`` (0 mm: every target
    lesion gone; a nodal short-axis allowance may be passed per patient); PR if ≥ 30 % below baseline; else SD.
    Best overall response is the best before the first PD. With ``confirm``, a CR needs a CR and a PR a PR or CR
    at least 28 days later (before PD); an unconfirmed response counts as SD. SD (or better) must be met at
    least ``minimum_stable_duration`` days after baseline (42 by default), otherwise the best response is PD
    if progression followed, else NE. A patient without target lesions (NaN baseline sum) is not evaluable for
    response. ``non_target_sums`` [P, T] (mm; NaN where a patient has no non-target lesion): the sum of the
    non-target lesions' diameters, whose unequivocal growth is progression (section 4.3.3): growth that raises
    the whole burden as much as measurable disease must grow, a 20 % increase in diameter or 73 % in volume, where
    "a modest increase in one or more non-target lesions" is not enough. Assumption: PD when the sum of target and
    non-target diameters grows by the target rule (20 % and 5 mm above its own nadir); without target lesions,
    the non-target sum alone. A CR needs the non-target lesions gone as well (else PR, table 1).
    """
    time_array, sums = _assessment_arrays(times, sum_diameters, "sum_diameters", "mm", absent_allowed=True)
    patients = sums.shape[0]
    complete_threshold = _per_patient(complete_response_threshold, patients, "complete_response_threshold",
                                      float(_value("recist", "complete_response_sum")))
    if np.any(complete_threshold < 0) or np.any(~np.isfinite(complete_threshold)):
        raise InputError("complete_response_threshold", complete_response_threshold, "non-negative mm")
    stable_days = float(_value("recist", "minimum_stable_duration") if minimum_stable_duration is None
                        else minimum_stable_duration)
    if not stable_days >= 0:
        raise InputError("minimum_stable_duration", minimum_stable_duration, "non-negative days")
    new_lesion = _per_patient(new_lesion_times, patients, "new_lesion_times", np.inf)
    if np.any(np.isnan(new_lesion)):
        raise InputError("new_lesion_times", new_lesion_times, "days (inf when no new lesion appears)")

    baseline = sums[:, :1]
    after = sums[:, 1:]
    after_times = time_array[:, 1:]
    measured = ~np.isnan(after)
    change = (after - baseline) / baseline
    decrease = float(_value("recist", "partial_response_decrease"))
    increase = float(_value("recist", "progression_increase"))
    absolute = float(_value("recist", "progression_absolute"))
    slack = _RELATIVE_TOLERANCE * baseline

    def grows(series: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Each assessment's sum at least 20 % and 5 mm above the smallest earlier sum (baseline included)."""
        later = series[:, 1:]
        lowest = np.fmin.accumulate(series, axis=1)[:, :-1]
        tolerance = _RELATIVE_TOLERANCE * series[:, :1]
        return ~np.isnan(later) & (later - lowest >= increase * lowest - tolerance) & \
            (later - lowest >= absolute - tolerance)

    new_seen = after_times >= new_lesion[:, None]
    non_target_only = np.isnan(baseline)  # no target lesion: assessed by new lesions and non-target disease
    progressive = grows(sums) | (new_seen & (measured | non_target_only))
    non_target_left = np.zeros(after.shape, dtype=bool)
    if non_target_sums is not None:
        _, non_target = _assessment_arrays(time_array, non_target_sums, "non_target_sums", "mm", absent_allowed=True)
        burden = np.where(np.isnan(non_target), sums, np.where(np.isnan(sums), non_target, sums + non_target))
        progressive |= grows(burden)
        non_target_left = non_target[:, 1:] > _RELATIVE_TOLERANCE
    complete = measured & (after <= complete_threshold[:, None] + slack) & ~non_target_left
    partial = measured & ((change <= -decrease + _RELATIVE_TOLERANCE) | (after <= complete_threshold[:, None] + slack))

    codes = np.full(after.shape, NOT_EVALUABLE, dtype=np.int64)
    codes[measured] = STABLE_DISEASE
    codes[partial] = PARTIAL_RESPONSE
    codes[complete] = COMPLETE_RESPONSE
    codes[progressive] = PROGRESSIVE_DISEASE

    has_progression, first_progression = _first_true(codes == PROGRESSIVE_DISEASE)
    columns = np.arange(after.shape[1])[None, :]
    before_progression = ~has_progression[:, None] | (columns < first_progression[:, None])
    progression_time = np.where(has_progression, np.take_along_axis(after_times, first_progression[:, None], 1)[:, 0],
                                np.inf)

    if confirm:
        interval = float(_value("recist", "confirmation_interval"))
        is_complete = codes == COMPLETE_RESPONSE
        is_response = codes <= PARTIAL_RESPONSE
        confirmed_complete = _confirmed(is_complete, is_complete, after_times, interval, before_progression)
        confirmed_response = _confirmed(is_response, is_response, after_times, interval, before_progression)
        effective = np.where(confirmed_complete, COMPLETE_RESPONSE,
                             np.where(confirmed_response, PARTIAL_RESPONSE,
                                      np.where(is_response, STABLE_DISEASE, codes)))
    else:
        effective = codes
    long_enough = (after_times - time_array[:, :1]) >= stable_days * (1 - _RELATIVE_TOLERANCE)
    # A response counts whenever it happens; stable disease only once the minimum duration is reached.
    eligible = before_progression & (effective <= STABLE_DISEASE) & ((effective <= PARTIAL_RESPONSE) | long_enough)
    best = np.where(eligible, effective, NOT_EVALUABLE).min(axis=1, initial=NOT_EVALUABLE)
    best = np.where((best == NOT_EVALUABLE) & has_progression, PROGRESSIVE_DISEASE, best)

    percent = 100.0 * change
    with np.errstate(all="ignore"):
        best_change = np.where(measured.any(axis=1), np.nanmin(np.where(measured, percent, np.inf), axis=1), np.nan)
    return RecistResult(best.astype(np.int64), progression_time, best_change, codes, percent)


# ----------------------------------------------------------------------------------------------- PCWG3


@dataclass(frozen=True)
class PsaResult:
    """PCWG3 PSA endpoints per patient.

    ``psa50``: a ≥ 50 % decline from baseline (confirmed when asked); ``best_percent_change``: maximal decline
    in % (waterfall); ``progression_time``: day of the first value meeting the progression rule (inf if none);
    ``percent_change`` [P, T − 1]: each value after baseline in % of baseline, measured at ``times`` [P, T − 1].
    """

    psa50: NDArray[np.bool_]
    best_percent_change: NDArray[np.float64]
    progression_time: NDArray[np.float64]
    percent_change: NDArray[np.float64]
    times: NDArray[np.float64] | None = None

    def best_percent_change_by(self, day: float) -> NDArray[np.float64]:
        """Largest decline (most negative % change) among the values measured up to ``day`` (NaN if none):
        the waterfall of a trial that reports the best PSA change by a landmark (VISION: by week 12)."""
        if self.times is None:
            raise ValueError("PsaResult.times is needed for a landmark waterfall")
        within = ~np.isnan(self.percent_change) & (self.times <= day * (1 + _RELATIVE_TOLERANCE))
        return np.where(within.any(axis=1), np.min(np.where(within, self.percent_change, np.inf), axis=1), np.nan)

    @property
    def progressed(self) -> NDArray[np.bool_]:
        return np.isfinite(self.progression_time)


def _next_value_at_least(times: NDArray[np.float64], measured: NDArray[np.bool_], interval: float
                         ) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """For each column i, the first measured column j with t_j − t_i ≥ interval ([P, T] found flag and index)."""
    gap = times[:, None, :] - times[:, :, None]
    candidate = (gap >= interval * (1 - _RELATIVE_TOLERANCE)) & measured[:, None, :]
    return candidate.any(axis=2), candidate.argmax(axis=2)


def pcwg3_psa(times: ArrayLike, psa: ArrayLike, confirm: bool = True) -> PsaResult:
    """PSA response and progression after PCWG3 (Scher et al. 2016 J Clin Oncol 34:1402).

    ``psa`` [P, T] in ng/mL, column 0 the baseline; NaN for a missing value. PSA50: a value ≥ 50 % below
    baseline; with ``confirm`` the next value at least 3 weeks later must also be ≥ 50 % below. Progression: a
    value ≥ 25 % and ≥ 2 ng/mL above the nadir (smallest earlier value, baseline included), confirmed by the next
    value ≥ 3 weeks later meeting the same rule against the same nadir; without any decline below baseline only
    values from 12 weeks on count (early rises ignored). The progression date is that of the first value.
    """
    time_array, values = _assessment_arrays(times, psa, "psa", "ng/mL")
    baseline = values[:, :1]
    measured = ~np.isnan(values)
    change = (values - baseline) / baseline
    interval = float(_value("pcwg3", "psa_confirmation_interval"))
    next_found, next_index = _next_value_at_least(time_array, measured, interval)

    def confirmed_by_next(mask: NDArray[np.bool_], rule_at_next: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """mask[i] and the next value ≥ 3 weeks later satisfies rule_at_next[i, j] (an [P, T, T] rule)."""
        follow = np.take_along_axis(rule_at_next, next_index[:, :, None], axis=2)[:, :, 0]
        return mask & next_found & follow

    decline = float(_value("pcwg3", "psa_response_decrease"))
    responding = measured & (change <= -decline + _RELATIVE_TOLERANCE)
    responding[:, 0] = False
    if confirm:
        every_pair = responding.shape + (responding.shape[1],)
        responding = confirmed_by_next(responding, np.broadcast_to(responding[:, None, :], every_pair))
    psa50 = responding.any(axis=1)

    increase = float(_value("pcwg3", "psa_progression_increase"))
    absolute = float(_value("pcwg3", "psa_progression_absolute"))
    window = float(_value("pcwg3", "early_rise_window"))
    nadir = np.concatenate([baseline, np.fmin.accumulate(values, axis=1)[:, :-1]], axis=1)
    slack = _RELATIVE_TOLERANCE * baseline
    def rises(value: NDArray[np.float64], reference: NDArray[np.float64], tolerance: NDArray[np.float64]
              ) -> NDArray[np.bool_]:
        return (value - reference >= increase * reference - tolerance) & (value - reference >= absolute - tolerance)

    declined = nadir < baseline
    elapsed = time_array - time_array[:, :1]
    candidate = measured & rises(values, nadir, slack) & (declined | (elapsed >= window * (1 - _RELATIVE_TOLERANCE)))
    candidate[:, 0] = False
    if confirm:
        # the value at j measured against the nadir before i
        rule = (~np.isnan(values[:, None, :])) & rises(values[:, None, :], nadir[:, :, None], slack[:, :, None])
        candidate = confirmed_by_next(candidate, rule)
    has_progression, first = _first_true(candidate)
    progression_time = np.where(has_progression, np.take_along_axis(time_array, first[:, None], 1)[:, 0], np.inf)

    percent = 100.0 * change[:, 1:]
    after_measured = measured[:, 1:]
    best_change = np.where(after_measured.any(axis=1),
                           np.min(np.where(after_measured, percent, np.inf), axis=1), np.nan)
    return PsaResult(psa50, best_change, progression_time, percent, np.broadcast_to(elapsed[:, 1:], percent.shape))


def bone_scan_progression(times: ArrayLike, new_bone_lesions: ArrayLike) -> NDArray[np.float64]:
    """Day of radiographic bone progression by a simplified PCWG3 2+2 rule (inf if none).

    ``new_bone_lesions`` [P, T]: cumulative count of new bone lesions relative to the baseline scan (column 0,
    must be 0), NaN for no scan. A first post-treatment scan within the flare window (12 weeks) with ≥ 2 new
    lesions counts only if the next scan shows ≥ 2 further lesions; it is then dated at the first scan. Later
    scans progress with ≥ 2 new lesions relative to the first post-treatment scan. Simplifications: lesions are
    counted, not located, and later progression needs no confirming scan (as PCWG2; PCWG3 asks for one).
    """
    time_array = np.asarray(times, dtype=float)
    counts = np.asarray(new_bone_lesions, dtype=float)
    if counts.ndim != 2 or counts.shape[1] < 2:
        raise InputError("new_bone_lesions", counts.shape, "a 2-D array [patients, scans] with baseline and one scan")
    time_array = _times_like(times, counts.shape, "new_bone_lesions")
    if np.any(counts[~np.isnan(counts)] < 0) or np.any(np.isinf(counts)) or np.any(counts[:, 0] != 0):
        raise InputError("new_bone_lesions", "negative, infinite or non-zero baseline",
                         "non-negative cumulative counts with 0 at baseline")
    needed = float(_value("pcwg3", "bone_new_lesions"))
    window = float(_value("pcwg3", "bone_flare_window"))
    patients, scans = counts.shape
    after = counts[:, 1:]
    after_times = time_array[:, 1:]
    measured = ~np.isnan(after)
    has_first, first = _first_true(measured)
    rows = np.arange(patients)
    first_count = np.where(has_first, after[rows, first], np.nan)
    first_time = np.where(has_first, after_times[rows, first], np.inf)
    in_window = first_time - time_array[:, 0] <= window * (1 + _RELATIVE_TOLERANCE)
    later = measured & (np.arange(scans - 1)[None, :] > first[:, None])
    has_second, second = _first_true(later)
    second_count = np.where(has_second, after[rows, second], np.nan)
    flare_confirmed = in_window & (first_count >= needed) & has_second & (second_count - first_count >= needed)
    # later scans against the first post-treatment scan (or against baseline when the first is outside the window)
    reference = np.where(in_window, first_count, 0.0)
    later_or_first = measured & (np.arange(scans - 1)[None, :] >= np.where(in_window, first + 1, first)[:, None])
    progressive = later_or_first & (after - reference[:, None] >= needed)
    has_later, later_index = _first_true(progressive)
    later_time = np.where(has_later, after_times[rows, later_index], np.inf)
    return np.where(flare_confirmed, first_time, later_time)


# ----------------------------------------------------------------------------------------------- survival


@dataclass(frozen=True)
class SurvivalParameters:
    """Death hazard h(t) = h0(age(t)) + h_d + h_ref (burden(t)/B_ref)^k; rates per day, ages in years.

    ``disease_hazard`` h_d is the part of the disease's hazard that the measured tumour burden does not explain
    (unmeasured disease, marrow failure, cachexia): the baseline hazard of the tumour-growth-inhibition survival
    models, in which tumour size is a covariate of a parametric hazard (Claret et al. 2009 J Clin Oncol 27:4103;
    Bruno et al. 2020 Clin Cancer Res 26:1787). 0 in ``data/endpoints.yaml``; calibrated per disease."""

    background_hazard_at_reference_age: float  # 1/d
    reference_age: float  # years
    gompertz_slope: float  # 1/year
    burden_hazard_at_reference: float  # 1/d
    reference_burden: float
    burden_exponent: float
    disease_hazard: float = 0.0  # 1/d

    @classmethod
    def default(cls) -> SurvivalParameters:
        """The values of ``data/endpoints.yaml`` (burden terms are assumptions to be calibrated)."""
        survival = load_yaml("endpoints.yaml")["survival"]
        background, burden = survival["background"], survival["burden"]
        return cls(background["hazard_at_reference_age"]["value"] / 365.25, background["reference_age"]["value"],
                   background["gompertz_slope"]["value"], burden["hazard_at_reference"]["value"],
                   burden["reference_burden"]["value"], burden["exponent"]["value"],
                   survival["disease_hazard"]["value"])


def background_hazard(age_years: ArrayLike, parameters: SurvivalParameters | None = None) -> NDArray[np.float64]:
    """Gompertz background mortality h0(a) = h_ref exp(G (a − a_ref)) per day (Gompertz 1825 life-table law)."""
    p = parameters or SurvivalParameters.default()
    age = np.asarray(age_years, dtype=float)
    return p.background_hazard_at_reference_age * np.exp(p.gompertz_slope * (age - p.reference_age))


def death_hazard(times: ArrayLike, burden: ArrayLike, age_years: ArrayLike,
                 parameters: SurvivalParameters | None = None, hazard_ratio: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Death hazard per day [P, T]: background at the age reached, plus the burden-independent disease hazard and
    the tumour-burden term times each patient's ``hazard_ratio`` [P] (the site of his disease and his prior lines,
    :func:`rptici.trials.run.death_hazard_ratio`)."""
    p = parameters or SurvivalParameters.default()
    time_array = np.asarray(times, dtype=float)
    burden_array = np.asarray(burden, dtype=float)
    ages = np.asarray(age_years, dtype=float)[:, None] + time_array / 365.25
    burden_term = p.burden_hazard_at_reference * (burden_array / p.reference_burden) ** p.burden_exponent
    ratio = np.broadcast_to(np.asarray(hazard_ratio, dtype=float), ages.shape[:1])[:, None]
    return background_hazard(ages, p) + ratio * (p.disease_hazard + burden_term)


def death_times(times: ArrayLike, burden: ArrayLike, age_years: ArrayLike, uniforms: ArrayLike,
                parameters: SurvivalParameters | None = None, hazard_ratio: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Death time in days by inversion of the cumulative hazard: H(T) = −ln(1 − u).

    ``burden`` [P, T] is the tumour burden (default unit mL of tumour, as ``reference_burden``) at ``times``
    ([T] or [P, T], days, increasing, from 0 = start of treatment); ``age_years`` [P] the age at start;
    ``uniforms`` [P] in [0, 1); ``hazard_ratio`` [P] or one value multiplies the disease's part of the hazard
    (:func:`death_hazard`). The hazard is taken piecewise linear between the grid times (trapezoidal H;
    the quadratic is solved exactly within an interval) and held at its last value after the grid.
    """
    time_array = np.asarray(times, dtype=float)
    burden_array = np.asarray(burden, dtype=float)
    if burden_array.ndim != 2:
        raise InputError("burden", burden_array.shape, "a 2-D array [patients, times]")
    patients = burden_array.shape[0]
    time_array = _times_like(times, burden_array.shape, "burden")
    if np.any(time_array[:, 0] < 0):
        raise InputError("times", times, "non-negative days from the start of treatment")
    if not np.all(np.isfinite(burden_array)) or np.any(burden_array < 0):
        raise InputError("burden", "negative or non-finite value", "non-negative finite tumour burden")
    ages = _per_patient(age_years, patients, "age_years", np.nan)
    if not np.all(np.isfinite(ages)) or np.any(ages < 0):
        raise InputError("age_years", age_years, "non-negative ages in years, one per patient")
    draws = _per_patient(uniforms, patients, "uniforms", np.nan)
    if not np.all((draws >= 0) & (draws < 1)):
        raise InputError("uniforms", uniforms, "uniform numbers in [0, 1), one per patient")

    ratios = _per_patient(hazard_ratio, patients, "hazard_ratio", np.nan)
    if not np.all(np.isfinite(ratios) & (ratios > 0)):
        raise InputError("hazard_ratio", hazard_ratio,
                         "positive finite hazard ratios, one per patient or one for all")
    hazard = death_hazard(time_array, burden_array, ages, parameters, ratios)
    step = np.diff(time_array, axis=1)
    increments = 0.5 * (hazard[:, 1:] + hazard[:, :-1]) * step
    cumulative = np.concatenate([np.zeros((patients, 1)), np.cumsum(increments, axis=1)], axis=1)
    target = -np.log1p(-draws)
    inside = cumulative[:, -1] >= target
    # interval k with H_k <= target < H_{k+1}
    index = np.clip((cumulative < target[:, None]).sum(axis=1) - 1, 0, step.shape[1] - 1)
    rows = np.arange(patients)
    h0, h1 = hazard[rows, index], hazard[rows, index + 1]
    width = step[rows, index]
    remaining = target - cumulative[rows, index]
    slope = (h1 - h0) / width
    with np.errstate(all="ignore"):
        # remaining = h0 s + slope s²/2, solved in the form that stays accurate when slope → 0
        root = 2 * remaining / (h0 + np.sqrt(np.maximum(h0 ** 2 + 2 * slope * remaining, 0)))
        inside_time = time_array[rows, index] + np.clip(np.nan_to_num(root, nan=0.0, posinf=0.0), 0, width)
        last_hazard = hazard[:, -1]
        beyond = np.where(last_hazard > 0, time_array[:, -1] + (target - cumulative[:, -1]) / last_hazard, np.inf)
    return np.where(inside, np.where(target <= 0, time_array[:, 0], inside_time), beyond)


def dropout_times(uniforms: ArrayLike, rate_per_day: float | None = None) -> NDArray[np.float64]:
    """Exponential dropout (loss to follow-up) times in days, −ln(1 − u)/rate; inf when the rate is 0."""
    rate = float(_value("survival", "dropout_rate") if rate_per_day is None else rate_per_day)
    if not rate >= 0 or not np.isfinite(rate):
        raise InputError("rate_per_day", rate_per_day, "a non-negative finite rate per day")
    draws = np.asarray(uniforms, dtype=float)
    if not np.all((draws >= 0) & (draws < 1)):
        raise InputError("uniforms", uniforms, "uniform numbers in [0, 1)")
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, -np.log1p(-draws) / (rate if rate > 0 else 1.0), np.inf)


def censoring_times(follow_up: ArrayLike, dropout: ArrayLike | None = None) -> NDArray[np.float64]:
    """Censoring time: the earlier of the end of follow-up (days, per patient or one value) and dropout."""
    follow = np.asarray(follow_up, dtype=float)
    if np.any(np.isnan(follow)) or np.any(follow < 0):
        raise InputError("follow_up", follow_up, "non-negative days")
    return follow if dropout is None else np.minimum(follow, np.asarray(dropout, dtype=float))


def time_to_event(event_times: Sequence[ArrayLike], censor_time: ArrayLike
                  ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Observed time and event flag of a composite end point: the earliest event, censored at ``censor_time``.

    PFS = ``time_to_event([progression, death], censor)``; rPFS = ``[soft tissue, bone, death]``; OS = ``[death]``.
    Event times are days, inf when the event never happens.
    """
    if len(event_times) == 0:
        raise InputError("event_times", event_times, "at least one array of event times")
    arrays = np.broadcast_arrays(*[np.asarray(t, dtype=float) for t in event_times],
                                 np.asarray(censor_time, dtype=float))
    if any(np.any(np.isnan(a)) for a in arrays):
        raise InputError("event_times", "NaN", "days, or inf for an event that does not happen")
    earliest = np.minimum.reduce(arrays[:-1])
    censor = arrays[-1]
    event = earliest <= censor
    return np.where(event, earliest, censor), event
