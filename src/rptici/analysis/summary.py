"""Summary of a virtual trial: per arm response, PSA50, medians, hazard ratios against the control arm,
grade ≥ 3 toxicity by cause, and Kaplan–Meier curves with numbers at risk.

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

from ..trials.endpoints import to_months
from .response import response_rate
from .survival import cox_hazard_ratio, kaplan_meier

#: Endpoints with a Kaplan–Meier curve: column prefix → name in the summary.
SURVIVAL_ENDPOINTS = {"pfs": "pfs", "os": "os", "psa_pfs": "psa_pfs"}
CAUSES = ("radiation", "immune", "both", "any")
#: Grid of the reported KM curves (months) and of the numbers at risk.
CURVE_STEP_MONTHS = 0.25
AT_RISK_STEP_MONTHS = 3.0


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _rate(flags: pd.Series) -> dict[str, Any]:
    values = flags.astype(bool).to_numpy()
    if values.size == 0:
        return {"rate": None, "ci": [None, None], "n": 0}
    estimate, low, high = response_rate(int(values.sum()), int(values.size))
    return {"rate": estimate, "ci": [low, high], "n": int(values.size)}


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


def landmark(curve: dict[str, Any], months: float) -> float | None:
    """S(months) of a :func:`survival_curve` result (None beyond its follow-up)."""
    grid = np.asarray(curve["time_months"])
    if months > grid[-1] + 1e-9:
        return None
    return float(curve["fit"].survival_at([months])[0][0])


def summarize_tables(patients: pd.DataFrame, arms: Sequence[str] | None = None, control: str | None = None,
                     follow_up_months: float | None = None, failures: pd.DataFrame | None = None,
                     keep_fits: bool = False) -> dict[str, Any]:
    """The summary dictionary (see the module docstring) of a ``patients`` table."""
    arms = list(arms) if arms is not None else list(dict.fromkeys(patients["arm"]))
    valid = patients[patients["status"] == "ok"] if "status" in patients.columns else patients
    if follow_up_months is None:
        follow_up_months = float(to_months(valid[["pfs_days", "os_days"]].max().max())) if len(valid) else 0.0
    has_psa = "psa50" in valid.columns and valid.get("psa50") is not None and \
        bool(np.isfinite(valid.get("psa_ng_per_mL", pd.Series([np.nan]))).any())
    endpoints = [name for name in SURVIVAL_ENDPOINTS if f"{name}_days" in valid.columns
                 and (name != "psa_pfs" or has_psa)]
    km: dict[str, dict[str, Any]] = {name: {} for name in endpoints}
    rows = []
    for arm in arms:
        group = valid[valid["arm"] == arm]
        failed_count = int(((patients["arm"] == arm) & (patients.get("status", "ok") != "ok")).sum()) \
            if "status" in patients.columns else 0
        row: dict[str, Any] = {"arm": arm, "n": int(len(group)), "failed": failed_count, "control": arm == control}
        measurable = group[group["measurable"].astype(bool)] if "measurable" in group.columns else group
        orr = _rate(measurable["objective_response"]) if len(measurable) else _rate(pd.Series([], dtype=bool))
        row.update(orr=orr["rate"], orr_ci=orr["ci"], orr_evaluable=orr["n"])
        if has_psa:
            psa = _rate(group["psa50"])
            row.update(psa50=psa["rate"], psa50_ci=psa["ci"])
        for name in endpoints:
            if len(group) == 0:
                row[f"median_{name}_months"], row[f"median_{name}_ci"] = None, [None, None]
                continue
            curve = survival_curve(group[f"{name}_days"].to_numpy(float), group[f"{name}_event"].to_numpy(bool),
                                   follow_up_months)
            row[f"median_{name}_months"], row[f"median_{name}_ci"] = curve["median"], curve["median_ci"]
            km[name][arm] = curve if keep_fits else {key: value for key, value in curve.items() if key != "fit"}
        for name in ("pfs", "os"):
            row[f"hr_{name}"] = None
            if control is not None and arm != control and len(group) and f"{name}_days" in valid.columns:
                pair = valid[valid["arm"].isin([arm, control])]
                if pair["arm"].nunique() == 2 and pair[f"{name}_event"].any():
                    estimate, low, high, _ = cox_hazard_ratio(pair[f"{name}_days"].to_numpy(float),
                                                              pair[f"{name}_event"].to_numpy(bool),
                                                              pair["arm"].to_numpy(), control)
                    row[f"hr_{name}"] = [_number(estimate), _number(low), _number(high)]
        row["grade3plus_rate"] = {cause: (float(group[f"grade3plus_{cause}"].mean()) if len(group) else None)
                                  for cause in CAUSES if f"grade3plus_{cause}" in group.columns}
        rows.append(row)
    summary = {"arms": rows, "control": control, "patients": int(len(patients)), "failed": int(len(patients) - len(valid)),
               "follow_up_months": follow_up_months, "km": km}
    if failures is not None and len(failures):
        summary["failure_reasons"] = failures["reason"].value_counts().head(10).to_dict()
    return summary


def summarize(folder: str | Path) -> dict[str, Any]:
    """Summary of the run in ``folder`` (completed chunks only; ``complete`` says whether all are done)."""
    from ..store import ResultStore

    store = ResultStore(folder)
    document = json.loads((store.folder / "scenario.json").read_text(encoding="utf-8"))
    scenario = document["scenario"]
    arms = [arm["name"] for arm in scenario["arms"]]
    control = next((arm["name"] for arm in scenario["arms"] if arm.get("control")), None)
    from ..trials.scenario import load_trial_scenario

    follow_up = float(to_months(load_trial_scenario(scenario).follow_up_days))
    summary = summarize_tables(store.read("patients"), arms, control, follow_up, store.failures())
    summary.update(name=scenario.get("name"), disease=scenario.get("disease"), seed=store.manifest.seed,
                   complete=store.is_complete(), chunks_done=len(store.completed_chunks()),
                   chunks=store.manifest.chunks, calibration=document.get("calibration", {}).get("source"))
    return summary
