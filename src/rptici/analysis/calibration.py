"""Calibration of the uncertain population and model parameters to the MONOTHERAPY trials only.

Targets: the registry records with role ``calibration`` (``data/trials_monotherapy.yaml`` and the trials rptici adds,
``data/trials_monotherapy_added.yaml``); the combination
trials (role ``validation``) are never read here. Each calibration trial is replayed
(:func:`rptici.analysis.replay.replay_scenario`) with the same virtual patients and random numbers at every
evaluation (common random numbers: fixed seed), and compared endpoint by endpoint.

Objective (reproducible, documented in docs/validation.md)::

    J(θ) = Σ_endpoints (g(s_i(θ)) − g(r_i))² / (σ_i² + σ_model²)

with r_i the reported value, s_i the simulated one, and g the scale on which the sampling error of r_i is about
normal with a variance that does not depend on the unknown truth: for a rate or landmark p in n patients the
arcsine square root, g(p) = asin √p, variance σ_i² = 1/(4n) (Bartlett 1936; Anscombe 1948), σ_model = 0.05 (about
±0.05 in p near one half: the widening of the trial-level tolerance); for a median in months the logarithm,
σ_i² = 1/n (exponential survival, about n events), σ_model = 0.1; for a hazard ratio against the control arm the
logarithm too, σ_i² = 4/n with n the trial's total (ln HR of a 1:1 trial whose n patients all had the event: the
smallest sampling variance it can have; Tsiatis 1981 Biometrika 68:311), σ_model = 0.1. The floors keep the largest
trials from deciding alone. A rate scale, unlike the logarithm, stays finite at a simulated rate of 0: a cold
tumour's ORR of 0 against a reported 3-5 % costs what its sampling error says, not an unbounded amount (the
tolerance band of such a rate starts at 0). A median not reached is set to 1.5 × the follow-up. Endpoints of
untreated control arms are medians and landmarks only (their ORR and PSA50 come from standard-of-care drugs
that rptici does not model). Arms that cannot be simulated (agent without lesion kinetics) are reported and
left out.

Parameters θ (searched in log space, bounded; :data:`PARAMETERS`): tumour radiosensitivity scale and its
between-patient spread, immune infiltration scale with disease factors, immune kill rate, PD-L1 suppression strength
(what checkpoint blockade relieves: the ICI potency), the fraction of the dose rate that target-low cells receive and
the odds scale of their share (intra-lesion uptake heterogeneity), the priming rate, the doomed-cell lifetime per
doubling time (mitotic death), the death hazard's terms, the tumour doubling times of mCRPC and GEP-NET and the occult
disease. :data:`FIXED` holds what the evidence fixes instead (the RPT-triggered priming strength: weak, since RPT
alone gives no out-of-field responses in patients). Optimiser: bounded
Nelder–Mead (scipy) or CMA-ES (``cma``) from the starting values, at most ``max_evaluations`` evaluations. The
starting values are a warm start: the values of the packaged default calibration (:func:`start_values`; a new
parameter at the geometric mean of its bounds), so that a re-run continues the search rather than restarting it in
twenty dimensions.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import yaml

from ..errors import InputError
from ..trials.registry import registry
from ..trials.run import simulate_trial
from ..trials.scenario import Calibration, calibration_document
from .ensemble import join_block, likelihood_ratio_set
from .evidence import evidence_entries
from .replay import compare, replay_arms, replay_scenario

class Parameter(NamedTuple):
    """A parameter the calibration searches: its prior range (``lower``, ``upper``; searched in log space), its unit
    and what it does."""

    lower: float
    upper: float
    unit: str
    meaning: str


#: name → the prior range searched (bounds), unit and what it does. The values, and the start of a fit, are a
#: calibration file's (:func:`start_values`).
PARAMETERS: dict[str, Parameter] = {
    "alpha_scale": Parameter(
        0.03, 2.0, "1",
        "multiplies each virtual patient's tumour alpha (radiosensitivity, 1/Gy); the lower bound allows the "
        "effective alpha of RPT to lie well below the external-beam value (0.35/Gy, Webb and Nahum 1993): Lu-PSMA-617 "
        "whole-body tumour doses of about 10 Gy per cycle rarely give PSA50 (1 of 11; Violet et al. 2019 J Nucl Med "
        "60:517), which external-beam alpha would not allow"),
    "alpha_spread": Parameter(
        0.5, 8.0, "1",
        "widens the between-patient log-spread of tumour alpha around the disease's median "
        "(rptici.trials.run.spread_log): the dose explains only part of the response between patients (Violet et al. "
        "2019: r = -0.57); fitted to the VISION PSA waterfall"),
    "infiltration_scale": Parameter(
        0.1, 5.0, "1",
        "multiplies each virtual patient's immune infiltration"),
    "immunity.pdl1_suppression": Parameter(
        0.5, 50.0, "1",
        "PD-1/PD-L1 suppression of effector killing (relieved by checkpoint blockade: the ICI potency)"),
    "immunity.kill_rate": Parameter(
        0.003, 1.0, "1/d",
        "immune kill rate of a fully infiltrated, unsuppressed lesion"),
    "immunity.low_uptake_dose_fraction": Parameter(
        0.001, 1.0, "1",
        "fraction of a lesion's dose rate that its target-low (PSMA-/SSTR-low) cells receive"),
    "immunity.low_uptake_odds_scale": Parameter(
        0.2, 20.0, "1",
        "multiplies the odds of each virtual patient's target-low share (the population files' beta distributions)"),
    "immunity.priming_rate": Parameter(
        0.02, 20.0, "1/d",
        "effector expansion per unit of mature-DC signal: the strength of the immune response that RPT itself "
        "triggers (in-situ vaccination)"),
    "immunity.doomed_lifetime_doublings": Parameter(
        0.03, 3.0, "1",
        "doomed-cell lifetime per volume doubling time (mitotic death: lethally damaged cells die at mitosis, so slow "
        "tumours keep them for months)"),
    "immunity.doomed_lifetime_doublings.gep_net": Parameter(
        0.03, 3.0, "1",
        "doomed-cell lifetime per volume doubling time in GEP-NET: lethally damaged cells die at their next mitoses, "
        "so the lifetime scales with the potential doubling time, a share 1 - phi of the volume doubling time (phi "
        "the cell loss factor; Steel 1977): about 0.26 for mCRPC, higher where little is lost, as in slowly cycling, "
        "well-differentiated NETs (Ki-67 < 20 %, grades 1-2); Lu-DOTATATE stabilises NETs for years with few "
        "responses (NETTER-1: ORR 18 %, 20-month PFS 65 %)"),
    "death_hazard_scale": Parameter(
        0.02, 50.0, "1",
        "multiplies the tumour-burden term of the death hazard"),
    "doubling_time_days.mcrpc": Parameter(
        45.0, 500.0, "d",
        "tumour volume doubling time, mCRPC; lower bound from the progression pattern: a lesion's diameter grows by "
        "2^(t/3T), so an untreated lesion stays below RECIST's +20 % at the first 8-week scan only if T >= 71 d, or T "
        ">= 43 d under the control arm's standard of care (growth x 0.6, data/standard_of_care.yaml); the trials saw "
        "progression at 12 weeks mostly by new lesions, 13 % by size alone (Gafita et al. 2022). The 30-day bound let "
        "the fit put every VISION control patient's progression at the first scan"),
    "doubling_time_days.gep_net": Parameter(
        20.0, 3000.0, "d",
        "tumour volume doubling time, GEP-NET"),
    "death_hazard_scale.gep_net": Parameter(
        0.01, 10.0, "1",
        "multiplies the burden term of the death hazard for GEP-NET (disease-specific: NET liver disease of 60 mL is "
        "lived with for years, NETTER-1 control median OS 36 months)"),
    "death_hazard_exponent": Parameter(
        0.1, 2.0, "1",
        "exponent of the tumour burden in the death hazard: below 1 a shrinking tumour lowers the hazard less than in "
        "proportion"),
    "disease_hazard.mcrpc": Parameter(
        1e-05, 0.01, "1/d",
        "burden-independent disease hazard, mCRPC (unmeasured bone and marrow disease, cachexia: why responders still "
        "die, Claret et al. 2009 J Clin Oncol 27:4103)"),
    "death_hazard_scale.mcrpc": Parameter(
        0.1, 10.0, "1",
        "multiplies the burden term of the death hazard for mCRPC, beside the general scale (with the death hazard "
        "ratios of lung and liver disease, Halabi et al. 2016, populations/mcrpc.yaml)"),
    "prior_line_hazard.mcrpc": Parameter(
        0.8, 2.0, "1",
        "factor on the disease's death hazard per prior systemic line in mCRPC (g^lines; "
        "rptici.trials.run.death_hazard_ratio): men who start a treatment earlier live longer whatever their measured "
        "burden (CheckMate 650: OS 19.0 months before chemotherapy, 15.2 after; VISION's control arm after 2-3 lines "
        "11.3)"),
    "disease_hazard.gep_net": Parameter(
        1e-06, 0.005, "1/d",
        "burden-independent disease hazard, GEP-NET"),
    "infiltration_scale.mcrpc": Parameter(
        0.05, 3.0, "1",
        "disease factor of the immune infiltration for mCRPC, an immunologically cold tumour (pembrolizumab ORR 3-5 "
        "%, KEYNOTE-199; one infiltration scale cannot serve melanoma and prostate)"),
    "alpha_scale.mcrpc": Parameter(
        0.3, 5.0, "1",
        "disease factor of the tumour radiosensitivity for mCRPC: with the immune infiltration fitted to "
        "KEYNOTE-199's disease control, the radiation itself must carry Lu-PSMA-617's responses"),
    "infiltration_spread.mcrpc": Parameter(
        0.5, 8.0, "1",
        "widens the between-patient log-spread of the mCRPC immune infiltration (rptici.trials.run.spread_log): "
        "pembrolizumab holds few patients, durably (KEYNOTE-199: ORR 3-5 %, disease control 9-22 %)"),
    "alpha_scale.gep_net": Parameter(
        0.1, 15.0, "1",
        "disease factor of the tumour radiosensitivity for GEP-NET (well-differentiated, slowly cycling cells; one "
        "alpha scale cannot serve prostate adenocarcinoma and NET: NETTER-1 ORR 18 % at lesion doses above those of "
        "VISION); the upper bound 15 lets a NET's effective alpha reach the external-beam 0.35/Gy (about "
        "1/alpha_scale), not beyond; the former bound 5 held the fit"),
    "growth_spread.gep_net": Parameter(
        0.01, 2.0, "1",
        "log-SD of the patients' tumour growth rates around the GEP-NET doubling time "
        "(rptici.trials.run.patient_doubling_times): NETs of grades 1-2 grow at very different rates, so "
        "pembrolizumab leaves the slow ones progression-free for months (KEYNOTE-158) while Lu-DOTATATE holds its "
        "responders for years (NETTER-1)"),
    "infiltration_scale.gep_net": Parameter(
        0.05, 3.0, "1",
        "disease factor of the immune infiltration for GEP-NET (pembrolizumab ORR 3.7 %, KEYNOTE-158)"),
    "infiltration_scale.sclc": Parameter(
        0.05, 3.0, "1",
        "disease factor of the immune infiltration for relapsed SCLC (nivolumab ORR 11.9 %, CheckMate 032; SCLC is "
        "mostly non-inflamed, Gay et al. 2021 Cancer Cell 39:346)"),
    "growth_spread.sclc": Parameter(
        0.01, 2.0, "1",
        "log-SD of the patients' tumour growth rates around the SCLC doubling time "
        "(rptici.trials.run.patient_doubling_times)"),
    "disease_hazard.sclc": Parameter(
        1e-06, 0.01, "1/d",
        "burden-independent disease hazard, relapsed SCLC (third line: CheckMate 032 12-month OS 28 %)"),
    "growth_spread.merkel": Parameter(
        0.01, 2.0, "1",
        "log-SD of the patients' tumour growth rates around the Merkel doubling time "
        "(rptici.trials.run.patient_doubling_times)"),
    "infiltration_scale.merkel": Parameter(
        0.05, 3.0, "1",
        "disease factor of the immune infiltration for Merkel cell carcinoma (avelumab ORR 33 % in JAVELIN Merkel 200 "
        "part A, after chemotherapy; one factor cannot serve SCLC and Merkel)"),
    "prior_line_infiltration.merkel": Parameter(
        0.2, 2.0, "1",
        "factor on the immune infiltration per prior systemic line in Merkel cell carcinoma (infiltration x f^lines): "
        "checkpoint blockade works better first line (KEYNOTE-017 ORR 56 %; avelumab first line, JAVELIN Merkel 200 "
        "part B, 40 %, D'Angelo et al. 2021 J Immunother Cancer) than after chemotherapy (part A 33 %)"),
    "prior_line_infiltration.mcrpc": Parameter(
        0.2, 2.0, "1",
        "factor on the immune infiltration per prior systemic line in mCRPC (infiltration x f^lines): nivolumab + "
        "ipilimumab gave ORR 25 % before chemotherapy (one prior line) and 10 % after it (CheckMate 650, Sharma et "
        "al. 2020); the mCRPC population file's patients have had 2-5 lines"),
    "immunity.immune_escape_fraction.mcrpc": Parameter(
        1e-09, 0.05, "1",
        "share of an mCRPC lesion's cells invisible to the treatment-induced effectors (immune escape): "
        "pembrolizumab's control wanes by 18 months in KEYNOTE-921 (rPFS 9.4 %), where lesions held by immune kill "
        "never escaped; prostate cancer has few mutations (Alexandrov et al. 2013) and blockade needs clonal "
        "neoantigens (McGranahan et al. 2016), Merkel's viral antigens are in every cell, so 0 elsewhere"),
    "low_uptake_anticorrelation": Parameter(
        0.01, 0.95, "1",
        "minus the Gaussian-copula correlation of a patient's target uptake (SUVmean) with its target-low share: "
        "low-SUV patients carry more target-low cells (TheraP PSA50 91 % at SUVmean >= 10 vs 52 % below; Buteau et "
        "al. 2022)"),
    "immunity.occult_fraction_min": Parameter(
        0.0001, 0.9, "1",
        "lower end of the log-uniform initial occult burden (fraction of the detection volume): when new lesions "
        "appear"),
    "immunity.ctla4_expansion_gain": Parameter(
        0.001, 5.0, "1",
        "rise of the effector pool's set point at full anti-CTLA-4 occupancy, without radiation (expansion on "
        "endogenous antigen): what ipilimumab adds to nivolumab in CheckMate 650"),
    "immunity.marrow_lymphoid_fraction": Parameter(
        0.0001, 1.0, "1",
        "share of the lymphocytes that receive the red-marrow dose of a bone-surface alpha emitter (radium-223; prior "
        "about 0.1, the marrow-resident share, Westermann and Pabst 1992): at 0.1 radium-223 shortens survival in the "
        "ALSYMPCA replay by lymphocyte loss, against the survival gain reported (HR 0.70)"),
    "immunity.occult_dose_fraction": Parameter(
        0.01, 1.0, "1",
        "fraction of the visible lesions' mean dose rate that occult micrometastases receive"),
    "immunity.occult_dose_fraction.gep_net": Parameter(
        0.01, 1.0, "1",
        "the occult micrometastases' fraction of the visible lesions' mean dose rate in GEP-NET: most "
        "well-differentiated NETs express SSTR2 at high density (Reubi and Waser 2003 Eur J Nucl Med Mol Imaging "
        "30:781), whereas PSMA expression varies between and within mCRPC metastases (Paschalis et al. 2019 Eur Urol "
        "76:469), so one fraction need not serve both"),
}


def start_values(calibration: str | Path = "default") -> dict[str, float]:
    """Every :data:`PARAMETERS` entry at its value in the calibration ``calibration`` (packaged name or YAML file):
    the warm start of a fit and the centre of a sensitivity design. A parameter the file lacks (a new one) starts at
    the geometric mean of its bounds, the middle of the log range searched."""
    entries = calibration_document(calibration)[0].get("parameters") or {}
    values = {}
    for name, parameter in PARAMETERS.items():
        entry = entries.get(name)
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        known = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        values[name] = float(value) if known else math.sqrt(parameter.lower * parameter.upper)
    return values


#: Fixed (not fitted) values carried in the calibration file: name → (value, unit, source).
FIXED: dict[str, tuple[float, str, str]] = {
    "immunity.priming_strength": (0.01, "1", "evidence, not fitted: the lower end of its prior (weak), because "
                                             "out-of-field (abscopal) responses to RPT alone are not reported in "
                                             "patients (radium-223 reaches bone only and no soft-tissue response to "
                                             "it is published, Parker et al. 2013; tests/reference/rpt_response.yaml); "
                                             "fitted freely, RPT-triggered priming carried the RPT responses (the "
                                             "December 2026 fit, 0.071), leaving no radiation dose-response"),
    "doubling_time_days.sclc": (30, "d", "assumption: relapsed SCLC grows fast (volume doubling of about a month; "
                                           "not fitted: CheckMate 032 alone cannot separate it from the death hazard)"),
    "doubling_time_days.merkel": (40, "d", "assumption: metastatic Merkel cell carcinoma grows within weeks; not "
                                             "fitted"),
    "lesion_uptake_spread": (1, "1", "evidence, not fitted: lesion doses vary about 100 % (CV) between the lesions of "
                                       "one patient (Violet et al. 2019 J Nucl Med 60:517; Völter et al. 2021 "
                                       "Diagnostics 11:428; tests/reference/rpt_response.yaml)"),
}
#: σ_model of the objective (module docstring): in ln for medians and hazard ratios, in asin √p for rates.
MODEL_SD = {"months": 0.1, "ratio": 0.1, "fraction": 0.05}
#: Optimisers of :func:`calibrate`, with the words the calibration file records.
OPTIMISERS = {"nelder-mead": "bounded Nelder-Mead in log space (scipy.optimize.minimize)",
              "cma": "CMA-ES in log space scaled to [0, 1] (cma package; Hansen 2016)"}
#: The calibration trials used by default (acronyms of role ``calibration`` records).
DEFAULT_TRIALS = ("VISION", "TheraP", "ALSYMPCA", "KEYNOTE-199", "NETTER-1", "KEYNOTE-158", "KEYNOTE-017",
                  "JAVELIN Merkel 200", "CheckMate 032", "CheckMate 650", "KEYNOTE-921", "KEYNOTE-641")
SKIPPED_ENDPOINTS_IN_CONTROL = ("orr", "psa50")


@dataclass
class CalibrationResult:
    """Fitted values, objective, per-endpoint table (reported vs simulated), and bookkeeping."""

    values: dict[str, float]
    objective: float
    start_objective: float
    table: list[dict[str, Any]]
    evaluations: int
    seconds: float
    patients: int
    seed: int
    trials: tuple[str, ...]
    skipped: list[str] = field(default_factory=list)
    method: str = "nelder-mead"
    #: (fitted values, objective) of every evaluation, in the order the optimiser asked for them
    evaluated: list[tuple[dict[str, float], float]] = field(default_factory=list)
    #: the parameters of :data:`PARAMETERS` that this fit did not search (a block fit), at the values it held them
    held: dict[str, float] = field(default_factory=dict)
    #: the ensemble of the calibration the held values come from (a block fit's set is joined with it)
    held_ensemble: Mapping[str, Any] | None = None
    #: the values the search started from, every :data:`PARAMETERS` entry (the file's ``start``)
    start: dict[str, float] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The calibration file's content (see data/calibration/default.yaml)."""
        parameters = {}
        fitted = f"fitted by rptici calibrate to {', '.join(self.trials)} (monotherapy only)"
        for name, value in {**self.values, **self.held}.items():
            lower, upper, unit, meaning = PARAMETERS[name]
            start = self.start.get(name, value)
            parameters[name] = {"value": float(f"{value:.4g}"), "unit": unit, "bounds": [lower, upper],
                                "start": float(f"{start:.4g}"), "meaning": meaning,
                                "source": fitted if name in self.values else "held at its start value: not searched "
                                                                             "by this fit"}
        for name, (value, unit, source) in FIXED.items():
            parameters[name] = {"value": value, "unit": unit, "source": source, "fitted": False}
        return {
            "description": "Calibration of rptici's uncertain parameters to the monotherapy trials "
                           "(data/trials_monotherapy.yaml, data/trials_monotherapy_added.yaml). The combination "
                           "trials were never used.",
            "objective": "J = sum over endpoints of (g(simulated) - g(reported))^2 / (sigma_i^2 + sigma_model^2); "
                         "rates and landmarks: g = asin sqrt p, sigma_i^2 = 1/(4n), sigma_model = 0.05; medians: "
                         "g = ln, sigma_i^2 = 1/n, sigma_model = 0.1; hazard ratios against control: g = ln, "
                         "sigma_i^2 = 4/n, sigma_model = 0.1 (rptici.analysis.calibration)",
            "optimiser": OPTIMISERS[self.method],
            "fitted": {"date": datetime.now(timezone.utc).date().isoformat(), "seed": self.seed,
                       "patients_per_trial": self.patients, "evaluations": self.evaluations,
                       "objective": round(self.objective, 4), "objective_at_start": round(self.start_objective, 4),
                       "seconds": round(self.seconds, 1), "trials": list(self.trials), "arms_skipped": self.skipped},
            "parameters": parameters,
            **({"convergence": self.convergence(), "ensemble": self.ensemble()} if self.evaluated else {}),
            "table": [{key: (round(value, 4) if isinstance(value, float) else value) for key, value in row.items()}
                      for row in self.table],
        }

    def ensemble(self) -> dict[str, Any]:
        """The likelihood-ratio set of this fit's evaluations; for a block fit, joined with the ensemble of the
        calibration it held the other parameters from (:func:`rptici.analysis.ensemble.join_block`)."""
        fitted = likelihood_ratio_set(self.evaluated, len(self.table))
        return join_block(self.held_ensemble, fitted) if self.held and self.held_ensemble else fitted

    def convergence(self, points: int = 25) -> list[list[float]]:
        """[evaluation, best objective so far] at about ``points`` evaluations spread over the fit (the trace
        that shows whether the optimiser had stopped improving)."""
        best = np.minimum.accumulate([objective for _, objective in self.evaluated])
        marks = sorted(set(np.linspace(1, best.size, min(points, best.size)).round().astype(int)))
        return [[int(mark), round(float(best[mark - 1]), 4)] for mark in marks]


