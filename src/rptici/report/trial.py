"""The self-contained HTML report of a virtual-trial run folder: scenario, dosimetry, efficacy, toxicity, failures.

Entry point: :func:`write_trial_report` (``rptici report DIR`` and ``rptici trial summary DIR --html``). It
reads the run folder through :class:`~rptici.store.ResultStore` and renders: the per-arm statistics of
:func:`rptici.analysis.summary.summarize_tables` (every registered endpoint: response rates with exact CI,
Kaplan–Meier curves, medians and Cox hazard ratios, toxicity by cause), the dose tables of
:func:`rptici.analysis.dosimetry.arm_dosimetry` at the disease's reference patient, and per-patient figures
(waterfall, swimmer, spider) drawn by :mod:`rptici.report.figures`. Nothing here samples or computes a statistic.
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
from ..analysis.dosimetry import arm_dosimetry
from ..analysis.status import model_status
from ..analysis.summary import summarize_tables
from ..errors import InputError, RpticiError
from ..population import load_disease
from ..store import MANIFEST_NAME, ResultStore
from ..trials.endpoint_registry import Rate, TimeToEvent, endpoint, endpoints, summary_rows
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
#: Attributed causes shown beside "any" in the toxicity table.
CAUSES = ("radiation", "immune", "both", "disease")  # disease: background events (a standard of care)
#: At most this many numbers-at-risk columns under a Kaplan–Meier figure.
RISK_COLUMNS = 9


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
    calibration: str | None = None


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
    if not store.completed_chunks():
        raise InputError("DIR", str(folder), "a run folder with at least one finished chunk of patients "
                                              "(run 'rptici trial run SCENARIO --out DIR' to finish it)")
    manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    scenario: dict[str, Any] = {}
    for name in SCENARIO_FILES:
        if (path / name).is_file():
            scenario = _scenario_mapping(yaml.safe_load((path / name).read_text(encoding="utf-8")))
            break
    else:
        scenario = _scenario_mapping(manifest.get("scenario"))
    if isinstance(scenario.get("scenario"), Mapping):  # trials.run writes {"scenario": ..., "calibration": ...}
        scenario = _scenario_mapping(scenario["scenario"])
    written = path / "scenario.json"
    calibration = (json.loads(written.read_text(encoding="utf-8")).get("calibration") or {}).get("source") \
        if written.is_file() else "unknown"
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
                        store.failures(), replay, calibration)


def replay_rows(replay: Any) -> list[dict[str, Any]]:
    """Simulated-versus-reported rows from a list of rows or from :func:`rptici.analysis.replay.compare`'s
    result (its ``endpoints``; ``rows`` is accepted too)."""
    if isinstance(replay, Mapping):
        replay = replay.get("endpoints") or replay.get("rows") or []
    return [dict(row) for row in replay or [] if isinstance(row, Mapping)]


# -- scenario in words ----------------------------------------------------------------------------------

def _empty(value: Any) -> bool:
    """Nothing to show: None, an empty string, list or mapping (or a mapping of only such values)."""
    if isinstance(value, Mapping):
        return all(_empty(item) for item in value.values())
    return value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0)


def _words(value: Any) -> str:
    """A scenario value for people: mappings as "key value, …" without the empty entries, lists joined,
    booleans as yes/no."""
    if isinstance(value, Mapping):
        return ", ".join(f"{str(key).replace('_', ' ')} {_words(item)}" for key, item in value.items()
                         if not _empty(item))
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _disease_title(name: Any) -> str:
    """The population's title (``data/populations/<name>.yaml``), else the name as stored."""
    try:
        return load_disease(str(name)).title
    except RpticiError:
        return str(name)


def regimen_in_words(regimen: Mapping[str, Any] | None) -> str:
    """A regimen mapping (``kinetics.load_regimen`` format) as one sentence, quantities as written."""
    if not regimen:
        return "no active treatment (untreated tumour growth)"
    parts = []
    rpt = regimen.get("rpt")
    if rpt:
        step = f", {rpt['activity_step']} per cycle" if rpt.get("activity_step") else ""
        if rpt.get("activity_factor") is not None:
            step = f", each cycle {float(rpt['activity_factor']):.0%} of the one before"
        cycles = int(rpt.get("cycles", 1))
        every = f" every {rpt['interval']}" if rpt.get("interval") and cycles > 1 else ""
        parts.append(f"{rpt['agent']} {rpt['activity']}{step}{every}, {cycles} cycle{'s' if cycles != 1 else ''}")
    ici = regimen.get("ici")
    for schedule in (ici if isinstance(ici, (list, tuple)) else [ici] if ici else []):  # one schedule or phases
        count = (f", {schedule['infusions']} infusions" if schedule.get("infusions") else
                 f" for {schedule['duration']}" if schedule.get("duration") else "")
        start = f" from {schedule['start']}" if schedule.get("start") else ""
        parts.append(f"{schedule['agent']} {schedule['dose']} every {schedule['interval']}{count}{start}")
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
            "disease": _disease_title(scenario["disease"]) if scenario.get("disease") else "–", "arms": arms,
            "patients": data.manifest.get("patients", len(data.patients)),
            "follow_up": _words(scenario.get("follow_up", "–")),
            "assessments": _words(scenario.get("assessments", "–")),
            "seed": data.manifest.get("seed", scenario.get("seed", "–")),
            "other": {key.replace("_", " "): _words(value) for key, value in scenario.items()
                      if key not in known and not _empty(value)},
            "created": data.manifest.get("created", ""), "rptici_version": data.manifest.get("rptici_version", "")}


