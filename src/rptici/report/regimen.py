"""Figures of a regimen: activity per compartment and checkpoint-target occupancy over time (PNG or HTML)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..radiobiology.regimen_dose import RegimenDose
from .html import write_figure



def regimen_figure(result: RegimenDose, patient: int = 0, title: str = "") -> Figure:
    """Activity (MBq, log axis) of every compartment inside the body, cumulative dose of the targets, and,
    with a checkpoint inhibitor, its target occupancy; all against days since the start of treatment."""
    panels = 3 if result.occupancy is not None else 2
    figure = Figure(figsize=(9, 3.2 * panels))
    axes = figure.subplots(panels, 1, sharex=True)
    days = result.times
    for index, name in enumerate(result.compartments):
        if name in result.excretion:
            continue
        values = result.activity_MBq[patient, index]
        if np.any(values > 0):
            axes[0].plot(days, np.where(values > 0, values, np.nan), label=name, color=f"C{index % 10}")
    peak = float(np.max(result.activity_MBq[patient], initial=0.0))
    if peak > 0:
        axes[0].set_ylim(peak * 1e-5, peak * 2)
    axes[0].set(ylabel="activity (MBq)", yscale="log",
                title=title or f"{result.agent}: {result.administered_MBq.shape[0]} cycles, "
                               f"{result.total_activity_MBq[patient] / 1000:.4g} GBq in total")
    axes[0].legend(fontsize=7, ncol=3)
    for column, target in enumerate(result.targets):
        axes[1].plot(days, result.cumulative_dose_Gy[patient, column], label=target, color=f"C{column % 10}")
    axes[1].set(ylabel="cumulative absorbed dose (Gy)", yscale="symlog")
    axes[1].legend(fontsize=7, ncol=3)
    for time in result.administration_times:
        for axis in axes:
            axis.axvline(time, color="0.7", linewidth=0.6, zorder=0)
    if result.occupancy is not None:
        axes[2].plot(days, 100 * result.occupancy[patient], color="C3")
        axes[2].set(ylabel=f"{result.ici_target} occupancy (%)", ylim=(0, 100.5),
                    title=f"{result.ici_agent}: trough {100 * result.trough_occupancy[patient]:.1f} %, "
                          f"mean {100 * result.mean_occupancy[patient]:.1f} %")
    axes[-1].set_xlabel("time since the start of treatment (d)")
    for axis in axes:
        axis.grid(alpha=0.3)
    return figure


def write_regimen_plot(result: RegimenDose, path: str | Path, patient: int = 0, title: str = "") -> Path:
    """Write :func:`regimen_figure` to ``path``: a PNG, or a self-contained HTML page with the figure embedded."""
    return write_figure(regimen_figure(result, patient, title), path, title or f"{result.agent} regimen", "activity, dose and occupancy over time", "--out")
