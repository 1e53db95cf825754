"""Command-line interface: a thin layer over the Python API. Every computing command has ``--json``."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputError, RpticiError, shown
from .units import format_number

app = typer.Typer(help="rptici: radiopharmaceutical therapy combined with immune checkpoint inhibitors.",
                  no_args_is_help=True, add_completion=False)
agents_app = typer.Typer(help="The catalogue of radiopharmaceuticals and checkpoint inhibitors.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

console = Console()
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _clean(value: Any) -> Any:
    """Make a result JSON-safe: NumPy scalars and arrays to Python, NaN to null."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_text(value: Any) -> str:
    return json.dumps(_clean(value), indent=2, ensure_ascii=False)


#: Widest table (unwrapped, in terminal widths) still shown as a table with wrapped cells; wider ones are shown
#: one row at a time, so that no cell is folded into slivers.
WRAP_LIMIT = 1.6


def _print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]],
                 no_wrap: Sequence[str] = ()) -> None:
    """``rows`` of cell strings under ``columns``, whole. In a terminal: a rich table whose cells wrap (those in
    ``no_wrap`` kept on one line) when unwrapped it is at most :data:`WRAP_LIMIT` terminal widths, else one block
    per row ("column: value"). Piped or redirected: plain tab-separated lines with the title first, nothing cut."""
    rows = [list(row) for row in rows]
    if not console.is_terminal:
        typer.echo(title)
        for line in [list(columns)] + rows:
            typer.echo("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in line))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=column in no_wrap, overflow="fold")
    for row in rows:
        table.add_row(*row)
    unwrapped = console.measure(table, options=console.options.update_width(10**6)).maximum
    if unwrapped <= WRAP_LIMIT * console.width:
        console.print(table)
        return
    console.print(f"[bold]{title}[/bold]")
    for row in rows:
        console.print("")
        for column, cell in zip(columns, row):
            console.print(f"  {column}: {cell}", soft_wrap=True, highlight=False)


def _emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(_json_text(result))
        return
    _print_table(title, ("field", "value"), ([key, _display(value)] for key, value in _clean(result).items()))


def _display(value: Any) -> str:
    """A short human reading of a JSON value: 4 significant digits, mappings as ``key=value``."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return format_number(value, 4)  # 11,926 and 7,791 alike; never 1e+09
    if isinstance(value, dict):
        return ", ".join(f"{key}={_display(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(_display(item) for item in value) or "none"
    return str(value)


class _StderrLines(logging.Handler):
    """Log records as plain lines on the current stderr (also when a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=True)


def _say_engine_progress() -> None:
    """Show the engine's notices (``rptici.engine`` log, e.g. its first compilation) as plain lines on stderr."""
    logger = logging.getLogger("rptici.engine")
    if not any(isinstance(handler, _StderrLines) for handler in logger.handlers):
        logger.addHandler(_StderrLines(logging.INFO))
        logger.setLevel(logging.INFO)


def _warn(lines: Iterable[str] | None) -> None:
    """Results beyond any clinical range (``warnings`` of a summary), one ``warning:`` line each on stderr."""
    for line in lines or ():
        typer.echo(f"warning: {line}", err=True)


def _run(action: Callable[[], None]) -> None:
    """Run a command; a user error becomes one clear line on stderr and exit status 2. So does a file-system error
    on a path the user gave (a folder where a file is expected, a name too long, no permission, a full disk): the
    readers and writers refuse the paths they can judge (InputError), and this line names the path of the rest."""
    _say_engine_progress()
    try:
        action()
    except RpticiError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except OSError as error:
        path = error.filename if error.filename is not None else "a file"
        typer.echo(f"error: {shown(str(path))}: got {error.strerror or error}; expected a path that can be read or "
                   "written there", err=True)
        raise typer.Exit(code=2) from None


@app.command()
def nuclide(name: str = typer.Argument(..., help="Radionuclide, e.g. Lu-177, 177Lu, Ac-225."),
            no_daughters: bool = typer.Option(False, "--no-daughters", help="Energy of the parent alone."),
            as_json: bool = JSON_OPTION) -> None:
    """Half-life, decay chain and mean energy per decay by radiation type (ICRP-107)."""
    from .physics import Nuclide

    _run(lambda: _emit(Nuclide(name, include_daughters=not no_daughters).summary(), as_json, name))


@app.command()
def sphere(nuclide_name: str = typer.Option(..., "--nuclide", help="Radionuclide, e.g. Lu-177."),
           mass: str = typer.Option(..., "--mass", help="Sphere mass with unit, e.g. '10 g' (unit density)."),
           rbe: Optional[float] = typer.Option(None, "--rbe", help="RBE of α particles (default from the data file)."),
           as_json: bool = JSON_OPTION) -> None:
    """Self-dose S-value of a unit-density sphere (tumour model), split by radiation type."""
    from .dosimetry import (alpha_absorbed_fraction, default_alpha_rbe, electron_absorbed_fraction,
                            photon_absorbed_fraction, sphere_radius_cm, sphere_s_value)
    from .physics import Nuclide
    from .units import parse_positive

    def action() -> None:
        source = Nuclide(nuclide_name)
        mass_g = parse_positive(mass, "mass", "mass")
        s_value = sphere_s_value(source, mass_g)
        weight = default_alpha_rbe() if rbe is None else rbe
        _emit({
            "nuclide": source.name, "mass_g": mass_g, "radius_cm": float(sphere_radius_cm(mass_g)),
            "s_value_mGy_per_MBq_h": float(s_value.total),
            "s_value_by_radiation_mGy_per_MBq_h": {"alpha": s_value.alpha, "electron": s_value.electron,
                                                    "photon": s_value.photon},
            "rbe_weighted_s_value_mGy_per_MBq_h": float(s_value.rbe_weighted(weight)), "alpha_rbe": weight,
            "absorbed_fraction": {"alpha": alpha_absorbed_fraction(source, mass_g),
                                  "electron": electron_absorbed_fraction(source, mass_g),
                                  "photon": photon_absorbed_fraction(source, mass_g)},
            "daughters_included": source.daughters_included,
        }, as_json, f"{source.name} sphere, {mass}")

    _run(action)


@app.command()
def bed(dose: str = typer.Option(..., "--dose", help="Absorbed dose, e.g. '20 Gy'."),
        alpha_beta: str = typer.Option(..., "--alpha-beta", help="α/β of the tissue, e.g. '2.6 Gy'."),
        repair_half_time: str = typer.Option(..., "--repair-half-time", help="Repair half-time, e.g. '2.8 h'."),
        effective_half_life: str = typer.Option(..., "--effective-half-life", help="Effective half-life, e.g. '50 h'."),
        uptake_half_life: Optional[str] = typer.Option(None, "--uptake-half-life", help="Uptake half-life, e.g. '1 h'."),
        as_json: bool = JSON_OPTION) -> None:
    """BED and EQD2 of a radionuclide dose: Lea–Catcheside G for mono-exponential or uptake–washout kinetics."""
    from .radiobiology import bed_closed_form, eqd2, g_factor_monoexponential, g_factor_uptake_washout
    from .units import parse_positive

    def action() -> None:
        dose_gy = parse_positive(dose, "dose", "dose", allow_zero=True)
        ratio = parse_positive(alpha_beta, "dose", "alpha_beta")
        repair = parse_positive(repair_half_time, "time", "repair_half_time")
        effective = parse_positive(effective_half_life, "time", "effective_half_life")
        if uptake_half_life is None:
            g, form = g_factor_monoexponential(effective, repair), "mono-exponential (G = T_rep / (T_rep + T_eff))"
        else:
            uptake = parse_positive(uptake_half_life, "time", "uptake_half_life")
            g, form = g_factor_uptake_washout(uptake, effective, repair), "uptake and washout"
        bed_gy = float(bed_closed_form(dose_gy, ratio, g))
        _emit({"dose_Gy": dose_gy, "alpha_beta_Gy": ratio, "repair_half_time_h": repair * 24,
               "effective_half_life_h": effective * 24, "kinetics": form, "g_factor": float(g), "bed_Gy": bed_gy,
               "eqd2_Gy": float(eqd2(bed_gy, ratio)), "equation": "BED = D (1 + G D / (α/β)); EQD2 = BED / (1 + 2 Gy / (α/β))"},
              as_json, "BED")

    _run(action)


@agents_app.command("list")
def agents_list(kind: Optional[str] = typer.Option(None, "--kind", help="'radiopharmaceutical' or 'checkpoint_inhibitor'."),
                as_json: bool = JSON_OPTION) -> None:
    """List the radiopharmaceuticals and checkpoint inhibitors rptici knows; ``biokinetics``: whether a
    radiopharmaceutical has a biokinetic model (``rptici simulate`` and ``rptici regimen dose`` run for it)."""
    from .data.catalogue import checkpoint_inhibitors, radiopharmaceuticals
    from .kinetics import known_agents

    def action() -> None:
        kinds = {"radiopharmaceutical": radiopharmaceuticals, "checkpoint_inhibitor": checkpoint_inhibitors}
        if kind is not None and kind not in kinds:
            raise InputError("--kind", kind, "'radiopharmaceutical' or 'checkpoint_inhibitor'")
        simulated = set(known_agents())
        rows = [{**agent.summary(), **({"biokinetics": agent.name in simulated} if name == "radiopharmaceutical" else {})}
                for name, load in kinds.items() if kind in (None, name) for agent in load().values()]
        if as_json:
            typer.echo(_json_text(rows))
            return
        columns = ("name", "kind", "target", "nuclide", "status", "biokinetics")
        shown = {True: "yes", False: "no"}
        _print_table("Agents", columns, ([shown.get(row.get(column), str(row.get(column) or "–"))
                                          if column == "biokinetics" else str(row.get(column) or "–")
                                          for column in columns] for row in rows))

    _run(action)


@agents_app.command("show")
def agents_show(name: str = typer.Argument(..., help="Agent name or alias, e.g. Pluvicto, pembrolizumab."),
                as_json: bool = JSON_OPTION) -> None:
    """Everything the catalogue holds on one agent, with sources."""
    from .data.catalogue import agent

    _run(lambda: _emit(agent(name).summary(), as_json, name))


@app.command()
def tia(file: Path = typer.Argument(..., help="Patient dataset (YAML) or measurements (CSV with units in the header)."),
        model: str = typer.Option("auto", "--model", help="auto, mono, bi, tri, mono_uptake, bi_uptake, tri_uptake."),
        monte_carlo: int = typer.Option(0, "--monte-carlo", help="Monte Carlo draws for the TIA uncertainty (0: none)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo draws."),
        as_json: bool = JSON_OPTION) -> None:
    """Fit each region's time–activity curve and integrate it: time-integrated activity with uncertainty."""
    from .dosimetry import read_measurements, tia_monte_carlo

    def action() -> None:
        fits = read_measurements(file).fit(model)
        result = {}
        for region, fit in fits.items():
            result[region] = fit.summary()
            if monte_carlo:
                result[region]["monte_carlo"] = tia_monte_carlo(fit, monte_carlo, seed).summary()
        if as_json:
            typer.echo(_json_text(result))
            return
        _print_table(f"Time-integrated activity: {file.name}",
                     ("region", "model", "effective half-lives (h)", "TIA (MBq h)", "± SE",
                      "95 % interval (Student t)", "degrees of freedom"),
                     ([region, summary["model"], _display(summary["effective_half_lives_h"]),
                       _display(summary["tia_MBq_h"]), _display(summary["tia_standard_error_MBq_h"]),
                       "–".join(_display(bound) for bound in summary["tia_interval_95_MBq_h"]),
                       str(summary["degrees_of_freedom"])]
                      for region, summary in result.items()))

    _run(action)


@app.command("s-values")
def s_values_command(
        nuclide_name: str = typer.Option(..., "--nuclide", help="Radionuclide, e.g. Lu-177 (any ICRP-107 nuclide)."),
        phantom: str = typer.Option("male", "--phantom", help="Adult reference phantom: male or female."),
        weight: Optional[float] = typer.Option(None, "--weight", help="Body mass (kg) the cross-dose is scaled to."),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write the table as 'target,source,S [mGy/(MBq*h)]' "
                                                                   "(usable with rptici dose --s-values)."),
        as_json: bool = JSON_OPTION) -> None:
    """Organ S-values of a reference phantom: self-dose at the ICRP 89 organ masses, photon cross-dose between
    kidneys, liver, spleen, salivary glands, red marrow and the remainder of the body (docs/dosimetry.md)."""
    from .dosimetry.phantom import ORGANS, s_value_table
    from .physics import Nuclide

    def action() -> None:
        if phantom not in ("male", "female"):
            raise InputError("--phantom", phantom, "male or female")
        source = Nuclide(nuclide_name)
        regions = ORGANS + ("remainder",)
        table = s_value_table(source, phantom, ORGANS, regions, body_mass_kg=weight)
        if csv_out is not None:
            lines = ["# rptici s-values: stylised adult reference phantom (docs/dosimetry.md)", "target,source,S [mGy/(MBq*h)]"]
            lines += [f"{target},{source_name},{value:.6e}" for (target, source_name), value in table.items()]
            csv_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = {"nuclide": source.name, "phantom": phantom, "body_mass_kg": weight, "unit": "mGy/(MBq h)",
                  "regions": list(regions),
                  "s_values": {f"{target} <- {source_name}": value for (target, source_name), value in table.items()}}
        if csv_out is not None:
            result["csv"] = str(csv_out)
        if as_json:
            typer.echo(_json_text(result))
            return
        _print_table(f"{source.name} S-values (mGy/(MBq h)), adult {phantom} phantom; rows: target, columns: source",
                     ("target", *regions),
                     ([target, *(_display(table.get((target, name))) for name in regions)] for target in ORGANS),
                     no_wrap=("target",))

    _run(action)


