"""Robustness of decisions across the calibration ensemble (:mod:`rptici.analysis.ensemble`).

The calibration does not pin the model's parameters: its ensemble is the set of parameter sets the monotherapy
trials cannot tell apart (a likelihood-ratio confidence set). A decision that changes from one member to another
rests on parameters the data do not determine, so it is not marked robust. The rules:

- **Pareto front** (``rptici optimize --ensemble M``): every front point (found with the calibration's best
  parameters) is simulated again under each of M members, with the same virtual patients (common random
  numbers, so members differ by their parameters only). Under a member, a point *holds* when it is within every
  organ limit and no other front point is at least as good on every objective and better on one (Pareto
  dominance among the re-simulated front). A point is **robust** when it holds in at least ``share`` of the
  members (default 1: in every member).
- **Biomarkers** (``rptici biomarkers --ensemble M``): the run's trial is simulated again under each member (same
  patients and seed) and analysed the same way. A covariate is a **robust predictor** when it is predictive
  (Holm-adjusted interaction p < α) in at least ``share`` of the members *and* its interaction hazard ratio is
  on the same side of 1 in every member; the selection (covariate and direction of the cut-point) is robust
  when the same one is chosen in at least ``share`` of the members.

Only the front points are re-simulated (not every candidate): a point that is dominated under a member by a
candidate off the front is not found; robustness here is "the front's own ordering holds".
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError

#: Default share of ensemble members in which a choice must hold to be marked robust: all of them.
ROBUST_SHARE = 1.0


def _check_share(share: float) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise InputError("--robust-share", share, "a share of ensemble members in (0, 1], such as 1 (every member) "
                                                  "or 0.9")
    return float(share)


def holds(objectives: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Per point (rows of ``objectives``, to minimise): feasible and not Pareto-dominated by another feasible point
    (equal points do not dominate each other)."""
    objectives = np.asarray(objectives, dtype=float)
    feasible = np.asarray(feasible, dtype=bool)
    result = np.zeros(len(objectives), dtype=bool)
    for index, point in enumerate(objectives):
        if not feasible[index]:
            continue
        others = objectives[feasible]
        dominated = np.any(np.all(others <= point, axis=1) & np.any(others < point, axis=1))
        result[index] = not dominated
    return result


def robust_points(objectives: Any, feasible: Any, share: float = ROBUST_SHARE) -> dict[str, Any]:
    """The rule of the module docstring on ``objectives`` (members, points, objectives; to minimise) and
    ``feasible`` (members, points): per point the share of members in which it holds and whether it is robust."""
    share = _check_share(share)
    objectives = np.asarray(objectives, dtype=float)
    feasible = np.asarray(feasible, dtype=bool)
    if objectives.ndim != 3 or feasible.shape != objectives.shape[:2]:
        raise InputError("objectives", f"shape {objectives.shape}", "(members, points, objectives) with feasibility "
                                                                    "(members, points)")
    held = np.array([holds(objectives[member], feasible[member]) for member in range(objectives.shape[0])])
    shares = held.mean(axis=0) if held.size else np.zeros(objectives.shape[1])
    return {"held": held, "share_held": shares, "robust": shares >= share - 1e-12, "share_required": share}


def robust_covariates(documents: Sequence[Mapping[str, Any]], share: float = ROBUST_SHARE) -> dict[str, Any]:
    """The biomarker rule of the module docstring on the analyses of the members (:func:`rptici.decisions.
    biomarkers.analyse` documents): per covariate the share of members calling it predictive, the range of its
    interaction HR, whether its direction is the same in all and whether it is a robust predictor; the selection's
    agreement."""
    share = _check_share(share)
    if not documents:
        raise InputError("ensemble", 0, "at least one ensemble member")
    names = list(dict.fromkeys(row["covariate"] for document in documents for row in document["covariates"]))
    rows = []
    for name in names:
        found = [next((row for row in document["covariates"] if row["covariate"] == name), None)
                 for document in documents]
        present = [row for row in found if row is not None]
        ratios = np.array([row["interaction_hr_per_sd"] for row in present], dtype=float)
        predictive = sum(bool(row["predictive"]) for row in present) / len(documents)
        same_direction = bool(len(ratios) == len(documents) and (np.all(ratios < 1) or np.all(ratios > 1)))
        rows.append({"covariate": name, "share_predictive": predictive, "same_direction": same_direction,
                     "interaction_hr_range": [float(ratios.min()), float(ratios.max())] if ratios.size else None,
                     "robust": bool(predictive >= share - 1e-12 and same_direction)})
    rows.sort(key=lambda row: (-row["share_predictive"], row["covariate"]))
    selections = [(document.get("benefit") or {}).get("selection") for document in documents]
    labels = [None if item is None else f"{item['covariate']} {item['direction']}" for item in selections]
    counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
    commonest = max(counts, key=lambda label: counts[label])
    return {"share_required": share, "members": len(documents), "covariates": rows,
            "robust_predictors": [row["covariate"] for row in rows if row["robust"]],
            "selection": {"per_member": labels, "commonest": commonest,
                          "share": counts[commonest] / len(documents),
                          "robust": commonest is not None and counts[commonest] / len(documents) >= share - 1e-12}}


def interval(values: Sequence[float | None]) -> list[float | None]:
    """[min, max] of member values (None: a median not reached, beyond every reached one)."""
    finite = [float(value) for value in values if value is not None]
    if not finite:
        return [None, None]
    return [min(finite), None if len(finite) < len(values) else max(finite)]
