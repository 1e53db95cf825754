"""The model's credibility evidence (``rptici validate``), in the spirit of ASME V&V 40-2018 and the FDA guidance
"Assessing the Credibility of Computational Modeling and Simulation in Medical Device Submissions" (2023):

* **code verification**: the engine against an independent integrator (``scipy.integrate.solve_ivp``, DOP853,
  :mod:`rptici.simulation.oracle`) on random virtual patients, and closed forms of the radiobiology against the
  ODE they solve;
* **calibration table**: every reported endpoint of the monotherapy trials the model was fitted to: reported,
  simulated with the virtual trial's 95 % interval, the prediction interval from the calibration ensemble, and
  whether it holds within the trial-level tolerance (:mod:`rptici.analysis.tolerance`);
* **validation table**: the same for the combination trials with results, which were never fitted, and how each is
  replayed (imaging, whom it enrolled, the sites that kept men out, and the source of every amendment), so that a
  reader sees what was set and that no result was;
* **direction checks** that the project requires of the combination predictions (issue 14): PRINCE's
  combination PSA50 at least 10 points above Lu-PSMA-617 alone; radium-223 plus an ICI no better than
  radium-223 alone (rPFS hazard ratio between 0.8 and 1.25);
* **sensitivity and identifiability**: the packaged Morris analysis (``data/calibration/sensitivity.json``),
  when present;
* **the model version**: rptici's version and the calibration (source and fit) the numbers belong to;
* **across seeds** (``seeds``): the counts and direction checks of the same replays with other seeds, so that a
  reader sees how much of a count is the draw of virtual patients.

Everything is computed from a seed: re-running with the same settings reproduces the report to the bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Callable, Sequence

import numpy as np

from .. import __version__
from ..trials.registry import registry
from ..trials.scenario import calibration_document
from .calibration import DEFAULT_TRIALS
from .replay import DEFAULT_ASSESSMENTS, default_allocation, excluded_sites, replay, replay_arms
from .sensitivity import packaged_sensitivity, table_rows
from .status import CREDIBLE_CALIBRATION_SHARE, CREDIBLE_VALIDATION_SHARE
from .tolerance import holds, tolerance_band

#: The combination trials with reported results (role ``validation``) that the report predicts.
VALIDATION_TRIALS = ("NCT02814669", "NCT03093428", "PRINCE", "NCT03325816")
#: Relative agreement the engine must reach against the oracle (issue 4).
ENGINE_TOLERANCE = 1e-6
#: Relative agreement of a closed form with the ODE it solves.
CLOSED_FORM_TOLERANCE = 1e-7
#: Direction checks of issue 14: (name, trial, what, lowest, highest).
PSA50_GAIN_AT_LEAST = 0.10
HAZARD_RATIO_BAND = (0.8, 1.25)


@dataclass(frozen=True)
class Check:
    """One verification or direction check: the value, what it is compared with, whether it passed and (a direction
    check replayed with the calibration ensemble) the members' 95 % prediction interval."""

    name: str
    method: str
    reference: float | None
    value: float | None
    tolerance: str
    passed: bool
    prediction: tuple[float | None, float | None] | None = None


# --- code verification ---------------------------------------------------------------------------------------

def random_patients(count: int, seed: int) -> dict[str, np.ndarray]:
    """Covariates of ``count`` random virtual patients (uniform over wide ranges, some with one lesion): inputs
    for comparing the engine with the oracle, not a clinical population."""
    rng = np.random.default_rng(seed)
    volumes = rng.uniform(1.0, 50.0, (count, 2))
    volumes[rng.random(count) < 0.3, 1] = np.nan
    return {"lesion_volumes_mL": volumes, "infiltration": rng.uniform(0.05, 1.0, count),
            "pdl1": rng.uniform(0.0, 0.8, count), "alpha": rng.uniform(0.05, 0.4, count),
            "lymphocytes": rng.uniform(0.8, 2.5, count), "psa": rng.uniform(1.0, 100.0, count),
            "weight_kg": rng.uniform(50.0, 110.0, count), "gfr_mL_per_min": rng.uniform(60.0, 140.0, count),
            "target_uptake_scale": rng.uniform(0.5, 2.0, count)}


