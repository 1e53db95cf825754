"""Fit the haematological and renal toxicity parameters to the grade ≥ 3 rates of the MONOTHERAPY trials.

Parameters (``data/endpoints.yaml``, section ``toxicity``): the red-marrow dose per e-fold fall of the platelet,
neutrophil and haemoglobin nadirs (D0, Gy) and the effective fraction of the α part of the marrow dose
(``marrow_alpha_effective_fraction``), fitted together by binomial maximum likelihood to the excess grade 3-4
rates over each trial's control arm (the control arm's rate is in the background events of the standard of care):

* platelets: VISION 7.9 % vs 1.0 % in 529 Lu-PSMA-617 patients (Sartor et al. 2021 N Engl J Med 385:1091);
  NETTER-1 2 % in 111 (Strosberg et al. 2017 N Engl J Med 376:125); ALSYMPCA 6 % vs 2 % in 600 (Parker et al.
  2013 N Engl J Med 369:213);
* neutrophils: NETTER-1 1 % in 111; ALSYMPCA 2 % vs 1 % in 600;
* haemoglobin (anaemia): VISION 12.9 % vs 4.9 %; ALSYMPCA 13 % vs 13 %.

Each patient's probability of a grade ≥ 3 nadir is closed form in the lognormal nadir model
(:func:`rptici.trials.toxicity.blood_count_nadir`): Φ((ln(cut-off/baseline) + D_eff/D0)/σ). The kidney's severe
fraction (share of LKB NTCP events that are grade ≥ 3 within a trial's follow-up) is set so that the VISION arm's
rate is the median-unbiased estimate of 0 grade 3-4 nephrotoxicity events in 71 Lu-PSMA-617 patients given three or
more cycles (Yordanova et al. 2017 Eur J Nucl Med Mol Imaging 44:1473, 0 of 55; J Nucl Med
2019 60:1579, 0 of 16 with a single functioning kidney): 1 − 0.5^(1/71) = 0.97 %. Run:

    PYTHONPATH=src python benchmarks/fit_toxicity.py --patients 600 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr

from rptici.analysis.replay import replay_arms, replay_scenario
from rptici.radiobiology import ntcp_for_tissue, tissue
from rptici.trials.registry import registry
from rptici.trials.run import simulate_trial
from rptici.trials.toxicity import LINEAGES, _section

#: (trial, arm, lineage, excess rate, n)
TARGETS = (("VISION", "Lu-PSMA-617 + standard of care", "platelets", 0.079 - 0.010, 529),
           ("NETTER-1", "Lu-DOTATATE + octreotide LAR 30 mg", "platelets", 0.02, 111),
           ("ALSYMPCA", "Ra-223 + best standard of care", "platelets", 0.06 - 0.02, 600),
           ("NETTER-1", "Lu-DOTATATE + octreotide LAR 30 mg", "neutrophils", 0.01, 111),
           ("ALSYMPCA", "Ra-223 + best standard of care", "neutrophils", 0.02 - 0.01, 600),
           ("VISION", "Lu-PSMA-617 + standard of care", "haemoglobin", 0.129 - 0.049, 529),
           ("ALSYMPCA", "Ra-223 + best standard of care", "haemoglobin", 0.0, 600))
KIDNEY_TARGET = 1.0 - 0.5 ** (1.0 / 71.0)


def arm_doses(trial: str, arm: str, patients: int, seed: int) -> dict[str, np.ndarray]:
    """Per-patient RBE-weighted marrow dose, its α part and the kidney BED (Gy) of one treated arm."""
    record = registry().get(trial)
    name = next(item.name for item in replay_arms(record) if item.name == arm)
    table = simulate_trial(replay_scenario(record, patients, seed, only_arms=(name,)))["patients"]
    return {"marrow": table["marrow_dose_Gy"].to_numpy(), "alpha": table["marrow_alpha_dose_Gy"].to_numpy(),
            "kidney_bed": table["kidney_bed_Gy"].to_numpy()}


def grade3_probability(doses: dict[str, np.ndarray], lineage: str, d0: float, alpha_fraction: float) -> float:
    """Mean over patients of P(nadir below the grade 3 cut-off) in the lognormal nadir model."""
    entry = _section()[lineage]
    cut = entry["cutoffs"]["value"][1]
    effective = doses["marrow"] - (1.0 - alpha_fraction) * doses["alpha"]
    z = (math.log(cut / entry["baseline"]["value"]) + effective / d0) / entry["log_sd"]["value"]
    return float(np.nanmean(ndtr(z)))  # NaN: a patient whose simulation failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    doses = {(trial, arm): arm_doses(trial, arm, options.patients, options.seed)
             for trial, arm in dict.fromkeys((trial, arm) for trial, arm, *_ in TARGETS)}

    def deviance(x: np.ndarray) -> float:
        d0 = dict(zip(LINEAGES, np.exp(x[:3])))
        fraction = 1.0 / (1.0 + math.exp(-x[3]))
        total = 0.0
        for trial, arm, lineage, rate, n in TARGETS:
            p = min(max(grade3_probability(doses[trial, arm], lineage, d0[lineage], fraction), 1e-9), 1 - 1e-9)
            events = rate * n
            total -= events * math.log(p) + (n - events) * math.log(1 - p)
        return total

    fit = minimize(deviance, np.array([math.log(1.5), math.log(2.0), math.log(10.0), 0.0]), method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 4000})
    d0 = dict(zip(LINEAGES, np.exp(fit.x[:3])))
    fraction = 1.0 / (1.0 + math.exp(-fit.x[3]))
    vision = doses["VISION", "Lu-PSMA-617 + standard of care"]
    ntcp = np.asarray(ntcp_for_tissue(tissue("kidney"), vision["kidney_bed"][:, None])).ravel()
    result = {"dose_per_e_fold_decrease_Gy": {k: round(float(v), 3) for k, v in d0.items()},
              "marrow_alpha_effective_fraction": round(fraction, 4),
              "fitted_vs_reported": [{"trial": trial, "lineage": lineage, "reported_excess": rate, "n": n,
                                      "simulated": round(grade3_probability(doses[trial, arm], lineage,
                                                                            d0[lineage], fraction), 4)}
                                     for trial, arm, lineage, rate, n in TARGETS],
              "kidney": {"mean_ntcp_vision": round(float(np.nanmean(ntcp)), 4), "target": round(KIDNEY_TARGET, 4),
                         "severe_fraction": round(KIDNEY_TARGET / float(np.nanmean(ntcp)), 4)},
              "patients": options.patients, "seed": options.seed}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
