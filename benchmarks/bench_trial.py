"""Benchmark of a whole virtual trial (issue 5, "Performance"): the standard scenario (examples/trials/standard.yaml),
two arms, 10,000 patients, run through ``rptici.trials.run_trial`` into a temporary folder (population, engine,
endpoints, toxicity, Parquet chunks). Reports wall time, patients per second and the ratio to the per-patient
``solve_ivp`` oracle (benchmarks/oracle.py, LSODA at the engine's tolerances, compiled right-hand side) measured in
the same run on a small sample of the same patients and extrapolated per patient. Target: under a minute on 2 cores.

Usage: python benchmarks/bench_trial.py [--patients 10000] [--oracle-patients 10] [--executor local]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rptici.immunity.model import rhs
from rptici.simulation.engine import model_inputs
from rptici.simulation.oracle import oracle
from rptici.trials import load_trial_scenario, run_trial
from rptici.trials.run import calibrated_population, output_grid
from rptici.trials.scenario import load_calibration

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "trials" / "standard.yaml"


def oracle_seconds_per_patient(scenario, count: int) -> float:
    """Seconds per patient of the solve_ivp oracle on the combination arm's first ``count`` patients."""
    calibration = load_calibration(scenario.calibration)
    population = calibrated_population(scenario, count, scenario.seed, calibration)
    regimen = scenario.arms[-1].load_regimen()
    grid, _, _ = output_grid(scenario)
    patients = population.engine_patients(calibration.doubling_time_days(scenario.disease))
    overrides = {**calibration.immunity_overrides(), **scenario.overrides} or None
    layout, y0, params, events, *_ = model_inputs(regimen, patients, None, 3, (), overrides)
    _, seconds = oracle(rhs, y0, params, grid, *events, method="LSODA", rtol=1e-6, atol=1e-8, pure_python=False)
    return float(np.mean(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--oracle-patients", type=int, default=10)
    parser.add_argument("--executor", default="local")
    parser.add_argument("--chunk-size", type=int, default=None)
    arguments = parser.parse_args()
    scenario = load_trial_scenario(SCENARIO)
    with tempfile.TemporaryDirectory() as folder:
        begin = time.perf_counter()
        run = run_trial(scenario, folder, patients=arguments.patients, chunk_size=arguments.chunk_size,
                        executor=arguments.executor)
        wall = time.perf_counter() - begin
        assert run.report.ok, run.report.summary()
        failed = len(run.store.failures())
    per_patient = oracle_seconds_per_patient(scenario, arguments.oracle_patients)
    oracle_total = per_patient * arguments.patients
    print(f"standard two-arm trial, {arguments.patients} patients ({failed} failed): {wall:.1f} s wall, "
          f"{arguments.patients / wall:.0f} patients/s (target < 60 s on 2 cores)")
    print(f"solve_ivp oracle (LSODA, compiled rhs): {per_patient * 1000:.0f} ms/patient -> {oracle_total:.0f} s "
          f"for {arguments.patients} patients; speed-up of the whole trial over the oracle's ODE time alone: "
          f"{oracle_total / wall:.0f}x")


if __name__ == "__main__":
    main()