def _variance(unit: str, reported: float, n: int | None) -> float:
    """Sampling variance of g(reported) (module docstring): 1/n for a median in months (of ln), 4/n for a hazard
    ratio (of ln), 1/(4n) for a fraction (of asin √p)."""
    n = max(int(n or 30), 1)
    return {"months": 1.0 / n, "ratio": 4.0 / n}.get(unit, 1.0 / (4 * n))


def _scaled(unit: str, value: float) -> float:
    """g(value): ln of a median in months or of a hazard ratio, asin √p of a fraction (clipped to [0, 1])."""
    if unit in ("months", "ratio"):
        return math.log(max(value, 1e-9))
    return math.asin(math.sqrt(min(max(value, 0.0), 1.0)))


def calibration_targets(trials: Sequence[str] = DEFAULT_TRIALS, patients: int = 300, seed: int = 1
                        ) -> list[tuple[Any, Any]]:
    """(record, scenario) of each calibration trial; refuses any record whose role is not ``calibration``."""
    targets = []
    for name in trials:
        record = registry().get(name)
        if record.role != "calibration":
            raise InputError("trials", name, "a monotherapy trial (role 'calibration'); combination trials are "
                                             "validation only and are never fitted")
        scenario = replay_scenario(record, patients, seed, calibration=None)
        targets.append((record, scenario))
    return targets


