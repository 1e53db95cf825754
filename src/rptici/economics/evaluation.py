"""Cost-effectiveness of the arms of a virtual trial (or of published curves): costs, life-years, QALYs,
incremental cost and QALY, ICER and net monetary benefit against the control arm.

Each arm is first reduced to its *quantities*: per parameter, the discounted amount that the parameter
multiplies (administrations weighted by the proportion alive, MBq and mg given, years in each state, events
per patient). Costs and QALYs are then linear in the parameters, cost = Σ value·quantity over cost
parameters and QALY = Σ value·quantity over utilities and disutilities (quantities of disutilities are
negative), so the probabilistic and one-way analyses only re-price the same quantities.

Treatment: every administration of the arm's regimen is given to the patients alive at its time (as in the
virtual trial, where treatment does not stop at progression) and costed at that time. Adverse events are
costed and their disutility counted once per organ category with a worst grade ≥ 3 (grade 3, or grade 4–5),
at the start; the organ's cause (radiation or immune) comes from the input file.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis.status import model_status
from ..errors import InputError, UnknownNameError
from .cohort import PROGRESSED, PROGRESSION_FREE, Trace, cycle_grid, markov, partitioned_survival, \
    transition_rates
from .inputs import COST, MODELS, EconomicInputs
from .survival import DAYS_PER_YEAR, Curve, curve_from_mapping, trial_curve


@dataclass(frozen=True)
class ArmModel:
    """What an arm brings to the economic model: its trace, regimen and adverse events per patient."""

    name: str
    trace: Trace
    rpt_times_days: np.ndarray
    rpt_activity_MBq: np.ndarray
    ici_times_days: np.ndarray
    ici_dose_mg: np.ndarray
    adverse_events: Mapping[str, float]
    control: bool = False


def _regimen_schedule(regimen: Mapping[str, Any] | None, weight_kg: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times (days) and mean activity (MBq) of RPT administrations, times and mean dose (mg) of infusions."""
    if not regimen:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    from ..kinetics import load_regimen

    loaded = load_regimen(regimen)
    rpt_times, activities = loaded.rpt_administrations(weight_kg=weight_kg)
    ici_times, doses = loaded.ici_infusions(weight_kg=weight_kg)
    return rpt_times, activities.mean(axis=1), ici_times, doses.mean(axis=1)


def adverse_event_rates(patients: pd.DataFrame, causes: Mapping[str, str]) -> dict[str, float]:
    """Mean number per patient of organ categories with worst grade 3, and ≥ 4, by cause
    (keys ``radiation_grade3``, ``immune_grade4``, …) from the ``max_grade_<organ>`` columns."""
    rates = {f"{cause}_grade{grade}": 0.0 for cause in ("radiation", "immune") for grade in (3, 4)}
    for column in (column for column in patients.columns if column.startswith("max_grade_")):
        organ = column.removeprefix("max_grade_")
        if organ not in causes:
            raise InputError(f"adverse_event_causes.{organ}", None,
                             f"the cause (radiation or immune) of organ category '{organ}' in the costs file")
        grades = patients[column].to_numpy(float)
        rates[f"{causes[organ]}_grade3"] += float(np.mean(grades == 3)) if len(grades) else 0.0
        rates[f"{causes[organ]}_grade4"] += float(np.mean(grades >= 4)) if len(grades) else 0.0
    return rates


def trial_trace(group: pd.DataFrame, inputs: EconomicInputs) -> Trace:
    """The cohort trace of one trial arm: partitioned survival on its PFS and OS curves, or the Markov
    model with the arm's constant transition rates."""
    times = cycle_grid(inputs.horizon_years, inputs.cycle_years)
    columns = [group[name].to_numpy() for name in ("pfs_days", "pfs_event", "os_days", "os_event")]
    if inputs.model == "markov":
        return markov(*transition_rates(*columns), times)
    pfs_event = columns[1].astype(bool)
    progression_share = float(np.mean(columns[0][pfs_event] < columns[2][pfs_event] - 1e-9)) \
        if pfs_event.any() else 1.0
    return partitioned_survival(trial_curve(columns[0], columns[1], "pfs"), trial_curve(columns[2], columns[3], "os"),
                                times, progression_share)


