"""Replay of a registry trial: a virtual trial built from its record, compared endpoint by endpoint with what
the trial reported.

A combination trial (RPT + ICI at trial level) is replayed with two arms: the combination and the same
RPT without the checkpoint inhibitor (``RPT alone``, the reference arm), so that each replay also predicts the
effect of adding the ICI. Arms the record lists (monotherapy trials, randomised combination trials) keep
their names; an arm without a replayable regimen is replayed as "no active treatment" only when its name
says it is a placebo, best supportive or standard of care or octreotide (:data:`UNTREATED_WORDS`), and is
skipped otherwise (e.g. cabazitaxel in TheraP, which rptici does not model).

Reported values come from the record's ``results`` and arms' ``outcomes`` (fractions, months). Simulated
values carry 95 % intervals of the virtual trial itself (exact binomial for rates, Kaplan–Meier for medians
and landmarks), which reflect the number of virtual patients, not the real trial's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..trials.registry import TrialRecord, registry
from ..trials.run import simulate_trial
from ..trials.scenario import Calibration, TrialScenario, load_calibration, load_trial_scenario
from .summary import landmark, summarize_tables

#: Words of an arm name that mark "no active treatment modelled" (the control of a placebo-controlled trial).
UNTREATED_WORDS = ("placebo", "standard of care", "best supportive", "octreotide")
COMBINATION_ARM = "RPT + ICI"
RPT_ALONE_ARM = "RPT alone"
#: Record disease text → population (first match wins; SCLC before lung NET).
DISEASE_PATTERNS = (
    (r"prostate|mcrpc", "mcrpc"), (r"small cell lung", "sclc"), (r"merkel", "merkel"),
    (r"lung net|lung neuroendocrine|carcinoid", "lung_net"), (r"neuroendocrine|\bnet\b", "gep_net"),
    (r"renal|ccrcc", "ccrcc"), (r"thyroid", "dtc"), (r"neuroblastoma", "neuroblastoma"),
)
#: Endpoints compared: reported key → (summary field, kind).
RATE_ENDPOINTS = {"orr": "orr", "psa50": "psa50"}
MEDIAN_ENDPOINTS = {"median_rpfs": "pfs", "median_pfs": "pfs", "median_os": "os", "median_psa_pfs": "psa_pfs"}
LANDMARK = re.compile(r"^(?P<endpoint>pfs|os)_(?P<months>\d+)mo$")
TOXICITY_ENDPOINTS = {"grade3plus_ae": "any", "grade3plus_trae": "any"}


def population_for(record: TrialRecord) -> str:
    """The population (disease file) that stands for the record's patients."""
    text = " ".join(part for part in (record.disease, record.disease_status) if part).casefold()
    for pattern, disease in DISEASE_PATTERNS:
        if re.search(pattern, text):
            return disease
    raise InputError("disease", record.disease, "a disease with a virtual population (prostate, NET, SCLC, Merkel, "
                                                "renal, thyroid, neuroblastoma)")


@dataclass(frozen=True)
class ReplayArm:
    name: str
    regimen: dict[str, Any] | None
    record_arm: str | None
    control: bool = False


def replay_arms(record: TrialRecord) -> list[ReplayArm]:
    """The arms a replay of ``record`` simulates (see the module docstring)."""
    from ..trials.registry import regimen_mapping

    trial_level = [status for status in record.regimens if status.arm is None and status.replayable]
    if trial_level:
        mapping = regimen_mapping(record)
        arms = [ReplayArm(COMBINATION_ARM if "rpt" in mapping and "ici" in mapping else record.name, mapping, None)]
        if "rpt" in mapping and "ici" in mapping:
            alone = {"rpt": mapping["rpt"], "sequence": {"order": "concurrent"}}
            arms.append(ReplayArm(RPT_ALONE_ARM, alone, None, control=True))
        return arms
    arms = []
    for arm in record.arms:
        if any(status.arm == arm.name and status.replayable for status in record.regimens):
            arms.append(ReplayArm(arm.name, regimen_mapping(record, arm=arm.name), arm.name))
        elif arm.rpt is None and arm.ici is None and any(word in arm.name.casefold() for word in UNTREATED_WORDS):
            arms.append(ReplayArm(arm.name, None, arm.name, control=True))
    if not arms:
        raise InputError("trial", record.name, f"a trial with a replayable regimen ({record.replay_reason})")
    return arms