def _calibration(values: dict[str, float]) -> Calibration:
    merged = {name: value for name, (value, _, _) in FIXED.items()}
    merged.update(values)
    return Calibration(merged, "calibration in progress")


def evaluate(values: dict[str, float], targets: list[tuple[Any, Any]]) -> tuple[float, list[dict[str, Any]], list[str]]:
    """(objective, per-endpoint rows, skipped arms) at parameter values ``values``."""
    calibration = _calibration(values)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for record, scenario in targets:
        tables = simulate_trial(scenario, calibration=calibration)
        result = compare(record, scenario, tables)
        trial, follow_up = record.acronym or record.name, result["summary"]["follow_up_months"]
        controls = {arm.name for arm in replay_arms(record) if arm.control}
        arm_n = {row["arm"]: row["n"] for row in result["summary"]["arms"]}
        for row in result["endpoints"]:
            if row["endpoint"].startswith("grade3") or row["endpoint"] == "complete_response":
                continue
            if row["arm"] in controls and row["endpoint"] in SKIPPED_ENDPOINTS_IN_CONTROL:
                continue
            if arm_n.get(row["arm"], 0) == 0:
                name = f"{trial}: {row['arm']}"
                if name not in skipped:
                    skipped.append(name)
                continue
            rows.append(_term_row(trial, row["arm"], row["endpoint"], row, follow_up))
        for item in result["evidence"]:
            if not evidence_entries()[item["name"]].get("objective", True):
                continue
            rows.append(_term_row(trial, "evidence", f"{item['name']}[{item['index']}]", item, follow_up))
    return sum(row["term"] for row in rows), rows, skipped


