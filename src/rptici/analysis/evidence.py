"""How the virtual patients of a calibration trial compare with the monotherapy evidence on how the agents act.

``data/rpt_evidence.yaml`` lists what the registry's trial endpoints do not hold (the VISION week-12 PSA waterfall
and rPFS by its groups, TheraP PSA50 by PSMA PET SUVmean, progression by new lesions, radium-223's PSA50): each
entry names the trial whose replay measures it, the arm, a measure of :data:`MEASURES` and the reported values with
their n; ``objective: false`` keeps an entry out of the calibration objective (reported only). A measure is a small
pure function of one arm's per-patient table (``trials.run`` columns) returning one simulated value per reported
value (None where the arm cannot give it, e.g. a median not reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..data import load_yaml
from ..trials.endpoints import days_per_month
from .survival import kaplan_meier

#: Week-12 PSA groups of the VISION waterfall: best % change > 0 (rise), (−50, 0], (−90, −50], ≤ −90.
PSA_GROUP_EDGES = (-90.0, -50.0, 0.0)


def psa_groups(change_percent: pd.Series) -> np.ndarray:
    """Group index 0 (rise) … 3 (fall ≥ 90 %) of each best week-12 PSA change; −1 where there is none."""
    change = change_percent.to_numpy(dtype=float)
    group = 3 - np.searchsorted(np.array(PSA_GROUP_EDGES), change, side="left")
    return np.where(np.isnan(change), -1, group)


def psa_waterfall(patients: pd.DataFrame, entry: dict[str, Any]) -> list[float | None]:
    """Shares of the patients with a week-12 PSA value in the four groups, compared with the reported shares
    divided by their sum (the reported ones are of all patients, some without a value)."""
    group = psa_groups(patients["psa_best_percent_change_12wk"])
    valued = group >= 0
    if not valued.any():
        return [None] * 4
    return [float(np.mean(group[valued] == index)) for index in range(4)]


def rpfs_by_psa_group(patients: pd.DataFrame, entry: dict[str, Any]) -> list[float | None]:
    """Kaplan–Meier median rPFS (months) in each week-12 PSA group (None: too few patients or not reached)."""
    group = psa_groups(patients["psa_best_percent_change_12wk"])
    medians: list[float | None] = []
    for index in range(4):
        members = patients[group == index]
        if len(members) < 5:
            medians.append(None)
            continue
        median = kaplan_meier(members["pfs_days"], members["pfs_event"].astype(bool)).median
        medians.append(float(median / days_per_month()) if np.isfinite(median) else None)
    return medians


def psa50_by_suvmean(patients: pd.DataFrame, entry: dict[str, Any]) -> list[float | None]:
    """PSA50 rate among patients with whole-body SUVmean (``target_uptake``) ≥ threshold, then below it."""
    high = patients["target_uptake"] >= float(entry["threshold"])
    rates = []
    for group in (patients[high], patients[~high]):
        rates.append(float(group["psa50"].astype(bool).mean()) if len(group) else None)
    return rates


def psa50(patients: pd.DataFrame, entry: dict[str, Any]) -> list[float | None]:
    """The PSA50 rate of the arm."""
    return [float(patients["psa50"].astype(bool).mean()) if len(patients) else None]


def progression_size_vs_any(patients: pd.DataFrame, entry: dict[str, Any]) -> list[float | None]:
    """Share of patients progressed by the landmark by RECIST size rules alone, and by any radiographic rule
    (growth, a new lesion on CT, the PCWG3 bone scan)."""
    landmark = float(entry["landmark_days"])
    by_size = patients["size_progression_days"].to_numpy(dtype=float) <= landmark
    by_any = patients["radiographic_progression_days"].to_numpy(dtype=float) <= landmark
    return [float(np.mean(by_size)), float(np.mean(by_any))]


MEASURES: dict[str, Callable[[pd.DataFrame, dict[str, Any]], list[float | None]]] = {
    "psa_waterfall": psa_waterfall,
    "rpfs_by_psa_group": rpfs_by_psa_group,
    "psa50_by_suvmean": psa50_by_suvmean,
    "psa50": psa50,
    "progression_size_vs_any": progression_size_vs_any,
}


@dataclass(frozen=True)
class EvidenceRow:
    """One reported value of an evidence entry beside its simulated value (None: the arm cannot give it)."""

    name: str
    index: int
    what: str
    unit: str
    reported: float
    simulated: float | None
    n: int


@lru_cache(maxsize=1)
def evidence_entries() -> dict[str, dict[str, Any]]:
    """The entries of ``data/rpt_evidence.yaml``, by name."""
    return dict(load_yaml("rpt_evidence.yaml"))


def evidence_for(trial: str) -> dict[str, dict[str, Any]]:
    """The entries measured on the replay of ``trial`` (its acronym)."""
    return {name: entry for name, entry in evidence_entries().items() if entry["trial"] == trial}


def compare_evidence(trial: str, patients: pd.DataFrame, names: Sequence[str] | None = None) -> list[EvidenceRow]:
    """Reported vs simulated for every evidence entry of ``trial`` (or those in ``names``), from its replay's
    per-patient table (failed patients excluded). The arm is the replay arm whose name starts with the entry's."""
    rows: list[EvidenceRow] = []
    for name, entry in evidence_for(trial).items():
        if names is not None and name not in names:
            continue
        arm = patients[patients["arm"].astype(str).str.startswith(entry["arm"]) & (patients["status"] == "ok")]
        simulated = MEASURES[entry["measure"]](arm, entry)
        reported = [float(value) / float(entry.get("evaluable_share", 1.0)) for value in entry["value"]]
        counts = entry["n"] if isinstance(entry["n"], list) else [entry["n"]] * len(reported)
        unit = "months" if entry["measure"] == "rpfs_by_psa_group" else "fraction"
        rows.extend(EvidenceRow(name, index, entry["what"], unit, value, sim, int(count))
                    for index, (value, sim, count) in enumerate(zip(reported, simulated, counts)))
    return rows
