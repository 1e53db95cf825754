"""``rptici optimize``: the Pareto front of treatment regimens under organ limits, from virtual trials.

Each candidate regimen of a :class:`~rptici.decisions.space.SearchSpace` is given to the same virtual patients
(common random numbers: one population sample, one seed, so every patient keeps their covariates and their own
random stream in every candidate; differences between candidates are the regimen's, not sampling noise). Per
candidate:

1. organ doses first, in closed form (:func:`rptici.radiobiology.regimen_dose.regimen_dose`, the same function the
   trial runner grades radiation toxicity with) at the reference patient (ICRP 89 adult male) or as a statistic
   over the population (``p90``: 90th percentile); a candidate over a limit is not simulated;
2. otherwise a one-arm virtual trial (:func:`rptici.trials.run.simulate_trial`) and its summary
   (:func:`rptici.analysis.summary.summarize_tables`): the objectives' endpoints with their 95 % intervals
   (Kaplan–Meier medians with Brookmeyer–Crowley intervals, exact binomial rates, RMST with its Greenwood
   variance).

The search is :func:`.search.nsga2_search` (NSGA-II, Deb et al. 2002). Evaluated candidates go to a JSON-lines
history (one line per candidate, the space's fingerprint in each); a search started again with the same history
re-uses them and gives the same front. A median not reached within follow-up enters an objective as the
follow-up (a lower bound) and is flagged ``not_reached``.

The numbers are the model's predictions; the model is not yet credible (``model_status`` in every output).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..analysis.status import model_status
from ..errors import InputError
from .search import NOT_SIMULATED, Evaluation, Key, nsga2_search, pareto_front
from .space import SearchSpace, describe, load_space, trial_mapping

HISTORY_FILE = "history.jsonl"
FRONT_JSON, FRONT_PARQUET, EVALUATIONS_PARQUET, REPORT_FILE = ("front.json", "front.parquet", "evaluations.parquet",
                                                               "report.html")
_QUANTITY_ARRAYS = {"dose": "rbe_weighted_dose_Gy", "bed": "bed_Gy", "eqd2": "eqd2_Gy"}


def _statistic(values: np.ndarray, statistic: str) -> float:
    values = np.asarray(values, dtype=float)
    if statistic in ("reference",):
        return float(values[0])
    if statistic == "mean":
        return float(np.mean(values))
    if statistic == "max":
        return float(np.max(values))
    return float(np.percentile(values, float(statistic[1:])))


def organ_constraint_values(space: SearchSpace, regimen_mapping: dict[str, Any], covariates: Any) -> dict[str, float]:
    """Per constraint of ``space``: the organ dose, BED or EQD2 (Gy; RBE-weighted for α emitters, as the limits)
    of the regimen at the reference patient or the statistic over ``covariates`` (the population's kinetic
    covariates). An organ the agent does not irradiate gets 0."""
    from ..kinetics.regimen import load_regimen
    from ..radiobiology.regimen_dose import regimen_dose
    from ..radiobiology.tissues import tissue

    regimen = load_regimen(regimen_mapping)
    if regimen.rpt is None or not space.constraints:
        return {item.name: 0.0 for item in space.constraints}
    results = {}
    for statistic in dict.fromkeys("reference" if item.statistic == "reference" else "population"
                                   for item in space.constraints):
        if statistic == "reference":
            results[statistic] = regimen_dose(regimen, None, times=np.array([0.0]))
            continue
        try:
            results[statistic] = regimen_dose(regimen, covariates, times=np.array([0.0]))
        except InputError as error:  # agents without a lesion compartment (as the trial runner does)
            if error.field != "lesion_masses_g":
                raise
            import dataclasses

            covariates = dataclasses.replace(covariates, lesion_masses_g=np.zeros((covariates.lesion_masses_g.shape[0], 0)),
                                             lesion_uptake_factors=None, lesion_sites=None)
            results[statistic] = regimen_dose(regimen, covariates, times=np.array([0.0]))
    values = {}
    for item in space.constraints:
        result = results["reference" if item.statistic == "reference" else "population"]
        wanted = tissue(item.region).name
        columns = [index for index, target in enumerate(result.targets[:len(result.tissues)])
                   if result.tissues[index] == wanted]
        if not columns:
            values[item.name] = 0.0
            continue
        array = getattr(result, _QUANTITY_ARRAYS[item.quantity])[:, columns[0]]
        values[item.name] = _statistic(array, item.statistic)
    return values


def _endpoint_value(row: dict[str, Any], name: str) -> tuple[Any, Any]:
    """(value, 95 % interval) of a summary row's endpoint (dotted names for nested ones)."""
    if "." in name:
        group, key = name.split(".", 1)
        interval_group = group.replace("_rate", "_ci")
        return row.get(group, {}).get(key), row.get(interval_group, {}).get(key)
    if name.startswith("median_") and name.endswith("_months"):
        return row.get(name), row.get(name.removesuffix("_months") + "_ci")
    return row.get(name), row.get(name + "_ci")


