"""The HTML report of a patient dosimetry study: fitted time–activity curves, dose and BED table."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .. import __version__
from ..radiobiology.assessment import PatientDosimetry
from .figures import fitted_tac_figure
from .html import figure_to_data_uri, render_html


def time_activity_figure(result: PatientDosimetry) -> Figure:
    """Measured points and fitted curves of every region, activity on a log axis against hours."""
    end = max(float(region.fit.times.max()) for region in result.regions.values()) * 1.3
    curves = [(index, region.region, region.fit) for index, region in enumerate(result.regions.values())]
    return fitted_tac_figure(curves, end, "activity (MBq)",
                             f"{result.agent or result.nuclide}: measured (points) and fitted (lines)")


def write_dosimetry_report(result: PatientDosimetry, path: str | Path) -> Path:
    """Write the self-contained HTML report of ``result`` to ``path``."""
    return render_html("dosimetry.html", path, result=result, summary=result.summary(), version=__version__,
                       tac_figure=figure_to_data_uri(time_activity_figure(result)))
