"""Dosimetry-guided against fixed activity in the same virtual patients (the question of Sundlöv et al. 2017 and
ILUMINET, Sundlöv et al. 2022): does giving each patient the activity that brings an organ to its limit change
the outcome and the organ doses, compared with one activity for all?

The fixed arm is a space's base regimen; the guided arm is the same regimen with ``rpt.guided`` set
(:class:`rptici.kinetics.regimen.GuidedDosing`, resolved per patient by
:func:`rptici.radiobiology.guided.guided_administrations`). Both arms are one-arm trials of the same patients
(common random numbers: one population sample, one seed, per-patient random streams), so a difference is the
dosing's, not sampling noise. Per arm: the endpoints with their 95 % intervals (Kaplan–Meier medians with
Brookmeyer–Crowley intervals, exact binomial rates) and, over the patients, the median and 5th–95th percentiles
of the administered activity, of the organ doses as planned (closed-form regimen dosimetry) and of those the
trial gave (cycles after progression not given), and the share of patients over each organ limit.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from .space import SearchSpace, load_space, trial_mapping

#: Relative margin above a limit before a patient counts as over it (a guided patient is at the target to rounding).
LIMIT_TOLERANCE = 1e-9
#: Endpoints reported side by side: (summary key, its interval key, words).
ENDPOINT_ROWS = (("median_pfs_months", "median_pfs_ci", "median PFS (months)"),
                 ("median_os_months", "median_os_ci", "median OS (months)"),
                 ("median_psa_pfs_months", "median_psa_pfs_ci", "median PSA-PFS (months)"),
                 ("orr", "orr_ci", "objective response rate"), ("psa50", "psa50_ci", "PSA50 response rate"))
#: Organ quantities of the patients table (what the trial gave): column → words.
GIVEN_COLUMNS = {"kidney_bed_Gy": "kidney BED given (Gy)", "marrow_dose_Gy": "red-marrow dose given (Gy)",
                 "tumour_dose_Gy": "tumour dose given (Gy)"}
#: Organ quantities as planned (closed form, every cycle given): (region, array of RegimenDose, words).
PLANNED = (("kidneys", "bed_Gy", "kidney BED planned (Gy)"),
           ("red_marrow", "rbe_weighted_dose_Gy", "red-marrow dose planned (Gy)"),
           ("salivary_glands", "bed_Gy", "salivary BED planned (Gy)"))


def spread(values: Any) -> dict[str, float] | None:
    """Median and 5th–95th percentiles of ``values`` (None when empty)."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return None
    low, median, high = np.percentile(array, [5, 50, 95])
    return {"median": float(median), "p5": float(low), "p95": float(high)}


def guided_regimen(regimen: Mapping[str, Any], guided: Mapping[str, Any]) -> dict[str, Any]:
    """``regimen`` (a mapping with ``rpt``) with its activity guided by ``guided`` (a GuidedDosing mapping)."""
    if not isinstance(regimen.get("rpt"), Mapping):
        raise InputError("regimen.rpt", regimen.get("rpt"), "an RPT schedule to guide")
    result = copy.deepcopy(dict(regimen))
    result["rpt"] = {**result["rpt"], "guided": dict(guided)}
    return result


def planned_doses(regimen_mapping: Mapping[str, Any], covariates: Any) -> dict[str, Any]:
    """Administered activity (GBq over the course) and the planned organ quantities of :data:`PLANNED` per patient
    (:func:`rptici.radiobiology.regimen_dose.regimen_dose`; agents without a lesion compartment dosed without
    lesions, as the trial runner does), each as a :func:`spread`, with the share over the tissue file's limits."""
    import dataclasses

    from ..kinetics.regimen import load_regimen
    from ..radiobiology.regimen_dose import regimen_dose

    regimen = load_regimen(regimen_mapping)
    try:
        result = regimen_dose(regimen, covariates, times=np.array([0.0]), antibody=False)
    except InputError as error:
        if error.field != "lesion_masses_g":
            raise
        covariates = dataclasses.replace(covariates, lesion_masses_g=np.zeros((covariates.lesion_masses_g.shape[0], 0)),
                                         lesion_uptake_factors=None, lesion_sites=None)
        result = regimen_dose(regimen, covariates, times=np.array([0.0]), antibody=False)
    rows: dict[str, Any] = {"activity_GBq": spread(result.total_activity_MBq / 1000.0),
                            "cycles_given": spread(np.sum(result.administered_MBq > 0, axis=0))}
    over: dict[str, float] = {}
    for region, array, words in PLANNED:
        if region not in result.targets:
            continue
        column = result.targets.index(region)
        rows[words] = spread(getattr(result, array)[:, column])
        for limit in result.limits[region]:
            if limit.applies:  # a patient guided exactly to the limit is at it, not over (rounding tolerance)
                values = np.asarray(limit.value_Gy, dtype=float)
                over[f"{region} {limit.quantity} > {limit.limit_Gy:g} Gy"] = float(np.mean(
                    values > limit.limit_Gy * (1 + LIMIT_TOLERANCE)))
    rows["share_over_limit"] = over
    return rows


