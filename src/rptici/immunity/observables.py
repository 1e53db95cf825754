"""Observables: clinical read-outs (volumes, diameters, dose, BED, PSA, immune pools, occupancy) from states.

Which states each read-out reads is declared in the model table (:class:`.table.Observable`); a read-out
that is a state as it is needs no formula here.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..kinetics import occupancy_fraction
from .covariates import measured_volume
from .layout import ModelLayout
from .table import Q_BASELINE_VOLUME  # issue 13 item 1: whole-body tumour dose
from .table import (L_DOOMED, L_QUADRATIC, L_VIABLE, L_VIABLE_LOW, P_ANTIBODY_CENTRAL_VOLUME,
                    P_ANTIBODY_HALF_OCCUPANCY, P_CTLA4_CENTRAL_VOLUME, P_CTLA4_HALF_OCCUPANCY, P_MARROW_ALPHA_BETA,
                    P_STROMA_SHARE, Q_ALPHA, Q_BETA, Q_PRESENT, Q_STROMA_VOLUME, S_ANTIBODY_CENTRAL, S_CTLA4_CENTRAL,
                    S_EFFECTOR_BLOOD, S_MARROW_QUADRATIC, S_OCCULT, S_OCCULT_LOW, S_REGULATORY)


def observable_states(layout: ModelLayout, names) -> np.ndarray:
    """Sorted state indices that :func:`observables` needs for the read-outs ``names`` (so the solver can
    return only those states)."""
    known = {entry.name: entry for entry in layout.table.observables}
    indices: set[int] = set()
    for name in names:
        if name not in known:
            raise InputError("outputs", name, "names among " + ", ".join(known))
        lesion_states, systemic = known[name].states
        indices.update(layout.state(state, lesion) for state in lesion_states for lesion in range(layout.n_lesions))
        indices.update(layout.state(state) for state in systemic)
    return np.array(sorted(indices), dtype=np.int64)


class _SelectedStates:
    """``y[..., selected states]`` read by full-layout index; states not selected read as NaN."""

    def __init__(self, values: np.ndarray, states: np.ndarray, n_states: int) -> None:
        self.values = values
        self.column = np.full(n_states, -1, dtype=np.int64)
        self.column[np.asarray(states, dtype=np.int64)] = np.arange(len(states))
        self.shape = values.shape[:-1] + (n_states,)
        self.ndim = values.ndim

    def __getitem__(self, key):
        index = self.column[key[1]]
        picked = self.values[..., np.maximum(index, 0)]
        return np.where(index >= 0, picked, np.nan) if np.any(index < 0) else picked


def observables(y: np.ndarray, p: np.ndarray, layout: ModelLayout, states: np.ndarray | None = None,
                names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Clinical read-outs from states ``y`` [..., n_states] and parameters ``p`` [..., n_params] (broadcast).

    With ``states`` (full-layout indices, e.g. from :func:`observable_states`), ``y``'s last axis holds only
    those states; read-outs that need other states come out NaN.

    Per lesion (last axis = lesions; NaN where a lesion is absent): volume (mL, viable + target-low + doomed
    + stroma, :func:`.covariates.measured_volume`),
    diameter (mm, sphere), dose (Gy), bed (Gy; BED = D + 2∫ḊΓ/(α/β), α/β = α/β_lesion), effector_tumour.
    Sums: volume_sum, diameter_sum (the RECIST sum of diameters); tumour_dose (Gy, the whole-body tumour dose:
    lesion doses weighted by baseline mass). Systemic: psa (ng/mL), effector_blood
    and regulatory (relative to baseline), cd8_treg_ratio, memory, exhausted (relative to the
    baseline effector pool), lymphocytes (10⁹/L), occupancy and
    ctla4_occupancy (C/(C+K)), concentration (ug/mL), marrow_dose and marrow_bed (Gy), occult_volume (mL, the
    occult micrometastatic burden, target-positive and target-low).
    ``names`` computes only those read-outs (default: all).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if states is not None:
        if y.shape[-1] != len(states):
            raise InputError("y", f"array of shape {y.shape}", f"a last axis of the {len(states)} selected states")
        y = _SelectedStates(y, states, layout.n_states)  # type: ignore[assignment]
    if y.shape[-1] != layout.n_states or p.shape[-1] != layout.n_params:
        raise InputError("y, p", f"shapes {y.shape}, {p.shape}",
                         f"last axes of {layout.n_states} states and {layout.n_params} parameters")
    if 1 < p.ndim == y.ndim - 1:  # (patients, params) against (patients, times, states)
        p = p[..., None, :]
    expected = y.shape[:-1] + (layout.n_params,)
    try:  # p stays unbroadcast: the formulas broadcast what they pick from it (no copy of p per time)
        fits = np.broadcast_shapes(p.shape, expected) == expected
    except ValueError:
        fits = False
    if not fits:
        raise InputError("p", f"array of shape {p.shape}", f"parameters broadcastable to the states' shape {y.shape}")
    starts = np.array([layout.lesion_start(lesion) for lesion in range(layout.n_lesions)])
    parameter_starts = np.array([layout.lesion_parameter_start(lesion) for lesion in range(layout.n_lesions)])
    present = p[..., parameter_starts + Q_PRESENT] != 0

    def lesions(values):
        """NaN where a lesion is absent (the mask is per patient: usually nothing to do)."""
        return values if np.all(present) else np.where(present, values, np.nan)

    def volume(done):
        tumour = np.maximum(y[..., starts + L_VIABLE], 0)
        tumour += np.maximum(y[..., starts + L_VIABLE_LOW], 0)
        tumour += np.maximum(y[..., starts + L_DOOMED], 0)
        return lesions(measured_volume(tumour, p[..., parameter_starts + Q_STROMA_VOLUME], p[..., P_STROMA_SHARE][..., None]))

    def bed(done):
        alpha = p[..., parameter_starts + Q_ALPHA]
        with np.errstate(divide="ignore", invalid="ignore"):  # 2β/α per lesion, 0 where α = 0
            factor = np.where(alpha > 0, 2.0 * p[..., parameter_starts + Q_BETA] / alpha, 0.0)
        return done["dose"] + y[..., starts + L_QUADRATIC] * factor  # NaN where the dose is (absent lesions)

    def lesion_sum(values):
        """Sum over lesions, NaN counted as 0 (np.nansum, without its copy and slow reduction over 2-3 lesions)."""
        total = np.zeros(values.shape[:-1])
        for lesion in range(values.shape[-1]):
            column = values[..., lesion]
            total += np.where(np.isnan(column), 0.0, column)
        return total

    def tumour_dose(done):
        """Whole-body tumour dose: Σ D_k V_k / Σ V_k over present lesions, V_k the baseline volume (mass at 1 g/mL)."""
        weights = p[..., parameter_starts + Q_BASELINE_VOLUME]
        return lesion_sum(done["dose"] * weights) / lesion_sum(weights)

    def ctla4_occupancy(done):
        concentration = np.maximum(y[..., S_CTLA4_CENTRAL], 0) / p[..., P_CTLA4_CENTRAL_VOLUME]
        return occupancy_fraction(concentration, p[..., P_CTLA4_HALF_OCCUPANCY])

    def state(entry):
        """A read-out that is a state as it is (the table's ``Observable.state``)."""
        if entry.lesion:
            return lambda done: lesions(y[..., starts + layout.table.lesion_states.index(entry.state)])
        return lambda done: y[..., layout.state(entry.state)]

    # each formula reads the read-outs it needs (the table's ``needs``) from ``done``, computed before it
    specific = {
        "volume": volume,
        "diameter": lambda done: 10.0 * 2.0 * np.cbrt(3.0 * done["volume"] / (4.0 * math.pi)),
        "volume_sum": lambda done: lesion_sum(done["volume"]),
        "diameter_sum": lambda done: lesion_sum(done["diameter"]),
        "bed": bed,
        "tumour_dose": tumour_dose,
        "cd8_treg_ratio": lambda done: y[..., S_EFFECTOR_BLOOD] / np.maximum(y[..., S_REGULATORY], 1e-12),
        "concentration": lambda done: np.maximum(y[..., S_ANTIBODY_CENTRAL], 0) / p[..., P_ANTIBODY_CENTRAL_VOLUME],
        "occupancy": lambda done: occupancy_fraction(done["concentration"], p[..., P_ANTIBODY_HALF_OCCUPANCY]),
        "ctla4_occupancy": ctla4_occupancy,
        "marrow_bed": lambda done: done["marrow_dose"] + y[..., S_MARROW_QUADRATIC] * (2.0 / p[..., P_MARROW_ALPHA_BETA]),
        "occult_volume": lambda done: np.maximum(y[..., S_OCCULT], 0) + np.maximum(y[..., S_OCCULT_LOW], 0),
    }
    formulas = {entry.name: state(entry) if entry.state is not None else specific[entry.name]
                for entry in layout.table.observables}
    needs = {entry.name: entry.needs for entry in layout.table.observables}
    wanted = list(formulas) if names is None else list(names)
    for name in wanted:
        if name not in formulas:
            raise InputError("outputs", name, "names among " + ", ".join(sorted(formulas)))
    order: list[str] = []
    pending = list(wanted)
    while pending:  # depth-first: a read-out after the ones it needs
        name = pending.pop()
        if name in order:
            continue
        missing = [need for need in needs.get(name, ()) if need not in order]
        if missing:
            pending += [name] + missing
        else:
            order.append(name)
    done: dict[str, np.ndarray] = {}
    for name in order:
        done[name] = formulas[name](done)
    return {name: done[name] for name in wanted}
