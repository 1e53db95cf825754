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
from .response import paired_difference, response_rate
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
    return curve_from_fit(kaplan_meier(to_months(times_days), events), horizon_months)


def curve_from_fit(fit: Any, horizon_months: float) -> dict[str, Any]:
    """The summary's curve of a Kaplan–Meier fit in months (:class:`~rptici.analysis.survival.KaplanMeier` or
    :class:`~rptici.analysis.aggregate.CountedKaplanMeier`): grid, band, numbers at risk, median with CI."""
    grid = np.arange(0.0, horizon_months + 1e-9, CURVE_STEP_MONTHS)
    survival, low, high = fit.survival_at(grid)
    at_risk_times = np.arange(0.0, horizon_months + 1e-9, AT_RISK_STEP_MONTHS)
    return {"time_months": grid.tolist(), "survival": survival.tolist(), "low": low.tolist(), "high": high.tolist(),
            "at_risk": {"time_months": at_risk_times.tolist(), "n": fit.at_risk(at_risk_times).tolist()},
            "median": _number(fit.median), "median_ci": [_number(fit.median_low), _number(fit.median_high)],
            "fit": fit}


class TrialStatistics:
    """The estimators endpoints summarise with (:class:`rptici.trials.endpoint_registry.Statistics`): exact
    Clopper–Pearson rate, paired difference of rates, Kaplan–Meier curve in months, Cox hazard ratio (days; the
    ratio has no unit)."""

    rate = staticmethod(response_rate)
    paired_difference = staticmethod(paired_difference)
    survival = staticmethod(survival_curve)
    hazard_ratio = staticmethod(cox_hazard_ratio)


STATISTICS = TrialStatistics()


def summarize_tables(patients: pd.DataFrame, arms: Sequence[str] | None = None, control: str | None = None,
                     follow_up_months: float | None = None, failures: pd.DataFrame | None = None,
                     keep_fits: bool = False,
                     time_to_event: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any] | None]]] | None = None,
                     paired: bool = False) -> dict[str, Any]:
    """The summary dictionary (see the module docstring) of a ``patients`` table: per arm ``n``, ``failed``,
    ``control`` and what each registered endpoint gives (:func:`rptici.trials.endpoint_registry.endpoints`);
    ``km[endpoint][arm]`` the Kaplan–Meier curves (with their lifelines fit when ``keep_fits``).
    ``time_to_event[endpoint][arm]``: (values, curve) computed elsewhere (from the store's event tables,
    :func:`time_to_event_from_store`), used instead of the per-patient estimators (the table need not hold those
    endpoints' time columns). ``paired``: a paired trial (scenario ``allocation: paired``, every patient in every
    arm, rows in turn), whose rates also get their paired difference from the control arm."""
    arms = list(arms) if arms is not None else list(dict.fromkeys(patients["arm"]))
    valid = patients[patients["status"] == "ok"] if "status" in patients.columns else patients
    time_to_event = time_to_event or {}
    present = [item for item in endpoints() if item.name in time_to_event or item.available(valid)]
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
        data = ArmData(arm, group, valid, control, follow_up_months, STATISTICS, len(arms) if paired else 1)
        for item in present:
            values, curve = time_to_event[item.name][arm] if item.name in time_to_event else item.summarise(data)
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
                "tumour_dose_Gy": ("lesion", "dose", "tumour dose (RBE-weighted)")}


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


#: Runs of at least this many patients are summarised through event tables (:func:`time_to_event_from_store`).
AGGREGATE_FROM = 100_000


def time_to_event_from_store(store: Any, arms: Sequence[str], control: str | None, horizon_months: float
                             ) -> dict[str, dict[str, tuple[dict[str, Any], dict[str, Any] | None]]]:
    """Per time-to-event endpoint the store holds, per arm: the values and curve of
    :meth:`rptici.trials.endpoint_registry.TimeToEvent.summarise`, from DuckDB ``GROUP BY arm, time`` tables over
    the Parquet chunks (:mod:`rptici.analysis.aggregate`: Kaplan–Meier exact; Cox with Efron ties exact and
    converged to machine precision), so that no per-patient column is held."""
    from .aggregate import EventCounts, cox_counts, event_counts_from_store, kaplan_meier_counts
    from ..trials.endpoints import days_per_month

    with store.database() as connection:
        columns = {row[0] for row in connection.execute("DESCRIBE patients").fetchall()}
        result: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any] | None]]] = {}
        for item in endpoints():
            if not isinstance(item, TimeToEvent) or not set(item.columns) <= columns:
                continue
            counts = {arm: table.scaled(days_per_month()) for arm, table in
                      event_counts_from_store(connection, item.time_column, item.event_column).items()}
            name, per_arm = item.name, {}
            for arm in arms:
                table: EventCounts | None = counts.get(arm)
                values: dict[str, Any] = {f"median_{name}_months": None, f"median_{name}_ci": [None, None],
                                          f"{name}_events": 0 if table is None else int(table.events.sum())}
                curve = None
                if table is not None:
                    curve = curve_from_fit(kaplan_meier_counts(table), horizon_months)
                    values[f"median_{name}_months"], values[f"median_{name}_ci"] = curve["median"], curve["median_ci"]
                if item.hazard_ratio:
                    values[f"hr_{name}"] = values[f"hr_{name}_p"] = None
                    reference = counts.get(control) if control is not None else None
                    if table is not None and reference is not None and arm != control and \
                            table.events.sum() + reference.events.sum() > 0:
                        fit = cox_counts(table, reference)
                        values[f"hr_{name}"] = [_number(fit.hazard_ratio), _number(fit.low), _number(fit.high)]
                        values[f"hr_{name}_p"] = _number(fit.p)
                per_arm[arm] = (values, curve)
            result[name] = per_arm
    return result


def summarize(folder: str | Path, aggregate: bool | None = None) -> dict[str, Any]:
    """Summary of the run in ``folder`` (completed chunks only; ``complete`` says whether all are done).

    ``aggregate`` (default: runs of :data:`AGGREGATE_FROM` patients or more): time-to-event endpoints from the
    store's event tables (:func:`time_to_event_from_store`) instead of lifelines on the per-patient rows; the two
    agree to the precision of lifelines' Cox convergence (``tests/analysis/test_aggregate.py``)."""
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
    if aggregate is None:
        aggregate = store.manifest.patients >= AGGREGATE_FROM
    time_to_event, unread = None, UNREAD_COLUMNS
    if aggregate:
        time_to_event = time_to_event_from_store(store, arms, control, follow_up)
        unread = unread | {item.time_column for item in endpoints() if isinstance(item, TimeToEvent)}
    summary = summarize_tables(store.read("patients", exclude=unread), arms, control, follow_up,
                               store.failures(), time_to_event=time_to_event,
                               paired=scenario.get("allocation") == "paired")
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
