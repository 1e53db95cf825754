"""Time–activity curves: sums of exponentials fitted to measured activities, and their integrals.

Models (times in days, activities in MBq, decay constants in 1/d; term 1 is the fastest, term n the
terminal phase):

=============  ====================================================================  ==========
name           A(t)                                                                  parameters
=============  ====================================================================  ==========
mono           A1 e^(-λ1 t)                                                          2
bi             A1 e^(-λ1 t) + A2 e^(-λ2 t)                                           4
tri            A1 e^(-λ1 t) + A2 e^(-λ2 t) + A3 e^(-λ3 t)                            6
mono_uptake    A1 (e^(-λ1 t) - e^(-λu t))                                            3
bi_uptake      A1 e^(-λ1 t) + A2 e^(-λ2 t) - (A1 + A2) e^(-λu t)                     5
tri_uptake     Σ Ai e^(-λi t) - (Σ Ai) e^(-λu t)                                     7
=============  ====================================================================  ==========

Every amplitude and decay constant is positive; λ1 > λ2 > … > λn; λu exceeds every washout constant,
so that uptake models start at A(0) = 0. The measured activities are *not* decay-corrected, so every
λ is an effective decay constant (biological + physical): a clearance cannot be slower than decay, and
by default the terminal λn is held at or above the nuclide's physical decay constant.

Fits are weighted least squares (``scipy.optimize.least_squares``, trust-region reflective with bounds).
The time-integrated activity is the analytic integral from 0 to infinity,
TIA = Σ Ai/λi − (Σ Ai)/λu (MBq d), reported in MBq h. Its standard error comes from the fit covariance
by the delta method with the analytic gradient, or from :func:`tia_monte_carlo`.

Model choice follows Glatting et al. 2007 (Med Phys 34:4427) and Kletting et al. 2013 (Med Phys
40:102504): Akaike's criterion, corrected for small samples (AICc) when points are few; the model with
fewer parameters is preferred when its criterion is within 2 of the best.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import least_squares, nnls

from ..errors import InputError, UnknownNameError
from ..units import HOURS_PER_DAY


@dataclass(frozen=True)
class TacModel:
    """A sum-of-exponentials model: ``terms`` washout exponentials, with or without an uptake phase."""

    name: str
    terms: int
    uptake: bool
    formula: str

    @property
    def parameter_count(self) -> int:
        return 2 * self.terms + (1 if self.uptake else 0)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        names = [f"amplitude_{index}" for index in range(1, self.terms + 1)]
        names += [f"decay_constant_{index}" for index in range(1, self.terms + 1)]
        return tuple(names + (["uptake_constant"] if self.uptake else []))

    @property
    def minimum_points(self) -> int:
        """A model with k parameters needs at least k + 1 points (one degree of freedom for the residual)."""
        return self.parameter_count + 1


MODELS: dict[str, TacModel] = {
    model.name: model
    for model in (
        TacModel("mono", 1, False, "A1 exp(-l1 t)"),
        TacModel("bi", 2, False, "A1 exp(-l1 t) + A2 exp(-l2 t)"),
        TacModel("tri", 3, False, "A1 exp(-l1 t) + A2 exp(-l2 t) + A3 exp(-l3 t)"),
        TacModel("mono_uptake", 1, True, "A1 (exp(-l1 t) - exp(-lu t))"),
        TacModel("bi_uptake", 2, True, "A1 exp(-l1 t) + A2 exp(-l2 t) - (A1 + A2) exp(-lu t)"),
        TacModel("tri_uptake", 3, True, "sum Ai exp(-li t) - (sum Ai) exp(-lu t)"),
    )
}

#: Models tried by ``model="auto"``, simplest first (those the data cannot support are skipped).
DEFAULT_CANDIDATES: tuple[str, ...] = ("mono", "mono_uptake", "bi", "bi_uptake", "tri", "tri_uptake")

#: Within this many AIC units of the best, the model with fewer parameters is chosen (Burnham & Anderson 2002).
SIMPLER_MODEL_MARGIN = 2.0


def get_model(name: str) -> TacModel:
    """The model called ``name``; an unknown name raises :class:`UnknownNameError` listing the known ones."""
    if isinstance(name, TacModel):
        return name
    try:
        return MODELS[str(name).strip().lower().replace("-", "_")]
    except KeyError:
        raise UnknownNameError("model", name, list(MODELS) + ["auto"]) from None


# --- pure functions over parameter vectors -------------------------------------------------------
# A parameter vector p is [A1..An, λ1..λn, (λu)] in MBq and 1/d, in the order of TacModel.parameter_names.

def split_parameters(model: TacModel, parameters: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Amplitudes (MBq), decay constants (1/d) and uptake constant (1/d or None) from a parameter vector."""
    parameters = np.asarray(parameters, dtype=float)
    n = model.terms
    return parameters[:n], parameters[n:2 * n], (float(parameters[2 * n]) if model.uptake else None)


