"""Fit the anti-PD-1 exposure that carries the reference grade ≥ 3 irAE probability to the MONOTHERAPY trials.

The irAE model (``data/endpoints.yaml``, ``toxicity.immune``; :func:`rptici.trials.toxicity.immune_adverse_events`)
gives a patient with E days of full PD-1 occupancy P = 1 − (1 − p_ref)^(E / E_ref), with p_ref = 21.5 %. E_ref, the
exposure at which that probability is reached, was an assumption (180 days). It is fitted here by binomial maximum
likelihood to the treatment-related grade ≥ 3 rates of the three anti-PD-1 monotherapy trials of
``trials_monotherapy.yaml``, each on the per-patient exposures of its own replay (treatment until progression):

* KEYNOTE-158 NET cohort, pembrolizumab: 21.5 % of 107 (Strosberg et al. 2020 Clin Cancer Res 26:2124);
* KEYNOTE-017, pembrolizumab in Merkel cell carcinoma: 28 % of 50 (Nghiem et al. 2019 J Clin Oncol 37:693);
* CheckMate 032 SCLC, nivolumab: 11.9 % of 109 (Ready et al. 2019 J Thorac Oncol 14:237).

The model's exposures are its own: where it holds a tumour longer than the trial did (KEYNOTE-017 median PFS 30
against 16.8 months), the fitted E_ref absorbs part of that error. Run:

    PYTHONPATH=src python benchmarks/fit_immune_toxicity.py --patients 600 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy.optimize import minimize_scalar

from rptici.analysis.replay import replay_arms, replay_scenario
from rptici.trials.registry import registry
from rptici.trials.run import simulate_trial
from rptici.trials.toxicity import _section

#: (trial, arm) of the anti-PD-1 monotherapy arms with a reported treatment-related grade ≥ 3 rate
TARGETS = (("KEYNOTE-158", "pembrolizumab"), ("KEYNOTE-017", "pembrolizumab"), ("CheckMate 032", "nivolumab"))


def arm_exposure(trial: str, arm: str, patients: int, seed: int) -> tuple[np.ndarray, float, int]:
    """Per-patient days of full occupancy in one replayed arm, and the arm's reported rate and n."""
    record = registry().get(trial)
    name = next(item.name for item in replay_arms(record) if item.name == arm)
    table = simulate_trial(replay_scenario(record, patients, seed, only_arms=(name,)))["patients"]
    reported = next(item for item in record.arms if item.name == arm)
    exposure = table["ici_exposure_days"].to_numpy(float)
    return exposure[np.isfinite(exposure)], float(reported.outcomes["grade3plus_trae"]), int(reported.n)


def probability(exposure: np.ndarray, reference_probability: float, reference_exposure: float) -> float:
    """Mean over patients of P(grade ≥ 3 irAE) = 1 − (1 − p_ref)^(E / E_ref)."""
    return float(np.mean(-np.expm1(np.log1p(-reference_probability) * exposure / reference_exposure)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    p_ref = float(_section()["immune"]["classes"]["PD-1"]["grade3plus_probability"]["value"])
    arms = {target: arm_exposure(*target, options.patients, options.seed) for target in TARGETS}

    def deviance(log_exposure: float) -> float:
        total = 0.0
        for exposure, rate, n in arms.values():
            p = min(max(probability(exposure, p_ref, math.exp(log_exposure)), 1e-9), 1 - 1e-9)
            total -= rate * n * math.log(p) + (1 - rate) * n * math.log(1 - p)
        return total

    fit = minimize_scalar(deviance, bounds=(math.log(30.0), math.log(3000.0)), method="bounded",
                          options={"xatol": 1e-4})
    reference_exposure = math.exp(fit.x)
    print(json.dumps({"reference_exposure_d": round(reference_exposure, 1), "grade3plus_probability": p_ref,
                      "fitted_vs_reported": [{"trial": trial, "arm": arm, "reported": rate, "n": n,
                                              "median_exposure_d": round(float(np.median(exposure)), 1),
                                              "simulated": round(probability(exposure, p_ref, reference_exposure), 4)}
                                             for (trial, arm), (exposure, rate, n) in arms.items()],
                      "patients": options.patients, "seed": options.seed}, indent=1))


if __name__ == "__main__":
    main()
