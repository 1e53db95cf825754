"""Before/after of the per-chunk Python work around the engine (issue 15): the same trial timed with two source
trees, interleaved in one invocation so that both see the same machine load.

Each measurement is a fresh interpreter with ``PYTHONPATH`` set to one tree's ``src`` (``--baseline``: an older
tree, e.g. ``git archive <commit> src | tar -x -C /tmp/base``; the current one: this checkout's ``src``); it warms
the compiled kernel up on 64 patients, then runs the standard two-arm scenario serially (``run_trial`` into a fresh
folder) and times the engine calls inside it (``rptici.simulation.simulate``). Order ABBA... over ``--repeats``.
Prints per configuration the median wall time of each tree, the overhead around the engine (wall − engine) per
patient and per chunk, and the ratio of the medians.

Usage: python benchmarks/bench_overhead.py --baseline /tmp/base/src [--repeats 3]
       [--config 4000:2000] [--config 1000:50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "trials" / "standard.yaml"

CHILD = """
import json, sys, tempfile, time
import rptici.simulation as simulation
from rptici.trials import run_trial
scenario, patients, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with tempfile.TemporaryDirectory() as folder:
    run_trial(scenario, folder, patients=64, executor="serial")
original, inside = simulation.simulate, [0.0]
def timed(*args, **kwargs):
    begin = time.perf_counter()
    try:
        return original(*args, **kwargs)
    finally:
        inside[0] += time.perf_counter() - begin
simulation.simulate = timed
with tempfile.TemporaryDirectory() as folder:
    begin = time.perf_counter()
    run = run_trial(scenario, folder, patients=patients, chunk_size=chunk, executor="serial")
    wall = time.perf_counter() - begin
assert run.report.ok, run.report.summary()
print(json.dumps({"wall_s": wall, "engine_s": inside[0], "chunks": len(run.report.completed)}))
"""


def measure(source: Path, patients: int, chunk: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(source)}
    process = subprocess.run([sys.executable, "-c", CHILD, str(SCENARIO), str(patients), str(chunk)],
                             capture_output=True, text=True, env=environment, cwd=ROOT)
    if process.returncode != 0:
        raise RuntimeError(process.stderr[-3000:])
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the older tree's src folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", action="append", default=None, help="PATIENTS:CHUNK (repeat)")
    arguments = parser.parse_args()
    trees = {"before": arguments.baseline.resolve(), "after": (ROOT / "src").resolve()}
    for config in arguments.config or ["4000:2000", "1000:50"]:
        patients, chunk = (int(part) for part in config.split(":"))
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for repeat in range(arguments.repeats):
            order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
            for name in order:
                results[name].append(measure(trees[name], patients, chunk))
                item = results[name][-1]
                print(f"  {patients} patients, chunks of {chunk}, repeat {repeat + 1}, {name}: wall "
                      f"{item['wall_s']:.2f} s, engine {item['engine_s']:.2f} s", flush=True)
        medians = {}
        for name, items in results.items():
            wall = statistics.median(item["wall_s"] for item in items)
            overhead = statistics.median(item["wall_s"] - item["engine_s"] for item in items)
            share = statistics.median(item["engine_s"] / item["wall_s"] for item in items)
            chunks = items[0]["chunks"]
            medians[name] = (wall, overhead)
            print(f"{patients} patients in {chunks} chunks of {chunk}, {name}: median wall {wall:.2f} s "
                  f"({patients / wall:.0f} patients/s), engine share {share:.3f}, overhead around the engine "
                  f"{overhead:.2f} s = {1e3 * overhead / patients:.3f} ms/patient = {1e3 * overhead / chunks:.0f} ms/chunk")
        print(f"  after/before: wall {medians['after'][0] / medians['before'][0]:.3f}, overhead "
              f"{medians['after'][1] / medians['before'][1]:.3f} (medians of {arguments.repeats} interleaved repeats)")


if __name__ == "__main__":
    main()
