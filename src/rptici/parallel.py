"""Chunked execution of patients: deterministic per-patient random streams, local executors and Dask.

Patients are split into contiguous chunks (``chunk_ranges``); each patient draws from its own stream,
``numpy.random.SeedSequence(seed, spawn_key=(patient,))``, the same as ``SeedSequence(seed).spawn(n)[patient]``,
so results do not depend on chunk size, worker count or executor. ``run_chunks`` sends chunks to any
``concurrent.futures.Executor`` (threads by default; processes; a Dask client), hands each result to
``on_result`` in the calling process as it completes (e.g. ``ResultStore.write_chunk``), records a failing
chunk with its traceback while the others continue, and shuts down whatever executor it started.

Executor specs (``executor_from``):

==========================  ==========================================================================
``None``, ``"local"``        threads, one per core: the compiled kernels release the GIL and already run
                             patients in parallel, so threads avoid pickling and process start-up
``"threads[:N]"``            ``ThreadPoolExecutor`` with N workers
``"processes[:N]"``          ``ProcessPoolExecutor`` (forkserver start on POSIX: safe beside threads)
``"serial"``                 runs each chunk at submission in the calling thread (debugging, profiling)
``"dask[:N]"``               a new ``distributed.LocalCluster`` with N worker processes, and its client
``"tcp://host:port"``        a client of a running Dask scheduler (also ``tls://``, ``ucx://``, ``inproc://``)
an ``Executor``              used as is (not shut down)
a ``distributed.Client``     used as is through ``client.get_executor()`` (not closed)
a Dask cluster object        e.g. a dask-jobqueue ``SLURMCluster``: a client is opened on it and closed after
==========================  ==========================================================================
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from rptici import seeds
from rptici.errors import InputError

DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://")


# chunks and random streams --------------------------------------------------------------------------
def chunk_ranges(patients: int, chunk_size: int) -> list[range]:
    """Contiguous patient index ranges of at most ``chunk_size``: [0, c), [c, 2c), ..., the last shorter."""
    for name, value, minimum in (("patients", patients, 0), ("chunk_size", chunk_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise InputError(name, value, f"an integer >= {minimum}")
    return [range(start, min(start + chunk_size, patients)) for start in range(0, patients, chunk_size)]


def patient_seed_sequences(seed: int, start: int, stop: int) -> list[np.random.SeedSequence]:
    """Seed sequences of patients ``start .. stop-1`` from the seed tree (:func:`rptici.seeds.patient_sequences`):
    patient i's depends on (seed, i) only, so any chunk can be seeded alone."""
    return seeds.patient_sequences(seeds.check_seed(seed), start, stop)


def patient_generators(seed: int, start: int, stop: int) -> list[np.random.Generator]:
    """One ``numpy.random.Generator`` (PCG64) per patient ``start .. stop-1`` (:func:`rptici.seeds.patients`)."""
    return seeds.patients(seeds.check_seed(seed), start, stop)


