"""Command-line interface: a thin layer over the Python API. Every computing command has ``--json``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import RpticiError

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


def _emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(_clean(result), indent=2, ensure_ascii=False))
        return
    table = Table(title=title, show_header=False)
    for key, value in _clean(result).items():
        table.add_row(key, _display(value))
    console.print(table)


def _display(value: Any) -> str:
    """A short human reading of a JSON value: 4 significant digits, mappings as ``key=value``."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if 1e4 <= abs(value) < 1e9 else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_display(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(_display(item) for item in value) or "none"
    return str(value)


def _run(action: Callable[[], None]) -> None:
    """Run a command; a user error becomes one clear line on stderr and exit status 2."""
    try:
        action()
    except RpticiError as error:
        typer.echo(f"error: {error}", err=True)
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
    """List the radiopharmaceuticals and checkpoint inhibitors rptici knows."""
    from .data.catalogue import checkpoint_inhibitors, radiopharmaceuticals
    from .errors import InputError

    def action() -> None:
        kinds = {"radiopharmaceutical": radiopharmaceuticals, "checkpoint_inhibitor": checkpoint_inhibitors}
        if kind is not None and kind not in kinds:
            raise InputError("--kind", kind, "'radiopharmaceutical' or 'checkpoint_inhibitor'")
        rows = [agent.summary() for name, load in kinds.items() if kind in (None, name) for agent in load().values()]
        if as_json:
            typer.echo(json.dumps(_clean(rows), indent=2, ensure_ascii=False))
            return
        table = Table(title="Agents")
        for column in ("name", "kind", "target", "nuclide", "status"):
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row.get(column) or "–") for column in ("name", "kind", "target", "nuclide", "status")))
        console.print(table)

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
            typer.echo(json.dumps(_clean(result), indent=2, ensure_ascii=False))
            return
        table = Table(title=f"Time-integrated activity: {file.name}")
        for column in ("region", "model", "effective half-lives (h)", "TIA (MBq h)", "± SE"):
            table.add_column(column)
        for region, summary in result.items():
            table.add_row(region, summary["model"], _display(summary["effective_half_lives_h"]),
                          _display(summary["tia_MBq_h"]), _display(summary["tia_standard_error_MBq_h"]))
        console.print(table)

    _run(action)


@app.command()
def dose(file: Path = typer.Argument(..., help="Patient dataset (YAML): nuclide, activity, measurements, masses, tissues."),
         model: str = typer.Option("auto", "--model", help="TAC model, or 'auto' for AIC selection."),
         s_values: Optional[Path] = typer.Option(None, "--s-values", help="CSV of S-values (target,source,S [unit])."),
         rbe: Optional[float] = typer.Option(None, "--rbe", help="RBE of α particles (default 5)."),
         monte_carlo: int = typer.Option(0, "--monte-carlo", help="Monte Carlo draws for the TIA 95 % interval."),
         out: Optional[Path] = typer.Option(None, "--out", help="Folder for report.html and dosimetry.json."),
         as_json: bool = JSON_OPTION) -> None:
    """Absorbed dose, BED and limits per region from measured time–activity data, with an HTML report."""
    from .dosimetry import SValueTable, read_measurements
    from .radiobiology.assessment import assess_patient
    from .report.dosimetry import write_dosimetry_report

    def action() -> None:
        table = SValueTable.from_csv(s_values) if s_values else None
        result = assess_patient(read_measurements(file), model=model, rbe=rbe, s_values=table,
                                monte_carlo_draws=monte_carlo)
        summary = result.summary()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "dosimetry.json").write_text(json.dumps(_clean(summary), indent=2, ensure_ascii=False))
            summary["report"] = str(write_dosimetry_report(result, out / "report.html"))
        if as_json:
            typer.echo(json.dumps(_clean(summary), indent=2, ensure_ascii=False))
            return
        grid = Table(title=f"Dosimetry: {result.patient or file.name} ({result.agent or result.nuclide}, "
                           f"{result.administered_activity_MBq / 1000:.4g} GBq)")
        for column in ("region", "model", "TIA (MBq h)", "dose (Gy)", "Gy/GBq", "BED (Gy)", "limit (Gy)", "margin (Gy)"):
            grid.add_column(column, no_wrap=column in ("region", "model"))
        for region in result.regions.values():
            tightest = min(region.limits, key=lambda limit: limit.margin_Gy, default=None)
            grid.add_row(region.region, region.fit.model, _display(region.fit.tia), _display(region.rbe_weighted_dose_Gy),
                         _display(region.dose_per_activity_Gy_per_GBq), _display(region.bed_Gy),
                         "–" if tightest is None else f"{tightest.quantity.upper()} {tightest.limit_Gy:g}",
                         "–" if tightest is None else _display(tightest.margin_Gy))
        console.print(grid)
        if out is not None:
            console.print(f"report: {summary['report']}")

    _run(action)


