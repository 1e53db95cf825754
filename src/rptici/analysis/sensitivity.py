"""Global sensitivity analysis of the calibration: Morris elementary effects of every uncertain parameter.

What: for each parameter of :data:`rptici.analysis.calibration.PARAMETERS` and each model output — the calibration
objective J and every calibration endpoint's simulated value on the objective's scale (``scaled_simulated`` of the
objective's rows: ln of a median, a median not reached at 1.5 × the follow-up; asin √p of a rate) — the Morris
screening indices μ* (mean absolute elementary effect), its bootstrap 95 % half-width and σ (spread of the effects:
non-linearity or interaction). Morris 1991 Technometrics 33:161 (elementary effects on a p-level grid, r
one-at-a-time trajectories, r (k + 1) evaluations); Campolongo, Cariboni and Saltelli 2007 Environ Model Softw
22:1509 (μ*, the mean of the absolute effects, which effects of opposite sign cannot cancel). Sampler and estimator:
SALib (Herman and Usher 2017 JOSS 2:97), seeded, so the indices are deterministic for a seed.

Why Morris, not Sobol: one evaluation replays all calibration trials (seconds); Sobol indices need N (k + 2)
≈ 10⁴ evaluations for k = 21, Morris ranks the parameters with ~10² and is the standard screening design.

Inputs are varied in natural-log space (as the calibration searches them), in a window of ± ``window`` (default
1: a factor e either way) around the packaged default calibration's values, clipped to each parameter's bounds.
Why a window and not the whole box: the bounds span up to three decades, and far from the fit most of the box
gives models the data reject outright (J in the thousands); effects there say which parameters can break the model,
not which ones the data pin down near the calibrated one. A factor e covers the calibration ensemble's spread and
the model's non-linearities around it (local-to-global). ``window=0`` uses the whole bounds. The elementary effects
are per whole window (SALib scales each input to [0, 1]): for a model linear in the log-parameters,
y = Σ c_i ln θ_i, μ*_i = |c_i| w_i with w_i the width of the window in ln θ_i.

Common random numbers: the same seed gives the same virtual patients at every evaluation
(:func:`rptici.analysis.calibration.calibration_targets`), so an elementary effect is the parameter's effect, not
resampling noise.

Identifiability (a screening verdict, not a profile likelihood): μ* normalised per output by the largest μ* on that
output. A parameter is *identified* when its normalised μ* on J is at least ``threshold`` (default 0.1), or when on
at least one endpoint it is at least ``threshold`` of the largest *and* the lower end of its μ* interval (μ* minus
the bootstrap half-width) exceeds that endpoint's standard deviation in the objective (√(σ_i² + σ_model²)): a move
the design resolves and the trial could see. Otherwise it *stays at its prior*: the monotherapy data do not
constrain it within the window, and its calibrated value is the prior's, not the data's.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError
from .calibration import DEFAULT_TRIALS, PARAMETERS, _evaluate_all, calibration_targets, start_values

#: Default half-width of the window around the calibrated values, in natural log (a factor e either way).
WINDOW = 1.0
#: Normalised μ* at or above which a parameter counts as identified.
THRESHOLD = 0.1
#: Bootstrap resamples of the μ* confidence interval.
RESAMPLES = 1000
#: Name of the objective among the outputs.
OBJECTIVE = "J"
PACKAGED = "calibration/sensitivity.json"


def window_bounds(centre: dict[str, float], names: Sequence[str], window: float = WINDOW
                  ) -> dict[str, tuple[float, float]]:
    """(low, high) in ln θ per parameter: ln centre ± ``window`` clipped to its bounds; ``window=0``: the bounds."""
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not math.isfinite(window) or window < 0:
        raise InputError("window", window, "a half-width in natural log >= 0 (0: the whole bounds)")
    bounds = {}
    for name in names:
        low, high = math.log(PARAMETERS[name].lower), math.log(PARAMETERS[name].upper)
        if window > 0:
            middle = min(max(math.log(centre[name]), low), high)
            low, high = max(low, middle - window), min(high, middle + window)
        if not high > low:
            raise InputError(f"window of {name}", [low, high], "a range of positive width (a start inside the bounds)")
        bounds[name] = (low, high)
    return bounds


def check_design(names: Sequence[str], trajectories: int, levels: int) -> list[str]:
    """The parameter names, checked, with the Morris design's sizes (r >= 2 trajectories, an even p >= 2 levels)."""
    names = list(names)
    if not names:
        raise InputError("parameters", names, "at least one name among " + ", ".join(PARAMETERS))
    for name in names:
        if name not in PARAMETERS:
            raise InputError("parameters", name, "names among " + ", ".join(PARAMETERS))
    if len(set(names)) != len(names):
        raise InputError("parameters", names, "each name once")
    if isinstance(trajectories, bool) or not isinstance(trajectories, int) or trajectories < 2:
        raise InputError("trajectories", trajectories, "an integer >= 2 (the bootstrap of mu* needs two effects "
                                                       "per parameter)")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2 or levels % 2:
        raise InputError("levels", levels, "an even integer >= 2 (Morris grid; p/(2(p-1)) steps stay on it)")
    return names