def quantities(arm: ArmModel, inputs: EconomicInputs) -> dict[str, float]:
    """The discounted amount each parameter of ``inputs`` multiplies for this arm (see module docstring)."""
    trace, rate_costs, rate_outcomes = arm.trace, inputs.discount_costs, inputs.discount_outcomes

    def given(times_days: np.ndarray, amounts: np.ndarray | float = 1.0) -> float:
        years = np.asarray(times_days) / DAYS_PER_YEAR
        return float(np.sum(trace.alive_at(years) * (1.0 + rate_costs) ** -years * amounts))

    state_costs = trace.state_time(rate_costs, inputs.half_cycle)
    state_outcomes = trace.state_time(rate_outcomes, inputs.half_cycle)
    rpt = given(arm.rpt_times_days)
    events = arm.adverse_events
    amounts = {
        "rpt_drug_per_administration": rpt, "rpt_administration": rpt, "rpt_imaging_dosimetry": rpt,
        "rpt_drug_per_activity": given(arm.rpt_times_days, arm.rpt_activity_MBq),
        "baseline_imaging": 1.0 if len(arm.rpt_times_days) else 0.0,
        "ici_drug_per_mg": given(arm.ici_times_days, arm.ici_dose_mg), "ici_administration": given(arm.ici_times_days),
        "progression_free_care": state_costs[PROGRESSION_FREE], "progressed_care": state_costs[PROGRESSED],
        "subsequent_therapy": trace.discounted_events(trace.progressions, rate_costs),
        "end_of_life": trace.discounted_events(trace.deaths, rate_costs),
        "utility_progression_free": state_outcomes[PROGRESSION_FREE],
        "utility_progressed": state_outcomes[PROGRESSED],
    }
    for cause in ("radiation", "immune"):
        for grade in (3, 4):
            amounts[f"adverse_event_{cause}_grade{grade}"] = events.get(f"{cause}_grade{grade}", 0.0)
        count = events.get(f"{cause}_grade3", 0.0) + events.get(f"{cause}_grade4", 0.0)
        name = f"disutility_adverse_event_{cause}"
        amounts[name] = -count * (inputs.parameters[name].duration_years if name in inputs.parameters else 0.0)
    return {name: amounts[name] for name in inputs.parameters}


def quantity_matrix(arms: Sequence[ArmModel], inputs: EconomicInputs) -> np.ndarray:
    """Quantities of every arm, shape (arms, parameters) in the order of ``inputs.parameters``."""
    return np.array([[quantities(arm, inputs)[name] for name in inputs.parameters] for arm in arms])


def price(matrix: np.ndarray, values: np.ndarray, inputs: EconomicInputs) -> tuple[np.ndarray, np.ndarray]:
    """(costs, QALYs) for parameter ``values`` (…, parameters) and quantities (arms, parameters): shapes (…, arms)."""
    is_cost = np.array([parameter.kind == COST for parameter in inputs.parameters.values()])
    costs = np.einsum("...p,ap->...a", values * is_cost, matrix)
    qalys = np.einsum("...p,ap->...a", values * ~is_cost, matrix)
    return costs, qalys


def icer(delta_cost: float, delta_qaly: float) -> tuple[float | None, str]:
    """ICER = ΔC/ΔQ with its quadrant: 'dominant' (cheaper, better), 'dominated' (dearer, worse), 'more
    costly, more effective' (the ratio applies), or 'less costly, less effective' (ratio = savings per QALY lost)."""
    if delta_qaly > 0 and delta_cost <= 0:
        return None, "dominant"
    if delta_qaly <= 0 and delta_cost >= 0:
        return None, "dominated"
    ratio = delta_cost / delta_qaly
    return ratio, "more costly, more effective" if delta_qaly > 0 else "less costly, less effective"


@dataclass(frozen=True)
class Evaluation:
    """Arms, their quantities and the inputs: deterministic results via :meth:`result`."""

    arms: tuple[ArmModel, ...]
    inputs: EconomicInputs
    matrix: np.ndarray
    model_status: Mapping[str, Any] | None = None  # of the virtual trial behind the arms (rptici.analysis.status)

    @property
    def control_index(self) -> int:
        return next((index for index, arm in enumerate(self.arms) if arm.control), 0)

    def result(self, thresholds: Sequence[float] | None = None) -> dict[str, Any]:
        """Per arm costs (total and by item), life-years, QALYs; per comparator the increments, ICER and NMB."""
        inputs = self.inputs
        thresholds = list(thresholds or inputs.thresholds)
        values = inputs.values()
        costs, qalys = price(self.matrix, values, inputs)
        rows = []
        for index, arm in enumerate(self.arms):
            trace = arm.trace
            items = {name: float(values[column] * self.matrix[index, column])
                     for column, (name, parameter) in enumerate(inputs.parameters.items()) if parameter.kind == COST}
            rows.append({"arm": arm.name, "control": index == self.control_index, "cost": float(costs[index]),
                         "costs": items, "qalys": float(qalys[index]),
                         "life_years": trace.life_years(0.0, inputs.half_cycle),
                         "life_years_discounted": trace.life_years(inputs.discount_outcomes, inputs.half_cycle),
                         "adverse_events_per_patient": dict(arm.adverse_events)})
        control = rows[self.control_index]
        comparisons = []
        for row in rows:
            if row is control:
                continue
            delta_cost, delta_qaly = row["cost"] - control["cost"], row["qalys"] - control["qalys"]
            ratio, quadrant = icer(delta_cost, delta_qaly)
            comparisons.append({"arm": row["arm"], "against": control["arm"], "incremental_cost": delta_cost,
                                "incremental_qalys": delta_qaly,
                                "incremental_life_years": row["life_years_discounted"] - control["life_years_discounted"],
                                "icer": ratio, "quadrant": quadrant,
                                "net_monetary_benefit": {f"{threshold:g}": threshold * delta_qaly - delta_cost
                                                         for threshold in thresholds}})
        return {"name": inputs.name, "currency": inputs.currency, "price_year": inputs.price_year,
                "model": inputs.model, "horizon_years": inputs.horizon_years, "cycle_years": inputs.cycle_years,
                "discount": {"costs": inputs.discount_costs, "outcomes": inputs.discount_outcomes},
                "half_cycle_correction": inputs.half_cycle, "thresholds": thresholds, "arms": rows,
                "comparisons": comparisons, "model_status": None if self.model_status is None else dict(self.model_status),
                "parameters": [{"name": p.name, "kind": p.kind, "value": p.value_in_unit, "unit": p.unit,
                                "se": p.se / p.scale,
                                "source": p.source, "assumption": p.assumption}
                               for p in inputs.parameters.values()]}


