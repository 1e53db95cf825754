"""Results on disk: one run folder of Parquet files, one file per table per chunk, and DuckDB views over them.

A run folder looks like::

    run/
      manifest.json                 scenario hash, seed, patients, chunk size, rptici version, created time
      patients/chunk-00000.parquet  one row per patient (endpoints)
      trajectories/chunk-00000.parquet
      failures/chunk-00000.parquet  patients whose simulation failed, with the reason
      _chunks/chunk-00000.json      completion marker, written last
      results.duckdb                optional persisted database of views

Every file is written atomically (temporary name in the same folder, fsync, ``os.replace``) and a chunk
counts as done only when its completion marker exists, so an interrupted run leaves nothing half-written
that a reader would see, and re-running into the same folder completes the missing chunks only.
The manifest pins the scenario and seed: opening a folder with a different one is an error, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rptici import __version__
from rptici.errors import InputError, shown

MANIFEST_NAME = "manifest.json"
MARKER_FOLDER = "_chunks"
DATABASE_NAME = "results.duckdb"
#: Column that holds the patient index (0-based, global over the run); rows are ordered by it on reading.
PATIENT_COLUMN = "patient"
#: Table of patients whose simulation failed; columns ``patient`` and ``reason`` at least.
FAILURES_TABLE = "failures"
FAILURE_COLUMNS = (PATIENT_COLUMN, "reason")

_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MARKER_PATTERN = re.compile(r"chunk-(\d+)\.json")
_PARQUET_MAGIC = b"PAR1"  # a Parquet file starts and ends with it (Apache Parquet format specification)


def _whole_parquet(path: Path) -> bool:
    """Whether ``path`` is a file that ends as a Parquet file does: a truncated file (a copy or a disk that gave
    out) counts as missing, so its chunk is written again rather than read as a traceback (issue 19, items 11 and
    12). Reads 4 bytes, so checking every chunk of a large run stays cheap."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < 12:
                return False
            handle.seek(-4, os.SEEK_END)
            return handle.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _readable(path: Path) -> bool:
    try:
        pq.read_table(path)
    except (pa.ArrowException, OSError):
        return False
    return True


def scenario_hash(scenario: Any) -> str:
    """SHA-256 of a scenario as canonical JSON (sorted keys), so the same scenario always hashes the same.

    Accepts anything ``json.dumps`` can write after pydantic models are dumped (``model_dump(mode="json")``).
    """
    if hasattr(scenario, "model_dump"):
        scenario = scenario.model_dump(mode="json")
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a run folder holds: which scenario, seed and chunking produced it."""

    scenario_hash: str
    seed: int
    patients: int
    chunk_size: int
    rptici_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    format: int = 1

    @property
    def chunks(self) -> int:
        """Number of chunks: ceil(patients / chunk_size)."""
        return -(-self.patients // self.chunk_size)


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False also where the system cannot tell (a name too long, a file on the way)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _check_name(field_name: str, name: object) -> str:
    """A table or file name that stays inside the folder: letters, digits, underscore; no separator, no '..'."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise InputError(field_name, name, "a name of letters, digits and '_' starting with a letter "
                                           "(no path separator, no '..')")
    return name


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _atomic_write(target: Path, write: Any, sync_file: bool = True, sync_folder: bool = True) -> None:
    """Write through ``write(temporary_path)``, fsync, then ``os.replace`` onto ``target``, then fsync the folder.

    The temporary name starts with '.' and ends in '.tmp' in the same folder, so it never matches a
    reader's ``chunk-*.parquet`` and the replace is atomic on one file system. ``sync_file``/``sync_folder``
    False skip those fsyncs where a lost write is detected on reading anyway (:meth:`ResultStore.write_chunk`).
    """
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        write(temporary)
        if sync_file:
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if sync_folder:
        _fsync_folder(target.parent)