def _term_row(trial: str, arm: str, endpoint: str, compared: dict[str, Any], follow_up_months: float
              ) -> dict[str, Any]:
    """One objective term (module docstring) from a compared endpoint or evidence row (``unit``, ``reported``,
    ``simulated``, ``low``, ``high``, ``n``): a median not reached counts as 1.5 × the follow-up, a rate that the arm
    cannot give as 0, a hazard ratio without events as 1; ``scaled_simulated`` is g of that value, the model output
    on the objective's scale that the sensitivity analysis compares."""
    unit = compared["unit"]
    simulated = compared["simulated"]
    if simulated is None:
        simulated = {"months": 1.5 * follow_up_months, "ratio": 1.0}.get(unit, 0.0)
    floor = MODEL_SD.get(unit, MODEL_SD["fraction"])
    variance = _variance(unit, compared["reported"], compared["n"]) + floor ** 2
    term = (_scaled(unit, simulated) - _scaled(unit, compared["reported"])) ** 2 / variance
    return {"trial": trial, "arm": arm, "endpoint": endpoint, "reported": compared["reported"],
            "simulated": compared["simulated"], "low": compared["low"], "high": compared["high"],
            "n_reported": compared["n"], "weight": 1.0 / variance, "term": term,
            "scaled_simulated": _scaled(unit, simulated)}


