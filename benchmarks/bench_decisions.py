"""rptici optimize and guided dosing: evaluations per hour at 1,000 patients per candidate, and the wall time of the
worked example (issue 17, "Must show").

Three things are timed, each ``--repeats`` times (medians quoted; the machine this was written on has 2 cores
shared with other users' jobs, so single timings are noisy — look at the spread too):

* **candidate**: one candidate of the worked example's space simulated at ``--patients`` patients (default 1,000)
  through the optimiser's own evaluator (organ doses in closed form, then the one-arm virtual trial and its
  summary), ``--candidates`` different feasible candidates per repeat, serially (the compiled kernel already
  runs each batch's patients on all cores). Evaluations per hour = 3600 / median seconds per candidate;
* **example**: the whole worked example, ``optimize(examples/decisions/lu_psma_pembrolizumab_space.yaml)``
  (8 generations × 8 candidates, 200 patients each; no history, so every candidate is new);
* **guided**: ``compare_dosing`` on the same space (two one-arm trials of 200 patients: fixed and kidney-guided).

Usage: python benchmarks/bench_decisions.py [--patients 1000] [--candidates 4] [--repeats 3] [--skip-example]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from rptici.decisions.guided import compare_dosing
from rptici.decisions.optimize import TrialEvaluator, _population_covariates, optimize, organ_constraint_values
from rptici.decisions.space import load_space

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "decisions" / "lu_psma_pembrolizumab_space.yaml"


def feasible_candidates(space, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``count`` distinct random candidates of ``space`` within every organ limit (so that each is simulated)."""
    rng = np.random.default_rng(seed)
    covariates, _, _ = _population_covariates(space)
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < count:
        key = tuple(int(rng.integers(levels)) for levels in space.levels)
        regimen = space.regimen_of(key)
        if key in chosen:
            continue
        doses = organ_constraint_values(space, regimen, covariates)
        if all(doses[item.name] <= item.limit_Gy for item in space.constraints):
            chosen.append(key)
    return chosen


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
            f"n {len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-example", action="store_true")
    arguments = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")

    import dataclasses

    space = dataclasses.replace(load_space(EXAMPLE), patients=arguments.patients)
    covariates, follow_up, _ = _population_covariates(space)
    keys = feasible_candidates(space, arguments.candidates)
    TrialEvaluator(space, covariates, follow_up)(keys[0])  # compile and warm the caches once
    per_candidate = []
    for _ in range(arguments.repeats):
        evaluator = TrialEvaluator(space, covariates, follow_up)  # fresh memo: every candidate simulated
        for key in keys:
            begin = time.perf_counter()
            evaluator(key)
            per_candidate.append(time.perf_counter() - begin)
    median = statistics.median(per_candidate)
    print(f"candidate at {arguments.patients} patients: {spread(per_candidate)} -> "
          f"{3600 / median:.0f} evaluations per hour (serial, 2-thread kernel)")

    if not arguments.skip_example:
        walls, counts = [], []
        for _ in range(arguments.repeats):
            begin = time.perf_counter()
            result = optimize(EXAMPLE)
            walls.append(time.perf_counter() - begin)
            counts.append((result["counts"]["evaluated"], result["counts"]["simulated_new"],
                           result["counts"]["infeasible"]))
        print(f"worked example (8 x 8, 200 patients): {spread(walls)}; evaluated, simulated, over a limit: "
              f"{counts[0]}")
        guided = []
        for _ in range(arguments.repeats):
            begin = time.perf_counter()
            compare_dosing(EXAMPLE)
            guided.append(time.perf_counter() - begin)
        print(f"guided vs fixed comparison (2 x 200 patients): {spread(guided)}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (the machine is shared: other jobs inflate the times)")


if __name__ == "__main__":
    main()
