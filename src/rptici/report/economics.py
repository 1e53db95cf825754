"""The self-contained HTML report of a cost-effectiveness analysis: arms, increments, costs by item, the
cost-effectiveness plane, the acceptability curve, the one-way (tornado) diagram, and every input with its
source. Entry point: :func:`write_economics_report` (``rptici economics RUN --costs FILE --html PATH``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from ..economics import CostEffectiveness
from .html import figure_to_data_uri, render_html


def plane_figure(delta_costs: np.ndarray, delta_qalys: np.ndarray, thresholds: Sequence[float], currency: str,
                 label: str) -> Figure:
    """Incremental QALYs (x) against incremental cost (y) per probabilistic draw, with threshold lines."""
    figure = Figure(figsize=(6, 4.5))
    axes = figure.add_subplot()
    axes.scatter(delta_qalys, delta_costs, s=4, alpha=0.4, label=label)
    axes.scatter([np.mean(delta_qalys)], [np.mean(delta_costs)], color="black", marker="x", label="mean")
    span = np.array(axes.get_xlim())
    for threshold in thresholds:
        axes.plot(span, threshold * span, linestyle="--", linewidth=0.8, label=f"{threshold:,.0f} {currency}/QALY")
    axes.set_xlim(span)
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.axvline(0, color="grey", linewidth=0.5)
    axes.set_xlabel("incremental QALYs")
    axes.set_ylabel(f"incremental cost ({currency})")
    axes.legend(fontsize=7)
    return figure


def acceptability_figure(thresholds: np.ndarray, probability: np.ndarray, arms: Sequence[str], currency: str) -> Figure:
    """Probability that each arm is the most cost-effective (highest net monetary benefit) per threshold."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for index, arm in enumerate(arms):
        axes.plot(thresholds, probability[:, index], label=arm)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(f"willingness to pay ({currency}/QALY)")
    axes.set_ylabel("probability cost-effective")
    axes.legend(fontsize=8)
    return figure


def tornado_figure(rows: Sequence[Mapping[str, Any]], currency: str, bars: int = 12) -> Figure:
    """One-way ranges of the incremental net monetary benefit, widest on top."""
    shown = list(rows[:bars])[::-1]
    figure = Figure(figsize=(7, 0.35 * len(shown) + 1.2))
    axes = figure.add_subplot()
    if shown:
        base = shown[0]["benefit_base"]
        for position, row in enumerate(shown):
            axes.barh(position, row["benefit_low"] - base, left=base, color="tab:blue")
            axes.barh(position, row["benefit_high"] - base, left=base, color="tab:orange")
        axes.axvline(base, color="black", linewidth=0.8)
        axes.set_yticks(range(len(shown)), [row["name"].replace("_", " ") for row in shown], fontsize=7)
        axes.set_xlabel(f"incremental net monetary benefit at {shown[0]['threshold']:,.0f} {currency}/QALY "
                        f"(blue: low value, orange: high value)")
    return figure


def write_economics_report(analysis: CostEffectiveness, path: str | Path, source: str = "") -> Path:
    """Render the report of ``analysis`` (:func:`rptici.economics.cost_effectiveness`): the deterministic result,
    the probabilistic draws (``analysis.plane``: cost-effectiveness plane and acceptability curve) when drawn,
    and the one-way rows (tornado)."""
    result, probabilistic, tornado = analysis.result, analysis.plane, analysis.one_way
    currency, figures = result["currency"], []
    if probabilistic is not None:
        comparison = result["comparisons"][0]
        figures.append({"title": "Cost-effectiveness plane", "uri": figure_to_data_uri(plane_figure(
            np.asarray(probabilistic["delta_costs"]), np.asarray(probabilistic["delta_qalys"]), result["thresholds"],
            currency, f"{comparison['arm']} vs {comparison['against']}")),
            "caption": f"{len(probabilistic['delta_costs'])} probabilistic draws (seed {probabilistic['seed']}); "
                       "dashed lines: willingness-to-pay thresholds (below a line: cost-effective at it)."})
        figures.append({"title": "Cost-effectiveness acceptability curve", "uri": figure_to_data_uri(
            acceptability_figure(np.asarray(probabilistic["thresholds"]), np.asarray(probabilistic["acceptability"]),
                                 [arm["arm"] for arm in result["arms"]], currency)),
            "caption": "Share of draws in which each arm has the highest net monetary benefit."})
    if tornado:
        figures.append({"title": "One-way sensitivity (tornado)", "uri": figure_to_data_uri(
            tornado_figure(tornado, currency)),
            "caption": "Each parameter at its low and high value (source range, else mean ± 1.96 SE), others at base."})
    inputs = [parameter for parameter in result["parameters"]]
    return render_html("economics.html", path, result=result, figures=figures, inputs=inputs, source=source,
                       version=__version__)
