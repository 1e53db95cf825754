"""The fuzz suite's size and cost (issue 19, must show: at least 10,000 generated inputs across the suite within
CI's budget; CI runs the whole suite in about 6 minutes).

Runs ``pytest tests/fuzz`` under each requested profile (``RPTICI_FUZZ_PROFILE``: quick, ci, deep) and prints the
inputs actually generated (counted where hypothesis calls each test body, reported by ``tests/fuzz/conftest.py``),
the wall and CPU time, and the inputs per second. Results on the development machine: ``benchmarks/fuzz_budget.md``.

Usage: python benchmarks/bench_fuzz.py [--profiles ci] [--statistics]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(profile: str, statistics: bool) -> dict[str, float]:
    environment = {**os.environ, "RPTICI_FUZZ_PROFILE": profile,
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "fuzz")]
    if statistics:
        command.append("--hypothesis-show-statistics")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if statistics:
        print(result.stdout)
    if result.returncode != 0:
        sys.exit(f"the fuzz suite failed under profile {profile}:\n{result.stdout[-4000:]}")
    match = re.search(r"fuzz: ([\d,]+) generated inputs", result.stdout)
    if not match:
        sys.exit(f"no 'fuzz: N generated inputs' line in the output:\n{result.stdout[-2000:]}")
    generated = int(match.group(1).replace(",", ""))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"generated": generated, "wall_s": wall, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["ci"], choices=["quick", "ci", "deep"])
    parser.add_argument("--statistics", action="store_true", help="print hypothesis' per-test statistics")
    arguments = parser.parse_args()
    print(f"{'profile':8} {'inputs':>8} {'wall (s)':>9} {'CPU (s)':>8} {'inputs/s (wall)':>16}")
    for profile in arguments.profiles:
        figures = run(profile, arguments.statistics)
        print(f"{profile:8} {figures['generated']:8,} {figures['wall_s']:9.1f} {figures['cpu_s']:8.1f} "
              f"{figures['generated'] / figures['wall_s']:16.0f}")


if __name__ == "__main__":
    main()
