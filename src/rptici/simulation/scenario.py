"""Simulation scenarios (``rptici simulate``): a regimen and one patient, a sampled cohort or a preclinical group.

A scenario (YAML) holds:

* ``regimen:`` in the :func:`rptici.kinetics.regimen.load_regimen` format (RPT agent with its biokinetics
  and/or a checkpoint inhibitor) — or, for preclinical experiments whose agent has no biokinetic model
  (``species: mouse``, e.g. a [90Y]Y-NM600-like agent), ``prescribed_rpt:`` a list of administrations
  ``{day, tumour_dose, effective_half_life, blood_dose}`` (mono-exponential dose rate, as in the mechanism
  checks) and ``antibody:`` a list of ``{day, dose}`` infusions of the species' antibody (``antibody_name``);
* ``patient:`` covariates (weight, lesions as volumes ``10 mL`` or diameters ``25 mm``, infiltration,
  pdl1 (fraction), alpha (1/Gy), lymphocytes (10⁹/L), psa (ng/mL)) — or ``population:`` a disease of
  :func:`rptici.population.sample_population` to sample from;
* optional ``species`` (human, mouse), ``parameters:`` overrides, ``switches:`` {mechanism: on/off},
  ``days`` (horizon), ``patients`` / ``seed``, and ``organs:`` (with a regimen: organs of the agent whose absorbed
  dose and BED time courses to report, e.g. ``[kidneys, salivary_glands]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data import read_mapping
from ..errors import InputError
from ..immunity.model import (MAX_LESIONS, ModelLayout, initial_state, observable_states, observables, parameter_vector,
                              repair_residual_events, rhs)
from ..immunity.parameters import load_parameters
from ..kinetics.regimen import load_regimen
from ..units import parse_positive, parse_quantity
from .solver import solve_batched

KEYS = {"name", "regimen", "prescribed_rpt", "antibody", "antibody_name", "patient", "population", "species",
        "parameters", "switches", "days", "patients", "seed", "organs"}
READ_OUTS = ("volume", "diameter", "diameter_sum", "psa", "lymphocytes", "occupancy", "effector_blood", "dose",
             "bed", "marrow_dose", "marrow_bed")


@dataclass
class SimulationScenario:
    """A validated scenario (see the module docstring); ``patients`` the covariate arrays of the cohort."""

    name: str
    species: str
    patients: dict[str, np.ndarray]
    days: float
    regimen: Any = None
    prescribed_rpt: list[dict[str, float]] = field(default_factory=list)
    antibody: list[tuple[float, float]] = field(default_factory=list)
    antibody_name: str | None = None
    overrides: dict[str, float] = field(default_factory=dict)
    organs: tuple[str, ...] = ()


def _lesions(values: Any) -> np.ndarray:
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError("patient.lesions", values, "a non-empty list of volumes ('10 mL') or diameters ('25 mm')")
    volumes = []
    for number, value in enumerate(values):
        text = str(value)
        if text.strip().endswith("mm") or text.strip().endswith("cm"):
            diameter_cm = parse_positive(text, "length", f"patient.lesions[{number}]")
            volumes.append(math.pi * diameter_cm ** 3 / 6.0)
        else:
            volumes.append(parse_positive(value, "volume", f"patient.lesions[{number}]"))
    return np.array([volumes])


def _patient(section: Mapping[str, Any], count: int) -> dict[str, np.ndarray]:
    if not isinstance(section, Mapping):
        raise InputError("patient", section, "a mapping of covariates")
    known = {"weight", "lesions", "infiltration", "pdl1", "alpha", "lymphocytes", "psa", "bsa", "gfr",
             "target_uptake", "sex"}
    for key in section:
        if key not in known:
            raise InputError(f"patient.{key}", section[key], "one of " + ", ".join(sorted(known)))
    patients: dict[str, np.ndarray] = {"lesion_volumes_mL": np.repeat(_lesions(section.get("lesions")), count, 0)}
    if "weight" in section:
        patients["weight_kg"] = np.full(count, parse_positive(section["weight"], "mass", "patient.weight") / 1000.0)
    for key, target in (("bsa", "bsa_m2"), ("gfr", "gfr_mL_per_min")):  # m2 and mL/min
        if key in section:
            number = float(str(section[key]).split()[0])
            if not number > 0:
                raise InputError(f"patient.{key}", section[key], "a positive number (m2, mL/min)")
            patients[target] = np.full(count, number)
    for key, target in (("infiltration", "infiltration"), ("pdl1", "pdl1"), ("alpha", "alpha"),
                        ("lymphocytes", "lymphocytes"), ("psa", "psa"), ("target_uptake", "target_uptake_scale")):
        if key in section:
            value = section[key]
            number = float(str(value).split()[0]) if isinstance(value, str) else value
            if not isinstance(number, (int, float)) or not math.isfinite(number) or number < 0:
                raise InputError(f"patient.{key}", value, "a non-negative number")
            patients[target] = np.full(count, float(number))
    return patients


def _population(disease: Any, count: int, seed: int) -> dict[str, np.ndarray]:
    from ..population import sample_population

    population = sample_population(str(disease), count, seed)
    lesions = max(1, min(int(np.max(population.lesion_count)), MAX_LESIONS))
    volumes = np.array(population.lesion_volumes_mL)[:, :lesions]
    empty = ~np.any(np.isfinite(volumes), axis=1)
    volumes[empty, 0] = 1.0  # a patient without a measurable lesion carries a 1 mL one (stated assumption)
    return {"lesion_volumes_mL": volumes, "weight_kg": np.asarray(population.weight_kg),
            "bsa_m2": np.asarray(population.bsa_m2), "gfr_mL_per_min": np.asarray(population.gfr_mL_per_min),
            "target_uptake_scale": np.asarray(population.target_uptake_scale),
            "infiltration": np.asarray(population.immune_infiltration),
            "pdl1": np.clip(np.asarray(population.pdl1) / 100.0, 0.0, 1.0),
            "alpha": np.asarray(population.alpha_per_Gy), "lymphocytes": np.asarray(population.lymphocytes_1e9_per_L),
            "psa": np.asarray(population.psa_ng_per_mL)}


def load_simulation_scenario(source: Mapping[str, Any] | str | Path, patients: int | None = None,
                             seed: int | None = None, days: float | None = None) -> SimulationScenario:
    """Validate a scenario (a mapping or a YAML file); ``patients``, ``seed`` and ``days`` override its values."""
    source = read_mapping(source, "scenario", "a scenario mapping (regimen, patient or population, ...)")
    for key in source:
        if key not in KEYS:
            raise InputError(str(key), source[key], "a scenario key: " + ", ".join(sorted(KEYS)))
    species = str(source.get("species", "human"))
    if species not in ("human", "mouse"):
        raise InputError("species", species, "human or mouse")
    count = int(patients if patients is not None else source.get("patients", 1))
    if count < 1:
        raise InputError("patients", count, "at least 1 patient")
    seed = int(seed if seed is not None else source.get("seed", 1))
    horizon = float(days if days is not None else source.get("days", 365))
    if not horizon > 0:
        raise InputError("days", horizon, "a positive horizon in days")
    if ("patient" in source) == ("population" in source):
        raise InputError("patient", None, "exactly one of patient: (covariates) or population: (a disease)")
    cohort = _patient(source["patient"], count) if "patient" in source else _population(source["population"], count, seed)
    overrides: dict[str, float] = {}
    for name, value in (source.get("parameters") or {}).items():
        overrides[str(name)] = float(value)
    for name, value in (source.get("switches") or {}).items():
        if not isinstance(value, bool) and value not in (0, 1):
            raise InputError(f"switches.{name}", value, "on/off (true/false)")
        overrides[f"switch_{name}"] = float(bool(value))
    regimen = load_regimen(source["regimen"]) if source.get("regimen") is not None else None
    prescribed = []
    for number, entry in enumerate(source.get("prescribed_rpt") or []):
        where = f"prescribed_rpt[{number}]"
        prescribed.append({"day": parse_quantity(entry.get("day", 0), "time", f"{where}.day"),
                           "tumour_dose": parse_positive(entry["tumour_dose"], "dose", f"{where}.tumour_dose"),
                           "effective_half_life": parse_positive(entry["effective_half_life"], "time",
                                                                 f"{where}.effective_half_life"),
                           "blood_dose": parse_positive(entry.get("blood_dose", 0), "dose", f"{where}.blood_dose",
                                                        allow_zero=True)})
    antibody = [(parse_quantity(entry.get("day", 0), "time", f"antibody[{number}].day"),
                 parse_positive(entry["dose"], "drug_amount", f"antibody[{number}].dose"))
                for number, entry in enumerate(source.get("antibody") or [])]
    if regimen is None and not prescribed and not antibody:
        raise InputError("regimen", None, "a regimen, or prescribed_rpt / antibody administrations")
    if regimen is not None and (prescribed or antibody):
        raise InputError("prescribed_rpt", prescribed or antibody, "either regimen: or prescribed_rpt/antibody, not both")
    organs = source.get("organs") or []
    if not isinstance(organs, (list, tuple)) or not all(isinstance(organ, str) for organ in organs):
        raise InputError("organs", organs, "a list of organ names, e.g. [kidneys, salivary_glands]")
    if organs and (regimen is None or regimen.rpt is None):
        raise InputError("organs", organs, "organs only with a regimen: that has a radiopharmaceutical (rpt:)")
    return SimulationScenario(str(source.get("name", "scenario")), species, cohort, horizon, regimen, prescribed,
                              antibody, source.get("antibody_name"), overrides, tuple(organs))


def _prescribed(scenario: SimulationScenario, times: np.ndarray):
    """Integrate a scenario with prescribed dose rates (mono-exponential per administration)."""
    volumes = scenario.patients["lesion_volumes_mL"]
    layout = ModelLayout(volumes.shape[1], 1)
    antibody = scenario.antibody_name or ("anti_pd1" if scenario.species == "mouse" else "pembrolizumab")
    parameters = load_parameters(scenario.species, antibody=antibody)
    params = parameter_vector(parameters, layout, scenario.patients, scenario.overrides)
    y0 = initial_state(parameters, layout, scenario.patients, scenario.overrides)
    count = y0.shape[0]
    rows: list[tuple[float, int, float, float]] = []  # (day, state, amount, decay rate)
    rates = {}
    for entry in scenario.prescribed_rpt:
        decay = math.log(2.0) / entry["effective_half_life"]
        for region in tuple(range(layout.n_lesions)) + ("blood",):
            if rates.setdefault(region, decay) != decay:
                raise InputError("prescribed_rpt.effective_half_life", entry["effective_half_life"],
                                 "the same effective half-life for every administration")
            dose = entry["blood_dose"] if region == "blood" else entry["tumour_dose"]
            rows.append((entry["day"], layout.dose_rate_state(region, 0), dose * decay, decay))
    for region, decay in rates.items():
        params[:, layout.dose_rate_decay_param(region, 0)] = decay
    if scenario.antibody:
        params[:, layout.antibody_first_dose_param] = min(day for day, _ in scenario.antibody)
        rows += [(day, layout.antibody_central, dose, 0.0) for day, dose in scenario.antibody]
    rows.sort(key=lambda row: row[0])
    events = (np.tile([row[0] for row in rows], (count, 1)), np.tile([row[1] for row in rows], (count, 1)),
              np.tile([row[2] for row in rows], (count, 1)))
    events = repair_residual_events(layout, params, events)
    selected = observable_states(layout, READ_OUTS)
    result = solve_batched(rhs, y0, params, times, *events, t0=0.0, rtol=1e-6, atol=1e-10, output_states=selected,
                           method="auto")
    return observables(result.y, params, layout, states=selected), result.status, result.reasons


def run_scenario(scenario: SimulationScenario, step_days: float = 1.0) -> dict[str, Any]:
    """Simulate ``scenario``; returns output times, read-outs (patients first) and each patient's status."""
    times = np.arange(0.0, scenario.days + 0.5 * step_days, step_days)
    if scenario.regimen is not None:
        from .engine import simulate

        parameters = None
        if scenario.species == "mouse":
            parameters = load_parameters("mouse", antibody=scenario.antibody_name)
        organ_outputs = ("organ_dose", "organ_bed") if scenario.organs else ()
        result = simulate(scenario.regimen, scenario.patients, times, parameters, organs=scenario.organs,
                          outputs=READ_OUTS + organ_outputs, overrides=scenario.overrides)
        values, status, reasons = result.outputs, result.status, result.reasons
    else:
        values, status, reasons = _prescribed(scenario, times)
    return {"times": times, "values": values, "status": np.asarray(status), "reasons": list(reasons)}


