"""The self-contained HTML report of a virtual-trial run folder: scenario, dosimetry, efficacy, toxicity, failures.

Entry point: :func:`write_trial_report` (``rptici report DIR``; ``trial run`` calls it at the end). It reads the
run folder through :class:`~rptici.store.ResultStore` (tables ``patients``, ``assessments``, ``failures``) and the
scenario stored with the run, recomputes the statistics with :mod:`rptici.analysis` (Kaplan–Meier with
Greenwood CI, Cox hazard ratios, Clopper–Pearson response rates) and draws the figures of
:mod:`rptici.report.figures`. The dose table comes from
:func:`~rptici.radiobiology.regimen_dose.regimen_dose` at the disease's reference patient (the median of a
virtual population of the disease, :func:`reference_patient`).

Columns read from ``patients`` (absent columns leave their section out): ``patient``, ``arm``,
``best_response`` (RECIST label or code), ``best_percent_change``, ``psa50``, ``rpfs_days``/``rpfs_event`` or
``pfs_days``/``pfs_event``, ``os_days``/``os_event``, ``grade3plus_radiation|immune|both|any``, worst grade per
organ as ``max_grade_<organ>`` (or ``grade_<organ>``), optionally ``response_days``. From ``assessments``:
``patient``, ``arm``, ``time_days``, ``sum_diameters_mm``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .. import __version__
from ..analysis import cox_hazard_ratio, kaplan_meier, response_rate
from ..errors import InputError, RpticiError
from ..store import MANIFEST_NAME, ResultStore
from ..trials.endpoints import RESPONSE_LABELS, to_months
from . import figures
from .html import figure_to_data_uri, render_html

REPORT_NAME = "report.html"
#: ``status`` of a patient whose simulation failed (its row in ``patients`` has no endpoints).
FAILED_STATUS = "failed"
#: Where the scenario of a run may be stored, in order of preference (the manifest's ``scenario`` key last).
SCENARIO_FILES = ("scenario.yaml", "scenario.yml", "scenario.json")
#: Simulated-versus-reported rows of a registry replay, when the run folder holds them.
REPLAY_FILES = ("replay.json",)
#: At most this many patients per arm in the swimmer and spider plots (a readable figure, not a number of science).
SAMPLE_PER_ARM = 50
#: Size of the virtual population whose medians define the reference patient of a disease, and its seed.
REFERENCE_POPULATION = 400
REFERENCE_SEED = 0
#: Candidate (time, event) columns per endpoint, first present wins.
ENDPOINTS = {"rpfs": (("rpfs_days", "rpfs_event"),), "pfs": (("pfs_days", "pfs_event"),),
             "os": (("os_days", "os_event"),)}
ENDPOINT_TITLES = {"rpfs": "radiographic progression-free survival", "pfs": "progression-free survival",
                   "os": "overall survival"}
CAUSES = ("radiation", "immune", "both")


# -- reading a run ------------------------------------------------------------------------------------

@dataclass
class TrialRunData:
    """What a run folder holds, as plain tables and mappings."""

    folder: Path
    manifest: dict[str, Any]
    scenario: dict[str, Any]
    patients: pd.DataFrame
    assessments: pd.DataFrame
    failures: pd.DataFrame
    replay: list[dict[str, Any]] = field(default_factory=list)


def _scenario_mapping(value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return dict(value) if isinstance(value, Mapping) else {}


def load_run(folder: str | os.PathLike[str]) -> TrialRunData:
    """The tables, manifest, scenario and (for a registry replay) the replay rows of run ``folder``; patients
    whose simulation failed are left out of ``patients`` (they are listed in ``failures``)."""
    path = Path(folder)
    if not (path / MANIFEST_NAME).is_file():
        raise InputError("DIR", str(folder), f"a run folder written by 'rptici trial run' (with {MANIFEST_NAME})")
    store = ResultStore(path)
    manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    scenario: dict[str, Any] = {}
    for name in SCENARIO_FILES:
        if (path / name).is_file():
            scenario = _scenario_mapping(yaml.safe_load((path / name).read_text(encoding="utf-8")))
            break
    else:
        scenario = _scenario_mapping(manifest.get("scenario"))
    if isinstance(scenario.get("scenario"), Mapping):  # trials.run writes {"scenario": ..., "arm_counts": ...}
        scenario = _scenario_mapping(scenario["scenario"])
    patients = store.read("patients")
    if "status" in patients:  # failed patients keep a row with empty endpoints; they are in ``failures``
        patients = patients[patients["status"].astype(str) != FAILED_STATUS].reset_index(drop=True)
    replay: list[dict[str, Any]] = []
    for name in REPLAY_FILES:
        if (path / name).is_file():
            replay = replay_rows(json.loads((path / name).read_text(encoding="utf-8")))
    if not replay and "replay" in store.tables():
        replay = store.read("replay").to_dict("records")
    return TrialRunData(path.resolve(), manifest, scenario, patients, store.read("assessments"),
                        store.failures(), replay)


def replay_rows(replay: Any) -> list[dict[str, Any]]:
    """Simulated-versus-reported rows from a list of rows or from :func:`rptici.analysis.replay.compare`'s
    result (its ``endpoints``; ``rows`` is accepted too)."""
    if isinstance(replay, Mapping):
        replay = replay.get("endpoints") or replay.get("rows") or []
    return [dict(row) for row in replay or [] if isinstance(row, Mapping)]


# -- scenario in words ----------------------------------------------------------------------------------

def _words(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key.replace('_', ' ')} {_words(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(item) for item in value)
    return str(value)


def regimen_in_words(regimen: Mapping[str, Any] | None) -> str:
    """A regimen mapping (``kinetics.load_regimen`` format) as one sentence, quantities as written."""
    if not regimen:
        return "no active treatment (untreated tumour growth)"
    parts = []
    rpt = regimen.get("rpt")
    if rpt:
        step = f", {rpt['activity_step']} per cycle" if rpt.get("activity_step") else ""
        cycles = int(rpt.get("cycles", 1))
        every = f" every {rpt['interval']}" if rpt.get("interval") and cycles > 1 else ""
        parts.append(f"{rpt['agent']} {rpt['activity']}{step}{every}, {cycles} cycle{'s' if cycles != 1 else ''}")
    ici = regimen.get("ici")
    if ici:
        count = (f", {ici['infusions']} infusions" if ici.get("infusions") else
                 f" for {ici['duration']}" if ici.get("duration") else "")
        parts.append(f"{ici['agent']} {ici['dose']} every {ici['interval']}{count}")
    sequence = regimen.get("sequence") or {}
    order = sequence.get("order", "concurrent")
    if rpt and ici:
        timing = {"concurrent": "started together",
                  "ici_first": f"checkpoint inhibitor first, RPT {sequence.get('lead', '')} later",
                  "rpt_first": f"RPT first, checkpoint inhibitor {sequence.get('lag', '')} later"}
        parts.append(timing.get(order, order).replace("  ", " "))
    return "; ".join(parts)


def control_arm(scenario: Mapping[str, Any], arms: Sequence[str]) -> str | None:
    """The reference arm: the scenario's arm with ``control: true``, else the first arm."""
    for arm in scenario.get("arms", []) or []:
        if isinstance(arm, Mapping) and arm.get("control") and arm.get("name") in arms:
            return str(arm["name"])
    return arms[0] if arms else None