def morris_problem(bounds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """SALib's problem dictionary for the inputs ``bounds`` (name → (low, high))."""
    return {"num_vars": len(bounds), "names": list(bounds), "bounds": [list(pair) for pair in bounds.values()]}


def morris_design(problem: dict[str, Any], trajectories: int, levels: int = 4, seed: int = 1) -> np.ndarray:
    """The r (k + 1) × k Morris sample (Morris 1991) inside ``problem``'s bounds; deterministic for ``seed``."""
    from SALib.sample import morris as morris_sample

    return morris_sample.sample(problem, int(trajectories), num_levels=int(levels), seed=int(seed))


def morris_indices(problem: dict[str, Any], design: np.ndarray, outputs: np.ndarray, levels: int = 4,
                   seed: int = 1) -> dict[str, np.ndarray]:
    """μ*, its 95 % bootstrap half-width, σ and μ of each input on one output vector (SALib's estimator;
    Campolongo et al. 2007), plus μ* normalised by the largest (0 when no input has an effect)."""
    from SALib.analyze import morris as morris_analyze

    outputs = np.asarray(outputs, dtype=float)
    if not np.all(np.isfinite(outputs)):
        raise InputError("outputs", "non-finite values", "finite model outputs at every design point")
    result = morris_analyze.analyze(problem, design, outputs, num_resamples=RESAMPLES, conf_level=0.95,
                                    num_levels=int(levels), seed=int(seed))
    indices = {key: np.nan_to_num(np.asarray(result[key], dtype=float))
               for key in ("mu_star", "mu_star_conf", "sigma", "mu")}
    largest = float(indices["mu_star"].max())
    indices["normalised"] = indices["mu_star"] / largest if largest > 0 else np.zeros_like(indices["mu_star"])
    return indices


def identifiability(names: Sequence[str], indices: dict[str, dict[str, np.ndarray]],
                    resolution: dict[str, float], threshold: float = THRESHOLD) -> dict[str, dict[str, Any]]:
    """The verdict per parameter (module docstring): ``identified`` or ``stays at its prior``, with the normalised
    μ* on J and the endpoints that identify it. ``indices``: output → :func:`morris_indices`; ``resolution``:
    endpoint → the standard deviation of its log value in the objective."""
    verdicts = {}
    for position, name in enumerate(names):
        on_objective = float(indices[OBJECTIVE]["normalised"][position]) if OBJECTIVE in indices else 0.0
        endpoints = [key for key, index in indices.items() if key != OBJECTIVE
                     and index["normalised"][position] >= threshold
                     and index["mu_star"][position] - index["mu_star_conf"][position] > resolution.get(key, math.inf)]
        identified = on_objective >= threshold or bool(endpoints)
        verdicts[name] = {"verdict": "identified" if identified else "stays at its prior",
                          "normalised_mu_star_J": round(on_objective, 4), "by_objective": on_objective >= threshold,
                          "endpoints": endpoints}
    return verdicts


def _output_key(row: dict[str, Any]) -> str:
    return f"{row['trial']} | {row['arm']} | {row['endpoint']}"


def output_matrix(evaluations: Sequence[tuple[float, list[dict[str, Any]], list[str]]]
                  ) -> tuple[list[str], np.ndarray, dict[str, dict[str, Any]]]:
    """(output names, evaluations × outputs matrix, endpoint descriptions) from :func:`evaluate` results: J first,
    then each endpoint's ``scaled_simulated``. An endpoint missing from any evaluation is left out."""
    keys: list[str] = []
    described: dict[str, dict[str, Any]] = {}
    for row in evaluations[0][1]:
        key = _output_key(row)
        if key not in described:
            keys.append(key)
            described[key] = {"trial": row["trial"], "arm": row["arm"], "endpoint": row["endpoint"],
                              "reported": row["reported"], "sd": round(1.0 / math.sqrt(row["weight"]), 4)}
    tables = [{_output_key(row): row["scaled_simulated"] for row in rows} for _, rows, _ in evaluations]
    keys = [key for key in keys if all(key in table for table in tables)]
    matrix = np.array([[objective] + [table[key] for key in keys]
                       for (objective, _, _), table in zip(evaluations, tables)], dtype=float)
    return [OBJECTIVE] + keys, matrix, {key: described[key] for key in keys}


def sensitivity(trials: Sequence[str] = DEFAULT_TRIALS, patients: int = 100, trajectories: int = 8, levels: int = 4,
                seed: int = 1, window: float = WINDOW, calibration: str | Path = "default",
                parameters: Sequence[str] | None = None, threshold: float = THRESHOLD, executor: Any = None,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Morris indices of ``parameters`` (default all of :data:`PARAMETERS`) on J and on every endpoint of the
    monotherapy ``trials``, around the calibration ``calibration``; the others stay at its values. Returns the
    document that :func:`write_sensitivity` stores (settings, seconds, indices per output, verdicts)."""
    names = check_design(PARAMETERS if parameters is None else parameters, trajectories, levels)
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise InputError("patients", patients, "an integer >= 1 (virtual patients per trial)")
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise InputError("threshold", threshold, "a fraction of the largest mu* in (0, 1]")
    trials = tuple(trials)
    centre = start_values(calibration)
    bounds = window_bounds(centre, names, window)
    problem = morris_problem(bounds)
    design = morris_design(problem, trajectories, levels, seed)
    began = time.perf_counter()
    targets = calibration_targets(trials, patients, seed)
    points = []
    for row in design:
        values = dict(centre)
        values.update({name: float(math.exp(value)) for name, value in zip(names, row)})
        points.append(values)
    if log is not None:
        log(f"Morris design: {len(names)} parameters x {trajectories} trajectories = {len(points)} evaluations, "
            f"{len(trials)} trials x {patients} virtual patients")
    evaluations = _evaluate_all(points, trials, patients, seed, targets, executor)
    seconds = time.perf_counter() - began
    outputs, matrix, described = output_matrix(evaluations)
    indices = {key: morris_indices(problem, design, matrix[:, column], levels, seed)
               for column, key in enumerate(outputs)}
    verdicts = identifiability(names, indices, {key: entry["sd"] for key, entry in described.items()}, threshold)
    ranking = sorted(names, key=lambda name: -float(indices[OBJECTIVE]["mu_star"][names.index(name)]))
    from importlib.metadata import version

    return {
        "description": "Morris global sensitivity (elementary effects) of rptici's calibration parameters on the "
                       "calibration objective J and on the log simulated value of every monotherapy calibration "
                       "endpoint, around the default calibration (rptici.analysis.sensitivity).",
        "method": "Morris 1991 elementary effects, mu* of Campolongo et al. 2007 with a 95 % bootstrap half-width "
                  f"({RESAMPLES} resamples), SALib {version('SALib')}; inputs in natural log, each over ln(centre) "
                  "+/- window clipped to its bounds; effects per whole window; common random numbers (fixed seed)",
        "identifiability_rule": f"identified: normalised mu* on J >= {threshold}, or on some endpoint >= "
                                f"{threshold} of that endpoint's largest with mu* minus its 95 % half-width above "
                                "the endpoint's sd in the objective; otherwise stays at its prior",
        "settings": {"trials": [item.acronym or item.name for item, _ in targets], "patients_per_trial": patients,
                     "trajectories": trajectories, "levels": levels, "seed": seed, "window": window,
                     "calibration": str(calibration), "threshold": threshold, "evaluations": len(points),
                     "seconds": round(seconds, 1), "executor": None if executor is None else str(executor)},
        "parameters": {name: {"centre": float(f"{centre[name]:.4g}"),
                              "low": float(f"{math.exp(bounds[name][0]):.4g}"),
                              "high": float(f"{math.exp(bounds[name][1]):.4g}"), "unit": PARAMETERS[name].unit}
                       for name in names},
        "objective_range": [round(float(matrix[:, 0].min()), 2), round(float(matrix[:, 0].max()), 2)],
        "outputs": [{"name": key, **({"trial": None, "arm": None, "endpoint": "objective J", "reported": None,
                                      "sd": None} if key == OBJECTIVE else described[key])} for key in outputs],
        "indices": {key: {field: [float(f"{value:.4g}") for value in index[field]]
                          for field in ("mu_star", "mu_star_conf", "sigma", "mu", "normalised")}
                    for key, index in indices.items()},
        "ranking": ranking,
        "identifiability": verdicts,
    }


def write_sensitivity(document: dict[str, Any], path: str | Path) -> Path:
    """Write the sensitivity document (JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def packaged_sensitivity() -> dict[str, Any]:
    """The packaged result (``data/calibration/sensitivity.json``, written by ``rptici sensitivity``)."""
    from importlib.resources import files

    return json.loads(files("rptici.data").joinpath(PACKAGED).read_text(encoding="utf-8"))


def table_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per parameter, in the order of μ* on J: μ* (± half-width), σ, normalised μ*, the number of endpoints
    that identify it and the verdict (what ``rptici sensitivity`` prints)."""
    names = list(document["parameters"])
    objective = document["indices"][OBJECTIVE]
    rows = []
    for name in document["ranking"]:
        position = names.index(name)
        verdict = document["identifiability"][name]
        rows.append({"parameter": name, "mu_star_J": objective["mu_star"][position],
                     "mu_star_conf_J": objective["mu_star_conf"][position], "sigma_J": objective["sigma"][position],
                     "normalised_J": objective["normalised"][position], "endpoints": len(verdict["endpoints"]),
                     "verdict": verdict["verdict"]})
    return rows