def scenario_summary(scenario: SimulationScenario, run: Mapping[str, Any]) -> dict[str, Any]:
    """Per patient: final and best change of the sum of diameters (%), trajectories at the output times,
    final dose and BED per lesion, marrow and requested organ, status and reason (JSON-ready apart from NumPy
    types)."""
    values = run["values"]
    patients = []
    for index in range(len(run["status"])):
        sums = values["diameter_sum"][index]
        baseline = sums[0]
        change = 100.0 * (sums / baseline - 1.0) if baseline > 0 else np.full_like(sums, np.nan)
        patients.append({
            "patient": index, "status": "ok" if run["status"][index] == 0 else "failed",
            "reason": run["reasons"][index],
            "final_change_percent": change[-1], "best_change_percent": np.nanmin(change) if np.any(np.isfinite(change)) else None,
            "sum_of_diameters_mm": sums, "psa_ng_per_mL": values["psa"][index],
            "lymphocytes_1e9_per_L": values["lymphocytes"][index], "occupancy": values["occupancy"][index],
            "lesion_dose_Gy": values["dose"][index, -1], "lesion_bed_Gy": values["bed"][index, -1],
            "marrow_dose_Gy": values["marrow_dose"][index, -1], "marrow_bed_Gy": values["marrow_bed"][index, -1],
        })
        if scenario.organs:
            patients[-1]["organ_dose_Gy"] = dict(zip(scenario.organs, values["organ_dose"][index, -1]))
            patients[-1]["organ_bed_Gy"] = dict(zip(scenario.organs, values["organ_bed"][index, -1]))
    return {"scenario": scenario.name, "species": scenario.species, "days": scenario.days,
            "times_d": run["times"], "patients": patients}
