"""Prevalence weighting of a virtual cohort to a trial's reported baseline (entropy balancing), and resampling of
the weighted cohort into an equal-weight one.

Entropy balancing (Hainmueller 2012 Political Analysis 20:25): of all non-negative weights w summing to 1 whose
weighted means of the covariates c_k(x) equal the targets t_k, take the one closest to uniform in
Kullback–Leibler divergence. Its solution is w_i ∝ exp(λ · (c(x_i) − t)), with λ the minimiser of the convex dual
log Σ_i exp(λ · (c(x_i) − t)) (gradient: the weighted mean minus the target; Hessian: the weighted covariance).
With category shares as the only targets this is Deming–Stephan raking (iterative proportional fitting; Deming
and Stephan 1940 Ann Math Stat 11:427) solved in one step. It is the prevalence weighting of QSP virtual
populations (Allen et al. 2016 CPT Pharmacometrics Syst Pharmacol 5:140; Cheng et al. 2017 CPT
Pharmacometrics Syst Pharmacol 6:549), here with moments rather than histograms as the targets.

A reported median m of a covariate is matched on a scale where the distribution is about symmetric: the mean of
log x equals log m for PSA, SUVmean and lymphocytes (log-normal-like), the mean equals m for age; a reported
share (bone, liver, node involvement) is the mean of the patient's 0/1 indicator. The quality of a weighting is
its Kish effective sample size (Σw)² / Σw² (Kish 1965 Survey Sampling).

:func:`select_by_weights` turns weights into an equal-weight cohort by systematic resampling (Kitagawa 1996
J Comput Graph Stat 5:1), so that the rest of the pipeline takes unweighted patients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ..data import load_yaml
from ..errors import InputError, UnknownNameError
from .. import seeds
from .sampling import Population

#: Baseline targets of the trials (packaged data file).
TARGETS_FILE = "baseline_targets.yaml"
#: How many times the trial's size the plausible pool is, from which a weighted cohort is resampled.
POOL_FACTOR = 4
#: Largest difference between a weighted mean and its target accepted as a match (on the matching scale).
TOLERANCE = 1e-7


def _sites(population: Population, *names: str) -> np.ndarray:
    """1 where any of the patient's lesions is at one of the sites ``names``, else 0."""
    return np.any(np.isin(np.asarray(population.lesion_sites, dtype=object), names), axis=1).astype(float)


#: Covariate → (what the patient's value is, the matching scale: "log" means of log x, "identity" means of x,
#: "share" means of a 0/1 indicator).
COVARIATES: dict[str, tuple[Callable[[Population], np.ndarray], str]] = {
    "age": (lambda p: np.asarray(p.age_years, dtype=float), "identity"),
    "psa": (lambda p: np.asarray(p.psa_ng_per_mL, dtype=float), "log"),
    "suvmean": (lambda p: np.asarray(p.target_uptake, dtype=float), "log"),
    "lymphocytes": (lambda p: np.asarray(p.lymphocytes_1e9_per_L, dtype=float), "log"),
    "lesion_count": (lambda p: np.asarray(p.lesion_count, dtype=float), "identity"),
    "male": (lambda p: (np.asarray(p.sex) == "male").astype(float), "share"),
    "bone": (lambda p: _sites(p, "bone"), "share"),
    "node": (lambda p: _sites(p, "node"), "share"),
    "liver": (lambda p: _sites(p, "liver"), "share"),
    "lung": (lambda p: _sites(p, "lung"), "share"),
    "visceral": (lambda p: _sites(p, "liver", "lung"), "share"),
}
STATISTICS = {"log": ("median", "geometric_mean"), "identity": ("median", "mean"), "share": ("share",)}


@dataclass(frozen=True)
class Weighting:
    """Weights (non-negative, sum 1) of a cohort, the covariates they balance (on the matching scale), the
    targets, the weighted means they reach and the Kish effective sample size."""

    weights: np.ndarray
    names: tuple[str, ...]
    targets: np.ndarray
    achieved: np.ndarray
    ess: float