def scenario_summary(data: TrialRunData) -> dict[str, Any]:
    """The scenario in words: name, disease, arms with regimens and sizes, follow-up, assessments, seed."""
    scenario = data.scenario
    counts = data.patients["arm"].value_counts().to_dict() if "arm" in data.patients else {}
    arms = []
    for arm in scenario.get("arms", []) or []:
        if isinstance(arm, Mapping):
            arms.append({"name": arm.get("name", ""), "regimen": regimen_in_words(arm.get("regimen")),
                         "control": bool(arm.get("control")), "n": counts.get(arm.get("name"), 0)})
    if not arms:
        arms = [{"name": name, "regimen": "(regimen not stored with the run)", "control": False, "n": count}
                for name, count in counts.items()]
    known = {"name", "description", "arms", "disease", "follow_up", "assessments", "seed", "patients"}
    return {"name": scenario.get("name") or data.folder.name, "description": scenario.get("description", ""),
            "disease": scenario.get("disease", "–"), "arms": arms,
            "patients": data.manifest.get("patients", len(data.patients)),
            "follow_up": _words(scenario.get("follow_up", "–")),
            "assessments": _words(scenario.get("assessments", "–")),
            "seed": data.manifest.get("seed", scenario.get("seed", "–")),
            "other": {key: _words(value) for key, value in scenario.items() if key not in known},
            "created": data.manifest.get("created", ""), "rptici_version": data.manifest.get("rptici_version", "")}


