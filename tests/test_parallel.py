"""Chunked execution: per-patient random streams make results independent of chunk size and executor;
failures are isolated per chunk; an interrupted run resumes with the missing chunks only (DESIGN.md,
"Numerical engine"; issue 5, "Reliability")."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from rptici.errors import InputError
from rptici.parallel import (ChunkReport, SerialExecutor, chunk_ranges, executor_from, patient_generators,
                             patient_seed_sequences, run_chunks)
from rptici.store import ResultStore

SEED = 20240917
PATIENTS = 100
FAILING_PATIENT = 42


def simulate_chunk(chunk: tuple[int, range]) -> dict[str, pd.DataFrame]:
    """Toy per-patient simulation: a random number of draws from the patient's own stream, so any
    sharing of streams between patients or dependence on chunk position changes the numbers."""
    seed, patients = chunk
    rows, failures = [], []
    for patient, generator in zip(patients, patient_generators(seed, patients.start, patients.stop)):
        draws = generator.normal(size=1 + generator.poisson(3.0))
        if patient == FAILING_PATIENT:
            failures.append({"patient": patient, "reason": "solver: step size underflow at t = 12.5 d"})
            continue
        rows.append({"patient": patient, "arm": "combination" if patient % 2 else "rpt", "draws": draws.size,
                     "response": float(draws.sum()), "uniform": generator.random()})
    return {"patients": pd.DataFrame(rows),
            "failures": pd.DataFrame(failures, columns=["patient", "reason"]).astype({"patient": "int64"})}


def failing_chunk(chunk: tuple[int, range]) -> dict[str, pd.DataFrame]:
    """Like ``simulate_chunk`` but the chunk holding patient 13 raises."""
    if 13 in chunk[1]:
        raise FloatingPointError("overflow in chunk holding patient 13")
    return simulate_chunk(chunk)


def collect(function, chunk_size: int, executor=None) -> pd.DataFrame:
    results: dict[int, pd.DataFrame] = {}
    chunks = [(SEED, patients) for patients in chunk_ranges(PATIENTS, chunk_size)]
    report = run_chunks(function, chunks, executor=executor,
                        on_result=lambda index, tables: results.__setitem__(index, tables["patients"]))
    assert report.ok, report.summary()
    return pd.concat([results[index] for index in sorted(results)], ignore_index=True)


@pytest.fixture(scope="module")
def reference_results() -> pd.DataFrame:
    return collect(simulate_chunk, PATIENTS, SerialExecutor())


def test_chunk_ranges_cover_patients_once() -> None:
    assert chunk_ranges(25, 10) == [range(0, 10), range(10, 20), range(20, 25)]
    assert chunk_ranges(0, 5) == []
    assert [index for part in chunk_ranges(1003, 7) for index in part] == list(range(1003))
    with pytest.raises(InputError, match="chunk_size"):
        chunk_ranges(10, 0)


def test_patient_stream_equals_numpy_spawn() -> None:
    """Patient i's sequence is SeedSequence(seed).spawn(n)[i] (NumPy docs: spawn_key=(i,)), for any start."""
    spawned = np.random.SeedSequence(SEED).spawn(30)
    direct = patient_seed_sequences(SEED, 17, 30)
    for index, sequence in zip(range(17, 30), direct):
        assert sequence.spawn_key == (index,)
        np.testing.assert_array_equal(sequence.generate_state(8), spawned[index].generate_state(8))
    first, second = patient_generators(SEED, 0, 2)
    assert first.random() != second.random()
    with pytest.raises(InputError, match="seed"):
        patient_seed_sequences(-1, 0, 3)