def replay_scenario(record: TrialRecord | str, patients: int = 2000, seed: int = 1,
                    calibration: str | None = "default", follow_up_months: float | None = None) -> TrialScenario:
    """A :class:`TrialScenario` replaying ``record`` with ``patients`` in total (split equally between arms).

    Follow-up: at least 24 months and 1.5 × the longest reported median or landmark; imaging q8w for 6 months,
    then q12w (the schedule of VISION and NETTER-1); PSA every 3 weeks.
    """
    if isinstance(record, str):
        record = registry().get(record)
    arms = replay_arms(record)
    if follow_up_months is None:
        longest = 0.0
        for key, value in _reported_values(record, arms):
            months = _months_of(key, value)
            longest = max(longest, months or 0.0)
        follow_up_months = max(24.0, float(np.ceil(1.5 * longest)))
    document = {
        "name": f"replay of {record.name}", "disease": population_for(record),
        "description": f"{record.acronym or record.name}: {record.disease} ({record.reference or 'no reference'})",
        "arms": [{"name": arm.name, "regimen": arm.regimen, "control": arm.control} for arm in arms],
        "patients": int(patients), "follow_up": f"{follow_up_months} months", "assessments": "q8w x3 then q12w",
        "psa_assessments": "q3w", "seed": int(seed), "chunk_size": 1000, "calibration": calibration,
    }
    return load_trial_scenario(document)


def _months_of(key: str, value: Any) -> float | None:
    if key.startswith("median_") and isinstance(value, (int, float)):
        return float(value)
    match = LANDMARK.match(key)
    return float(match.group("months")) if match else None


def _reported_values(record: TrialRecord, arms: list[ReplayArm]) -> list[tuple[str, Any]]:
    values = list(record.results.items())
    for arm in record.arms:
        values += list(arm.outcomes.items())
    return values


def reported_endpoints(record: TrialRecord, arms: list[ReplayArm] | None = None) -> list[dict[str, Any]]:
    """Rows ``{arm, endpoint, reported, n}`` of what ``record`` reported, mapped onto the replay's arms."""
    arms = replay_arms(record) if arms is None else arms
    names = [arm.name for arm in arms]
    main = next((arm.name for arm in arms if not arm.control), names[0])
    rows: list[dict[str, Any]] = []

    def add(arm: str, key: str, value: Any, n: int | None) -> None:
        if isinstance(value, dict):
            if {"responders", "evaluable"} <= set(value):
                rows.append({"arm": arm, "endpoint": "orr", "reported": value["responders"] / value["evaluable"],
                             "n": int(value["evaluable"])})
            elif {"patients", "of"} <= set(value) and key.startswith("grade3"):
                rows.append({"arm": arm, "endpoint": "grade3plus_any", "reported": value["patients"] / value["of"],
                             "n": int(value["of"])})
            elif key == "grade3plus_ae_attributed":
                for agent, rate in value.items():
                    cause = "radiation" if agent.casefold() in ("radium", "lutetium", "rpt", "radiation") else "immune"
                    rows.append({"arm": arm, "endpoint": f"grade3plus_{cause}_related", "reported": float(rate), "n": n})
            return
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        if key in RATE_ENDPOINTS or key in MEDIAN_ENDPOINTS or LANDMARK.match(key):
            rows.append({"arm": arm, "endpoint": key, "reported": float(value), "n": n})
        elif key in TOXICITY_ENDPOINTS:
            rows.append({"arm": arm, "endpoint": "grade3plus_any", "reported": float(value), "n": n})

    for key, value in record.results.items():
        comparator = re.match(r"^(?P<key>.+)_comparator_.*alone$", key)
        if comparator and RPT_ALONE_ARM in names:
            add(RPT_ALONE_ARM, comparator.group("key"), value, None)
        elif not comparator:
            add(main, key, value, record.total_n)
    for arm in record.arms:
        target = next((replay.name for replay in arms if replay.record_arm == arm.name), None)
        if target is None and "alone" in arm.name.casefold() and RPT_ALONE_ARM in names:
            target = RPT_ALONE_ARM
        elif target is None and COMBINATION_ARM in names:
            target = COMBINATION_ARM
        if target is None:
            continue
        for key, value in arm.outcomes.items():
            add(target, key, value, arm.n)
    return rows