@app.command()
def dose(file: Path = typer.Argument(..., help="Patient dataset (YAML): nuclide, activity, measurements, masses, tissues."),
         model: str = typer.Option("auto", "--model", help="TAC model, or 'auto' for AIC selection."),
         s_values: Optional[Path] = typer.Option(None, "--s-values", help="CSV of S-values (target,source,S [unit])."),
         rbe: Optional[float] = typer.Option(None, "--rbe", help="RBE of α particles (default 5)."),
         monte_carlo: int = typer.Option(0, "--monte-carlo", help="Monte Carlo draws for the TIA 95 % interval."),
         phantom: str = typer.Option("male", "--phantom",
                                     help="Reference phantom for the photon cross-dose between regions: male, female, "
                                          "or none (self-dose only)."),
         weight: Optional[float] = typer.Option(None, "--weight", help="Body mass (kg) the cross-dose is scaled to."),
         out: Optional[Path] = typer.Option(None, "--out", help="Folder for report.html and dosimetry.json."),
         as_json: bool = JSON_OPTION) -> None:
    """Absorbed dose, BED and limits per region from measured time–activity data, with an HTML report."""
    from .dosimetry import SValueTable, read_measurements
    from .radiobiology.assessment import assess_patient
    from .report.dosimetry import write_dosimetry_report

    def action() -> None:
        table = SValueTable.from_csv(s_values) if s_values else None
        if phantom not in ("male", "female", "none"):
            raise InputError("--phantom", phantom, "male, female or none (self-dose only)")
        result = assess_patient(read_measurements(file), model=model, rbe=rbe, s_values=table,
                                monte_carlo_draws=monte_carlo, phantom=None if phantom == "none" else phantom,
                                body_mass_kg=weight)
        summary = result.summary()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "dosimetry.json").write_text(_json_text(summary))
            summary["report"] = str(write_dosimetry_report(result, out / "report.html"))
        if as_json:
            typer.echo(_json_text(summary))
            return
        def row(region) -> list[str]:
            tightest = min((limit for limit in region.limits if limit.applies), key=lambda limit: limit.margin_Gy,
                           default=None)
            return [region.region, region.fit.model, _display(region.fit.tia), _display(region.rbe_weighted_dose_Gy),
                    _display(region.dose_per_activity_Gy_per_GBq), _display(region.bed_Gy),
                    "–" if tightest is None else f"{tightest.quantity.upper()} {tightest.limit_Gy:g}",
                    "–" if tightest is None else _display(tightest.margin_Gy),
                    "–" if tightest is None or tightest.further_cycles is None else str(tightest.further_cycles)]

        _print_table(f"Dosimetry: {result.patient or file.name} ({result.agent or result.nuclide}, "
                     f"{result.administered_activity_MBq / 1000:.4g} GBq)",
                     ("region", "model", "TIA (MBq h)", "dose (Gy)", "Gy/GBq", "BED (Gy)", "limit (Gy)", "margin (Gy)",
                      "further cycles"),
                     map(row, result.regions.values()), no_wrap=("region", "model"))
        _warn(summary["warnings"])
        if out is not None:
            console.print(f"report: {summary['report']}")

    _run(action)


