"""The dashboard: a FastAPI application serving server-rendered pages (Jinja2) with plotly figures.

Pages: ``/`` (the regimen form: run, download the scenario, load one back), ``/runs`` (recent runs),
``/runs/{id}`` (progress, then the figures, downloads and a link to the full HTML report ``/runs/{id}/report``),
``/registry`` (the trials table with filters and a replay button per replayable trial), ``/dosimetry`` (the
form's regimens at the disease's reference patient: doses, BED, limits with margins), ``/patient`` (one virtual
patient's trajectories) and ``/decisions`` (``rptici optimize`` results: the front and a chosen point's regimen
timeline, :mod:`rptici.web.decisions`). ``rptici serve`` runs it on 127.0.0.1.

Safety: the application answers only to the host names it is bound to (no DNS rebinding from a web
page); every input goes through the scenario models and an error is shown beside its field; run sizes
and times are capped by :class:`~rptici.web.limits.WebLimits`; run ids are generated here and checked
on every request, and downloads are limited to a fixed set of files inside the run's folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

import plotly
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from rptici.analysis.status import model_status
from rptici.errors import InputError
from rptici.report.html import summary_cell
from rptici.trials.endpoint_registry import summary_rows

from . import figures, forms, pages
from .jobs import SUMMARY_FILE, JobManager, Runner, Summarizer
from .limits import WebLimits
from .pages import Simulator
from .security import RequestGuard

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
REGISTRY_FILTERS = ("disease", "agent", "checkpoint_inhibitor", "phase", "status", "role")
#: Patients per arm of a replay started from the registry page (capped by WebLimits.max_patients).
REPLAY_PATIENTS = 200
ORDER_LABELS = {"concurrent": "concurrent", "ici_first": "ICI first (lead)", "rpt_first": "RPT first (ICI lag)"}
#: Rows of the results table before the endpoints': (summary key, label, kind, key of its 95 % interval or None).
#: Room in a request body for the form fields beside an uploaded scenario file (bytes).
FORM_OVERHEAD_BYTES = 16 * 1024
COUNT_ROWS = (("n", "patients simulated", "count", None), ("failed", "patients failed (excluded)", "count", None))


def serve_hosts(bind: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Host-header names the dashboard accepts when bound to ``bind``: localhost always, the bound address, and for
    a wildcard bind (0.0.0.0, ::) this machine's name and the ``extra`` names given — never any host at all."""
    import socket

    names = [*LOCAL_HOSTS, *extra]
    if bind in ("0.0.0.0", "::"):
        names += [socket.gethostname(), socket.getfqdn()]
    elif bind not in LOCAL_HOSTS:
        names.append(bind)
    return tuple(dict.fromkeys(name for name in names if name))