# -- dosimetry at the reference patient -----------------------------------------------------------------

def dosimetry_sections(scenario: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The dose table and time–activity figure of each arm with a radiopharmaceutical
    (:func:`rptici.analysis.dosimetry.arm_dosimetry`), and the reference patient in words."""
    sections, description = arm_dosimetry(scenario)
    rendered = []
    for section in sections:
        item = dict(vars(section), tac_figure=None)
        if section.error is None:
            figure = figures.time_activity_figure(section.times, section.activity_MBq, section.administration_times,
                                                  title=f"{section.arm}: {section.agent}, reference patient")
            item["tac_figure"] = figure_to_data_uri(figure)
        rendered.append(item)
    return rendered, description


# -- efficacy -------------------------------------------------------------------------------------------

def present_columns(patients: pd.DataFrame, name: str) -> tuple[str, ...] | None:
    """The columns of registered endpoint ``name`` when the table holds them with values, else None."""
    columns = endpoint(name).columns
    if set(columns) <= set(patients.columns) and patients[columns[0]].notna().any():
        return columns
    return None


def thinned_risk_times(at_risk: Mapping[str, Sequence[float]], most: int = RISK_COLUMNS) -> np.ndarray:
    """Indices of the summary's numbers-at-risk times to print: every k-th (k = 1, 2, 4, …) so that at most
    ``most`` columns remain."""
    count = len(at_risk["time_months"])
    stride = 1
    while (count - 1) // stride + 1 > most:
        stride *= 2
    return np.arange(0, count, stride)


def _censored_months(curve: Mapping[str, Any]) -> np.ndarray:
    """Censoring times (months) of a curve summarised with its fit (``keep_fits``), for the '+' marks of the plot
    (issue 19, item 6: the report's Kaplan–Meier curves had none); empty without the fit."""
    fit = curve.get("fit")
    return np.zeros(0) if fit is None else np.asarray(fit.durations, float)[~np.asarray(fit.events, bool)]


def survival_sections(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per time-to-event endpoint of the summary: its Kaplan–Meier figure and the table of medians and hazard
    ratios (with Wald p) against the control arm."""
    sections = []
    rows_of = {row["arm"]: row for row in summary["arms"]}
    for item in endpoints():
        curves = summary["km"].get(item.name) if isinstance(item, TimeToEvent) else None
        if not curves:
            continue
        first = next(iter(curves.values()))
        chosen = thinned_risk_times(first["at_risk"])
        ticks = np.asarray(first["at_risk"]["time_months"])[chosen]
        drawn = {arm: {"time": curve["time_months"], "survival": curve["survival"], "low": curve["low"],
                       "high": curve["high"], "at_risk": np.asarray(curve["at_risk"]["n"])[chosen],
                       "censored": _censored_months(curve)}
                 for arm, curve in curves.items()}
        rows = []
        for arm in curves:
            row = rows_of[arm]
            low, high = row[f"median_{item.name}_ci"]
            ratio = row.get(f"hr_{item.name}")
            rows.append({"arm": arm, "n": row["n"], "events": row[f"{item.name}_events"],
                         "median": row[f"median_{item.name}_months"], "median_low": low, "median_high": high,
                         "hr": None if not ratio else [*ratio, row.get(f"hr_{item.name}_p")]})
        title = item.label[:1].upper() + item.label[1:]
        figure = figures.kaplan_meier_figure(drawn, ticks, title=title)
        sections.append({"endpoint": item.name, "title": title, "rows": rows, "control": summary["control"],
                         "figure": figure_to_data_uri(figure)})
    return sections


def endpoint_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per value of each registered endpoint that the summary holds (as the dashboard's table):
    words, kind, and per arm the value with its interval."""
    rows = []
    for key, label, kind, interval in summary_rows():
        if not any(row.get(key) is not None for row in summary["arms"]):
            continue
        rows.append({"key": key, "label": label, "kind": kind,
                     "cells": [(row.get(key), row.get(interval) if interval else None) for row in summary["arms"]]})
    return rows


def response_table(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Per arm: counts per RECIST best response among the evaluable (measurable) patients, and every registered
    rate endpoint (ORR, PSA50, …) the summary holds with its exact CI, as [rate, low, high] or None."""
    rates = [item for item in endpoints() if isinstance(item, Rate)
             and any(row.get(item.name) is not None for row in summary["arms"])]
    rows = [{"arm": row["arm"], "n": row["n"], "evaluable": row.get("orr_evaluable", row["n"]),
             "counts": row["orr_breakdown"],
             "rates": [None if row.get(item.name) is None else [row[item.name], *row[f"{item.name}_ci"]]
                       for item in rates]}
            for row in summary["arms"] if "orr_breakdown" in row]
    return {"rows": rows, "rates": [item.short for item in rates]}


def response_labels(values: pd.Series) -> np.ndarray:
    """RECIST best responses as labels ('CR', ..., 'NE') whether stored as labels or codes 0–4."""
    if pd.api.types.is_numeric_dtype(values):
        codes = values.fillna(len(RESPONSE_LABELS) - 1).to_numpy(int)
        return np.asarray(RESPONSE_LABELS)[np.clip(codes, 0, len(RESPONSE_LABELS) - 1)]
    return values.fillna("NE").astype(str).str.upper().to_numpy()


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


def efficacy_figures(data: TrialRunData) -> dict[str, Any]:
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
    os_columns = present_columns(patients, "os")
    pfs_columns = present_columns(patients, "pfs")
    if os_columns is not None:
        frame = patients[patients["patient"].isin(sample)]
        follow_up = to_months(frame[os_columns[0]].to_numpy(float))
        death = frame[os_columns[1]].fillna(False).to_numpy(bool)
        progression = np.full(len(frame), np.nan)
        if pfs_columns is not None:
            time_column, event_column = pfs_columns
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

def toxicity_section(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per arm: grade ≥ 3 counts and rates by attributed cause with exact CI, patients with a worst grade ≥ 3 per
    organ, and the figure of the worst-grade fractions, as the summary gives them."""
    arms = [row for row in summary["arms"] if row.get("grade3plus_count")]
    if not arms:
        return None
    causes = [cause for cause in CAUSES if cause in arms[0]["grade3plus_count"]]
    organs = list(arms[0].get("max_grade_fraction") or {})

    def cell(row: Mapping[str, Any], cause: str) -> tuple[Any, ...]:
        return (row["grade3plus_count"][cause], row["grade3plus_rate"][cause], *row["grade3plus_ci"][cause])

    rows = [{"arm": row["arm"], "n": row["n"], "any": cell(row, "any"),
             "causes": {cause: cell(row, cause) for cause in causes},
             "worst": row.get("grade3plus_by_organ") or {}} for row in arms]
    grade_fraction = np.array([[row["max_grade_fraction"][organ] for organ in organs] for row in arms], dtype=float)
    cause_fraction = np.array([[row["grade3plus_rate"][cause] for cause in causes] for row in arms], dtype=float)
    figure = figures.toxicity_figure([row["arm"] for row in arms], organs,
                                     grade_fraction.reshape(len(arms), len(organs), 5), cause_fraction, causes)
    return {"rows": rows, "causes": causes, "organs": organs, "figure": figure_to_data_uri(figure)}


def failure_section(data: TrialRunData) -> dict[str, Any]:
    """Number of patients whose simulation failed, and the count per reason."""
    failures = data.failures
    reasons = failures["reason"].astype(str).value_counts().to_dict() if len(failures) else {}
    total = int(data.manifest.get("patients", len(data.patients) + len(failures)))
    return {"count": int(len(failures)), "total": total, "reasons": reasons}


# -- the report -----------------------------------------------------------------------------------------

def trial_report_context(data: TrialRunData) -> dict[str, Any]:
    """Everything the template shows: the run's summary (:func:`rptici.analysis.summary.summarize_tables`) and
    dosimetry (:func:`rptici.analysis.dosimetry.arm_dosimetry`), rendered into tables and figures."""
    patients, store = data.patients, ResultStore(data.folder)
    arms = list(dict.fromkeys(patients["arm"].tolist())) if "arm" in patients else []
    control = control_arm(data.scenario, arms)
    paired = data.scenario.get("allocation") == "paired"
    summary = summarize_tables(patients, arms, control, keep_fits=True, paired=paired) if arms else \
        {"arms": [], "km": {}, "control": control}
    dosimetry, reference = dosimetry_sections(data.scenario)
    replay_columns = list(dict.fromkeys(key for row in data.replay for key in row))
    return {"scenario": scenario_summary(data), "control": control, "dosimetry": dosimetry,
            "reference_patient": reference, "survival": survival_sections(summary),
            "arms": [row["arm"] for row in summary["arms"]], "endpoint_rows": endpoint_rows(summary),
            "responses": response_table(summary), "response_labels": RESPONSE_LABELS,
            "efficacy": efficacy_figures(data), "toxicity": toxicity_section(summary),
            "failures": failure_section(data), "replay": data.replay, "replay_columns": replay_columns,
            "sample_per_arm": SAMPLE_PER_ARM, "version": __version__, "folder": str(data.folder),
            "model_status": model_status(data.calibration).as_dict(),
            "chunks_done": len(store.completed_chunks()), "chunks": store.manifest.chunks,
            "dose_warnings": summary.get("warnings", [])}


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