# -- dosimetry at the reference patient -----------------------------------------------------------------

def reference_patient(disease: str | None) -> tuple[Any, str, str]:
    """(Covariates, sex, description) of the reference patient of ``disease``: the medians of a virtual
    population of :data:`REFERENCE_POPULATION` patients (seed :data:`REFERENCE_SEED`), with the median lesion
    count, each lesion at the median mass of its rank; the ICRP 89 reference adult male without lesions
    when the disease is unknown."""
    from ..kinetics.biokinetics import Covariates
    from ..population.distributions import known_diseases
    from ..population.sampling import sample_population

    if not disease or str(disease) not in known_diseases():
        return Covariates.reference("male"), "male", "ICRP 89 reference adult male, no lesions"
    population = sample_population(str(disease), REFERENCE_POPULATION, REFERENCE_SEED)
    sexes, counts = np.unique(population.sex, return_counts=True)
    sex = str(sexes[np.argmax(counts)])
    lesions = int(np.round(np.median(population.lesion_count)))
    masses = np.array([np.nanmedian(population.lesion_masses_g[:, rank]) for rank in range(lesions)])
    covariates = Covariates(float(np.median(population.weight_kg)), float(np.median(population.bsa_m2)),
                            float(np.median(population.gfr_mL_per_min)),
                            float(np.median(population.target_uptake_scale)), masses[None, :])
    description = (f"median {disease} patient of {REFERENCE_POPULATION} virtual patients: {sex}, "
                   f"{covariates.weight_kg[0]:.0f} kg, BSA {covariates.bsa_m2[0]:.2f} m², GFR "
                   f"{covariates.gfr_mL_per_min[0]:.0f} mL/min, target uptake ×{covariates.target_uptake_scale[0]:.2f}, "
                   f"{lesions} lesion{'s' if lesions != 1 else ''} of "
                   + ", ".join(f"{mass:.3g}" for mass in masses) + " g")
    return covariates, sex, description


def dose_rows(result: Any, patient: int = 0) -> list[dict[str, Any]]:
    """One row per organ and lesion of a :class:`~rptici.radiobiology.regimen_dose.RegimenDose`: dose (RBE-
    weighted, Gy), Gy/GBq, BED, EQD2 and every limit with the margin to it (limit − value; < 0 exceeded)."""
    rows = []
    for target, values in result.region_summary(patient).items():
        rows.append({"target": target, "tissue": values["tissue"], "mass_g": values["mass_g"],
                     "dose_Gy": values["rbe_weighted_dose_Gy"],
                     "gy_per_gbq": values["dose_per_activity_Gy_per_GBq"], "bed_Gy": values["bed_Gy"],
                     "eqd2_Gy": values["eqd2_Gy"], "limits": values["limits"],
                     "exceeded": any(limit["exceeded"] for limit in values["limits"])})
    return rows