def _evaluation(arms: list[ArmModel], inputs: EconomicInputs) -> Evaluation:
    if len(arms) < 2:
        raise InputError("arms", [arm.name for arm in arms], "at least two arms (a control and a comparator)")
    return Evaluation(tuple(arms), inputs, quantity_matrix(arms, inputs))


def evaluate_patients(patients: pd.DataFrame, regimens: Mapping[str, Mapping[str, Any] | None], control: str,
                      inputs: EconomicInputs, model: str | None = None) -> Evaluation:
    """Economic evaluation of a per-patient table (columns arm, pfs_days, pfs_event, os_days, os_event,
    max_grade_<organ>, weight_kg) with each arm's regimen mapping; patients with status other than ok dropped."""
    valid = patients[patients["status"] == "ok"] if "status" in patients.columns else patients
    if model is not None:
        if model not in MODELS:
            raise InputError("model", model, "one of " + ", ".join(MODELS))
        inputs = dataclasses.replace(inputs, model=model)
    if control not in regimens:
        raise UnknownNameError("control", control, list(regimens))
    arms = []
    for name, regimen in regimens.items():
        group = valid[valid["arm"] == name]
        if group.empty:
            raise InputError("arm", name, "an arm with at least one evaluable patient")
        weights = group["weight_kg"].to_numpy(float) if "weight_kg" in group.columns else None
        schedule = _regimen_schedule(regimen, weights)
        arms.append(ArmModel(name, trial_trace(group, inputs), *schedule,
                             adverse_event_rates(group, inputs.adverse_event_causes), name == control))
    return _evaluation(arms, inputs)


def evaluate_run(folder: str | Path, inputs: EconomicInputs, model: str | None = None) -> Evaluation:
    """Economic evaluation of the virtual-trial run in ``folder`` (read through :class:`rptici.store.ResultStore`)."""
    from ..store import ResultStore

    store = ResultStore(folder)
    scenario_file = store.folder / "scenario.json"
    if not scenario_file.is_file():
        raise InputError("run", str(folder), "a results folder written by 'rptici trial run'")
    document = json.loads(scenario_file.read_text(encoding="utf-8"))
    scenario = document["scenario"]
    regimens = {arm["name"]: arm.get("regimen") for arm in scenario["arms"]}
    control = next((arm["name"] for arm in scenario["arms"] if arm.get("control")), scenario["arms"][0]["name"])
    evaluation = evaluate_patients(store.read("patients"), regimens, control, inputs, model)
    status = model_status((document.get("calibration") or {}).get("source", "unknown"))
    return dataclasses.replace(evaluation, model_status=status.as_dict())


def evaluate_curves(arms: Mapping[str, Mapping[str, Any]], inputs: EconomicInputs, control: str) -> Evaluation:
    """Economic evaluation from published curves: per arm ``{pfs: curve, os: curve, regimen: mapping,
    adverse_events: {radiation_grade3: rate, …}, progression_share: 1.0}`` (curves as
    :func:`rptici.economics.survival.curve_from_mapping`); the partitioned-survival model."""
    if control not in arms:
        raise UnknownNameError("control", control, list(arms))
    times = cycle_grid(inputs.horizon_years, inputs.cycle_years)
    models = []
    for name, spec in arms.items():
        curves: dict[str, Curve] = {key: curve_from_mapping(spec.get(key) or {}, f"arms.{name}.{key}")
                                    for key in ("pfs", "os")}
        trace = partitioned_survival(curves["pfs"], curves["os"], times, float(spec.get("progression_share", 1.0)))
        models.append(ArmModel(name, trace, *_regimen_schedule(spec.get("regimen"), None),
                               dict(spec.get("adverse_events") or {}), name == control))
    return _evaluation(models, inputs)
