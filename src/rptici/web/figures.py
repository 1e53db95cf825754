"""Plotly figures of a run, rendered on the server to HTML fragments (plotly.js is served locally, no CDN).

Inputs are the JSON summary of :func:`rptici.analysis.summary.summarize` (Kaplan–Meier curves per
endpoint and arm, grade >= 3 toxicity by cause per arm) and the per-patient table (best percentage change
of the sum of diameters for the waterfall).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from rptici.trials.endpoint_registry import endpoints

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_CONFIG = {"displaylogo": False, "responsive": True}


def to_html(figure: go.Figure, div_id: str) -> str:
    """A ``<div>`` plus the script that draws it, expecting ``plotly.min.js`` already on the page."""
    return pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)


def _layout(figure: go.Figure, title: str, height: int = 380) -> go.Figure:
    figure.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=50, b=50), template="plotly_white",
                         legend=dict(orientation="h", yanchor="bottom", y=-0.35))
    return figure


def km_curves(summary: Mapping[str, Any], endpoint: str) -> list[dict[str, Any]]:
    """[{arm, time_months, survival, low, high, at_risk}] for one endpoint, whatever the summary's nesting
    (``km[endpoint][arm] = {...}`` or ``km[endpoint] = [{arm: ..., ...}]``)."""
    per_endpoint = (summary.get("km") or {}).get(endpoint)
    if per_endpoint is None:
        return []
    items: Iterable[tuple[str, Mapping[str, Any]]]
    if isinstance(per_endpoint, Mapping):
        items = per_endpoint.items()
    else:
        items = ((str(curve.get("arm")), curve) for curve in per_endpoint)
    curves = []
    for arm, curve in items:
        at_risk = curve.get("at_risk") or {}
        if not isinstance(at_risk, Mapping):  # a list aligned with time_months
            at_risk = {"time_months": curve.get("time_months") or [], "n": at_risk}
        curves.append({"arm": arm, "time_months": list(curve.get("time_months") or curve.get("time") or []),
                       "survival": list(curve.get("survival") or []), "low": list(curve.get("low") or []),
                       "high": list(curve.get("high") or []),
                       "at_risk": {"time_months": list(at_risk.get("time_months") or []),
                                   "n": list(at_risk.get("n") or [])}})
    return curves


def km_endpoints(summary: Mapping[str, Any]) -> list[str]:
    """Endpoints with Kaplan–Meier curves, in the order of the endpoint registry."""
    order = [item.name for item in endpoints()]
    names = list((summary.get("km") or {}).keys())
    return sorted(names, key=lambda name: (order.index(name) if name in order else len(order), name))


def _title(name: str) -> str:
    """The endpoint's label, capitalised (its name when it is not registered)."""
    label = next((item.label for item in endpoints() if item.name == name), name.upper())
    return label[:1].upper() + label[1:]