@app.command("image-dose")
def image_dose_command(study: Path = typer.Argument(..., help="Imaging study (YAML): nuclide, activity, images with "
                                                              "times and calibration, label map with regions."),
                       out: Path = typer.Option(..., "--out", help="Folder for the NIfTI maps, dvh.parquet, "
                                                                   "dvh_band.parquet, image_dose.json and report.html."),
                       predict: Optional[int] = typer.Option(None, "--predict-cycles", help="Also predict cycles "
                                                              "2..N from this (cycle-1) study: cycles.json."),
                       activity: Optional[str] = typer.Option(None, "--activity", help="Activity of each later cycle "
                                                              "(e.g. 7.4GBq; default: the study's)."),
                       half_life_factor: float = typer.Option(1.0, "--half-life-factor", help="Later cycles' "
                                                              "effective half-life / cycle 1's."),
                       volume_factor: float = typer.Option(1.0, "--volume-factor", help="Later cycles' lesion "
                                                           "volume / cycle 1's (same TIA: dose x 1/factor)."),
                       as_json: bool = JSON_OPTION) -> None:
    """Quantitative SPECT/CT to TIA, dose and BED maps, per-region D2/D50/D98, DVHs with bands, an HTML report."""
    from .imaging import load_study, predict_cycles, run_study, write_outputs
    from .report.imaging import write_image_dose_report
    from .units import parse_positive

    def action() -> None:
        if predict is None and activity is not None:
            raise InputError("--activity", activity, "only with --predict-cycles N")
        result = run_study(load_study(study))
        summary = {**result.summary(), "files": write_outputs(result, out)}
        summary["files"]["report"] = str(write_image_dose_report(result, Path(out) / "report.html"))
        if predict is not None:
            later = summary["administered_activity_MBq"] if activity is None else \
                parse_positive(activity, "activity", "--activity")
            summary["cycles"] = predict_cycles(summary, predict, later, half_life_factor=half_life_factor,
                                               volume_factor=volume_factor)
            (out / "cycles.json").write_text(_json_text(summary["cycles"]))
        if as_json:
            typer.echo(_json_text(summary))
            return
        rows = ([name, _display(region["volume_mL"]), _display(region["mean_Gy"]), _display(region["D2_Gy"]),
                 _display(region["D50_Gy"]), _display(region["D98_Gy"]), _display(region.get("bed_mean_Gy"))]
                for name, region in summary["regions"].items())
        _print_table(f"Image dose: {study.name} ({summary['nuclide']}, {summary['dose_method']}, {summary['tia_method']})",
                     ("region", "volume (mL)", "mean (Gy)", "D2 (Gy)", "D50 (Gy)", "D98 (Gy)", "BED mean (Gy)"), rows,
                     no_wrap=("region",))
        if predict is not None:
            _print_table(f"Cycles 1-{predict} (cycle 1 measured)",
                         ("region", "dose per cycle (Gy)", "cumulative dose (Gy)", "± (Gy)", "cumulative BED (Gy)"),
                         ([name, "; ".join(_display(dose) for dose in region["dose_Gy"]),
                           _display(region["cumulative_dose_Gy"]), _display(region["cumulative_dose_standard_error_Gy"]),
                           _display(region.get("cumulative_bed_Gy"))]
                          for name, region in summary["cycles"]["regions"].items()), no_wrap=("region",))
        for note in summary["notes"]:
            console.print(f"note: {note}")
        console.print(f"output: {out}")

    _run(action)


regimen_app = typer.Typer(help="From a treatment regimen to dose, BED and checkpoint occupancy.", no_args_is_help=True)
app.add_typer(regimen_app, name="regimen")


@regimen_app.command("dose")
def regimen_dose_command(
        scenario: Path = typer.Argument(..., help="Scenario YAML: regimen, patient, optional patients and seed."),
        rbe: Optional[float] = typer.Option(None, "--rbe", help="RBE of α particles (default from the data file)."),
        self_dose_only: bool = typer.Option(False, "--self-dose-only",
                                            help="Organ self-dose only, without the reference phantom's photon "
                                                 "cross-dose (for comparison)."),
        as_json: bool = JSON_OPTION) -> None:
    """Absorbed dose, Gy/GBq, BED, EQD2 and limit margins per organ and lesion; occupancy with an ICI."""
    from .api import load_scenario, regimen_dose

    def action() -> None:
        loaded = load_scenario(scenario, "dose")
        result = regimen_dose(loaded, rbe=rbe, cross_dose=not self_dose_only)
        summary = {"scenario": loaded.name or scenario.name, "patient": "reference",
                   "s_values": "organ self-dose only" if self_dose_only else
                   f"organ self-dose + photon cross-dose of the stylised adult {loaded.sex} phantom",
                   **result.summary(0)}
        if loaded.cohort_size:
            summary["cohort"] = {"seed": loaded.seed, "spread_log_normal_sigma": loaded.sigmas,
                                 **result.cohort_summary()}
        if as_json:
            typer.echo(_json_text(summary))
            return
        def row(region: str, values: dict[str, Any]) -> list[str]:
            tightest = min((limit for limit in values["limits"] if limit["applies"]), key=lambda limit: limit["margin_Gy"],
                           default=None)
            return [region, _display(values["rbe_weighted_dose_Gy"]), _display(values["dose_per_activity_Gy_per_GBq"]),
                    _display(values["bed_Gy"]), _display(values["eqd2_Gy"]),
                    "–" if tightest is None else f"{tightest['name']} {tightest['limit_Gy']:g} Gy, margin "
                    f"{tightest['margin_Gy']:.3g}{' EXCEEDED' if tightest['exceeded'] else ''}"]

        _print_table(f"{summary['scenario']}: {result.agent}, "
                     f"{summary['total_activity_administered_MBq'] / 1000:.4g} GBq in {len(summary['cycles'])} cycles",
                     ("region", "dose (Gy)", "Gy/GBq", "BED (Gy)", "EQD2 (Gy)", "tightest limit"),
                     (row(region, values) for region, values in summary["regions"].items()))
        for region, values in summary["regions"].items():
            for limit in values["limits"]:
                if not limit["applies"]:
                    typer.echo(f"{region}: {limit['name']} {limit['limit_Gy']:g} Gy not applied: {limit['why']}")
        _warn(summary["warnings"])
        if "ici" in summary:
            ici = summary["ici"]
            console.print(f"{ici['agent']} ({ici['target']}): trough occupancy {100 * ici['trough_occupancy']:.1f} %, "
                          f"mean {100 * ici['mean_occupancy']:.1f} %")

    _run(action)


@regimen_app.command("plot")
def regimen_plot_command(
        scenario: Path = typer.Argument(..., help="Scenario YAML: regimen, patient, optional patients and seed."),
        out: Path = typer.Option(..., "--out", help="Output file, .png or .html (self-contained)."),
        patient: int = typer.Option(0, "--patient", help="Patient index (0: the reference patient)."),
        as_json: bool = JSON_OPTION) -> None:
    """Activity per compartment, cumulative dose and checkpoint occupancy over time, as PNG or HTML."""
    from .api import load_scenario, regimen_dose
    from .report.regimen import write_regimen_plot

    def action() -> None:
        if out.suffix.lower() not in (".png", ".html"):
            raise InputError("--out", str(out), "a file name ending in .png or .html")
        loaded = load_scenario(scenario, "dose")
        if not 0 <= patient <= loaded.cohort_size:
            raise InputError("--patient", patient, f"a patient index from 0 to {loaded.cohort_size}")
        result = regimen_dose(loaded)
        path = write_regimen_plot(result, out, patient, loaded.name)
        _emit({"scenario": loaded.name or scenario.name, "patient": patient, "file": str(path)}, as_json, "regimen plot")

    _run(action)


