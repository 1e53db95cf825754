"""Overheads of chunked execution and of the result store, as medians.

    python benchmarks/bench_parallel.py [--json]

Per executor: start-up plus shut-down, the round trip of one empty chunk (submit, wait), and the cost per
chunk when 200 empty chunks stream through ``run_chunks``. For the store: ``write_chunk`` of a 10^4-patient
chunk (endpoints and 30 trajectory points each) and reading the run back through pandas and DuckDB.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from rptici.parallel import executor_from, run_chunks
from rptici.store import ResultStore

EXECUTORS = ["serial", "threads:2", "processes:2", "dask-inprocess:2", "dask:2"]


def empty_chunk(chunk: int) -> int:
    return chunk


def make_executor(spec: str):
    if spec == "dask-inprocess:2":
        import distributed

        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = distributed.Client(cluster)
        pool, _ = executor_from(client)

        def close() -> None:
            pool.shutdown()
            client.close()
            cluster.close()
        return pool, close
    pool, _ = executor_from(spec)
    return pool, pool.shutdown


def bench_executor(spec: str, round_trips: int = 50, stream: int = 200) -> dict[str, float]:
    start = time.perf_counter()
    pool, close = make_executor(spec)
    pool.submit(empty_chunk, 0).result()  # workers up
    started = time.perf_counter() - start
    latencies = []
    for index in range(round_trips):
        tick = time.perf_counter()
        pool.submit(empty_chunk, index).result()
        latencies.append(time.perf_counter() - tick)
    per_chunk = []
    for _ in range(3):
        report = run_chunks(empty_chunk, range(stream), pool)
        per_chunk.append(report.seconds / stream)
    tick = time.perf_counter()
    close()
    return {"executor": spec, "startup_s": started, "shutdown_s": time.perf_counter() - tick,
            "round_trip_ms": 1e3 * statistics.median(latencies),
            "streamed_ms_per_chunk": 1e3 * statistics.median(per_chunk)}


def bench_store(chunks: int = 5, patients_per_chunk: int = 10_000, points: int = 30) -> dict[str, float]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(folder, scenario_hash="bench", seed=0, patients=chunks * patients_per_chunk,
                            chunk_size=patients_per_chunk)
        writes = []
        for index in range(chunks):
            patients = np.arange(index * patients_per_chunk, (index + 1) * patients_per_chunk)
            tables = {"patients": pd.DataFrame({"patient": patients, "arm": np.where(patients % 2, "a", "b"),
                                                "pfs_months": rng.exponential(8.0, patients.size),
                                                "best_response": rng.choice(["CR", "PR", "SD", "PD"], patients.size)}),
                      "trajectories": pd.DataFrame({"patient": np.repeat(patients, points),
                                                    "day": np.tile(np.linspace(0, 365, points), patients.size),
                                                    "tumour_volume_ml": rng.random(patients.size * points)})}
            tick = time.perf_counter()
            store.write_chunk(index, tables)
            writes.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        store.read("patients")
        read_patients = time.perf_counter() - tick
        tick = time.perf_counter()
        with store.database() as connection:
            connection.execute("SELECT arm, COUNT(*), AVG(pfs_months) FROM patients GROUP BY arm").fetchall()
        duckdb_query = time.perf_counter() - tick
    return {"write_chunk_ms": 1e3 * statistics.median(writes), "read_patients_ms": 1e3 * read_patients,
            "duckdb_group_by_ms": 1e3 * duckdb_query, "patients": chunks * patients_per_chunk,
            "trajectory_rows_per_chunk": patients_per_chunk * points}


def main() -> None:
    results = {"executors": [bench_executor(spec) for spec in EXECUTORS], "store": bench_store()}
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
        return
    print(f"{'executor':18} {'start-up s':>10} {'shut-down s':>11} {'round trip ms':>13} {'streamed ms/chunk':>17}")
    for row in results["executors"]:
        print(f"{row['executor']:18} {row['startup_s']:10.2f} {row['shutdown_s']:11.2f} "
              f"{row['round_trip_ms']:13.3f} {row['streamed_ms_per_chunk']:17.3f}")
    print("store:", ", ".join(f"{key} {value:.1f}" if isinstance(value, float) else f"{key} {value}"
                              for key, value in results["store"].items()))


if __name__ == "__main__":
    main()
