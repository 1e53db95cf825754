"""Replays with and without baseline weighting (issue 14 item 3): the reported baseline against the virtual patients,
the Kish effective sample size of the weights, and the replayed endpoints.

    PYTHONPATH=src python benchmarks/compare_weighting.py [--patients 600] [--seed 1] [TRIAL ...]

Prints Markdown tables (the numbers of docs/model.md, "Virtual-population weighting").
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from rptici.analysis.replay import replay
from rptici.population import sample_population, select_virtual_patients
from rptici.population.weighting import baseline_summary, baseline_targets


def _number(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def compare(trial: str, patients: int, seed: int) -> str:
    started = time.perf_counter()
    plain = replay(trial, patients=patients, seed=seed)
    weighted = replay(trial, patients=patients, seed=seed, weight_baseline=True)
    seconds = time.perf_counter() - started
    lines = [f"### {trial} ({patients} virtual patients, seed {seed}; {seconds:.0f} s for both replays)", "",
             f"Weights: Kish effective sample size {weighted['baseline']['ess']:.0f} of a pool of "
             f"{weighted['baseline']['pool']}; the weighted pool matches every target to 1e-7.", "",
             "| baseline | reported | sampled | weighted (resampled) |", "|---|---|---|---|"]
    for before, after in zip(plain["baseline"]["rows"], weighted["baseline"]["rows"]):
        lines.append(f"| {before['covariate']} ({before['statistic']}) | {_number(before['reported'])} | "
                     f"{_number(before['simulated'])} | {_number(after['simulated'])} |")
    lines += ["", "| arm | endpoint | reported | sampled | weighted |", "|---|---|---|---|---|"]
    for before, after in zip(plain["endpoints"], weighted["endpoints"]):
        lines.append(f"| {before['arm']} | {before['endpoint']} | {_number(before['reported'])} | "
                     f"{_number(before['simulated'])} | {_number(after['simulated'])} |")
    return "\n".join(lines)


def allen_selection(trial: str, patients: int, seed: int) -> str:
    """The same baseline by Allen et al. 2016 acceptance (``select_virtual_patients``, marginal densities) from the
    same 4x pool: it needs a whole observed distribution per covariate, so each reported median is given the
    population file's spread (an assumption), and the site shares (0/1 per patient) cannot be targeted."""
    disease = baseline_targets(trial)["disease"]
    pool = sample_population(disease, 4 * patients, seed)
    frame = pool.to_frame()
    spread = {"psa_ng_per_mL": 5.0, "target_uptake": 1.5}  # gsd of data/populations/mcrpc.yaml
    column = {"psa": "psa_ng_per_mL", "suvmean": "target_uptake", "age": "age_years"}
    observed = {}
    for entry in baseline_targets(trial)["targets"]:
        name = column.get(entry["covariate"])
        if name in spread:
            observed[name] = stats.lognorm(np.log(spread[name]), scale=entry["value"])
        elif name == "age_years":
            observed[name] = stats.norm(entry["value"], float(np.std(frame[name])))
    if not observed:
        return f"Allen et al. 2016 selection: no continuous target for {trial}."
    try:
        result = select_virtual_patients(frame, observed, patients, seed, variables=list(observed),
                                         density="marginal",
                                         log_scale=[name for name in observed if name in spread])
    except Exception as error:  # too few accepted: say so
        return f"Allen et al. 2016 selection of {patients} from {len(pool)}: {error}"
    cohort = pool.subset(result.indices)
    rows = baseline_summary(cohort, trial)
    return (f"Allen et al. 2016 selection (marginal densities of {', '.join(observed)}) of {patients} from "
            f"{len(pool)}: {result.accepted} accepted; "
            + ", ".join(f"{row['covariate']} {_number(row['simulated'])} (reported {_number(row['reported'])})"
                        for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", nargs="*", default=["VISION", "TheraP", "NETTER-1"])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    for trial in arguments.trials:
        print(compare(trial, arguments.patients, arguments.seed), end="\n\n")
        print(allen_selection(trial, arguments.patients, arguments.seed), end="\n\n")


if __name__ == "__main__":
    main()
