"""Benchmark of the engine on the standard scenario (issue 4, "Performance"); prints the figures.

Standard scenario: two lesions, [177Lu]Lu-PSMA-617 7.4 GBq q6w × 6 + pembrolizumab 200 mg q3w, 730 days,
daily output, 10,000 patients. Reports the median of repeated runs: wall time, patient-years per second,
ms per patient-year, peak memory (process peak RSS from resource.getrusage, which includes numba's
allocations; tracemalloc sees only NumPy/Python allocations and slows every allocation, so it traces a run
of its own after the timed ones), and the per-patient speed ratio to the
solve_ivp oracle measured in the same run on a small sample (LSODA at the engine's tolerances, with the
compiled right-hand side called from Python and with the pure-Python ``rhs.py_func``).

The oracle of DESIGN.md (and of the issue's 300× target) is LSODA with the pure-Python right-hand side.

Usage: python benchmarks/bench_engine.py [--patients 10000] [--repeats 3] [--oracle-patients 20]
       [--python-oracle-patients 20] [--n-exponentials 4] [--organ-bed]

``--organ-bed`` adds the kidneys' BED time course (closed form, computed beside the solver) to the default
read-outs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np

from rptici.immunity.model import rhs
from rptici.kinetics import Regimen
from rptici.simulation.engine import DEFAULT_OUTPUTS, model_inputs, simulate
from rptici.simulation.oracle import oracle

HORIZON_DAYS = 730.0
RTOL, ATOL = 1e-6, 1e-8


def standard_regimen() -> Regimen:
    return Regimen.model_validate({
        "rpt": {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 6},
        "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 35},
    })


def standard_patients(count: int, seed: int = 2024) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"lesion_volumes_mL": rng.lognormal(np.log(10.0), 0.8, (count, 2)).clip(0.5, 200.0),
            "infiltration": rng.uniform(0.05, 1.0, count), "pdl1": rng.uniform(0.0, 0.8, count),
            "alpha": rng.uniform(0.05, 0.4, count), "lymphocytes": rng.uniform(0.8, 2.5, count),
            "psa": rng.uniform(1.0, 100.0, count), "weight_kg": rng.uniform(50.0, 110.0, count),
            "gfr_mL_per_min": rng.uniform(60.0, 140.0, count), "target_uptake_scale": rng.uniform(0.5, 2.0, count)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--oracle-patients", type=int, default=20)
    parser.add_argument("--python-oracle-patients", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--n-exponentials", type=int, default=4)
    parser.add_argument("--organ-bed", action="store_true", help="also the kidneys' BED time course")
    arguments = parser.parse_args()
    outputs = DEFAULT_OUTPUTS + (("organ_bed",) if arguments.organ_bed else ())
    import numba

    regimen = standard_regimen()
    times = np.arange(0.0, HORIZON_DAYS + 1.0)
    years = HORIZON_DAYS / 365.25
    print(f"threads: {numba.get_num_threads()} (numba {numba.__version__})")
    warm = standard_patients(8, seed=1)
    begin = time.perf_counter()
    simulate(regimen, warm, times, rtol=RTOL, atol=ATOL)
    print(f"compile + first call (8 patients): {time.perf_counter() - begin:.1f} s")

    patients = standard_patients(arguments.patients)

    def run():
        return simulate(regimen, patients, times, rtol=RTOL, atol=ATOL, chunk_size=arguments.chunk_size,
                        n_exponentials=arguments.n_exponentials, outputs=outputs)

    walls = []
    result = None
    for repeat in range(arguments.repeats):
        del result
        begin = time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - begin)
        print(f"  run {repeat + 1}: {walls[-1]:.2f} s")
    wall = statistics.median(walls)
    # memory traced in a run of its own: tracemalloc slows every allocation, so the timed runs go without it
    del result
    tracemalloc.start()
    begin = time.perf_counter()
    result = run()
    traced_wall = time.perf_counter() - begin
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    patient_years = arguments.patients * years
    per_patient_engine = wall / arguments.patients
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    failed = int(np.sum(result.status != 0))
    print(f"engine: {arguments.patients} patients × {HORIZON_DAYS:.0f} d, daily output, rtol {RTOL}, atol {ATOL}, "
          f"{arguments.n_exponentials} exponentials per dose rate, read-outs: {', '.join(outputs)}")
    print(f"  wall time (median of {arguments.repeats}): {wall:.2f} s")
    print(f"  patient-years per second: {patient_years / wall:,.0f}")
    print(f"  ms per patient-year: {1e3 * wall / patient_years:.3f}")
    print(f"  accepted steps per patient (median): {np.median(result.statistics['accepted_steps']):.0f}; "
          f"rhs evaluations (median): {np.median(result.statistics['evaluations']):.0f}")
    print(f"  failed patients: {failed}; re-integrated by Radau: {int(result.used_stiff.sum())}")
    print(f"  peak memory: process RSS {peak_rss:,.0f} MiB; tracemalloc peak {traced / 2**20:,.0f} MiB "
          f"(in a run of its own, {traced_wall:.2f} s under tracemalloc)")

    sample = {key: value[:arguments.oracle_patients] for key, value in patients.items()}
    layout, y0, params, events, *_ = model_inputs(regimen, sample, n_exponentials=arguments.n_exponentials)
    _, seconds = oracle(rhs, y0, params, times, *events, method="LSODA", rtol=RTOL, atol=ATOL, pure_python=False)
    compiled = float(np.median(seconds))
    print(f"oracle solve_ivp LSODA, compiled rhs, {arguments.oracle_patients} patients: "
          f"{compiled:.3f} s per patient (median); engine {1e3 * per_patient_engine:.3f} ms per patient "
          f"→ ratio {compiled / per_patient_engine:,.0f}×")
    if arguments.python_oracle_patients:
        count = arguments.python_oracle_patients
        _, seconds = oracle(rhs, y0[:count], params[:count], times, *(e[:count] for e in events), method="LSODA",
                            rtol=RTOL, atol=ATOL, pure_python=True)
        python = float(np.median(seconds))
        print(f"oracle solve_ivp LSODA, rhs.py_func, {count} patients: {python:.2f} s per patient (median) "
              f"→ ratio {python / per_patient_engine:,.0f}×")


if __name__ == "__main__":
    main()