def largest_relative_deviation(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                               names: Sequence[str]) -> float:
    """max |ours − reference| / (|reference| + 1e-3 · max|reference|) over outputs ``names``: relative, with a
    floor of 1e-3 of each output's largest value so that values decaying to ~0 do not dominate."""
    worst = 0.0
    for name in names:
        a, b = np.asarray(ours[name], dtype=float), np.asarray(reference[name], dtype=float)
        finite = np.isfinite(b)
        if not np.any(finite):
            continue
        floor = 1e-3 * np.nanmax(np.abs(b))
        deviation = np.abs(a[finite] - b[finite]) / (np.abs(b[finite]) + floor)
        worst = max(worst, float(np.max(deviation)))
    return worst


def verify_engine(patients: int = 12, seed: int = 11) -> Check:
    """The engine (adaptive Dormand–Prince 5(4), compiled) against ``solve_ivp`` (DOP853, rtol 1e-11) on random
    patients treated with two cycles of Lu-PSMA-617 and pembrolizumab."""
    from ..immunity.model import observables, rhs
    from ..kinetics import Regimen
    from ..simulation.engine import model_inputs, simulate
    from ..simulation.oracle import oracle

    regimen = Regimen.model_validate({
        "rpt": {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2},
        "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 5}})
    cohort = random_patients(patients, seed)
    times = np.arange(0.0, 91.0, 3.0)
    result = simulate(regimen, cohort, times, rtol=1e-9, atol=1e-12, organs=())
    layout, y0, params, events, *_ = model_inputs(regimen, cohort)
    states, _ = oracle(rhs, y0, params, times, *events, method="DOP853", rtol=1e-11, atol=1e-13, pure_python=False)
    names = ("volume", "diameter_sum", "dose", "bed", "psa", "effector_blood", "lymphocytes", "occupancy")
    deviation = largest_relative_deviation(result.outputs, observables(states, params, layout), names)
    return Check("engine against the solve_ivp oracle",
                 f"{patients} random patients, Lu-PSMA-617 ×2 + pembrolizumab, outputs {', '.join(names)} every 3 d "
                 f"to day 90; largest relative deviation", 0.0, deviation, f"relative ≤ {ENGINE_TOLERANCE:g}",
                 bool(deviation <= ENGINE_TOLERANCE))


def verify_incomplete_repair(effective_half_life: float = 2.8, uptake_half_life: float = 0.3,
                             repair_half_time: float = 1.5 / 24) -> list[Check]:
    """The closed-form Lea–Catcheside factors G (Dale 1985; Baechler 2008) against the incomplete-repair ODE
    integrated to 60 effective half-lives (``rptici.radiobiology.lq.incomplete_repair_ode``)."""
    from ..radiobiology.lq import g_factor_monoexponential, g_factor_uptake_washout, incomplete_repair_ode

    washout, uptake = math.log(2) / effective_half_life, math.log(2) / uptake_half_life
    end = 60 * effective_half_life
    shapes: list[tuple[str, Callable[[float], float], float]] = [
        ("mono-exponential", lambda t: math.exp(-washout * t),
         float(g_factor_monoexponential(effective_half_life, repair_half_time))),
        ("uptake and washout", lambda t: math.exp(-washout * t) - math.exp(-uptake * t),
         float(g_factor_uptake_washout(uptake_half_life, effective_half_life, repair_half_time)))]
    checks = []
    for name, rate, closed in shapes:
        breakpoints = np.concatenate([[0.0], np.geomspace(0.01, end, 40)])
        dose, quadratic, _ = incomplete_repair_ode(rate, breakpoints, repair_half_time)
        numerical = float(2 * quadratic / dose ** 2)
        deviation = abs(numerical - closed) / closed
        checks.append(Check(f"Lea–Catcheside G, {name} dose rate",
                            f"closed form (reference) against the ODE, DOP853 (value), T_eff {effective_half_life} d, "
                            f"repair half-time {repair_half_time * 24:g} h", closed, numerical,
                            f"relative ≤ {CLOSED_FORM_TOLERANCE:g}", bool(deviation <= CLOSED_FORM_TOLERANCE)))
    return checks


def code_verification(patients: int = 12, seed: int = 11) -> list[Check]:
    """Every code-verification check (module docstring)."""
    return [verify_engine(patients, seed), *verify_incomplete_repair()]


# --- calibration and validation tables -----------------------------------------------------------------------

def trial_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The reported numeric endpoints of one replay, each with its tolerance band and whether it holds."""
    rows = []
    for item in result["endpoints"]:
        reported = item.get("reported")
        if not isinstance(reported, (int, float)) or isinstance(reported, bool):
            continue
        low, high = tolerance_band(item["unit"], float(reported), item["n"])
        rows.append({"trial": result.get("acronym") or result["trial"], "arm": item["arm"],
                     "endpoint": item["endpoint"], "unit": item["unit"], "reported": float(reported), "n": item["n"],
                     "simulated": item["simulated"], "low": item["low"], "high": item["high"],
                     "prediction_low": item.get("prediction_low"), "prediction_high": item.get("prediction_high"),
                     "tolerance_low": low, "tolerance_high": high,
                     "holds": holds(item["unit"], float(reported), item["simulated"], item["n"])})
    return rows


def replay_all(names: Sequence[str], patients: int, seed: int, calibration: str, ensemble: int,
               log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Replays of trials ``names`` (acronym → result; a trial that fails is recorded with its error, the others
    are kept)."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        began = time.perf_counter()
        try:
            results[name] = replay(name, patients, seed, calibration, ensemble=ensemble)
        except Exception as error:  # one trial's failure must not lose the others' results
            results[name] = {"trial": name, "acronym": name, "error": f"{type(error).__name__}: {error}",
                             "endpoints": []}
        if log is not None:
            log(f"{name}: {time.perf_counter() - began:.1f} s")
    return results


def replay_design(name: str) -> dict[str, Any]:
    """How the replay of trial ``name`` is run: its imaging schedule, whom it enrols (its cohort, else the population
    file's patients), the lesion sites that keep a patient out, and every amendment (what it changed and its source)."""
    record = registry().get(name)
    cohort = record.cohort()
    return {"trial": record.name, "population": record.population,
            "allocation": default_allocation(replay_arms(record)),
            "assessments": record.assessments or f"{DEFAULT_ASSESSMENTS} (VISION's; the record gives none)",
            "cohort": cohort or None, "excluded_sites": list(excluded_sites(record)),
            "excluded_by": "the trial's eligibility" if record.excluded_sites is not None else "the replay's rule",
            "amendments": [{"changed": list(amendment.changed), "source": amendment.source}
                           for amendment in record.amendments]}


def _arm_value(result: dict[str, Any], arm: str, key: str) -> float | None:
    row = next((item for item in result.get("summary", {}).get("arms", []) if item["arm"] == arm), None)
    value = None if row is None else row.get(key)
    value = value[0] if isinstance(value, (list, tuple)) else value
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _paired_interval(result: dict[str, Any], arm: str, rate: str) -> str:
    """Words for the 95 % interval of ``rate``'s paired difference of ``arm`` from the control arm (a paired
    replay: the same virtual patients in both arms), or "" when the replay is not paired."""
    row = next((item for item in result.get("summary", {}).get("arms", []) if item["arm"] == arm), {})
    difference = row.get(f"{rate}_paired_difference")
    if not difference:
        return ""
    return f" in the same virtual patients (95 % CI {difference[1]:+.3f} to {difference[2]:+.3f})"


def _ensemble_interval(result: dict[str, Any], arm: str, key: str) -> tuple[float | None, float | None] | None:
    """The calibration ensemble's 95 % prediction interval of ``arm``'s summary estimate ``key`` (a replay with
    ``ensemble`` > 0), else None."""
    interval = result.get("prediction", {}).get("arms", {}).get(arm, {}).get(key)
    return None if interval is None else (interval[0], interval[1])


def direction_checks(results: dict[str, dict[str, Any]]) -> list[Check]:
    """The two directions issue 14 requires of the combination predictions (None where a trial was not replayed)."""
    checks = []
    prince = results.get("PRINCE")
    if prince is not None:
        combination, alone = _arm_value(prince, "RPT + ICI", "psa50"), _arm_value(prince, "RPT alone", "psa50")
        gain = None if combination is None or alone is None else combination - alone
        paired = _paired_interval(prince, "RPT + ICI", "psa50")
        checks.append(Check("PRINCE: pembrolizumab adds to Lu-PSMA-617",
                            "simulated PSA50, Lu-PSMA-617 + pembrolizumab minus Lu-PSMA-617 alone" + paired +
                            " (PRINCE reported 76 % with pembrolizumab; about 46 % alone in VISION)",
                            PSA50_GAIN_AT_LEAST, gain, f"≥ +{PSA50_GAIN_AT_LEAST:.2f}",
                            gain is not None and gain >= PSA50_GAIN_AT_LEAST,
                            _ensemble_interval(prince, "RPT + ICI", "psa50_paired_difference")))
    radium = results.get("NCT03093428")
    if radium is not None:
        ratio = _arm_value(radium, "RPT + ICI", "hr_pfs")  # the PFS of a disease with PSA is rPFS (PCWG3)
        low, high = HAZARD_RATIO_BAND
        checks.append(Check("radium-223 + pembrolizumab no better than radium-223 alone",
                            "simulated rPFS hazard ratio, combination vs radium-223 alone"
                            + (" in the same virtual patients" if radium.get("allocation") == "paired" else "")
                            + " (NCT03093428: median rPFS 6.1 vs 5.7 months)", 1.0, ratio, f"{low}–{high}",
                            ratio is not None and low <= ratio <= high,
                            _ensemble_interval(radium, "RPT + ICI", "hr_pfs")))
    return checks


# --- the report ----------------------------------------------------------------------------------------------

def sensitivity_summary() -> dict[str, Any] | None:
    """The packaged Morris analysis (``data/calibration/sensitivity.json``) as settings and one row per parameter
    (:func:`rptici.analysis.sensitivity.table_rows`), or None when there is none."""
    try:
        document = packaged_sensitivity()
    except FileNotFoundError:
        return None
    return {"description": document["description"], "rule": document["identifiability_rule"],
            "settings": document["settings"], "rows": table_rows(document)}


def _share(rows: list[dict[str, Any]]) -> dict[str, Any]:
    within = sum(row["holds"] for row in rows)
    return {"within_tolerance": within, "total": len(rows), "share": within / len(rows) if rows else None}


def seed_row(seed: int, calibration_rows: list[dict[str, Any]], validation_rows: list[dict[str, Any]],
             checks: list[Check]) -> dict[str, Any]:
    """One seed's counts (calibration and validation endpoints within the tolerance) and direction checks."""
    return {"seed": seed, "calibration": _share(calibration_rows), "validation": _share(validation_rows),
            "direction_checks": [{"name": check.name, "value": check.value, "passed": check.passed}
                                 for check in checks]}


def _other_seed(seed: int, patients: int, calibration: str, calibration_trials: Sequence[str],
                validation_trials: Sequence[str], log: Callable[[str], None] | None) -> dict[str, Any]:
    """:func:`seed_row` of the same replays with another seed (without prediction intervals)."""
    fitted = replay_all(calibration_trials, patients, seed, calibration, 0, log)
    predicted = replay_all(validation_trials, patients, seed, calibration, 0, log)
    return seed_row(seed, [row for result in fitted.values() for row in trial_rows(result)],
                    [row for result in predicted.values() for row in trial_rows(result)], direction_checks(predicted))


def across_seeds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed rows (:func:`seed_row`) and what they add up to: the endpoints held over all seeds, and on how
    many seeds each direction check passed."""
    pooled = {}
    for table in ("calibration", "validation"):
        within, total = (sum(row[table][key] for row in rows) for key in ("within_tolerance", "total"))
        pooled[table] = {"within_tolerance": within, "total": total, "share": within / total if total else None}
    names = [check["name"] for check in rows[0]["direction_checks"]] if rows else []
    passed = {name: sum(check["passed"] for row in rows for check in row["direction_checks"] if check["name"] == name)
              for name in names}
    return {"seeds": rows, **pooled, "direction_checks_passed": passed}


def validate(patients: int = 600, seed: int = 1, calibration: str = "default", ensemble: int = 0,
             calibration_trials: Sequence[str] = DEFAULT_TRIALS, validation_trials: Sequence[str] = VALIDATION_TRIALS,
             verification_patients: int = 12, log: Callable[[str], None] | None = None,
             seeds: Sequence[int] = ()) -> dict[str, Any]:
    """The credibility report (module docstring) as a JSON-ready mapping; ``seeds``: other seeds whose counts and
    direction checks the report also gives (``across_seeds``), beside ``seed``'s."""
    began = time.perf_counter()
    verification = code_verification(verification_patients)
    fitted = replay_all(calibration_trials, patients, seed, calibration, ensemble, log)
    predicted = replay_all(validation_trials, patients, seed, calibration, ensemble, log)
    for name, result in predicted.items():
        role = registry().get(name).role if "error" not in result else "validation"
        if role != "validation":
            raise ValueError(f"{name} has role {role!r}: the validation table holds combination trials only")
    calibration_rows = [row for result in fitted.values() for row in trial_rows(result)]
    validation_rows = [row for result in predicted.values() for row in trial_rows(result)]
    directions = direction_checks(predicted)
    others = [_other_seed(other, patients, calibration, calibration_trials, validation_trials, log)
              for other in dict.fromkeys(seeds) if other != seed]
    document, source = calibration_document(calibration)
    calibration_share, validation_share = _share(calibration_rows), _share(validation_rows)
    credible = (calibration_share["share"] or 0) >= CREDIBLE_CALIBRATION_SHARE and \
        (validation_share["share"] or 0) >= CREDIBLE_VALIDATION_SHARE and all(check.passed for check in directions)
    return {"model": {"rptici": __version__, "calibration": calibration, "calibration_source": source,
                      "fitted": document.get("fitted", {}), "optimiser": document.get("optimiser"),
                      "ensemble_members_available": len(document.get("ensemble", {}).get("members", []))},
            "settings": {"patients": patients, "seed": seed, "ensemble": ensemble,
                         "tolerance": "a rate holds inside the reported value's Wilson 95 % interval at the trial's "
                                      "n widened by ±0.05; a median or hazard ratio within a factor 4/3; a median "
                                      "not reached fails"},
            "measured": date.today().isoformat(), "seconds": round(time.perf_counter() - began, 1),
            "code_verification": [asdict(check) for check in verification],
            "calibration": {**calibration_share, "rows": calibration_rows,
                            "errors": {name: result["error"] for name, result in fitted.items() if "error" in result}},
            "validation": {**validation_share, "rows": validation_rows,
                           "errors": {name: result["error"] for name, result in predicted.items() if "error" in result},
                           "replayed_as": [replay_design(name) for name in validation_trials]},
            "direction_checks": [asdict(check) for check in directions],
            **({"across_seeds": across_seeds([seed_row(seed, calibration_rows, validation_rows, directions), *others])}
               if others else {}),
            "sensitivity": sensitivity_summary(),
            "credible": credible,
            "required": {"calibration_share": CREDIBLE_CALIBRATION_SHARE,
                         "validation_share": CREDIBLE_VALIDATION_SHARE, "directions": "all"}}


def status_document(report: dict[str, Any]) -> dict[str, Any]:
    """The counts of ``data/model_status.yaml`` from a report made with the default settings."""
    failures = [f"{row['trial']} {row['arm']} {row['endpoint']}: {_value(row['simulated'], row['unit'])} simulated vs "
                f"{_value(row['reported'], row['unit'])}"
                for table in ("calibration", "validation") for row in report[table]["rows"] if not row["holds"]]
    return {"calibration": report["model"]["calibration_source"], "measured": report["measured"],
            **{f"{table}_endpoints": {"within_tolerance": report[table]["within_tolerance"],
                                       "total": report[table]["total"],
                                       "trials": list(dict.fromkeys(row["trial"] for row in report[table]["rows"]))}
               for table in ("calibration", "validation")},
            "direction_checks": [{"name": check["name"], "value": check["value"], "passed": check["passed"]}
                                 for check in report["direction_checks"]],
            "known_failures": failures}


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "not reached"
    return f"{value:.1f} months" if unit == "months" else f"{value:.2f}" if unit == "ratio" else f"{100 * value:.0f} %"
