"""Selection of virtual patients from a plausible population (Allen et al. 2016 CPT Pharmacometrics Syst
Pharmacol 5:140, "Efficient generation and selection of virtual populations in QSP models").

A plausible population is sampled broadly; each plausible patient j is then accepted with probability

    p_j = min(1, s · f_observed(x_j) / f_plausible(x_j)),

with both densities estimated by Gaussian kernel density estimation over the chosen variables and s chosen
so that the largest ratio is 1 (unless given). The accepted patients are a sample from the observed
distribution (acceptance–rejection). Variables are any named columns — covariates or model outputs the
caller adds (for example simulated best percentage change in tumour size against an observed waterfall).
Goodness of fit: a Kolmogorov–Smirnov test per variable, selected against observed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .. import seeds
from ..errors import InputError, UnknownNameError
from ..seeds import check_seed

DENSITIES = ("joint", "marginal")


@dataclass(frozen=True)
class SelectionResult:
    """Selected positions in the plausible population, acceptance probabilities, and the fit per variable.

    ``fit`` maps each variable to ``{"statistic": KS D, "pvalue": p, "selected_median": ..., "observed_median": ...}``.
    """

    indices: np.ndarray
    acceptance_probability: np.ndarray
    scale: float
    accepted: int
    fit: dict[str, dict[str, float]]

    @property
    def acceptance_rate(self) -> float:
        return float(np.mean(self.acceptance_probability))


def _columns(table, field: str) -> dict[str, object]:
    """A mapping of column name → values from a Population, a DataFrame or a mapping."""
    if hasattr(table, "to_frame") and hasattr(table, "kinetic_covariates"):
        table = table.to_frame()
    if hasattr(table, "columns") and hasattr(table, "__getitem__"):
        return {str(name): table[name].to_numpy() for name in table.columns}
    if isinstance(table, Mapping):
        return dict(table)
    raise InputError(field, type(table).__name__, "a Population, a pandas DataFrame or a mapping of name to values")


def _is_distribution(value) -> bool:
    return hasattr(value, "pdf") and hasattr(value, "cdf")


def _as_array(values, field: str, allow_nan: bool) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise InputError(field, values, "numbers") from error
    if not allow_nan and not np.all(np.isfinite(array)):
        raise InputError(field, "non-finite values", "finite numbers for every plausible patient")
    array = array[np.isfinite(array)]
    if array.size < 2:
        raise InputError(field, f"{array.size} finite values", "at least 2 finite values")
    return array


def _kde(samples: np.ndarray, rng: np.random.Generator, max_points: int) -> stats.gaussian_kde:
    """Gaussian KDE (Scott's rule) of samples (variables × points), on at most ``max_points`` kernel centres
    drawn without replacement (the cost is centres × evaluation points); a degenerate sample is an input error."""
    if samples.shape[1] > max_points:
        samples = samples[:, np.sort(rng.choice(samples.shape[1], max_points, replace=False))]
    try:
        return stats.gaussian_kde(samples)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise InputError("observed/plausible", "a degenerate sample",
                         "values that vary (non-singular covariance)") from error


def select_virtual_patients(plausible, observed, n: int, seed: int, variables: Iterable[str] | None = None,
                            density: str = "joint", log_scale: Iterable[str] = (),
                            scale: float | None = None, max_kernel_points: int = 2000) -> SelectionResult:
    """Select ``n`` of the ``plausible`` patients so that ``variables`` follow ``observed`` (Allen et al. 2016).

    ``plausible``: a Population, DataFrame or mapping of column → values (one per plausible patient).
    ``observed``: a DataFrame or mapping of column → observed samples, or (with ``density="marginal"``) a
    frozen scipy distribution per column. ``density="joint"`` estimates one multivariate density over the
    variables (observed columns of equal length, rows are patients); ``"marginal"`` multiplies per-variable
    ratios (independent marginals). ``log_scale``: variables estimated on a log scale (positive, skewed; the
    ratio of densities does not change under a monotone transform, only the kernel's fit does).
    ``scale``: the factor s; None sets max ratio to 1. ``max_kernel_points``: kernel centres per density
    estimate (a random subset of larger samples, to bound the cost). Returns positions (ascending) into ``plausible``;
    deterministic in ``seed``. Raises InputError when fewer than ``n`` patients are accepted.
    """
    plausible_columns = _columns(plausible, "plausible")
    observed_columns = _columns(observed, "observed")
    variables = list(observed_columns if variables is None else variables)
    if not variables:
        raise InputError("variables", variables, "at least one variable name")
    for name in variables:
        if name not in plausible_columns:
            raise UnknownNameError("variables (plausible column)", name, tuple(plausible_columns))
        if name not in observed_columns:
            raise UnknownNameError("variables (observed column)", name, tuple(observed_columns))
    if density not in DENSITIES:
        raise InputError("density", density, "one of " + ", ".join(DENSITIES))
    log_scale = set(log_scale)
    unknown = log_scale - set(variables)
    if unknown:
        raise UnknownNameError("log_scale", sorted(unknown)[0], tuple(variables))
    check_seed(seed)
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise InputError("scale", scale, "None or a positive number")
    if isinstance(max_kernel_points, bool) or not isinstance(max_kernel_points, (int, np.integer)) \
            or max_kernel_points < 10:
        raise InputError("max_kernel_points", max_kernel_points, "an integer >= 10")
    kernel_rng, accept_rng = seeds.selection(seed)

    plausible_data = {name: _as_array(plausible_columns[name], f"plausible[{name!r}]", allow_nan=False)
                      for name in variables}
    size = {values.size for values in plausible_data.values()}
    if len(size) != 1:
        raise InputError("plausible", sorted(size), "columns of one common length")
    count = size.pop()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= count:
        raise InputError("n", n, f"an integer from 1 to the plausible population size ({count})")

    def transform(name: str, values: np.ndarray, field: str) -> np.ndarray:
        if name not in log_scale:
            return values
        if np.any(values <= 0):
            raise InputError(field, "values <= 0", "positive values for a log-scale variable")
        return np.log(values)

    x = np.vstack([transform(name, plausible_data[name], f"plausible[{name!r}]") for name in variables])
    distributions = {name: observed_columns[name] for name in variables if _is_distribution(observed_columns[name])}
    observed_data = {name: _as_array(observed_columns[name], f"observed[{name!r}]", allow_nan=True)
                     for name in variables if name not in distributions}

    if density == "joint":
        if distributions:
            raise InputError("observed", sorted(distributions)[0], "samples (a distribution needs density='marginal')")
        lengths = {values.size for values in observed_data.values()}
        if len(lengths) != 1:
            raise InputError("observed", "columns of different lengths", "rows of one patient each for density='joint' "
                             "(use density='marginal' for separate samples)")
        y = np.vstack([transform(name, observed_data[name], f"observed[{name!r}]") for name in variables])
        log_ratio = (_kde(y, kernel_rng, max_kernel_points).logpdf(x)
                     - _kde(x, kernel_rng, max_kernel_points).logpdf(x))
    else:
        log_ratio = np.zeros(count)
        for row, name in enumerate(variables):
            if name in distributions:
                values = plausible_data[name]
                with np.errstate(divide="ignore"):
                    log_observed = np.log(distributions[name].pdf(values))
                if name in log_scale:  # density of log(x) = x · density of x
                    log_observed = log_observed + np.log(values)
            else:
                samples = transform(name, observed_data[name], f"observed[{name!r}]")[None, :]
                log_observed = _kde(samples, kernel_rng, max_kernel_points).logpdf(x[row:row + 1])
            log_ratio += log_observed - _kde(x[row:row + 1], kernel_rng, max_kernel_points).logpdf(x[row:row + 1])

    finite = np.isfinite(log_ratio)
    if not np.any(finite):
        raise InputError("observed", "no overlap", "an observed distribution that overlaps the plausible population")
    log_ratio = np.where(finite, log_ratio, -np.inf)
    log_scale_factor = -np.max(log_ratio) if scale is None else float(np.log(scale))
    probability = np.minimum(1.0, np.exp(log_ratio + log_scale_factor))

    accepted = np.flatnonzero(accept_rng.random(count) < probability)
    if accepted.size < n:
        raise InputError("n", n, f"at most the {accepted.size} accepted patients (expected acceptance "
                         f"{probability.sum():.1f}); sample a larger plausible population")
    chosen = np.sort(accept_rng.permutation(accepted)[:n])

    fit = {}
    for name in variables:
        selected = plausible_data[name][chosen]
        if name in distributions:
            test = stats.kstest(selected, distributions[name].cdf)
            observed_median = float(distributions[name].median())
        else:
            test = stats.ks_2samp(selected, observed_data[name])
            observed_median = float(np.median(observed_data[name]))
        fit[name] = {"statistic": float(test.statistic), "pvalue": float(test.pvalue),
                     "selected_median": float(np.median(selected)), "observed_median": observed_median}
    return SelectionResult(chosen, probability, float(np.exp(log_scale_factor)), int(accepted.size), fit)