registry_app = typer.Typer(help="The registry of RPT + ICI trials (validation) and monotherapy trials (calibration).",
                           no_args_is_help=True)
app.add_typer(registry_app, name="registry")
IMPORT_OPTION = typer.Option(None, "--import", help="ClinicalTrials.gov API v2 study records (JSON file) to add.")


def _registry(imported: Optional[Path]):
    from .trials import registry

    return registry() if imported is None else registry().add_clinicaltrials_gov(imported, replace=True)


@registry_app.command("list")
def registry_list(disease: Optional[str] = typer.Option(None, "--disease", help="e.g. prostate, NET, lung."),
                  agent: Optional[str] = typer.Option(None, "--agent", help="Radiopharmaceutical, e.g. Lu-PSMA-617, Ra-223."),
                  checkpoint_inhibitor: Optional[str] = typer.Option(None, "--checkpoint-inhibitor",
                                                                     help="e.g. pembrolizumab, PD-L1."),
                  phase: Optional[str] = typer.Option(None, "--phase", help="e.g. I, II."),
                  status: Optional[str] = typer.Option(None, "--status", help="e.g. completed, recruiting."),
                  role: Optional[str] = typer.Option(None, "--role", help="validation, calibration or imported."),
                  imported: Optional[Path] = IMPORT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List trials, filtered by disease, agent, checkpoint inhibitor, phase, status or role."""

    def action() -> None:
        rows = _registry(imported).filter(disease=disease, agent=agent, checkpoint_inhibitor=checkpoint_inhibitor,
                                          phase=phase, status=status, role=role).summary_rows()
        if as_json:
            typer.echo(_json_text(rows))
            return
        columns = ("name", "disease", "phase", "rpt", "ici", "n", "role", "replayable")
        _print_table(f"Trials ({len(rows)}, {sum(bool(row['replayable']) for row in rows)} replayable)", columns,
                     ([_display(row.get(column)) if column != "replayable" else ("yes" if row[column] else "no")
                       for column in columns] for row in rows), no_wrap=("name",))

    _run(action)


@registry_app.command("show")
def registry_show(name: str = typer.Argument(..., help="NCT number or acronym, e.g. NCT03658447 or PRINCE."),
                  imported: Optional[Path] = IMPORT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """One trial: design, regimen, what was reported, source."""
    _run(lambda: _emit(_registry(imported).get(name).summary(), as_json, name))


@app.command("report")
def report_command(folder: Path = typer.Argument(..., help="Run folder written by 'rptici trial run'."),
                   out: Optional[Path] = typer.Option(None, "--out", help="HTML file (default DIR/report.html)."),
                   as_json: bool = JSON_OPTION) -> None:
    """Write the self-contained HTML report of a virtual-trial run (figures embedded, opens offline)."""
    from .report.trial import write_trial_report

    _run(lambda: _emit({"folder": str(folder), "report": str(write_trial_report(folder, out))}, as_json, "report"))


@app.command("serve")
def serve_command(host: str = typer.Option("127.0.0.1", "--host",
                                           help="Address to bind; the default serves this machine only."),
                  port: int = typer.Option(8000, "--port", help="TCP port."),
                  run_root: Path = typer.Option(Path("rptici-runs"), "--run-root",
                                                help="Folder for the runs (created; nothing is written elsewhere)."),
                  allowed_hosts: Optional[list[str]] = typer.Option(
                      None, "--allowed-host", help="A name other machines use to reach the dashboard (repeat); "
                                                   "with --host 0.0.0.0 only these, this machine's name and "
                                                   "localhost are accepted in the Host header."),
                  decisions: Optional[Path] = typer.Option(None, "--decisions", help="Folder of 'rptici optimize --out' results shown on /decisions (default: RUN_ROOT/decisions).")
                  ) -> None:  # pragma: no cover - starts a server; tests use rptici.web.create_app
    """Start the local web dashboard (regimen form, runs with progress, figures, downloads, registry)."""
    def action() -> None:
        if not 1 <= port <= 65535:
            raise InputError("port", port, "a TCP port from 1 to 65535")
        try:
            import uvicorn

            from .web import create_app
            from .web.app import LOCAL_HOSTS, serve_hosts
        except ImportError as error:
            typer.echo(f"error: the dashboard needs the 'web' extra (pip install 'rptici[web]'): {error}", err=True)
            raise typer.Exit(code=2) from None
        hosts = serve_hosts(host, allowed_hosts or ())
        if host not in LOCAL_HOSTS:
            typer.echo(f"warning: serving on {host}: other machines on the network can reach the dashboard "
                       f"(Host names accepted: {', '.join(hosts)})", err=True)
        dashboard = create_app(run_root, allowed_hosts=hosts, decisions_root=decisions)  # refuses a run root it cannot create, before the banner
        typer.echo(f"rptici dashboard on http://{host}:{port}/ (runs in {run_root.resolve()})")
        uvicorn.run(dashboard, host=host, port=port, log_level="warning")

    _run(action)


@app.command("simulate")
def simulate_command(
        scenario: Path = typer.Argument(..., help="Scenario YAML: regimen (or prescribed_rpt), patient or population."),
        patients: Optional[int] = typer.Option(None, "--patients", help="Number of patients (default: the scenario's)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling a population."),
        days: Optional[float] = typer.Option(None, "--days", help="Horizon in days (default: the scenario's, else 365)."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Trajectories as FILE.png or FILE.html."),
        lesions_from: Optional[Path] = typer.Option(None, "--lesions-from", help="An image-dose output folder: its "
                                                    "lesions (volume, dose per cycle, DVH) become the patient's."),
        as_json: bool = JSON_OPTION) -> None:
    """Tumour, PSA, lymphocytes, occupancy, dose and BED over time for one patient or a small cohort."""
    from .api import load_scenario, simulate, simulation_summary
    from .data import read_mapping

    def action() -> None:
        if plot is not None and plot.suffix.lower() not in (".png", ".html"):
            raise InputError("--plot", str(plot), "a file name ending in .png or .html")
        source = scenario if lesions_from is None else {**read_mapping(scenario, "scenario", "a simulation scenario"),
                                                        "kind": "simulation"}
        result = simulate(load_scenario(source, "simulation") if lesions_from is None else source, patients,
                          days=days, seed=seed, lesions_from=lesions_from)
        summary = simulation_summary(result)
        if plot is not None:
            from .report.simulation import write_simulation_plot

            run = {"times": result["time"].values, "values": result}
            summary["plot"] = str(write_simulation_plot(run, plot, result.attrs["scenario"]))
        if as_json:
            typer.echo(_json_text(summary))
            return
        _print_table(f"{summary['scenario']}: {len(summary['patients'])} patient(s), {summary['days']:g} d",
                     ("patient", "status", "final change (%)", "best change (%)", "lesion dose (Gy)",
                      "marrow dose (Gy)"),
                     ([str(row["patient"]), row["status"] + (f": {row['reason']}" if row["reason"] else ""),
                       _display(row["final_change_percent"]), _display(row["best_change_percent"]),
                       _display(row["lesion_dose_Gy"]), _display(row["marrow_dose_Gy"])]
                      for row in _clean(summary["patients"])))
        if "twin_lesions" in summary:
            _print_table("Measured lesions (digital twin)",
                         ("lesion", "region", "volume (mL)", "course dose (Gy)", "dose CV", "EUD (Gy)", "alpha factor"),
                         ([row["lesion"], row["region"], _display(row["volume_mL"]), _display(row["course_dose_Gy"]),
                           _display(row["dose_cv"]), _display(row["eud_Gy"]), _display(row["alpha_factor"])]
                          for row in summary["twin_lesions"]), no_wrap=("lesion", "region"))
        _warn(summary["warnings"])
        _status_line(summary["model_status"])
        if plot is not None:
            console.print(f"plot: {summary['plot']}")

    _run(action)


trial_app = typer.Typer(help="Virtual trials: run a scenario into a results folder, summarise it.", no_args_is_help=True)
app.add_typer(trial_app, name="trial")


def _arm_table(summary: dict[str, Any], title: str) -> None:
    """Per arm: n, failed, then what each registered endpoint shows (rptici.trials.endpoint_registry), in words
    with units and 95 % intervals (the report's and the dashboard's formatting)."""
    from .report.html import summary_cell
    from .trials.endpoint_registry import summary_rows

    shown = [(key, label, kind, interval) for key, label, kind, interval in summary_rows()
             if any(key in row for row in summary["arms"])]
    columns = ["arm", "patients", "failed"] + [label for _, label, _, _ in shown]
    rows = []
    for row in _clean(summary["arms"]):
        cells = [str(row.get("arm")), _display(row.get("n")), _display(row.get("failed"))]
        for key, _, kind, interval in shown:
            value = row.get(key)
            if interval is not None and isinstance(row.get(interval), list) and not isinstance(value, list):
                value = [value, *row[interval]]
            reached = value is not None and not (isinstance(value, list) and value[0] is None)
            cells.append(summary_cell(value, kind) if reached or kind != "months" else "not reached")
        rows.append(cells)
    _print_table(title, columns, rows, no_wrap=("patients", "failed"))
    if summary.get("prediction"):
        _print_table(f"95 % prediction intervals from {summary['prediction']['members']} calibration-ensemble members "
                     f"({summary['prediction']['patients_per_member']} patients each)", ("arm", "estimate", "interval"),
                     ([str(row["arm"]), key, f"{_display(low)} – {_display(high)}"]
                      for row in _clean(summary["arms"]) for key, (low, high) in row.get("prediction", {}).items()))
    _warn(summary.get("warnings"))
    if summary.get("complete") is False:
        typer.echo(f"INCOMPLETE: {summary.get('chunks_done')} of {summary.get('chunks')} chunks of patients are "
                   "finished; these numbers cover only their patients (run 'rptici trial run' into the same folder "
                   "to finish it).")
    _status_line(summary.get("model_status"))


def _fail_if_an_arm_failed(summary: dict[str, Any]) -> None:
    """Exit 1, with the reasons, when every patient of some arm failed (nothing was simulated for it)."""
    lost = [str(row.get("arm")) for row in summary.get("arms", []) if not row.get("n") and row.get("failed")]
    if lost:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in (summary.get("failure_reasons") or {}).items())
        typer.echo(f"error: every patient of arm(s) {', '.join(lost)} failed: {reasons or 'see failures'}", err=True)
        raise typer.Exit(code=1)


def _status_line(status: dict[str, Any] | None) -> None:
    """The model's validation status under every table of predictions (rptici.analysis.status)."""
    if status:
        typer.echo(f"Model status: {status['headline']}")


@trial_app.command("run")
def trial_run(scenario: Path = typer.Argument(..., help="Trial scenario (YAML), e.g. examples/trials/prince_like.yaml."),
              patients: Optional[int] = typer.Option(None, "--patients", help="Total virtual patients (split by arm ratio)."),
              seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default: the scenario's)."),
              out: Path = typer.Option(..., "--out", help="Results folder; re-running into it completes missing chunks."),
              chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Patients per chunk (one Parquet file each)."),
              executor: str = typer.Option("local", "--executor", help="local, serial, processes:N, dask[:N] or tcp://host:port."),
              ensemble: int = typer.Option(0, "--ensemble", min=0, help="Members of the calibration ensemble that give each arm's endpoints a 95 % prediction interval (0: none)."),
              client_writes: bool = typer.Option(False, "--client-writes", help="On Dask, send each chunk's tables back to be written here (workers without a shared file system); by default workers write into --out."),
              as_json: bool = JSON_OPTION) -> None:
    """Run (or resume) a virtual trial; results in Parquet chunks with a DuckDB view, then a summary."""

    def action() -> None:
        from .api import predict, run_trial, summarize
        from .parallel import RichProgress
        from .trials.run import run_size

        if as_json:
            run = run_trial(scenario, out, patients=patients, seed=seed, chunk_size=chunk_size, executor=executor,
                            worker_writes=False if client_writes else None)
        else:
            total, size = run_size(scenario, patients, chunk_size)
            with RichProgress("patients", items_per_chunk=size, items=total) as bar:
                run = run_trial(scenario, out, patients=patients, seed=seed, chunk_size=chunk_size,
                                executor=executor, progress=bar, worker_writes=False if client_writes else None)
        with run.store.database("results.duckdb"):
            pass
        if ensemble:
            predict(run.folder, ensemble)
        summary = summarize(run.folder)
        summary["chunk_failures"] = [failure.error for failure in run.report.failed]
        summary["folder"] = str(run.folder)
        if as_json:
            typer.echo(_json_text(summary))
            _fail_if_an_arm_failed(summary)
            return
        typer.echo(run.report.summary())
        _arm_table(summary, f"{summary.get('name')}: {summary['patients']} patients, {summary['failed']} failed")
        typer.echo(f"results: {run.folder}")
        if run.report.failed:
            raise typer.Exit(code=1)
        _fail_if_an_arm_failed(summary)

    _run(action)


@trial_app.command("summary")
def trial_summary(folder: Path = typer.Argument(..., help="Results folder of `rptici trial run`."),
                  html: Optional[Path] = typer.Option(None, "--html", help="Also write the self-contained HTML report."),
                  as_json: bool = JSON_OPTION) -> None:
    """Per arm: n, ORR, PSA50, median PFS and OS, hazard ratios against the control arm, grade >= 3 by cause; KM."""

    def action() -> None:
        from .api import summarize

        summary = summarize(folder)
        if html is not None:
            from .report.trial import write_trial_report

            written = write_trial_report(folder, html)
            if not as_json:
                typer.echo(f"HTML report: {written}")
        if as_json:
            typer.echo(_json_text(summary))
            return
        _arm_table(summary, f"{summary.get('name')}: {summary['patients']} patients, {summary['failed']} failed")

    _run(action)


@app.command()
def calibrate(trials: Optional[list[str]] = typer.Option(None, "--trials", help="Monotherapy trials to fit (repeat); default all."),
              patients: int = typer.Option(100, "--patients", help="Virtual patients per trial."),
              seed: int = typer.Option(1, "--seed", help="Random seed (common random numbers for every evaluation)."),
              evaluations: int = typer.Option(80, "--evaluations", help="Most objective evaluations."),
              method: str = typer.Option("nelder-mead", "--method", help="Optimiser: nelder-mead (local) or cma (CMA-ES, global)."),
              out: Optional[Path] = typer.Option(None, "--out", help="Calibration file to write (YAML)."),
              step: float = typer.Option(0.2, "--step", help="CMA-ES initial step, a fraction of each parameter's log range (0.05 refines a warm start)."),
              history: Optional[Path] = typer.Option(None, "--history", help="Evaluation log (JSON lines): a re-run with the same file resumes the fit."),
              executor: Optional[str] = typer.Option(None, "--executor", help="Evaluate each CMA-ES generation in parallel: processes:N, dask:N or a scheduler address."),
              parameters: Optional[list[str]] = typer.Option(None, "--parameters", help="Fit only these parameters (repeat; a block fit): the others stay at the --start calibration's values and the written ensemble joins its ensemble. Default all."),
              start: Optional[str] = typer.Option(None, "--start", help="Calibration name or YAML file whose values start the search (and hold the parameters not fitted); default the packaged values."),
              as_json: bool = JSON_OPTION) -> None:
    """Fit the uncertain parameters to the monotherapy trials only; writes the parameter file and sim-vs-reported."""

    def action() -> None:
        from .analysis.calibration import DEFAULT_TRIALS, PARAMETERS, calibrate as fit, write_calibration
        from .trials.scenario import calibration_document, load_calibration

        log = None if as_json else (lambda message: console.print(message))
        values = {} if start is None else load_calibration(start).values
        result = fit(tuple(trials) if trials else DEFAULT_TRIALS, patients=patients, seed=seed,
                     max_evaluations=evaluations, method=method, log=log, history=history, executor=executor, step=step,
                     parameters=parameters or None,
                     start={name: value for name, value in values.items() if name in PARAMETERS},
                     held_ensemble=calibration_document(start or "default")[0].get("ensemble") if parameters else None)
        if out is not None:
            write_calibration(result, out)
        document = result.document()
        if as_json:
            typer.echo(_json_text(document))
            return
        columns = ("trial", "arm", "endpoint", "reported", "simulated")
        _print_table(f"calibration: J = {result.objective:.3g} after {result.evaluations} evaluations", columns,
                     ([_display(row.get(column)) for column in columns] for row in _clean(document["table"])))
        _emit({name: entry["value"] for name, entry in document["parameters"].items()}, False, "fitted parameters")

    _run(action)


@app.command()
def validate(patients: int = typer.Option(600, "--patients", help="Virtual patients per trial."),
             seed: int = typer.Option(1, "--seed", help="Random seed."),
             calibration: str = typer.Option("default", "--calibration", help="Calibration name or YAML file."),
             ensemble: int = typer.Option(0, "--ensemble", min=0, help="Members of the calibration ensemble that give each endpoint a 95 % prediction interval (0: none)."),
             out: Optional[Path] = typer.Option(None, "--out", help="Folder for validation.json and validation.html."),
             docs: Optional[Path] = typer.Option(None, "--docs", help="Also write the report as Markdown (docs/validation.md)."),
             write_status: bool = typer.Option(False, "--write-status", help="Write the counts into the package's data/model_status.yaml (default settings only)."),
             seeds: Optional[str] = typer.Option(None, "--seeds", help="Other seeds whose counts and direction checks the report also gives, e.g. 2,3,4."),
             as_json: bool = JSON_OPTION) -> None:
    """Credibility report: code verification, calibration and validation tables against the trials, direction checks, sensitivity."""

    def action() -> None:
        from .analysis.status import write_model_status
        from .analysis.validation import status_document, validate as credibility
        from .report.validation import validation_markdown, write_validation_html

        if write_status and (patients, seed, calibration) != (600, 1, "default"):
            raise InputError("--write-status", f"patients {patients}, seed {seed}, calibration {calibration}",
                             "the settings data/model_status.yaml is measured with: --patients 600 --seed 1 "
                             "--calibration default")
        log = None if as_json else (lambda message: console.print(message))
        others = _seed_list(seeds) if seeds else ()
        report = credibility(patients=patients, seed=seed, calibration=calibration, ensemble=ensemble, log=log,
                             seeds=others)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "validation.json").write_text(_json_text(report) + "\n", encoding="utf-8")
            write_validation_html(report, out / "validation.html")
        if docs is not None:
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_text(validation_markdown(report), encoding="utf-8")
        if write_status:
            write_model_status(status_document(report))
        if as_json:
            typer.echo(_json_text(report))
            return
        for table in ("calibration", "validation"):
            part = report[table]
            console.print(f"{table}: {part['within_tolerance']} of {part['total']} endpoints within the trial-level tolerance")
        for check in report["code_verification"] + report["direction_checks"]:
            console.print(f"{'passed' if check['passed'] else 'FAILED'}: {check['name']} ({_display(check['value'])}; {check['tolerance']})")
        for table in ("calibration", "validation") if "across_seeds" in report else ():
            pooled, seeds_used = report["across_seeds"][table], [str(row["seed"]) for row in report["across_seeds"]["seeds"]]
            console.print(f"{table} over seeds {', '.join(seeds_used)}: {pooled['within_tolerance']} of {pooled['total']} "
                          f"({pooled['share']:.1%})")
        console.print("credible" if report["credible"] else "not yet credible")

    _run(action)


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds 2,3,4`` as whole numbers >= 0; InputError naming the option otherwise."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(value < 0 for value in values):
        raise InputError("--seeds", text, "whole numbers >= 0 separated by commas, e.g. 2,3,4")
    return values


