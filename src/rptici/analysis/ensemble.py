"""The calibration ensemble: the parameter sets that the monotherapy trials cannot tell apart.

The objective J of :mod:`rptici.analysis.calibration` is −2 ln L (up to a constant) of a Gaussian model of the
log endpoints. The model does not reproduce the trials within their sampling error (J_min is many times the
number m of terms), so the likelihood is tempered by the dispersion φ = J_min / (m − k), k the number of fitted
parameters (quasi-likelihood: McCullagh and Nelder 1989, Generalized Linear Models, §9.2; the same scaling
that widens the intervals of an overdispersed fit). The ensemble is the likelihood-ratio (profile-likelihood)
confidence set

    {θ : (J(θ) − J_min) / φ ≤ χ²_k(level)}          (Wilks 1938; Venzon and Moolgavkar 1988)

restricted to the parameter sets the optimiser evaluated (CMA-ES samples the region around the optimum it
converges to), thinned to ``members`` sets by evenly spaced ranks of J, the best first. It is a confidence set,
not a posterior sample: members are equally weighted and the prediction interval is their spread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import chi2

from ..errors import InputError
from ..trials.scenario import Calibration, calibration_document, calibration_from_document

#: Confidence level of the likelihood-ratio set.
LEVEL = 0.95
#: Members kept in the calibration file.
MEMBERS = 20


def likelihood_ratio_set(evaluated: Sequence[tuple[Mapping[str, float], float]], terms: int, level: float = LEVEL,
                         members: int = MEMBERS) -> dict[str, Any]:
    """The ensemble section of a calibration file from the evaluations ``(values, J)`` of a fit with ``terms``
    objective terms (module docstring): dispersion, threshold, and the members (best first)."""
    if not evaluated:
        raise InputError("evaluated", "no evaluations", "at least one evaluated parameter set")
    fitted = len(evaluated[0][0])
    objectives = np.array([objective for _, objective in evaluated], dtype=float)
    best = float(objectives.min())
    dispersion = best / (terms - fitted) if terms > fitted else 1.0
    dispersion = max(dispersion, 1.0)
    threshold = best + dispersion * float(chi2.ppf(level, max(fitted, 1)))
    inside = sorted(np.flatnonzero(objectives <= threshold), key=lambda index: (objectives[index], index))
    unique: list[int] = []
    seen: set[tuple[float, ...]] = set()
    for index in inside:  # an optimiser may ask for the same set twice
        key = tuple(sorted(evaluated[index][0].items()))
        if key not in seen:
            seen.add(key)
            unique.append(index)
    ranks = sorted(set(np.round(np.linspace(0, len(unique) - 1, min(members, len(unique)))).astype(int)))
    chosen = [unique[rank] for rank in ranks]
    return {"method": "likelihood-ratio set of the evaluated parameter sets, tempered by the dispersion "
                      "(rptici.analysis.ensemble)",
            "level": level, "terms": int(terms), "fitted_parameters": int(fitted),
            "objective_min": round(best, 4), "dispersion": round(dispersion, 4), "threshold": round(threshold, 4),
            "inside": len(unique), "evaluations": len(evaluated),
            "members": [{"objective": round(float(objectives[index]), 4),
                         "values": {name: float(f"{value:.6g}") for name, value in evaluated[index][0].items()}}
                        for index in chosen]}


def join_block(held: Mapping[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    """The ensemble of a block fit joined with ``held``, the ensemble of the calibration whose values it held: member
    i takes ``held``'s member i's values and the block's member i's values of the block's parameters (members paired
    by rank, best with best; the shorter list repeats). Each block's uncertainty is conditional on the other's
    values — correlations between blocks are not represented — but no parameter's uncertainty is dropped, as it
    would be if the block's set alone were kept (every member then holds the other parameters at one value)."""
    ours, theirs = list(block["members"]), list(held["members"])
    count = max(len(ours), len(theirs))
    members = [{"objective": ours[index % len(ours)]["objective"],
                "held_objective": theirs[index % len(theirs)]["objective"],
                "values": {**theirs[index % len(theirs)]["values"], **ours[index % len(ours)]["values"]}}
               for index in range(count)]
    earlier = {key: value for key, value in held.items() if key not in ("members", "held_ensemble")}
    return {**block, "members": members, "held_ensemble": [*held.get("held_ensemble", []), earlier]}


def ensemble_members(calibration: str | None = "default", members: int | None = None) -> list[Calibration]:
    """The calibrations of the ensemble stored with calibration ``calibration`` (at most ``members``, best first):
    each is the calibration with its fitted values replaced by one member's."""
    if calibration is None:
        raise InputError("calibration", None, "a calibration with an ensemble (e.g. 'default')")
    document, source = calibration_document(calibration)
    base = calibration_from_document(document, source)
    section = document.get("ensemble")
    if not isinstance(section, Mapping) or not section.get("members"):
        raise InputError(f"{source}: ensemble", None, "an ensemble section written by rptici calibrate "
                                                     "(re-run the calibration to make one)")
    chosen = list(section["members"])[: (None if members is None else int(members))]
    return [Calibration({**base.values, **{str(name): float(value) for name, value in member["values"].items()}},
                        f"{source} ensemble member {index}")
            for index, member in enumerate(chosen)]