def evaluate(model: TacModel, parameters: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A(t) in MBq at ``times`` (days)."""
    amplitudes, constants, uptake = split_parameters(model, parameters)
    times = np.asarray(times, dtype=float)
    activity = np.exp(-np.multiply.outer(times, constants)) @ amplitudes
    if uptake is not None:
        activity = activity - amplitudes.sum() * np.exp(-uptake * times)
    return activity


def activity_jacobian(model: TacModel, parameters: np.ndarray, times: np.ndarray) -> np.ndarray:
    """∂A(t_i)/∂p_j, shape (points, parameters)."""
    amplitudes, constants, uptake = split_parameters(model, parameters)
    times = np.asarray(times, dtype=float)
    exponentials = np.exp(-np.multiply.outer(times, constants))
    columns = [exponentials, -exponentials * amplitudes * times[:, None]]
    if uptake is not None:
        uptake_exponential = np.exp(-uptake * times)
        columns[0] = exponentials - uptake_exponential[:, None]
        columns.append((amplitudes.sum() * times * uptake_exponential)[:, None])
    return np.hstack(columns)


def integral_to_infinity(model: TacModel, parameters: np.ndarray) -> float:
    """∫₀^∞ A(t) dt = Σ Ai/λi − (Σ Ai)/λu, in MBq d."""
    amplitudes, constants, uptake = split_parameters(model, parameters)
    total = float(np.sum(amplitudes / constants))
    if uptake is not None:
        total -= float(amplitudes.sum()) / uptake
    return total


def integral_gradient(model: TacModel, parameters: np.ndarray) -> np.ndarray:
    """Analytic gradient of :func:`integral_to_infinity` with respect to the parameters (for the delta method)."""
    amplitudes, constants, uptake = split_parameters(model, parameters)
    by_amplitude = 1.0 / constants
    pieces = [by_amplitude, -amplitudes / constants**2]
    if uptake is not None:
        pieces[0] = by_amplitude - 1.0 / uptake
        pieces.append(np.array([amplitudes.sum() / uptake**2]))
    return np.concatenate(pieces)


def information_criteria(weighted_rss: float, points: int, parameter_count: int,
                         absolute_sigma: bool) -> tuple[float, float]:
    """(AIC, AICc) of a least-squares fit.

    With uncertainties known in absolute terms AIC = χ² + 2k; otherwise the residual variance is
    estimated and AIC = N ln(WRSS/N) + 2k. AICc = AIC + 2k(k+1)/(N−k−1), infinite when N ≤ k+1.
    k counts the fitted model parameters (Glatting et al. 2007, Med Phys 34:4427).
    """
    k, n = parameter_count, points
    floor = n * 1e-24  # an exact fit would give ln 0
    aic = (weighted_rss if absolute_sigma else n * math.log(max(weighted_rss, floor) / n)) + 2 * k
    aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf
    return aic, aicc


# --- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TacFit:
    """A fitted time–activity curve.

    ``tia`` and ``tia_standard_error`` are in MBq h; ``parameters`` in MBq and 1/d; ``covariance`` is
    over the parameters in the order of ``parameter_names``.
    """

    model: str
    parameters: dict[str, float]
    covariance: np.ndarray
    aic: float
    aicc: float
    tia: float
    tia_standard_error: float
    times: np.ndarray
    activities: np.ndarray
    sigma: np.ndarray
    absolute_sigma: bool
    weighted_residual_sum_of_squares: float
    decay_constant: float | None = None
    physical_decay_enforced: bool = False
    region: str | None = None
    success: bool = True
    message: str = ""
    model_criteria: dict[str, float] = field(default_factory=dict)
    criterion: str = ""

    @property
    def definition(self) -> TacModel:
        return MODELS[self.model]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.definition.parameter_names

    @property
    def parameter_vector(self) -> np.ndarray:
        return np.array([self.parameters[name] for name in self.parameter_names])

    @property
    def parameter_standard_errors(self) -> dict[str, float]:
        errors = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        return dict(zip(self.parameter_names, map(float, errors)))

    @property
    def decay_constants(self) -> np.ndarray:
        """Washout (effective) decay constants in 1/d, fastest first."""
        return split_parameters(self.definition, self.parameter_vector)[1]

    @property
    def exponential_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """A(t) = Σ c_k e^{−r_k t}: amplitudes c (MBq; the uptake term negative) and rates r (1/d)."""
        amplitudes, constants, uptake = split_parameters(self.definition, self.parameter_vector)
        if uptake is None:
            return amplitudes.copy(), constants.copy()
        return np.append(amplitudes, -amplitudes.sum()), np.append(constants, uptake)

    @property
    def terminal_decay_constant(self) -> float:
        return float(self.decay_constants[-1])

    @property
    def effective_half_lives(self) -> np.ndarray:
        """ln 2 / λi in days, fastest first."""
        return math.log(2.0) / self.decay_constants

    @property
    def points(self) -> int:
        return int(self.times.size)

    @property
    def degrees_of_freedom(self) -> int:
        """Residual degrees of freedom: points − parameters (1 for a 4-point mono-exponential with uptake)."""
        return self.points - self.definition.parameter_count

    @property
    def tia_interval_95(self) -> tuple[float, float]:
        """95 % interval of the TIA (MBq h): ± t(0.975, points − parameters) × SE, Student's t because the noise
        is estimated from the residuals (the normal 1.96 when ``absolute_sigma`` gives it); the lower bound not
        below 0. With few points the SE itself is uncertain: for a 4-point mono-uptake fit (1 degree of freedom,
        t = 12.7), ± 1.96 SE covered the true TIA in 68 % of 200 simulated data sets and the t interval in 94 %
        (issue 19, item 7; tests/dosimetry/test_tac.py)."""
        if self.degrees_of_freedom <= 0 and not self.absolute_sigma:
            return 0.0, math.inf
        from scipy.stats import norm, t

        quantile = float(norm.ppf(0.975) if self.absolute_sigma else t.ppf(0.975, self.degrees_of_freedom))
        return max(self.tia - quantile * self.tia_standard_error, 0.0), self.tia + quantile * self.tia_standard_error

    def predict(self, times: object) -> np.ndarray:
        """Fitted activity (MBq) at ``times`` (days)."""
        return evaluate(self.definition, self.parameter_vector, np.asarray(times, dtype=float))

    def summary(self) -> dict[str, object]:
        """Plain numbers for ``--json`` output and reports."""
        standard_errors = self.parameter_standard_errors
        return {
            "region": self.region,
            "model": self.model,
            "formula": self.definition.formula,
            "parameters": dict(self.parameters),
            "parameter_standard_errors": standard_errors,
            "parameter_units": {name: ("MBq" if name.startswith("amplitude") else "1/d") for name in self.parameter_names},
            "effective_half_lives_h": [float(value) * HOURS_PER_DAY for value in self.effective_half_lives],
            "tia_MBq_h": self.tia,
            "tia_standard_error_MBq_h": self.tia_standard_error,
            "tia_interval_95_MBq_h": list(self.tia_interval_95),
            "degrees_of_freedom": self.degrees_of_freedom,
            "aic": self.aic,
            "aicc": None if math.isinf(self.aicc) else self.aicc,
            "criterion": self.criterion or None,
            "model_criteria": {name: (None if math.isinf(value) else value) for name, value in self.model_criteria.items()},
            "points": self.points,
            "weighted_residual_sum_of_squares": self.weighted_residual_sum_of_squares,
            "physical_decay_constant_per_day": self.decay_constant,
            "physical_decay_enforced": self.physical_decay_enforced,
            "success": self.success,
        }


# --- validation ------------------------------------------------------------------------------------

def _prefix(region: str | None, name: str) -> str:
    return f"{region}.{name}" if region else name


def validate_curve(times: object, activities: object, region: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Times (days) and activities (MBq) as float arrays; bad values raise :class:`InputError` naming the field."""
    arrays = []
    for name, values in (("times", times), ("activities", activities)):
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise InputError(_prefix(region, name), values, "a sequence of numbers") from None
        if array.ndim != 1:
            raise InputError(_prefix(region, name), values, "a one-dimensional sequence of numbers")
        if not np.all(np.isfinite(array)):
            raise InputError(_prefix(region, name), values, "finite numbers (no NaN or infinity)")
        arrays.append(array)
    times_array, activities_array = arrays
    if times_array.size != activities_array.size:
        raise InputError(_prefix(region, "activities"), activities,
                         f"as many activities as times ({times_array.size})")
    if times_array.size == 0:
        raise InputError(_prefix(region, "times"), times, "at least one measurement")
    if np.any(times_array < 0):
        raise InputError(_prefix(region, "times"), times, "non-negative times after administration")
    if np.any(np.diff(times_array) <= 0):
        raise InputError(_prefix(region, "times"), times, "strictly increasing times")
    if np.any(activities_array < 0):
        raise InputError(_prefix(region, "activities"), activities, "non-negative activities")
    if not np.any(activities_array > 0):
        raise InputError(_prefix(region, "activities"), activities, "at least one positive activity")
    return times_array, activities_array


def _resolve_decay_constant(decay_constant: float | None, nuclide: str | None) -> float | None:
    if decay_constant is not None:
        value = float(decay_constant)
        if not (value > 0 and math.isfinite(value)):
            raise InputError("decay_constant", decay_constant, "a positive physical decay constant in 1/d")
        return value
    if nuclide is not None:
        from ..physics import Nuclide

        return Nuclide(nuclide).decay_constant_per_day
    return None


def _sigma(activities: np.ndarray, weighting: str, uncertainties: object, region: str | None) -> tuple[np.ndarray, bool]:
    """Standard deviations of the measurements, and whether they are absolute (known) or relative weights."""
    if uncertainties is not None:
        try:
            sigma = np.broadcast_to(np.asarray(uncertainties, dtype=float), activities.shape).copy()
        except (TypeError, ValueError):
            raise InputError(_prefix(region, "uncertainties"), uncertainties,
                             f"{activities.size} positive standard deviations in MBq") from None
        if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
            raise InputError(_prefix(region, "uncertainties"), uncertainties, "positive, finite standard deviations in MBq")
        return sigma, True
    if weighting == "relative":
        # a constant coefficient of variation, as for quantitative SPECT; a zero reading gets 1 % of the peak
        return np.maximum(activities, 0.01 * activities.max()), False
    if weighting == "uniform":
        return np.full(activities.shape, activities.max()), False
    raise InputError("weighting", weighting, "'relative' (constant coefficient of variation) or 'uniform'")


# --- fitting ---------------------------------------------------------------------------------------

def _to_optimizer(model: TacModel, parameters: np.ndarray, floor: float) -> np.ndarray:
    """θ = [ln A1..ln An, λn − floor, λ(n−1) − λn, …, λ1 − λ2, (λu − λ1)]: bounds then keep the order."""
    amplitudes, constants, uptake = split_parameters(model, parameters)
    ladder = np.concatenate([[floor], constants[::-1], [] if uptake is None else [uptake]])
    return np.concatenate([np.log(amplitudes), np.diff(ladder)])


def _from_optimizer(model: TacModel, theta: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Parameter vector from θ, and ∂p/∂θ."""
    n = model.terms
    amplitudes = np.exp(theta[:n])
    ladder = floor + np.cumsum(theta[n:])
    constants = ladder[:n][::-1]
    parameters = np.concatenate([amplitudes, constants, ladder[n:]])
    size = model.parameter_count
    derivative = np.zeros((size, size))
    derivative[np.arange(n), np.arange(n)] = amplitudes
    cumulative = np.tril(np.ones((size - n, size - n)))  # ladder_j = floor + Σ_{i≤j} δ_i
    order = list(range(n))[::-1] + list(range(n, size - n))  # ladder index of each constant in p order
    derivative[n:, n:] = cumulative[order]
    return parameters, derivative


def _amplitudes_for(model: TacModel, constants: np.ndarray, uptake: float | None, times: np.ndarray,
                    activities: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Non-negative amplitudes for given decay constants (the model is linear in them): weighted NNLS."""
    design = np.exp(-np.multiply.outer(times, constants))
    if uptake is not None:
        design = design - np.exp(-uptake * times)[:, None]
    amplitudes, _ = nnls(design / sigma[:, None], activities / sigma)
    return np.maximum(amplitudes, 1e-6 * activities.max())


def _starting_points(model: TacModel, times: np.ndarray, activities: np.ndarray, sigma: np.ndarray,
                     floor: float) -> list[np.ndarray]:
    """Candidate starting vectors: terminal slope from the last points, faster phases and uptake on a grid."""
    positive = activities > 0
    tail_times, tail_values = times[positive][-2:], activities[positive][-2:]
    span = times[-1] - times[0] if times.size > 1 else 1.0
    if tail_times.size == 2 and tail_values[0] > tail_values[1]:
        terminal = math.log(tail_values[0] / tail_values[1]) / (tail_times[1] - tail_times[0])
    else:
        terminal = math.log(2.0) / max(span, times[-1], 1e-3)
    lowest = floor * 1.001 if floor > 0 else 1e-6
    starts = []
    for terminal_factor in (1.0, 0.6):
        terminal_guess = max(terminal * terminal_factor, lowest)
        for washout_factor in ((4.0, 15.0, 60.0) if model.terms > 1 else (1.0,)):
            constants = terminal_guess * washout_factor ** np.arange(model.terms - 1, -1, -1)
            for uptake_factor in ((3.0, 15.0, 80.0) if model.uptake else (None,)):
                uptake = None if uptake_factor is None else max(constants[0] * uptake_factor, 0.5 / max(times[0], 1e-3))
                if uptake is not None and uptake <= constants[0]:
                    uptake = constants[0] * uptake_factor
                amplitudes = _amplitudes_for(model, constants, uptake, times, activities, sigma)
                starts.append(np.concatenate([amplitudes, constants, [] if uptake is None else [uptake]]))
    return starts


def _least_squares(model: TacModel, start: np.ndarray, times: np.ndarray, activities: np.ndarray,
                   sigma: np.ndarray, floor: float):
    """One bounded trust-region fit from ``start``; returns (result, parameters)."""
    theta0 = _to_optimizer(model, start, floor)
    n = model.terms
    log_scale = math.log(activities.max())
    lower = np.concatenate([np.full(n, log_scale - 40.0), np.zeros(model.parameter_count - n)])
    if floor <= 0:
        lower[n] = 1e-9  # the terminal decay constant must stay positive for a finite integral
    upper = np.concatenate([np.full(n, log_scale + 40.0), np.full(model.parameter_count - n, np.inf)])
    theta0 = np.clip(theta0, lower + 1e-12, upper - 1e-12)

    def residuals(theta: np.ndarray) -> np.ndarray:
        parameters, _ = _from_optimizer(model, theta, floor)
        return (evaluate(model, parameters, times) - activities) / sigma

    def jacobian(theta: np.ndarray) -> np.ndarray:
        parameters, derivative = _from_optimizer(model, theta, floor)
        return (activity_jacobian(model, parameters, times) @ derivative) / sigma[:, None]

    result = least_squares(residuals, theta0, jac=jacobian, bounds=(lower, upper), method="trf",
                           x_scale="jac", max_nfev=400 * model.parameter_count, xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return result, _from_optimizer(model, result.x, floor)[0]


def _fit_one(model: TacModel, times: np.ndarray, activities: np.ndarray, sigma: np.ndarray, absolute_sigma: bool,
             decay_constant: float | None, floor: float, region: str | None,
             start: np.ndarray | None = None, tries: int = 3) -> TacFit:
    if start is not None:
        starts = [start]
    else:
        candidates = _starting_points(model, times, activities, sigma, floor)
        costs = [np.sum(((evaluate(model, p, times) - activities) / sigma) ** 2) for p in candidates]
        starts = [candidates[index] for index in np.argsort(costs)[:tries]]
    best = None
    for candidate in starts:
        result, parameters = _least_squares(model, candidate, times, activities, sigma, floor)
        if best is None or result.cost < best[0].cost:
            best = (result, parameters)
    result, parameters = best
    weighted_residuals = (evaluate(model, parameters, times) - activities) / sigma
    rss = float(weighted_residuals @ weighted_residuals)
    jacobian = activity_jacobian(model, parameters, times) / sigma[:, None]
    degrees_of_freedom = times.size - model.parameter_count
    variance = 1.0 if absolute_sigma else rss / degrees_of_freedom
    covariance = np.linalg.pinv(jacobian.T @ jacobian) * variance
    gradient = integral_gradient(model, parameters)
    tia_variance = max(float(gradient @ covariance @ gradient), 0.0)
    aic, aicc = information_criteria(rss, times.size, model.parameter_count, absolute_sigma)
    return TacFit(
        model=model.name,
        parameters=dict(zip(model.parameter_names, map(float, parameters))),
        covariance=covariance,
        aic=aic,
        aicc=aicc,
        tia=integral_to_infinity(model, parameters) * HOURS_PER_DAY,
        tia_standard_error=math.sqrt(tia_variance) * HOURS_PER_DAY,
        times=times,
        activities=activities,
        sigma=sigma,
        absolute_sigma=absolute_sigma,
        weighted_residual_sum_of_squares=rss,
        decay_constant=decay_constant,
        physical_decay_enforced=floor > 0,
        region=region,
        success=bool(result.success),
        message=str(result.message),
    )


def _prepare(times, activities, decay_constant, nuclide, enforce_physical_decay, weighting, uncertainties, region):
    times_array, activities_array = validate_curve(times, activities, region)
    physical = _resolve_decay_constant(decay_constant, nuclide)
    sigma, absolute_sigma = _sigma(activities_array, weighting, uncertainties, region)
    floor = physical if (physical is not None and enforce_physical_decay) else 0.0
    return times_array, activities_array, physical, sigma, absolute_sigma, floor


def _too_few_points(model: TacModel, points: int, region: str | None) -> InputError:
    where = f"region {region!r}" if region else "the curve"
    return InputError(_prefix(region, "model"), model.name,
                      f"a model the data can support: {model.name!r} has {model.parameter_count} parameters and needs "
                      f"at least {model.minimum_points} points, but {where} has {points}")


def fit_all_models(times: object, activities: object, models: Iterable[str] | None = None,
                   decay_constant: float | None = None, *, nuclide: str | None = None,
                   enforce_physical_decay: bool = True, weighting: str = "relative",
                   uncertainties: object = None, region: str | None = None) -> dict[str, TacFit]:
    """Fit every model in ``models`` (default :data:`DEFAULT_CANDIDATES`) to one curve.

    Models named explicitly must be supported by the number of points (else :class:`InputError`); of the
    default candidates, those needing more points than measured are skipped.
    """
    times_array, activities_array, physical, sigma, absolute_sigma, floor = _prepare(
        times, activities, decay_constant, nuclide, enforce_physical_decay, weighting, uncertainties, region)
    explicit = models is not None
    chosen = [get_model(name) for name in (models if explicit else DEFAULT_CANDIDATES)]
    fits: dict[str, TacFit] = {}
    for model in chosen:
        if times_array.size < model.minimum_points:
            if explicit:
                raise _too_few_points(model, times_array.size, region)
            continue
        fits[model.name] = _fit_one(model, times_array, activities_array, sigma, absolute_sigma, physical, floor, region)
    if not fits:
        smallest = min(chosen, key=lambda model: model.parameter_count)
        raise _too_few_points(smallest, times_array.size, region)
    return fits


def select_model(fits: Mapping[str, TacFit] | Iterable[TacFit], criterion: str = "auto") -> TacFit:
    """The fit chosen by AIC (or AICc): among fits within 2 of the best, the one with fewest parameters.

    ``criterion="auto"`` uses AICc when points are few (N/k < 40 for the largest model, Burnham & Anderson
    2002) and AIC otherwise. The chosen fit carries every model's criterion in ``model_criteria``.
    """
    fit_list = list(fits.values()) if isinstance(fits, Mapping) else list(fits)
    if not fit_list:
        raise InputError("fits", fit_list, "at least one TacFit")
    points = {fit.points for fit in fit_list}
    if len(points) != 1:
        raise InputError("fits", [fit.model for fit in fit_list], "fits of the same curve (same number of points)")
    if criterion == "auto":
        largest = max(fit.definition.parameter_count for fit in fit_list)
        criterion = "aicc" if points.pop() / largest < 40 else "aic"
    if criterion not in ("aic", "aicc"):
        raise InputError("criterion", criterion, "'auto', 'aic' or 'aicc'")
    values = {fit.model: (fit.aicc if criterion == "aicc" else fit.aic) for fit in fit_list}
    best = min(values.values())
    if math.isinf(best):
        raise InputError("fits", list(values), f"at least one model with a finite {criterion.upper()} "
                                               "(more points than parameters + 1)")
    close = [fit for fit in fit_list if values[fit.model] <= best + SIMPLER_MODEL_MARGIN]
    chosen = min(close, key=lambda fit: (fit.definition.parameter_count, values[fit.model]))
    return replace(chosen, model_criteria=values, criterion=criterion)


def fit_tac(times: object, activities: object, model: str = "auto", decay_constant: float | None = None, *,
            nuclide: str | None = None, enforce_physical_decay: bool = True, weighting: str = "relative",
            uncertainties: object = None, region: str | None = None,
            candidates: Iterable[str] | None = None) -> TacFit:
    """Fit a time–activity curve and integrate it to infinity.

    ``times`` in days after administration, ``activities`` in MBq (not decay-corrected). ``decay_constant``
    is the physical decay constant (1/d), or give ``nuclide``; with ``enforce_physical_decay`` the
    terminal effective decay constant is held at or above it. ``weighting`` is ``"relative"`` (σ ∝
    activity, the default) or ``"uniform"``; ``uncertainties`` (MBq) replace both and are taken as
    absolute. ``model="auto"`` fits ``candidates`` and picks one with :func:`select_model`.
    """
    if str(model).lower() == "auto":
        return select_model(fit_all_models(times, activities, candidates, decay_constant, nuclide=nuclide,
                                           enforce_physical_decay=enforce_physical_decay, weighting=weighting,
                                           uncertainties=uncertainties, region=region))
    definition = get_model(model)
    times_array, activities_array, physical, sigma, absolute_sigma, floor = _prepare(
        times, activities, decay_constant, nuclide, enforce_physical_decay, weighting, uncertainties, region)
    if times_array.size < definition.minimum_points:
        raise _too_few_points(definition, times_array.size, region)
    return _fit_one(definition, times_array, activities_array, sigma, absolute_sigma, physical, floor, region)


# --- Monte Carlo uncertainty -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TiaMonteCarlo:
    """Distribution of the TIA (MBq h) from Monte Carlo draws."""

    method: str
    mean: float
    standard_deviation: float
    median: float
    interval_95: tuple[float, float]
    samples: np.ndarray
    accepted_fraction: float

    def summary(self) -> dict[str, object]:
        return {"method": self.method, "mean_MBq_h": self.mean, "standard_deviation_MBq_h": self.standard_deviation,
                "median_MBq_h": self.median, "interval_95_MBq_h": list(self.interval_95),
                "draws": int(self.samples.size), "accepted_fraction": self.accepted_fraction}


def tia_monte_carlo(fit: TacFit, draws: int = 2000, seed: int | np.random.Generator | None = None,
                    method: str = "parameters") -> TiaMonteCarlo:
    """TIA uncertainty by Monte Carlo.

    ``method="parameters"``: parameter vectors drawn from the multivariate normal of the fit covariance
    (draws with a non-positive parameter, or an uptake constant not above every washout constant, are
    rejected). ``method="bootstrap"``: residual bootstrap (Efron & Tibshirani 1993): weighted residuals,
    inflated by √(N/(N−k)), resampled with replacement onto the fitted curve and refitted.
    """
    if not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 2:
        raise InputError("draws", draws, "an integer of at least 2")
    generator = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    model = fit.definition
    parameters = fit.parameter_vector
    if method == "parameters":
        samples = generator.multivariate_normal(parameters, fit.covariance, size=draws, method="svd")
        amplitudes, constants = samples[:, :model.terms], samples[:, model.terms:2 * model.terms]
        valid = np.all(samples > 0, axis=1)
        if model.uptake:
            valid &= samples[:, -1] > constants.max(axis=1)
        samples = samples[valid]
        amplitudes, constants = samples[:, :model.terms], samples[:, model.terms:2 * model.terms]
        values = np.sum(amplitudes / constants, axis=1)
        if model.uptake:
            values -= amplitudes.sum(axis=1) / samples[:, -1]
        values = values * HOURS_PER_DAY
        accepted = float(valid.mean())
    elif method == "bootstrap":
        fitted = fit.predict(fit.times)
        residuals = (fit.activities - fitted) / fit.sigma
        residuals = residuals * math.sqrt(fit.points / max(fit.points - model.parameter_count, 1))
        floor = fit.decay_constant if fit.physical_decay_enforced else 0.0
        values = np.empty(draws)
        for index in range(draws):
            resampled = fitted + fit.sigma * generator.choice(residuals, size=fit.points, replace=True)
            resampled = np.maximum(resampled, 1e-9 * fit.activities.max())
            refit = _fit_one(model, fit.times, resampled, fit.sigma, fit.absolute_sigma, fit.decay_constant, floor,
                             fit.region, start=parameters)
            values[index] = refit.tia
        accepted = 1.0
    else:
        raise InputError("method", method, "'parameters' (draws from the covariance) or 'bootstrap' (residual bootstrap)")
    if values.size < 2:
        raise InputError("fit.covariance", fit.model, "a covariance that gives valid parameter draws")
    low, median, high = np.percentile(values, [2.5, 50.0, 97.5])
    return TiaMonteCarlo(method=method, mean=float(values.mean()), standard_deviation=float(values.std(ddof=1)),
                         median=float(median), interval_95=(float(low), float(high)), samples=values,
                         accepted_fraction=accepted)