def _arm(space: SearchSpace, regimen: dict[str, Any], covariates: Any, follow_up_months: float) -> dict[str, Any]:
    from ..analysis.summary import summarize_tables
    from ..trials.run import simulate_trial

    tables = simulate_trial(trial_mapping(space, regimen))
    patients = tables["patients"]
    row = summarize_tables(patients, follow_up_months=follow_up_months)["arms"][0]
    valid = patients[patients["status"] == "ok"]
    endpoints = {}
    for key, interval, words in ENDPOINT_ROWS:
        if row.get(key) is not None or key.startswith("median_") and f"{key.removesuffix('_months')}_ci" in row:
            endpoints[key] = {"label": words, "value": row.get(key), "interval": row.get(interval),
                              "not_reached": row.get(key) is None}
    for cause, rate in (row.get("grade3plus_rate") or {}).items():
        endpoints[f"grade3plus_rate.{cause}"] = {"label": f"grade ≥ 3 adverse events ({cause})", "value": rate,
                                                 "interval": (row.get("grade3plus_ci") or {}).get(cause),
                                                 "not_reached": False}
    given = {words: spread(valid[column]) for column, words in GIVEN_COLUMNS.items() if column in valid}
    return {"regimen": regimen, "n": int(row["n"]), "failed": int(row["failed"]), "endpoints": endpoints,
            "planned": planned_doses(regimen, covariates), "given": given}


def compare_dosing(space_source: Any, guided: Mapping[str, Any] | None = None, *, patients: int | None = None
                   ) -> dict[str, Any]:
    """Fixed (the space's base regimen) against dosimetry-guided activity (``guided``, default kidney BED to the
    tissue file's limit from cycle-1 dosimetry) in the space's virtual patients: the comparison document."""
    import dataclasses

    from ..analysis.status import model_status
    from .optimize import _population_covariates

    space = load_space(space_source)
    if patients is not None:
        if isinstance(patients, bool) or not isinstance(patients, int) or patients < 10:
            raise InputError("--patients", patients, "a whole number ≥ 10")
        space = dataclasses.replace(space, patients=patients)
    fixed = copy.deepcopy(space.regimen)
    if fixed.get("ici") is None:
        fixed.pop("ici", None)
        fixed.pop("sequence", None)
    if isinstance(fixed.get("rpt"), Mapping):
        fixed["rpt"] = {key: value for key, value in fixed["rpt"].items() if key != "guided"}
    guided_mapping = guided_regimen(fixed, guided or {"region": "kidneys", "quantity": "bed", "basis": "cycle1"})
    from ..kinetics.regimen import load_regimen
    from ..radiobiology.guided import target_limit

    rule = load_regimen(guided_mapping).rpt.guided
    target, source = (rule.target_Gy, "given") if rule.target_Gy is not None \
        else target_limit(rule.region, rule.quantity)
    covariates, follow_up, calibration = _population_covariates(space)
    arms = {"fixed": _arm(space, fixed, covariates, follow_up),
            "guided": _arm(space, guided_mapping, covariates, follow_up)}
    return {"name": space.name, "patients": space.patients, "seed": space.seed, "calibration": calibration,
            "guided": {"region": rule.region, "quantity": rule.quantity, "target_Gy": float(target),
                       "target_source": source, "basis": rule.basis, "adjust": rule.adjust,
                       "max_activity_MBq": rule.max_MBq, "error": rule.error, "error_seed": rule.error_seed},
            "arms": arms,
            "method": "two one-arm virtual trials of the same patients (common random numbers); endpoints with 95 % "
                      "intervals; organ doses and activities as median [5th, 95th percentile] over the patients",
            "model_status": model_status(calibration).as_dict()}


def comparison_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """Rows (quantity, fixed, guided) of a :func:`compare_dosing` document, for printing."""
    def interval_text(entry: Mapping[str, Any] | None) -> str:
        if not entry:
            return "–"
        value, interval = entry.get("value"), entry.get("interval") or [None, None]
        if value is None:
            return "not reached"
        return f"{value:.3g} [{_number(interval[0])}, {_number(interval[1])}]"

    def spread_text(entry: Mapping[str, Any] | None) -> str:
        return "–" if not entry else f"{entry['median']:.3g} [{entry['p5']:.3g}, {entry['p95']:.3g}]"

    fixed, guided = result["arms"]["fixed"], result["arms"]["guided"]
    rows = []
    for key in dict.fromkeys([*fixed["endpoints"], *guided["endpoints"]]):
        label = (fixed["endpoints"].get(key) or guided["endpoints"].get(key))["label"]
        rows.append([label, interval_text(fixed["endpoints"].get(key)), interval_text(guided["endpoints"].get(key))])
    for section in ("planned", "given"):
        for key in dict.fromkeys([*fixed[section], *guided[section]]):
            if key == "share_over_limit":
                continue
            words = {"activity_GBq": "activity over the course (GBq)", "cycles_given": "cycles"}.get(key, key)
            rows.append([words, spread_text(fixed[section].get(key)), spread_text(guided[section].get(key))])
    for key in dict.fromkeys([*fixed["planned"]["share_over_limit"], *guided["planned"]["share_over_limit"]]):
        rows.append([f"share of patients with {key}", f"{fixed['planned']['share_over_limit'].get(key, 0):.2f}",
                     f"{guided['planned']['share_over_limit'].get(key, 0):.2f}"])
    return rows


def _number(value: Any) -> str:
    return "–" if value is None else f"{value:.3g}"