@app.command("sensitivity")
def sensitivity_command(trials: Optional[list[str]] = typer.Option(None, "--trials", help="Monotherapy trials (repeat); default the calibration trials."),
                        patients: int = typer.Option(100, "--patients", help="Virtual patients per trial."),
                        trajectories: int = typer.Option(8, "--trajectories", help="Morris trajectories r (r x (k + 1) evaluations)."),
                        levels: int = typer.Option(4, "--levels", help="Morris grid levels p (even)."),
                        window: float = typer.Option(1.0, "--window", help="Half-width around the default calibration, in natural log (0: the whole bounds)."),
                        parameters: Optional[list[str]] = typer.Option(None, "--parameter", help="Parameter to vary (repeat); default all, the others stay at the calibration."),
                        calibration: str = typer.Option("default", "--calibration", help="Calibration (name or YAML file) whose values are the centre."),
                        threshold: float = typer.Option(0.1, "--threshold", help="Normalised mu* from which a parameter counts as identified."),
                        seed: int = typer.Option(1, "--seed", help="Random seed (Morris design and common random numbers)."),
                        executor: Optional[str] = typer.Option(None, "--executor", help="Evaluate in parallel: processes:N, dask:N or a scheduler address."),
                        out: Optional[Path] = typer.Option(None, "--out", help="JSON file to write (the packaged result is src/rptici/data/calibration/sensitivity.json)."),
                        figure: Optional[Path] = typer.Option(None, "--figure", help="Heat-map of normalised mu* (parameters x endpoints), .png or .svg."),
                        as_json: bool = JSON_OPTION) -> None:
    """Morris global sensitivity of every calibration parameter on J and each endpoint; which ones the data identify."""

    def action() -> None:
        from .analysis.calibration import DEFAULT_TRIALS
        from .analysis.sensitivity import sensitivity, table_rows, write_sensitivity

        if figure is not None and figure.suffix.lower() not in (".png", ".svg"):
            from .errors import InputError
            raise InputError("--figure", str(figure), "a file name ending in .png or .svg")
        log = None if as_json else (lambda message: console.print(message))
        document = sensitivity(tuple(trials) if trials else DEFAULT_TRIALS, patients=patients,
                               trajectories=trajectories, levels=levels, seed=seed, window=window,
                               calibration=calibration, parameters=parameters or None, threshold=threshold,
                               executor=executor, log=log)
        if out is not None:
            write_sensitivity(document, out)
        if figure is not None:
            from .report.sensitivity import write_sensitivity_figure

            write_sensitivity_figure(document, figure)
        if as_json:
            typer.echo(_json_text(document))
            return
        settings = document["settings"]
        _print_table(f"Morris sensitivity: {settings['evaluations']} evaluations in {settings['seconds']:.0f} s "
                     f"(r = {settings['trajectories']}, {settings['patients_per_trial']} patients per trial); "
                     f"sorted by mu* on J", ("parameter", "mu* J", "± 95 %", "sigma J", "normalised", "endpoints",
                                             "verdict"),
                     ([row["parameter"], _display(row["mu_star_J"]), _display(row["mu_star_conf_J"]),
                       _display(row["sigma_J"]), f"{row['normalised_J']:.2f}", str(row["endpoints"]), row["verdict"]]
                      for row in table_rows(document)), no_wrap=("parameter",))
        identified = sum(entry["verdict"] == "identified" for entry in document["identifiability"].values())
        typer.echo(f"{identified} of {len(document['identifiability'])} parameters identified "
                   f"({document['identifiability_rule']})")
        for path in (out, figure):
            if path is not None:
                typer.echo(f"written: {path}")

    _run(action)


