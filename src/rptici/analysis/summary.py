"""Summary of a virtual trial: per arm what each registered endpoint gives (response, PSA50, medians, hazard
ratios against the control arm, grade ≥ 3 toxicity by cause) and Kaplan–Meier curves with numbers at risk.

``summarize(folder)`` reads a run folder written by :func:`rptici.trials.run.run_trial`;
``summarize_tables(patients, ...)`` does the same for an in-memory ``patients`` table. Patients whose
simulation failed (status ``failed``) are excluded and counted per arm (``failed``). ORR counts patients with
measurable disease only; PSA50 appears when the disease has PSA. Times are reported in months of 30.4375 days.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..trials.endpoint_registry import ArmData, TimeToEvent, endpoints
from ..trials.endpoints import to_months
from .response import response_rate
from .status import model_status
from .ensemble import PREDICTION_FILE
from .survival import cox_hazard_ratio, kaplan_meier

#: Grid of the reported KM curves (months) and of the numbers at risk.
CURVE_STEP_MONTHS = 0.25
AT_RISK_STEP_MONTHS = 3.0


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def survival_curve(times_days: np.ndarray, events: np.ndarray, horizon_months: float) -> dict[str, Any]:
    """KM curve on a fixed month grid (step :data:`CURVE_STEP_MONTHS`), median with CI, numbers at risk."""
    months = to_months(times_days)
    fit = kaplan_meier(months, events)
    grid = np.arange(0.0, horizon_months + 1e-9, CURVE_STEP_MONTHS)
    survival, low, high = fit.survival_at(grid)
    at_risk_times = np.arange(0.0, horizon_months + 1e-9, AT_RISK_STEP_MONTHS)
    return {"time_months": grid.tolist(), "survival": survival.tolist(), "low": low.tolist(), "high": high.tolist(),
            "at_risk": {"time_months": at_risk_times.tolist(), "n": fit.at_risk(at_risk_times).tolist()},
            "median": _number(fit.median), "median_ci": [_number(fit.median_low), _number(fit.median_high)],
            "fit": fit}


class TrialStatistics:
    """The estimators endpoints summarise with (:class:`rptici.trials.endpoint_registry.Statistics`): exact
    Clopper–Pearson rate, Kaplan–Meier curve in months, Cox hazard ratio (days; the ratio has no unit)."""

    rate = staticmethod(response_rate)
    survival = staticmethod(survival_curve)
    hazard_ratio = staticmethod(cox_hazard_ratio)


STATISTICS = TrialStatistics()


def summarize_tables(patients: pd.DataFrame, arms: Sequence[str] | None = None, control: str | None = None,
                     follow_up_months: float | None = None, failures: pd.DataFrame | None = None,
                     keep_fits: bool = False) -> dict[str, Any]:
    """The summary dictionary (see the module docstring) of a ``patients`` table: per arm ``n``, ``failed``,
    ``control`` and what each registered endpoint gives (:func:`rptici.trials.endpoint_registry.endpoints`);
    ``km[endpoint][arm]`` the Kaplan–Meier curves (with their lifelines fit when ``keep_fits``)."""
    arms = list(arms) if arms is not None else list(dict.fromkeys(patients["arm"]))
    valid = patients[patients["status"] == "ok"] if "status" in patients.columns else patients
    present = [item for item in endpoints() if item.available(valid)]
    if follow_up_months is None:
        columns = [item.columns[0] for item in present if isinstance(item, TimeToEvent)]
        follow_up_months = float(to_months(valid[columns].max().max())) if len(valid) and columns else 0.0
    km: dict[str, dict[str, Any]] = {item.name: {} for item in present if isinstance(item, TimeToEvent)}
    rows = []
    for arm in arms:
        group = valid[valid["arm"] == arm]
        failed_count = int(((patients["arm"] == arm) & (patients.get("status", "ok") != "ok")).sum()) \
            if "status" in patients.columns else 0
        row: dict[str, Any] = {"arm": arm, "n": int(len(group)), "failed": failed_count, "control": arm == control}
        data = ArmData(arm, group, valid, control, follow_up_months, STATISTICS)
        for item in present:
            values, curve = item.summarise(data)
            row.update(values)
            if curve is not None:
                km[item.name][arm] = curve if keep_fits else {key: value for key, value in curve.items() if key != "fit"}
        rows.append(row)
    summary = {"arms": rows, "control": control, "patients": int(len(patients)), "failed": int(len(patients) - len(valid)),
               "follow_up_months": follow_up_months, "km": km,
               "endpoints": [{"name": item.name, "label": item.label, "unit": item.unit} for item in present]}
    summary["warnings"] = dose_warnings(valid, arms)
    if failures is not None and len(failures):
        summary["failure_reasons"] = failures["reason"].value_counts().head(10).to_dict()
    return summary


#: Per-patient dose columns of the patient table: (region the plausibility bound is of, dose or BED, words).
DOSE_COLUMNS = {"kidney_bed_Gy": ("kidneys", "bed", "kidney BED"), "marrow_dose_Gy": ("red_marrow", "dose",
                                                                                     "red-marrow dose"),
                "tumour_dose_Gy": ("lesion", "dose", "tumour dose")}


def dose_warnings(patients: pd.DataFrame, arms: Sequence[str]) -> list[str]:
    """Per arm and dose column, how many patients have a dose beyond any clinical range
    (:mod:`rptici.radiobiology.plausibility`) and the highest, one line each; empty when none."""
    from ..radiobiology.plausibility import beyond_clinical_range

    lines = []
    for arm in arms:
        group = patients[patients["arm"] == arm] if "arm" in patients.columns else patients
        for column, (region, kind, words) in DOSE_COLUMNS.items():
            if column not in group.columns or not len(group):
                continue
            values = group[column].to_numpy(dtype=float)
            beyond = [value for value in values
                      if beyond_clinical_range(region, *((None, value) if kind == "bed" else (value, None)))]
            if beyond:
                lines.append(f"{arm}: {len(beyond)} of {len(values)} patients have a {words} beyond any clinical "
                             f"range (highest {max(beyond):,.0f} Gy): check the activity and its unit")
    return lines


#: Per-patient columns the summary never reads (baseline covariates, exposure, the α part of the marrow dose): left
#: on disk, so that a million-patient summary holds only what it uses.
UNREAD_COLUMNS = frozenset({"age_years", "weight_kg", "lesion_count", "baseline_sum_diameters_mm",
                            "baseline_volume_mL", "target_uptake", "pdl1", "immune_infiltration", "alpha_per_Gy",
                            "lymphocytes_1e9_per_L", "psa_ng_per_mL", "ici_exposure_days",
                            "marrow_alpha_dose_Gy", "rpt_stop_days", "ici_stop_days"})


def summarize(folder: str | Path) -> dict[str, Any]:
    """Summary of the run in ``folder`` (completed chunks only; ``complete`` says whether all are done)."""
    from ..store import ResultStore

    store = ResultStore(folder)
    if not store.completed_chunks():
        raise InputError("folder", str(folder), "a run folder with at least one finished chunk of patients "
                                                 "(run 'rptici trial run SCENARIO --out FOLDER' to finish it)")
    document = json.loads((store.folder / "scenario.json").read_text(encoding="utf-8"))
    scenario = document["scenario"]
    arms = [arm["name"] for arm in scenario["arms"]]
    control = next((arm["name"] for arm in scenario["arms"] if arm.get("control")), None)
    from ..trials.scenario import load_trial_scenario

    follow_up = float(to_months(load_trial_scenario(scenario).follow_up_days))
    summary = summarize_tables(store.read("patients", exclude=UNREAD_COLUMNS), arms, control, follow_up,
                               store.failures())
    summary.update(name=scenario.get("name"), disease=scenario.get("disease"), seed=store.manifest.seed,
                   complete=store.is_complete(), chunks_done=len(store.completed_chunks()),
                   chunks=store.manifest.chunks, calibration=document.get("calibration", {}).get("source"))
    summary["model_status"] = model_status(summary["calibration"]).as_dict()
    prediction = store.folder / PREDICTION_FILE
    if prediction.is_file():  # written by rptici trial run --ensemble (rptici.analysis.ensemble.predict_run)
        document = json.loads(prediction.read_text(encoding="utf-8"))
        summary["prediction"] = {key: value for key, value in document.items() if key != "arms"}
        for row in summary["arms"]:
            row["prediction"] = document["arms"].get(row["arm"], {})
    return summary
