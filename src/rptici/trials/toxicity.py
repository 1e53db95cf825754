"""Toxicity graded CTCAE-like (CTCAE v5.0) and attributed to radiation, the immune checkpoint inhibitor, or both.

Radiation: kidney and salivary glands from LKB NTCP (``rptici.radiobiology``), platelets and neutrophils from
the red-marrow dose (a documented nadir model, an assumption), lymphopenia from the absolute lymphocyte count
trajectory. Immune: a grade ≥ 3 immune-related adverse event (irAE) with a hazard per checkpoint class
(anti-CTLA-4 > anti-PD-1 ≈ anti-PD-L1) times exposure, placed in an organ. Every number is in
``data/endpoints.yaml``; randomness only through the caller's per-patient uniform numbers.

Attribution rule: per patient and organ category, the radiation and immune grades are computed separately and
the observed grade is their maximum. A grade ≥ 3 event is attributed to *both* when the other mechanism also
produces at least ``contributing_grade`` (1) in the same organ (kidney: radiation nephropathy and immune
nephritis; lung: pneumonitis, when a radiation lung grade is given); otherwise to the mechanism that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from ..radiobiology import ntcp_for_tissue, tissue

CHECKPOINT_CLASSES = ("PD-1", "PD-L1", "CTLA-4")
#: Blood-cell lines graded from the red-marrow dose (lognormal nadir model): counts in 10⁹/L, haemoglobin in g/dL.
LINEAGES = ("platelets", "neutrophils", "haemoglobin")
CAUSES = ("radiation", "immune", "both")


def _section() -> dict:
    return load_yaml("endpoints.yaml")["toxicity"]


def _uniforms(value: ArrayLike, shape: tuple[int, ...], field: str) -> NDArray[np.float64]:
    draws = np.asarray(value, dtype=float)
    if draws.shape != shape:
        raise InputError(field, draws.shape, f"uniform numbers of shape {shape}")
    if not np.all((draws >= 0) & (draws < 1)):
        raise InputError(field, "value outside [0, 1)", "uniform numbers in [0, 1)")
    return draws


def grade_decreased_count(count: ArrayLike, lower_limit_of_normal: float, cutoffs: ArrayLike) -> NDArray[np.int64]:
    """CTCAE grade of a decreased blood count: the number of cut-offs (LLN, then grades 2–4) the count is below.

    A count exactly at a cut-off belongs to the milder grade (CTCAE "<LLN–0.8" is grade 1, so 0.8 is grade 1).
    NaN (not measured) is grade 0.
    """
    values = np.asarray(count, dtype=float)
    if np.any(values[~np.isnan(values)] < 0):
        raise InputError("count", count, "non-negative counts in 10^9/L")
    limits = np.concatenate([[lower_limit_of_normal], np.asarray(cutoffs, dtype=float)])
    if np.any(np.diff(limits) >= 0):
        raise InputError("cutoffs", limits.tolist(), "a strictly decreasing sequence starting at the LLN")
    below = values[..., None] < limits
    return np.where(np.isnan(values), 0, below.sum(axis=-1)).astype(np.int64)


def _count_parameters(name: str) -> tuple[float, NDArray[np.float64]]:
    entry = _section()[name]
    return float(entry["lower_limit_of_normal"]["value"]), np.asarray(entry["cutoffs"]["value"], dtype=float)


def lymphopenia_grade(lymphocyte_counts: ArrayLike) -> NDArray[np.int64]:
    """Worst CTCAE v5.0 lymphocyte-count-decreased grade over a trajectory [P, T] (10⁹/L; NaN = not measured).

    Grade 1 < LLN (1.0, assumption) to 0.8, 2 < 0.8–0.5, 3 < 0.5–0.2, 4 < 0.2.
    """
    counts = np.asarray(lymphocyte_counts, dtype=float)
    if counts.ndim == 1:
        counts = counts[:, None]
    if counts.ndim != 2:
        raise InputError("lymphocyte_counts", counts.shape, "an array [patients, times]")
    lower, cutoffs = _count_parameters("lymphocytes")
    return grade_decreased_count(counts, lower, cutoffs).max(axis=1)


def blood_count_nadir(marrow_dose: ArrayLike, lineage: str, uniforms: ArrayLike,
                      baseline: ArrayLike | None = None) -> NDArray[np.float64]:
    """Nadir (10⁹/L; haemoglobin g/dL) after a red-marrow absorbed dose D (Gy): baseline · exp(−D/D0) · exp(σ z).

    A phenomenological model (``data/endpoints.yaml``, D0 fitted by benchmarks/fit_toxicity.py): exponential loss
    of progenitor output with dose, lognormal inter-patient spread, z = Φ⁻¹(u) from the patient's uniform.
    ``lineage``: one of :data:`LINEAGES`.
    """
    section = _section()
    if lineage not in LINEAGES:
        raise UnknownNameError("lineage", lineage, list(LINEAGES))
    dose = np.asarray(marrow_dose, dtype=float)
    if not np.all(np.isfinite(dose)) or np.any(dose < 0):
        raise InputError("marrow_dose", marrow_dose, "non-negative finite doses in Gy")
    draws = _uniforms(uniforms, dose.shape, "uniforms")
    entry = section[lineage]
    start = np.full(dose.shape, entry["baseline"]["value"], dtype=float) if baseline is None else \
        np.broadcast_to(np.asarray(baseline, dtype=float), dose.shape)
    if np.any(~(start > 0)):
        raise InputError("baseline", baseline, f"positive {lineage} values ({entry['baseline']['unit']})")
    spread = entry["log_sd"]["value"] * ndtri(np.clip(draws, 1e-12, 1 - 1e-12))
    return start * np.exp(-dose / entry["dose_per_e_fold_decrease"]["value"] + spread)


def blood_count_grade(nadir: ArrayLike, lineage: str) -> NDArray[np.int64]:
    """CTCAE v5.0 grade of a platelet or neutrophil count (10⁹/L) or a haemoglobin (g/dL, grade 3 at most: grade 4
    anaemia has no laboratory cut-off)."""
    if lineage not in LINEAGES:
        raise UnknownNameError("lineage", lineage, list(LINEAGES))
    lower, cutoffs = _count_parameters(lineage)
    return grade_decreased_count(nadir, lower, cutoffs)


def ntcp_grade(organ: str, bed: ArrayLike, uniforms: ArrayLike) -> NDArray[np.int64]:
    """Grade of a late organ toxicity (kidney or salivary) from LKB NTCP of the organ BED (Gy).

    With u the patient's uniform: grade 3 if u < NTCP · severe_fraction, the event grade (2) if u < NTCP, else 0.
    """
    if organ not in ("kidney", "salivary"):
        raise UnknownNameError("organ", organ, ["kidney", "salivary"])
    dose = np.asarray(bed, dtype=float)
    draws = _uniforms(uniforms, dose.shape, "uniforms")
    probability = ntcp_for_tissue(tissue("kidney" if organ == "kidney" else "salivary_gland"), dose[..., None])
    entry = _section()[organ]
    severe = probability * entry["severe_fraction"]["value"]
    event_grade = int(entry["event_grade"]["value"])
    return np.where(draws < severe, 3, np.where(draws < probability, event_grade, 0)).astype(np.int64)


def haematotoxic_marrow_dose(marrow_dose: ArrayLike, marrow_alpha_dose: ArrayLike | None = None) -> NDArray[np.float64]:
    """The red-marrow dose (Gy, RBE-weighted) that acts on blood-cell production: the β and γ part in full, the α
    part (``marrow_alpha_dose``, RBE-weighted) times ``marrow_alpha_effective_fraction`` (data/endpoints.yaml).

    α particles from a bone-surface emitter (radium-223) travel 40-90 µm in marrow, while marrow cavities are
    about a millimetre across: the mean marrow dose falls on a thin endosteal layer and most progenitors receive
    none (Hobbs et al. 2012 Phys Med Biol 57:3207), so the mean dose overstates the loss of production.
    """
    dose = np.asarray(marrow_dose, dtype=float)
    if marrow_alpha_dose is None:
        return dose
    fraction = _section()["marrow_alpha_effective_fraction"]["value"]
    return dose - (1.0 - fraction) * np.asarray(marrow_alpha_dose, dtype=float)


def laboratory_only_organs() -> tuple[str, ...]:
    """Organ categories graded from laboratory values but not counted in the reported adverse-event rates
    (``grade3plus_*``): those marked ``counted_as_adverse_event: false`` in data/endpoints.yaml (lymphopenia)."""
    return tuple(name for name, entry in _section().items()
                 if isinstance(entry, dict) and isinstance(entry.get("counted_as_adverse_event"), dict)
                 and entry["counted_as_adverse_event"]["value"] is False)


def radiation_toxicity(uniforms: ArrayLike, kidney_bed: ArrayLike | None = None, salivary_bed: ArrayLike | None = None,
                       marrow_dose: ArrayLike | None = None, lymphocyte_counts: ArrayLike | None = None,
                       marrow_alpha_dose: ArrayLike | None = None) -> dict[str, NDArray[np.int64]]:
    """Radiation grades per organ category (only those given): kidney, salivary, platelets, neutrophils, lymphocytes.

    ``uniforms`` [P, 5]: columns for kidney, salivary, platelets, neutrophils, haemoglobin (drawn whether used or
    not, so that a patient's numbers do not depend on which organs a scenario grades). ``marrow_alpha_dose``: the α part of
    ``marrow_dose`` (:func:`haematotoxic_marrow_dose`).
    """
    draws = np.asarray(uniforms, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != 5:
        raise InputError("uniforms", draws.shape, "an array [patients, 5] (kidney, salivary, platelets, neutrophils, "
                                                  "haemoglobin)")
    patients = draws.shape[0]

    def per_patient(value: ArrayLike, field: str) -> NDArray[np.float64]:
        array = np.asarray(value, dtype=float)
        if array.shape != (patients,):
            raise InputError(field, array.shape, f"one value per patient ({patients},)")
        return array

    grades: dict[str, NDArray[np.int64]] = {}
    if kidney_bed is not None:
        grades["kidney"] = ntcp_grade("kidney", per_patient(kidney_bed, "kidney_bed"), draws[:, 0])
    if salivary_bed is not None:
        grades["salivary"] = ntcp_grade("salivary", per_patient(salivary_bed, "salivary_bed"), draws[:, 1])
    if marrow_dose is not None:
        dose = haematotoxic_marrow_dose(per_patient(marrow_dose, "marrow_dose"), None if marrow_alpha_dose is None
                                        else per_patient(marrow_alpha_dose, "marrow_alpha_dose"))
        for column, lineage in enumerate(LINEAGES, start=2):
            grades[lineage] = blood_count_grade(blood_count_nadir(dose, lineage, draws[:, column]), lineage)
    if lymphocyte_counts is not None:
        counts = np.asarray(lymphocyte_counts, dtype=float)
        if counts.ndim != 2 or counts.shape[0] != patients:
            raise InputError("lymphocyte_counts", counts.shape, f"an array [{patients}, times]")
        grades["lymphocytes"] = lymphopenia_grade(counts)
    return grades


def immune_rate(checkpoint_class: str) -> float:
    """Grade ≥ 3 irAE hazard per day of full target occupancy: −ln(1 − p_ref)/exposure_ref for the class."""
    classes = _section()["immune"]["classes"]
    if checkpoint_class not in classes:
        raise UnknownNameError("checkpoint_class", checkpoint_class, list(classes))
    entry = classes[checkpoint_class]
    return float(-np.log1p(-entry["grade3plus_probability"]["value"]) / entry["reference_exposure"]["value"])


def immune_event_onset(times: ArrayLike, cumulative_exposure: Mapping[str, ArrayLike], uniform: ArrayLike
                       ) -> NDArray[np.float64]:
    """Day of onset of the grade ≥ 3 irAE that :func:`immune_adverse_events` decides with the same uniform: the first
    of ``times`` at which the cumulative hazard Σ rate_class · ∫ occupancy dt reaches −ln(1 − u) (inf when never).

    ``cumulative_exposure[class]``: ∫₀ᵗ occupancy dt per patient at each time, (patients, times). The event happens
    by time T exactly when the hazard accumulated by T reaches the threshold, so stopping the antibody at the onset
    leaves the event, and everything before it, unchanged (what makes a two-pass simulation exact).
    """
    grid = np.asarray(times, dtype=float)
    draws = np.asarray(uniform, dtype=float)
    hazard = np.zeros((draws.size, grid.size))
    for name, value in cumulative_exposure.items():
        hazard = hazard + immune_rate(name) * np.asarray(value, dtype=float)
    threshold = -np.log1p(-draws)
    reached = hazard >= threshold[:, None]
    return np.where(reached.any(axis=1), grid[np.argmax(reached, axis=1)], np.inf)


def immune_adverse_events(exposure: Mapping[str, ArrayLike], uniforms: ArrayLike) -> dict[str, NDArray[np.int64]]:
    """Grade ≥ 3 irAEs per organ category from checkpoint exposure.

    ``exposure``: for each class (``PD-1``, ``PD-L1``, ``CTLA-4``) the days of full target occupancy per patient
    (∫ occupancy dt). P(event) = 1 − exp(−Σ rate_class · exposure_class) (hazards add; no synergy term).
    ``uniforms`` [P, 2]: column 0 decides the event, column 1 its organ, drawn from the organ spectrum of the
    class contributing the most hazard. Returns grade 3 (meaning ≥ 3) or 0 per organ category.
    """
    draws = np.asarray(uniforms, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != 2:
        raise InputError("uniforms", draws.shape, "an array [patients, 2] (event, organ)")
    draws = _uniforms(draws, draws.shape, "uniforms")
    patients = draws.shape[0]
    section = _section()["immune"]
    organ_table = section["organs"]
    hazards = np.zeros((len(CHECKPOINT_CLASSES), patients))
    for name, value in exposure.items():
        if name not in CHECKPOINT_CLASSES:
            raise UnknownNameError("exposure", name, list(CHECKPOINT_CLASSES))
        days = np.broadcast_to(np.asarray(value, dtype=float), (patients,))
        if not np.all(np.isfinite(days)) or np.any(days < 0):
            raise InputError(f"exposure[{name}]", value, "non-negative finite days of occupancy")
        hazards[CHECKPOINT_CLASSES.index(name)] = immune_rate(name) * days
    probability = -np.expm1(-hazards.sum(axis=0))
    event = draws[:, 0] < probability
    dominant = hazards.argmax(axis=0)
    organs = list(organ_table[CHECKPOINT_CLASSES[0]])
    fractions = np.array([[organ_table[c][o] for o in organs] for c in CHECKPOINT_CLASSES])
    cumulative = np.cumsum(fractions / fractions.sum(axis=1, keepdims=True), axis=1)[dominant]
    organ_index = np.minimum((draws[:, 1:2] >= cumulative).sum(axis=1), len(organs) - 1)
    grade = int(section["grade"]["value"])
    return {organ: np.where(event & (organ_index == k), grade, 0).astype(np.int64) for k, organ in enumerate(organs)}


@dataclass(frozen=True)
class ToxicityResult:
    """Per patient: worst grade per organ category, who caused it, and grade ≥ 3 flags by cause.

    ``attribution[organ]``: "" (no grade ≥ 3), "radiation", "immune" or "both". A patient may carry several
    flags (grade 3 neutropenia and grade 3 colitis: radiation and immune, not both).
    """

    max_grade: dict[str, NDArray[np.int64]]
    radiation_grade: dict[str, NDArray[np.int64]]
    immune_grade: dict[str, NDArray[np.int64]]
    attribution: dict[str, NDArray[np.str_]]
    grade3plus_radiation: NDArray[np.bool_]
    grade3plus_immune: NDArray[np.bool_]
    grade3plus_both: NDArray[np.bool_]
    #: Background disease-related grade ≥ 3 events (arms with a standard of care; None: not modelled).
    grade3plus_disease: NDArray[np.bool_] | None = None

    @property
    def grade3plus_any(self) -> NDArray[np.bool_]:
        treatment = self.grade3plus_radiation | self.grade3plus_immune | self.grade3plus_both
        return treatment if self.grade3plus_disease is None else treatment | self.grade3plus_disease

    @property
    def worst_grade(self) -> NDArray[np.int64]:
        return np.max(np.stack(list(self.max_grade.values())), axis=0)


def attribute_toxicity(radiation: Mapping[str, ArrayLike], immune: Mapping[str, ArrayLike],
                       contributing_grade: int | None = None, background: ArrayLike | None = None) -> ToxicityResult:
    """Combine radiation and immune grades per organ and attribute grade ≥ 3 events (rule in the module docstring).

    ``background``: per patient, a grade ≥ 3 disease-related event (:mod:`.standard_of_care`), counted in
    ``grade3plus_any`` as its own cause ("disease"); None: not modelled. Laboratory-only categories
    (:func:`laboratory_only_organs`) keep their grades and attribution but raise no grade ≥ 3 flag."""
    threshold = int(_section()["attribution"]["contributing_grade"]["value"] if contributing_grade is None
                    else contributing_grade)
    organs = list(dict.fromkeys([*radiation, *immune]))
    if not organs:
        raise InputError("radiation, immune", "no organ", "grades for at least one organ category")
    arrays = {**{f"radiation[{k}]": np.asarray(v) for k, v in radiation.items()},
              **{f"immune[{k}]": np.asarray(v) for k, v in immune.items()}}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise InputError("grades", {k: a.shape for k, a in arrays.items()}, "1-D arrays of one common length")
    for field, array in arrays.items():
        if np.any((array < 0) | (array > 5)) or np.any(array != np.round(array)):
            raise InputError(field, array, "CTCAE grades 0-5")
    (patients,) = shapes.pop()
    zero = np.zeros(patients, dtype=np.int64)
    radiation_grade = {o: np.asarray(radiation.get(o, zero), dtype=np.int64) for o in organs}
    immune_grade = {o: np.asarray(immune.get(o, zero), dtype=np.int64) for o in organs}
    max_grade, attribution = {}, {}
    flags = {cause: np.zeros(patients, dtype=bool) for cause in CAUSES}
    uncounted = laboratory_only_organs()
    for organ in organs:
        r, i = radiation_grade[organ], immune_grade[organ]
        worst = np.maximum(r, i)
        severe = worst >= 3
        both = severe & (r >= threshold) & (i >= threshold)
        cause = np.where(both, "both", np.where(r >= i, "radiation", "immune"))
        attribution[organ] = np.where(severe, cause, "")
        for name in CAUSES if organ not in uncounted else ():
            flags[name] |= attribution[organ] == name
        max_grade[organ] = worst
    disease = None
    if background is not None:
        disease = np.asarray(background, dtype=bool)
        if disease.shape != (patients,):
            raise InputError("background", disease.shape, f"one flag per patient ({patients})")
    return ToxicityResult(max_grade, radiation_grade, immune_grade, attribution,
                          flags["radiation"], flags["immune"], flags["both"], disease)
