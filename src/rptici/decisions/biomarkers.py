"""``rptici biomarkers``: which baseline covariates predict outcome, and which predict the benefit of adding the ICI.

On a finished two-arm virtual trial (RPT alone against RPT + ICI, ``rptici trial run``):

- **prognostic**: per covariate, a Cox model ``h = h0 exp(β_A A + β_z z)`` (A: the ICI arm; z: the covariate,
  standardised, log first where skewed): HR per SD and its p-value;
- **predictive** (treatment-effect heterogeneity): ``h = h0 exp(β_A A + β_z z + β_Az A z)``; the interaction HR
  ``exp(β_Az)`` per SD and its Wald p-value, Holm-adjusted over the covariates (Holm 1979, Scand J Stat 6:65);
  a covariate is called predictive when its adjusted p < α. Cox 1972; interaction tests as in Royston & Sauerbrei
  2008 (Multivariable model-building, ch. 7), with lifelines' CoxPHFitter (Davidson-Pilon 2019, JOSS 4:1317);
- **who benefits**: a T-learner (Künzel et al. 2019, PNAS 116:4156) — one Cox model per arm on all covariates —
  gives each patient's predicted gain in restricted mean survival to the horizon; "benefit" is a gain of at
  least ``min_gain_months``. For the best predictive covariate, the cut-point maximising Youden's J
  (sensitivity + specificity − 1) for that label, the treatment HR inside and outside the selected group;
- **enrichment**: events for a two-arm log-rank comparison, D = (z₁₋α/₂ + z₁₋β)² / (p(1−p) ln² HR) (Schoenfeld
  1983, Biometrics 39:499; p = 1/2), and patients D / P(event) — all-comers against the selected group, and
  the patients to screen (patients / prevalence).

The patients table's baseline columns are the covariates (:data:`COVARIATES`); ``alpha_per_Gy`` (intrinsic
radiosensitivity) is the model's, not measurable in a clinic, and is marked ``latent``. The findings are the
model's: the model is not yet credible (``model_status``).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

#: Baseline covariates of the patients table (trials/run.py) → (words, transform before standardising).
COVARIATES = {
    "target_uptake": ("target uptake (PSMA/SSTR PET, SUVmean-like)", "none"),
    "pdl1": ("PD-L1 expression", "none"),
    "immune_infiltration": ("immune infiltration (CD8-like)", "none"),
    "lymphocytes_1e9_per_L": ("blood lymphocytes (10⁹/L)", "none"),
    "psa_ng_per_mL": ("PSA (ng/mL, log)", "log"),
    "baseline_volume_mL": ("tumour burden (mL, log)", "log"),
    "lesion_count": ("number of target lesions", "none"),
    "baseline_sum_diameters_mm": ("sum of the lesions' diameters at baseline (mm)", "none"),
    "age_years": ("age (years)", "none"),
    "weight_kg": ("body weight (kg)", "none"),
    "alpha_per_Gy": ("intrinsic radiosensitivity α (latent)", "none"),
}
LATENT = ("alpha_per_Gy",)
ENDPOINTS = ("pfs", "os", "psa_pfs")
DAYS_PER_MONTH = 30.4375


def schoenfeld_events(hazard_ratio: float, alpha: float = 0.05, power: float = 0.8, allocation: float = 0.5
                      ) -> float | None:
    """Events needed to detect ``hazard_ratio`` with a two-sided log-rank test (Schoenfeld 1983); None when the
    ratio is 1 or not finite."""
    if hazard_ratio is None or not np.isfinite(hazard_ratio) or hazard_ratio <= 0 or abs(math.log(hazard_ratio)) < 1e-9:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z ** 2 / (allocation * (1 - allocation) * math.log(hazard_ratio) ** 2))


def _transformed(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = frame[name].to_numpy(dtype=float)
    if COVARIATES.get(name, ("", "none"))[1] == "log":
        values = np.log(np.maximum(values, 1e-9))
    spread = np.std(values)
    return (values - np.mean(values)) / spread if spread > 0 else np.zeros_like(values)


def _cox(data: pd.DataFrame, columns: Sequence[str]):
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter(penalizer=1e-6).fit(data[list(columns) + ["time", "event"]], "time", "event")


def _term(fit, name: str) -> dict[str, float]:
    row = fit.summary.loc[name]
    return {"hr": float(row["exp(coef)"]), "hr_ci": [float(row["exp(coef) lower 95%"]),
                                                     float(row["exp(coef) upper 95%"])], "p": float(row["p"])}


def _holm(p_values: Sequence[float]) -> list[float]:
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def _rmst(fit, frame: pd.DataFrame, horizon: float) -> np.ndarray:
    grid = np.linspace(0.0, horizon, 97)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        survival = fit.predict_survival_function(frame, times=grid).to_numpy()
    return np.trapezoid(survival, grid, axis=0)


def _hazard_ratio(data: pd.DataFrame) -> dict[str, Any]:
    if data["arm"].nunique() < 2 or data["event"].sum() < 2:
        return {"hr": None, "hr_ci": None, "p": None, "n": int(len(data)), "event_fraction": None}
    term = _term(_cox(data, ["arm"]), "arm")
    return {**term, "n": int(len(data)), "event_fraction": float(data["event"].mean())}


def _enrichment(all_comers: dict[str, Any], selected: dict[str, Any], prevalence: float, alpha: float,
                power: float) -> dict[str, Any]:
    def patients(group: dict[str, Any]) -> tuple[float | None, float | None]:
        events = schoenfeld_events(group["hr"], alpha, power) if group["hr"] is not None and group["hr"] < 1 else None
        if events is None or not group["event_fraction"]:
            return events, None
        return events, float(math.ceil(events / group["event_fraction"]))

    events_all, patients_all = patients(all_comers)
    events_selected, patients_selected = patients(selected)
    return {"alpha": alpha, "power": power, "allocation": 0.5,
            "all_comers": {"hr": all_comers["hr"], "event_fraction": all_comers["event_fraction"],
                           "events": events_all, "patients": patients_all},
            "selected": {"hr": selected["hr"], "event_fraction": selected["event_fraction"], "events": events_selected,
                         "patients": patients_selected, "prevalence": prevalence,
                         "patients_screened": None if patients_selected is None or prevalence <= 0
                         else float(math.ceil(patients_selected / prevalence))},
            "patients_ratio": None if patients_all is None or patients_selected is None
            else patients_selected / patients_all,
            "method": "Schoenfeld 1983: D = (z(1-α/2) + z(1-β))² / (p(1-p) ln² HR), p = 1/2; patients = D / P(event) "
                      "at the trial's follow-up; HR and event share from the virtual trial"}


def analyse(patients: pd.DataFrame, treatment: str, control: str, endpoint: str = "pfs",
            covariates: Sequence[str] | None = None, alpha: float = 0.05, power: float = 0.8,
            min_gain_months: float = 1.0, horizon_months: float | None = None) -> dict[str, Any]:
    """The biomarker document of a ``patients`` table (see the module docstring)."""
    if endpoint not in ENDPOINTS:
        raise InputError("--endpoint", endpoint, "one of " + ", ".join(ENDPOINTS))
    for name, value in (("--alpha", alpha), ("--power", power)):
        if not 0 < value < 1:
            raise InputError(name, value, "a number between 0 and 1")
    arms = set(patients["arm"])
    for name, arm in (("--treatment", treatment), ("--control", control)):
        if arm not in arms:
            raise InputError(name, arm, "an arm of the run: " + ", ".join(sorted(map(str, arms))))
    if treatment == control:
        raise InputError("--treatment", treatment, "an arm other than the control")
    columns = [name for name in COVARIATES if name in patients.columns] if covariates is None else list(covariates)
    for name in columns:
        if name not in patients.columns or name not in COVARIATES:
            raise InputError("--covariate", name, "a baseline covariate of the run: " +
                             ", ".join(item for item in COVARIATES if item in patients.columns))
    valid = patients[(patients.get("status", "ok") == "ok") & patients["arm"].isin([treatment, control])]
    valid = valid.dropna(subset=[f"{endpoint}_days", f"{endpoint}_event"] + columns).reset_index(drop=True)
    if len(valid) < 20 or valid[f"{endpoint}_event"].sum() < 10:
        raise InputError("patients", len(valid), f"at least 20 patients and 10 {endpoint} events in the two arms")
    data = pd.DataFrame({"time": valid[f"{endpoint}_days"].to_numpy(float) / DAYS_PER_MONTH,
                         "event": valid[f"{endpoint}_event"].astype(bool).to_numpy(),
                         "arm": (valid["arm"] == treatment).to_numpy(float)})
    columns = [name for name in columns if np.std(valid[name].to_numpy(float)) > 0]
    for name in columns:
        data[name] = _transformed(valid, name)
    horizon = float(data["time"].max()) if horizon_months is None else float(horizon_months)
    overall = _hazard_ratio(data)
    rows = []
    for name in columns:
        data["interaction"] = data["arm"] * data[name]
        prognostic = _term(_cox(data, ["arm", name]), name)
        fit = _cox(data, ["arm", name, "interaction"])
        interaction = _term(fit, "interaction")
        beta = fit.params_
        rows.append({"covariate": name, "label": COVARIATES[name][0], "latent": name in LATENT,
                     "prognostic_hr_per_sd": prognostic["hr"], "prognostic_hr_ci": prognostic["hr_ci"],
                     "prognostic_p": prognostic["p"],
                     "interaction_hr_per_sd": interaction["hr"], "interaction_hr_ci": interaction["hr_ci"],
                     "interaction_p": interaction["p"],
                     "treatment_hr_at_minus_1sd": float(np.exp(beta["arm"] - beta["interaction"])),
                     "treatment_hr_at_plus_1sd": float(np.exp(beta["arm"] + beta["interaction"]))})
    adjusted = _holm([row["interaction_p"] for row in rows])
    prognostic_adjusted = _holm([row["prognostic_p"] for row in rows])
    for row, value, prognostic_value in zip(rows, adjusted, prognostic_adjusted):
        row["interaction_p_holm"] = value
        row["predictive"] = value < alpha
        row["prognostic_p_holm"] = prognostic_value
        row["prognostic"] = prognostic_value < alpha
    rows.sort(key=lambda row: row["interaction_p"])
    document: dict[str, Any] = {
        "treatment": treatment, "control": control, "endpoint": endpoint, "patients": int(len(data)),
        "events": int(data["event"].sum()), "horizon_months": horizon, "all_comers": overall,
        "covariates": rows, "predictive": [row["covariate"] for row in rows if row["predictive"]],
        "prognostic": [row["covariate"] for row in rows if row["prognostic"]],
        "alpha": alpha}
    document["benefit"] = _benefit(data, columns, rows[0] if rows else None, horizon, min_gain_months)
    selection = document["benefit"].get("selection")
    if selection is not None:
        standardised = data[selection["covariate"]].to_numpy(float)
        mask = standardised >= selection["threshold_standardised"] if selection["direction"] == ">=" \
            else standardised <= selection["threshold_standardised"]
        original = valid[selection["covariate"]].to_numpy(float)[mask]
        selection["threshold"] = float(original.min() if selection["direction"] == ">=" else original.max())
        selected = data[mask]
        document["enrichment"] = _enrichment(overall, _hazard_ratio(selected), float(len(selected) / len(data)),
                                             alpha, power)
        document["enrichment"]["supported"] = bool(selection["predictive"])
        if not selection["predictive"]:
            document["enrichment"]["caution"] = (f"{selection['covariate']} is not a significant predictor (Holm-"
                                                 f"adjusted interaction p ≥ {alpha}): the selected group's HR is likely "
                                                 "noise, and so is the smaller trial")
    return document


def _benefit(data: pd.DataFrame, columns: list[str], best: dict[str, Any] | None, horizon: float,
             min_gain_months: float) -> dict[str, Any]:
    """T-learner gain in RMST per patient, the share with benefit, and the best covariate's Youden cut-point."""
    fits = {}
    for arm in (0.0, 1.0):
        group = data[data["arm"] == arm]
        fits[arm] = _cox(group, columns)
    covariate_frame = data[columns]
    gain = _rmst(fits[1.0], covariate_frame, horizon) - _rmst(fits[0.0], covariate_frame, horizon)
    label = gain >= min_gain_months
    result: dict[str, Any] = {
        "method": "T-learner: one Cox model per arm on all covariates; gain = RMST(ICI arm) − RMST(control) to the "
                  "horizon, per patient (Künzel et al. 2019)",
        "min_gain_months": min_gain_months, "mean_gain_months": float(np.mean(gain)),
        "share_with_benefit": float(np.mean(label)), "gain_quantiles_months": {
            str(q): float(np.quantile(gain, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}}
    if best is None or label.all() or not label.any():
        result["selection"] = None
        result["why_no_selection"] = "every patient or no patient has the minimum gain: no cut-point to choose"
        return result
    name = best["covariate"]
    direction = ">=" if best["interaction_hr_per_sd"] < 1 else "<="
    raw = data[name].to_numpy(float)  # standardised; thresholds reported on the original scale below
    best_j, best_cut = -np.inf, None
    for quantile in np.arange(0.1, 0.91, 0.05):
        cut = float(np.quantile(raw, quantile))
        chosen = raw >= cut if direction == ">=" else raw <= cut
        sensitivity = float(np.mean(chosen[label]))
        specificity = float(np.mean(~chosen[~label]))
        if sensitivity + specificity - 1 > best_j:
            best_j, best_cut = sensitivity + specificity - 1, (quantile, cut, sensitivity, specificity, chosen)
    quantile, cut, sensitivity, specificity, chosen = best_cut
    result["selection"] = {"covariate": name, "direction": direction, "quantile": float(quantile),
                           "threshold_standardised": cut, "sensitivity": sensitivity, "specificity": specificity,
                           "youden_j": float(best_j), "prevalence": float(np.mean(chosen)),
                           "predictive": bool(best["predictive"]),
                           "hr_selected": _hazard_ratio(data[chosen])["hr"],
                           "hr_not_selected": _hazard_ratio(data[~chosen])["hr"]}
    return result


def analyse_ensemble(scenario: Any, calibration: str | None, members: int, treatment: str, control: str,
                     share: float = 1.0, patients: int | None = None, seed: int | None = None,
                     chunk_size: int | None = None, **options: Any) -> dict[str, Any]:
    """The trial ``scenario`` simulated again under ``members`` members of the calibration ensemble (the same
    ``patients``, ``seed`` and chunks as the run, default the scenario's), each analysed by :func:`analyse`, and
    the findings marked robust by the rule of :mod:`rptici.decisions.robust`."""
    import time

    from ..analysis.ensemble import ensemble_members
    from ..trials.run import simulate_trial
    from .robust import _check_share, robust_covariates

    share = _check_share(share)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise InputError("--ensemble", members, "a whole number of ensemble members ≥ 1")
    started = time.perf_counter()
    documents = []
    for member in ensemble_members(calibration or "default", members):
        tables = simulate_trial(scenario, patients=patients, seed=seed, chunk_size=chunk_size, calibration=member)
        documents.append(analyse(tables["patients"], treatment, control, **options))
    result = robust_covariates(documents, share)
    result.update(calibration=calibration or "default", seconds=time.perf_counter() - started,
                  patients=patients or scenario.patients, seed=scenario.seed if seed is None else seed,
                  patients_analysed=[document["patients"] for document in documents],
                  rule="a covariate is a robust predictor when it is predictive (Holm-adjusted interaction p < α) in "
                       "at least the required share of ensemble members and its interaction HR is on the same side "
                       "of 1 in every member; the selection is robust when the same covariate and direction are "
                       "chosen in at least that share (same patients in every member; rptici.decisions.robust)",
                  all_comers_hr_over_members=[document["all_comers"]["hr"] for document in documents])
    return result


def analyse_run(folder: str | Path, treatment: str | None = None, control: str | None = None, ensemble: int = 0,
                robust_share: float = 1.0, **options: Any) -> dict[str, Any]:
    """:func:`analyse` on a run folder of ``rptici trial run``: the control arm is the scenario's, the treatment
    the first other arm unless given; thresholds on the covariates' own scale; the model status attached. With
    ``ensemble`` members, the analysis is repeated under each member of the calibration ensemble and its
    findings marked robust or not (:func:`analyse_ensemble`)."""
    from ..analysis.status import model_status
    from ..store import ResultStore

    store = ResultStore(folder)
    if not store.completed_chunks():
        raise InputError("folder", str(folder), "a run folder with at least one finished chunk of patients "
                                                 "(run 'rptici trial run SCENARIO --out FOLDER')")
    document = json.loads((store.folder / "scenario.json").read_text(encoding="utf-8"))
    arms = document["scenario"]["arms"]
    control = control or next((arm["name"] for arm in arms if arm.get("control")), arms[0]["name"])
    treatment = treatment or next((arm["name"] for arm in arms if arm["name"] != control), None)
    if treatment is None:
        raise InputError("folder", str(folder), "a run with two arms (control and one with the ICI)")
    patients = store.read("patients")
    result = analyse(patients, treatment, control, **options)
    result.update(name=document["scenario"].get("name"), folder=str(folder),
                  calibration=document.get("calibration", {}).get("source"))
    result["model_status"] = model_status(result["calibration"]).as_dict()
    if ensemble:
        from ..trials.scenario import load_trial_scenario

        scenario = load_trial_scenario(document["scenario"])
        manifest = store.manifest  # the run's patients and seed (the CLI may have overridden the scenario's)
        result["ensemble"] = analyse_ensemble(scenario, scenario.calibration, ensemble, treatment, control,
                                              robust_share, manifest.patients, manifest.seed, manifest.chunk_size,
                                              **options)
        robust = set(result["ensemble"]["robust_predictors"])
        for row in result["covariates"]:
            row["robust"] = row["covariate"] in robust
    return result
