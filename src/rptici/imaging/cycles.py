"""Later cycles from the first: each region's dose and BED in cycles 2…N predicted from a cycle-1 image-dose result.

The cycle-1 result (:func:`rptici.imaging.image_dose` summary, or ``image_dose.json``) gives each region's mean
absorbed dose D₁ at the administered activity A₁, its effective half-life T₁ (activity-weighted over its voxel fits)
and, with ≥ 3 scans, the relative standard error s of its TIA from :func:`rptici.dosimetry.tac.fit_tac`. Cycle c
(activity A_c) is predicted as

    D_c = D₁ · (A_c/A₁) · (T_c/T₁) · u_c,         T_c = f_c T₁,
    u_c = 1/v_c  (uptake: total — the lesion keeps its cycle-1 TIA in the mass v_c m₁; MIRD mass scaling S ∝ 1/m)
    u_c = 1      (uptake: concentration — the TIA shrinks with the lesion, the mean dose per GBq is unchanged)

f_c (``half_life_factor``) and v_c (``volume_factor``, lesions only: regions whose tissue is tumour) default to 1:
then the dose per GBq is the cycle-1 value (the premise when later activities are planned from cycle-1 dosimetry;
the dosimetry-guided PRRT studies — Sundlöv et al. 2017 EJNMMI 44:1480, Garske-Román et al. 2018 EJNMMI 45:970 —
image every cycle, and their per-cycle numbers are not in the repository). TIA = A₀ T/ln 2 scales with T at the same
uptake A₀.
Measured inter-cycle variation of the kidney dose per GBq of [177Lu]Lu-DOTATATE, what a cycle-1 prediction without
later imaging cannot know: 12.5 ± 7.8 % (range 1.8–29.4 %, 17 patients, quantitative SPECT/CT every cycle; Atom
Indonesia, https://atomindonesia.brin.go.id/index.php/aij/article/view/910) — and 2 % on average when one 24 h scan
of the later cycle is used with the cycle-1 half-life (EJNMMI Phys 2018, doi:10.1186/s40658-018-0232-9).

BED per cycle: BED_c = D_c (1 + G_c D_c/(α/β)), G_c = T_rep/(T_rep + T_c) (Dale 1985, mono-exponential); cycles
weeks apart add (:func:`rptici.radiobiology.bed.bed_cycles`). Uncertainty: every cycle is the cycle-1 TIA times a
known factor, so the errors are fully correlated — σ(D_c) = s D_c, σ(ΣD) = s ΣD_c, σ(BED_c) = s D_c (1 + 2G_c D_c/(α/β))
(first order), summed linearly. Without a region fit (fewer than 3 scans) s is unknown (null).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..radiobiology.bed import bed_closed_form
from ..radiobiology.lq import g_factor_monoexponential
from ..radiobiology.tissues import tissue

UPTAKE_MODELS = ("total", "concentration")
#: Most cycles one prediction covers.
MAX_CYCLES = 20


def _positive(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(field, value, "a positive finite number")
    return float(value)


def _per_cycle(value: Any, later: int, field: str) -> list[float]:
    """A scalar (every later cycle) or a list with one value per later cycle, each positive."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * later
    if len(values) != later:
        raise InputError(field, values, f"one value per later cycle ({later}), or one number for all")
    return [_positive(item, field) for item in values]


def _factor(spec: Any, region: str, later: int, field: str, default_applies: bool) -> list[float]:
    """A factor per later cycle for ``region``: ``spec`` a number / list (regions where ``default_applies``), or a
    mapping region → number / list (the others 1)."""
    if isinstance(spec, Mapping):
        return _per_cycle(spec[region], later, f"{field}.{region}") if region in spec else [1.0] * later
    return _per_cycle(spec, later, field) if default_applies else [1.0] * later


def is_tumour(name: str | None) -> bool:
    """Whether a region's tissue is the tumour (aliases allowed: tumor, lesion, …)."""
    return name is not None and tissue(name).name == "tumour"