@registry_app.command("replay")
def registry_replay(name: str = typer.Argument(..., help="NCT number or acronym, e.g. NCT03658447 or PRINCE."),
                    patients: int = typer.Option(2000, "--patients", help="Virtual patients in total."),
                    seed: int = typer.Option(1, "--seed", help="Random seed."),
                    calibration: str = typer.Option("default", "--calibration", help="Calibration name or YAML file."),
                    ensemble: int = typer.Option(0, "--ensemble", min=0, help="Members of the calibration ensemble that give each endpoint a 95 % prediction interval (0: none)."),
                    weight_baseline: bool = typer.Option(False, "--weight-baseline", help="Resample the virtual patients to the trial's reported baseline (entropy balancing; data/baseline_targets.yaml)."),
                    prior_lines: Optional[int] = typer.Option(None, "--prior-lines", help="What if every patient had had this many prior systemic lines (in place of the record's cohort or the population file's)."),
                    pet_screen: Optional[float] = typer.Option(None, "--pet-screen", help="What if a PET screen had turned away this share of the patients with the most target-low disease (TheraP: 0.21)."),
                    allocation: Optional[str] = typer.Option(None, "--allocation", help="paired (the same virtual patients in every arm) or randomised; default: paired where the reference arm is the model's own (RPT alone beside a combination), else randomised, as the trial was run."),
                    as_json: bool = JSON_OPTION) -> None:
    """Replay a registry trial with the monotherapy calibration: per endpoint simulated (95 % CI) and reported."""

    def action() -> None:
        from .api import replay

        cohort = {field: value for field, value in (("prior_lines", prior_lines), ("pet_screen_exclusion", pet_screen))
                  if value is not None}
        result = replay(name, patients=patients, seed=seed, calibration=calibration, ensemble=ensemble,
                        weight_baseline=weight_baseline, cohort=cohort, allocation=allocation)
        if as_json:
            typer.echo(_json_text(result))
            _fail_if_an_arm_failed(result["summary"])
            return
        predicted = "prediction" in result

        def columns(row: dict[str, Any]) -> list[str]:
            shown = [row["arm"], row["endpoint"], _display(row["reported"]), _display(row["simulated"]),
                     f"{_display(row['low'])} – {_display(row['high'])}"]
            return shown + ([f"{_display(row['prediction_low'])} – {_display(row['prediction_high'])}"]
                            if predicted else [])

        enrolled = ", ".join(f"{key} {value}" for key, value in result["cohort"].items())
        _print_table(f"replay of {result['trial']} ({result['patients']} virtual patients, {result['allocation']}, "
                     f"seed {seed}" + (f"; cohort: {enrolled})" if enrolled else ")"),
                     ("arm", "endpoint", "reported", "simulated", "95 % CI")
                     + ((f"prediction ({result['prediction']['members']} members)",) if predicted else ()),
                     (columns(row) for row in _clean(result["endpoints"])))
        if result.get("baseline"):
            baseline = result["baseline"]
            weighted = (f"weighted: {_display(baseline['ess'])} effective of a pool of {baseline['pool']}"
                        if baseline["weighted"] else "not weighted")
            _print_table(f"baseline: reported ({baseline['trial']}) vs virtual patients, {weighted}",
                         ("covariate", "statistic", "reported", "virtual"),
                         ([row["covariate"], row["statistic"], _display(row["reported"]), _display(row["simulated"])]
                          for row in baseline["rows"]))
        if result.get("evidence"):
            _print_table("how the agent acts (data/rpt_evidence.yaml): reported vs simulated, trial-level tolerance",
                         ("evidence", "reported", "simulated", "tolerance", "holds"),
                         ([f"{row['what']} [{row['index'] + 1}]", _display(row["reported"]), _display(row["simulated"]),
                           f"{_display(row['low'])} – {_display(row['high'])}", "yes" if row["holds"] else "no"]
                          for row in _clean(result["evidence"])))
        _arm_table({**result["summary"], "model_status": result.get("model_status")}, "simulated arms")
        _fail_if_an_arm_failed(result["summary"])

    _run(action)


