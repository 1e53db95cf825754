"""Fit each standard of care's growth-rate reduction to its control arm's reported median PFS (calibration).

For every entry of ``data/standard_of_care.yaml`` with a control arm in the registry that reports a median PFS or
rPFS (``trials_monotherapy.yaml`` only; never a combination trial), the control arm alone is replayed on a grid
of reductions r, and the r whose simulated median is nearest the reported one on a log scale is printed (ties:
the middle of the tied r). Medians fall on assessment days, so several r may tie. Run:

    PYTHONPATH=src python benchmarks/fit_standard_of_care.py --patients 300 --seed 1 [--only keynote921_docetaxel]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np

from rptici.analysis.replay import replay_arms, replay_scenario, reported_endpoints
from rptici.analysis.summary import summarize_tables
from rptici.trials import standard_of_care as care
from rptici.trials.endpoints import to_months
from rptici.trials.registry import registry
from rptici.trials.run import simulate_trial

GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def control_median(trial: str, name: str, reduction: float, patients: int, seed: int) -> tuple[float | None, str, float]:
    """(simulated median PFS in months, endpoint, reported) of the control arm of ``trial`` under reduction r."""
    record = registry().get(trial)
    arms = replay_arms(record)
    control = next(arm for arm in arms if arm.standard_of_care == name and arm.control)
    reported = next(row for row in reported_endpoints(record, arms)
                    if row["arm"] == control.name and row["endpoint"] in ("median_pfs", "median_rpfs"))
    scenario = replay_scenario(record, patients, seed, only_arms=(control.name,))
    catalogue = care._catalogue()
    original = catalogue[name]
    catalogue[name] = dataclasses.replace(original, growth_rate_reduction=reduction)
    try:
        tables = simulate_trial(scenario)
    finally:
        catalogue[name] = original
    summary = summarize_tables(tables["patients"], [control.name], None, float(to_months(scenario.follow_up_days)))
    row = summary["arms"][0]
    return row.get("median_pfs_months"), reported["endpoint"], reported["reported"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="the standards of care to fit (default: all)")
    options = parser.parse_args()
    results = {}
    for name in options.only or care.known_standards_of_care():
        entry = care.standard_of_care(name)
        if entry.trial is None:  # a disease's default background, no control arm of its own
            continue
        rows = []
        for reduction in GRID:
            try:
                median, endpoint, reported = control_median(entry.trial, name, reduction, options.patients, options.seed)
            except StopIteration:  # no control arm with a reported median PFS: nothing to fit
                break
            rows.append((reduction, median))
        if not rows:
            continue
        distance = [abs(math.log(median / reported)) if median else math.inf for _, median in rows]
        best = [reduction for (reduction, _), value in zip(rows, distance) if value <= min(distance) + 1e-9]
        results[name] = {"endpoint": endpoint, "reported": reported, "grid": rows,
                         "fitted": float(np.median(best)), "within_4_3": min(distance) <= math.log(4 / 3)}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