def arm_dosimetry(scenario: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Per arm with a radiopharmaceutical: its dose table and time–activity figure at the reference patient."""
    from ..kinetics.regimen import load_regimen
    from ..radiobiology.regimen_dose import regimen_dose

    arms = [arm for arm in scenario.get("arms", []) or [] if isinstance(arm, Mapping)
            and isinstance(arm.get("regimen"), Mapping) and arm["regimen"].get("rpt")]
    if not arms:
        return [], ""
    covariates, sex, description = reference_patient(scenario.get("disease"))
    sections = []
    for arm in arms:
        try:
            result = regimen_dose(load_regimen(arm["regimen"]), covariates, sex=sex)
        except RpticiError as error:
            sections.append({"arm": arm.get("name", ""), "agent": None, "error": str(error)})
            continue
        body = [index for index, name in enumerate(result.compartments) if name not in result.excretion]
        figure = figures.time_activity_figure(
            result.times, {result.compartments[index]: result.activity_MBq[0, index] for index in body},
            result.administration_times, title=f"{arm.get('name', '')}: {result.agent}, reference patient")
        summary = result.summary(0)
        sections.append({"arm": arm.get("name", ""), "agent": result.agent, "nuclide": result.nuclide,
                         "total_GBq": float(result.total_activity_MBq[0]) / 1000.0,
                         "cycles": len(result.administration_times), "alpha_rbe": result.alpha_rbe,
                         "rows": dose_rows(result), "ici": summary.get("ici"),
                         "tac_figure": figure_to_data_uri(figure), "error": None})
    return sections, description


# -- efficacy -------------------------------------------------------------------------------------------

def endpoint_columns(patients: pd.DataFrame, endpoint: str) -> tuple[str, str] | None:
    """The (time in days, event) columns of ``endpoint`` ('rpfs', 'pfs', 'os') present with values, or None."""
    for time_column, event_column in ENDPOINTS[endpoint]:
        if {time_column, event_column} <= set(patients.columns) and patients[time_column].notna().any():
            return time_column, event_column
    return None


def risk_times_months(end_months: float, most: int = 8) -> np.ndarray:
    """Round tick times (0, step, 2 step, ...) up to ``end_months``, step from 1, 2, 3, 6, 12, 24 months."""
    for step in (1, 2, 3, 6, 12, 24, 48):
        if end_months / step <= most:
            break
    return np.arange(0.0, end_months + 1e-9, step)


def survival_section(patients: pd.DataFrame, endpoint: str, control: str | None) -> dict[str, Any] | None:
    """KM curves, medians (months, 95 % CI), numbers at risk and Cox HRs versus ``control`` for one endpoint."""
    columns = endpoint_columns(patients, endpoint)
    if columns is None or "arm" not in patients:
        return None
    time_column, event_column = columns
    frame = patients[patients[time_column].notna()]
    months = to_months(frame[time_column].to_numpy(float))
    events = frame[event_column].fillna(False).to_numpy(bool)
    arms = list(dict.fromkeys(frame["arm"].tolist()))
    ticks = risk_times_months(float(months.max()) if months.size else 1.0)
    curves, rows = {}, []
    for arm in arms:
        chosen = (frame["arm"] == arm).to_numpy()
        fit = kaplan_meier(months[chosen], events[chosen], label=arm)
        curves[arm] = {"time": np.concatenate([[0.0], fit.timeline]), "survival": np.concatenate([[1.0], fit.survival]),
                       "low": np.concatenate([[1.0], fit.survival_low]),
                       "high": np.concatenate([[1.0], fit.survival_high]), "at_risk": fit.at_risk(ticks),
                       "censored": months[chosen][~events[chosen]]}
        row = {"arm": arm, "n": int(chosen.sum()), "events": int(events[chosen].sum()), "median": _finite(fit.median),
               "median_low": _finite(fit.median_low), "median_high": _finite(fit.median_high), "hr": None}
        if control is not None and arm != control and control in arms and events.any():
            pair = frame["arm"].isin([arm, control]).to_numpy()
            row["hr"] = cox_hazard_ratio(months[pair], events[pair], frame["arm"].to_numpy()[pair], control)
        rows.append(row)
    figure = figures.kaplan_meier_figure(curves, ticks, title=ENDPOINT_TITLES[endpoint])
    return {"endpoint": endpoint, "title": ENDPOINT_TITLES[endpoint], "rows": rows, "control": control,
            "figure": figure_to_data_uri(figure)}


def _finite(value: float) -> float | None:
    """None for a median (or bound) that is not reached (NaN or inf)."""
    return float(value) if np.isfinite(value) else None


def response_labels(values: pd.Series) -> np.ndarray:
    """RECIST best responses as labels ('CR', ..., 'NE') whether stored as labels or codes 0–4."""
    if pd.api.types.is_numeric_dtype(values):
        codes = values.fillna(len(RESPONSE_LABELS) - 1).to_numpy(int)
        return np.asarray(RESPONSE_LABELS)[np.clip(codes, 0, len(RESPONSE_LABELS) - 1)]
    return values.fillna("NE").astype(str).str.upper().to_numpy()


def response_table(patients: pd.DataFrame) -> list[dict[str, Any]]:
    """Per arm: counts per RECIST best response and ORR (CR+PR) over patients with measurable disease (column
    ``measurable`` when present, else all), PSA50 over patients with a PSA value; exact Clopper–Pearson 95 % CI
    (as :func:`rptici.analysis.summary.summarize_tables`)."""
    if "arm" not in patients or "best_response" not in patients:
        return []
    rows = []
    for arm, frame in patients.groupby("arm", sort=False):
        evaluable = frame[frame["measurable"].fillna(False).astype(bool)] if "measurable" in frame else frame
        labels = response_labels(evaluable["best_response"])
        row: dict[str, Any] = {"arm": arm, "n": len(frame), "evaluable": len(evaluable),
                               "counts": {label: int(np.sum(labels == label)) for label in RESPONSE_LABELS}}
        row["responders"] = int(np.isin(labels, ("CR", "PR")).sum())
        row["orr"] = response_rate(row["responders"], len(evaluable)) if len(evaluable) else None
        row["psa50"] = None
        if "psa50" in frame and frame["psa50"].notna().any():
            values = frame["psa50"].dropna().astype(bool)
            row["psa50"] = response_rate(int(values.sum()), len(values))
            row["psa50_n"] = (int(values.sum()), len(values))
        rows.append(row)
    return rows


def sample_patients(patients: pd.DataFrame, per_arm: int = SAMPLE_PER_ARM) -> np.ndarray:
    """Patient indices for the swimmer and spider plots: at most ``per_arm`` per arm, evenly spaced over the
    arm's patients in index order (deterministic, independent of any random stream); sorted by index."""
    chosen = []
    for _, frame in patients.groupby("arm", sort=False):
        identifiers = np.sort(frame["patient"].to_numpy())
        if identifiers.size > per_arm:
            identifiers = identifiers[np.unique(np.round(np.linspace(0, identifiers.size - 1, per_arm)).astype(int))]
        chosen.append(identifiers)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)


