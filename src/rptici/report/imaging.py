"""The HTML report of an image-based dosimetry run (``rptici image-dose``): slices with the dose overlaid, DVHs with
their 95 % bands, region TACs with their fits, and the region table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from .figures import fitted_tac_figure
from .html import figure_to_data_uri, render_html

#: Dose below this fraction of the maximum is not overlaid (the anatomy shows through).
OVERLAY_THRESHOLD = 0.02


def _in_regions(result: Any) -> np.ndarray:
    """The dose map with the unlabelled voxels (air around the body, where a low density inflates dose) set to 0."""
    return np.where(result.study.labels > 0, np.nan_to_num(result.dose_Gy), 0.0)


def _slice_centre(result: Any) -> tuple[int, int, int]:
    """The voxel through which the slices are cut: the hottest voxel inside the labelled regions."""
    dose = _in_regions(result)
    return tuple(int(value) for value in np.unravel_index(int(np.argmax(dose)), dose.shape))


def _background(result: Any) -> tuple[np.ndarray, str]:
    study = result.study
    if np.ndim(study.density) == 3:
        return np.asarray(study.density), "density from CT (g/mL)"
    return np.asarray(study.activities[0]), "first scan (MBq per voxel)"


def slice_figure(result: Any) -> Figure:
    """Axial and coronal slices through the hottest voxel of the regions: anatomy in grey, the regions' dose in colour
    (scaled to the regions' maximum), region outlines."""
    dose = _in_regions(result)
    background, background_name = _background(result)
    labels = result.study.labels
    sx, sy, sz = result.study.reference.spacing_mm
    i, j, k = _slice_centre(result)
    top = max(float(dose.max()), 1e-12)
    figure = Figure(figsize=(11, 4.8))
    axes = figure.subplots(1, 2)
    views = (("axial", np.s_[:, :, k], (sx, sy), f"z index {k}"), ("coronal", np.s_[:, j, :], (sx, sz), f"y index {j}"))
    image = None
    for ax, (name, cut, (width, height), where) in zip(axes, views):
        extent = (0, dose[cut].shape[0] * width, 0, dose[cut].shape[1] * height)
        ax.imshow(background[cut].T, cmap="gray", origin="lower", extent=extent)
        overlay = np.ma.masked_less(dose[cut].T, OVERLAY_THRESHOLD * top)
        image = ax.imshow(overlay, cmap="inferno", origin="lower", extent=extent, alpha=0.75, vmin=0, vmax=top)
        region_cut = labels[cut].T
        for index, region in enumerate(result.study.regions):
            mask = (region_cut == region.label).astype(float)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=[f"C{index % 10}"], linewidths=0.8, origin="lower",
                           extent=extent)
        ax.set(title=f"{name} ({where})", xlabel="mm", ylabel="mm")
    figure.colorbar(image, ax=axes, label="absorbed dose (Gy)", shrink=0.85)
    figure.suptitle(f"dose over the {background_name}; outlines: regions")
    return figure


def dvh_figure(result: Any) -> Figure:
    """Cumulative DVH of every region, with its 95 % band where the uncertainty was computed."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    table = result.dvh[result.dvh["quantity"] == "dose"]
    band = result.dvh_band
    for index, region in enumerate(result.study.regions):
        colour = f"C{index % 10}"
        curve = table[table["region"] == region.name]
        axes.plot(curve["dose_Gy"], 100 * curve["volume_fraction"], color=colour, label=region.name)
        if band is not None:
            rows = band[band["region"] == region.name]
            axes.fill_between(rows["dose_Gy"], 100 * rows["volume_fraction_low"], 100 * rows["volume_fraction_high"],
                              color=colour, alpha=0.25, linewidth=0)
    axes.set(xlabel="absorbed dose (Gy)", ylabel="volume (%)", ylim=(0, 102),
             title="cumulative DVHs" + (" with 95 % bands (region TIA uncertainty)" if band is not None else ""))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def tac_figure(result: Any) -> Figure | None:
    """Each region's total activity at each scan (points) and its fitted curve (line); None with fewer than 3 scans."""
    if not result.fits:
        return None
    corrected = " (partial-volume corrected)" if result.partial_volume else ""
    curves = [(index, region.name, result.fits[region.name]) for index, region in enumerate(result.study.regions)
              if result.fits.get(region.name) is not None]
    return fitted_tac_figure(curves, float(result.study.times_days.max()) * 1.3, "region activity (MBq)",
                             f"region time–activity curves{corrected}: scans (points), fits (lines)", points=300)


def write_image_dose_report(result: Any, path: str | Path) -> Path:
    """Write the self-contained HTML report of an :class:`rptici.imaging.ImageDoseResult` to ``path``."""
    tac = tac_figure(result)
    return render_html("imaging.html", path, result=result, summary=result.summary(), version=__version__,
                       slice_figure=figure_to_data_uri(slice_figure(result)),
                       dvh_figure=figure_to_data_uri(dvh_figure(result)),
                       tac_figure=None if tac is None else figure_to_data_uri(tac))
