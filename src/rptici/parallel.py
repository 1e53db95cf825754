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


def worker_environment(workers: int) -> dict[str, str]:
    """Environment of local worker processes: the compiled kernel's threads (``NUMBA_NUM_THREADS``) share the
    cores among the workers, so that N workers on N cores do not run N² threads; an explicit setting is kept."""
    if "NUMBA_NUM_THREADS" in os.environ:
        return {"NUMBA_NUM_THREADS": os.environ["NUMBA_NUM_THREADS"]}
    return {"NUMBA_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // max(1, workers)))}


def _share_cores(threads: int) -> None:
    """Process-pool initializer: the compiled kernel runs ``threads`` threads in this worker."""
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


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
            return futures.ProcessPoolExecutor(count_workers, mp_context=_process_context(), initializer=_share_cores,
                                               initargs=(int(worker_environment(count_workers)["NUMBA_NUM_THREADS"]),)
                                               ), True
        if kind == "dask":
            distributed = _import_distributed()
            count_workers = _parse_workers(text, count, workers)
            cluster = distributed.LocalCluster(n_workers=count_workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, env=worker_environment(count_workers))
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


def _as_indexed(chunks: Mapping[int, Any] | Iterable[Any]) -> tuple[list[int], Callable[[int], Any]]:
    """(chunk indices in order, index → chunk): a mapping's chunks are looked up only when submitted, so a
    lazy mapping (:class:`LazyChunks`) builds each chunk just in time and memory holds the pending ones only."""
    if isinstance(chunks, Mapping):
        return sorted(chunks), chunks.__getitem__
    items = list(chunks)
    return list(range(len(items))), items.__getitem__


class LazyChunks(Mapping):
    """A read-only mapping index → ``build(index)`` over ``indices``, built on access (not cached): with
    ``run_chunks(max_pending=...)`` only the chunks in flight exist at any time."""

    def __init__(self, indices: Iterable[int], build: Callable[[int], Any]):
        self._indices = sorted(int(index) for index in indices)
        self._members = frozenset(self._indices)
        self._build = build

    def __getitem__(self, index: int) -> Any:
        if index not in self._members:
            raise KeyError(index)
        return self._build(index)

    def __iter__(self):
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)


def executor_slots(pool: Any) -> int:
    """How many chunks ``pool`` runs at once: its workers (threads, processes, Dask workers × threads), 1 if unknown."""
    if isinstance(pool, DaskExecutor):
        try:
            workers = pool.client.scheduler_info().get("workers", {})
            return max(1, sum(int(worker.get("nthreads", 1)) for worker in workers.values()))
        except Exception:  # noqa: BLE001 -- a scheduler that does not answer: the window stays small
            return 1
    return max(1, int(getattr(pool, "_max_workers", 1) or 1))


#: ``max_pending="auto"``: chunks in flight per slot of the executor (one running, one or two queued, so
#: that no worker waits for the next chunk), and the least window whatever the executor says.
PENDING_PER_SLOT, MIN_PENDING = 2, 4


def run_chunks(function: Callable[[Any], Any], chunks: Mapping[int, Any] | Iterable[Any],
               executor: Any = None, on_result: Callable[[int, Any], None] | None = None,
               progress: Callable[[int, int], None] | None = None, workers: int | None = None,
               max_pending: int | None = None) -> ChunkReport:
    """Run ``function(chunk)`` for every chunk on ``executor``; hand results to ``on_result(index, result)``.

    ``chunks`` is a mapping of chunk index to chunk (e.g. only the missing ones of a resumed run) or a
    sequence, indexed by position. Results are gathered as they complete and ``on_result`` runs in the
    calling thread, one at a time, so it may write files without locks; a result is released once handled,
    so memory holds at most ``max_pending`` chunks (default: all submitted at once; ``"auto"``:
    :data:`PENDING_PER_SLOT` per worker of the executor, at least :data:`MIN_PENDING`). An exception in a
    chunk (or in its ``on_result``) is recorded with its traceback and the other chunks continue.
    ``progress(done, total)`` is called at the start and after each chunk. An executor made from a spec is
    shut down on return, also on KeyboardInterrupt (pending chunks are cancelled).
    """
    if max_pending is not None and max_pending != "auto" and (
            isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1):
        raise InputError("max_pending", max_pending, "None, 'auto' or an integer >= 1")
    queue, chunk_at = _as_indexed(chunks)
    queue.reverse()  # pop() from the end submits in index order
    report = ChunkReport()
    total, done = len(queue), 0
    start = time.perf_counter()
    if progress is not None:
        progress(0, total)
    if not queue:
        return report
    pool, owned = executor_from(executor, workers)
    window = max(MIN_PENDING, PENDING_PER_SLOT * executor_slots(pool)) if max_pending == "auto" \
        else max_pending or total
    pending: dict[futures.Future, int] = {}
    finished = False
    try:
        while queue or pending:
            while queue and len(pending) < window:
                index = queue.pop()
                try:
                    pending[pool.submit(function, chunk_at(index))] = index
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