def percent_change_long(assessments: pd.DataFrame) -> pd.DataFrame:
    """Per assessment: percentage change of the sum of diameters from the patient's first (baseline) one."""
    frame = assessments.dropna(subset=["sum_diameters_mm"]).sort_values(["patient", "time_days"], kind="stable")
    baseline = frame.groupby("patient")["sum_diameters_mm"].transform("first")
    frame = frame.assign(percent_change=np.where(baseline > 0, 100.0 * (frame["sum_diameters_mm"] / baseline - 1), np.nan),
                         time_months=to_months(frame["time_days"].to_numpy(float)))
    return frame[frame["percent_change"].notna()]


def efficacy_figures(data: TrialRunData, pfs_endpoint: str | None) -> dict[str, Any]:
    """Waterfall and spider per arm, and the swimmer plot of the sampled patients."""
    patients = data.patients
    result: dict[str, Any] = {"waterfalls": [], "spiders": [], "swimmer": None, "sampled": 0}
    if "arm" not in patients:
        return result
    labels = response_labels(patients["best_response"]) if "best_response" in patients else \
        np.full(len(patients), "NE")
    response_of = dict(zip(patients["patient"].tolist(), labels.tolist()))
    if "best_percent_change" in patients:
        for arm in dict.fromkeys(patients["arm"]):
            chosen = (patients["arm"] == arm).to_numpy()
            figure = figures.waterfall_figure(patients["best_percent_change"].to_numpy(float)[chosen],
                                              labels[chosen], title=f"{arm}: best change of the sum of diameters")
            result["waterfalls"].append({"arm": arm, "figure": figure_to_data_uri(figure)})
    sample = sample_patients(patients)
    result["sampled"] = int(sample.size)
    long = None
    if {"patient", "time_days", "sum_diameters_mm"} <= set(data.assessments.columns) and len(data.assessments):
        long = percent_change_long(data.assessments)
        long = long[long["patient"].isin(sample)]
        arm_of = dict(zip(patients["patient"], patients["arm"]))
        for arm in dict.fromkeys(patients["arm"]):
            rows = long[long["patient"].map(arm_of) == arm]
            if len(rows):
                figure = figures.spider_figure(rows["time_months"].to_numpy(), rows["percent_change"].to_numpy(),
                                               rows["patient"].to_numpy(), response_of,
                                               title=f"{arm}: {rows['patient'].nunique()} sampled patients")
                result["spiders"].append({"arm": arm, "figure": figure_to_data_uri(figure)})
    os_columns = endpoint_columns(patients, "os")
    if os_columns is not None:
        frame = patients[patients["patient"].isin(sample)]
        follow_up = to_months(frame[os_columns[0]].to_numpy(float))
        death = frame[os_columns[1]].fillna(False).to_numpy(bool)
        progression = np.full(len(frame), np.nan)
        if pfs_endpoint is not None:
            time_column, event_column = endpoint_columns(patients, pfs_endpoint)
            progressed = frame[event_column].fillna(False).to_numpy(bool)
            progression = np.where(progressed, to_months(frame[time_column].to_numpy(float)), np.nan)
            # a PFS event at the time of death is death, not progression
            progression = np.where(death & np.isclose(progression, follow_up), np.nan, progression)
        response_time = _response_months(frame, long, labels=np.array([response_of[p] for p in frame["patient"]]))
        figure = figures.swimmer_figure(follow_up, frame["arm"].astype(str).to_numpy(), response_time, progression,
                                        death, title=f"{len(frame)} patients (at most {SAMPLE_PER_ARM} per arm)")
        result["swimmer"] = figure_to_data_uri(figure)
    return result


