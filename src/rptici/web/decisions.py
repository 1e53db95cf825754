"""The decisions pages of the dashboard (issue 17): the results of ``rptici optimize`` found under a folder, each
shown as its Pareto front (plotly, 95 % intervals, robust points marked when the front was run across the
calibration ensemble), the front's table with a link per point, and the chosen point's regimen as a timeline
(:func:`rptici.decisions.optimize.regimen_timeline`, the same one as the HTML report's).

Results are folders holding ``front.json`` directly under the decisions folder (``rptici optimize --out
DECISIONS/NAME``); a name is served only when it is one of those listed (no path from the request reaches the
file system), and a point only when it is on the front.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rptici.errors import InputError

from . import figures

FRONT_FILE = "front.json"
REPORT_FILE = "report.html"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def results(root: Path) -> list[dict[str, Any]]:
    """The optimisation results under ``root`` (name, title, front size), newest first."""
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        path = folder / FRONT_FILE
        if NAME.match(folder.name) and path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.append({"name": folder.name, "title": document.get("name", folder.name),
                          "front": len(document.get("front", [])), "evaluated": document.get("counts", {}).get("evaluated"),
                          "robust": None if "ensemble" not in document else document["ensemble"]["robust_points"],
                          "modified": path.stat().st_mtime})
    return sorted(found, key=lambda item: -item["modified"])


def result_folder(root: Path, name: str) -> Path:
    """The folder of result ``name`` (one of :func:`results`), else an InputError naming the known ones."""
    known = [item["name"] for item in results(root)]
    if name not in known:
        raise InputError("result", name, "an optimisation result of this dashboard: " + (", ".join(known) or
                                                                                       "none yet (rptici optimize "
                                                                                       f"--out {root}/NAME)"))
    return root / name


def parse_point(text: str | None, front: int) -> int:
    """The chosen front point (1-based; default 1) from the query string."""
    if text in (None, ""):
        return 1
    if not str(text).isdigit() or not 1 <= int(text) <= front:
        raise InputError("point", text, f"a front point from 1 to {front}")
    return int(text)


def result_context(root: Path, name: str, point_text: str | None) -> dict[str, Any]:
    """Everything the page of result ``name`` shows, with front point ``point_text`` chosen."""
    from rptici.decisions.optimize import point_label, regimen_timeline

    folder = result_folder(root, name)
    document = json.loads((folder / FRONT_FILE).read_text(encoding="utf-8"))
    front = document.get("front", [])
    objectives = [item["endpoint"] for item in document["objectives"]]
    context: dict[str, Any] = {"result_name": name, "result": document, "objectives": objectives, "rows": [],
                               "has_report": (folder / REPORT_FILE).is_file(), "chosen": None}
    for number, point in enumerate(front, start=1):
        cells = []
        for endpoint in objectives:
            entry = point["endpoints"].get(endpoint) or {}
            interval = entry.get("interval") or [None, None]
            cells.append({"value": entry.get("value"), "low": interval[0], "high": interval[1],
                          "not_reached": entry.get("not_reached", False)})
        context["rows"].append({"number": number, "label": point_label(point), "cells": cells,
                                "doses": point["doses_Gy"], "robust": point.get("robust"),
                                "held": (point.get("ensemble") or {}).get("share_held")})
    if not front:
        return context
    chosen = parse_point(point_text, len(front))
    point = front[chosen - 1]
    timeline = regimen_timeline(point["regimen"])
    context.update(chosen=chosen, chosen_label=point_label(point), timeline=timeline,
                   front_figure=figures.to_html(figures.front_figure(document, chosen), "front-figure"),
                   timeline_figure=figures.to_html(figures.timeline_figure(
                       timeline, f"Front point {chosen}: {point_label(point)}"), "timeline-figure"))
    return context
