"""Scaling figures of issue 15 ("Must show"): a large run's wall time and peak memory, the summary of 10⁶
patients, and a Dask LocalCluster of 1 and 2 worker processes.

Sections (each in fresh subprocesses, so that peak RSS is the run's own):

* ``run``: ``rptici trial run examples/trials/standard.yaml --patients N`` (two arms, standard scenario) through
  the command line, summary included: wall time, patients per second, peak RSS;
* ``million``: the first ``--million-chunks`` chunks of a 10⁶-patient run (population sampled for all 10⁶,
  chunks built just in time) then stopped: the fixed cost of a 10⁶ run (population sampling time, memory
  held) and the peak RSS with chunks in flight; with ``run``'s throughput it extrapolates the 10⁶ wall time;
* ``summary``: the summary of 10⁶ patients, made by linking ``run``'s chunk files over and over into a run folder
  of 10⁶ patients (same rows repeated: the cost of the summary, not new results): wall, RSS; with Kaplan–Meier and
  Cox from DuckDB event tables (``aggregate``, the default from 10⁵ patients) and per patient with lifelines;
* ``dask``: the same trial on a ``LocalCluster`` with 1 and with 2 worker processes (one thread each, numba
  one thread each; the workers write their chunks) and serially in one process with numba on one thread, ``--repeats``
  times interleaved: scaling efficiency T₁ / (2 T₂) and the per-chunk overhead (T_dask,1 − T_serial) / chunks.

Usage: python benchmarks/bench_scale.py [--sections run,million,summary,dask] [--patients 20000]
       [--dask-patients 2000] [--dask-chunk 250] [--million-chunks 4]
On a shared machine run-to-run noise is large: compare figures from one invocation only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "trials" / "standard.yaml"
PYTHON = sys.executable


def child(code: str, *arguments: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; its last stdout line is JSON; adds ``wall_s`` and ``peak_rss_MiB``."""
    begin = time.perf_counter()
    process = subprocess.run([PYTHON, "-c", code, *arguments], capture_output=True, text=True,
                             env={**os.environ, **(env or {})})
    wall = time.perf_counter() - begin
    if process.returncode != 0:
        raise RuntimeError(process.stderr[-3000:])
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result.setdefault("wall_s", wall)
    return result


RSS = "import resource; rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0\n"

RUN = RSS + """
import json, sys, time
from rptici.cli import app
from typer.testing import CliRunner
begin = time.perf_counter()
result = CliRunner().invoke(app, ["trial", "run", sys.argv[1], "--patients", sys.argv[2], "--out", sys.argv[3],
                                  "--executor", sys.argv[4], "--json"])
assert result.exit_code == 0, result.output[-2000:]
print(json.dumps({"wall_s": time.perf_counter() - begin, "peak_rss_MiB": rss()}))
"""

MILLION = RSS + """
import json, sys, time
from rptici.parallel import LazyChunks, run_chunks
from rptici.store import ResultStore
from rptici.trials import load_trial_scenario
from rptici.trials.run import chunk_tasks, simulate_chunk
scenario = load_trial_scenario(sys.argv[1])
patients, chunks = int(sys.argv[2]), int(sys.argv[3])
begin = time.perf_counter()
tasks = chunk_tasks(scenario, patients)
sampled = time.perf_counter() - begin
after_sampling = rss()
store = ResultStore(sys.argv[4], scenario_hash="bench", seed=1, patients=patients, chunk_size=scenario.chunk_size)
begin = time.perf_counter()
report = run_chunks(simulate_chunk, LazyChunks(range(chunks), tasks.__getitem__), executor=sys.argv[5],
                    on_result=store.write_chunk, max_pending="auto")
assert report.ok, report.summary()
print(json.dumps({"sampling_s": sampled, "rss_after_sampling_MiB": after_sampling,
                  "chunks_s": time.perf_counter() - begin, "peak_rss_MiB": rss()}))
"""

SUMMARY = RSS + """
import json, sys, time
from rptici.analysis.summary import summarize
begin = time.perf_counter()
summary = summarize(sys.argv[1], aggregate=sys.argv[2] == "aggregate")
print(json.dumps({"wall_s": time.perf_counter() - begin, "peak_rss_MiB": rss(), "patients": summary["patients"]}))
"""

DASK = RSS + """
import json, sys, time, tempfile
import numba
from rptici.trials import run_trial
scenario, patients, chunk, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
run_trial(scenario, tempfile.mkdtemp(), patients=64, executor="serial")  # compiled kernel cached on disk
if workers == 0:
    numba.set_num_threads(1)
    executor, close = "serial", lambda: None
else:
    import distributed
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"})
    executor = distributed.Client(cluster)
    executor.run(lambda: __import__("rptici.trials.run"))  # imports (and the disk-cached kernel) warm per worker
    warm = run_trial(scenario, tempfile.mkdtemp(), patients=workers * 8, chunk_size=8, executor=executor)
    close = lambda: (executor.close(), cluster.close())
begin = time.perf_counter()
run = run_trial(scenario, tempfile.mkdtemp(), patients=patients, chunk_size=chunk, executor=executor)
wall = time.perf_counter() - begin
assert run.report.ok, run.report.summary()
close()
print(json.dumps({"wall_s": wall, "peak_rss_MiB": rss()}))
"""


