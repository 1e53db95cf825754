"""A search space over treatment regimens for ``rptici optimize``: variables, objectives, organ-dose constraints.

A space file (YAML)::

    kind: optimization
    name: Lu-PSMA-617 + pembrolizumab in mCRPC
    trial: {disease: mcrpc, follow_up: 24 months, assessments: q12w, psa_assessments: q3w}  # any trial-scenario field
    patients: 200                      # virtual patients per candidate (the same ones for every candidate)
    seed: 1                            # population seed (common random numbers) and search seed
    regimen:                           # the base regimen; each variable replaces one field of it
      rpt: {agent: "[177Lu]Lu-PSMA-617", activity: 7.4 GBq, interval: 6 weeks, cycles: 6}
      ici: {agent: pembrolizumab, dose: 200 mg, interval: q3w, infusions: 35}
      sequence: {order: concurrent}
    variables:
      rpt.activity: {range: [4 GBq, 10 GBq], step: 0.5 GBq}     # a quantity grid (unit of the bounds)
      rpt.cycles: {range: [2, 8]}                                # whole numbers
      rpt.interval: {choices: [4 weeks, 6 weeks, 8 weeks]}
      ici: {choices: [null, {agent: pembrolizumab, dose: 200 mg, interval: q3w, infusions: 35}]}   # null: no ICI
      sequence: {choices: [{order: concurrent}, {order: ici_first, lead: 2 weeks}, {order: rpt_first, lag: 4 weeks}]}
      rpt.guided: {choices: [null, {region: kidneys, quantity: bed, target: 40 Gy, basis: cycle1}]}  # fixed or
                                       # dosimetry-guided activity (rptici.radiobiology.guided)
    objectives:
      - {endpoint: median_pfs_months, goal: maximize}
      - {endpoint: grade3plus_rate.any, goal: minimize}
    constraints:                       # limit: the tissue file's (data/tissues.yaml) unless given ("40 Gy")
      - {region: kidneys, quantity: bed, statistic: p90}
      - {region: red_marrow, quantity: dose, statistic: p90}
    search: {generations: 8, population: 8}

Every variable is discrete (a grid or a list), so that a candidate is a tuple of level indices: the history file
keys on it, duplicates are evaluated once, and the search is the same on resumption. Every error names the field,
the value and what is allowed (:class:`~rptici.errors.InputError`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..data import read_mapping
from ..errors import InputError
from ..units import parse_quantity

GOALS = ("maximize", "minimize")
STATISTICS = ("reference", "mean", "p50", "p90", "p95", "max")
QUANTITIES = ("dose", "bed", "eqd2")
#: Endpoints an objective may name: keys of a summary arm row (dotted for nested ones) and the restricted mean
#: survival times computed here.
ENDPOINTS = ("median_pfs_months", "median_os_months", "median_psa_pfs_months", "rmst_pfs_months", "rmst_os_months",
             "orr", "psa50", "grade3plus_rate.any", "grade3plus_rate.radiation", "grade3plus_rate.immune")
#: Kinds of quantity a range may span (activity, per kg, per m², time, drug amount and per kg).
RANGE_DIMENSIONS = ("activity", "activity_per_mass", "activity_per_area", "time", "drug_amount", "drug_per_mass")
#: Most levels of one variable and most candidates of a space (a grid is its product).
MAX_LEVELS = 200
MAX_EVALUATIONS = 5000
#: Regimen fields a variable may replace (a path into the regimen mapping).
VARIABLE_ROOTS = ("rpt", "ici", "sequence")
#: Variables that may take ``null`` (leave that part out): no ICI, default sequence, fixed (not guided) activity.
NULLABLE = ("ici", "sequence", "rpt.guided")
SPACE_FIELDS = ("kind", "name", "trial", "patients", "seed", "regimen", "variables", "objectives", "constraints",
                "search", "calibration")
TRIAL_FORBIDDEN = ("arms", "patients", "seed", "kind", "name", "chunk_size")


@dataclass(frozen=True)
class Variable:
    """One regimen field (``path``, e.g. ``rpt.activity``) and the values it may take (``levels``, as written
    into the regimen: quantity strings, numbers, mappings or None for 'remove this part')."""

    path: str
    levels: tuple[Any, ...]

    def label(self, index: int) -> str:
        value = self.levels[index]
        if value is None:
            return "none"
        if isinstance(value, Mapping):
            return ", ".join(f"{key} {item}" for key, item in value.items())
        return str(value)


@dataclass(frozen=True)
class Objective:
    endpoint: str
    goal: str

    @property
    def sign(self) -> float:
        """Multiplier turning the endpoint into a value to minimise."""
        return -1.0 if self.goal == "maximize" else 1.0


@dataclass(frozen=True)
class Constraint:
    """An organ limit: ``statistic`` of ``quantity`` (Gy) in ``region`` over the population ≤ ``limit_Gy``."""

    region: str
    quantity: str
    statistic: str
    limit_Gy: float
    source: str

    @property
    def name(self) -> str:
        return f"{self.region} {self.quantity} {self.statistic}"


@dataclass(frozen=True)
class SearchSpace:
    name: str
    trial: dict[str, Any]
    patients: int
    seed: int
    regimen: dict[str, Any]
    variables: tuple[Variable, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    generations: int
    population: int
    calibration: str | None = None

    @property
    def levels(self) -> list[int]:
        return [len(variable.levels) for variable in self.variables]

    def regimen_of(self, indices: tuple[int, ...] | list[int]) -> dict[str, Any]:
        """The regimen mapping of a candidate (level indices): the base regimen with each variable's value set."""
        regimen = copy.deepcopy(self.regimen)
        for variable, index in zip(self.variables, indices):
            _set_path(regimen, variable.path, copy.deepcopy(variable.levels[int(index)]))
        if regimen.get("ici") is None:
            regimen.pop("ici", None)
            regimen.pop("sequence", None)
        return regimen

    def values_of(self, indices: tuple[int, ...] | list[int]) -> dict[str, Any]:
        """Each variable's value; ``sequence`` (and its fields) are None when the candidate has no ICI."""
        regimen = self.regimen_of(indices)
        return {variable.path: None if variable.path.split(".")[0] not in regimen else variable.levels[int(index)]
                for variable, index in zip(self.variables, indices)}

    def fingerprint(self) -> str:
        """Hash of everything that decides a candidate's numbers (not the search settings): a history file made
        with another space is refused."""
        document = {"trial": self.trial, "patients": self.patients, "seed": self.seed, "regimen": self.regimen,
                    "variables": [[variable.path, list(variable.levels)] for variable in self.variables],
                    "objectives": [[item.endpoint, item.goal] for item in self.objectives],
                    "constraints": [[item.region, item.quantity, item.statistic, item.limit_Gy]
                                    for item in self.constraints], "calibration": self.calibration}
        return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _set_path(mapping: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = mapping
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if value is None:
        target.pop(parts[-1], None)
        if len(parts) == 1:
            mapping[parts[0]] = None
    else:
        target[parts[-1]] = value


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(field, value, f"a whole number from {low} to {high}")
    return int(value)


def _range_levels(spec: Mapping[str, Any], field: str) -> tuple[Any, ...]:
    bounds = spec["range"]
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise InputError(f"{field}.range", bounds, "two bounds [low, high], such as [4 GBq, 10 GBq] or [2, 8]")
    low, high = bounds
    step = spec.get("step")
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in (low, high)) \
            and (step is None or isinstance(step, (int, np.integer))):
        step = 1 if step is None else _whole(step, f"{field}.step", 1, 10**6)
        if low > high:
            raise InputError(f"{field}.range", bounds, "low ≤ high")
        values = list(range(int(low), int(high) + 1, step))
    else:
        if step is None:
            raise InputError(f"{field}.step", None, "a step with its unit for a range of quantities, such as 0.5 GBq")
        dimension, unit = _dimension_and_unit(low, f"{field}.range")
        low_value = parse_quantity(low, dimension, f"{field}.range", require_unit=True)
        high_value = parse_quantity(high, dimension, f"{field}.range", require_unit=True)
        step_value = parse_quantity(step, dimension, f"{field}.step", require_unit=True)
        if not step_value > 0:
            raise InputError(f"{field}.step", step, "a positive step")
        if not 0 <= low_value <= high_value:
            raise InputError(f"{field}.range", bounds, "0 ≤ low ≤ high (same kind of quantity)")
        count = int(np.floor((high_value - low_value) / step_value + 1e-9)) + 1
        if count > MAX_LEVELS:
            raise InputError(f"{field}.step", step, f"a step giving at most {MAX_LEVELS} levels (gives {count})")
        scale = parse_quantity(f"1 {unit}", dimension, field)
        values = [f"{(low_value + number * step_value) / scale:.6g} {unit}" for number in range(count)]
    if len(values) > MAX_LEVELS:
        raise InputError(f"{field}.range", bounds, f"at most {MAX_LEVELS} levels (gives {len(values)})")
    return tuple(values)


