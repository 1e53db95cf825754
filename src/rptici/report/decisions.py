"""HTML report of ``rptici optimize`` (the Pareto front and the regimen of a chosen point as a timeline) and of
``rptici biomarkers`` (prognostic and predictive covariates). Pure functions of the result documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .. import __version__  # noqa: E402
from .html import figure_to_data_uri, render_html  # noqa: E402


def _objective_value(point: dict[str, Any], endpoint: str) -> tuple[float, float, float]:
    entry = point["endpoints"].get(endpoint) or {}
    value = entry.get("value", np.nan)
    interval = entry.get("interval") or [np.nan, np.nan]
    return float(value), float(interval[0] if interval[0] is not None else np.nan), \
        float(interval[1] if interval[1] is not None else np.nan)


def front_figure(result: dict[str, Any]) -> Figure:
    """Every simulated candidate (grey), the Pareto front (blue, 95 % intervals) and, on the axis of the first two
    objectives, the candidates over an organ limit as ticks at the bottom (not simulated)."""
    objectives = [item["endpoint"] for item in result["objectives"]]
    figure = Figure(figsize=(7.0, 4.6))
    axes = figure.add_subplot(1, 1, 1)
    x_name, y_name = (objectives[1], objectives[0]) if len(objectives) > 1 else (objectives[0], objectives[0])
    simulated = [point for point in result["evaluations"] if point["simulated"]]
    if simulated:
        axes.scatter([_objective_value(point, x_name)[0] for point in simulated],
                     [_objective_value(point, y_name)[0] for point in simulated], color="#bbbbbb", s=18,
                     label=f"simulated candidates ({len(simulated)})")
    front = sorted(result["front"], key=lambda point: _objective_value(point, x_name)[0])
    if front:
        xs = np.array([_objective_value(point, x_name) for point in front])
        ys = np.array([_objective_value(point, y_name) for point in front])
        axes.errorbar(xs[:, 0], ys[:, 0], xerr=np.abs(xs[:, 1:].T - xs[:, 0]), yerr=np.abs(ys[:, 1:].T - ys[:, 0]),
                      fmt="o-", color="#1f77b4", ecolor="#9ecae1", capsize=2, label=f"Pareto front ({len(front)})")
        for number, point in enumerate(result["front"], start=1):  # numbered as in the report's table
            axes.annotate(str(number), (_objective_value(point, x_name)[0], _objective_value(point, y_name)[0]),
                          textcoords="offset points", xytext=(4, 4), fontsize=8)
    infeasible = sum(not point["feasible"] for point in result["evaluations"])
    axes.set_xlabel(x_name.replace("_", " "))
    axes.set_ylabel(y_name.replace("_", " "))
    axes.set_title(f"{infeasible} candidates over an organ limit were not simulated", fontsize=9)
    axes.legend(fontsize=8, loc="best")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def timeline_figure(regimen_mapping: dict[str, Any], title: str = "") -> Figure:
    """RPT cycles (bars, GBq for the reference patient; a guided regimen's from that patient's dosimetry) and ICI
    infusions (ticks) of one regimen over time (:func:`rptici.decisions.optimize.regimen_timeline`)."""
    from ..decisions.optimize import regimen_timeline

    timeline = regimen_timeline(regimen_mapping)
    figure = Figure(figsize=(7.0, 2.2))
    axes = figure.add_subplot(1, 1, 1)
    if timeline["rpt_weeks"]:
        axes.bar(timeline["rpt_weeks"], timeline["rpt_GBq"], width=0.8, color="#d62728",
                 label="RPT (GBq" + (", guided" if timeline["guided"] else "") + ")")
    if timeline["ici_weeks"]:
        axes.plot(timeline["ici_weeks"], np.zeros(len(timeline["ici_weeks"])) - 0.5, "|", color="#2ca02c",
                  markersize=12, label="ICI infusion")
    axes.set_xlabel("weeks from the first administration")
    axes.set_ylabel("GBq")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    return figure


def _point_label(point: dict[str, Any]) -> str:
    from ..decisions.optimize import point_label

    return point_label(point)


def write_optimize_report(result: dict[str, Any], path: str | Path, chosen: int = 1) -> Path:
    """The HTML report of an optimisation result (:func:`rptici.decisions.optimize.optimize`), with the timeline of
    front point ``chosen`` (1-based, as numbered in the table)."""
    figures = [{"title": "Pareto front", "uri": figure_to_data_uri(front_figure(result)),
                "caption": "Each point: one candidate regimen given to the same virtual patients; bars: 95 % "
                           "intervals. The front is the feasible candidates that no other beats on every objective."}]
    if result["front"]:
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 1 <= chosen <= len(result["front"]):
            from ..errors import InputError

            raise InputError("--point", chosen, f"a front point from 1 to {len(result['front'])}")
        point = result["front"][chosen - 1]
        figures.append({"title": f"Regimen of front point {chosen}", "uri": figure_to_data_uri(
            timeline_figure(point["regimen"], _point_label(point))),
            "caption": f"Reference patient (73 kg, 1.9 m²). Front point {chosen} is row {chosen} of the table below."})
    rows = []
    objectives = [item["endpoint"] for item in result["objectives"]]
    for number, point in enumerate(result["front"], start=1):
        cells = []
        for name in objectives:
            value, low, high = _objective_value(point, name)
            flag = " (not reached: ≥)" if (point["endpoints"].get(name) or {}).get("not_reached") else ""
            cells.append(f"{value:.3g} [{low:.3g}, {high:.3g}]{flag}")
        rows.append({"number": number, "regimen": _point_label(point), "ici": point["regimen"].get("ici"),
                     "robust": point.get("robust"),
                     "held": None if "ensemble" not in point else point["ensemble"]["share_held"],
                     "objectives": cells,
                     "doses": ", ".join(f"{name} {value:.3g} Gy" for name, value in point["doses_Gy"].items())})
    return render_html("decisions.html", path, result=result, figures=figures, rows=rows, objectives=objectives,
                       version=__version__)