def interval(values: Sequence[float | None], coverage: float = 0.95) -> tuple[float | None, float | None]:
    """(low, high) central interval of member estimates; ``None`` estimates (a median not reached) count as
    beyond every reached one, so a high end among them is ``None`` (not reached)."""
    if not values:
        return None, None
    array = np.array([np.inf if value is None else float(value) for value in values])
    tail = 100 * (1 - coverage) / 2
    low, high = np.percentile(array, [tail, 100 - tail], method="inverted_cdf")
    return (None if not np.isfinite(low) else float(low)), (None if not np.isfinite(high) else float(high))


#: Keys of a summary's arm row that are bookkeeping, not predictions (counts, p-values).
_NOT_PREDICTED = ("n", "failed")
_COUNT_SUFFIXES = ("_responders", "_evaluable", "_events", "_p")


def arm_estimates(row: Mapping[str, Any]) -> dict[str, float | None]:
    """The predicted quantities of a summary's arm row (:func:`rptici.analysis.summary.summarize_tables`): every
    scalar estimate (rates, medians in months), the estimate of each hazard ratio (``hr_<endpoint>``) and paired
    difference (``<rate>_paired_difference``) and the grade ≥ 3 rates by cause as ``grade3plus_<cause>``; counts,
    intervals and p-values left out."""
    estimates: dict[str, float | None] = {}
    for key, value in row.items():
        if key in _NOT_PREDICTED or key.endswith(_COUNT_SUFFIXES) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or (value is None and key.startswith("median_")):
            estimates[key] = None if value is None else float(value)
        elif (key.startswith("hr_") or key.endswith("_paired_difference")) and value:  # [estimate, low, high]
            estimates[key] = None if value[0] is None else float(value[0])
    for cause, rate in (row.get("grade3plus_rate") or {}).items():
        estimates[f"grade3plus_{cause}"] = float(rate)
    return estimates


def collect_arm_estimates(collected: dict[str, dict[str, list[float | None]]], summary: Mapping[str, Any]) -> None:
    """Append each arm's estimates (:func:`arm_estimates`) of one member's ``summary`` to ``collected``."""
    for row in summary["arms"]:
        for key, value in arm_estimates(row).items():
            collected.setdefault(row["arm"], {}).setdefault(key, []).append(value)


def arm_intervals(collected: Mapping[str, Mapping[str, Sequence[float | None]]]) -> dict[str, dict[str, list]]:
    """Per arm and estimate, the members' central 95 % interval (:func:`interval`) of what was collected."""
    return {arm: {key: list(interval(values)) for key, values in keys.items()} for arm, keys in collected.items()}


def arm_prediction_intervals(scenario: Any, calibration: str, members: int, seed: int,
                             patients: int | None = None) -> dict[str, Any]:
    """Per arm of trial ``scenario``, the 95 % prediction interval of each estimate (:func:`arm_estimates`) from
    ``members`` ensemble members of ``calibration``, each a new virtual trial of ``patients`` (default the
    scenario's) with its own seed (:func:`rptici.seeds.ensemble_member`)."""
    from .. import seeds
    from ..trials.endpoints import to_months
    from ..trials.run import simulate_trial
    from .summary import summarize_tables

    size = int(patients or scenario.patients)
    collected: dict[str, dict[str, list[float | None]]] = {}
    calibrations = ensemble_members(calibration, members)
    for index, member in enumerate(calibrations):
        trial = scenario.model_copy(update={"seed": seeds.ensemble_member(seed, index), "patients": size})
        tables = simulate_trial(trial, calibration=member)
        summary = summarize_tables(tables["patients"], [arm.name for arm in trial.arms], trial.control_arm,
                                   float(to_months(trial.follow_up_days)), tables.get("failures"))
        collect_arm_estimates(collected, summary)
    return {"members": len(calibrations), "patients_per_member": size, "coverage": 0.95,
            "calibration": calibration, "arms": arm_intervals(collected)}


PREDICTION_FILE = "prediction.json"


def predict_run(folder: str | Path, members: int, patients: int | None = None) -> dict[str, Any]:
    """Prediction intervals (:func:`arm_prediction_intervals`) of the trial run in ``folder``, from its scenario,
    seed and calibration; written to ``folder/prediction.json``, which :func:`rptici.analysis.summary.summarize`
    merges into each arm's row (``prediction``)."""
    from ..trials.scenario import load_trial_scenario

    path = Path(folder) / "scenario.json"
    if not path.is_file():
        raise InputError("folder", str(folder), "a run folder written by 'rptici trial run' (with scenario.json)")
    scenario = load_trial_scenario(json.loads(path.read_text(encoding="utf-8"))["scenario"])
    if scenario.calibration is None:
        raise InputError("calibration", None, "a trial scenario with a calibration that has an ensemble "
                                              "(e.g. calibration: default)")
    prediction = arm_prediction_intervals(scenario, scenario.calibration, members, scenario.seed, patients)
    (Path(folder) / PREDICTION_FILE).write_text(json.dumps(prediction, indent=1), encoding="utf-8")
    return prediction