def _dimension_and_unit(text: Any, field: str) -> tuple[str, str]:
    """The dimension of a quantity written with its unit and that unit as written ('4 GBq' → activity, 'GBq')."""
    if not isinstance(text, str) or len(text.split(maxsplit=1)) != 2:
        raise InputError(field, text, "a quantity with its unit, such as '4 GBq', '55 kBq/kg' or '4 weeks'")
    for dimension in RANGE_DIMENSIONS:
        try:
            parse_quantity(text, dimension, field, require_unit=True)
        except InputError:
            continue
        return dimension, text.split(maxsplit=1)[1]
    raise InputError(field, text, "a quantity with its unit, such as '4 GBq', '55 kBq/kg' or '4 weeks'")


def _variable(path: Any, spec: Any) -> Variable:
    field = f"variables.{path}"
    if not isinstance(path, str) or path.split(".")[0] not in VARIABLE_ROOTS or "" in path.split("."):
        raise InputError("variables", path, "a regimen field such as rpt.activity, rpt.cycles, rpt.interval, ici, "
                                            "ici.dose, sequence (paths under " + ", ".join(VARIABLE_ROOTS) + ")")
    if not isinstance(spec, Mapping) or len(set(spec) & {"range", "choices"}) != 1 \
            or set(spec) - {"range", "choices", "step"}:
        raise InputError(field, spec, "a mapping with either 'range' ([low, high], optional 'step') or 'choices' "
                                      "(a list of values)")
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, (list, tuple)) or not choices or len(choices) > MAX_LEVELS:
            raise InputError(f"{field}.choices", choices, f"a list of 1 to {MAX_LEVELS} values")
        if None in choices and path not in NULLABLE and not path.endswith((".lead", ".lag")):
            raise InputError(f"{field}.choices", choices, "values (null, 'no such part', only for "
                                                          + ", ".join(NULLABLE) + ")")
        levels = tuple(choices)
    else:
        levels = _range_levels(spec, field)
    return Variable(path, levels)