# --- economics (issue 18): cost-effectiveness of a virtual trial's arms -------------------------------------------

@app.command("economics")
def economics_command(
        folder: Path = typer.Argument(..., help="Results folder of 'rptici trial run'."),
        costs: str = typer.Option("lu_psma_pembrolizumab_us", "--costs",
                                  help="Costs and utilities (YAML), or a packaged file name."),
        model: Optional[str] = typer.Option(None, "--model", help="partitioned_survival or markov (default: the file's)."),
        thresholds: Optional[list[float]] = typer.Option(None, "--threshold", help="Willingness to pay per QALY (repeat)."),
        draws: int = typer.Option(1000, "--psa", help="Probabilistic draws (0: none)."),
        seed: int = typer.Option(1, "--seed", help="Seed of the probabilistic analysis."),
        html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML report here."),
        as_json: bool = JSON_OPTION) -> None:
    """Costs, life-years, QALYs, ICER and net monetary benefit of each arm against the control arm."""

    def action() -> None:
        from .economics import cost_effectiveness, evaluate_run, load_inputs
        from .economics.inputs import MODELS

        if model is not None and model not in MODELS:
            raise InputError("--model", model, "one of " + ", ".join(MODELS))
        analysis = cost_effectiveness(evaluate_run(folder, load_inputs(costs), model), thresholds, draws, seed)
        result = analysis.result
        if html is not None:
            from .report.economics import write_economics_report

            result["report"] = str(write_economics_report(analysis, html, source=f"run {folder}"))
        if as_json:
            typer.echo(_json_text(result))
            return
        _print_table(f"{result['name']} ({result['currency']} {result['price_year']}, {result['model']})",
                     ["arm", "cost", "life-years", "QALYs"],
                     [[arm["arm"], f"{arm['cost']:,.0f}", f"{arm['life_years']:.3f}", f"{arm['qalys']:.3f}"]
                      for arm in result["arms"]])
        for row in result["comparisons"]:
            ratio = "–" if row["icer"] is None else f"{row['icer']:,.0f}"
            typer.echo(f"{row['arm']} vs {row['against']}: ΔC {row['incremental_cost']:,.0f}, "
                       f"ΔQALY {row['incremental_qalys']:.3f}, ICER {ratio} ({row['quadrant']})")
        _status_line(result.get("model_status"))
        if "report" in result:
            typer.echo(f"report: {result['report']}")

    _run(action)


# --- decisions (issue 17): regimens under organ limits, and who benefits --------------------------------------------

@app.command("optimize")
def optimize_command(
        space: Path = typer.Argument(..., help="Search space (YAML), e.g. examples/decisions/lu_psma_pembrolizumab_space.yaml."),
        out: Path = typer.Option(..., "--out", help="Folder for front.json, front.parquet, evaluations.parquet, report.html."),
        history: Optional[Path] = typer.Option(None, "--history", help="JSON-lines history to resume from and append to (default: OUT/history.jsonl)."),
        generations: Optional[int] = typer.Option(None, "--generations", help="Generations (default: the space file's)."),
        population: Optional[int] = typer.Option(None, "--population", help="Candidates per generation (default: the space file's)."),
        patients: Optional[int] = typer.Option(None, "--patients", help="Virtual patients per candidate (default: the space file's)."),
        executor: str = typer.Option("serial", "--executor", help="serial, processes:N, dask[:N] or tcp://host:port (one generation's candidates in parallel)."),
        ensemble: int = typer.Option(0, "--ensemble", min=0, help="Calibration-ensemble members under which the front is simulated again; a point is robust when it holds in them (0: none)."),
        robust_share: float = typer.Option(1.0, "--robust-share", help="Share of ensemble members in which a front point must hold to be robust (1: every member)."),
        as_json: bool = JSON_OPTION) -> None:
    """Pareto front of regimens (NSGA-II over the space's choices) under organ-dose limits, from virtual trials."""

    def action() -> None:
        from .decisions.optimize import REPORT_FILE, optimize
        from .report.decisions import write_optimize_report

        _say_engine_progress()
        result = optimize(space, out, history=history, generations=generations, population=population,
                          patients=patients, executor=executor, ensemble=ensemble, robust_share=robust_share,
                          progress=None if as_json else lambda done, total: typer.echo(
                              f"generation {done}/{total}", err=True))
        result["report"] = str(write_optimize_report(result, Path(out) / REPORT_FILE))
        if as_json:
            typer.echo(_json_text({key: value for key, value in result.items() if key != "evaluations"}))
            return
        names = [item["endpoint"] for item in result["objectives"]]
        rows = []
        for number, point in enumerate(result["front"], start=1):
            cells = []
            for name in names:
                entry = point["endpoints"].get(name) or {}
                interval = entry.get("interval") or [None, None]
                cells.append(f"{_display(entry.get('value'))} [{_display(interval[0])}, {_display(interval[1])}]")
            rows.append([str(number), _display(point["variables"])] + cells +
                        [", ".join(f"{key} {value:.3g}" for key, value in point["doses_Gy"].items())] +
                        ([f"{'yes' if point['robust'] else 'no'} ({100 * point['ensemble']['share_held']:.0f} %)"]
                         if "ensemble" in result else []))
        _print_table(f"{result['name']}: Pareto front ({result['counts']['evaluated']} candidates, "
                     f"{result['counts']['infeasible']} over a limit)",
                     ["#", "regimen"] + names + ["organ Gy"] +
                     ([f"robust over {result['ensemble']['members']} members (holds in)"] if "ensemble" in result
                      else []), rows)
        if "ensemble" in result:
            typer.echo("robust: " + result["ensemble"]["rule"])
        timing = result["timing"]
        if timing["simulated_per_hour"]:
            typer.echo(f"{timing['simulated_per_hour']:.0f} simulated candidates per hour at "
                       f"{timing['patients_per_candidate']} patients each ({timing['wall_seconds']:.0f} s)")
        _status_line(result["model_status"])
        typer.echo(f"report: {result['report']}")

    _run(action)


