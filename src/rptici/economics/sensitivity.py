"""Probabilistic and one-way sensitivity analysis.

Probabilistic (Briggs, Claxton & Sculpher 2006, Decision Modelling for Health Economic Evaluation, ch. 4):
costs drawn from gamma distributions and utilities and disutilities from beta distributions, both by the
method of moments from the mean and standard error, with a seed. Each draw re-prices the arms' quantities.
The calibration's parameter ensemble (issue 18, not yet available) enters through ``ensemble``: one quantity
matrix per ensemble member (for instance a trial re-run per calibrated parameter set), used in turn by
the draws, so survival uncertainty joins the cost and utility uncertainty.

Outputs: the cost-effectiveness plane (incremental cost and QALY per draw), the acceptability curve
(probability that each arm has the highest net monetary benefit at each threshold; Fenwick et al. 2001,
Health Econ 10:779) and the one-way (tornado) ranges of the incremental net monetary benefit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .evaluation import Evaluation, price
from .inputs import COST


def gamma_parameters(mean: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shape k = (m/s)² and scale θ = s²/m: mean kθ = m, variance kθ² = s²."""
    return (mean / se) ** 2, se ** 2 / mean


def beta_parameters(mean: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """α = m·n, β = (1−m)·n with n = m(1−m)/s² − 1: mean m, variance s²."""
    size = mean * (1 - mean) / se ** 2 - 1
    return mean * size, (1 - mean) * size


def sample_parameters(evaluation: Evaluation, draws: int, seed: int) -> np.ndarray:
    """Parameter values, shape (draws, parameters); a parameter with zero se (or a degenerate mean) stays fixed."""
    rng = np.random.default_rng(seed)
    samples = np.tile(evaluation.inputs.values(), (draws, 1))
    for column, parameter in enumerate(evaluation.inputs.parameters.values()):
        mean, se = parameter.value, parameter.se
        if se <= 0 or mean <= 0:
            continue
        if parameter.kind == COST:
            shape, scale = gamma_parameters(np.array(mean), np.array(se))
            samples[:, column] = rng.gamma(shape, scale, draws)
        elif mean < 1 and se ** 2 < mean * (1 - mean):
            alpha, beta = beta_parameters(np.array(mean), np.array(se))
            samples[:, column] = rng.beta(alpha, beta, draws)
    return samples


def probabilistic(evaluation: Evaluation, draws: int = 1000, seed: int = 1,
                  ensemble: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Costs and QALYs per draw and arm, shape (draws, arms); ``ensemble`` (see module docstring) optional."""
    if draws < 1:
        raise InputError("draws", draws, "a positive number of draws")
    samples = sample_parameters(evaluation, draws, seed)
    if not ensemble:
        costs, qalys = price(evaluation.matrix, samples, evaluation.inputs)
    else:
        pairs = [price(ensemble[index % len(ensemble)], samples[index], evaluation.inputs) for index in range(draws)]
        costs, qalys = np.array([pair[0] for pair in pairs]), np.array([pair[1] for pair in pairs])
    return {"costs": costs, "qalys": qalys, "samples": samples}


def acceptability(costs: np.ndarray, qalys: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """P(arm has the highest net monetary benefit λ·QALY − cost), shape (thresholds, arms)."""
    benefit = np.asarray(thresholds, dtype=float)[:, None, None] * qalys[None] - costs[None]
    best = np.argmax(benefit, axis=2)
    return np.stack([np.mean(best == arm, axis=1) for arm in range(costs.shape[1])], axis=1)


def tornado(evaluation: Evaluation, threshold: float | None = None, comparator: int | None = None
            ) -> list[dict[str, Any]]:
    """One-way analysis: the incremental net monetary benefit λ·ΔQ − ΔC of ``comparator`` (default the first
    non-control arm) against the control at ``threshold`` λ (default the largest of the inputs), with each
    parameter at its low and at its high value, sorted by the width of the range (the tornado's bars).
    Net benefit rather than the ICER: it stays finite and monotone when an arm dominates."""
    inputs, control = evaluation.inputs, evaluation.control_index
    comparator = comparator if comparator is not None else next(i for i in range(len(evaluation.arms)) if i != control)
    threshold = float(max(inputs.thresholds) if threshold is None else threshold)
    base = inputs.values()

    def benefit(values: np.ndarray) -> float:
        costs, qalys = price(evaluation.matrix, values, inputs)
        return float(threshold * (qalys[comparator] - qalys[control]) - (costs[comparator] - costs[control]))

    base_benefit = benefit(base)
    rows = []
    for column, parameter in enumerate(inputs.parameters.values()):
        if parameter.low == parameter.high:
            continue
        low, high = base.copy(), base.copy()
        low[column], high[column] = parameter.low, parameter.high
        rows.append({"name": parameter.name, "low": parameter.low, "high": parameter.high,
                     "benefit_low": benefit(low), "benefit_high": benefit(high), "benefit_base": base_benefit,
                     "threshold": threshold})
    return sorted(rows, key=lambda row: abs(row["benefit_high"] - row["benefit_low"]), reverse=True)


@dataclass(frozen=True)
class CostEffectiveness:
    """A whole analysis: the deterministic ``result`` (JSON-ready, with the probabilistic summary when drawn),
    the draws and curve behind the figures (``plane``; None without draws) and the one-way rows (``one_way``)."""

    result: dict[str, Any]
    plane: dict[str, np.ndarray] | None
    one_way: list[dict[str, Any]]


def cost_effectiveness(evaluation: Evaluation, thresholds: Sequence[float] | None = None, draws: int = 1000,
                       seed: int = 1) -> CostEffectiveness:
    """Deterministic result, ``draws`` probabilistic draws (acceptability at the thresholds and on a grid up to
    twice the largest) and the one-way analysis at the largest threshold, for the first non-control arm."""
    result = evaluation.result(thresholds)
    plane = None
    if draws > 0:
        draw = probabilistic(evaluation, draws, seed)
        control = evaluation.control_index
        comparator = next(index for index in range(len(evaluation.arms)) if index != control)
        grid = np.linspace(0.0, 2.0 * max(result["thresholds"]), 41)
        at_thresholds = acceptability(draw["costs"], draw["qalys"], np.asarray(result["thresholds"]))
        plane = {"draws": draws, "seed": seed,
                 "delta_costs": draw["costs"][:, comparator] - draw["costs"][:, control],
                 "delta_qalys": draw["qalys"][:, comparator] - draw["qalys"][:, control],
                 "thresholds": grid, "acceptability": acceptability(draw["costs"], draw["qalys"], grid)}
        names = [arm.name for arm in evaluation.arms]
        result["probabilistic"] = {
            "draws": draws, "seed": seed, "mean_cost": draw["costs"].mean(axis=0),
            "mean_qalys": draw["qalys"].mean(axis=0),
            "probability_cost_effective": {f"{value:g}": dict(zip(names, row))
                                           for value, row in zip(result["thresholds"], at_thresholds)}}
    one_way = tornado(evaluation, threshold=max(result["thresholds"]))
    result["one_way"] = one_way
    return CostEffectiveness(result, plane, one_way)
