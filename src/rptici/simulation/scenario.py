"""Simulation scenarios (``rptici simulate``): a regimen and one patient, a sampled cohort or a preclinical group.

A scenario (YAML) holds:

* ``regimen:`` in the :func:`rptici.kinetics.regimen.load_regimen` format (RPT agent with its biokinetics
  and/or a checkpoint inhibitor) — or, for preclinical experiments whose agent has no biokinetic model
  (``species: mouse``, e.g. a [90Y]Y-NM600-like agent), ``prescribed_rpt:`` a list of administrations
  ``{day, tumour_dose, effective_half_life, blood_dose, blood_effective_half_life}`` (mono-exponential dose
  rates, as in the mechanism checks) and ``antibody:`` a list of ``{day, dose}`` infusions of the species' antibody (``antibody_name``);
* ``patient:`` covariates (:class:`rptici.kinetics.schema.PatientSpec`: every dimensioned one with its unit,
  e.g. weight ``80 kg``, gfr ``1.5 mL/s``, lesions as volumes ``10 mL``, masses ``20 g`` or diameters ``25 mm``,
  lymphocytes ``1.6e9/L``, psa ``40 ng/mL``) — or ``population:`` a disease of
  :func:`rptici.population.sample_population` to sample from (neither: the patients are given to
  :func:`rptici.simulate`);
* optional ``species`` (human, mouse), ``parameters:`` overrides, ``switches:`` {mechanism: on/off},
  ``days`` (horizon), ``patients`` / ``seed``, and ``organs:`` (with a regimen: organs of the agent whose absorbed
  dose and BED time courses to report, e.g. ``[kidneys, salivary_glands]``); ``kind: simulation`` for the one
  loader (:func:`rptici.load_scenario`); ``lesions_from:`` an ``rptici image-dose`` output folder whose tumour
  regions replace the patient's lesions, with their measured doses (:mod:`rptici.simulation.twin`; relative to
  the scenario file) and, unless ``lesion_heterogeneity: false``, their DVH's effect on the surviving fraction.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import field_validator, model_validator

from ..data import read_mapping
from ..errors import InputError
from ..immunity.model import (MAX_LESIONS, MODEL, ModelLayout, initial_state, observable_states, observables,
                              parameter_vector, rhs)
from ..immunity.parameters import load_parameters
from ..kinetics.regimen import Regimen
from ..kinetics.schema import PatientSpec, Schema, quantity, whole
from ..population import known_diseases, sample_population
from .solver import solve_batched

READ_OUTS = ("volume", "diameter", "diameter_sum", "psa", "lymphocytes", "occupancy", "effector_blood", "dose",
             "bed", "marrow_dose", "marrow_bed")
Day = quantity("time", unit_required=False)
#: Most patients of one simulation (as of a dose cohort): every trajectory is kept in memory.
MAX_SIMULATION_PATIENTS = 100_000


class PrescribedRpt(Schema):
    """One administration with a prescribed mono-exponential dose rate: total tumour and blood/red-marrow
    doses and the effective half-life of the dose rate (``blood_effective_half_life``: the blood's, default
    the tumour's). ``lesion_doses`` / ``lesion_effective_half_lives`` (one per lesion, e.g. measured by
    ``rptici image-dose``; :mod:`rptici.simulation.twin`) replace ``tumour_dose`` / ``effective_half_life``
    lesion by lesion."""

    day: Day = 0.0  # type: ignore[valid-type]
    tumour_dose: quantity("dose") | None = None  # type: ignore[valid-type]
    effective_half_life: quantity("time", positive=True) | None = None  # type: ignore[valid-type]
    blood_dose: quantity("dose") = 0.0  # type: ignore[valid-type]
    blood_effective_half_life: quantity("time", positive=True) | None = None  # type: ignore[valid-type]
    lesion_doses: tuple[quantity("dose"), ...] = ()  # type: ignore[valid-type]
    lesion_effective_half_lives: tuple[quantity("time", positive=True), ...] = ()  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _complete(self) -> PrescribedRpt:
        if self.effective_half_life is None and self.blood_dose and self.blood_effective_half_life is None:
            raise InputError("blood_effective_half_life", None,
                             "the blood's effective half-life when effective_half_life is not given")
        return self

    def lesion_dose(self, lesion: int) -> float:
        """The dose of lesion ``lesion`` (Gy): its own when given, else the tumour dose."""
        return self._per_lesion(self.lesion_doses, self.tumour_dose, lesion, "lesion_doses")

    def lesion_half_life(self, lesion: int) -> float:
        """The effective half-life (d) of lesion ``lesion``'s dose rate: its own when given, else the tumour's."""
        return self._per_lesion(self.lesion_effective_half_lives, self.effective_half_life, lesion,
                                "lesion_effective_half_lives")

    @staticmethod
    def _per_lesion(values: tuple[float, ...], default: float | None, lesion: int, field: str) -> float:
        if not values:
            return float(default)  # type: ignore[arg-type]
        if lesion >= len(values):
            raise InputError(f"prescribed_rpt.{field}", list(values), "one value per lesion of the patient")
        return float(values[lesion])


class Infusion(Schema):
    """One antibody infusion: day and dose (mg)."""

    day: Day = 0.0  # type: ignore[valid-type]
    dose: quantity("drug_amount", positive=True)  # type: ignore[valid-type]


class SimulationScenario(Schema):
    """A validated simulation scenario (see the module docstring)."""

    kind: Literal["simulation"] = "simulation"
    name: str = "scenario"
    description: str | None = None
    species: Literal["human", "mouse"] = "human"
    regimen: Regimen | None = None
    prescribed_rpt: tuple[PrescribedRpt, ...] = ()
    antibody: tuple[Infusion, ...] = ()
    antibody_name: str | None = None
    patient: PatientSpec | None = None
    population: str | None = None
    parameters: dict[str, float] = {}
    switches: dict[str, bool] = {}
    days: quantity("time", positive=True, unit_required=False) = 365.0  # type: ignore[valid-type]
    patients: whole(1, MAX_SIMULATION_PATIENTS) = 1  # type: ignore[valid-type]
    seed: whole(0) = 1  # type: ignore[valid-type]
    organs: tuple[str, ...] = ()
    lesions_from: str | None = None
    lesion_heterogeneity: bool = True

    @field_validator("population")
    @classmethod
    def _known_disease(cls, value: str | None) -> str | None:
        if value is not None and value not in known_diseases():
            raise InputError("population", value, "one of " + ", ".join(known_diseases()))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SimulationScenario:
        if self.patient is not None and self.population is not None:
            raise InputError("patient", None, "one of patient: (covariates) or population: (a disease), not both")
        if self.patient is not None and not self.patient.lesions and self.lesions_from is None:
            raise InputError("patient.lesions", [], "a non-empty list of volumes ('10 mL') or diameters ('25 mm')")
        if self.lesions_from is None:  # with lesions_from the lesions' doses and half-lives come from the images
            for index, entry in enumerate(self.prescribed_rpt):
                if entry.tumour_dose is None and not entry.lesion_doses:
                    raise InputError(f"prescribed_rpt[{index}].tumour_dose", None,
                                     "a tumour dose ('30 Gy'), or lesion_doses (one per lesion)")
                if entry.effective_half_life is None and not entry.lesion_effective_half_lives:
                    raise InputError(f"prescribed_rpt[{index}].effective_half_life", None,
                                     "the dose rate's effective half-life ('3 d'), or lesion_effective_half_lives")
                lesions = len(self.patient.lesions) if self.patient is not None else None
                for field in ("lesion_doses", "lesion_effective_half_lives"):
                    given = getattr(entry, field)
                    if given and lesions is not None and len(given) != lesions:
                        raise InputError(f"prescribed_rpt[{index}].{field}", list(given),
                                         f"one value per lesion of the patient ({lesions})")
        prescribed = self.prescribed_rpt or self.antibody
        if self.regimen is None and not prescribed:
            raise InputError("regimen", None, "a regimen, or prescribed_rpt / antibody administrations")
        if self.regimen is not None and prescribed:
            raise InputError("prescribed_rpt", prescribed, "either regimen: or prescribed_rpt/antibody, not both")
        if self.organs and (self.regimen is None or self.regimen.rpt is None):
            raise InputError("organs", list(self.organs),
                             "organs only with a regimen: that has a radiopharmaceutical (rpt:)")
        if "red_marrow" in self.organs:  # the engine reports it as marrow_dose / marrow_bed, not among the organs
            raise InputError("organs", list(self.organs), "organs other than red_marrow (its dose and BED are always "
                                                          "reported, as marrow_dose and marrow_bed)")
        return self

    @property
    def overrides(self) -> dict[str, float]:
        """Parameter overrides (internal units) with the switches as ``switch_<mechanism>`` 0/1."""
        return {**self.parameters, **{f"switch_{name}": float(value) for name, value in self.switches.items()}}

    @cached_property
    def cohort(self) -> dict[str, np.ndarray]:
        """The patients as the engine takes them: ``patients`` copies of ``patient``, or a sampled population."""
        if self.patient is not None:
            return self.patient.engine_patients(self.patients)
        if self.population is None:
            raise InputError("patient", None, "patient: (covariates) or population: (a disease), or patients given "
                                              "to rptici.simulate")
        cohort = sample_population(self.population, self.patients, self.seed).engine_patients()
        volumes = cohort["lesion_volumes_mL"]
        lesions = max(1, min(int(np.max(np.sum(np.isfinite(volumes), axis=1))), MAX_LESIONS))
        volumes = volumes[:, :lesions]
        volumes[~np.any(np.isfinite(volumes), axis=1), 0] = 1.0  # no measurable lesion: a 1 mL one (assumption)
        cohort["lesion_volumes_mL"] = volumes
        return cohort


def load_simulation_scenario(source: SimulationScenario | Mapping[str, Any] | str | Path, patients: int | None = None,
                             seed: int | None = None, days: float | None = None,
                             lesions_from: str | Path | None = None) -> SimulationScenario:
    """Validate a scenario (a mapping or a YAML file); ``patients``, ``seed``, ``days`` and ``lesions_from`` (an
    image-dose output folder) override its values."""
    document = {name: getattr(source, name) for name in SimulationScenario.model_fields} \
        if isinstance(source, SimulationScenario) else \
        read_mapping(source, "scenario", "a scenario mapping (regimen, patient or population, ...)")
    given = {name: value for name, value in (("patients", patients), ("seed", seed), ("days", days),
                                            ("lesions_from", None if lesions_from is None else str(lesions_from)))
             if value is not None}
    return SimulationScenario.load({**with_resolved_paths(document, source), **given})


def with_resolved_paths(document: Mapping[str, Any], source: Any) -> Mapping[str, Any]:
    """``document`` (read from ``source``) with a relative ``lesions_from`` taken relative to the scenario file."""
    folder = document.get("lesions_from") if isinstance(document, Mapping) else None
    if isinstance(source, (str, Path)) and isinstance(folder, str) and not Path(folder).is_absolute():
        return {**document, "lesions_from": str(Path(source).parent / folder)}
    return document


def prescribed_inputs(scenario: SimulationScenario, cohort: Mapping[str, Any], overrides: Mapping[str, float]):
    """(layout, parameter vectors, initial states, events) of a scenario with prescribed dose rates: one
    mono-exponential dose-rate component per region (every lesion, blood) and the antibody infusions. The
    events (times, states, amounts; each (patients, events)) are before
    :meth:`~rptici.immunity.model.TumourImmuneModel.dosing_events`, so a caller may still scale an amount per patient."""
    volumes = np.atleast_2d(np.asarray(cohort["lesion_volumes_mL"], dtype=float))
    layout = ModelLayout(volumes.shape[1], 1)
    antibody = scenario.antibody_name or ("anti_pd1" if scenario.species == "mouse" else "pembrolizumab")
    parameters = load_parameters(scenario.species, antibody=antibody)
    params = parameter_vector(parameters, layout, cohort, overrides)
    y0 = initial_state(parameters, layout, cohort, overrides)
    count = y0.shape[0]
    rows: list[tuple[float, int, float]] = []  # (day, state, amount)
    rates: dict[Any, float] = {}
    for entry in scenario.prescribed_rpt:
        blood_half_life = entry.blood_effective_half_life or entry.effective_half_life
        for region in tuple(range(layout.n_lesions)) + ("blood",):
            if region == "blood" and blood_half_life is None:  # lesion half-lives only, and no blood dose
                continue
            half_life = blood_half_life if region == "blood" else entry.lesion_half_life(region)
            decay = math.log(2.0) / half_life
            if rates.setdefault(region, decay) != decay:
                raise InputError("prescribed_rpt.effective_half_life", half_life,
                                 "the same effective half-life for every administration")
            dose = entry.blood_dose if region == "blood" else entry.lesion_dose(region)
            rows.append((entry.day, layout.dose_rate_state(region, 0), dose * decay))
    for region, decay in rates.items():
        params[:, layout.dose_rate_decay_param(region, 0)] = decay
    if scenario.antibody:
        params[:, layout.antibody_first_dose_param] = min(infusion.day for infusion in scenario.antibody)
        rows += [(infusion.day, layout.antibody_central, infusion.dose) for infusion in scenario.antibody]
    rows.sort(key=lambda row: row[0])
    events = tuple(np.tile([row[column] for row in rows], (count, 1)) for column in range(3))
    return layout, params, y0, events


def _prescribed(scenario: SimulationScenario, times: np.ndarray, cohort: Mapping[str, Any],
                overrides: Mapping[str, float], outputs: tuple[str, ...]):
    """Integrate a scenario with prescribed dose rates (:func:`prescribed_inputs`).

    Not through :func:`rptici.simulation.engine.simulate`: the engine derives its dose-rate drivers from a
    regimen's biokinetics (four exponentials per region, propagated exactly between events), while a
    prescribed dose rate is one exponential per region with no biokinetic model behind it."""
    layout, params, y0, events = prescribed_inputs(scenario, cohort, overrides)
    events = MODEL.dosing_events(layout, params, events)  # the repair residuals' jumps, the end of a standard of care
    selected = observable_states(layout, outputs)
    result = solve_batched(rhs, y0, params, times, *events, t0=0.0, rtol=1e-6, atol=1e-10, output_states=selected,
                           method="auto")
    return observables(result.y, params, layout, states=selected, names=outputs), result.status, result.reasons


def run_scenario(scenario: SimulationScenario, step_days: float = 1.0, *, times: Any = None,
                 cohort: Mapping[str, Any] | None = None, overrides: Mapping[str, float] | None = None,
                 outputs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Simulate ``scenario``: output times (default every ``step_days`` to ``days``), read-outs (patients
    first; default :data:`READ_OUTS` and, with organs, their dose and BED), each patient's status and reason.

    ``cohort`` (the engine's patients mapping) replaces the scenario's patients; ``overrides`` add to its
    parameters and switches."""
    times = np.arange(0.0, scenario.days + 0.5 * step_days, step_days) if times is None else \
        np.asarray(times, dtype=float)
    twin = None
    if scenario.lesions_from is not None:
        if cohort is not None:
            raise InputError("patients", "a cohort", "no patients given with lesions_from (the twin is one patient)")
        from .twin import build_twin

        twin = build_twin(scenario, scenario.lesions_from, overrides)
        scenario, cohort = twin.scenario, twin.cohort
    cohort = scenario.cohort if cohort is None else cohort
    overrides = {**scenario.overrides, **(overrides or {})}
    organ_outputs = ("organ_dose", "organ_bed") if scenario.organs else ()
    outputs = READ_OUTS + organ_outputs if outputs is None else tuple(outputs)
    if scenario.regimen is not None:
        from .engine import simulate

        parameters = None
        if scenario.species == "mouse":
            parameters = load_parameters("mouse", antibody=scenario.antibody_name)
        result = simulate(scenario.regimen, cohort, times, parameters, organs=scenario.organs, outputs=outputs,
                          overrides=overrides)
        values, status, reasons = result.outputs, result.status, result.reasons
    else:
        values, status, reasons = _prescribed(scenario, times, cohort, overrides, outputs)
    run = {"times": times, "values": values, "status": np.asarray(status), "reasons": list(reasons)}
    if twin is not None:
        run["twin"] = twin.lesions
    return run