@pytest.mark.parametrize("chunk_size", [1, 7, 100])
def test_results_do_not_depend_on_chunk_size(chunk_size: int, reference_results: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(collect(simulate_chunk, chunk_size, "threads:2"), reference_results)


def test_results_do_not_depend_on_executor(reference_results: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(collect(simulate_chunk, 7, "processes:2"), reference_results)
    pd.testing.assert_frame_equal(collect(simulate_chunk, 13, "serial"), reference_results)
    pd.testing.assert_frame_equal(collect(simulate_chunk, 13, None), reference_results)


def test_failing_chunk_reported_while_others_are_written(tmp_path) -> None:
    store = ResultStore(tmp_path / "run", scenario_hash="toy", seed=SEED, patients=PATIENTS, chunk_size=10)
    chunks = {index: (SEED, patients) for index, patients in enumerate(chunk_ranges(PATIENTS, 10))}
    steps: list[tuple[int, int]] = []
    report = run_chunks(failing_chunk, chunks, executor="threads:2", on_result=store.write_chunk,
                        progress=lambda done, total: steps.append((done, total)))
    assert isinstance(report, ChunkReport) and not report.ok
    assert report.failed_indices == [1] and report.completed == [0, *range(2, 10)]
    failure = report.failed[0]
    assert failure.stage == "run" and "FloatingPointError" in failure.error
    assert "failing_chunk" in failure.traceback and "patient 13" in failure.traceback
    assert store.missing_chunks() == [1]
    written = store.read("patients")
    assert set(written["patient"]) == set(range(PATIENTS)) - set(range(10, 20)) - {FAILING_PATIENT}
    assert steps[0] == (0, 10) and steps[-1] == (10, 10) and len(steps) == 11
    # a patient that failed inside a completed chunk is kept with its reason, never silently dropped
    failed_patients = store.failures()
    assert failed_patients["patient"].tolist() == [FAILING_PATIENT]
    assert "underflow" in failed_patients["reason"].iloc[0]
    with store.database() as connection:  # empty failure tables in other chunks do not break the view
        assert connection.execute("SELECT patient FROM failures").fetchall() == [(FAILING_PATIENT,)]


def test_failure_in_result_handler_is_isolated() -> None:
    def handler(index: int, result: object) -> None:
        if index == 2:
            raise OSError("disk full")

    report = run_chunks(simulate_chunk, [(SEED, part) for part in chunk_ranges(40, 10)], "serial", on_result=handler)
    assert report.completed == [0, 1, 3] and [(f.index, f.stage) for f in report.failed] == [(2, "result")]


def test_interrupted_run_resumes_missing_chunks_only(tmp_path, reference_results: pd.DataFrame) -> None:
    folder = tmp_path / "run"
    ranges = chunk_ranges(PATIENTS, 10)

    def open_store() -> ResultStore:
        return ResultStore(folder, scenario_hash="toy", seed=SEED, patients=PATIENTS, chunk_size=10)

    store = open_store()

    def write_then_interrupt(index: int, tables: dict) -> None:
        if len(store.completed_chunks()) == 4:
            raise KeyboardInterrupt
        store.write_chunk(index, tables)

    with pytest.raises(KeyboardInterrupt):
        run_chunks(simulate_chunk, [(SEED, part) for part in ranges], "serial", on_result=write_then_interrupt)
    assert store.completed_chunks() == [0, 1, 2, 3]

    calls: list[int] = []
    lock = threading.Lock()

    def counted(chunk: tuple[int, range]) -> dict[str, pd.DataFrame]:
        with lock:
            calls.append(chunk[1].start)
        return simulate_chunk(chunk)

    reopened = open_store()
    missing = reopened.missing_chunks()
    assert missing == list(range(4, 10))
    report = run_chunks(counted, {index: (SEED, ranges[index]) for index in missing}, "threads:2",
                        on_result=reopened.write_chunk)
    assert report.completed == missing and sorted(calls) == [ranges[index].start for index in missing]
    assert reopened.is_complete()
    pd.testing.assert_frame_equal(reopened.read("patients"), reference_results)


def test_executor_specs() -> None:
    mine = SerialExecutor()
    assert executor_from(mine) == (mine, False)
    pool, owned = executor_from("threads:3")
    assert owned and pool._max_workers == 3
    pool.shutdown()
    for wrong in ("gpu", "threads:many", "threads:0", 3.5):
        with pytest.raises(InputError, match="executor|workers"):
            executor_from(wrong)


def test_dask_local_cluster_gives_the_same_results(reference_results: pd.DataFrame) -> None:
    """A real scheduler and two workers (in-process, so the test stays short), used as a Client and by address."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        pd.testing.assert_frame_equal(collect(simulate_chunk, 7, client), reference_results)
        pd.testing.assert_frame_equal(collect(simulate_chunk, 30, cluster.scheduler_address), reference_results)
        report = run_chunks(failing_chunk, [(SEED, part) for part in chunk_ranges(40, 10)], client)
        assert report.failed_indices == [1] and report.completed == [0, 2, 3]
        assert "patient 13" in report.failed[0].traceback
        assert client.status == "running"  # a client given by the caller is not closed


def test_dask_spec_starts_and_stops_its_own_cluster(reference_results: pd.DataFrame) -> None:
    """``"dask:2"``: a LocalCluster of two worker processes made for the run and closed after it (about 7 s)."""
    pytest.importorskip("distributed")
    pool, owned = executor_from("dask:2")
    try:
        assert owned and pool.workers == 2
        pd.testing.assert_frame_equal(collect(simulate_chunk, 7, pool), reference_results)
    finally:
        pool.shutdown()
    assert pool.client.status == "closed"


def test_lazy_chunks_are_built_only_while_in_flight(reference_results: pd.DataFrame) -> None:
    """Issue 15: with ``max_pending="auto"`` a lazy mapping builds each chunk when it is submitted, so a run holds
    the chunks in flight only (here 2 per thread, at least 4), and the results are the same."""
    from rptici.parallel import MIN_PENDING, LazyChunks

    ranges = chunk_ranges(PATIENTS, 5)
    built, live, most = [], set(), [0]
    lock = threading.Lock()

    def build(index: int) -> tuple[int, tuple[int, range]]:
        with lock:
            built.append(index)
            live.add(index)
            most[0] = max(most[0], len(live))
        return index, (SEED, ranges[index])

    def run(chunk):
        return simulate_chunk(chunk[1])

    def done(index, tables):
        with lock:
            live.discard(index)
        results[index] = tables["patients"]

    results: dict[int, pd.DataFrame] = {}
    chunks = LazyChunks(range(len(ranges)), build)
    assert len(chunks) == len(ranges) and list(chunks) == list(range(len(ranges))) and not built
    report = run_chunks(run, chunks, "threads:2", on_result=done, max_pending="auto")
    assert report.ok and sorted(built) == list(range(len(ranges)))
    assert most[0] <= max(MIN_PENDING, 2 * 2)
    pd.testing.assert_frame_equal(pd.concat([results[index] for index in sorted(results)], ignore_index=True),
                                  reference_results)
    with pytest.raises(KeyError):
        chunks[len(ranges)]


def test_progress_counts_items() -> None:
    """Issue 15: the progress bar can count patients (chunk size per chunk, capped at the total)."""
    from rptici.parallel import RichProgress

    bar = RichProgress("patients", items_per_chunk=2000, items=4500)
    assert bar._scaled(0, 3) == (0, 4500) and bar._scaled(2, 3) == (4000, 4500) and bar._scaled(3, 3) == (4500, 4500)
    assert RichProgress("chunks")._scaled(2, 3) == (2, 3)
