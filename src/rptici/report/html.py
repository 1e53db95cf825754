"""Rendering: Jinja2 templates packaged with rptici, matplotlib figures embedded as PNG data URIs."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

from rptici.units import format_number

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("rptici.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["sig"] = format_number  # never 1.193e+04 (issue 19, item 6)
    environment.filters["words"] = lambda name: str(name).replace("_", " ")  # red_marrow -> red marrow
    environment.filters["cell"] = summary_cell
    return environment


def summary_cell(value: Any, kind: str = "") -> str:
    """A value of the per-arm summary as text: rates ('rate') as per cent, months and ratios with 1 or 2
    decimals, counts whole, [estimate, low, high] with its interval, a mapping as ``key value; …``."""
    if value is None:
        return "–"
    if isinstance(value, Mapping):
        return "; ".join(f"{key} {summary_cell(item, kind)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):  # [estimate, low, high]
        if not value or value[0] is None:
            return "–"
        if kind == "ratio" and not 1e-3 < float(value[0]) < 1e3:
            return "not estimable (no events in one arm)"
        interval = len(value) == 3 and value[1] is not None and value[2] is not None
        low, high = (summary_cell(bound, kind) for bound in value[1:3]) if interval else ("", "")
        return summary_cell(value[0], kind) + (f" ({low}–{high})" if interval else "")
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if kind == "rate":
        return f"{100 * float(value):.0f} %"
    if kind == "count":
        return f"{int(value)}"
    return f"{float(value):.2f}" if kind == "ratio" else f"{float(value):.1f}"


def figure_to_data_uri(figure: Figure) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI, so the HTML needs no side files."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


#: File types a single figure can be written to.
FIGURE_FORMATS = (".png", ".html")


def write_figure(figure: Figure, path: str | Path, title: str, description: str, field: str = "--out") -> Path:
    """Write ``figure`` to ``path``: a PNG, or a self-contained HTML page with the figure embedded."""
    from .. import __version__
    from ..errors import InputError

    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise InputError(field, str(path), "a file name ending in .png or .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        figure.savefig(path, format="png", dpi=110, bbox_inches="tight")
        return path
    heading = html.escape(title)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{heading}</title></head>\n"
            f"<body style=\"font-family: sans-serif; max-width: 60em; margin: auto\">\n<h1>{heading}</h1>\n"
            f"<img alt=\"{html.escape(description)}\" src=\"{figure_to_data_uri(figure)}\">\n"
            f"<p>rptici {html.escape(__version__)}</p>\n</body></html>\n")
    path.write_text(page, encoding="utf-8")
    return path


def render_html(template: str, path: str | Path, **context: object) -> Path:
    """Render the packaged ``template`` with ``context`` into ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_environment().get_template(template).render(**context), encoding="utf-8")
    return path