def calibrate(trials: Sequence[str] = DEFAULT_TRIALS, patients: int = 300, seed: int = 1,
              max_evaluations: int = 80, parameters: Sequence[str] | None = None,
              start: dict[str, float] | None = None, method: str = "nelder-mead",
              log: Callable[[str], None] | None = None, history: str | Path | None = None,
              executor: Any = None, step: float = 0.2, held_ensemble: Mapping[str, Any] | None = None
              ) -> CalibrationResult:
    """Fit :data:`PARAMETERS` (or the subset ``parameters``) to the monotherapy ``trials``; see the module docstring.

    ``history``: a JSON-lines file with one line per evaluation (objective and parameter values). The fit is
    resumable: both optimisers are deterministic for a seed, so a re-run with the same file asks for the same
    parameter sets in the same order and takes the recorded objectives instead of recomputing them.
    ``executor`` (an executor spec of :func:`rptici.parallel.executor_from`, e.g. ``"processes:2"`` or a Dask
    address): CMA-ES evaluates each generation's candidates in parallel on it; the results do not depend on it.
    ``step``: CMA-ES's initial step size as a fraction of every parameter's log range (0.2 searches widely; about
    0.05 refines a warm start). ``held_ensemble``: the ensemble section of the calibration ``start`` comes from; a
    block fit's ensemble is joined with it (:meth:`CalibrationResult.ensemble`).
    """
    from scipy.optimize import minimize

    if method not in OPTIMISERS:
        raise InputError("method", method, "one of " + ", ".join(OPTIMISERS))
    names = list(PARAMETERS if parameters is None else parameters)
    if method == "cma" and len(names) < 2:
        raise InputError("parameters", names, "at least two parameters for CMA-ES (the cma package needs a "
                                              "dimension of two or more; use nelder-mead for one)")
    for name in names:
        if name not in PARAMETERS:
            raise InputError("parameters", name, "names among " + ", ".join(PARAMETERS))
    trials = tuple(trials)
    targets = calibration_targets(trials, patients, seed)
    initial = start_values()
    initial.update(start or {})
    lower = np.log([PARAMETERS[name].lower for name in names])
    upper = np.log([PARAMETERS[name].upper for name in names])
    x0 = np.clip(np.log([initial[name] for name in names]), lower, upper)
    began = time.perf_counter()
    record = EvaluationHistory(history)
    best: dict[str, Any] = {"objective": math.inf}

    def point(x: np.ndarray) -> dict[str, float]:
        values = dict(initial)
        values.update({name: float(math.exp(value)) for name, value in zip(names, np.clip(x, lower, upper))})
        return values

    def objectives(points: list[np.ndarray]) -> list[float]:
        """Objectives of a batch of points: recorded ones from the history, the others computed (in parallel)."""
        batch = [point(x) for x in points]
        missing = [values for values in batch if record.get(values) is None]
        for values, computed in zip(missing, _evaluate_all(missing, trials, patients, seed, targets, executor)):
            record.add(values, *computed)
        for values in batch:
            value, rows, skipped = record.get(values)
            record.asked.append((values, value))
            if value < best["objective"]:
                best.update(objective=value, values=values, rows=rows, skipped=skipped)
            if log is not None:
                log(f"evaluation {len(record.asked)}: J = {value:.3f} (best {best['objective']:.3f}) "
                    + ", ".join(f"{name}={values[name]:.4g}" for name in names))
        return [value for _, value in record.asked[-len(batch):]]

    if max_evaluations <= 0:
        objectives([x0])
    elif method == "cma":  # the start first, so that the file's objective_at_start is the start's
        objectives([x0])
        _cma_es(objectives, x0, lower, upper, max_evaluations - 1, seed, step)
    else:
        minimize(lambda x: objectives([x])[0], x0, method="Nelder-Mead", bounds=list(zip(lower, upper)),
                 options={"maxfev": int(max_evaluations), "xatol": 0.02, "fatol": 0.05,
                          "initial_simplex": _simplex(x0, lower, upper)})
    return CalibrationResult(values={name: best["values"][name] for name in names}, objective=best["objective"],
                             start_objective=record.asked[0][1], table=best["rows"], evaluations=len(record.asked),
                             seconds=time.perf_counter() - began, patients=patients, seed=seed,
                             trials=tuple(item.acronym or item.name for item, _ in targets),
                             skipped=best["skipped"], method=method,
                             evaluated=[({name: values[name] for name in names}, value)
                                        for values, value in record.asked],
                             held={name: initial[name] for name in PARAMETERS if name not in names},
                             held_ensemble=held_ensemble, start=initial)


