"""The credibility report of ``rptici validate`` as HTML and as Markdown (``docs/validation.md`` is generated
from it, never edited by hand). Both render the same sections: a title, a paragraph and a table each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import __version__
from .html import render_html


@dataclass
class Section:
    """One part of the report: a heading, a paragraph, and a table (header and rows of text cells)."""

    title: str
    text: str
    header: Sequence[str] = ()
    rows: list[Sequence[str]] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "months":
        return f"{value:.1f}"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "rate":
        return f"{100 * value:.0f} %"
    return f"{value:.3g}"


def _interval(low: Any, high: Any, unit: str) -> str:
    return "–" if low is None or high is None else f"{_number(low, unit)}–{_number(high, unit)}"


def _endpoint_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[list[str]], list[bool]]:
    cells, failed = [], []
    for row in rows:
        unit = "months" if row["unit"] == "months" else "ratio" if row["unit"] == "ratio" else "rate"
        simulated = "not reached" if row["simulated"] is None else _number(row["simulated"], unit)
        cells.append([row["trial"], row["arm"], row["endpoint"], _number(row["reported"], unit),
                      "–" if row["n"] is None else str(row["n"]), simulated, _interval(row["low"], row["high"], unit),
                      _interval(row["prediction_low"], row["prediction_high"], unit),
                      _interval(row["tolerance_low"], row["tolerance_high"], unit), "yes" if row["holds"] else "no"])
        failed.append(not row["holds"])
    return cells, failed


ENDPOINT_HEADER = ("trial", "arm", "endpoint", "reported", "n", "simulated", "virtual-trial 95 % CI",
                   "prediction interval", "tolerance", "holds")


def _endpoint_section(title: str, table: Mapping[str, Any]) -> Section:
    """A calibration or validation table: how many endpoints hold, trials that failed, one row per endpoint."""
    rows, failed = _endpoint_rows(table["rows"])
    return Section(title, f"{table['within_tolerance']} of {table['total']} endpoints within tolerance."
                   + "".join(f" {name} failed: {error}." for name, error in table["errors"].items()),
                   ENDPOINT_HEADER, rows, failed)


def _enrolled(cohort: Mapping[str, Any] | None, population: str | None) -> str:
    cohort = cohort or {}
    words = {"prior_lines": lambda value: f"prior lines {value}",
             "measurable_disease": lambda value: "measurable disease only" if value else "no measurable disease",
             "pet_screen_exclusion": lambda value: f"a PET screen turning away {value:.0%}"}
    parts = [words[key](value) for key, value in cohort.items()]
    if "prior_lines" not in cohort:
        parts.append(f"prior lines as the {population} population file's")
    return "; ".join(parts)


def design_section(designs: Sequence[Mapping[str, Any]]) -> Section:
    """How each combination trial is replayed: imaging, whom it enrols, excluded sites, amendments with sources."""
    return Section("How the combination trials are replayed",
                   "What each replay takes from the trial's design, never from its results: the imaging schedule, whom "
                   "it enrolled, the lesion sites that kept men out, and the source of every amendment "
                   "(data/trials_combination_amendments.yaml). Arms: paired where the reference arm (RPT alone) is the "
                   "model's own, the same virtual patients with and without the ICI, so that the effect of adding it "
                   "carries no noise from which patients each arm drew; randomised where the record lists its arms.",
                   ("trial", "arms", "imaging", "enrolled", "sites excluded", "amended (source)"),
                   [[design["trial"], design["allocation"], design["assessments"],
                     _enrolled(design["cohort"], design["population"]),
                     f"{', '.join(design['excluded_sites'])} ({design['excluded_by']})" if design["excluded_sites"]
                     else f"none ({design['excluded_by']})",
                     "; ".join(f"{', '.join(item['changed'])}: {item['source']}" for item in design["amendments"])
                     or "–"] for design in designs])


def sections(report: Mapping[str, Any]) -> list[Section]:
    """The report's sections, in order (shared by the HTML and the Markdown)."""
    model, settings = report["model"], report["settings"]
    fitted = model.get("fitted") or {}
    calibration, validation = report["calibration"], report["validation"]
    required = report["required"]
    verdict = "meets" if report["credible"] else "does not yet meet"
    summary = Section(
        "Summary",
        f"The model {verdict} the project's credibility bar (at least {required['calibration_share']:.0%} of the "
        f"calibration endpoints and {required['validation_share']:.0%} of the validation endpoints within the "
        f"trial-level tolerance, and every direction check right): {calibration['within_tolerance']} of "
        f"{calibration['total']} calibration endpoints and {validation['within_tolerance']} of {validation['total']} "
        f"validation endpoints hold. Tolerance: {settings['tolerance']}. Measured {report['measured']} with "
        f"{settings['patients']} virtual patients per trial, seed {settings['seed']}"
        + (f", prediction intervals from {settings['ensemble']} members of the calibration ensemble" if
           settings["ensemble"] else ", without prediction intervals (--ensemble 0)") + f"; {report['seconds']} s.",
        ("quantity", "value"),
        [["rptici", model["rptici"]], ["calibration", f"{model['calibration']} ({model['calibration_source']})"],
         ["optimiser", str(model.get("optimiser") or "–")],
         ["fitted", f"{fitted.get('date', '–')}: {fitted.get('evaluations', '–')} evaluations, objective "
                    f"{fitted.get('objective_at_start', '–')} → {fitted.get('objective', '–')}, "
                    f"{fitted.get('patients_per_trial', '–')} patients per trial, seed {fitted.get('seed', '–')}"],
         ["ensemble members available", str(model["ensemble_members_available"])]])
    verification = Section(
        "Code verification",
        "The engine against an independent integrator and closed forms against the ODE they solve.",
        ("check", "method", "reference", "value", "tolerance", "passed"),
        [[check["name"], check["method"], _number(check["reference"]), _number(check["value"]), check["tolerance"],
          "yes" if check["passed"] else "no"] for check in report["code_verification"]],
        [not check["passed"] for check in report["code_verification"]])
    calibration_section = _endpoint_section("Calibration: the monotherapy trials the model was fitted to", calibration)
    validation_section = _endpoint_section("Validation: the combination trials, predicted and never fitted", validation)
    directions = Section(
        "Direction checks", "What the combination predictions must get right even where the levels are off.",
        ("check", "method", "simulated", "ensemble 95 % interval", "required", "passed"),
        [[check["name"], check["method"], _number(check["value"]),
          _interval(*(check.get("prediction") or (None, None)), ""), check["tolerance"],
          "yes" if check["passed"] else "no"] for check in report["direction_checks"]],
        [not check["passed"] for check in report["direction_checks"]])
    designs = [design_section(validation["replayed_as"])] if validation.get("replayed_as") else []
    seeds = [seeds_section(report["across_seeds"])] if report.get("across_seeds") else []
    return [summary, verification, calibration_section, validation_section, *designs, directions, *seeds,
            sensitivity_section(report.get("sensitivity"))]


