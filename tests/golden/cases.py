"""The golden cases of the redesign (issue 12): each function computes one set of outputs with the current
API. ``record.py`` stores them once; ``tests/test_golden.py`` recomputes and compares. When an API is renamed,
change the call here, never the stored numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

PSMA = "[177Lu]Lu-PSMA-617"
ENGINE_TIMES = np.arange(0.0, 181.0, 3.0)


def engine_patients(count: int = 12, seed: int = 3) -> dict[str, np.ndarray]:
    """A fixed cohort of covariates in internal units (the random patients of code verification)."""
    from rptici.analysis.validation import random_patients

    return random_patients(count, seed)


def engine_case() -> dict[str, np.ndarray]:
    """Engine read-outs (float64) of [177Lu]Lu-PSMA-617 7.4 GBq q6w × 2 + pembrolizumab 200 mg q3w × 5."""
    from rptici.kinetics import Regimen
    from rptici.simulation.engine import DEFAULT_OUTPUTS, simulate

    regimen = Regimen.model_validate({
        "rpt": {"agent": PSMA, "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2},
        "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 5},
    })
    result = simulate(regimen, engine_patients(), ENGINE_TIMES, organs=("kidneys", "red_marrow"),
                      outputs=tuple(DEFAULT_OUTPUTS) + ("organ_dose", "organ_bed"), output_dtype=np.float64)
    values = {name: np.asarray(value, dtype=float) for name, value in result.outputs.items()}
    values["status"] = np.asarray(result.status)
    return values


def simulate_case() -> dict:
    """``rptici simulate`` of the example patient (covariates given with units)."""
    import rptici
    from rptici.api import simulation_summary

    return simulation_summary(rptici.simulate(EXAMPLES / "simulate" / "pluvicto_pembrolizumab_patient.yaml", step=7.0))


def trial_summary_case(folder: Path) -> dict:
    """Summary of the PRINCE-like example trial, 60 patients, seed 1."""
    from rptici.analysis.summary import summarize
    from rptici.trials.run import run_trial

    run = run_trial(EXAMPLES / "trials" / "prince_like.yaml", folder, patients=60, seed=1)
    return summarize(run.folder)


def replay_case() -> dict:
    """Registry replay of PRINCE with 60 patients, seed 1 (the endpoint rows)."""
    from rptici.analysis.replay import replay

    return {"endpoints": replay("PRINCE", patients=60, seed=1)["endpoints"]}


def regimen_dose_case() -> dict:
    """Closed-form regimen dose of the example scenario: reference patient and cohort summaries."""
    import rptici

    result = rptici.regimen_dose(EXAMPLES / "scenarios" / "pluvicto_pembrolizumab.yaml")
    return {"patient": result.summary(0), "cohort": result.cohort_summary()}