def restricted_mean(times_days: np.ndarray, events: np.ndarray, horizon_months: float) -> tuple[float, list[float]]:
    """Restricted mean survival time (months) to ``horizon_months`` from the Kaplan–Meier curve, with a normal
    95 % interval from its variance (Royston & Parmar 2013, BMC Med Res Methodol 13:152; lifelines)."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    from ..trials.endpoints import to_months

    fit = KaplanMeierFitter().fit(to_months(np.asarray(times_days, dtype=float)), np.asarray(events, dtype=bool))
    mean, variance = restricted_mean_survival_time(fit, t=horizon_months, return_variance=True)
    half = 1.959964 * float(np.sqrt(max(variance, 0.0)))
    return float(mean), [float(mean) - half, float(mean) + half]


@dataclass
class TrialEvaluator:
    """Evaluates candidates of ``space`` (picklable: a process pool gets a copy)."""

    space: SearchSpace
    covariates: Any
    follow_up_months: float
    member: Any = None  # a Calibration (an ensemble member) replacing the space's, or None

    def __post_init__(self) -> None:
        self._memo: dict[str, tuple[list[float], list[float], dict[str, Any]]] = {}

    def __call__(self, key: Key) -> tuple[list[float], list[float], dict[str, Any]]:
        """Objectives (to minimise), constraint values (Gy over the limit) and record of candidate ``key``; two
        keys giving the same regimen (e.g. any sequence without ICI) are simulated once."""
        regimen = self.space.regimen_of(key)
        text = json.dumps(regimen, sort_keys=True, default=str)
        repeated = text in self._memo
        if not repeated:
            self._memo[text] = self._evaluate(regimen)
        objectives, constraints, record = self._memo[text]
        return list(objectives), list(constraints), {**record, "variables": self.space.values_of(key),
                                                     "same_regimen_as_earlier": repeated}

    def _evaluate(self, regimen: dict[str, Any]) -> tuple[list[float], list[float], dict[str, Any]]:
        from ..analysis.summary import summarize_tables
        from ..trials.run import simulate_trial

        space = self.space
        started = time.perf_counter()
        doses = organ_constraint_values(space, regimen, self.covariates)
        constraint_values = [doses[item.name] - item.limit_Gy for item in space.constraints]
        record: dict[str, Any] = {"regimen": regimen, "doses_Gy": doses,
                                  "feasible": all(value <= 0 for value in constraint_values)}
        if not record["feasible"]:
            record.update(simulated=False, endpoints={}, seconds=time.perf_counter() - started)
            return [NOT_SIMULATED] * len(space.objectives), constraint_values, record
        tables = simulate_trial(trial_mapping(space, regimen), calibration=self.member)
        patients = tables["patients"]
        row = summarize_tables(patients, follow_up_months=self.follow_up_months)["arms"][0]
        valid = patients[patients["status"] == "ok"]
        endpoints: dict[str, Any] = {}
        objectives = []
        for objective in space.objectives:
            if objective.endpoint.startswith("rmst_"):
                column = objective.endpoint.removeprefix("rmst_").removesuffix("_months")
                value, interval = restricted_mean(valid[f"{column}_days"], valid[f"{column}_event"],
                                                  self.follow_up_months)
            else:
                value, interval = _endpoint_value(row, objective.endpoint)
            not_reached = value is None and objective.endpoint.startswith("median_")
            if not_reached:
                value = self.follow_up_months
            if value is None:
                raise InputError(f"objectives.{objective.endpoint}", None,
                                 "an endpoint the trial gives for this disease (e.g. psa50 needs PSA)")
            endpoints[objective.endpoint] = {"value": float(value), "interval": interval, "not_reached": not_reached}
            objectives.append(objective.sign * float(value))
        endpoints["n"] = int(row["n"])
        endpoints["failed"] = int(row["failed"])
        for extra in ("orr", "psa50", "median_pfs_months", "median_os_months"):
            if extra not in endpoints and row.get(extra) is not None:
                endpoints[extra] = {"value": float(row[extra]), "interval": _endpoint_value(row, extra)[1]}
        endpoints["grade3plus_rate"] = row.get("grade3plus_rate")
        endpoints["kidney_bed_Gy_p90"] = float(np.percentile(valid["kidney_bed_Gy"], 90)) if len(valid) else None
        record.update(simulated=True, endpoints=endpoints, seconds=time.perf_counter() - started)
        return objectives, constraint_values, record


def _population_covariates(space: SearchSpace, member: Any = None) -> tuple[Any, float, str | None]:
    """The kinetic covariates of the candidates' common population, the follow-up in months, the calibration
    (``member``: an ensemble member's calibration instead of the space's)."""
    from ..trials.endpoints import to_months
    from ..trials.run import calibrated_population
    from ..trials.scenario import load_calibration, load_trial_scenario

    scenario = load_trial_scenario(trial_mapping(space, space.regimen_of([0] * len(space.variables))))
    calibration = load_calibration(scenario.calibration) if member is None else member
    population = calibrated_population(scenario, space.patients, space.seed, calibration)
    return population.kinetic_covariates(), float(to_months(scenario.follow_up_days)), scenario.calibration


def read_history(path: Path, space: SearchSpace) -> dict[Key, Evaluation]:
    """The evaluations of a history file made with this space (another space's file is refused)."""
    evaluations: dict[Key, Evaluation] = {}
    if not path.is_file():
        return evaluations
    fingerprint = space.fingerprint()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            if number == len(path.read_text(encoding="utf-8").splitlines()):
                break  # a last line cut by an interruption
            raise InputError("--history", f"{path}:{number}", "JSON lines written by rptici optimize") from None
        if document.get("space") != fingerprint:
            raise InputError("--history", str(path), f"a history of this space (fingerprint {fingerprint}); this "
                                                     f"file is of {document.get('space')}: use another file")
        key = tuple(int(value) for value in document["key"])
        evaluations[key] = Evaluation(key, document["objectives"], document["constraints"], document["record"],
                                      int(document.get("generation", 0)))
    return evaluations


def _history_writer(path: Path, space: SearchSpace) -> Callable[[Evaluation], None]:
    fingerprint = space.fingerprint()

    def write(item: Evaluation) -> None:
        line = json.dumps({"space": fingerprint, "key": list(item.key), "objectives": item.objectives,
                           "constraints": item.constraints, "generation": item.generation,
                           "record": item.record}, default=_json_default)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    return write


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _point(space: SearchSpace, item: Evaluation) -> dict[str, Any]:
    record = item.record
    return {"key": list(item.key), "variables": record["variables"], "regimen": record["regimen"],
            "doses_Gy": record["doses_Gy"],
            "constraint_margins_Gy": {constraint.name: -value for constraint, value in
                                      zip(space.constraints, item.constraints)},
            "feasible": item.feasible, "simulated": record.get("simulated", False),
            "endpoints": record.get("endpoints", {}), "generation": item.generation}


def ensemble_front(space: SearchSpace, front: list[Evaluation], members: int, share: float = 1.0,
                   calibration: str | None = None) -> dict[str, Any]:
    """The front's points simulated again under ``members`` members of the calibration ensemble (same patients)
    and marked robust by the rule of :mod:`rptici.decisions.robust`: per point the share of members in which it
    holds, whether it is robust and each objective's [min, max] over the members."""
    from ..analysis.ensemble import ensemble_members
    from .robust import _check_share, interval, robust_points

    share = _check_share(share)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise InputError("--ensemble", members, "a whole number of ensemble members ≥ 1")
    calibrations = ensemble_members(calibration or "default", members)
    started = time.perf_counter()
    objectives = np.zeros((len(calibrations), len(front), len(space.objectives)))
    feasible = np.zeros((len(calibrations), len(front)), dtype=bool)
    values: list[list[dict[str, Any]]] = [[] for _ in front]
    for number, member in enumerate(calibrations):
        covariates, follow_up, _ = _population_covariates(space, member)
        evaluator = TrialEvaluator(space, covariates, follow_up, member)
        for column, item in enumerate(front):
            found, constraint_values, record = evaluator(item.key)
            objectives[number, column] = found
            feasible[number, column] = all(value <= 0 for value in constraint_values)
            values[column].append(record.get("endpoints", {}))
    rule = robust_points(objectives, feasible, share)
    points = []
    for column, item in enumerate(front):
        ranges = {objective.endpoint: interval([(entry.get(objective.endpoint) or {}).get("value")
                                                if not (entry.get(objective.endpoint) or {}).get("not_reached")
                                                else None for entry in values[column]])
                  for objective in space.objectives}
        points.append({"key": list(item.key), "robust": bool(rule["robust"][column]),
                       "share_held": float(rule["share_held"][column]),
                       "held_per_member": [bool(value) for value in rule["held"][:, column]],
                       "feasible_per_member": [bool(value) for value in feasible[:, column]],
                       "objective_range_over_members": ranges})
    return {"members": len(calibrations), "calibration": calibration or "default", "share_required": share,
            "rule": "a front point is robust when, in at least the required share of ensemble members, it is within "
                    "every organ limit and no other front point is at least as good on every objective and better "
                    "on one (same patients in every member; rptici.decisions.robust)",
            "points": points, "robust_points": sum(point["robust"] for point in points),
            "seconds": time.perf_counter() - started}


def optimize(space_source: Any, out: str | os.PathLike[str] | None = None, *, history: str | os.PathLike[str] | None = None,
             generations: int | None = None, population: int | None = None, patients: int | None = None,
             executor: Any = None, progress: Callable[[int, int], None] | None = None, ensemble: int = 0,
             robust_share: float = 1.0) -> dict[str, Any]:
    """Search the space and return the result document (front, every evaluation, timing, model status); with
    ``out``, write ``front.json``, ``front.parquet``, ``evaluations.parquet`` and the history there. With
    ``ensemble`` members, the front is re-simulated under each member of the calibration ensemble and each front
    point marked robust or not (:func:`ensemble_front`, rule in :mod:`rptici.decisions.robust`)."""
    import dataclasses

    space = load_space(space_source)
    changes = {name: value for name, value in (("generations", generations), ("population", population),
                                               ("patients", patients)) if value is not None}
    for name, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < (10 if name == "patients" else 1):
            raise InputError(f"--{name}", value, "a whole number ≥ " + ("10" if name == "patients" else "1"))
    space = dataclasses.replace(space, **changes)
    folder = None if out is None else Path(out)
    if folder is not None:
        if folder.exists() and not folder.is_dir():
            raise InputError("--out", str(folder), "a folder (this is a file)")
        folder.mkdir(parents=True, exist_ok=True)
    history_path = Path(history) if history is not None else (folder / HISTORY_FILE if folder is not None else None)
    cache = read_history(history_path, space) if history_path is not None else {}
    resumed = len(cache)
    covariates, follow_up, calibration = _population_covariates(space)
    evaluator = TrialEvaluator(space, covariates, follow_up)
    writer = _history_writer(history_path, space) if history_path is not None else None
    from ..parallel import executor_from

    pool, owned = executor_from(executor) if executor not in (None, "serial") else (None, False)
    started = time.perf_counter()
    try:
        evaluations = nsga2_search(space.levels, evaluator, len(space.objectives), len(space.constraints),
                                   space.generations, space.population, space.seed, cache=cache,
                                   on_evaluated=writer, executor=pool, progress=progress)
    finally:
        if owned:
            pool.shutdown()
    wall = time.perf_counter() - started
    new = [item for key, item in evaluations.items() if key not in cache]
    simulated = [item for item in new if item.record.get("simulated") and not item.record.get("same_regimen_as_earlier")]
    front = pareto_front(evaluations.values())
    result = {
        "name": space.name, "space": describe(space), "calibration": calibration,
        "objectives": [{"endpoint": item.endpoint, "goal": item.goal} for item in space.objectives],
        "constraints": describe(space)["constraints"],
        "front": [_point(space, item) for item in front],
        "evaluations": [_point(space, item) for item in evaluations.values()],
        "counts": {"evaluated": len(evaluations), "new": len(new), "from_history": resumed,
                   "simulated_new": len(simulated), "infeasible": sum(not item.feasible for item in evaluations.values())},
        "timing": {"wall_seconds": wall, "patients_per_candidate": space.patients,
                   "simulated_per_hour": (3600.0 * len(simulated) / wall) if simulated and wall > 0 else None,
                   "seconds_per_simulated_candidate": (float(np.mean([item.record["seconds"] for item in simulated]))
                                                       if simulated else None)},
        "method": "NSGA-II (Deb et al. 2002; pymoo), common random numbers across candidates",
        "model_status": model_status(calibration).as_dict(),
    }
    if ensemble:
        result["ensemble"] = ensemble_front(space, front, ensemble, robust_share, calibration)
        for point, robustness in zip(result["front"], result["ensemble"]["points"]):
            point["robust"] = robustness["robust"]
            point["ensemble"] = robustness
    if folder is not None:
        write_outputs(result, folder)
    return result


#: The patient a regimen's timeline is drawn for: the ICRP 89 reference adult male (73 kg, 1.9 m²).
TIMELINE_SEX = "male"


def regimen_timeline(regimen_mapping: dict[str, Any]) -> dict[str, Any]:
    """The administrations of one regimen for the reference patient, JSON-ready: RPT cycles (weeks, GBq; a guided
    regimen's activities are those of the reference patient's dosimetry) and ICI infusions (weeks, agent)."""
    from ..kinetics.biokinetics import Covariates
    from ..kinetics.regimen import load_regimen
    from ..radiobiology.guided import guided_administrations

    regimen = load_regimen(regimen_mapping)
    patient = Covariates.reference(TIMELINE_SEX)
    rpt_times, activities = guided_administrations(regimen, patient) if regimen.rpt is not None \
        else regimen.rpt_administrations(patient.weight_kg, patient.bsa_m2)
    ici_times, _ = regimen.ici_infusions(patient.weight_kg)
    agents = regimen.ici_infusion_agents() if regimen.ici_schedules else []
    return {"patient": "reference adult male (ICRP 89: 73 kg, 1.9 m²)",
            "rpt_weeks": [float(day) / 7.0 for day in np.asarray(rpt_times, float)],
            "rpt_GBq": [float(value) / 1000.0 for value in np.asarray(activities, float)[:, 0]],
            "rpt_agent": None if regimen.rpt is None else regimen.rpt.agent,
            "guided": regimen.rpt is not None and regimen.rpt.guided is not None,
            "ici_weeks": [float(day) / 7.0 for day in np.asarray(ici_times, float)],
            "ici_agents": [str(agent) for agent in agents]}


def point_label(point: dict[str, Any]) -> str:
    """The variables of a front point in words (the ICI mapping by its agent)."""
    parts = []
    for name, value in point["variables"].items():
        if isinstance(value, dict):
            value = value.get("agent") or ", ".join(f"{key} {item}" for key, item in value.items())
        parts.append(f"{name}: {'none' if value is None else value}")
    return "; ".join(parts)


def _flat(point: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"key": json.dumps(point["key"]), "feasible": point["feasible"],
                           "robust": point.get("robust"),
                           "simulated": point["simulated"], "generation": point["generation"],
                           "regimen": json.dumps(point["regimen"], default=str)}
    for name, value in point["variables"].items():
        row[f"var.{name}"] = json.dumps(value, default=str) if isinstance(value, (dict, list)) or value is None \
            else str(value)
    for name, value in point["doses_Gy"].items():
        row[f"dose.{name}_Gy"] = value
    for name, value in point["endpoints"].items():
        if isinstance(value, dict) and "value" in value:
            row[name] = value["value"]
            interval = value.get("interval") or [None, None]
            row[f"{name}_low"], row[f"{name}_high"] = interval[0], interval[1]
        elif isinstance(value, (int, float)) or value is None:
            row[name] = value
    return row


def write_outputs(result: dict[str, Any], folder: Path) -> None:
    """``front.json`` (the whole document), ``front.parquet`` and ``evaluations.parquet`` (one row per point)."""
    (folder / FRONT_JSON).write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")
    for name, points in ((FRONT_PARQUET, result["front"]), (EVALUATIONS_PARQUET, result["evaluations"])):
        frame = pd.DataFrame([_flat(point) for point in points])
        frame.to_parquet(folder / name, index=False)