def kish_ess(weights) -> float:
    """Kish effective sample size (Σw)² / Σw² (Kish 1965 Survey Sampling): n for equal weights, 1 for one."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights", "values", "a non-empty vector of finite non-negative weights, not all 0")
    return float(w.sum() ** 2 / np.sum(w**2))


def entropy_balance(table: Mapping[str, Any], targets: Mapping[str, float], tolerance: float = TOLERANCE
                    ) -> Weighting:
    """Weights closest to uniform (Kullback–Leibler) whose weighted means of ``table``'s columns equal ``targets``.

    ``table``: column name → one value per patient (already on the matching scale); ``targets``: column name →
    target mean. A target outside the open range of its sampled column (where no positive weights can reach it)
    is an InputError naming the covariate, the target and the range; a column equal to its target everywhere
    is matched by any weights. Solved on the convex dual by Newton trust-region (``scipy.optimize``), columns
    standardised; an unreached match (jointly incompatible targets) is an InputError too.
    """
    if not targets:
        raise InputError("targets", dict(targets), "at least one covariate with a target")
    names = tuple(targets)
    columns = []
    for name in names:
        if name not in table:
            raise UnknownNameError("targets (covariate)", name, tuple(table))
        column = np.asarray(table[name], dtype=float).ravel()
        if not np.all(np.isfinite(column)):
            raise InputError(f"table[{name!r}]", "non-finite values", "a finite value for every patient")
        columns.append(column)
    if len({column.size for column in columns}) != 1 or columns[0].size < 2:
        raise InputError("table", [column.size for column in columns], "columns of one common length >= 2")
    x = np.column_stack(columns)
    t = np.array([float(targets[name]) for name in names])
    free = []
    for k, name in enumerate(names):
        low, high = float(x[:, k].min()), float(x[:, k].max())
        if high - low <= tolerance * max(1.0, abs(t[k])) and abs(t[k] - low) <= tolerance * max(1.0, abs(t[k])):
            continue  # a constant column at its target: nothing to match
        if not (np.isfinite(t[k]) and low < t[k] < high):
            raise InputError(f"targets[{name!r}]", float(t[k]), f"a value strictly inside the sampled range of "
                                                                f"{name}, {low:.6g} to {high:.6g}")
        free.append(k)
    n = x.shape[0]
    if not free:
        weights = np.full(n, 1.0 / n)
        return Weighting(weights, names, t, weights @ x, float(n))
    centred = x[:, free] - t[free]
    scale = centred.std(axis=0)
    scale[scale == 0] = 1.0
    z = centred / scale

    def parts(lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = z @ lam
        top = eta.max()
        w = np.exp(eta - top)
        total = w.sum()
        w /= total
        return float(top + np.log(total)), w @ z, w

    def hessian(lam: np.ndarray) -> np.ndarray:
        _, mean, w = parts(lam)
        return (z * w[:, None]).T @ z - np.outer(mean, mean)

    result = optimize.minimize(lambda lam: parts(lam)[:2], np.zeros(len(free)), jac=True, hess=hessian,
                               method="trust-exact", options={"gtol": 1e-12, "maxiter": 500})
    weights = parts(result.x)[2]
    achieved = weights @ x
    miss = np.abs(achieved - t) > tolerance * np.maximum(1.0, np.abs(t))
    if np.any(miss):
        raise InputError("targets", {names[k]: float(t[k]) for k in np.flatnonzero(miss)},
                         "targets that non-negative weights can reach together (reached "
                         + ", ".join(f"{names[k]} {achieved[k]:.6g}" for k in np.flatnonzero(miss)) + ")")
    return Weighting(weights, names, t, achieved, kish_ess(weights))


def select_by_weights(weights, n: int, seed: int) -> np.ndarray:
    """``n`` positions (ascending, repeats allowed) drawn by systematic resampling (Kitagawa 1996 J Comput Graph
    Stat 5:1): the points (u + k) / n, k = 0..n−1, with one uniform u from ``seed``, read off the cumulative weights.
    Position i appears ⌊n w_i⌋ or ⌈n w_i⌉ times; same (weights, n, seed) → same positions."""
    w = np.asarray(weights, dtype=float)
    kish_ess(w)  # checks the weights
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError("n", n, "an integer >= 1")
    u = seeds.weighting(seed).random()
    cumulative = np.cumsum(w / w.sum())
    cumulative[-1] = 1.0
    return np.searchsorted(cumulative, (u + np.arange(n)) / n, side="right").astype(np.intp)


# --- trial targets -----------------------------------------------------------------------------------------------

def baseline_trials() -> tuple[str, ...]:
    """The trials of ``data/baseline_targets.yaml``."""
    return tuple(load_yaml(TARGETS_FILE)["trials"])


def baseline_targets(trial: str) -> dict[str, Any]:
    """The entry of ``trial`` (acronym, case-insensitive) in ``data/baseline_targets.yaml``."""
    document = load_yaml(TARGETS_FILE)["trials"]
    found = {name.casefold(): name for name in document}
    if str(trial).casefold() not in found:
        raise UnknownNameError("baseline targets (trial)", trial, tuple(document))
    return document[found[str(trial).casefold()]]


def target_moments(entries: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Covariate → target mean on its matching scale, from reported ``{covariate, statistic, value}`` entries
    (a median or geometric mean of a "log" covariate → log value; a median or mean of an "identity" one → value;
    a share → value)."""
    moments = {}
    for entry in entries:
        name, statistic, value = entry["covariate"], entry["statistic"], float(entry["value"])
        if name not in COVARIATES:
            raise UnknownNameError("baseline targets (covariate)", name, tuple(COVARIATES))
        kind = COVARIATES[name][1]
        if statistic not in STATISTICS[kind]:
            raise InputError(f"baseline targets[{name!r}].statistic", statistic, "one of " + ", ".join(STATISTICS[kind]))
        if kind == "log" and value <= 0 or kind == "share" and not 0 <= value <= 1:
            raise InputError(f"baseline targets[{name!r}].value", value, "a positive value" if kind == "log"
                             else "a share from 0 to 1")
        moments[name] = float(np.log(value)) if kind == "log" else value
    return moments


