"""The public Python API of rptici: a few explicit calls over the layers below.

::

    import rptici

    scenario = rptici.load_scenario("examples/simulate/pluvicto_pembrolizumab_patient.yaml")
    result = rptici.simulate(scenario, days=120)          # xarray.Dataset, dims patient/time/lesion/organ
    result["diameter_sum"].sel(patient=0)                 # units in result["diameter_sum"].attrs["units"]
    dose = rptici.regimen_dose("examples/scenarios/pluvicto.yaml")
    run = rptici.run_trial("examples/trials/prince_like.yaml", "out/prince", patients=200)
    rptici.summarize(run.folder)
    rptici.replay("PRINCE", patients=500)

Scenarios come in four kinds, one schema each (:data:`KINDS`): ``regimen`` (:class:`~rptici.kinetics.Regimen`),
``dose`` (closed-form dosimetry of a regimen for a reference patient and a cohort around it),
``simulation`` (a regimen or prescribed doses for one patient, a cohort or a sampled population) and ``trial``
(arms of a virtual trial). :func:`load_scenario` reads any of them.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from .data import read_mapping
from .errors import InputError
from .immunity.table import TABLE
from .kinetics.biokinetics import Covariates
from .kinetics.regimen import Regimen
from .kinetics.schema import PatientSpec, prefixed
from .population import Population
from .radiobiology import regimen_dose as _dose
from .simulation.engine import ORGAN_OUTPUTS
from .simulation.scenario import SimulationScenario, load_simulation_scenario, run_scenario, with_resolved_paths
from .trials.scenario import TrialScenario

Scenario = Regimen | _dose.DoseScenario | SimulationScenario | TrialScenario
#: The scenario kinds by name (the ``kind:`` key of a scenario file).
KINDS: dict[str, type] = {"regimen": Regimen, "dose": _dose.DoseScenario, "simulation": SimulationScenario,
                          "trial": TrialScenario}
#: Keys that only a simulation scenario has.
_SIMULATION_KEYS = frozenset(SimulationScenario.model_fields) - frozenset(_dose.DoseScenario.model_fields)
#: Units of the read-outs: the model table's observables and the engine's organ dose and BED (Gy); "1" is a
#: fraction or a level relative to the patient's baseline.
UNITS = {**{observable.name: observable.unit for observable in TABLE.observables},
         **{name: "Gy" for name in ORGAN_OUTPUTS}}


#: ``rptici.simulate`` runs the parameter files' values, without a trial calibration.
UNCALIBRATED = "none"


def scenario_kind(document: Mapping[str, Any]) -> str:
    """The kind of a scenario document: its ``kind:``, else by its keys (``arms``: trial; only rpt, ici and
    sequence: regimen; a key only simulations have: simulation; ``regimen`` with a patient: dose)."""
    if "kind" in document:
        if not isinstance(document["kind"], str) or document["kind"] not in KINDS:
            raise InputError("kind", document["kind"], "one of " + ", ".join(KINDS))
        return str(document["kind"])
    keys = set(document)
    if "arms" in keys:
        return "trial"
    if keys and keys <= set(Regimen.model_fields):
        return "regimen"
    if keys & _SIMULATION_KEYS or "regimen" not in keys:
        return "simulation"
    return "dose"


def load_scenario(source: Scenario | Mapping[str, Any] | str | os.PathLike[str], kind: str | None = None) -> Scenario:
    """A validated scenario of any kind from a mapping or a YAML file; ``kind`` (or the ``kind:`` key) chooses
    the schema, else :func:`scenario_kind` does. Errors name the field, the value and what is allowed."""
    if isinstance(source, tuple(KINDS.values())):
        return source
    document = read_mapping(source, "scenario", "a scenario mapping (regimen, patient, arms, ...)")
    kind = scenario_kind(document if kind is None else {**document, "kind": kind})
    document = with_resolved_paths(document, source)  # lesions_from: relative to the scenario file
    if kind == "regimen":
        return Regimen.load({key: value for key, value in document.items() if key != "kind"}, "regimen")
    return KINDS[kind].load(document)


def _cohort(patients: Any) -> Mapping[str, Any]:
    """The engine's patients mapping from a Population, a PatientSpec, a mapping of arrays in the engine's names
    (``lesion_volumes_mL``, ``weight_kg``, ...) or a mapping of covariates with units (a patient: section)."""
    if isinstance(patients, Population):
        return patients.engine_patients()
    if isinstance(patients, PatientSpec):
        return patients.engine_patients()
    if isinstance(patients, Mapping):
        if "lesion_volumes_mL" in patients:
            return patients
        try:
            return PatientSpec.load(patients, "patients").engine_patients()
        except InputError as error:
            raise prefixed(error, f"patients.{error.field}") from None
    raise InputError("patients", type(patients).__name__,
                     "a number of patients, a Population, a PatientSpec or a mapping of covariates")


def _simulation(scenario: Scenario) -> SimulationScenario:
    if isinstance(scenario, SimulationScenario):
        return scenario
    if isinstance(scenario, Regimen):
        return SimulationScenario.model_validate({"regimen": scenario})
    if isinstance(scenario, _dose.DoseScenario):
        return SimulationScenario.model_validate({"name": scenario.name or "scenario", "regimen": scenario.regimen,
                                                  "patient": scenario.patient})
    raise InputError("scenario", type(scenario).__name__, "a regimen, a dose or a simulation scenario")


def simulate(scenario_or_regimen: Scenario | Mapping[str, Any] | str | os.PathLike[str], patients: Any = None, *,
             days: float | None = None, step: float = 1.0, times: Sequence[float] | None = None,
             seed: int | None = None, overrides: Mapping[str, float] | None = None,
             outputs: Sequence[str] | None = None, lesions_from: str | os.PathLike[str] | None = None):
    """Simulate a regimen or a simulation scenario; an :class:`xarray.Dataset` of the read-outs.

    ``patients``: a number (copies of the scenario's patient, or a sample of its population), a
    :class:`~rptici.population.Population`, a :class:`~rptici.kinetics.schema.PatientSpec`, or a mapping of
    covariates (with units, as in a scenario's ``patient:``; or arrays in the engine's names). Output days:
    ``times``, else every ``step`` days to ``days`` (default the scenario's horizon). ``overrides``: immunity
    parameters and ``switch_<mechanism>`` values (internal units); ``outputs``: the read-outs (default:
    tumour, PSA, lymphocytes, occupancy, doses; with organs their dose and BED). ``lesions_from``: an
    ``rptici image-dose`` output folder whose lesions (volumes, doses per cycle, DVH heterogeneity) replace the
    patient's — a digital twin (:mod:`rptici.simulation.twin`; its rows in ``attrs["twin"]``).

    Dimensions patient, time (d), lesion and organ; each read-out's unit is in its ``attrs["units"]``;
    ``status`` (0: success) and ``reason`` per patient.
    """
    if lesions_from is not None and isinstance(scenario_or_regimen, (Mapping, str, os.PathLike)):
        # before validation: with lesions_from a patient needs no lesions and prescribed_rpt no tumour doses
        document = read_mapping(scenario_or_regimen, "scenario", "a simulation scenario mapping")
        scenario_or_regimen = {**document, "lesions_from": os.path.abspath(lesions_from)}
    if isinstance(scenario_or_regimen, (Mapping, str, os.PathLike)):
        scenario_or_regimen = load_scenario(scenario_or_regimen)
    scenario = _simulation(scenario_or_regimen)
    count = patients if isinstance(patients, (int, np.integer)) and not isinstance(patients, bool) else None
    scenario = load_simulation_scenario(scenario, count, seed, days, lesions_from)
    cohort = None if patients is None or count is not None else _cohort(patients)
    run = run_scenario(scenario, step, times=times, cohort=cohort, overrides=overrides,
                       outputs=None if outputs is None else tuple(outputs))
    return to_dataset(run, scenario)


def to_dataset(run: Mapping[str, Any], scenario: SimulationScenario):
    """The labelled form of a run (:func:`rptici.simulation.scenario.run_scenario`)."""
    import xarray as xr

    variables: dict[str, Any] = {}
    lesions = 0
    for name, values in run["values"].items():
        values = np.asarray(values)
        dims: tuple[str, ...] = ("patient", "time")
        if values.ndim == 3:
            dims += ("organ",) if name in ORGAN_OUTPUTS else ("lesion",)
            lesions = values.shape[2] if dims[-1] == "lesion" else lesions
        variables[name] = (dims, values, {"units": UNITS.get(name, "1")})
    status = np.asarray(run["status"])
    variables["status"] = ("patient", status, {"meaning": "0: success; otherwise the solver's failure code"})
    variables["reason"] = ("patient", np.array(run["reasons"], dtype=object))
    coordinates: dict[str, Any] = {"patient": np.arange(status.size),
                                   "time": ("time", np.asarray(run["times"]), {"units": "d"})}
    if lesions:
        coordinates["lesion"] = [f"lesion_{number + 1}" for number in range(lesions)]
    if any(name in ORGAN_OUTPUTS for name in run["values"]):
        coordinates["organ"] = list(scenario.organs)
    attrs = {"scenario": scenario.name, "species": scenario.species, "days": float(scenario.days)}
    if "twin" in run:
        attrs["twin"] = run["twin"]
    return xr.Dataset(variables, coordinates, attrs=attrs)


def simulation_summary(result) -> dict[str, Any]:
    """Per patient of a :func:`simulate` result: final and best change of the sum of diameters (%), the
    trajectories, final dose and BED per lesion, marrow and organ doses, status and reason (JSON-ready apart
    from NumPy types)."""
    patients = []
    organs = list(result["organ"].values) if "organ" in result.coords else []
    for index in range(result.sizes["patient"]):
        sums = result["diameter_sum"].values[index]
        baseline = sums[0]
        change = 100.0 * (sums / baseline - 1.0) if baseline > 0 else np.full_like(sums, np.nan)
        row = {
            "patient": index, "status": "ok" if result["status"].values[index] == 0 else "failed",
            "reason": result["reason"].values[index],
            "final_change_percent": change[-1],
            "best_change_percent": np.nanmin(change) if np.any(np.isfinite(change)) else None,
            "sum_of_diameters_mm": sums, "psa_ng_per_mL": result["psa"].values[index],
            "lymphocytes_1e9_per_L": result["lymphocytes"].values[index],
            "occupancy": result["occupancy"].values[index],
            "lesion_dose_Gy": result["dose"].values[index, -1], "lesion_bed_Gy": result["bed"].values[index, -1],
            "marrow_dose_Gy": result["marrow_dose"].values[index, -1],
            "marrow_bed_Gy": result["marrow_bed"].values[index, -1],
        }
        if organs:
            row["organ_dose_Gy"] = dict(zip(organs, result["organ_dose"].values[index, -1]))
            row["organ_bed_Gy"] = dict(zip(organs, result["organ_bed"].values[index, -1]))
        patients.append(row)
    from .analysis.status import model_status

    summary = {"scenario": result.attrs["scenario"], "species": result.attrs["species"], "days": result.attrs["days"],
               "times_d": result["time"].values, "patients": patients, "warnings": _simulation_warnings(patients),
               "model_status": model_status(UNCALIBRATED).as_dict()}
    if "twin" in result.attrs:
        summary["twin_lesions"] = result.attrs["twin"]
    return summary


def _simulation_warnings(patients: list[dict[str, Any]]) -> list[str]:
    """Doses beyond any clinical range (:mod:`rptici.radiobiology.plausibility`), one line each, naming the patient
    when there are several."""
    from .radiobiology.plausibility import region_warnings

    lines = []
    for row in patients:
        regions = {f"lesion_{number + 1}": {"rbe_weighted_dose_Gy": dose}
                   for number, dose in enumerate(np.atleast_1d(row["lesion_dose_Gy"]))}
        regions["red_marrow"] = {"rbe_weighted_dose_Gy": row["marrow_dose_Gy"]}
        for organ, bed in row.get("organ_bed_Gy", {}).items():
            regions[organ] = {"bed_Gy": bed}
        lines += region_warnings(regions, f"patient {row['patient']}: " if len(patients) > 1 else "")
    return lines


def regimen_dose(scenario_or_regimen: Regimen | _dose.DoseScenario | Mapping[str, Any] | str | os.PathLike[str],
                 patients: Covariates | Population | PatientSpec | None = None, *, times: Any = None,
                 rbe: float | None = None, cross_dose: bool = True) -> _dose.RegimenDose:
    """Closed-form activity, dose, BED, limits (and occupancy with an ICI) of a dose scenario's patients, or of
    a regimen for ``patients`` (kinetic covariates; default the reference adult). ``cross_dose`` False: organ
    self-dose only, without the reference phantom's photon cross-dose."""
    if isinstance(scenario_or_regimen, (Mapping, str, os.PathLike)):
        scenario_or_regimen = load_scenario(scenario_or_regimen)
    if isinstance(scenario_or_regimen, _dose.DoseScenario):
        if patients is not None:
            raise InputError("patients", type(patients).__name__, "no patients with a dose scenario (it has its own)")
        return _dose.scenario_dose(scenario_or_regimen, times, rbe, cross_dose)
    if not isinstance(scenario_or_regimen, Regimen):
        raise InputError("scenario", type(scenario_or_regimen).__name__, "a regimen or a dose scenario")
    sex = "male"
    if isinstance(patients, PatientSpec):
        patients, sex = patients.kinetic_covariates(), patients.sex or "male"
    elif isinstance(patients, Population):
        patients = patients.kinetic_covariates()
    return _dose.regimen_dose(scenario_or_regimen, patients, times, sex, rbe, cross_dose=cross_dose)


def run_trial(scenario: TrialScenario | Mapping[str, Any] | str | os.PathLike[str], out: str | os.PathLike[str],
              **options: Any):
    """Run (or resume) a virtual trial into folder ``out`` (:func:`rptici.trials.run.run_trial`)."""
    from .trials.run import run_trial as run

    return run(scenario, out, **options)


def engine_ready() -> bool:
    """Whether the engine's compiled code is ready (compiled in this process or cached on disk); when not, the
    first simulation compiles it, which takes about :data:`rptici.simulation.solver.COMPILE_SECONDS` seconds."""
    from .immunity.model import MODEL
    from .simulation.solver import kernel_ready

    return kernel_ready(MODEL.rhs)


def summarize(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Per-arm endpoints of a trial's results folder (:func:`rptici.analysis.summary.summarize`)."""
    from .analysis.summary import summarize as summary

    return summary(folder)


def predict(folder: str | os.PathLike[str], members: int, patients: int | None = None) -> dict[str, Any]:
    """95 % prediction intervals of a trial run's endpoints from the calibration ensemble
    (:func:`rptici.analysis.ensemble.predict_run`); :func:`summarize` shows them afterwards."""
    from .analysis.ensemble import predict_run

    return predict_run(folder, members, patients)


def replay(name: str, patients: int = 2000, seed: int = 1, **options: Any) -> dict[str, Any]:
    """Re-run a registry trial with virtual patients and compare with what it reported
    (:func:`rptici.analysis.replay.replay`)."""
    from .analysis.replay import replay as run

    return run(name, patients=patients, seed=seed, **options)