def _response_months(frame: pd.DataFrame, long: pd.DataFrame | None, labels: np.ndarray) -> np.ndarray:
    """Time of the first response: ``response_days`` when stored, else the first assessment at or below the
    RECIST partial-response line for patients whose best response is CR or PR."""
    if "response_days" in frame:
        return to_months(frame["response_days"].to_numpy(float))
    result = np.full(len(frame), np.nan)
    if long is None:
        return result
    line, _ = figures.recist_thresholds_percent()
    below = long[long["percent_change"] <= line].groupby("patient")["time_months"].min()
    for row, (identifier, label) in enumerate(zip(frame["patient"], labels)):
        if label in ("CR", "PR") and identifier in below.index:
            result[row] = below[identifier]
    return result


# -- toxicity and failures ------------------------------------------------------------------------------

def grade_columns(patients: pd.DataFrame) -> dict[str, str]:
    """Organ category → column of its worst grade (``max_grade_<organ>`` or ``grade_<organ>``)."""
    result = {}
    for column in patients.columns:
        for prefix in ("max_grade_", "grade_"):
            if column.startswith(prefix) and not column.startswith("grade3plus"):
                result.setdefault(column[len(prefix):], column)
    return result


def toxicity_section(patients: pd.DataFrame) -> dict[str, Any] | None:
    """Per arm: grade ≥ 3 rate by attributed cause with exact CI, fractions by worst grade per organ, figure."""
    columns = grade_columns(patients)
    causes = [cause for cause in CAUSES if f"grade3plus_{cause}" in patients]
    if "arm" not in patients or (not columns and not causes):
        return None
    arms = list(dict.fromkeys(patients["arm"].tolist()))
    organs = list(columns)
    grade_fraction = np.zeros((len(arms), len(organs), 5))
    cause_fraction = np.zeros((len(arms), len(causes)))
    rows = []
    for index, arm in enumerate(arms):
        frame = patients[patients["arm"] == arm]
        for column, organ in enumerate(organs):
            grades = frame[columns[organ]].fillna(0).to_numpy(int)
            grade_fraction[index, column] = [np.mean(grades == grade) for grade in range(1, 6)]
        row = {"arm": arm, "n": len(frame), "causes": {}}
        for column, cause in enumerate(causes):
            count = int(frame[f"grade3plus_{cause}"].fillna(False).astype(bool).sum())
            cause_fraction[index, column] = count / len(frame)
            row["causes"][cause] = (count, *response_rate(count, len(frame)))
        if "grade3plus_any" in frame:
            any_flag = frame["grade3plus_any"].fillna(False).astype(bool)
        elif causes:
            any_flag = frame[[f"grade3plus_{cause}" for cause in causes]].fillna(False).astype(bool).any(axis=1)
        else:
            any_flag = (frame[list(columns.values())].fillna(0) >= 3).any(axis=1)
        row["any"] = (int(any_flag.sum()), *response_rate(int(any_flag.sum()), len(frame)))
        row["worst"] = {organ: int((frame[columns[organ]].fillna(0) >= 3).sum()) for organ in organs}
        rows.append(row)
    figure = figures.toxicity_figure(arms, organs, grade_fraction, cause_fraction, causes)
    return {"rows": rows, "causes": causes, "organs": organs, "figure": figure_to_data_uri(figure)}


