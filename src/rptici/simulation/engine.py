"""The engine: regimen × patients → kinetics → dose-rate drivers → tumour–immune ODE → clinical read-outs.

Per patient: the RPT biokinetics give each lesion's and the red marrow's dose rate per MBq as a short sum
of exponentials (:mod:`.drivers`); every administration and infusion becomes a jump in the ODE state; the
equations of the model object (:class:`rptici.immunity.model.TumourImmuneModel`, or any object with its
methods: layout, parameter vector, initial state, dosing, linear system, flush levels, observables) are
integrated by :func:`.solver.solve` (own adaptive step per patient, threads over patients), in chunks of
patients so memory stays bounded; the model's observables turn states into read-outs at the requested
times. The engine never indexes the model's layout itself.

Speed (issue 4): the repair variable Γ is split into an algebraic part and a fast residual
(:mod:`rptici.immunity.equations`, "Repair split"; each driver jump comes with its residual jump,
:func:`~rptici.immunity.linear.repair_residual_events`); fast drivers and residuals are flushed once
negligible (:func:`~rptici.immunity.linear.flush_levels`); drivers, residuals, each lesion's radiation
signal and the antibodies with constant clearance are propagated exactly by the solver and left out of its
error control (:func:`~rptici.immunity.linear.linear_system`), so an infusion no longer restarts the step; outputs inside a step come from
DOPRI5's dense output (the solver stops exactly only at events); the solver returns only the states the
requested read-outs need (:func:`~rptici.immunity.observables.observable_states`) and only the requested
read-outs are computed; a second thread prepares the next chunk's kinetics and stores the last chunk's
read-outs while the solver (which releases the GIL) integrates; read-outs are computed in blocks of 32
patients (their temporaries stay in cache) and stored as float32. Arrays are patients-first throughout
(patients, times, states): each patient's state is one contiguous vector for the per-patient kernel and
threads write disjoint blocks.

Assumptions stated once: a lesion's mass for its S-value is its baseline volume × 1 g/mL (the sphere
S-values are for unit density) and stays fixed while the tumour shrinks; the blood/red-marrow driver of
the model is the red-marrow self-dose rate of the agent's ``red_marrow`` compartment; other organs
(``organs``) get their absorbed dose and BED in closed form from the same exponentials (they do not feed
back; :func:`rptici.radiobiology.repeated_exponential_dose`). The dose rates that drive cell kill in the ODE
(lesions and red marrow) are RBE-weighted: the α part of an α emitter's dose counts RBE times
(``data/absorbed_fractions.yaml``, 5 for deterministic effects; Sgouros et al. 2010 J Nucl Med 51:311, MIRD
Pamphlet 22), electrons and photons once; for β emitters this is the absorbed dose.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..dosimetry.absorbed_dose import default_alpha_rbe
from ..errors import InputError
from ..radiobiology import repair_rate, repeated_exponential_dose, tissue
from ..immunity.model import MODEL, ModelLayout, TumourImmuneModel
from ..immunity.parameters import ImmunityParameters, load_parameters
from ..kinetics.biokinetics import Covariates, agent_parameters, lesion_names
from ..kinetics.schema import kinetic_covariates as covariates_of
from .drivers import DoseRateResponse, Schedule, dose_rate_response, event_arrays, regimen_schedule
from .solver import SUCCESS, Flush, LinearSystem, Solver, solve, solver_for

#: Read-outs returned unless ``outputs`` says otherwise (observables of the model table, plus the
#: organ read-outs below).
DEFAULT_OUTPUTS: tuple[str, ...] = (
    "volume", "diameter", "volume_sum", "diameter_sum", "psa", "effector_blood", "regulatory", "lymphocytes",
    "occupancy", "dose", "bed", "marrow_dose", "marrow_bed", "organ_dose",
)
#: Read-outs of the ``organs`` in closed form (not states of the model): cumulative dose and BED,
#: (patients, times, organs).
ORGAN_OUTPUTS: tuple[str, ...] = ("organ_dose", "organ_bed")
#: Organ that drives the model's blood/red-marrow dose rate.
MARROW = "red_marrow"


@dataclass
class SimulationResult:
    """Read-outs at ``t`` (days): ``outputs[name]`` is (patients, times) or (patients, times, lesions / organs).

    ``status`` 0 is success; ``reasons[p]`` says why patient p failed (its rows are NaN). ``used_stiff``
    marks patients re-integrated by the stiff Radau path. ``dose_rate`` holds the drivers used.
    """

    t: np.ndarray
    outputs: dict[str, np.ndarray]
    status: np.ndarray
    reasons: list[str]
    used_stiff: np.ndarray
    lesions: tuple[str, ...]
    organs: tuple[str, ...]
    dose_rate: DoseRateResponse | None = None
    statistics: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def success(self) -> np.ndarray:
        return self.status == SUCCESS

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]


def _field(patients: Any, name: str) -> Any:
    if isinstance(patients, Mapping):
        return patients.get(name)
    return getattr(patients, name, None)


def kinetic_covariates(patients: Any, lesion_volumes_mL: np.ndarray) -> Covariates:
    """Kinetic :class:`Covariates` from ``patients`` (missing ones: reference adult); lesion mass = volume × 1 g/mL
    (:func:`rptici.kinetics.schema.kinetic_covariates`)."""
    return covariates_of(patients, lesion_volumes_mL=lesion_volumes_mL)


def site_selective_uptake(parameters: ImmunityParameters | None = None,
                          overrides: Mapping[str, object] | None = None) -> bool:
    """Whether the kinetics give no uptake to lesions at sites an agent does not reach (radium-223: bone only):
    the model switch ``site_selective_uptake`` of ``parameters`` (default: the human set) after ``overrides``."""
    parameters = load_parameters("human") if parameters is None else parameters
    value = parameters.with_overrides(overrides).values.get("switch_site_selective_uptake", 0.0)
    return bool(value)


def _ici_agents(regimen) -> dict[str, str]:
    """Checkpoint target of each antibody of ``regimen`` (empty without ICI)."""
    return regimen.ici_agents() if hasattr(regimen, "ici_agents") else {}


@dataclass
class _Cohort:
    """The inputs of every patient that need no kinetics; :func:`_with_kinetics` completes a block of them."""

    model: TumourImmuneModel
    regimen: Any
    layout: ModelLayout
    y0: np.ndarray
    params: np.ndarray  # without the dose-rate decay rates, which come from the kinetics
    covariates: Covariates
    schedule: Schedule
    organs: tuple[str, ...]
    parameters: ImmunityParameters
    antibody_state: dict[str, int] | None
    site_selective: bool = False


def _cohort(model: TumourImmuneModel, regimen, patients: Any, parameters: ImmunityParameters | None,
            n_exponentials: int, organs: Sequence[str], overrides: Mapping[str, object] | None,
            stop_days: tuple[Any, Any] = (None, None)) -> _Cohort:
    volumes = _field(patients, "lesion_volumes_mL")
    if volumes is None:
        volumes = _field(patients, "lesion_volumes")
    if volumes is None:
        raise InputError("patients.lesion_volumes_mL", None, "lesion volumes in mL, shape (patients, lesions)")
    volumes = np.atleast_2d(np.asarray(volumes, dtype=float))
    agents = _ici_agents(regimen)
    if parameters is None:
        parameters = load_parameters(
            "human", antibody=next((agent for agent, target in agents.items() if target in ("PD-1", "PD-L1")), None),
            ctla4_antibody=next((agent for agent, target in agents.items() if target == "CTLA-4"), None))
    layout = model.layout(volumes.shape[1], n_exponentials)
    params = model.parameter_vector(parameters, layout, patients, overrides)
    y0 = model.initial_state(parameters, layout, patients, overrides)
    covariates = kinetic_covariates(patients, volumes)
    schedule = regimen_schedule(regimen, covariates, site_selective_uptake(parameters, overrides))
    if stop_days[0] is not None or stop_days[1] is not None:
        schedule = schedule.stopped(*(None if days is None else _per_patient_days(days, schedule.rpt_activities.shape[0],
                                                                                  name)
                                      for days, name in zip(stop_days, ("rpt_stop_days", "ici_stop_days"))))
    antibody_state = None
    if agents:
        antibody_state = {}
        for agent, target in agents.items():
            own = schedule.ici_times[np.array([name == agent for name in schedule.ici_agents], dtype=bool)]
            antibody_state[agent] = model.antibody_dosing(layout, params, target, own.min() if own.size else 0.0)
    return _Cohort(model, regimen, layout, y0, params, covariates, schedule,
                   tuple(organ for organ in organs if organ != MARROW), parameters, antibody_state,
                   site_selective_uptake(parameters, overrides))


def _per_patient_days(days: Any, patients: int, name: str) -> np.ndarray:
    """``days`` (a number or one per patient; inf: never) as an array of ``patients`` days."""
    array = np.asarray(days, dtype=float)
    if array.ndim > 1 or (array.ndim == 1 and array.size != patients) or np.any(np.isnan(array)):
        raise InputError(name, days, f"a day or one day per patient ({patients}; inf for never)")
    return np.broadcast_to(array, (patients,))


def _with_kinetics(cohort: _Cohort, part: slice) -> tuple[np.ndarray, tuple, DoseRateResponse | None, Schedule]:
    """(params, events, dose-rate response, schedule) of the patients ``part``: the dose-rate drivers' decay rates
    in the parameters, and every administration and infusion as events."""
    model, layout = cohort.model, cohort.layout
    params = cohort.params[part].copy()
    schedule = cohort.schedule.take(part)
    lesions = lesion_names(layout.n_lesions)
    regions = (MARROW,) + tuple(lesions)  # the model's dose-rate regions: the red marrow, then the lesions
    response = None
    if cohort.regimen.rpt is not None:
        response = dose_rate_response(cohort.regimen.rpt.agent, cohort.covariates.take(part),
                                      organs=(MARROW,) + cohort.organs, n_exponentials=layout.n_exponentials,
                                      site_selective=cohort.site_selective, state=cohort.regimen.rpt.state,
                                      rbe=default_alpha_rbe())
        rates = response.rates[:, [response.index(region) for region in regions], :]
        if agent_parameters(cohort.regimen.rpt.agent).get("lymphoid_exposure") == "marrow":
            # a bone-surface alpha emitter's marrow dose reaches only the marrow-resident lymphocytes
            params[:, layout.parameter("lymphoid_dose_factor")] *= params[:, layout.parameter("marrow_lymphoid_fraction")]
    else:
        rates = np.ones((params.shape[0], len(regions), layout.n_exponentials))
    model.set_dose_rate_decay(layout, params, rates)

    def state_of(region: str, k: int) -> int:
        return model.dose_rate_state(layout, regions.index(region), k)

    events = event_arrays(schedule, response, state_of, cohort.antibody_state, regions=lesions + (MARROW,))
    return params, model.dosing_events(layout, params, events), response, schedule


def model_inputs(regimen, patients: Any, parameters: ImmunityParameters | None = None, n_exponentials: int = 4,
                 organs: Sequence[str] = (), overrides: Mapping[str, object] | None = None,
                 model: TumourImmuneModel = MODEL):
    """Everything the solver needs: (layout, y0, params, events, dose-rate response, schedule, organs, parameters).

    ``events`` is (event_times, event_state, event_amount), each (patients, events).
    """
    cohort = _cohort(model, regimen, patients, parameters, n_exponentials, organs, overrides)
    params, events, response, schedule = _with_kinetics(cohort, slice(None))
    return cohort.layout, cohort.y0, params, events, response, schedule, cohort.organs, cohort.parameters


def organ_dose(response: DoseRateResponse, schedule: Schedule, organs: Sequence[str], times: np.ndarray,
               dtype=np.float64, block: int = 128, bed: bool = False) -> np.ndarray:
    """Cumulative absorbed dose (Gy) of ``organs`` at ``times``, closed form, (patients, times, organs); with
    ``bed``, their BED (Gy) instead: D + 2∫ḊΓ/(α/β) with each organ's α/β and repair half-time
    (:func:`rptici.radiobiology.tissue`). Both from :func:`rptici.radiobiology.repeated_exponential_dose`
    (physical dose, no RBE, like the lesions' dose and BED in the model).
    """
    patients = response.coefficients.shape[0]
    result = np.zeros((patients, times.size, len(organs)), dtype=dtype)
    if schedule.rpt_times.size == 0:
        return result
    for column, organ in enumerate(organs):
        index = response.index(organ)
        parameters = tissue(organ) if bed else None
        repair = repair_rate(parameters.repair_half_time) if bed else None
        for start in range(0, patients, block):  # blocks of patients keep the (patients, times, terms) arrays small
            part = slice(start, min(start + block, patients))
            dose, quadratic = repeated_exponential_dose(
                response.coefficients[part, index], response.rates[part, index], repair, schedule.rpt_times,
                schedule.rpt_activities[part], times, quadratic=bed)
            result[part, :, column] = dose + 2.0 * quadratic / parameters.alpha_beta if bed else dose
    return result


#: Patients per call of ``observables`` when storing read-outs: its temporaries (patients × times × lesions)
#: then stay in the processor's cache; twice as fast as whole chunks of 1,024 (measured, November 2026).
READ_OUT_BLOCK = 32

def simulate(regimen, patients: Any, t_out, parameters: ImmunityParameters | None = None, *,
             organs: Sequence[str] = ("kidneys",), outputs: Sequence[str] | None = None, n_exponentials: int = 4,
             rtol: float = 1e-6, atol: float = 1e-8, max_steps: int = 200_000, method: str = "auto",
             backend: str | None = None, chunk_size: int = 1024,
             overrides: Mapping[str, object] | None = None, output_dtype=np.float32,
             model: TumourImmuneModel = MODEL, solver: Solver | None = None,
             rpt_stop_days: Any = None, ici_stop_days: Any = None) -> SimulationResult:
    """Simulate ``regimen`` (a :class:`rptici.kinetics.Regimen`) for ``patients`` with outputs at ``t_out`` (d).

    ``patients``: a mapping or object with ``lesion_volumes_mL`` (patients, lesions; NaN absent) and
    optionally the immunity covariates (infiltration, pdl1, alpha, lymphocytes, psa, weight_kg,
    doubling_time_days) and kinetic ones (bsa_m2, gfr_mL_per_min, target_uptake_scale). ``parameters``:
    an :class:`ImmunityParameters` (default: human, with the regimen's antibody). Time 0 is the start of
    the regimen; ``t_out`` must be ≥ 0. Patients are integrated in chunks of ``chunk_size``. ``outputs``:
    read-outs of the model (:func:`~rptici.immunity.observables.observables`) and of :data:`ORGAN_OUTPUTS` (``organ_dose``,
    ``organ_bed``: the ``organs``' cumulative dose and BED, in closed form); default :data:`DEFAULT_OUTPUTS`.

    Read-outs are stored as ``output_dtype``, float32 by default: 7 significant digits (relative rounding
    6e-8) are finer than the integration tolerance (rtol ≥ 1e-9 in practice) and halve the memory of a
    large cohort (10,000 patients × 731 days × 17 columns: 0.5 GB instead of 1 GB). The integration
    itself runs in float64; pass ``output_dtype=np.float64`` to keep the solver's numbers unrounded.

    ``model``: the tumour–immune model (default :data:`rptici.immunity.model.MODEL`; any object with its
    methods). ``solver``: a :class:`~.solver.Dopri5`, :class:`~.solver.Radau` or :class:`~.solver.Auto`
    with its controller; default ``method`` with ``rtol`` and ``atol`` (:func:`~.solver.solver_for`).

    ``rpt_stop_days`` / ``ici_stop_days`` (a day or one per patient, inf for never): administrations after that day
    are not given (treatment stopped at progression or toxicity; :meth:`.drivers.Schedule.stopped`).
    """
    solver = solver_for(method, rtol, atol) if solver is None else solver
    atol = solver.controller.atol
    output_dtype = np.dtype(output_dtype)
    if output_dtype.kind != "f":
        raise InputError("output_dtype", output_dtype, "a floating-point dtype (float32 or float64)")
    t_out = np.atleast_1d(np.asarray(t_out, dtype=float))
    if t_out.ndim != 1 or t_out.size == 0 or np.any(~np.isfinite(t_out)) or np.any(t_out < 0) \
            or np.any(np.diff(t_out) < 0):
        raise InputError("t_out", t_out, "non-decreasing finite output times >= 0 (d)")
    if int(chunk_size) < 1:
        raise InputError("chunk_size", chunk_size, "a positive number of patients per chunk")
    outputs = DEFAULT_OUTPUTS if outputs is None else tuple(outputs)
    cohort = _cohort(model, regimen, patients, parameters, n_exponentials, organs, overrides,
                     (rpt_stop_days, ici_stop_days))
    layout, organs, patients_count = cohort.layout, cohort.organs, cohort.y0.shape[0]
    results: dict[str, np.ndarray] = {}
    status = np.zeros(patients_count, dtype=np.int64)
    reasons = [""] * patients_count
    used_stiff = np.zeros(patients_count, dtype=bool)
    steps = np.zeros(patients_count, dtype=np.int64)
    evaluations = np.zeros(patients_count, dtype=np.int64)
    read_outs = [name for name in outputs if name not in ORGAN_OUTPUTS]
    organ_read_outs = [name for name in ORGAN_OUTPUTS if name in outputs]
    selected = model.observable_states(layout, read_outs)
    chunks = [slice(start, min(start + int(chunk_size), patients_count))
              for start in range(0, patients_count, int(chunk_size))]
    responses: list[DoseRateResponse] = []

    def prepare(part: slice):
        params, events, response, schedule = _with_kinetics(cohort, part)
        return (params, events, response, schedule, Flush(*model.flush_levels(layout, params, events, atol)),
                LinearSystem(**model.linear_system(layout, params)))

    def store(batch, part: slice, params: np.ndarray, response: DoseRateResponse | None, schedule: Schedule) -> None:
        status[part], used_stiff[part] = batch.status, batch.used_stiff
        steps[part], evaluations[part] = batch.accepted_steps, batch.evaluations
        reasons[part] = batch.reasons
        for start in range(0, params.shape[0], READ_OUT_BLOCK):
            block = slice(start, start + READ_OUT_BLOCK)
            values = model.observables(batch.y[block], params[block], layout, states=selected, names=read_outs)
            for name in read_outs:
                put(name, slice(part.start + start, part.start + start + values[name].shape[0]), values[name])
        for name in organ_read_outs:
            values = (np.zeros((params.shape[0], t_out.size, len(organs))) if response is None or not organs
                      else organ_dose(response, schedule, organs, t_out, dtype=output_dtype, bed=name == "organ_bed"))
            values[batch.status != SUCCESS] = np.nan
            put(name, part, values)

    def put(name: str, rows: slice, values: np.ndarray) -> None:
        if name not in results:
            results[name] = np.empty((patients_count,) + values.shape[1:], dtype=output_dtype)
        results[name][rows] = values

    # a second thread prepares the next chunk's kinetics and stores each chunk's read-outs while the solver
    # (which releases the GIL) integrates
    with ThreadPoolExecutor(max_workers=1) as helper:
        ready = prepare(chunks[0]) if chunks else None
        stored = None
        for number, part in enumerate(chunks):
            params, events, response, schedule, flush, linear = ready
            following = helper.submit(prepare, chunks[number + 1]) if number + 1 < len(chunks) else None
            batch = solve(model.rhs, cohort.y0[part], params, t_out, events, solver=solver, linear=linear, flush=flush,
                          output_states=selected, t0=0.0, max_steps=max_steps, backend=backend,
                          active=model.active_states(layout, params))
            if stored is not None:
                stored.result()
            stored = helper.submit(store, batch, part, params, response, schedule)
            if response is not None:
                responses.append(response)
            del batch
            ready = following.result() if following is not None else None
        if stored is not None:
            stored.result()
    response = None if not responses else DoseRateResponse(
        responses[0].regions, *(np.concatenate([getattr(item, name) for item in responses])
                                for name in ("coefficients", "rates", "exact")))
    return SimulationResult(t_out, results, status, reasons, used_stiff, lesion_names(layout.n_lesions), organs,
                            response, {"accepted_steps": steps, "evaluations": evaluations})
