"""Figures of a virtual trial, one small pure function per figure: arrays in, a matplotlib Figure out.

Nothing here reads files or runs a simulation, so the HTML report (:mod:`rptici.report.trial`) and the web
dashboard draw the same figures from the same arrays. Times are in months unless a label says otherwise.
The RECIST 1.1 thresholds drawn on the waterfall and spider plots (−30 % partial response, +20 %
progression; Eisenhauer et al. 2009 Eur J Cancer 45:228) come from ``data/endpoints.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

from ..data import load_yaml  # noqa: E402
from ..errors import InputError  # noqa: E402

#: Colours of RECIST best overall responses (colour-blind-safe Okabe–Ito palette).
RESPONSE_COLOURS = {"CR": "#0072B2", "PR": "#56B4E9", "SD": "#999999", "PD": "#D55E00", "NE": "#DDDDDD"}
#: Colours of the attributed causes of grade ≥ 3 toxicity.
CAUSE_COLOURS = {"radiation": "#E69F00", "immune": "#009E73", "both": "#CC79A7", "disease": "#999999"}
GRADE_COLOURS = {1: "#FEE8C8", 2: "#FDBB84", 3: "#FC8D59", 4: "#E34A33", 5: "#7F0000"}


def recist_thresholds_percent() -> tuple[float, float]:
    """(partial-response line, progression line) in % change of the sum of diameters: (−30, +20), RECIST 1.1."""
    section = load_yaml("endpoints.yaml")["recist"]
    return (-100.0 * float(section["partial_response_decrease"]["value"]),
            100.0 * float(section["progression_increase"]["value"]))


def _arm_colour(index: int) -> str:
    return f"C{index % 10}"


def kaplan_meier_figure(curves: Mapping[str, Mapping[str, ArrayLike]], risk_times: ArrayLike,
                        title: str = "", xlabel: str = "months since randomisation",
                        ylabel: str = "survival probability") -> Figure:
    """Kaplan–Meier step curves per arm with their 95 % CI as shaded bands, and the numbers at risk in a
    table under the axes (one row per arm, one column per ``risk_times``).

    ``curves[arm]`` holds ``time``, ``survival``, ``low``, ``high`` (a step function, e.g. the curves of
    :func:`rptici.analysis.summary.summarize_tables`, ``km[endpoint][arm]``) and ``at_risk`` (counts at
    ``risk_times``). A ``+`` marks censoring times when ``censored`` is given. The one Kaplan–Meier plotter of
    the static reports (the dashboard draws the same summary curves interactively with plotly).
    """
    risk_times = np.asarray(risk_times, dtype=float)
    if not curves:
        raise InputError("curves", curves, "at least one arm with time, survival, low, high and at_risk")
    figure = Figure(figsize=(8, 4.2))
    axes = figure.add_axes((0.12, 0.14, 0.84, 0.78))
    for index, (arm, curve) in enumerate(curves.items()):
        colour = _arm_colour(index)
        time = np.asarray(curve["time"], dtype=float)
        survival = np.asarray(curve["survival"], dtype=float)
        at_risk = np.asarray(curve["at_risk"])
        if time.shape != survival.shape or at_risk.shape != risk_times.shape:
            raise InputError(f"curves[{arm!r}]", (time.shape, survival.shape, at_risk.shape),
                             "time and survival of one length, at_risk one count per risk time")
        axes.step(time, survival, where="post", color=colour, label=arm, linewidth=1.6)
        axes.fill_between(time, np.asarray(curve["low"], float), np.asarray(curve["high"], float),
                          step="post", color=colour, alpha=0.18, linewidth=0)
        censored = curve.get("censored")
        if censored is not None and np.size(censored):
            censored = np.asarray(censored, float)
            index_at = np.clip(np.searchsorted(time, censored, side="right") - 1, 0, None)
            axes.plot(censored, survival[index_at], "+", color=colour, markersize=5, alpha=0.7)
    end = float(risk_times.max()) if risk_times.size else None
    axes.set(ylim=(0, 1.02), xlim=(0, end) if end else None, ylabel=ylabel, title=title)
    axes.set_xticks(risk_times)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    axes.set_xlabel(xlabel)
    # numbers at risk, aligned with the x ticks, one row per arm
    table = figure.add_axes((0.12, -0.04 - 0.06 * len(curves), 0.84, 0.06 * len(curves)), sharex=axes)
    table.set_axis_off()
    table.text(0.0, 1.0, "number at risk", transform=table.transAxes, fontsize=8, va="bottom", ha="left",
               color="0.3")
    rows = len(curves)
    for row, (arm, curve) in enumerate(curves.items()):
        height = 1.0 - (row + 0.7) / rows
        table.text(-0.06, height, arm, transform=table.transAxes, ha="right", va="center", fontsize=8,
                   color=_arm_colour(row))
        for time, count in zip(risk_times, np.asarray(curve["at_risk"])):
            table.text(time, height, f"{int(count)}", transform=table.get_xaxis_transform(), ha="center",
                       va="center", fontsize=8, color=_arm_colour(row))
    return figure


def waterfall_figure(percent_change: ArrayLike, response: ArrayLike, title: str = "",
                     ylabel: str = "best change of the sum of diameters (%)") -> Figure:
    """One bar per patient, best percentage change sorted from largest growth to deepest shrinkage, coloured
    by RECIST best overall response, with the −30 % and +20 % lines. NaN (not assessed) is left out."""
    values = np.asarray(percent_change, dtype=float)
    labels = np.asarray(response, dtype=str)
    if values.ndim != 1 or labels.shape != values.shape:
        raise InputError("response", labels.shape, f"one response label per percentage change, shape {values.shape}")
    keep = ~np.isnan(values)
    order = np.argsort(-values[keep], kind="stable")
    values, labels = values[keep][order], labels[keep][order]
    figure = Figure(figsize=(8, 3.8))
    axes = figure.subplots()
    colours = [RESPONSE_COLOURS.get(label, "#000000") for label in labels]
    axes.bar(np.arange(values.size), np.clip(values, None, 100.0), width=1.0, color=colours, linewidth=0)
    response_line, progression_line = recist_thresholds_percent()
    axes.axhline(response_line, color="0.2", linestyle="--", linewidth=0.8)
    axes.axhline(progression_line, color="0.2", linestyle=":", linewidth=0.8)
    axes.axhline(0, color="0.2", linewidth=0.6)
    present = [label for label in RESPONSE_COLOURS if label in set(labels)]
    handles = [Patch(color=RESPONSE_COLOURS[label], label=label) for label in present]
    handles += [Line2D([], [], color="0.2", linestyle="--", label=f"{response_line:+.0f} %"),
                Line2D([], [], color="0.2", linestyle=":", label=f"{progression_line:+.0f} %")]
    axes.legend(handles=handles, fontsize=7, ncol=len(handles), loc="lower left")
    axes.set(xlim=(-0.5, max(values.size, 1) - 0.5), ylim=(-105, 105), ylabel=ylabel, xticks=[],
             xlabel=f"patients ({values.size}; growth above 100 % drawn at 100 %)", title=title)
    axes.grid(axis="y", alpha=0.3)
    return figure


def swimmer_figure(follow_up: ArrayLike, arm: ArrayLike, response_time: ArrayLike, progression_time: ArrayLike,
                   death: ArrayLike, title: str = "", xlabel: str = "months since randomisation") -> Figure:
    """One horizontal bar per patient to the last follow-up, coloured by arm and sorted by arm then length;
    markers at the first response (CR/PR), at progression and at death; NaN where an event did not occur.
    A bar without a death marker is censored (alive at the last follow-up)."""
    follow_up = np.asarray(follow_up, dtype=float)
    arms = np.asarray(arm, dtype=str)
    response_time = np.asarray(response_time, dtype=float)
    progression_time = np.asarray(progression_time, dtype=float)
    death = np.asarray(death, dtype=bool)
    for name, values in (("arm", arms), ("response_time", response_time), ("progression_time", progression_time),
                         ("death", death)):
        if values.shape != follow_up.shape or follow_up.ndim != 1:
            raise InputError(name, values.shape, f"one value per patient, shape {follow_up.shape}")
    names = list(dict.fromkeys(arms.tolist()))
    order = np.lexsort((follow_up, [names.index(name) for name in arms]))
    figure = Figure(figsize=(8, max(3.0, 0.5 + 0.12 * follow_up.size)))
    axes = figure.subplots()
    rows = np.arange(follow_up.size)
    colours = [_arm_colour(names.index(name)) for name in arms[order]]
    axes.barh(rows, follow_up[order], height=0.75, color=colours, alpha=0.55, linewidth=0)
    axes.plot(response_time[order], rows, "o", color="#0072B2", markersize=4, label="response (CR/PR)")
    axes.plot(progression_time[order], rows, "D", color="#D55E00", markersize=4, label="progression")
    died = death[order]
    axes.plot(follow_up[order][died], rows[died], "x", color="black", markersize=5, label="death")
    handles = [Patch(color=_arm_colour(index), alpha=0.55, label=name) for index, name in enumerate(names)]
    handles += axes.get_legend_handles_labels()[0]
    axes.legend(handles=handles, fontsize=7, loc="lower right")
    axes.set(yticks=[], ylim=(-0.8, follow_up.size - 0.2), xlim=(0, None), xlabel=xlabel,
             ylabel=f"patients ({follow_up.size})", title=title)
    axes.grid(axis="x", alpha=0.3)
    return figure


def spider_figure(time: ArrayLike, percent_change: ArrayLike, patient: ArrayLike, response: Mapping[object, str],
                  title: str = "", xlabel: str = "months since randomisation",
                  ylabel: str = "change of the sum of diameters (%)") -> Figure:
    """One line per patient: percentage change of the sum of diameters from baseline at each assessment
    (long format: ``time``, ``percent_change``, ``patient`` of equal length), coloured by the patient's best
    response (``response[patient]``), with the −30 % and +20 % lines."""
    time = np.asarray(time, dtype=float)
    change = np.asarray(percent_change, dtype=float)
    patient = np.asarray(patient)
    if not time.shape == change.shape == patient.shape or time.ndim != 1:
        raise InputError("time, percent_change, patient", (time.shape, change.shape, patient.shape),
                         "three 1-D arrays of one length")
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    for identifier in dict.fromkeys(patient.tolist()):
        rows = np.flatnonzero(patient == identifier)
        rows = rows[np.argsort(time[rows], kind="stable")]
        label = response.get(identifier, "NE")
        axes.plot(time[rows], np.clip(change[rows], None, 150.0), "-", color=RESPONSE_COLOURS.get(label, "black"),
                  linewidth=0.8, alpha=0.7)
    response_line, progression_line = recist_thresholds_percent()
    axes.axhline(response_line, color="0.2", linestyle="--", linewidth=0.8)
    axes.axhline(progression_line, color="0.2", linestyle=":", linewidth=0.8)
    present = [label for label in RESPONSE_COLOURS if label in set(response.values())]
    axes.legend(handles=[Line2D([], [], color=RESPONSE_COLOURS[label], label=label) for label in present],
                fontsize=7, loc="upper left", title="best response", title_fontsize=7)
    axes.set(xlabel=xlabel, ylabel=ylabel, ylim=(-105, 155), title=title)
    axes.grid(alpha=0.3)
    return figure


def toxicity_figure(arms: Sequence[str], organs: Sequence[str], grade_fraction: ArrayLike,
                    cause_fraction: ArrayLike, causes: Sequence[str] = ("radiation", "immune", "both"),
                    title: str = "") -> Figure:
    """Left: fraction of patients by worst CTCAE grade (1–5, stacked) per organ category, one bar per arm
    side by side; right: fraction of patients with a grade ≥ 3 event by attributed cause (stacked) per arm.

    ``grade_fraction`` is (arms, organs, 5): fraction with worst grade 1..5; ``cause_fraction`` (arms, causes).
    """
    grades = np.asarray(grade_fraction, dtype=float)
    by_cause = np.asarray(cause_fraction, dtype=float)
    if grades.shape != (len(arms), len(organs), 5):
        raise InputError("grade_fraction", grades.shape, f"(arms, organs, 5) = ({len(arms)}, {len(organs)}, 5)")
    if by_cause.shape != (len(arms), len(causes)):
        raise InputError("cause_fraction", by_cause.shape, f"(arms, causes) = ({len(arms)}, {len(causes)})")
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / max(len(arms), 1)
    positions = np.arange(len(organs))
    hatches = ("", "//", "..", "xx", "\\\\")
    for row, arm in enumerate(arms):
        x = positions - 0.4 + width * (row + 0.5)
        bottom = np.zeros(len(organs))
        for grade in range(1, 6):
            values = 100 * grades[row, :, grade - 1]
            left.bar(x, values, width * 0.95, bottom=bottom, color=GRADE_COLOURS[grade], edgecolor="0.3",
                     linewidth=0.4, hatch=hatches[row % len(hatches)])
            bottom += values
    left.set_xticks(positions, organs, rotation=30, ha="right", fontsize=8)
    handles = [Patch(facecolor=GRADE_COLOURS[grade], edgecolor="0.3", label=f"grade {grade}") for grade in range(1, 6)]
    handles += [Patch(facecolor="white", edgecolor="0.3", hatch=hatches[row % len(hatches)], label=arm)
                for row, arm in enumerate(arms)]
    left.legend(handles=handles, fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    left.set(ylabel="patients (%)", title=title or "worst grade per organ category", ylim=(0, 100))  # not 120 %
    left.grid(axis="y", alpha=0.3)
    bottom = np.zeros(len(arms))
    for column, cause in enumerate(causes):
        values = 100 * by_cause[:, column]
        right.bar(np.arange(len(arms)), values, 0.6, bottom=bottom, color=CAUSE_COLOURS.get(cause, f"C{column}"),
                  label=cause)
        bottom += values
    right.set_xticks(np.arange(len(arms)), list(arms), rotation=30, ha="right", fontsize=8)
    right.set(ylabel="patients with grade ≥ 3 (%)", title="grade ≥ 3 by attributed cause", ylim=(0, 100))
    right.legend(fontsize=7)
    right.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def time_activity_figure(time: ArrayLike, activity: Mapping[str, ArrayLike], administration_times: ArrayLike = (),
                         title: str = "", xlabel: str = "days since the start of treatment",
                         ylabel: str = "activity (MBq)", dynamic_range: float = 1e4) -> Figure:
    """Activity against time per compartment (``activity[name]`` on the ``time`` grid) on a log axis spanning
    ``dynamic_range`` below the peak, with the administrations as vertical lines; compartments that never hold
    activity are left out, and the time axis ends soon after the last activity above the axis floor."""
    time = np.asarray(time, dtype=float)
    figure = Figure(figsize=(8, 3.8))
    axes = figure.subplots()
    peak = 0.0
    for index, (name, values) in enumerate(activity.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != time.shape:
            raise InputError(f"activity[{name!r}]", values.shape, f"one value per time, shape {time.shape}")
        if np.any(values > 0):
            axes.plot(time, np.where(values > 0, values, np.nan), label=name, color=f"C{index % 10}")
            peak = max(peak, float(values.max()))
    for moment in np.asarray(administration_times, dtype=float):
        axes.axvline(moment, color="0.7", linewidth=0.6, zorder=0)
    if peak > 0:
        axes.set_ylim(peak / dynamic_range, peak * 2)
        visible = np.any([np.asarray(values, float) > peak / dynamic_range for values in activity.values()], axis=0)
        end = float(time[np.flatnonzero(visible)[-1]]) if visible.any() else float(time.max())
        axes.set_xlim(float(time.min()), float(time.min()) + 1.05 * (end - float(time.min())) + 1e-9)
        axes.legend(fontsize=7, ncol=3)
    axes.set(yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(alpha=0.3)
    return figure


def fitted_tac_figure(curves: Sequence[tuple[int, str, object]], end_days: float, ylabel: str, title: str,
                      points: int = 400) -> Figure:
    """Measured points and fitted time–activity curves on a log axis against hours. ``curves``: (colour index,
    label, fit) with the fit's ``times`` (d), ``activities``, ``model`` and ``predict(days)``; the curves run from 0
    to ``end_days``."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    grid = np.linspace(0.0, end_days, points)[1:]
    for index, label, fit in curves:
        colour = f"C{index % 10}"
        axes.plot(fit.times * 24, fit.activities, "o", color=colour)
        axes.plot(grid * 24, fit.predict(grid), "-", color=colour, label=f"{label} ({fit.model})")
    axes.set(xlabel="time after administration (h)", ylabel=ylabel, yscale="log", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure
