"""Background runs of virtual trials for the dashboard: a thread pool, progress, a time cap, run folders.

Each run lives in its own folder ``<run_root>/<run_id>/``: ``scenario.yaml`` (what was asked),
``status.json`` (state, progress, message; rewritten atomically), ``trial/`` (the result store that
:func:`rptici.run_trial` writes) and ``summary.json`` (:func:`rptici.summarize`).
Run ids are made here (16 lowercase hex digits) and every path the web layer opens goes through
:meth:`JobManager.folder`, which accepts only such an id and only a folder inside the run root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from rptici.errors import InputError, RpticiError

from .forms import scenario_yaml
from .limits import WebLimits

RUN_ID = re.compile(r"[0-9a-f]{16}")
STATES = ("queued", "running", "done", "failed", "stopped")
SCENARIO_FILE = "scenario.yaml"
STATUS_FILE = "status.json"
SUMMARY_FILE = "summary.json"
TRIAL_FOLDER = "trial"

#: runner(scenario mapping, output folder, progress(done, total), chunk size) -> None
Runner = Callable[[Mapping[str, Any], Path, Callable[[int, int], None], int], None]
Summarizer = Callable[[Path], dict]


class RunTimeExceeded(RpticiError):
    """A run went past ``WebLimits.max_run_seconds``."""


@dataclass
class RunStatus:
    """What the run page shows: state, chunks of patients done of total, a message, times (seconds since the epoch)."""

    run_id: str
    state: str = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    name: str = ""
    trial: str | None = None  # the registry trial a replay compares with
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        return self.done / self.total if self.total else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "fraction": self.fraction}


SIMULATING = "simulating virtual patients"


def _starting_message() -> str:
    """What a run says before its first chunk: that the engine compiles first, when it is not compiled yet."""
    from rptici.api import engine_ready
    from rptici.simulation.solver import COMPILE_SECONDS

    if engine_ready():
        return SIMULATING
    return f"compiling the engine (first run only, about {COMPILE_SECONDS} s), then {SIMULATING}"


def default_runner(scenario: Mapping[str, Any], folder: Path, progress: Callable[[int, int], None],
                   chunk_size: int) -> None:
    """Run the scenario with :func:`rptici.run_trial` into ``folder``."""
    from rptici.api import load_scenario, run_trial

    run = run_trial(load_scenario(dict(scenario), kind="trial"), folder, chunk_size=chunk_size, progress=progress)
    failed = getattr(getattr(run, "report", None), "failed", None)
    if failed:
        raise RpticiError(f"{len(failed)} chunk(s) of patients failed; the first: {failed[0]}")


def default_summarizer(folder: Path) -> dict:
    from rptici.api import summarize

    return summarize(folder)


def _patients(scenario: Mapping[str, Any]) -> int:
    """Patients of a scenario: the per-arm numbers when given, else the total."""
    arms = scenario.get("arms") or ()
    per_arm = [arm.get("patients") for arm in arms if isinstance(arm, Mapping)]
    if per_arm and all(isinstance(number, int) for number in per_arm):
        return int(sum(per_arm))
    return int(scenario.get("patients") or 0)


def _chunk_size(patients: int) -> int:
    """Small enough for about ten progress steps, large enough to keep per-chunk overhead low."""
    return max(10, min(500, -(-patients // 5)))


def _replay_rows(trial: str, scenario: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """{'replay': rows of simulated versus reported}, or {'replay_error': why} (the run itself stays done)."""
    try:
        from rptici.store import ResultStore

        from .replay import replay_comparison

        store = ResultStore(folder)
        tables = {name: store.read(name) for name in ("patients", "failures") if name in store.tables()}
        return {"replay": replay_comparison(trial, dict(scenario), tables)}
    except Exception as error:  # noqa: BLE001 - shown on the run page
        return {"replay_error": f"{type(error).__name__}: {error}"}


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=_json_default), encoding="utf-8")
    os.replace(temporary, path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


class JobManager:
    """Starts runs in a thread pool, tracks their progress, stops the ones that take too long."""

    def __init__(self, run_root: str | os.PathLike[str], limits: WebLimits, runner: Runner | None = None,
                 summarizer: Summarizer | None = None):
        self.root = Path(run_root).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name (serve --run-root /etc/passwd), no permission, /proc
            raise InputError("run_root", str(run_root), f"a folder for the dashboard's runs that can be created "
                                                        f"there ({error.strerror or error})") from None
        self.limits = limits
        self.runner = runner or default_runner
        self.summarizer = summarizer or default_summarizer
        self._executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="rptici-run")
        self._lock = threading.Lock()
        self._statuses: dict[str, RunStatus] = {}

    # paths -------------------------------------------------------------------------------------------
    def folder(self, run_id: str) -> Path:
        """The folder of run ``run_id``; InputError for anything but an existing run's id."""
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise InputError("run_id", run_id, "a run id of 16 lowercase hexadecimal digits")
        folder = (self.root / run_id).resolve()
        if folder.parent != self.root or not folder.is_dir():
            raise InputError("run_id", run_id, "the id of an existing run")
        return folder

    def trial_folder(self, run_id: str) -> Path:
        return self.folder(run_id) / TRIAL_FOLDER

    # state -------------------------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus:
        folder = self.folder(run_id)
        with self._lock:
            if run_id in self._statuses:
                return RunStatus(**asdict(self._statuses[run_id]))
        path = folder / STATUS_FILE
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"run_id": run_id}
        status = RunStatus(**{key: data[key] for key in RunStatus.__dataclass_fields__ if key in data})
        if status.state in ("queued", "running"):  # left over from a server that stopped
            status.state, status.message = "stopped", "the server stopped before this run finished"
        return status

    def _update(self, status: RunStatus, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(status, key, value)
            snapshot = asdict(status)
        _write_json(self.root / status.run_id / STATUS_FILE, snapshot)

    def active(self) -> int:
        with self._lock:
            return sum(status.state in ("queued", "running") for status in self._statuses.values())

    def runs(self) -> list[RunStatus]:
        """Recent runs, newest first (at most ``limits.max_runs_listed``)."""
        ids = [path.name for path in self.root.iterdir() if path.is_dir() and RUN_ID.fullmatch(path.name)]
        statuses = [self.status(run_id) for run_id in ids]
        statuses.sort(key=lambda status: status.created, reverse=True)
        return statuses[: self.limits.max_runs_listed]

    def scenario_text(self, run_id: str) -> str:
        return (self.folder(run_id) / SCENARIO_FILE).read_text(encoding="utf-8")

    def summary(self, run_id: str) -> dict | None:
        path = self.folder(run_id) / SUMMARY_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # running -----------------------------------------------------------------------------------------
    def submit(self, scenario: Mapping[str, Any], trial: str | None = None) -> RunStatus:
        """Write the scenario into a new run folder and queue the run; InputError when too many are active."""
        if self.active() >= self.limits.max_active_runs:
            raise InputError("runs", self.active(), f"at most {self.limits.max_active_runs} runs queued or running; "
                                                    "wait for one to finish")
        run_id = secrets.token_hex(8)
        folder = self.root / run_id
        folder.mkdir()
        (folder / SCENARIO_FILE).write_text(scenario_yaml(scenario), encoding="utf-8")
        status = RunStatus(run_id=run_id, name=str(scenario.get("name", "")), trial=trial)
        with self._lock:
            self._statuses[run_id] = status
        self._update(status)
        self._executor.submit(self._execute, status, dict(scenario))
        return status

    def _execute(self, status: RunStatus, scenario: dict[str, Any]) -> None:
        folder = self.root / status.run_id
        started = time.monotonic()
        self._update(status, state="running", started=time.time(), message=_starting_message())

        def progress(done: int, total: int) -> None:
            changes = {"message": SIMULATING} if done else {}  # after the first chunk the engine is compiled
            self._update(status, done=int(done), total=int(total), **changes)
            if time.monotonic() - started > self.limits.max_run_seconds:
                raise RunTimeExceeded(f"the run took longer than {self.limits.max_run_seconds:g} s "
                                      "(the dashboard's cap per run); use fewer patients or `rptici trial run`")

        try:
            self.runner(scenario, folder / TRIAL_FOLDER, progress, _chunk_size(_patients(scenario)))
            self._update(status, message="summarising")
            summary = self.summarizer(folder / TRIAL_FOLDER)
            if status.trial:
                summary = {**summary, **_replay_rows(status.trial, scenario, folder / TRIAL_FOLDER)}
            _write_json(folder / SUMMARY_FILE, summary)
        except RunTimeExceeded as error:
            self._update(status, state="stopped", message=str(error), finished=time.time())
        except RpticiError as error:
            self._update(status, state="failed", message=str(error), finished=time.time())
        except Exception as error:  # noqa: BLE001 - a failed run is reported on its page, never raised
            traceback.print_exc()
            self._update(status, state="failed", message=f"{type(error).__name__}: {error}", finished=time.time())
        else:
            self._update(status, state="done", message="finished", finished=time.time())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
