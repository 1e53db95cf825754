"""Replays with and without baseline weighting (issue 14 item 3): the reported baseline against the virtual patients,
the Kish effective sample size of the weights, and the replayed endpoints.

    PYTHONPATH=src python benchmarks/compare_weighting.py [--patients 600] [--seed 1] [TRIAL ...]

Prints Markdown tables (the numbers of docs/model.md, "Virtual-population weighting").
"""

from __future__ import annotations

import argparse
import time

from rptici.analysis.replay import replay


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", nargs="*", default=["VISION", "TheraP", "NETTER-1"])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    for trial in arguments.trials:
        print(compare(trial, arguments.patients, arguments.seed), end="\n\n")


if __name__ == "__main__":
    main()
