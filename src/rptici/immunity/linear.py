"""The linear parts of the model: the repair split, the antibody blocks, what the solver propagates exactly
and which fast states it flushes to zero.

The repair split (:mod:`.equations`, "Repair split") carries the sublethal damage Γ of every region as an
algebraic part in the dose-rate drivers plus a fast residual r; these functions are its vectorised side.
"""

from __future__ import annotations

import numpy as np

from .equations import SLOW_FRACTION
from .layout import ModelLayout


def _regions(layout: ModelLayout) -> tuple:
    return ("blood",) + tuple(range(layout.n_lesions))


def repair_weights(p: np.ndarray, layout: ModelLayout) -> np.ndarray:
    """Weights w_k = 1/(μ − λ_k) of the slow dose-rate components in Γ (0 for fast ones), (..., regions, k).

    Regions: blood/marrow first, then the lesions. Γ = Σ_k w_k u_k + r (:mod:`.equations`, "Repair split").
    """
    p = np.asarray(p, dtype=float)
    repair = np.stack([p[..., layout.parameter("marrow_repair_rate")]] + [p[..., layout.parameter("repair_rate", lesion)]
                                                   for lesion in range(layout.n_lesions)], axis=-1)[..., None]
    decay = np.stack([np.stack([p[..., layout.dose_rate_decay_param(region, k)]
                                for k in range(layout.n_exponentials)], axis=-1)
                      for region in _regions(layout)], axis=-2)
    slow = decay < SLOW_FRACTION * repair
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(slow, 1.0 / np.where(slow, repair - decay, 1.0), 0.0)


def residual_states(layout: ModelLayout) -> np.ndarray:
    """Indices of the repair residual r of each region (blood/marrow first, then lesions)."""
    return np.array([layout.state("marrow_repair_residual")] + [layout.state("repair_residual", lesion)
                                           for lesion in range(layout.n_lesions)], dtype=np.int64)


def _driver_states(layout: ModelLayout) -> np.ndarray:
    return np.array([[layout.dose_rate_state(region, k) for k in range(layout.n_exponentials)]
                     for region in _regions(layout)], dtype=np.int64)


def damage(y: np.ndarray, p: np.ndarray, layout: ModelLayout) -> np.ndarray:
    """Sublethal damage Γ (Gy) of every region, (..., regions): marrow first, then the lesions."""
    y = np.asarray(y, dtype=float)
    return np.sum(repair_weights(p, layout) * y[..., _driver_states(layout)], axis=-1) + y[..., residual_states(layout)]


def set_damage(y: np.ndarray, p: np.ndarray, layout: ModelLayout, value: float | np.ndarray = 0.0) -> np.ndarray:
    """``y`` with each region's residual chosen so that Γ = ``value`` given its drivers (for initial states
    with a non-zero dose rate); ``value`` broadcasts against (..., regions)."""
    y = np.array(y, dtype=float)
    y[..., residual_states(layout)] += np.asarray(value, dtype=float) - damage(y, p, layout)
    return y


