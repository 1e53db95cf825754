"""The patient table is bit-identical whatever the chunk size (issue 19, item 13): organ doses too, not only the
kinetics. They differed in the last bits because ``np.linalg.eig`` returns a whole batch as complex once one
patient has a complex mode (its batch-mates' eigenvectors were then inverted in complex arithmetic), and because
numpy sums a single column pairwise but many columns row after row (S-values of a one-patient chunk)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rptici.store import ResultStore
from rptici.trials import run_trial

LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2}
SCENARIO = {
    "name": "chunks", "disease": "mcrpc", "patients": 30, "follow_up": "3 months", "assessments": "q8w",
    "psa_assessments": "q4w", "seed": 1, "calibration": None,
    "arms": [{"name": "control", "control": True, "regimen": None},
             {"name": "lutetium", "regimen": {"rpt": LUTETIUM}}],
}


def _patients(folder, chunk_size: int) -> pd.DataFrame:
    run = run_trial(SCENARIO, folder, chunk_size=chunk_size, executor="serial")
    assert run.report.ok
    return ResultStore(folder).read("patients").sort_values("patient", ignore_index=True)


def test_the_patient_table_is_bit_identical_for_any_chunk_size(tmp_path):
    whole = _patients(tmp_path / "30", 30)
    assert whole["kidney_bed_Gy"].gt(0).sum() == 15 and whole["marrow_dose_Gy"].gt(0).sum() == 15
    for size in (7, 1):
        other = _patients(tmp_path / str(size), size)
        pd.testing.assert_frame_equal(whole, other, check_exact=True)
        for column in whole.columns:  # every column, NaN where NaN, to the last bit
            left, right = whole[column].to_numpy(), other[column].to_numpy()
            if left.dtype.kind == "f":
                assert np.array_equal(left.view(np.int64), right.view(np.int64)), column


def _writers(folder) -> set[int]:
    """Process ids that wrote the chunk markers of a run folder."""
    import json

    return {json.loads(path.read_text())["writer"]["pid"] for path in (folder / "_chunks").glob("chunk-*.json")}


def test_threads_processes_and_dask_workers_give_the_same_table(tmp_path):
    """Issue 15: the real trial on a LocalCluster of two worker processes (and on threads, and on a process pool),
    with other chunk sizes, gives the serial run's patient table bit for bit. On Dask the workers write their
    chunks into the shared folder themselves (the markers name a worker process, never this one); a run
    interrupted there resumes chunk by chunk, on the same cluster or on another executor, to the same table."""
    import os

    import pytest

    distributed = pytest.importorskip("distributed")
    whole = _patients(tmp_path / "serial", 30)
    assert _writers(tmp_path / "serial") == {os.getpid()}
    for name, executor, size, worker_writes in (("threads", "threads:2", 7, None), ("processes", "processes:2", 11, None),
                                                ("processes-writing", "processes:2", 9, True)):
        run = run_trial(SCENARIO, tmp_path / name, chunk_size=size, executor=executor, worker_writes=worker_writes)
        assert run.report.ok, run.report.summary()
        other = ResultStore(tmp_path / name).read("patients").sort_values("patient", ignore_index=True)
        pd.testing.assert_frame_equal(whole, other, check_exact=True, obj=name)
    assert os.getpid() not in _writers(tmp_path / "processes-writing")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_NUM_THREADS": "1"}) as cluster, distributed.Client(cluster) as client:
        workers = set(client.run(os.getpid).values())
        folder = tmp_path / "dask"
        run = run_trial(SCENARIO, folder, chunk_size=4, executor=client)
        assert run.report.ok, run.report.summary()
        assert run.report.completed == list(range(8))
        assert _writers(folder) <= workers  # every chunk written by a worker process
        pd.testing.assert_frame_equal(whole, ResultStore(folder).read("patients").sort_values("patient", ignore_index=True),
                                      check_exact=True, obj="dask")
        for index in (2, 5):  # an interrupted run: these chunks' markers were never written
            (folder / "_chunks" / f"chunk-{index:05d}.json").unlink()
        again = run_trial(SCENARIO, folder, chunk_size=4, executor=client)
        assert again.report.completed == [2, 5]
    (folder / "_chunks" / "chunk-00007.json").unlink()
    last = run_trial(SCENARIO, folder, chunk_size=4, executor="processes:2", worker_writes=False)
    assert last.report.completed == [7]
    pd.testing.assert_frame_equal(whole, ResultStore(folder).read("patients").sort_values("patient", ignore_index=True),
                                  check_exact=True, obj="dask resumed")
