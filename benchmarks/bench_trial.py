"""Whole trial against the engine alone, side by side in one run (issue 15, "Must show"; issue 5 "Performance").

The standard scenario (examples/trials/standard.yaml: two arms, Lu-PSMA-617 ± pembrolizumab, 24 months) with
``--patients`` patients. Two things are timed, interleaved ``--repeats`` times under the same load:

* **engine**: the very engine calls the trial makes (:func:`rptici.simulation.simulate` with the trial's
  patients, grid, read-outs and overrides, one call per arm and chunk), recorded once beforehand and replayed;
* **trial**: :func:`rptici.trials.run_trial` into a fresh folder (population sampling, engine, organ doses,
  endpoints, toxicity, Parquet chunks), serially by default so that both use the same cores in the same way
  (the compiled kernel runs each batch's patients on all cores).

Prints the median wall times, patients per second and the throughput ratio trial/engine (target ≥ 0.8), with
the ratio's spread over the repeats; optionally the per-patient ``solve_ivp`` oracle (``--oracle-patients``).

Usage: python benchmarks/bench_trial.py [--patients 4000] [--repeats 3] [--executor serial] [--chunk-size N]
       [--oracle-patients 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rptici.simulation import simulate
from rptici.trials import load_trial_scenario, run_trial
from rptici.trials.run import calibrated_population, chunk_tasks, output_grid, simulate_chunk
from rptici.trials.scenario import load_calibration

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "trials" / "standard.yaml"


def recorded_engine_calls(scenario, patients: int, chunk_size: int | None) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) of every engine call the trial makes, recorded by running its chunks once."""
    calls: list[tuple[tuple, dict]] = []

    def recorder(*args, **kwargs):
        calls.append((args, kwargs))
        return simulate(*args, **kwargs)

    for task in chunk_tasks(scenario, patients, chunk_size=chunk_size).values():
        simulate_chunk(task, recorder)
    return calls


def time_engine(calls: list[tuple[tuple, dict]]) -> float:
    """Seconds to replay the recorded engine calls."""
    begin = time.perf_counter()
    for args, kwargs in calls:
        simulate(*args, **kwargs)
    return time.perf_counter() - begin


def time_trial(scenario, patients: int, chunk_size: int | None, executor: str) -> tuple[float, float]:
    """(seconds of a whole trial run into a fresh temporary folder, seconds of it inside the engine): the engine
    calls are timed through ``rptici.simulation.simulate``, which the trial looks up at each call (serial and
    thread executors only; NaN otherwise)."""
    import rptici.simulation as simulation

    inside = [0.0]

    def timed(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return simulate(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - begin

    simulation.simulate = timed
    try:
        with tempfile.TemporaryDirectory() as folder:
            begin = time.perf_counter()
            run = run_trial(scenario, folder, patients=patients, chunk_size=chunk_size, executor=executor)
            seconds = time.perf_counter() - begin
            assert run.report.ok, run.report.summary()
    finally:
        simulation.simulate = simulate
    in_process = executor == "serial" or executor.startswith(("local", "threads"))
    return seconds, inside[0] if in_process else float("nan")


def oracle_seconds_per_patient(scenario, count: int) -> float:
    """Seconds per patient of the solve_ivp oracle (LSODA, compiled rhs) on the combination arm's first patients."""
    from rptici.immunity.model import rhs
    from rptici.simulation.engine import model_inputs
    from rptici.simulation.oracle import oracle

    calibration = load_calibration(scenario.calibration)
    population = calibrated_population(scenario, count, scenario.seed, calibration)
    grid, _, _ = output_grid(scenario)
    patients = population.engine_patients(calibration.doubling_time_days(scenario.disease))
    overrides = {**calibration.immunity_overrides(), **scenario.overrides} or None
    _, y0, params, events, *_ = model_inputs(scenario.arms[-1].load_regimen(), patients, None, 3, (), overrides)
    _, seconds = oracle(rhs, y0, params, grid, *events, method="LSODA", rtol=1e-6, atol=1e-8, pure_python=False)
    return float(np.mean(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--executor", default="serial")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--oracle-patients", type=int, default=0)
    arguments = parser.parse_args()
    scenario = load_trial_scenario(SCENARIO)
    time_trial(scenario, 64, None, "serial")  # compile and cache everything once
    calls = recorded_engine_calls(scenario, arguments.patients, arguments.chunk_size)
    engine, trial, inside = [], [], []
    for repeat in range(arguments.repeats):
        engine.append(time_engine(calls))
        seconds, engine_seconds = time_trial(scenario, arguments.patients, arguments.chunk_size, arguments.executor)
        trial.append(seconds)
        inside.append(engine_seconds)
        print(f"  repeat {repeat + 1}: engine {engine[-1]:.2f} s, trial {trial[-1]:.2f} s (of which engine "
              f"{inside[-1]:.2f} s), ratio {engine[-1] / trial[-1]:.3f}", flush=True)
    ratios = [e / t for e, t in zip(engine, trial)]
    shares = [e / t for e, t in zip(inside, trial)]
    count = arguments.patients
    print(f"standard two-arm trial, {count} patients, {len(calls)} engine calls, trial executor "
          f"{arguments.executor}, medians of {arguments.repeats} interleaved repeats:")
    print(f"  engine alone: {statistics.median(engine):.2f} s ({count / statistics.median(engine):.0f} patients/s)")
    print(f"  whole trial:  {statistics.median(trial):.2f} s ({count / statistics.median(trial):.0f} patients/s)")
    print(f"  throughput ratio trial/engine: {statistics.median(ratios):.3f} (min {min(ratios):.3f}, "
          f"max {max(ratios):.3f}; target >= 0.8)")
    print(f"  within the trial runs: engine share {statistics.median(shares):.3f} of the wall time, overhead "
          f"around it {statistics.median(t - e for t, e in zip(trial, inside)):.2f} s "
          f"({1e3 * statistics.median(t - e for t, e in zip(trial, inside)) / count:.3f} ms per patient)")
    if arguments.oracle_patients:
        per_patient = oracle_seconds_per_patient(scenario, arguments.oracle_patients)
        print(f"  solve_ivp oracle (LSODA, compiled rhs): {per_patient * 1000:.0f} ms/patient; whole trial "
              f"{per_patient * count / statistics.median(trial):.0f}x faster than the oracle's ODE time alone")


if __name__ == "__main__":
    main()