def _rate_column(unit: str) -> Any:
    """A rich column showing the measured rate in ``unit`` per second (blank until rich has an estimate)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="progress.data.speed")

    return RateColumn()


class RichProgress:
    """A rich progress bar usable as ``run_chunks(..., progress=bar)``; use it as a context manager.

    ``with RichProgress("chunks") as bar: run_chunks(..., progress=bar)``. With ``items_per_chunk`` (e.g. the
    chunk size) it counts items instead of chunks: ``RichProgress("patients", items_per_chunk=2000,
    items=10**6)`` shows patients done of the total, patients per second and the time left (ETA), ``items``
    capping the count where the last chunk is shorter.
    """

    def __init__(self, description: str = "chunks", *, transient: bool = False, console: Any = None,
                 items_per_chunk: int | None = None, items: int | None = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if items_per_chunk is not None:
            columns.append(_rate_column(description))
        self._progress = Progress(*columns, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  transient=transient, console=console)
        self._description = description
        self._per_chunk = items_per_chunk
        self._items = items
        self._task: Any = None

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self._progress.stop()

    def _scaled(self, chunks: int, total: int) -> tuple[int, int]:
        """(done, total) in items: chunks × items per chunk, capped at ``items`` (a shorter last chunk)."""
        if self._per_chunk is None:
            return chunks, total
        whole = total * self._per_chunk if self._items is None else min(total * self._per_chunk, self._items)
        return min(chunks * self._per_chunk, whole), whole

    def __call__(self, done: int, total: int) -> None:
        done, total = self._scaled(done, total)
        if self._task is None:
            self._task = self._progress.add_task(self._description, total=total)
        self._progress.update(self._task, completed=done, total=total)


# evaluations (calibration, sensitivity, optimisation) ------------------------------------------------------
class EvaluationError(RuntimeError):
    """An evaluation of :func:`map_ordered` raised: the first failure's message, with its (worker's) traceback."""

    def __init__(self, failure: ChunkFailure, failed: int, total: int):
        super().__init__(f"{failed} of {total} evaluation(s) failed; evaluation {failure.index} ({failure.stage}): "
                         f"{failure.error}\n{failure.traceback}")
        self.failure = failure


def map_ordered(function: Callable[[Any], Any], items: Iterable[Any], executor: Any = None) -> list[Any]:
    """``[function(item) for item in items]`` on ``executor`` (a spec or an executor, as :func:`run_chunks`), in
    the items' order: at most :data:`PENDING_PER_SLOT` items per worker in flight, every item run even when one
    fails, then :class:`EvaluationError` with the first failure's traceback. ``executor=None`` runs here, serially.
    Calibration, sensitivity analysis and optimisation evaluate their candidates through this."""
    items = list(items)
    if executor is None:
        executor = SerialExecutor()
    results: dict[int, Any] = {}
    report = run_chunks(function, items, executor=executor, on_result=results.__setitem__, max_pending="auto")
    if report.failed:
        first = min(report.failed, key=lambda failure: failure.index)
        raise EvaluationError(first, len(report.failed), len(items))
    return [results[index] for index in range(len(items))]


_SHARED: dict[str, futures.Executor] = {}


def shared_executor(spec: Any) -> Any:
    """The executor of ``spec`` (:func:`executor_from`), kept open and reused by every later call with the same
    spec string in this process, so that a fit which evaluates one generation at a time starts its worker
    processes or Dask cluster once (their imports, compiled kernel and cached calibration targets stay warm)
    instead of once per generation; closed at exit (:func:`close_shared_executors`). An executor or client given as
    an object is returned as is (its owner closes it); None stays None (evaluate here)."""
    if spec is None or not isinstance(spec, str):
        return spec
    key = spec.strip()
    if key not in _SHARED:
        pool, _ = executor_from(key)
        if not _SHARED:
            import atexit

            atexit.register(close_shared_executors)
        _SHARED[key] = pool
    return _SHARED[key]


def close_shared_executors() -> None:
    """Shut down the executors that :func:`shared_executor` opened."""
    while _SHARED:
        _, pool = _SHARED.popitem()
        try:
            pool.shutdown()
        except Exception:  # noqa: BLE001 -- at exit a cluster may already be gone
            pass
