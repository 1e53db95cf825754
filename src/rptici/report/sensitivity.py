"""Heat-map of the Morris sensitivity indices (normalised μ*, parameters × outputs) of ``rptici sensitivity``.

A pure function of the document of :func:`rptici.analysis.sensitivity.sensitivity`: JSON in, a matplotlib Figure out
(PNG or SVG by its file name). Rows: parameters in the order of μ* on J, identified ones in bold; columns: J, then
every calibration endpoint (trial, arm, endpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..errors import InputError  # noqa: E402

FORMATS = (".png", ".svg")


def _column_label(output: dict[str, Any]) -> str:
    if output["trial"] is None:
        return "objective J"
    trial = str(output["trial"]).split(" (")[0]
    arm = "" if output["arm"] == "evidence" else str(output["arm"])
    arm = arm if len(arm) <= 22 else arm[:21] + "…"
    return f"{trial} · {arm + ' · ' if arm else ''}{output['endpoint']}"


def sensitivity_figure(document: dict[str, Any]) -> Figure:
    """The heat-map of normalised μ* (0 white to 1 dark) with the identifiability verdicts on the rows."""
    names = list(document["parameters"])
    order = [names.index(name) for name in document["ranking"]]
    outputs = document["outputs"]
    matrix = np.array([[document["indices"][output["name"]]["normalised"][index] for output in outputs]
                       for index in order], dtype=float)
    figure = Figure(figsize=(3.5 + 0.2 * len(outputs), 3.8 + 0.26 * len(order)))
    axes = figure.add_axes((0.2, 0.42, 0.74, 0.5))
    image = axes.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(len(outputs)))
    axes.set_xticklabels([_column_label(output) for output in outputs], rotation=90, fontsize=6)
    axes.set_yticks(range(len(order)))
    axes.set_yticklabels([document["ranking"][row] for row in range(len(order))], fontsize=7)
    for label, name in zip(axes.get_yticklabels(), document["ranking"]):
        if document["identifiability"][name]["verdict"] == "identified":
            label.set_fontweight("bold")
    axes.axvline(0.5, color="black", linewidth=1.0)
    settings = document["settings"]
    axes.set_title(f"Morris normalised mu* (per output; bold: identified) — {settings['evaluations']} evaluations, "
                   f"r = {settings['trajectories']}, {settings['patients_per_trial']} virtual patients per trial, "
                   f"window ±{settings['window']} in ln", fontsize=8)
    colour_bar = figure.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
    colour_bar.ax.tick_params(labelsize=6)
    return figure


def write_sensitivity_figure(document: dict[str, Any], path: str | Path) -> Path:
    """Save :func:`sensitivity_figure` as PNG or SVG (by ``path``'s suffix)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError("--figure", str(path), "a file name ending in .png or .svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    sensitivity_figure(document).savefig(path, dpi=130, bbox_inches="tight")
    return path