# executors ------------------------------------------------------------------------------------------
class SerialExecutor(futures.Executor):
    """Runs each call when it is submitted, in the calling thread: same interface, no concurrency."""

    def submit(self, function, /, *args, **kwargs):
        future: futures.Future = futures.Future()
        try:
            future.set_result(function(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 -- delivered through the future like other executors
            future.set_exception(error)
        return future


class DaskExecutor(futures.Executor):
    """A ``concurrent.futures.Executor`` over a Dask client; closes the client and cluster only if it owns them.

    Tasks are submitted with ``pure=False`` so that two chunks with equal arguments still both run.
    """

    def __init__(self, client: Any, *, owns_client: bool = False, cluster: Any = None):
        self.client = client
        self._executor = client.get_executor(pure=False)
        self._owns_client = owns_client
        self._cluster = cluster

    def submit(self, function, /, *args, **kwargs):
        return self._executor.submit(function, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait and not cancel_futures)
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    @property
    def workers(self) -> int:
        """Number of Dask workers currently connected."""
        return len(self.client.scheduler_info().get("workers", {}))


def _parse_workers(spec: str, text: str, workers: int | None) -> int:
    if text:
        try:
            workers = int(text)
        except ValueError:
            raise InputError("executor", spec, "a worker count after ':' as in 'threads:4'") from None
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("workers", workers, "an integer >= 1")
    return workers


def _process_context() -> multiprocessing.context.BaseContext | None:
    """forkserver where available: forking a process that runs threads (numba, Dask) can deadlock."""
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return None


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise InputError("executor", "dask", "an installed dask.distributed: pip install 'rptici[dask]'") from None
    return distributed


def executor_from(spec: Any = None, workers: int | None = None) -> tuple[futures.Executor, bool]:
    """An executor for ``spec`` (see the module docstring) and whether the caller owns it (must shut it down).

    ``workers`` sets the worker count when the spec does not (default: one per core).
    """
    if isinstance(spec, futures.Executor):
        return spec, False
    if spec is None or isinstance(spec, str):
        text = "local" if spec is None else spec.strip()
        if text.startswith(DASK_SCHEMES):
            distributed = _import_distributed()
            return DaskExecutor(distributed.Client(text), owns_client=True), True
        kind, _, count = text.partition(":")
        kind = kind.lower()
        if kind == "serial" and not count:
            return SerialExecutor(), True
        if kind in ("local", "threads"):
            return futures.ThreadPoolExecutor(_parse_workers(text, count, workers), thread_name_prefix="rptici"), True
        if kind == "processes":
            count_workers = _parse_workers(text, count, workers)
            return futures.ProcessPoolExecutor(count_workers, mp_context=_process_context()), True
        if kind == "dask":
            distributed = _import_distributed()
            cluster = distributed.LocalCluster(n_workers=_parse_workers(text, count, workers), threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            return DaskExecutor(distributed.Client(cluster), owns_client=True, cluster=cluster), True
        raise InputError("executor", spec, "'local', 'serial', 'threads[:N]', 'processes[:N]', 'dask[:N]', "
                                           "a scheduler address 'tcp://host:port', an Executor or a Dask Client")
    if "distributed" in sys.modules:
        distributed = sys.modules["distributed"]
        if isinstance(spec, distributed.Client):
            return DaskExecutor(spec), True  # the wrapper is ours; the client is not closed
        if hasattr(spec, "scheduler_address") and hasattr(spec, "close"):  # LocalCluster, dask-jobqueue
            return DaskExecutor(distributed.Client(spec), owns_client=True), True
    raise InputError("executor", type(spec).__name__, "'local', 'serial', 'threads[:N]', 'processes[:N]', "
                                                      "'dask[:N]', 'tcp://host:port', an Executor or a Dask Client")


# running chunks -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkFailure:
    """A chunk that raised: where (``"submit"``, ``"run"`` in the worker, ``"result"`` in ``on_result``),
    what, and the traceback text (the worker's, for processes and Dask)."""

    index: int
    stage: str
    error: str
    traceback: str


@dataclass
class ChunkReport:
    """Outcome of ``run_chunks``: completed chunk indices, failures with tracebacks, wall time in seconds."""

    completed: list[int] = field(default_factory=list)
    failed: list[ChunkFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed_indices(self) -> list[int]:
        return sorted(failure.index for failure in self.failed)

    def summary(self) -> str:
        """One line per failure after a count line, for logs and the CLI."""
        lines = [f"{len(self.completed)} chunk(s) completed, {len(self.failed)} failed in {self.seconds:.1f} s"]
        lines += [f"  chunk {failure.index} ({failure.stage}): {failure.error}" for failure in
                  sorted(self.failed, key=lambda failure: failure.index)]
        return "\n".join(lines)


def _failure(index: int, stage: str, error: BaseException) -> ChunkFailure:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return ChunkFailure(index=index, stage=stage, error=f"{type(error).__name__}: {error}", traceback=text)


def _as_indexed(chunks: Mapping[int, Any] | Iterable[Any]) -> list[tuple[int, Any]]:
    if isinstance(chunks, Mapping):
        return sorted(chunks.items(), key=lambda item: item[0])
    return list(enumerate(chunks))


def run_chunks(function: Callable[[Any], Any], chunks: Mapping[int, Any] | Iterable[Any],
               executor: Any = None, on_result: Callable[[int, Any], None] | None = None,
               progress: Callable[[int, int], None] | None = None, workers: int | None = None,
               max_pending: int | None = None) -> ChunkReport:
    """Run ``function(chunk)`` for every chunk on ``executor``; hand results to ``on_result(index, result)``.

    ``chunks`` is a mapping of chunk index to chunk (e.g. only the missing ones of a resumed run) or a
    sequence, indexed by position. Results are gathered as they complete and ``on_result`` runs in the
    calling thread, one at a time, so it may write files without locks; a result is released once handled,
    so memory holds at most ``max_pending`` chunks (default: all submitted at once). An exception in a
    chunk (or in its ``on_result``) is recorded with its traceback and the other chunks continue.
    ``progress(done, total)`` is called at the start and after each chunk. An executor made from a spec is
    shut down on return, also on KeyboardInterrupt (pending chunks are cancelled).
    """
    if max_pending is not None and (isinstance(max_pending, bool) or not isinstance(max_pending, int)
                                    or max_pending < 1):
        raise InputError("max_pending", max_pending, "None or an integer >= 1")
    queue = _as_indexed(chunks)
    queue.reverse()  # pop() from the end submits in index order
    report = ChunkReport()
    total, done = len(queue), 0
    start = time.perf_counter()
    if progress is not None:
        progress(0, total)
    if not queue:
        return report
    pool, owned = executor_from(executor, workers)
    window = max_pending or total
    pending: dict[futures.Future, int] = {}
    finished = False
    try:
        while queue or pending:
            while queue and len(pending) < window:
                index, chunk = queue.pop()
                try:
                    pending[pool.submit(function, chunk)] = index
                except Exception as error:  # noqa: BLE001 -- e.g. an argument Dask cannot serialise
                    report.failed.append(_failure(index, "submit", error))
                    done += 1
                    if progress is not None:
                        progress(done, total)
            if not pending:
                continue
            ready = sorted(futures.wait(pending, return_when=futures.FIRST_COMPLETED).done,
                           key=pending.__getitem__, reverse=True)
            while ready:
                future = ready.pop()  # lowest index first; dropped after use so its result can be freed
                index = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 -- isolated per chunk, reported with its traceback
                    report.failed.append(_failure(index, "run", error))
                else:
                    try:
                        if on_result is not None:
                            on_result(index, result)
                        report.completed.append(index)
                    except Exception as error:  # noqa: BLE001
                        report.failed.append(_failure(index, "result", error))
                    del result
                del future
                done += 1
                if progress is not None:
                    progress(done, total)
        finished = True
    finally:
        if not finished:
            for future in pending:
                future.cancel()
        if owned:
            pool.shutdown(wait=finished, cancel_futures=not finished)
    report.completed.sort()
    report.seconds = time.perf_counter() - start
    return report


class RichProgress:
    """A rich progress bar usable as ``run_chunks(..., progress=bar)``; use it as a context manager.

    ``with RichProgress("chunks") as bar: run_chunks(..., progress=bar)``
    """

    def __init__(self, description: str = "chunks", *, transient: bool = False, console: Any = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), transient=transient, console=console)
        self._description = description
        self._task: Any = None

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task(self._description, total=total)
        self._progress.update(self._task, completed=done, total=total)
