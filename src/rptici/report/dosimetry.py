"""The HTML report of a patient dosimetry study: fitted time–activity curves, dose and BED table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from ..radiobiology.assessment import PatientDosimetry
from .html import figure_to_data_uri, render_html


def time_activity_figure(result: PatientDosimetry) -> Figure:
    """Measured points and fitted curves of every region, activity on a log axis against hours."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    end = max(float(region.fit.times.max()) for region in result.regions.values()) * 1.3
    grid = np.linspace(0.0, end, 400)[1:]
    for index, region in enumerate(result.regions.values()):
        colour = f"C{index % 10}"
        axes.plot(region.fit.times * 24, region.fit.activities, "o", color=colour)
        axes.plot(grid * 24, region.fit.predict(grid), "-", color=colour, label=f"{region.region} ({region.fit.model})")
    axes.set(xlabel="time after administration (h)", ylabel="activity (MBq)", yscale="log",
             title=f"{result.agent or result.nuclide}: measured (points) and fitted (lines)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def write_dosimetry_report(result: PatientDosimetry, path: str | Path) -> Path:
    """Write the self-contained HTML report of ``result`` to ``path``."""
    return render_html("dosimetry.html", path, result=result, summary=result.summary(), version=__version__,
                       tac_figure=figure_to_data_uri(time_activity_figure(result)))