def simulated_value(summary: dict[str, Any], arm: str, endpoint: str) -> tuple[float | None, float | None, float | None]:
    """(estimate, low, high) of ``endpoint`` for ``arm`` in a summary made with ``keep_fits=True``."""
    row = next((item for item in summary["arms"] if item["arm"] == arm), None)
    if row is None or row["n"] == 0:
        return None, None, None
    if endpoint in RATE_ENDPOINTS:
        field = RATE_ENDPOINTS[endpoint]
        if row.get(field) is None:
            return None, None, None
        return row[field], row[f"{field}_ci"][0], row[f"{field}_ci"][1]
    if endpoint in MEDIAN_ENDPOINTS:
        name = MEDIAN_ENDPOINTS[endpoint]
        if f"median_{name}_months" not in row:
            return None, None, None
        low, high = row[f"median_{name}_ci"]
        return row[f"median_{name}_months"], low, high
    match = LANDMARK.match(endpoint)
    if match:
        curve = summary["km"][match.group("endpoint")].get(arm)
        months = float(match.group("months"))
        if curve is None or landmark(curve, months) is None:
            return None, None, None
        survival, low, high = curve["fit"].survival_at([months])
        return float(survival[0]), float(low[0]), float(high[0])
    if endpoint.startswith("grade3plus_"):
        cause = endpoint.removeprefix("grade3plus_").removesuffix("_related")
        rates = row["grade3plus_rate"]
        if endpoint.endswith("_related"):
            value = (rates.get(cause) or 0.0) + (rates.get("both") or 0.0)
        else:
            value = rates.get(cause)
        if value is None:
            return None, None, None
        n = row["n"]
        _, low, high = _binomial(value, n)
        return value, low, high
    return None, None, None


def _binomial(rate: float, n: int) -> tuple[float, float, float]:
    from .response import response_rate

    return response_rate(int(round(rate * n)), n)


def compare(record: TrialRecord, scenario: TrialScenario, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Per endpoint: reported versus simulated (with CI), plus the simulated summary of every arm."""
    arms = replay_arms(record)
    from ..trials.endpoints import to_months

    summary = summarize_tables(tables["patients"], [arm.name for arm in scenario.arms], scenario.control_arm,
                               float(to_months(scenario.follow_up_days)), tables.get("failures"), keep_fits=True)
    rows = []
    for item in reported_endpoints(record, arms):
        estimate, low, high = simulated_value(summary, item["arm"], item["endpoint"])
        ratio = None if estimate is None or not item["reported"] else estimate / item["reported"]
        inside = None if low is None else bool(low <= item["reported"] and (high is None or item["reported"] <= high))
        rows.append({**item, "simulated": estimate, "low": low, "high": high, "ratio": ratio,
                     "reported_inside_ci": inside})
    for curve_set in summary["km"].values():
        for curve in curve_set.values():
            curve.pop("fit", None)
    return {"trial": record.name, "acronym": record.acronym, "role": record.role, "disease": scenario.disease,
            "reference": record.reference, "endpoints": rows, "summary": summary}


def replay(name: str, patients: int = 2000, seed: int = 1, calibration: str | Calibration | None = "default",
           follow_up_months: float | None = None) -> dict[str, Any]:
    """Replay trial ``name`` (NCT number or acronym) with ``patients`` virtual patients; see :func:`compare`."""
    record = registry().get(name)
    scenario = replay_scenario(record, patients, seed,
                               calibration if isinstance(calibration, str) or calibration is None else None,
                               follow_up_months)
    calibration_object = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    tables = simulate_trial(scenario, calibration=calibration_object)
    result = compare(record, scenario, tables)
    result.update(patients=patients, seed=seed, calibration=calibration_object.source)
    return result