def create_app(run_root: str | os.PathLike[str], limits: WebLimits | None = None, *,
               allowed_hosts: Iterable[str] = LOCAL_HOSTS, runner: Runner | None = None,
               summarizer: Summarizer | None = None, simulator: Simulator | None = None,
               decisions_root: str | os.PathLike[str] | None = None) -> FastAPI:
    """The dashboard application writing runs under ``run_root`` with ``limits`` (defaults: :class:`WebLimits`);
    ``/decisions`` shows the ``rptici optimize`` results under ``decisions_root`` (default ``run_root/decisions``).

    ``runner``, ``summarizer`` and ``simulator`` replace :func:`rptici.trials.run.run_trial`,
    :func:`rptici.analysis.summary.summarize` and the single patient's :func:`rptici.api.simulate` (tests use
    small stand-ins).
    """
    limits = limits or WebLimits()
    jobs = JobManager(run_root, limits, runner, summarizer)
    simulate_patient = simulator or pages.default_simulator
    # single-patient simulations run in request threads: as many at once as runs may be active, no more
    simulations = threading.BoundedSemaphore(limits.max_active_runs)
    report_lock = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(title="rptici dashboard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jobs, app.state.limits = jobs, limits
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(RequestGuard, max_body_bytes=limits.max_upload_bytes + FORM_OVERHEAD_BYTES)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["cell"] = summary_cell
    templates.env.filters["pair"] = lambda value: (value, value)
    templates.env.filters["number"] = pages.number
    templates.env.globals.update(order_labels=ORDER_LABELS, limits=limits)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def dashboard(request: Request, form: Mapping[str, str], errors: Mapping[str, str] | None = None,
                  status_code: int = 200, notice: str = "") -> HTMLResponse:
        return page(request, "dashboard.html", status_code, form=form, errors=errors or {}, notice=notice,
                    **_form_options())

    def dosimetry_page(request: Request, form: Mapping[str, str], status_code: int = 200, notice: str = "",
                       scenario: Mapping[str, Any] | None = None) -> HTMLResponse:
        """The dosimetry of the form's regimens (or of ``scenario``'s arms, the form then only shown)."""
        if scenario is None:
            result, errors = pages.dosimetry_context(form, limits)
        else:
            result, errors = pages.dosimetry_result(scenario), {}
        return page(request, "dosimetry.html", status_code if not errors else 422, form=form, errors=errors,
                    result=result, notice=notice, model_status=model_status(forms.default_calibration()).as_dict(),
                    **_form_options())

    def patient_page(request: Request, form: Mapping[str, str], errors: Mapping[str, str] | None = None,
                     result: Mapping[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
        from rptici.api import UNCALIBRATED, engine_ready
        from rptici.simulation.solver import COMPILE_SECONDS

        return page(request, "patient.html", status_code, form=form, errors=errors or {}, result=result,
                    patient_fields=pages.PATIENT_FIELDS, compile_seconds=None if engine_ready() else COMPILE_SECONDS,
                    model_status=model_status(UNCALIBRATED).as_dict(), **_form_options())

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """No icon (pages say so with an empty data: icon; the run reports, written elsewhere, ask here)."""
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(InputError)
    def input_error(request: Request, error: InputError) -> Response:
        status_code = 404 if error.field == "run_id" else 400
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"field": error.field, "error": str(error)}, status_code=status_code)
        return page(request, "message.html", status_code, title="Not found" if status_code == 404 else "Bad request",
                    message=str(error))

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, run: str | None = None) -> HTMLResponse:
        """The form: defaults, or the scenario of run ``run`` to edit and run again."""
        if run is None:
            return dashboard(request, forms.default_form())
        return dashboard(request, forms.form_from_scenario(jobs.scenario_text(run), limits),
                         notice="Loaded the scenario of run " + run)

    @app.post("/runs")
    async def start_run(request: Request) -> Response:
        form = forms.read_form(await request.form())
        scenario, errors = await run_in_threadpool(forms.validate, form, limits)
        if errors:
            return dashboard(request, form, errors, 422)
        try:
            status = jobs.submit(scenario)  # type: ignore[arg-type]
        except InputError as error:
            return dashboard(request, form, {"form": str(error)}, 429)
        return RedirectResponse(f"/runs/{status.run_id}", status_code=303)

    @app.post("/scenario.yaml")
    async def download_form_scenario(request: Request) -> Response:
        """The scenario of the form as a YAML file, without running it."""
        form = forms.read_form(await request.form())
        scenario, errors = await run_in_threadpool(forms.validate, form, limits)
        if errors:
            return dashboard(request, form, errors, 422)
        return Response(forms.scenario_yaml(scenario), media_type="application/x-yaml",  # type: ignore[arg-type]
                        headers={"Content-Disposition": 'attachment; filename="scenario.yaml"'})

    @app.post("/scenario/load")
    async def load_scenario(request: Request) -> HTMLResponse:
        """Fill the form from an uploaded scenario file (read in memory, never stored)."""
        upload = (await request.form()).get("scenario_file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return dashboard(request, forms.default_form(), {"scenario_file": "Choose a scenario YAML file."}, 422)
        content = await upload.read(limits.max_upload_bytes + 1)
        try:
            if len(content) > limits.max_upload_bytes:
                raise InputError("scenario_file", f"more than {limits.max_upload_bytes} bytes",
                                 f"a file of at most {limits.max_upload_bytes} bytes")
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("scenario_file", upload.filename, "a UTF-8 text (YAML) file") from None
            form = forms.form_from_scenario(text, limits)
        except InputError as error:
            return dashboard(request, forms.default_form(), {"scenario_file": forms._message(error)}, 422)
        scenario, errors = forms.validate(form, limits)
        return dashboard(request, form, errors, 200 if not errors else 422,
                         notice=f"Loaded {Path(upload.filename).name}" + (": see the messages below" if errors else ""))

    @app.get("/runs", response_class=HTMLResponse)
    def list_runs(request: Request) -> HTMLResponse:
        return page(request, "runs.html", runs=jobs.runs())

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def show_run(request: Request, run_id: str) -> HTMLResponse:
        status = jobs.status(run_id)
        results = _results_context(jobs, run_id) if status.state == "done" else None
        return page(request, "run.html", status=status, results=results, scenario=jobs.scenario_text(run_id))

    @app.get("/runs/{run_id}/status")
    def run_status(run_id: str) -> JSONResponse:
        return JSONResponse(jobs.status(run_id).summary())

    @app.get("/runs/{run_id}/results", response_class=HTMLResponse)
    def run_results(request: Request, run_id: str) -> HTMLResponse:
        status = jobs.status(run_id)
        if status.state != "done":
            return page(request, "message.html", 409, title="Not finished", message=f"The run is {status.state}.")
        return page(request, "results.html", status=status, results=_results_context(jobs, run_id))

    @app.get("/runs/{run_id}/download/{name}")
    def download(run_id: str, name: str) -> Response:
        """scenario.yaml, summary.json, or one result table as ``<table>.parquet`` / ``<table>.csv``."""
        folder = jobs.folder(run_id)
        if name == "scenario.yaml":
            return FileResponse(folder / "scenario.yaml", media_type="application/x-yaml", filename="scenario.yaml")
        if name == SUMMARY_FILE and (folder / SUMMARY_FILE).is_file():
            return FileResponse(folder / SUMMARY_FILE, media_type="application/json", filename=SUMMARY_FILE)
        table, _, extension = name.rpartition(".")
        tables = _tables(jobs, run_id)
        if extension not in ("parquet", "csv") or table not in tables:
            raise InputError("download", name, "scenario.yaml, summary.json or one of "
                             + ", ".join(f"{table}.parquet, {table}.csv" for table in tables))
        frame = _store(jobs, run_id).read(table)
        buffer = io.BytesIO()
        if extension == "parquet":
            frame.to_parquet(buffer, index=False)
            media_type = "application/vnd.apache.parquet"
        else:
            buffer.write(frame.to_csv(index=False).encode("utf-8"))
            media_type = "text/csv"
        return Response(buffer.getvalue(), media_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{run_id}-{table}.{extension}"'})

    @app.get("/runs/{run_id}/report")
    def full_report(request: Request, run_id: str) -> Response:
        """The run's full HTML report (``rptici report``), written into the run folder the first time it is asked
        for and served from there afterwards."""
        status = jobs.status(run_id)
        if status.state != "done":
            return page(request, "message.html", 409, title="Not finished",
                        message=f"The run is {status.state}; its report can be written once it is done.")
        path = jobs.trial_folder(run_id) / REPORT_FILE
        with report_lock:
            if not path.is_file():
                try:
                    _write_report(jobs, run_id, status.trial, path)
                except (InputError, OSError, ValueError, KeyError) as error:
                    return page(request, "message.html", 500, title="Report not written",
                                message=f"The report of run {run_id} could not be written: {error}")
        return FileResponse(path, media_type="text/html; charset=utf-8")

    @app.get("/dosimetry", response_class=HTMLResponse)
    def dosimetry(request: Request, run: str | None = None) -> HTMLResponse:
        """Dosimetry of the default regimen, or of run ``run``'s regimens, at the disease's reference patient."""
        if run is None:
            return dosimetry_page(request, forms.default_form())
        text = jobs.scenario_text(run)
        scenario = yaml.safe_load(text)
        notice = f"The regimens of run {run}"
        try:
            form = forms.form_from_scenario(text, limits)
        except InputError:
            form, notice = forms.default_form(), notice + " (the form below cannot hold them all: it shows the default)"
        return dosimetry_page(request, form, notice=notice, scenario=scenario)

    @app.post("/dosimetry", response_class=HTMLResponse)
    async def dosimetry_of_form(request: Request) -> HTMLResponse:
        """Dosimetry of the regimens of a submitted form (the dashboard's or the dosimetry page's)."""
        form = pages.dosimetry_form(await request.form())
        return await run_in_threadpool(dosimetry_page, request, form)

    @app.get("/patient", response_class=HTMLResponse)
    def patient(request: Request) -> HTMLResponse:
        """The single-patient form (the dashboard's regimen A and an example patient); nothing simulated yet."""
        return patient_page(request, pages.patient_default_form())

    @app.post("/patient", response_class=HTMLResponse)
    async def simulate_one(request: Request) -> HTMLResponse:
        """Simulate the patient of the submitted form and show the trajectories."""
        form = pages.read_patient_form(await request.form())
        scenario, errors = await run_in_threadpool(pages.patient_scenario, form, limits)
        if errors:
            return patient_page(request, form, errors, status_code=422)
        if not simulations.acquire(blocking=False):
            return patient_page(request, form, {"form": "The dashboard is busy with other simulations; try again "
                                                        "in a moment."}, status_code=429)
        try:
            result = await run_in_threadpool(simulate_patient, scenario)
            context = await run_in_threadpool(pages.patient_context, result)
        except InputError as error:
            return patient_page(request, form, {"form": str(error)}, status_code=422)
        finally:
            simulations.release()
        return patient_page(request, form, result=context)

    decisions_folder = Path(decisions_root) if decisions_root is not None else Path(run_root) / "decisions"

    @app.get("/decisions", response_class=HTMLResponse)
    def decisions_list(request: Request) -> HTMLResponse:
        from . import decisions

        return page(request, "decisions.html", results=decisions.results(decisions_folder), root=decisions_folder)

    @app.get("/decisions/{name}", response_class=HTMLResponse)
    def decisions_result(request: Request, name: str) -> HTMLResponse:
        """One optimisation result: its front and the timeline of the point chosen with ``?point=N``."""
        from . import decisions

        try:
            context = decisions.result_context(decisions_folder, name, request.query_params.get("point"))
        except InputError as error:
            return page(request, "message.html", 404 if error.field == "result" else 422, title="Not shown",
                        message=str(error))
        return page(request, "decisions.html", **context)

    @app.get("/decisions/{name}/report")
    def decisions_report(request: Request, name: str) -> Response:
        from . import decisions

        try:
            folder = decisions.result_folder(decisions_folder, name)
        except InputError as error:
            return page(request, "message.html", 404, title="Not shown", message=str(error))
        path = folder / decisions.REPORT_FILE
        if not path.is_file():
            return page(request, "message.html", 404, title="No report", message=f"{name} has no report.html")
        return FileResponse(path, media_type="text/html; charset=utf-8")

    @app.get("/registry", response_class=HTMLResponse)
    def registry_page(request: Request) -> HTMLResponse:
        from rptici.trials import registry

        filters = {key: (request.query_params.get(key) or "").strip() for key in REGISTRY_FILTERS}
        errors: dict[str, str] = {}
        try:
            rows = registry().filter(**{key: value for key, value in filters.items() if value}).summary_rows()
        except InputError as error:
            errors[error.field] = forms._message(error)
            rows = []
        from .replay import replay_problem

        problems = {record.name: replay_problem(record) for record in registry()}
        return page(request, "registry.html", 200 if not errors else 422, rows=rows, filters=filters,
                    errors=errors, problems=problems, replay_patients=min(REPLAY_PATIENTS, limits.max_patients))

    @app.post("/registry/{name}/replay")
    async def replay(request: Request, name: str) -> Response:
        """Start a run of the trial's regimen (and its control arm, when it has one) in its disease."""
        from . import replay as replay_scenarios

        submitted = await request.form()
        try:
            patients = forms._whole(str(submitted.get("patients") or REPLAY_PATIENTS), "patients", 1,
                                    limits.max_patients, f"a whole number of patients per arm from 1 to "
                                                         f"{limits.max_patients}")
            scenario = replay_scenarios.replay_scenario(name, patients)
            scenario["follow_up"] = _capped_follow_up(scenario.get("follow_up"), limits)
        except InputError as error:
            return page(request, "message.html", 400, title="Cannot replay", message=str(error))
        try:
            status = jobs.submit(scenario, trial=name)
        except InputError as error:
            return page(request, "message.html", 429, title="Busy", message=str(error))
        return RedirectResponse(f"/runs/{status.run_id}", status_code=303)

    return app


REPORT_FILE = "report.html"


def _form_options() -> dict[str, Any]:
    """The choices of the regimen forms: diseases, every catalogued agent (those that cannot be simulated greyed
    out with the reason)."""
    return {"diseases": forms.disease_options(), "rpt_options": forms.rpt_agent_options(),
            "ici_options": forms.ici_agent_options()}


def _write_report(jobs: JobManager, run_id: str, trial: str | None, path: Path) -> None:
    """Write the run's HTML report to ``path`` (through a temporary file, so that a half-written report is never
    served); a replay's report shows its comparison with the reported results."""
    from rptici.report.trial import write_trial_report

    replay = None
    if trial:
        try:
            from rptici.analysis.replay import compare
            from rptici.store import ResultStore
            from rptici.trials import registry
            from rptici.trials.scenario import load_trial_scenario

            store = ResultStore(jobs.trial_folder(run_id))
            tables = {name: store.read(name) for name in ("patients", "failures") if name in store.tables()}
            scenario = yaml.safe_load(jobs.scenario_text(run_id))
            replay = compare(registry().get(trial), load_trial_scenario(scenario), tables)
        except Exception:  # noqa: BLE001 - the report is still written, without the comparison
            replay = None
    temporary = path.with_name(f".{threading.get_ident()}.{path.name}")
    try:
        write_trial_report(jobs.trial_folder(run_id), temporary, replay=replay)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _calibration_text(calibration: Any) -> str:
    """How the run was calibrated, in words (an uncalibrated run says so)."""
    source = calibration.get("source") if isinstance(calibration, Mapping) else calibration
    if not source or source == "none":
        return "none: the model's own parameters (no fitted calibration installed), so numbers are illustrative"
    return str(source)


def _capped_follow_up(text: Any, limits: WebLimits) -> str:
    """A replay's follow-up, at most ``limits.max_follow_up_months``."""
    from rptici.trials.endpoints import to_months
    from rptici.units import parse_positive

    months = float(to_months(parse_positive(str(text), "time", "follow_up")))
    return f"{min(months, limits.max_follow_up_months):g} months"


def _store(jobs: JobManager, run_id: str):
    from rptici.store import ResultStore

    return ResultStore(jobs.trial_folder(run_id))


def _tables(jobs: JobManager, run_id: str) -> list[str]:
    if not (jobs.trial_folder(run_id) / "manifest.json").is_file():
        return []
    return _store(jobs, run_id).tables()


def _best_change(jobs: JobManager, run_id: str) -> dict[str, list[float]]:
    """Best percentage change per arm from the patients table (empty when the table has no such column)."""
    if "patients" not in _tables(jobs, run_id):
        return {}
    frame = _store(jobs, run_id).read("patients")
    column = next((name for name in ("best_percent_change", "best_change_percent", "best_change")
                   if name in frame.columns), None)
    if column is None or "arm" not in frame.columns:
        return {}
    return {str(arm): group[column].dropna().astype(float).tolist() for arm, group in frame.groupby("arm", sort=False)}


def _results_context(jobs: JobManager, run_id: str) -> dict[str, Any]:
    summary = jobs.summary(run_id) or {}
    endpoints = figures.km_endpoints(summary)
    km = [figures.to_html(figures.km_figure(summary, endpoint), f"km-{endpoint}") for endpoint in endpoints]
    best = _best_change(jobs, run_id)
    arms = summary.get("arms") or []
    try:
        scenario = yaml.safe_load(jobs.scenario_text(run_id)) or {}
        labels = {str(arm.get("name")): forms.regimen_label(arm.get("regimen")) for arm in scenario.get("arms", [])}
    except (yaml.YAMLError, AttributeError, TypeError):
        labels = {}
    return {
        "labels": labels,
        "calibration": _calibration_text(summary.get("calibration")),
        "model_status": summary.get("model_status") or model_status(summary.get("calibration")).as_dict(),
        "summary": summary, "arms": arms,
        "rows": [row for row in (*COUNT_ROWS, *summary_rows()) if any(arm.get(row[0]) is not None for arm in arms)]
        if arms else [],
        "km": km,
        "waterfall": figures.to_html(figures.waterfall_figure(best), "waterfall") if best else None,
        "toxicity": figures.to_html(figures.toxicity_figure(summary), "toxicity")
        if any(isinstance(arm.get("grade3plus_rate"), Mapping) for arm in arms) else None,
        "tables": _tables(jobs, run_id),
        "replay": summary.get("replay"), "replay_error": summary.get("replay_error"),
    }