class EvaluationHistory:
    """The evaluations of one fit, optionally mirrored to a JSON-lines file so that an interrupted fit resumes
    where it stopped: the file's evaluations are read back at the start and not computed again."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._known: dict[str, tuple[float, list[dict[str, Any]], list[str]]] = {}
        #: (values, objective) of every point the optimiser asked for, in order
        self.asked: list[tuple[dict[str, float], float]] = []
        if self.path is not None and self.path.is_file():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    entry = json.loads(line)
                    self._known[self._key(entry["values"])] = (float(entry["objective"]), entry["rows"],
                                                               entry["skipped"])
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"{self.path}: line {number}", line[:80], "a JSON object with objective, "
                                     "values, rows and skipped, as written by rptici calibrate --history") from None

    @staticmethod
    def _key(values: dict[str, float]) -> str:
        return json.dumps({name: float(value).hex() for name, value in sorted(values.items())})

    def get(self, values: dict[str, float]) -> tuple[float, list[dict[str, Any]], list[str]] | None:
        return self._known.get(self._key(values))

    def add(self, values: dict[str, float], objective: float, rows: list[dict[str, Any]], skipped: list[str]) -> None:
        self._known[self._key(values)] = (objective, rows, skipped)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"objective": objective, "values": values, "rows": rows,
                                         "skipped": skipped}) + "\n")


@functools.lru_cache(maxsize=4)
def _cached_targets(trials: tuple[str, ...], patients: int, seed: int) -> list[tuple[Any, Any]]:
    return calibration_targets(trials, patients, seed)


def _evaluate_in_worker(values: dict[str, float], trials: tuple[str, ...], patients: int, seed: int
                        ) -> tuple[float, list[dict[str, Any]], list[str]]:
    """:func:`evaluate` in a worker process, which builds (and keeps) its own calibration targets."""
    return evaluate(values, _cached_targets(trials, patients, seed))


def _evaluate_all(points: list[dict[str, float]], trials: tuple[str, ...], patients: int, seed: int,
                  targets: list[tuple[Any, Any]], executor: Any) -> list[tuple[float, list[dict[str, Any]], list[str]]]:
    """:func:`evaluate` at every point, in order: here, or in parallel on ``executor``."""
    if not points:
        return []
    if executor is None:
        return [evaluate(values, targets) for values in points]
    from ..parallel import map_ordered, shared_executor

    return map_ordered(functools.partial(_evaluate_in_worker, trials=trials, patients=patients, seed=seed), points,
                       shared_executor(executor))


def _cma_es(objectives: Callable[[list[np.ndarray]], list[float]], x0: np.ndarray, lower: np.ndarray,
            upper: np.ndarray, max_evaluations: int, seed: int, step: float = 0.2) -> None:
    """CMA-ES (Hansen 2016, arXiv:1604.00772; the ``cma`` package) in the log-parameters scaled to [0, 1]:
    global, derivative-free and robust to the plateaus of an objective computed from a finite virtual cohort.
    Starts at ``x0`` with ``step`` (0.2: a fifth of every range), the package's default population size; each
    generation's candidates are evaluated as one batch (``objectives``)."""
    import cma

    span = upper - lower
    if not 0 < step <= 1:
        raise InputError("step", step, "a fraction of the parameter ranges in (0, 1]")
    strategy = cma.CMAEvolutionStrategy(list((x0 - lower) / span), float(step),
                                        {"bounds": [0.0, 1.0], "seed": int(seed), "maxfevals": int(max_evaluations),
                                         "verbose": -9})
    while not strategy.stop():
        candidates = strategy.ask()
        strategy.tell(candidates, objectives([lower + span * np.asarray(candidate) for candidate in candidates]))


def _simplex(x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Initial simplex: each vertex moves one log-parameter by a quarter of its range (inside the bounds)."""
    vertices = [x0]
    for index in range(x0.size):
        step = 0.25 * (upper[index] - lower[index])
        vertex = x0.copy()
        vertex[index] = x0[index] + step if x0[index] + step <= upper[index] else x0[index] - step
        vertices.append(vertex)
    return np.array(vertices)


def write_calibration(result: CalibrationResult, path: str | Path) -> Path:
    """Write the calibration file (YAML) that trial runs and replays read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Written by `rptici calibrate` (rptici.analysis.calibration). Fitted to the monotherapy trials only;\n"
              "# the combination trials (validation) were never used. Re-run to reproduce: same seed, same patients.\n")
    path.write_text(header + yaml.safe_dump(result.document(), sort_keys=False, allow_unicode=True, width=110),
                    encoding="utf-8")
    return path