def antibody_blocks(layout: ModelLayout, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The antibodies whose kinetics are linear with constant coefficients, for exact propagation.

    Returns (pairs (b, 2) of (central, peripheral) states, matrices (patients, b, 2, 2) in 1/d) with
    x' = Mx, M = [[−(CL+Q)/V1, Q/V2], [Q/V1, −Q/V2]] (:func:`.equations._antibody`). An antibody with
    time-varying clearance (Emax ≠ 0 for some patient) is left out: its equations change with time.
    """
    pairs, matrices = [], []
    for prefix in layout.table.compartments:
        states = (layout.state(f"{prefix}_central"), layout.state(f"{prefix}_peripheral"))
        clearance, volume, exchange, peripheral, emax = (
            params[:, layout.parameter(f"{prefix}_{name}")]
            for name in ("clearance", "central_volume", "intercompartmental_clearance", "peripheral_volume",
                         "clearance_emax"))
        if np.any(emax != 0.0) or np.any(volume <= 0.0) or np.any(peripheral <= 0.0):
            continue
        pairs.append(states)
        matrices.append(np.stack([np.stack([-(clearance + exchange) / volume, exchange / peripheral], axis=-1),
                                  np.stack([exchange / volume, -exchange / peripheral], axis=-1)], axis=-2))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((params.shape[0], 0, 2, 2))
    return np.array(pairs, dtype=np.int64), np.stack(matrices, axis=1)


def repair_residual_events(layout: ModelLayout, params: np.ndarray, events):
    """``events`` (times, states, amounts; each (patients, events)) with, for every jump Δu_k of a slow
    dose-rate component, the jump Δr = −w_k Δu_k of its region's residual, so Γ is continuous; sorted by time.
    """
    event_times, event_state, event_amount = (np.asarray(array) for array in events)
    weights = repair_weights(params, layout)  # (patients, regions, k)
    drivers = _driver_states(layout)
    residuals = residual_states(layout)
    patients = event_times.shape[0]
    region_of = np.full(layout.n_states, -1)
    term_of = np.zeros(layout.n_states, dtype=np.int64)
    for region in range(drivers.shape[0]):
        region_of[drivers[region]] = region
        term_of[drivers[region]] = np.arange(layout.n_exponentials)
    states = np.where(np.isfinite(event_times), event_state, 0)
    region = region_of[states]
    is_driver = (region >= 0) & np.isfinite(event_times)
    rows = np.arange(patients)[:, None]
    weight = np.where(is_driver, weights[rows, np.maximum(region, 0), term_of[states]], 0.0)
    extra = is_driver.any(axis=0)
    if not np.any(extra):
        return event_times, event_state, event_amount
    times = np.concatenate([event_times, np.where(is_driver, event_times, np.inf)[:, extra]], axis=1)
    new_states = np.concatenate([event_state, np.where(is_driver, residuals[np.maximum(region, 0)], 0)[:, extra]],
                                axis=1)
    amounts = np.concatenate([event_amount, (-weight * np.where(is_driver, event_amount, 0.0))[:, extra]], axis=1)
    order = np.argsort(times, axis=1, kind="stable")
    return (np.take_along_axis(times, order, 1), np.take_along_axis(new_states, order, 1).astype(np.int64),
            np.take_along_axis(amounts, order, 1))


def care_end_events(layout: ModelLayout, params: np.ndarray, events):
    """``events`` (times, states, amounts; each (patients, events)) with the end of each patient's standard of
    care: c drops from 1 to 0 at ``care_end_time`` where that is finite; sorted by time."""
    event_times, event_state, event_amount = (np.asarray(array) for array in events)
    if "care_end_time" not in layout.table.global_parameters:
        return event_times, event_state, event_amount
    end = params[:, layout.parameter("care_end_time")]
    if not np.any(np.isfinite(end)):
        return event_times, event_state, event_amount
    times = np.concatenate([event_times, end[:, None]], axis=1)
    states = np.concatenate([event_state, np.full((end.size, 1), layout.state("standard_of_care"))], axis=1)
    amounts = np.concatenate([event_amount, np.where(np.isfinite(end), -1.0, 0.0)[:, None]], axis=1)
    order = np.argsort(times, axis=1, kind="stable")
    return (np.take_along_axis(times, order, 1), np.take_along_axis(states, order, 1).astype(np.int64),
            np.take_along_axis(amounts, order, 1))


#: Drivers decaying faster than this (1/d) are flushed to zero once negligible (see solve_batched).
FLUSH_RATE_PER_DAY = 1.0
#: A fast driver is negligible below this fraction of its largest jump (or FLUSH_ATOL_FACTOR × atol).
FLUSH_FRACTION = 1e-6
FLUSH_ATOL_FACTOR = 100.0


def flush_levels(layout: ModelLayout, params: np.ndarray, events, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Driver and repair-residual states and per-patient flush levels (the solver sets a state to zero once
    below its level).

    Only components decaying faster than 1/d are flushed (the ones that limit an explicit step by
    stability), at max(1e-6 × their largest jump, 100 × atol): the dose lost is below level/λ, i.e. at
    most 1e-6 of that component's own dose and 1e-6 Gy in absolute terms for the default atol. The
    repair residuals r (r' = −μ r once the fast drivers are gone; μ = 11–33/d) are flushed the same way.
    """
    regions = ("blood",) + tuple(range(layout.n_lesions))
    residuals = residual_states(layout)
    states = np.concatenate([np.array([layout.dose_rate_state(region, k) for region in regions
                                       for k in range(layout.n_exponentials)], dtype=np.int64), residuals])
    repair = [layout.parameter("marrow_repair_rate")] + [layout.parameter("repair_rate", lesion)
                                                         for lesion in range(layout.n_lesions)]
    rates = params[:, [layout.dose_rate_decay_param(region, k) for region in regions
                       for k in range(layout.n_exponentials)] + repair]
    event_times, event_state, event_amount = events
    used = np.isfinite(event_times)
    largest = np.stack([np.max(np.where(used & (event_state == state), np.abs(event_amount), 0.0), axis=1,
                               initial=0.0) for state in states], axis=1)
    levels = np.maximum(FLUSH_FRACTION * largest, FLUSH_ATOL_FACTOR * float(np.max(atol)))
    return states, np.where(rates > FLUSH_RATE_PER_DAY, levels, 0.0)


def linear_system(layout: ModelLayout, params: np.ndarray) -> dict[str, np.ndarray]:
    """The linear states of the model, which the solver propagates exactly (the fields of its
    ``LinearSystem``: states, rates, sources, weights, blocks, block_matrices).

    Dose-rate drivers u_k' = −λ_k u_k; repair residuals r' = Σ_fast u_k − μ r of every region
    (:mod:`.equations`, "Repair split": a driver feeds its region's residual when it is fast,
    i.e. has repair weight 0); each lesion's radiation signal Y' = Σ_k u_k − k_Y Y; and the antibodies
    with constant clearance as 2×2 blocks (:func:`antibody_blocks`). An absent
    lesion's states are constant in ``rhs``, so their rates and weights are 0 here too; so are the occult
    burden's states when switch ``occult_disease`` is off for every patient, and the standard of care's state.
    """
    regions = ("blood",) + tuple(range(layout.n_lesions))
    n_exp = layout.n_exponentials
    drivers = [layout.dose_rate_state(region, k) for region in regions for k in range(n_exp)]
    residuals = residual_states(layout)
    signals = [layout.state("radiation_signal", lesion) for lesion in range(layout.n_lesions)]
    states = np.array(drivers + residuals.tolist() + signals, dtype=np.int64)
    present = np.ones((params.shape[0], len(regions)), dtype=bool)
    for lesion in range(layout.n_lesions):
        present[:, 1 + lesion] = params[:, layout.parameter("present", lesion)] != 0.0
    repair = np.stack([params[:, layout.parameter("marrow_repair_rate")]]
                      + [params[:, layout.parameter("repair_rate", lesion)] for lesion in range(layout.n_lesions)], axis=1)
    decay = params[:, [layout.dose_rate_decay_param(region, k) for region in regions for k in range(n_exp)]]
    signal_decay = params[:, [layout.parameter("radiation_signal_decay_rate")]] * present[:, 1:]
    rates = np.concatenate([decay * np.repeat(present, n_exp, axis=1), repair * present, signal_decay], axis=1)
    fast = repair_weights(params, layout) == 0.0  # (patients, regions, k)
    residual_sources = [(len(drivers) + number, number * n_exp + k) for number in range(len(regions))
                        for k in range(n_exp)]
    signal_sources = [(len(drivers) + len(regions) + lesion, (1 + lesion) * n_exp + k)
                      for lesion in range(layout.n_lesions) for k in range(n_exp)]
    sources = np.array(residual_sources + signal_sources, dtype=np.int64)
    weights = np.concatenate([(fast & present[:, :, None]).reshape(params.shape[0], -1),
                              np.repeat(present[:, 1:], n_exp, axis=1)], axis=1).astype(float)
    # occult disease switched off for every patient: its states are constant (rate 0) and left out of the error
    # norm, so the solver's steps are those of the model without them
    if "occult_disease" in layout.table.switches \
            and not np.any(params[:, layout.parameter("switch_occult_disease")]):
        states = np.concatenate([states, [layout.state("occult"), layout.state("occult_low")]]).astype(np.int64)
        rates = np.concatenate([rates, np.zeros((params.shape[0], 2))], axis=1)
    # the standard of care's on/off state c is constant between its events
    if "standard_of_care" in layout.table.systemic_states:
        states = np.concatenate([states, [layout.state("standard_of_care")]]).astype(np.int64)
        rates = np.concatenate([rates, np.zeros((params.shape[0], 1))], axis=1)
    blocks, matrices = antibody_blocks(layout, params)
    return {"states": states, "rates": rates, "sources": sources, "weights": weights, "blocks": blocks,
            "block_matrices": matrices}