def failure_section(data: TrialRunData) -> dict[str, Any]:
    """Number of patients whose simulation failed, and the count per reason."""
    failures = data.failures
    reasons = failures["reason"].astype(str).value_counts().to_dict() if len(failures) else {}
    total = int(data.manifest.get("patients", len(data.patients) + len(failures)))
    return {"count": int(len(failures)), "total": total, "reasons": reasons}


# -- the report -----------------------------------------------------------------------------------------

def trial_report_context(data: TrialRunData) -> dict[str, Any]:
    """Everything the template shows, computed from a loaded run."""
    patients = data.patients
    arms = list(dict.fromkeys(patients["arm"].tolist())) if "arm" in patients else []
    control = control_arm(data.scenario, arms)
    pfs_endpoint = next((name for name in ("rpfs", "pfs") if endpoint_columns(patients, name)), None)
    survival = [section for name in (pfs_endpoint, "os") if name
                for section in [survival_section(patients, name, control)] if section]
    dosimetry, reference = arm_dosimetry(data.scenario)
    replay_columns = list(dict.fromkeys(key for row in data.replay for key in row))
    return {"scenario": scenario_summary(data), "control": control, "dosimetry": dosimetry,
            "reference_patient": reference, "survival": survival, "responses": response_table(patients),
            "response_labels": RESPONSE_LABELS, "efficacy": efficacy_figures(data, pfs_endpoint),
            "toxicity": toxicity_section(patients), "failures": failure_section(data),
            "replay": data.replay, "replay_columns": replay_columns, "sample_per_arm": SAMPLE_PER_ARM,
            "version": __version__, "folder": str(data.folder)}


def write_trial_report(folder: str | os.PathLike[str], path: str | os.PathLike[str] | None = None, *,
                       replay: Any = None) -> Path:
    """Write the self-contained HTML report of run ``folder`` to ``path`` (default ``folder/report.html``).

    ``replay``: simulated-versus-reported rows (or :func:`rptici.analysis.replay.compare`'s result) to show
    instead of any ``replay.json`` in the folder."""
    data = load_run(folder)
    if replay is not None:
        data.replay = replay_rows(replay)
    target = Path(path) if path is not None else data.folder / REPORT_NAME
    return render_html("trial_report.html", target, **trial_report_context(data))