def _constraint(number: int, spec: Any) -> Constraint:
    from ..radiobiology.tissues import tissue

    field = f"constraints[{number}]"
    if not isinstance(spec, Mapping) or "region" not in spec or set(spec) - {"region", "quantity", "statistic",
                                                                            "limit"}:
        raise InputError(field, spec, "a mapping {region: kidneys, quantity: bed, statistic: p90, limit: 40 Gy} "
                                      "(quantity, statistic and limit optional)")
    region = str(spec["region"])
    quantity = str(spec.get("quantity", "bed"))
    statistic = str(spec.get("statistic", "p90"))
    if quantity not in QUANTITIES:
        raise InputError(f"{field}.quantity", quantity, "one of " + ", ".join(QUANTITIES))
    if statistic not in STATISTICS:
        raise InputError(f"{field}.statistic", statistic, "one of " + ", ".join(STATISTICS))
    tissue_entry = tissue(region)  # raises UnknownNameError naming the known tissues
    if spec.get("limit") is not None:
        limit = parse_quantity(spec["limit"], "dose", f"{field}.limit", require_unit=True)
        if not limit > 0:
            raise InputError(f"{field}.limit", spec["limit"], "a positive dose such as '40 Gy'")
        source = "space file"
    else:
        candidates = [item for item in tissue_entry.limits.values()
                      if item.quantity == quantity and item.applies_to is None]
        if not candidates:
            raise InputError(f"{field}.limit", None, f"a limit ('40 Gy'): data/tissues.yaml has no {quantity} limit "
                                                     f"for {tissue_entry.name} that applies to every patient")
        limit, source = min(item.value for item in candidates), candidates[0].source
    return Constraint(region, quantity, statistic, float(limit), source)