#: Test only (tests/test_kill_resume.py): "<chunk>:<table number>" kills this process with SIGKILL just as it writes
#: that table of that chunk, leaving half a temporary file, as a crash in the middle of the write would.
KILL_HOOK = "RPTICI_TEST_KILL_AT_WRITE"


def _test_kill_point(index: int, number: int, target: Path) -> None:
    if os.environ.get(KILL_HOOK) == f"{index}:{number}":
        import signal

        target.with_name(f".{target.name}.tmp").write_bytes(b"PAR1 half a file")
        os.kill(os.getpid(), signal.SIGKILL)


def _as_arrow(table_name: str, table: Any) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False)
    raise InputError(f"tables[{table_name!r}]", type(table).__name__, "a pyarrow.Table or pandas.DataFrame")


class ResultStore:
    """A run folder of chunked Parquet results with a manifest; see the module docstring for the layout.

    ``ResultStore(folder, scenario_hash=..., seed=..., patients=..., chunk_size=...)`` creates the folder
    or re-opens it; every value given must equal the manifest's (a different scenario hash, seed, patient
    count or chunk size would mix results, so it is an InputError). ``ResultStore(folder)`` opens an
    existing run to read it.
    """

    def __init__(self, folder: str | os.PathLike[str], *, scenario_hash: str | None = None,
                 seed: int | None = None, patients: int | None = None, chunk_size: int | None = None):
        self.folder = Path(folder).resolve()
        manifest_path = self.folder / MANIFEST_NAME
        given = {"scenario_hash": scenario_hash, "seed": seed, "patients": patients, "chunk_size": chunk_size}
        if _is_file(manifest_path):
            self.manifest = self._read_manifest(manifest_path)
            for name, value in given.items():
                stored = getattr(self.manifest, name)
                if value is not None and value != stored:
                    raise InputError(name, value, f"{stored!r} as in {manifest_path}: this folder holds the "
                                                  "results of another run; choose a new folder")
            return
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise InputError("folder", str(self.folder), f"a run folder with {MANIFEST_NAME}, or "
                                                          f"{', '.join(missing)} to create one")
        if not isinstance(scenario_hash, str) or not scenario_hash:
            raise InputError("scenario_hash", scenario_hash, "a non-empty string")
        for name in ("seed", "patients", "chunk_size"):
            value = given[name]
            minimum = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(name, value, f"an integer >= {minimum}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name, a file on the way, no permission, a name too long
            raise InputError("folder", str(folder), f"a folder for the results that can be created there "
                                                    f"({error.strerror or error})") from None
        self.manifest = Manifest(scenario_hash=scenario_hash, seed=seed, patients=patients, chunk_size=chunk_size)
        text = json.dumps(asdict(self.manifest), indent=2) + "\n"
        _atomic_write(manifest_path, lambda path: path.write_text(text, encoding="utf-8"))

    @staticmethod
    def _read_manifest(path: Path) -> Manifest:
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            manifest = Manifest(**content)
        except (ValueError, TypeError, OSError) as error:  # not JSON, not UTF-8, not a mapping of its fields
            raise InputError("manifest", str(path), f"a manifest written by rptici ({shown(str(error))})") from None
        for name, minimum in (("seed", 0), ("patients", 1), ("chunk_size", 1)):
            value = getattr(manifest, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"manifest.{name}", value, f"a whole number >= {minimum} (a manifest written by "
                                                            f"rptici; {path})")
        return manifest

    def __repr__(self) -> str:
        return f"ResultStore({str(self.folder)!r}, chunks done {len(self.completed_chunks())}/{self.manifest.chunks})"

    # paths -------------------------------------------------------------------------------------------
    def _check_index(self, index: object) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.manifest.chunks:
            raise InputError("chunk index", index, f"an integer in [0, {self.manifest.chunks - 1}]")
        return index

    def chunk_path(self, index: int, table: str = "patients") -> Path:
        """Path of one table's Parquet file for chunk ``index``, e.g. ``patients/chunk-00003.parquet``."""
        self._check_index(index)
        return self.folder / _check_name("table", table) / f"chunk-{index:05d}.parquet"

    def _marker_path(self, index: int) -> Path:
        return self.folder / MARKER_FOLDER / f"chunk-{index:05d}.json"

    # writing -----------------------------------------------------------------------------------------
    def write_chunk(self, index: int, tables: Mapping[str, pa.Table | pd.DataFrame]) -> None:
        """Write chunk ``index``: one Parquet file per table, each atomically, then the completion marker.

        Its signature fits ``run_chunks(..., on_result=store.write_chunk)``. Re-writing a chunk first
        removes its marker, so a crash part-way leaves the chunk missing, never half-counted.

        Durability: each table's data is fsynced before the marker is written; the renames and the marker are
        not (3 fsyncs a chunk instead of 8: 4 ms each on a slow disk, the largest per-chunk cost of a small
        chunk). After a power loss a rename or marker that did not reach the disk leaves the chunk missing: a
        marker that is absent or not JSON, or a table file that is absent or does not end as Parquet, counts as
        not done (:meth:`completed_chunks`), so a re-run writes the chunk again.
        """
        self._check_index(index)
        if not isinstance(tables, Mapping) or not tables:
            raise InputError("tables", type(tables).__name__, "a non-empty mapping of table name to table")
        arrow_tables = {_check_name("table", name): _as_arrow(name, table) for name, table in tables.items()}
        self._marker_path(index).unlink(missing_ok=True)
        for number, (name, table) in enumerate(arrow_tables.items()):
            target = self.chunk_path(index, name)
            target.parent.mkdir(exist_ok=True)
            _test_kill_point(index, number, target)
            _atomic_write(target, lambda path, table=table: pq.write_table(table, path), sync_folder=False)
        marker = {"chunk": index, "rows": {name: table.num_rows for name, table in arrow_tables.items()},
                  "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "writer": {"host": socket.gethostname(), "pid": os.getpid()}}
        marker_path = self._marker_path(index)
        marker_path.parent.mkdir(exist_ok=True)
        _atomic_write(marker_path, lambda path: path.write_text(json.dumps(marker) + "\n", encoding="utf-8"),
                      sync_file=False, sync_folder=False)

    # progress ----------------------------------------------------------------------------------------
    def completed_chunks(self) -> list[int]:
        """Indices of chunks whose completion marker exists and whose every table file named in it is still
        there, ascending (a chunk whose Parquet file was deleted counts as missing, so a re-run writes it again
        instead of a summary silently leaving its patients out)."""
        folder = self.folder / MARKER_FOLDER
        if not folder.is_dir():
            return []
        found = ((path, _MARKER_PATTERN.fullmatch(path.name)) for path in folder.iterdir())
        return sorted(int(match.group(1)) for path, match in found if match and self._intact(int(match.group(1)), path))

    def _intact(self, index: int, marker: Path) -> bool:
        try:
            tables = json.loads(marker.read_text(encoding="utf-8"))["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return isinstance(tables, dict) and all(_whole_parquet(self.chunk_path(index, name)) for name in tables)

    def missing_chunks(self, total: int | None = None) -> list[int]:
        """Chunk indices in ``range(total)`` not yet completed (``total`` defaults to the manifest's)."""
        total = self.manifest.chunks if total is None else total
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise InputError("total", total, "a non-negative integer")
        done = set(self.completed_chunks())
        return [index for index in range(total) if index not in done]

    def is_complete(self) -> bool:
        """Whether every chunk of the manifest has been written."""
        return not self.missing_chunks()

    # reading -----------------------------------------------------------------------------------------
    def table_files(self, table: str) -> list[Path]:
        """Parquet files of ``table`` from completed chunks only, in chunk order."""
        folder = self.folder / _check_name("table", table)
        return [path for index in self.completed_chunks()
                if (path := folder / f"chunk-{index:05d}.parquet").is_file()]

    def tables(self) -> list[str]:
        """Names of the tables that at least one completed chunk holds."""
        return sorted(path.name for path in self.folder.iterdir()
                      if path.is_dir() and _NAME_PATTERN.fullmatch(path.name) and self.table_files(path.name))

    def read(self, table: str, columns: list[str] | None = None, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """All completed chunks of ``table`` as one DataFrame, ordered by patient index (stable); ``columns``:
        only those, ``exclude``: not those (each file's other columns), so that unused columns stay on disk.

        Memory: where every file has the same columns (as a run writes them), each file goes to pandas on its own
        and the pieces are joined once, so a large table is held about twice at the peak, not as Arrow tables,
        their concatenation and its conversion at once; the sort is skipped where the chunks are already in
        patient order. Files with different columns are joined by Arrow (missing columns as nulls)."""
        files = self.table_files(table)
        if not files:
            return pd.DataFrame(columns=columns or [])
        try:
            return self._read(files, columns, frozenset(exclude))
        except (pa.ArrowException, OSError) as error:  # damaged inside, though whole at its end
            damaged = next((path for path in files if not _readable(path)), files[0])
            raise InputError(f"{table} table", str(damaged.relative_to(self.folder)),
                             f"a readable Parquet file of a finished chunk (delete {MARKER_FOLDER}/{damaged.name[:-8]}"
                             f".json and run 'rptici trial run' into the same folder to write it again; "
                             f"{str(error).splitlines()[0][:120]})") from None

    def _read(self, files: list[Path], columns: list[str] | None, excluded: frozenset[str]) -> pd.DataFrame:
        schemas = [pq.read_schema(path) for path in files]

        def wanted(schema: pa.Schema) -> list[str] | None:
            if not excluded:
                return columns
            return [name for name in (columns or schema.names) if name not in excluded]

        if all(schema.equals(schemas[0]) for schema in schemas):
            names = wanted(schemas[0])
            frame = pd.concat([pq.read_table(path, columns=names).to_pandas() for path in files], ignore_index=True)
        else:
            parts = [pq.read_table(path, columns=wanted(schema)) for path, schema in zip(files, schemas)]
            frame = pa.concat_tables(parts, promote_options="default").to_pandas()
            del parts
        if PATIENT_COLUMN in frame.columns and not frame[PATIENT_COLUMN].is_monotonic_increasing:
            frame = frame.sort_values(PATIENT_COLUMN, kind="stable")
        return frame.reset_index(drop=True)

    def failures(self) -> pd.DataFrame:
        """Patients whose simulation failed, with the reason (empty with columns ``patient``, ``reason``)."""
        frame = self.read(FAILURES_TABLE)
        for column in FAILURE_COLUMNS:
            if column not in frame.columns:
                frame[column] = pd.Series(dtype="int64" if column == PATIENT_COLUMN else "object")
        return frame

    def database(self, path: str | None = None):
        """A DuckDB connection with one view per table over its completed chunks' Parquet files.

        ``path=None`` gives an in-memory database; a file name (e.g. ``"results.duckdb"``) persists the
        views in that file inside the run folder. Views list the completed chunks' files explicitly (not a
        glob) so a chunk interrupted mid-write is never read; call again after more chunks complete.
        The caller closes the connection (it is a context manager).
        """
        import duckdb

        if path is None:
            connection = duckdb.connect()
        else:
            if not isinstance(path, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", path) or ".." in path:
                raise InputError("path", path, f"a file name inside the run folder, e.g. {DATABASE_NAME!r}")
            connection = duckdb.connect(str(self.folder / path))
        for table in self.tables():
            files = ", ".join("'" + str(file).replace("'", "''") + "'" for file in self.table_files(table))
            connection.execute(f'CREATE OR REPLACE VIEW "{table}" AS '
                               f"SELECT * FROM read_parquet([{files}], union_by_name = true)")
        return connection

