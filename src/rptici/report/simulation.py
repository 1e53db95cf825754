"""Figures of ``rptici simulate``: sum of diameters, PSA, lymphocytes and occupancy per patient (PNG or HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from .html import write_figure

PANELS = (("diameter_sum", "sum of diameters (mm)"), ("psa", "PSA (ng/mL)"),
          ("lymphocytes", "lymphocytes (10⁹/L)"), ("occupancy", "checkpoint occupancy"))


def simulation_figure(run: Mapping[str, Any], title: str = "") -> Figure:
    """One panel per read-out of :data:`PANELS`, one line per patient, against days since the start."""
    figure = Figure(figsize=(9, 2.6 * len(PANELS)))
    axes = figure.subplots(len(PANELS), 1, sharex=True)
    times = np.asarray(run["times"])
    for axis, (name, label) in zip(axes, PANELS):
        values = np.asarray(run["values"][name])
        for patient in range(values.shape[0]):
            axis.plot(times, values[patient], color=f"C{patient % 10}", linewidth=1.0)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("time since the start of treatment (d)")
    return figure


def write_simulation_plot(run: Mapping[str, Any], path: str | Path, title: str = "") -> Path:
    """Write :func:`simulation_figure` to ``path``: a PNG, or a self-contained HTML page with it embedded."""
    return write_figure(simulation_figure(run, title), path, title or "rptici simulate", "tumour, PSA, lymphocytes and occupancy over time", "--plot")