def replicate(source: Path, target: Path, patients: int) -> None:
    """A run folder of ``patients`` patients made of ``source``'s chunk files linked over and over (same rows)."""
    from rptici.store import ResultStore

    origin = ResultStore(source)
    files = origin.table_files("patients")
    per_chunk = origin.manifest.chunk_size
    chunks = -(-patients // per_chunk)
    store = ResultStore(target, scenario_hash=origin.manifest.scenario_hash, seed=origin.manifest.seed,
                        patients=chunks * per_chunk, chunk_size=per_chunk)
    shutil.copy(source / "scenario.json", target / "scenario.json")
    for table in ("patients", "failures"):
        (target / table).mkdir(exist_ok=True)
    (target / "_chunks").mkdir(exist_ok=True)
    sources = [(path, source / "failures" / path.name) for path in files]
    for index in range(chunks):
        patients_file, failures_file = sources[index % len(sources)]
        os.link(patients_file, store.chunk_path(index, "patients"))
        os.link(failures_file, store.chunk_path(index, "failures"))
        marker = {"chunk": index, "rows": {"patients": 0, "failures": 0}}
        (target / "_chunks" / f"chunk-{index:05d}.json").write_text(json.dumps(marker))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="run,million,summary,dask")
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--executor", default="local")
    parser.add_argument("--million-chunks", type=int, default=4)
    parser.add_argument("--summary-patients", type=int, default=1_000_000)
    parser.add_argument("--dask-patients", type=int, default=2000)
    parser.add_argument("--dask-chunk", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the dask section")
    parser.add_argument("--summary-modes", default="aggregate,lifelines",
                        help="summary section: through event tables (aggregate), per patient (lifelines), or both")
    arguments = parser.parse_args()
    sections = arguments.sections.split(",")
    environment = {"PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    os.environ.update(environment)
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        run_folder = Path(folder) / "run"
        if "run" in sections or "summary" in sections:
            count = arguments.patients if "run" in sections else 4000
            row = child(RUN, str(SCENARIO), str(count), str(run_folder), arguments.executor)
            row["patients"] = count
            row["patients_per_s"] = count / row["wall_s"]
            results["run"] = row
            print(f"run: {count} patients, executor {arguments.executor}: {row['wall_s']:.1f} s wall (summary "
                  f"included), {row['patients_per_s']:.0f} patients/s, peak RSS {row['peak_rss_MiB']:.0f} MiB",
                  flush=True)
        if "million" in sections:
            row = child(MILLION, str(SCENARIO), "1000000", str(arguments.million_chunks),
                        str(Path(folder) / "million"), arguments.executor)
            results["million"] = row
            chunk = 2000
            print(f"10^6 run, first {arguments.million_chunks} chunks of {chunk}: population sampled in "
                  f"{row['sampling_s']:.1f} s (RSS then {row['rss_after_sampling_MiB']:.0f} MiB), chunks "
                  f"{row['chunks_s']:.1f} s, peak RSS {row['peak_rss_MiB']:.0f} MiB", flush=True)
            if "run" in results:
                rate = results["run"]["patients_per_s"]
                print(f"  extrapolated 10^6 wall: {row['sampling_s'] + 1e6 / rate:.0f} s "
                      f"({(row['sampling_s'] + 1e6 / rate) / 60:.1f} min) at the run's {rate:.0f} patients/s",
                      flush=True)
        if "summary" in sections:
            big = Path(folder) / "big"
            replicate(run_folder, big, arguments.summary_patients)
            for mode in arguments.summary_modes.split(","):
                row = child(SUMMARY, str(big), mode)
                results[f"summary_{mode}"] = row
                print(f"summary of {row['patients']} patients (chunks repeated), {mode}: {row['wall_s']:.1f} s, "
                      f"peak RSS {row['peak_rss_MiB']:.0f} MiB", flush=True)
    if "dask" in sections:
        walls: dict[int, list[float]] = {0: [], 1: [], 2: []}
        for repeat in range(arguments.repeats):  # interleaved: every repeat runs all three, in turn
            for workers in ((0, 1, 2) if repeat % 2 == 0 else (2, 1, 0)):
                walls[workers].append(child(DASK, str(SCENARIO), str(arguments.dask_patients),
                                            str(arguments.dask_chunk), str(workers))["wall_s"])
                print(f"  repeat {repeat + 1}, {'serial, numba 1 thread' if workers == 0 else f'LocalCluster {workers} worker(s)'}: "
                      f"{walls[workers][-1]:.1f} s", flush=True)
        rows = {workers: statistics.median(values) for workers, values in walls.items()}
        chunks = -(-arguments.dask_patients // arguments.dask_chunk)
        efficiency = rows[1] / (2 * rows[2])
        efficiencies = [one / (2 * two) for one, two in zip(walls[1], walls[2])]
        overhead = (rows[1] - rows[0]) / chunks
        results["dask"] = {"walls": walls, "medians": rows, "efficiency": efficiency, "per_chunk_overhead_s": overhead}
        print(f"dask: {arguments.dask_patients} patients in {chunks} chunks of {arguments.dask_chunk}, medians of "
              f"{arguments.repeats} interleaved repeats: serial {rows[0]:.1f} s, 1 worker {rows[1]:.1f} s, 2 workers "
              f"{rows[2]:.1f} s; scaling efficiency 1 -> 2 workers {efficiency:.2f} (per repeat "
              f"{min(efficiencies):.2f}-{max(efficiencies):.2f}); per-chunk overhead {1e3 * overhead:.0f} ms "
              f"(1 worker vs serial)", flush=True)
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