regimen_app = typer.Typer(help="From a treatment regimen to dose, BED and checkpoint occupancy.", no_args_is_help=True)
app.add_typer(regimen_app, name="regimen")


@regimen_app.command("dose")
def regimen_dose_command(
        scenario: Path = typer.Argument(..., help="Scenario YAML: regimen, patient, optional patients and seed."),
        rbe: Optional[float] = typer.Option(None, "--rbe", help="RBE of α particles (default from the data file)."),
        as_json: bool = JSON_OPTION) -> None:
    """Absorbed dose, Gy/GBq, BED, EQD2 and limit margins per organ and lesion; occupancy with an ICI."""
    from .radiobiology.regimen_dose import load_scenario, scenario_dose

    def action() -> None:
        loaded = load_scenario(scenario)
        result = scenario_dose(loaded, rbe=rbe)
        summary = {"scenario": loaded.name or scenario.name, "patient": "reference", **result.summary(0)}
        if loaded.cohort_size:
            summary["cohort"] = {"seed": loaded.seed, "spread_log_normal_sigma": dict(loaded.spread),
                                 **result.cohort_summary()}
        if as_json:
            typer.echo(json.dumps(_clean(summary), indent=2, ensure_ascii=False))
            return
        grid = Table(title=f"{summary['scenario']}: {result.agent}, "
                           f"{summary['total_activity_administered_MBq'] / 1000:.4g} GBq in {len(summary['cycles'])} cycles")
        for column in ("region", "dose (Gy)", "Gy/GBq", "BED (Gy)", "EQD2 (Gy)", "tightest limit"):
            grid.add_column(column)
        for region, values in summary["regions"].items():
            tightest = min(values["limits"], key=lambda limit: limit["margin"], default=None)
            grid.add_row(region, _display(values["rbe_weighted_dose_Gy"]), _display(values["dose_per_activity_Gy_per_GBq"]),
                         _display(values["bed_Gy"]), _display(values["eqd2_Gy"]),
                         "–" if tightest is None else f"{tightest['name']} {tightest['limit']:g} Gy, margin "
                         f"{tightest['margin']:.3g}{' EXCEEDED' if tightest['exceeded'] else ''}")
        console.print(grid)
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
    from .errors import InputError
    from .radiobiology.regimen_dose import load_scenario, scenario_dose
    from .report.regimen import write_regimen_plot

    def action() -> None:
        if out.suffix.lower() not in (".png", ".html"):
            raise InputError("--out", str(out), "a file name ending in .png or .html")
        loaded = load_scenario(scenario)
        if not 0 <= patient <= loaded.cohort_size:
            raise InputError("--patient", patient, f"a patient index from 0 to {loaded.cohort_size}")
        result = scenario_dose(loaded)
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
            typer.echo(json.dumps(_clean(rows), indent=2, ensure_ascii=False))
            return
        columns = ("name", "disease", "phase", "rpt", "ici", "n", "role")
        table = Table(title=f"Trials ({len(rows)})")
        for column in columns:
            table.add_column(column, no_wrap=column == "name")
        for row in rows:
            table.add_row(*(_display(row.get(column)) for column in columns))
        console.print(table)

    _run(action)


@registry_app.command("show")
def registry_show(name: str = typer.Argument(..., help="NCT number or acronym, e.g. NCT03658447 or PRINCE."),
                  imported: Optional[Path] = IMPORT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """One trial: design, regimen, what was reported, source."""
    _run(lambda: _emit(_registry(imported).get(name).summary(), as_json, name))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