def load_space(source: Mapping[str, Any] | str | os.PathLike[str]) -> SearchSpace:
    """The :class:`SearchSpace` of a YAML file or mapping (see the module docstring), every field checked."""
    from ..kinetics.regimen import load_regimen
    from ..trials.scenario import load_trial_scenario

    document = read_mapping(source, "space", "a space file (YAML mapping) or a mapping") if not isinstance(source, Mapping) else dict(source)
    unknown = sorted(set(document) - set(SPACE_FIELDS))
    if unknown:
        raise InputError(unknown[0], document[unknown[0]], "a field of a space file: " + ", ".join(SPACE_FIELDS))
    if document.get("kind", "optimization") != "optimization":
        raise InputError("kind", document.get("kind"), "'optimization'")
    trial = dict(document.get("trial") or {})
    bad = sorted(set(trial) & set(TRIAL_FORBIDDEN))
    if bad:
        raise InputError(f"trial.{bad[0]}", trial[bad[0]], "no such field here: the arms are the candidates and "
                                                          "patients/seed are set at the top of the space file")
    if "disease" not in trial:
        raise InputError("trial.disease", None, "a disease population, such as mcrpc")
    patients = _whole(document.get("patients", 200), "patients", 10, 100_000)
    seed = _whole(document.get("seed", 1), "seed", 0, 2**32 - 1)
    regimen = document.get("regimen")
    if not isinstance(regimen, Mapping) or "rpt" not in regimen and "ici" not in regimen:
        raise InputError("regimen", regimen, "a base regimen mapping with rpt and/or ici (and sequence)")
    variables_spec = document.get("variables") or {}
    if not isinstance(variables_spec, Mapping) or not variables_spec:
        raise InputError("variables", variables_spec, "a mapping of regimen fields to {range: ...} or "
                                                      "{choices: [...]}, at least one")
    variables = tuple(_variable(path, spec) for path, spec in variables_spec.items())
    objectives_spec = document.get("objectives")
    if not isinstance(objectives_spec, list) or not 1 <= len(objectives_spec) <= 4:
        raise InputError("objectives", objectives_spec, "a list of 1 to 4 {endpoint, goal}")
    objectives = []
    for number, item in enumerate(objectives_spec):
        if not isinstance(item, Mapping) or set(item) != {"endpoint", "goal"}:
            raise InputError(f"objectives[{number}]", item, "a mapping {endpoint: ..., goal: maximize|minimize}")
        if item["endpoint"] not in ENDPOINTS:
            raise InputError(f"objectives[{number}].endpoint", item["endpoint"], "one of " + ", ".join(ENDPOINTS))
        if item["goal"] not in GOALS:
            raise InputError(f"objectives[{number}].goal", item["goal"], "one of " + ", ".join(GOALS))
        objectives.append(Objective(str(item["endpoint"]), str(item["goal"])))
    constraints_spec = document.get("constraints") or []
    if not isinstance(constraints_spec, list):
        raise InputError("constraints", constraints_spec, "a list of {region, quantity, statistic, limit}")
    constraints = tuple(_constraint(number, item) for number, item in enumerate(constraints_spec))
    search = dict(document.get("search") or {})
    if set(search) - {"generations", "population"}:
        raise InputError("search", search, "a mapping with generations and population")
    generations = _whole(search.get("generations", 8), "search.generations", 1, 1000)
    population = _whole(search.get("population", 8), "search.population", 2, 1000)
    if generations * population > MAX_EVALUATIONS:
        raise InputError("search", search, f"generations × population ≤ {MAX_EVALUATIONS}")
    calibration = document.get("calibration")
    space = SearchSpace(str(document.get("name", "optimization")), trial, patients, seed, dict(regimen), variables,
                        tuple(objectives), constraints, generations, population,
                        None if calibration is None else str(calibration))
    # every level must give a valid regimen and the trial fields a valid scenario: check them now, with the field
    for variable in variables:
        for index in range(len(variable.levels)):
            indices = [0] * len(variables)
            indices[variables.index(variable)] = index
            try:
                _check_guided(load_regimen(space.regimen_of(indices)))
            except InputError as error:
                raise InputError(f"variables.{variable.path}", variable.levels[index],
                                 f"a value giving a valid regimen ({error})") from None
    load_trial_scenario(trial_mapping(space, space.regimen_of([0] * len(variables))))
    return space


def _check_guided(regimen: Any) -> None:
    """A guided regimen's organ is a known tissue with a target (given, or a limit in data/tissues.yaml)."""
    from ..radiobiology.guided import target_limit
    from ..radiobiology.tissues import tissue

    guided = None if regimen.rpt is None else regimen.rpt.guided
    if guided is None:
        return
    tissue(guided.region)
    if guided.target_Gy is None:
        target_limit(guided.region, guided.quantity)


def trial_mapping(space: SearchSpace, regimen: Mapping[str, Any], name: str = "candidate") -> dict[str, Any]:
    """The one-arm trial scenario of a candidate regimen (same patients and seed for every candidate)."""
    mapping = {"kind": "trial", "name": space.name, **space.trial,
               "arms": [{"name": name, "regimen": dict(regimen)}], "patients": space.patients,
               "seed": space.seed, "chunk_size": space.patients}
    if space.calibration is not None:
        mapping["calibration"] = space.calibration
    return mapping


def describe(space: SearchSpace) -> dict[str, Any]:
    """JSON-ready description of the space."""
    return {"name": space.name, "patients": space.patients, "seed": space.seed, "trial": space.trial,
            "regimen": space.regimen,
            "variables": [{"path": item.path, "levels": list(item.levels)} for item in space.variables],
            "objectives": [{"endpoint": item.endpoint, "goal": item.goal} for item in space.objectives],
            "constraints": [{"name": item.name, "region": item.region, "quantity": item.quantity,
                             "statistic": item.statistic, "limit_Gy": item.limit_Gy, "source": item.source}
                            for item in space.constraints],
            "generations": space.generations, "population": space.population,
            "candidates_in_space": int(np.prod([float(count) for count in space.levels])),
            "fingerprint": space.fingerprint()}