@app.command("guided-dosing")
def guided_dosing_command(
        space: Path = typer.Argument(..., help="Search space (YAML) whose base regimen is the fixed-activity arm, e.g. examples/decisions/lu_psma_pembrolizumab_space.yaml."),
        region: str = typer.Option("kidneys", "--region", help="Organ whose dose sets each patient's activity."),
        quantity: str = typer.Option("bed", "--quantity", help="bed, dose (RBE-weighted) or eqd2."),
        target: Optional[str] = typer.Option(None, "--target", help="Target over the course, e.g. '40 Gy' (default: the organ's limit in data/tissues.yaml)."),
        basis: str = typer.Option("cycle1", "--basis", help="cycle1 (cycle 1 fixed, later cycles from its dosimetry) or pet (every cycle from pre-therapy imaging)."),
        adjust: str = typer.Option("activity", "--adjust", help="activity (same cycles, activity per patient) or cycles (same activity, cycles until the target)."),
        max_activity: Optional[str] = typer.Option(None, "--max-activity", help="Most activity in one cycle, e.g. '15 GBq'."),
        error: float = typer.Option(0.0, "--error", help="σ of ln(measured / true dose per GBq) of the dosimetry (0: exact)."),
        error_seed: int = typer.Option(0, "--error-seed", help="Seed of the patients' dosimetry errors."),
        patients: Optional[int] = typer.Option(None, "--patients", help="Virtual patients (default: the space file's)."),
        as_json: bool = JSON_OPTION) -> None:
    """Dosimetry-guided against fixed activity in the same virtual patients: endpoints and organ doses side by side."""

    def action() -> None:
        from .decisions.guided import compare_dosing, comparison_rows

        _say_engine_progress()
        rule = {"region": region, "quantity": quantity, "basis": basis, "adjust": adjust}
        if error:
            rule.update(error=error, error_seed=error_seed)
        rule.update({name: value for name, value in (("target", target), ("max_activity", max_activity))
                     if value is not None})
        result = compare_dosing(space, rule, patients=patients)
        if as_json:
            typer.echo(_json_text(result))
            return
        guided = result["guided"]
        _print_table(f"{result['name']}: fixed activity vs guided to {guided['region']} {guided['quantity']} "
                     f"{guided['target_Gy']:g} Gy ({guided['basis']}, adjusting {guided['adjust']}); "
                     f"{result['patients']} patients, the same in both arms",
                     ["", "fixed", "guided"], comparison_rows(result))
        typer.echo("endpoints: value [95 % interval]; doses and activities: median [5th, 95th percentile] over the "
                   "patients")
        _status_line(result["model_status"])

    _run(action)


@app.command("biomarkers")
def biomarkers_command(
        folder: Path = typer.Argument(..., help="Results folder of 'rptici trial run' (a control arm and an arm with the ICI)."),
        treatment: Optional[str] = typer.Option(None, "--treatment", help="Arm with the ICI (default: the first arm that is not the control)."),
        control: Optional[str] = typer.Option(None, "--control", help="Control arm (default: the scenario's)."),
        endpoint: str = typer.Option("pfs", "--endpoint", help="pfs, os or psa_pfs."),
        min_gain: float = typer.Option(1.0, "--min-gain", help="Months of restricted mean survival gain that count as benefit."),
        alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level (Holm-adjusted for the covariates; also the enrichment design's)."),
        power: float = typer.Option(0.8, "--power", help="Power of the enrichment design."),
        ensemble: int = typer.Option(0, "--ensemble", min=0, help="Calibration-ensemble members under which the trial is simulated and analysed again; robust findings hold in them (0: none)."),
        robust_share: float = typer.Option(1.0, "--robust-share", help="Share of ensemble members in which a finding must hold to be robust (1: every member)."),
        as_json: bool = JSON_OPTION) -> None:
    """Which baseline covariates predict outcome, which predict the benefit of adding the ICI, and an enrichment design."""

    def action() -> None:
        from .decisions.biomarkers import analyse_run

        result = analyse_run(folder, treatment, control, endpoint=endpoint, min_gain_months=min_gain, alpha=alpha,
                             power=power, ensemble=ensemble, robust_share=robust_share)
        if as_json:
            typer.echo(_json_text(result))
            return
        _print_table(f"{result['name']}: {result['treatment']} vs {result['control']}, {result['endpoint']} "
                     f"({result['patients']} patients, {result['events']} events)",
                     ["covariate", "prognostic HR/SD", "p (Holm)", "interaction HR/SD", "p (Holm)", "predictive"],
                     [[row["label"], f"{row['prognostic_hr_per_sd']:.3g}", f"{row['prognostic_p_holm']:.3g}",
                       f"{row['interaction_hr_per_sd']:.3g}", f"{row['interaction_p_holm']:.3g}",
                       "yes" if row["predictive"] else "no"] for row in result["covariates"]])
        selection = result["benefit"].get("selection")
        if selection:
            typer.echo(f"benefit (gain ≥ {result['benefit']['min_gain_months']:g} months): "
                       f"{selection['covariate']} {selection['direction']} {selection['threshold']:.4g}: sensitivity "
                       f"{selection['sensitivity']:.2f}, specificity {selection['specificity']:.2f}, "
                       f"{100 * selection['prevalence']:.0f} % selected"
                       + ("" if selection["predictive"] else " (not a significant predictor)"))
        enrichment = result.get("enrichment")
        if enrichment:
            typer.echo(f"patients for {100 * enrichment['power']:.0f} % power: all-comers "
                       f"{_display(enrichment['all_comers']['patients'])}, selected "
                       f"{_display(enrichment['selected']['patients'])} (screened "
                       f"{_display(enrichment['selected']['patients_screened'])})")
        robust = result.get("ensemble")
        if robust:
            _print_table(f"Across {robust['members']} calibration-ensemble members (robust: holds in ≥ "
                         f"{100 * robust['share_required']:.0f} % of them)",
                         ["covariate", "predictive in", "interaction HR/SD range", "same direction", "robust"],
                         [[row["covariate"], f"{100 * row['share_predictive']:.0f} %",
                           _display(row["interaction_hr_range"]), "yes" if row["same_direction"] else "no",
                           "yes" if row["robust"] else "no"] for row in robust["covariates"]])
            selection = robust["selection"]
            typer.echo(f"selection: {selection['commonest']} in {100 * selection['share']:.0f} % of members "
                       f"({'robust' if selection['robust'] else 'not robust'})")
        _status_line(result["model_status"])

    _run(action)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

