"""Run folders: manifest pinning scenario and seed, atomic chunk files, DuckDB views, safe names."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import rptici.store as store_module
from rptici.errors import InputError
from rptici.store import ResultStore, scenario_hash

PATIENTS, CHUNK = 25, 10


def make_store(folder, **changes) -> ResultStore:
    values = {"scenario_hash": "abc123", "seed": 7, "patients": PATIENTS, "chunk_size": CHUNK} | changes
    return ResultStore(folder, **values)


def chunk_tables(index: int) -> dict[str, pd.DataFrame]:
    """Chunk ``index`` of a toy two-arm run: arm by parity, response = patient / 10 (+ 1 in the combination
    arm); three trajectory rows per patient."""
    patients = np.arange(index * CHUNK, min((index + 1) * CHUNK, PATIENTS))
    summary = pd.DataFrame({"patient": patients, "arm": np.where(patients % 2, "combination", "rpt"),
                            "response": patients / 10.0 + patients % 2})
    trajectories = pd.DataFrame({"patient": np.repeat(patients, 3), "day": np.tile([0.0, 1.0, 2.0], patients.size),
                                 "tumour_volume_ml": 1.0})
    return {"patients": summary, "trajectories": trajectories}


def test_manifest_records_the_run_and_rejects_another(tmp_path) -> None:
    store = make_store(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["scenario_hash"] == "abc123" and manifest["seed"] == 7
    assert manifest["patients"] == PATIENTS and manifest["chunk_size"] == CHUNK
    assert manifest["rptici_version"] and manifest["created"]
    assert store.manifest.chunks == 3 and store.missing_chunks() == [0, 1, 2]
    with pytest.raises(InputError, match="scenario_hash.*another run"):
        make_store(tmp_path / "run", scenario_hash="def456")
    with pytest.raises(InputError, match="seed: got 8"):
        make_store(tmp_path / "run", seed=8)
    with pytest.raises(InputError, match="chunk_size"):
        make_store(tmp_path / "run", chunk_size=5)
    assert ResultStore(tmp_path / "run").manifest == store.manifest  # opening to read needs no values
    with pytest.raises(InputError, match="manifest.json"):
        ResultStore(tmp_path / "empty")


def test_scenario_hash_is_canonical() -> None:
    assert scenario_hash({"a": 1, "b": [1, 2]}) == scenario_hash({"b": [1, 2], "a": 1})
    assert scenario_hash({"a": 1}) != scenario_hash({"a": 2})


def test_chunks_written_out_of_order_are_read_in_patient_order(tmp_path) -> None:
    store = make_store(tmp_path / "run")
    for index in (2, 0):
        store.write_chunk(index, chunk_tables(index))
    assert store.chunk_path(2) == tmp_path.resolve() / "run" / "patients" / "chunk-00002.parquet"
    assert store.completed_chunks() == [0, 2] and store.missing_chunks() == [1]
    patients = store.read("patients")
    assert patients["patient"].tolist() == [*range(0, 10), *range(20, 25)]
    trajectories = store.read("trajectories")
    assert trajectories["patient"].tolist() == list(np.repeat(patients["patient"], 3))
    assert trajectories["day"].tolist()[:3] == [0.0, 1.0, 2.0]
    assert store.tables() == ["patients", "trajectories"]
    assert store.failures().empty and list(store.failures().columns) == ["patient", "reason"]
    with pytest.raises(InputError, match="chunk index"):
        store.write_chunk(3, chunk_tables(0))


def test_crash_before_replace_leaves_no_visible_file(tmp_path, monkeypatch) -> None:
    store = make_store(tmp_path / "run")
    store.write_chunk(0, chunk_tables(0))

    def crash(source, target):
        raise OSError("power cut between temporary write and replace")

    with monkeypatch.context() as patch:
        patch.setattr(store_module.os, "replace", crash)
        with pytest.raises(OSError, match="power cut"):
            store.write_chunk(1, chunk_tables(1))
    folder = tmp_path / "run" / "patients"
    assert sorted(path.name for path in folder.iterdir()) == ["chunk-00000.parquet"]
    assert store.completed_chunks() == [0] and len(store.read("patients")) == CHUNK
    store.write_chunk(1, chunk_tables(1))
    assert store.completed_chunks() == [0, 1] and len(store.read("patients")) == 2 * CHUNK


def test_crash_before_marker_leaves_chunk_missing(tmp_path, monkeypatch) -> None:
    """Table files written but no completion marker (crash, or a half-written temporary file left behind):
    the chunk counts as missing and no reader sees its rows."""
    store = make_store(tmp_path / "run")
    store.write_chunk(0, chunk_tables(0))
    original = store_module._atomic_write

    def crash_on_marker(target, write, **options):
        if target.suffix == ".json":
            raise KeyboardInterrupt
        original(target, write, **options)

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_atomic_write", crash_on_marker)
        with pytest.raises(KeyboardInterrupt):
            store.write_chunk(1, chunk_tables(1))
    (tmp_path / "run" / "patients" / ".chunk-00002.parquet.tmp").write_bytes(b"PAR1 half a file")
    assert store.chunk_path(1).is_file() and store.missing_chunks() == [1, 2]
    assert store.read("patients")["patient"].max() == CHUNK - 1
    with store.database() as connection:
        assert connection.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == CHUNK


def test_duckdb_views_query_parquet(tmp_path) -> None:
    store = make_store(tmp_path / "run")
    for index in range(3):
        store.write_chunk(index, chunk_tables(index))
    store.write_chunk(2, {**chunk_tables(2), "failures": pa.table({"patient": [24], "reason": ["solver failed"]})})
    expected = store.read("patients").groupby("arm")["response"].agg(["count", "mean"])
    # by construction: rpt = even patients 0..24, 13 of them, mean 12/10 = 1.2;
    # combination = odd patients 1..23, 12 of them, mean 12/10 + 1 = 2.2
    assert expected.loc["rpt", "count"] == 13 and expected.loc["combination", "count"] == 12
    assert expected.loc["rpt", "mean"] == pytest.approx(1.2)
    assert expected.loc["combination", "mean"] == pytest.approx(2.2)
    with store.database() as connection:
        query = "SELECT arm, COUNT(*), AVG(response) FROM patients GROUP BY arm ORDER BY arm"
        rows = connection.execute(query).fetchall()
        assert connection.execute("SELECT COUNT(*) FROM trajectories").fetchone()[0] == 3 * PATIENTS
        assert connection.execute("SELECT patient, reason FROM failures").fetchall() == [(24, "solver failed")]
    assert [row[0] for row in rows] == ["combination", "rpt"]
    for arm, count, mean in rows:
        assert count == expected.loc[arm, "count"]
        assert mean == pytest.approx(expected.loc[arm, "mean"], rel=1e-12)
    assert store.failures()["patient"].tolist() == [24]

    store.database("results.duckdb").close()
    with duckdb.connect(str(tmp_path / "run" / "results.duckdb")) as connection:
        assert connection.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == PATIENTS


@pytest.mark.parametrize("name", ["../outside", "a/b", "..", "", "a\\b", "/etc/passwd", "_chunks"])
def test_names_outside_the_folder_are_rejected(tmp_path, name: str) -> None:
    store = make_store(tmp_path / "run")
    with pytest.raises(InputError, match="table"):
        store.write_chunk(0, {name: chunk_tables(0)["patients"]})
    with pytest.raises(InputError, match="table"):
        store.read(name)
    with pytest.raises(InputError, match="table"):
        store.chunk_path(0, name)
    with pytest.raises(InputError, match="path"):
        store.database(name + "x.duckdb" if name else "../x.duckdb")
    assert not (tmp_path / "outside").exists() and store.completed_chunks() == []


def test_read_can_leave_columns_on_disk(tmp_path) -> None:
    """Issue 15: ``exclude`` reads every other column (a summary of 10^6 patients leaves what it does not use)."""
    store = make_store(tmp_path / "run")
    for index in (0, 1):
        store.write_chunk(index, chunk_tables(index))
    whole = store.read("patients")
    part = store.read("patients", exclude={"arm", "no_such_column"})
    assert "arm" not in part.columns and "arm" in whole.columns
    pd.testing.assert_frame_equal(part, whole.drop(columns="arm"))