def seeds_section(across: Mapping[str, Any]) -> Section:
    """The counts and direction checks of the same replays on each seed, and over all of them."""
    names = list(across["direction_checks_passed"])
    rows = [[str(row["seed"]), *(f"{row[table]['within_tolerance']} of {row[table]['total']}"
                                 for table in ("calibration", "validation")),
             *(f"{_number(check['value'])} ({'passed' if check['passed'] else 'failed'})"
               for check in row["direction_checks"])] for row in across["seeds"]]
    rows.append(["all", *(f"{across[table]['within_tolerance']} of {across[table]['total']} "
                          f"({across[table]['share']:.1%})" for table in ("calibration", "validation")),
                 *(f"passed on {across['direction_checks_passed'][name]} of {len(across['seeds'])} seeds"
                   for name in names)])
    return Section("Across seeds",
                   "The same replays with other seeds of virtual patients (the first row is the report's): how much of "
                   "each count is the draw.",
                   ("seed", "calibration", "validation", *names), rows)


def sensitivity_section(sensitivity: Mapping[str, Any] | None) -> Section:
    """Morris μ* of each parameter on the objective, and whether the data identify it."""
    if not sensitivity:
        return Section("Sensitivity and identifiability",
                       "No packaged sensitivity analysis (run `rptici sensitivity`).")
    settings = sensitivity["settings"]
    return Section("Sensitivity and identifiability",
                   f"{sensitivity['description']} Settings: {settings['patients_per_trial']} patients per trial, "
                   f"{settings['trajectories']} trajectories, {settings['levels']} levels, seed {settings['seed']}, "
                   f"calibration {settings['calibration']}. Rule: {sensitivity['rule']}.",
                   ("parameter", "μ* on J", "σ on J", "normalised μ*", "endpoints identifying it", "verdict"),
                   [[row["parameter"], _number(row["mu_star_J"]), _number(row["sigma_J"]),
                     _number(row["normalised_J"]), str(row["endpoints"]), row["verdict"]]
                    for row in sensitivity["rows"]])


def write_validation_html(report: Mapping[str, Any], path: str | Path) -> Path:
    """The report as one self-contained HTML page."""
    return render_html("validation.html", path, sections=sections(report), credible=report["credible"],
                       version=__version__)


def validation_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown, for ``docs/validation.md``."""
    others = [str(row["seed"]) for row in report.get("across_seeds", {}).get("seeds", [])[1:]]
    command = "rptici validate --docs docs/validation.md" + (f" --seeds {','.join(others)}" if others else "")
    lines = ["# Validation: calibrated on monotherapy, predicting the combination trials", "",
             f"Generated by `{command}` (do not edit by hand; re-run it). The same report as HTML and JSON comes "
             "from `rptici validate --out FOLDER`.", ""]
    for section in sections(report):
        lines += [f"## {section.title}", "", section.text, ""]
        if section.header:
            lines += ["| " + " | ".join(section.header) + " |", "|" + "---|" * len(section.header)]
            lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in section.rows]
            lines.append("")
    return "\n".join(lines)
