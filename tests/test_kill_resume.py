"""Kill and resume (issue 19, must show): a trial run killed with SIGKILL at several points, then resumed into the
same folder, gives Parquet tables bit-identical to an uninterrupted run. The kill points (the test-only hook
``rptici.store.KILL_HOOK``): as chunk 0 is about to be written (nothing on disk yet but the manifest: killed before
the first chunk), in the middle of writing chunk 1 (its first table written, half a temporary file of the second,
no completion marker) and after chunk 1, while chunk 2 was being computed (killed mid-chunk). Each process
is a real `rptici trial run` (serial, so that the chunk order and thus the kill point are deterministic). A second test
kills from outside at two seeded random moments, wherever the run then is, and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rptici.store import KILL_HOOK, ResultStore

pytest.importorskip("numba")
SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "trials" / "prince_like.yaml"
SOURCE = Path(__file__).resolve().parents[1] / "src"


def trial_run(out: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    environment.pop(KILL_HOOK, None)
    if kill_at is not None:
        environment[KILL_HOOK] = kill_at
    return subprocess.run([sys.executable, "-m", "rptici.cli", "trial", "run", str(SCENARIO), "--out", str(out),
                           "--patients", "6", "--chunk-size", "2", "--executor", "serial", "--json"],
                          env=environment, capture_output=True, text=True, timeout=600)


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    store = ResultStore(folder)
    assert store.is_complete()
    return {name: store.read(name) for name in store.tables()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kill_resume") / "uninterrupted"
    reference = trial_run(folder)
    assert reference.returncode == 0, reference.stderr
    return folder


def assert_same_tables(folder: Path, reference: Path) -> None:
    expected, got = tables(reference), tables(folder)
    assert sorted(got) == sorted(expected)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)
    assert not list(folder.rglob("*.tmp")), "a half-written temporary file was left behind"


def test_a_run_killed_at_three_points_resumes_to_the_same_tables(tmp_path, uninterrupted):
    folder = tmp_path / "killed"
    for kill_at, done in (("0:0", []), ("1:1", [0]), ("2:0", [0, 1])):
        killed = trial_run(folder, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        assert ResultStore(folder).completed_chunks() == done, kill_at
    resumed = trial_run(folder)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_tables(folder, uninterrupted)


def test_a_run_killed_at_random_moments_resumes_to_the_same_tables(tmp_path, uninterrupted):
    """SIGKILL from outside after a random delay (seeded: 2 kills drawn from 0.5-8 s after the start, which on a
    loaded 2-core machine falls anywhere from the imports to the last chunk), then a resume: whatever the moment,
    the tables equal the uninterrupted run's bit for bit."""
    import random
    import time

    folder = tmp_path / "killed"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    environment.pop(KILL_HOOK, None)
    for delay in random.Random(19).sample([0.5 + 0.5 * step for step in range(16)], 2):
        process = subprocess.Popen([sys.executable, "-m", "rptici.cli", "trial", "run", str(SCENARIO), "--out",
                                    str(folder), "--patients", "6", "--chunk-size", "2", "--executor", "serial",
                                    "--json"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    resumed = trial_run(folder)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_tables(folder, uninterrupted)