def covariate_table(population: Population, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each covariate of ``names`` per patient, on its matching scale (log for "log" covariates)."""
    table = {}
    for name in names:
        if name not in COVARIATES:
            raise UnknownNameError("covariate", name, tuple(COVARIATES))
        value, kind = COVARIATES[name]
        column = value(population)
        if kind == "log":
            if not np.all(column > 0):
                raise InputError(f"covariate {name!r}", "values <= 0 or missing", "positive values for every patient "
                                                                              f"({population.disease})")
            column = np.log(column)
        table[name] = column
    return table


def weight_population(population: Population, trial: str) -> Weighting:
    """Entropy-balancing weights of ``population`` to the reported baseline of ``trial``."""
    moments = target_moments(baseline_targets(trial)["targets"])
    return entropy_balance(covariate_table(population, tuple(moments)), moments)


def weighted_cohort(pool: Population, n: int, trial: str, seed: int) -> tuple[Population, Weighting]:
    """``n`` patients resampled from ``pool`` (:func:`select_by_weights`) by their weights to ``trial``'s baseline,
    renumbered 0..n−1 (``patient_id`` selects each patient's random stream, so a patient drawn twice has two
    fates), and the weighting. The pool is ordered by the trial's first continuous covariate (PSA for VISION)
    before the systematic resampling, which then stratifies on it: the cohort's distribution of that covariate
    follows the weighted one to within 1/n in its CDF."""
    moments = target_moments(baseline_targets(trial)["targets"])
    table = covariate_table(pool, tuple(moments))
    weighting = entropy_balance(table, moments)
    continuous = [name for name in weighting.names if COVARIATES[name][1] != "share"]
    order = np.argsort(table[continuous[0]], kind="stable") if continuous else np.arange(len(pool))
    cohort = pool.subset(np.sort(order[select_by_weights(weighting.weights[order], n, seed)]))
    return dataclasses.replace(cohort, patient_id=np.arange(n)), weighting


def baseline_summary(population: Population, trial: str, weights=None) -> list[dict[str, Any]]:
    """Rows ``{covariate, statistic, reported, simulated}`` of ``trial``'s reported baseline against the (weighted)
    ``population`` on the reported statistic's scale (a median of a log covariate as exp of the weighted mean log)."""
    entries = baseline_targets(trial)["targets"]
    table = covariate_table(population, [entry["covariate"] for entry in entries])
    w = np.full(len(population), 1.0 / len(population)) if weights is None else np.asarray(weights) / np.sum(weights)
    rows = []
    for entry in entries:
        mean = float(w @ table[entry["covariate"]])
        simulated = float(np.exp(mean)) if COVARIATES[entry["covariate"]][1] == "log" else mean
        rows.append({"covariate": entry["covariate"], "statistic": entry["statistic"],
                     "reported": float(entry["value"]), "simulated": simulated})
    return rows