def predict_cycles(summary: Mapping[str, Any], cycles: int, activity_MBq: float | Sequence[float], *,
                   half_life_factor: Any = 1.0, volume_factor: Any = 1.0, uptake: str = "total") -> dict[str, Any]:
    """Each region's dose, BED and their standard errors for cycles 1…``cycles`` (cycle 1 the measured one) and the
    cumulative totals. ``activity_MBq``: the activity of every later cycle (one number or one per later cycle);
    ``half_life_factor``/``volume_factor``: T_c/T₁ and V_c/V₁, a number (half-life: every region; volume: lesions)
    or a mapping region → number or list; ``uptake``: ``total`` or ``concentration`` (module docstring)."""
    if isinstance(cycles, bool) or not isinstance(cycles, (int, np.integer)) or not 1 <= cycles <= MAX_CYCLES:
        raise InputError("cycles", cycles, f"a whole number of cycles from 1 to {MAX_CYCLES}")
    if uptake not in UPTAKE_MODELS:
        raise InputError("uptake", uptake, "one of " + ", ".join(UPTAKE_MODELS))
    first = summary.get("administered_activity_MBq")
    if first is None:
        raise InputError("administered_activity", None, "the cycle-1 administered activity (needed to scale to "
                                                        "later cycles' activities)")
    first = _positive(first, "administered_activity")
    later = int(cycles) - 1
    activities = [first] + _per_cycle(activity_MBq, later, "activity")
    regions = summary.get("regions")
    if not isinstance(regions, Mapping) or not regions:
        raise InputError("regions", regions, "the regions of an image-dose result")
    for field, spec in (("half_life_factor", half_life_factor), ("volume_factor", volume_factor)):
        if isinstance(spec, Mapping) and set(spec) - set(regions):
            raise InputError(field, sorted(set(spec) - set(regions)), "region names of the result: " + ", ".join(regions))
    predicted: dict[str, dict[str, Any]] = {}
    for name, region in regions.items():
        tumour = is_tumour(region.get("tissue"))
        half_lives = [1.0] + _factor(half_life_factor, name, later, "half_life_factor", True)
        volumes = [1.0] + _factor(volume_factor, name, later, "volume_factor", tumour)
        dose_1 = float(region["mean_Gy"])
        t_1 = region.get("effective_half_life_d")
        if t_1 is None and "fit" in region:
            t_1 = region["fit"]["terminal_effective_half_life_d"]
        uptake_scale = [1.0 / v if uptake == "total" else 1.0 for v in volumes]
        doses = np.array([dose_1 * (a / first) * f * u for a, f, u in zip(activities, half_lives, uptake_scale)])
        fit = region.get("fit")
        relative = fit["tia_standard_error_MBq_h"] / fit["tia_MBq_h"] if fit and fit.get("tia_MBq_h") else None
        entry: dict[str, Any] = {"tissue": region.get("tissue"), "activity_MBq": activities,
                                 "dose_Gy": doses.tolist(), "half_life_factor": half_lives, "volume_factor": volumes,
                                 "effective_half_life_d": None if t_1 is None else [t_1 * f for f in half_lives],
                                 "tia_relative_standard_error": relative,
                                 "dose_standard_error_Gy": None if relative is None else (relative * doses).tolist(),
                                 "cumulative_dose_Gy": float(doses.sum()),
                                 "cumulative_dose_standard_error_Gy": None if relative is None
                                 else float(relative * doses.sum())}
        if region.get("tissue") and t_1 is not None:
            params = tissue(region["tissue"])
            g = g_factor_monoexponential(np.array(entry["effective_half_life_d"]), params.repair_half_time)
            bed = bed_closed_form(doses, params.alpha_beta, g)
            entry["bed_Gy"] = bed.tolist()
            entry["cumulative_bed_Gy"] = float(bed.sum())
            if relative is not None:
                bed_error = relative * doses * (1 + 2 * g * doses / params.alpha_beta)
                entry["bed_standard_error_Gy"] = bed_error.tolist()
                entry["cumulative_bed_standard_error_Gy"] = float(bed_error.sum())
        predicted[name] = entry
    return {"cycles": int(cycles), "activities_MBq": activities, "uptake": uptake, "regions": predicted,
            "assumptions": ["dose per GBq of cycle 1 carried to later cycles, scaled by T_c/T_1 and (uptake: total) "
                            "1/volume factor", "cycles far apart (no repair interaction between cycles)",
                            "standard errors from the cycle-1 TIA fit, fully correlated between cycles"]}