def km_figure(summary: Mapping[str, Any], endpoint: str) -> go.Figure:
    """Kaplan–Meier step curves per arm with their pointwise 95 % confidence band and numbers at risk below."""
    figure = go.Figure()
    curves = km_curves(summary, endpoint)
    for index, curve in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        time, survival = curve["time_months"], curve["survival"]
        if curve["low"] and curve["high"]:
            figure.add_trace(go.Scatter(x=time + time[::-1], y=curve["high"] + curve["low"][::-1], fill="toself",
                                        line=dict(width=0, shape="hv"), fillcolor=colour, opacity=0.15,
                                        hoverinfo="skip", showlegend=False, name=f"{curve['arm']} 95% CI"))
        figure.add_trace(go.Scatter(x=time, y=survival, mode="lines", line=dict(shape="hv", color=colour, width=2),
                                    name=curve["arm"], hovertemplate="%{x:.2f} months: %{y:.3f}<extra>%{fullData.name}</extra>"))
        for at, number in zip(curve["at_risk"]["time_months"], curve["at_risk"]["n"]):
            figure.add_annotation(x=at, y=-0.30 - 0.07 * index, xref="x", yref="paper", text=str(number),
                                  showarrow=False, font=dict(size=10, color=colour))
    if any(curve["at_risk"]["n"] for curve in curves):
        figure.add_annotation(x=0, y=-0.30 - 0.07 * len(curves), xref="paper", yref="paper", showarrow=False,
                              text="numbers at risk", font=dict(size=10), xanchor="left")
    figure.update_xaxes(title="months", rangemode="tozero")
    figure.update_yaxes(title="probability", range=[0, 1.02])
    _layout(figure, _title(endpoint), height=400 + 20 * len(curves))
    figure.update_layout(margin=dict(l=60, r=20, t=70, b=90 + 20 * len(curves)),
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return figure


def waterfall_figure(best_change: Mapping[str, Iterable[float]]) -> go.Figure:
    """Best percentage change of the sum of target-lesion diameters, one panel per arm, sorted (RECIST 1.1
    lines at +20 % progression and -30 % partial response; Eisenhauer et al. 2009 Eur J Cancer 45:228)."""
    arms = list(best_change)
    figure = make_subplots(rows=1, cols=max(1, len(arms)), shared_yaxes=True, subplot_titles=arms)
    for index, arm in enumerate(arms):
        values = np.sort(np.asarray([value for value in best_change[arm] if value is not None], dtype=float))[::-1]
        values = values[np.isfinite(values)]
        colours = np.where(values <= -30, "#2ca02c", np.where(values >= 20, "#d62728", "#7f7f7f"))
        figure.add_trace(go.Bar(x=np.arange(values.size), y=values, marker_color=colours.tolist(), name=arm,
                                showlegend=False, hovertemplate="%{y:.0f} %<extra></extra>"), row=1, col=index + 1)
        for level in (20, -30):
            figure.add_hline(y=level, line=dict(dash="dot", width=1, color="black"), row=1, col=index + 1)
    figure.update_yaxes(title="best change (%)", row=1, col=1)
    figure.update_xaxes(showticklabels=False, title="patients")
    return _layout(figure, "Waterfall: best percentage change in the sum of diameters")


def _rate(value: Any) -> float | None:
    """A rate from a number or an ``[estimate, low, high]`` list."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else float(value)


def toxicity_figure(summary: Mapping[str, Any]) -> go.Figure:
    """Grade >= 3 adverse events per arm, split by attributed cause (radiation, immune, both)."""
    figure = go.Figure()
    rows = summary.get("arms") or []
    causes: list[str] = []
    for row in rows:
        rates = row.get("grade3plus_rate")
        if isinstance(rates, Mapping):
            causes.extend(cause for cause in rates if cause not in causes)
    for index, cause in enumerate(causes):
        figure.add_trace(go.Bar(x=[str(row.get("arm")) for row in rows], name=cause,
                                y=[_rate((row.get("grade3plus_rate") or {}).get(cause)) for row in rows],
                                marker_color=COLOURS[index % len(COLOURS)],
                                hovertemplate="%{y:.1%}<extra>" + cause + "</extra>"))
    figure.update_layout(barmode="group")
    figure.update_yaxes(title="patients with grade ≥ 3 (fraction)", tickformat=".0%", rangemode="tozero")
    return _layout(figure, "Toxicity grade ≥ 3 by attributed cause")


def activity_figure(section: Any) -> go.Figure:
    """Activity in each body compartment over time for one arm's regimen at the reference patient (MBq, log
    scale), with the administrations marked (an :class:`~rptici.analysis.dosimetry.ArmDosimetry`)."""
    figure = go.Figure()
    times = np.asarray(section.times, dtype=float)
    for index, (compartment, activity) in enumerate(section.activity_MBq.items()):
        values = np.asarray(activity, dtype=float)
        values = np.where(values > 0, values, np.nan)
        figure.add_trace(go.Scatter(x=times, y=values, mode="lines", name=str(compartment).replace("_", " "),
                                    line=dict(color=COLOURS[index % len(COLOURS)] if index < len(COLOURS) else None),
                                    hovertemplate="day %{x:.0f}: %{y:,.3r} MBq<extra>%{fullData.name}</extra>"))
    for day in np.asarray(section.administration_times if section.administration_times is not None else [], float):
        figure.add_vline(x=float(day), line=dict(dash="dot", width=1, color="#888"))
    figure.update_xaxes(title="days from the first administration", rangemode="tozero")
    peak = max((float(np.nanmax(values)) for values in section.activity_MBq.values()
                if np.any(np.asarray(values, dtype=float) > 0)), default=1.0)
    # four decades below the peak: the washout that matters, not the decay to nothing after the last cycle
    figure.update_yaxes(title="activity (MBq)", type="log", exponentformat="none", separatethousands=True,
                        range=[np.log10(peak) - 4, np.log10(peak) + 0.2])
    return _layout(figure, f"{section.arm}: activity in the body (dotted: administrations)", height=420)


#: The read-outs of the single-patient page: (variable of rptici.simulate, panel title, scale applied, unit shown).
PATIENT_PANELS = (("diameter_sum", "Sum of lesion diameters", 1.0, "mm"), ("psa", "PSA", 1.0, "ng/mL"),
                  ("lymphocytes", "Lymphocytes", 1.0, "10⁹/L"),
                  ("occupancy", "Checkpoint occupancy", 100.0, "%"))


def patient_figure(result: Any) -> go.Figure:
    """One virtual patient's trajectories (a :func:`rptici.api.simulate` result): sum of diameters, PSA,
    lymphocytes and checkpoint occupancy over time, one panel each."""
    panels = [panel for panel in PATIENT_PANELS if panel[0] in result]
    figure = make_subplots(rows=2, cols=2, subplot_titles=[f"{title} ({unit})" for _, title, _, unit in panels],
                           horizontal_spacing=0.1, vertical_spacing=0.16)
    days = np.asarray(result["time"].values, dtype=float)
    for index, (name, title, scale, unit) in enumerate(panels):
        values = np.asarray(result[name].values[0], dtype=float) * scale
        figure.add_trace(go.Scatter(x=days, y=values, mode="lines", name=title, showlegend=False,
                                    line=dict(color=COLOURS[index % len(COLOURS)], width=2),
                                    hovertemplate="day %{x:.0f}: %{y:,.3r} " + unit + "<extra></extra>"),
                         row=index // 2 + 1, col=index % 2 + 1)
    figure.update_xaxes(title="days", rangemode="tozero")
    figure.update_yaxes(rangemode="tozero", exponentformat="none", separatethousands=True)
    _layout(figure, "One virtual patient over time", height=640)
    figure.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return figure


def _endpoint(point: Mapping[str, Any], name: str) -> tuple[float | None, float | None, float | None]:
    entry = (point.get("endpoints") or {}).get(name) or {}
    interval = entry.get("interval") or [None, None]
    return entry.get("value"), interval[0], interval[1]


def front_figure(result: Mapping[str, Any], chosen: int) -> go.Figure:
    """The optimisation's simulated candidates (grey), its Pareto front (blue, 95 % intervals, numbered as in the
    table; robust points as diamonds when the front was run across the ensemble) and front point ``chosen``
    (1-based, red ring): first objective up, second across."""
    names = [item["endpoint"] for item in result["objectives"]]
    x_name, y_name = (names[1], names[0]) if len(names) > 1 else (names[0], names[0])
    figure = go.Figure()
    simulated = [point for point in result.get("evaluations", []) if point.get("simulated")]
    if simulated:
        figure.add_trace(go.Scatter(x=[_endpoint(point, x_name)[0] for point in simulated],
                                    y=[_endpoint(point, y_name)[0] for point in simulated], mode="markers",
                                    name=f"simulated candidates ({len(simulated)})",
                                    marker=dict(color="#bbbbbb", size=7), hoverinfo="skip"))
    front = list(result.get("front", []))
    if front:
        xs = [_endpoint(point, x_name) for point in front]
        ys = [_endpoint(point, y_name) for point in front]

        def bars(values):
            return dict(type="data", symmetric=False,
                        array=[None if high is None or value is None else high - value for value, _, high in values],
                        arrayminus=[None if low is None or value is None else value - low for value, low, _ in values],
                        color="#9ecae1")

        symbols = ["diamond" if point.get("robust") else "circle" for point in front]
        figure.add_trace(go.Scatter(
            x=[value for value, _, _ in xs], y=[value for value, _, _ in ys], mode="markers+text",
            text=[str(number) for number in range(1, len(front) + 1)], textposition="top right",
            name=f"Pareto front ({len(front)})" + ("; ◆ robust" if "ensemble" in result else ""),
            marker=dict(color="#1f77b4", size=10, symbol=symbols), error_x=bars(xs), error_y=bars(ys),
            hovertemplate="point %{text}: %{y:.3g}, %{x:.3g}<extra></extra>"))
        point = front[chosen - 1]
        figure.add_trace(go.Scatter(x=[_endpoint(point, x_name)[0]], y=[_endpoint(point, y_name)[0]], mode="markers",
                                    name=f"front point {chosen}", hoverinfo="skip",
                                    marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color="#d62728", width=2))))
    figure.update_xaxes(title=_objective_title(x_name))
    figure.update_yaxes(title=_objective_title(y_name))
    return _layout(figure, "Pareto front (95 % intervals)", height=420)


def _objective_title(name: str) -> str:
    """An objective's axis title: the registered endpoint's label, else its name in words."""
    if any(item.name == name for item in endpoints()):
        return _title(name)
    words = name.replace("grade3plus_rate.", "grade ≥ 3 adverse events, ").replace("_months", " (months)")
    return words.replace("_", " ")


def timeline_figure(timeline: Mapping[str, Any], title: str) -> go.Figure:
    """One regimen's administrations (:func:`rptici.decisions.optimize.regimen_timeline`): RPT cycles as bars (GBq
    for the reference patient) and ICI infusions as ticks, over weeks."""
    figure = go.Figure()
    if timeline["rpt_weeks"]:
        figure.add_trace(go.Bar(x=timeline["rpt_weeks"], y=timeline["rpt_GBq"], width=0.8, marker_color="#d62728",
                                name="RPT (GBq" + (", guided" if timeline["guided"] else "") + ")",
                                hovertemplate="week %{x:.0f}: %{y:.2f} GBq<extra></extra>"))
    if timeline["ici_weeks"]:
        figure.add_trace(go.Scatter(x=timeline["ici_weeks"], y=[-0.3] * len(timeline["ici_weeks"]), mode="markers",
                                    marker=dict(symbol="line-ns-open", size=14, color="#2ca02c"),
                                    text=timeline["ici_agents"], name="ICI infusion",
                                    hovertemplate="week %{x:.0f}: %{text}<extra></extra>"))
    figure.update_xaxes(title="weeks from the first administration", rangemode="tozero")
    figure.update_yaxes(title="GBq")
    return _layout(figure, title, height=300)
