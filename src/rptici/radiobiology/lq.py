"""Linear-quadratic model with incomplete repair, for any dose-rate history.

The sublethal-damage variable Γ obeys (DESIGN.md; Dale 1985 Br J Radiol 58:515, written as an ODE)::

    Γ' = Ḋ − μ Γ,        μ = ln 2 / T_rep,
    −ln S = α D + 2 β ∫ Ḋ Γ dt,
    BED  = D + (2 / (α/β)) ∫ Ḋ Γ dt = D (1 + G D / (α/β)),   G = 2 ∫ Ḋ Γ dt / D².

G is the Lea–Catcheside factor (1 for an acute fraction, → 0 for a very protracted one). This module
integrates ∫ḊΓ dt exactly for a piecewise-linear dose rate given as samples, or with an adaptive
Runge–Kutta method for a dose rate given as a function, and gives the closed forms of G for constant,
mono-exponential, uptake–washout and sums-of-exponentials dose rates.

Times are in days, doses in Gy, dose rates in Gy/d, repair and effective half-times in days.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp

from ..errors import InputError, checked_array

_SERIES_BELOW = 1.0  # below this μh the segment integrals are summed as power series (no cancellation)
_SERIES_TERMS = 30



def repair_rate(repair_half_time: ArrayLike) -> NDArray[np.float64]:
    """Repair rate constant μ = ln 2 / T_rep (per day) from the repair half-time (days; inf: no repair)."""
    return np.log(2.0) / checked_array(repair_half_time, "repair_half_time", positive=True, allow_infinite=True)


def damage_derivatives(dose_rate: ArrayLike, damage: ArrayLike, repair_rate_per_day: ArrayLike
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Right-hand side of the incomplete-repair ODE: (Γ', d/dt ∫ḊΓ) = (Ḋ − μΓ, ḊΓ).

    For engines that integrate the LQ state alongside kinetics; the kill rate is αḊ + 2βḊΓ.
    """
    dose_rate, damage = np.asarray(dose_rate, dtype=float), np.asarray(damage, dtype=float)
    return dose_rate - np.asarray(repair_rate_per_day) * damage, dose_rate * damage


# --- exact integrals of a linear dose rate over one segment ------------------------------------------
# With x = τ/h ∈ [0, 1] and m = μh:
#   J_a(m)  = ∫₀¹ xᵃ e^{−m x} dx
#   T_ab(m) = ∫₀¹ ∫₀ˣ xᵃ yᵇ e^{−m (x − y)} dy dx
# Power series: J_a = Σ (−m)ⁿ / (n! (a+n+1)),  T_ab = Σ (−m)ⁿ b! / ((b+n+1)! (a+b+n+2)).

def _series(m: NDArray[np.float64], coefficient: Callable[[int], float]) -> NDArray[np.float64]:
    total = np.zeros_like(m)
    power = np.ones_like(m)
    for n in range(_SERIES_TERMS):
        total += coefficient(n) * power
        power = power * (-m)
    return total


def _segment_integrals(m: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    small = m < _SERIES_BELOW
    ms = np.where(small, 0.5, m)  # any value: replaced where small
    e = np.exp(-ms)
    closed = {
        "J0": -np.expm1(-ms) / ms,
        "J1": (1 - (1 + ms) * e) / ms**2,
        "T00": (ms - 1 + e) / ms**2,
        "T10": (ms**2 / 2 - 1 + (ms + 1) * e) / ms**3,
        "T01": 1 / (2 * ms) - 1 / ms**2 + (1 - e) / ms**3,
        "T11": (ms**3 / 3 - ms**2 / 2 + 1 - (ms + 1) * e) / ms**4,
    }
    if not np.any(small):
        return closed
    mm = np.where(small, m, 0.0)
    series = {
        "J0": _series(mm, lambda n: 1 / (math.factorial(n) * (n + 1))),
        "J1": _series(mm, lambda n: 1 / (math.factorial(n) * (n + 2))),
        "T00": _series(mm, lambda n: 1 / (math.factorial(n + 1) * (n + 2))),
        "T10": _series(mm, lambda n: 1 / (math.factorial(n + 1) * (n + 3))),
        "T01": _series(mm, lambda n: 1 / (math.factorial(n + 2) * (n + 3))),
        "T11": _series(mm, lambda n: 1 / (math.factorial(n + 2) * (n + 4))),
    }
    return {key: np.where(small, series[key], closed[key]) for key in closed}


def _check_times(times: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(times, dtype=float)
    if array.ndim != 1 or array.size < 2 or not np.all(np.isfinite(array)) or np.any(np.diff(array) <= 0):
        raise InputError("times", times, "a one-dimensional, strictly increasing array of at least two finite times (days)")
    return array


def incomplete_repair_piecewise_linear(times: ArrayLike, dose_rate: ArrayLike, repair_half_time: ArrayLike,
                                       initial_damage: ArrayLike = 0.0
                                       ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Exact (D, ∫ḊΓ dt, Γ at the end) for a dose rate linear between samples.

    ``dose_rate`` has shape (..., len(times)) (Gy/d; a leading patient/region axis is allowed);
    ``repair_half_time`` (days) broadcasts against the leading shape. On each segment Ḋ = r₀ + Δ·x with
    x = (t − t₀)/h, and the LQ integrals are solved in closed form:
    ∫ḊΓ = Γ₀ h (r₀J₀ + ΔJ₁) + h² (r₀² T₀₀ + r₀Δ (T₁₀ + T₀₁) + Δ² T₁₁), Γ₁ = Γ₀ e^{−μh} + h (r₁J₀ − ΔJ₁).
    """
    times = _check_times(times)
    rates = np.asarray(dose_rate, dtype=float)
    if rates.ndim < 1 or rates.shape[-1] != times.size:
        raise InputError("dose_rate", f"array of shape {rates.shape}",
                         f"an array whose last axis matches times ({times.size} samples)")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise InputError("dose_rate", "array with negative or non-finite values", "non-negative finite dose rates (Gy/d)")
    mu = repair_rate(repair_half_time)
    leading = np.broadcast_shapes(rates.shape[:-1], mu.shape, np.shape(initial_damage))
    rates = np.broadcast_to(rates, leading + times.shape)
    mu = np.broadcast_to(mu, leading)
    damage = np.array(np.broadcast_to(np.asarray(initial_damage, dtype=float), leading))
    steps = np.diff(times)
    m = mu[..., None] * steps
    integrals = _segment_integrals(np.asarray(m, dtype=float))
    start, end = rates[..., :-1], rates[..., 1:]
    delta = end - start
    # parts of each segment's ∫ḊΓ and Γ₁ that do not depend on Γ₀, computed for all segments at once
    own_quadratic = steps**2 * (start**2 * integrals["T00"] + start * delta * (integrals["T10"] + integrals["T01"])
                                + delta**2 * integrals["T11"])
    carried = steps * (start * integrals["J0"] + delta * integrals["J1"])
    own_damage = steps * (end * integrals["J0"] - delta * integrals["J1"])
    decay = np.exp(-m)
    quadratic = np.sum(own_quadratic, axis=-1)
    for index in range(steps.size):
        quadratic = quadratic + damage * carried[..., index]
        damage = damage * decay[..., index] + own_damage[..., index]
    dose = np.trapezoid(rates, times, axis=-1)
    return dose, quadratic, damage


def incomplete_repair_ode(dose_rate: Callable[[float], ArrayLike], times: ArrayLike, repair_half_time: ArrayLike,
                          rtol: float = 1e-10, atol: float = 1e-13
                          ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(D, ∫ḊΓ dt, Γ at the end) for a dose rate given as a function of time, by solving the ODE.

    ``dose_rate(t)`` returns Gy/d (scalar or array of the leading shape). ``times`` are breakpoints
    (at least start and end, days): the integration restarts at each, so put discontinuities (cycle
    starts) there. Solved with the 8th-order Dormand–Prince method (``scipy.integrate.solve_ivp``,
    DOP853) at tight tolerance; this is the correctness oracle for the closed forms.
    """
    times = _check_times(times)
    if not callable(dose_rate):
        raise InputError("dose_rate", dose_rate, "a function of time (days) returning Gy/d")
    mu = repair_rate(repair_half_time)
    leading = np.broadcast_shapes(np.shape(dose_rate(float(times[0]))), mu.shape)
    mu_flat = np.broadcast_to(mu, leading).ravel()
    size = mu_flat.size

    def derivatives(t: float, state: NDArray[np.float64]) -> NDArray[np.float64]:
        rate = np.broadcast_to(np.asarray(dose_rate(t), dtype=float), leading).ravel()
        damage = state[size:2 * size]
        return np.concatenate([rate, rate - mu_flat * damage, rate * damage])

    state = np.zeros(3 * size)
    for start, end in zip(times[:-1], times[1:]):
        solution = solve_ivp(derivatives, (start, end), state, method="DOP853", rtol=rtol, atol=atol)
        if not solution.success:
            raise RuntimeError(f"incomplete-repair ODE failed between {start} and {end} d: {solution.message}")
        state = solution.y[:, -1]
    dose, damage, quadratic = (state[i * size:(i + 1) * size].reshape(leading) for i in range(3))
    return dose, quadratic, damage


def log_cell_kill(dose: ArrayLike, quadratic_integral: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    """−ln S = αD + 2β∫ḊΓ dt (LQ with incomplete repair; equals α·BED)."""
    return np.asarray(alpha) * np.asarray(dose) + 2 * np.asarray(beta) * np.asarray(quadratic_integral)


# --- Lea–Catcheside G in closed form --------------------------------------------------------------------

def g_factor_monoexponential(effective_half_life: ArrayLike, repair_half_time: ArrayLike) -> NDArray[np.float64]:
    """G = λ/(λ+μ) = T_rep/(T_rep + T_eff) for Ḋ ∝ e^{−λt} from t = 0 to ∞ (Dale 1985 Br J Radiol 58:515)."""
    effective = checked_array(effective_half_life, "effective_half_life", positive=True)
    repair = checked_array(repair_half_time, "repair_half_time", positive=True)
    return repair / (repair + effective)


def g_factor_uptake_washout(uptake_half_life: ArrayLike, effective_half_life: ArrayLike,
                            repair_half_time: ArrayLike) -> NDArray[np.float64]:
    """G for Ḋ ∝ e^{−λ_w t} − e^{−λ_u t} (uptake half-life ln2/λ_u, effective washout half-life ln2/λ_w).

    From G = 2∫ḊΓ/D² with ∫₀^∞ e^{−bt} ∫₀ᵗ e^{−as} e^{−μ(t−s)} ds dt = 1/((a+b)(b+μ)) (derived here)::

        G = λ_u λ_w (λ_u + λ_w + μ) / ((λ_u + λ_w)(λ_u + μ)(λ_w + μ)),

    the form of Baechler et al. 2008 Radiother Oncol 88:223 (after Dale 1996). Symmetric in λ_u, λ_w;
    it tends to λ_w/(λ_w+μ) as uptake becomes instantaneous and stays finite when λ_u = λ_w.
    """
    uptake = np.log(2.0) / checked_array(uptake_half_life, "uptake_half_life", positive=True)
    washout = np.log(2.0) / checked_array(effective_half_life, "effective_half_life", positive=True)
    mu = repair_rate(repair_half_time)
    return uptake * washout * (uptake + washout + mu) / ((uptake + washout) * (uptake + mu) * (washout + mu))


def g_factor_exponential_sum(amplitudes: ArrayLike, rates: ArrayLike, repair_half_time: ArrayLike) -> NDArray[np.float64]:
    """G for Ḋ = Σ_k c_k e^{−a_k t} from t = 0 to ∞ (bi-, tri-exponential and uptake forms).

    ∫ḊΓ dt = Σ_jk c_j c_k / ((a_j + a_k)(a_k + μ)),  D = Σ c_k / a_k,  G = 2∫ḊΓ/D² (Dale 1996 form).
    The last axis of ``amplitudes`` (Gy/d) and ``rates`` (per day) indexes the terms; the dose rate
    must be non-negative for all t (e.g. an uptake term has a negative amplitude and a larger rate).
    """
    amplitude = np.asarray(amplitudes, dtype=float)
    rate = checked_array(rates, "rates", positive=True)
    amplitude, rate = np.broadcast_arrays(amplitude, rate)
    if amplitude.ndim < 1 or not np.all(np.isfinite(amplitude)):
        raise InputError("amplitudes", amplitudes, "finite amplitudes (Gy/d) with the terms on the last axis")
    mu = repair_rate(repair_half_time)[..., None, None]
    pair = amplitude[..., :, None] * amplitude[..., None, :] / (
        (rate[..., :, None] + rate[..., None, :]) * (rate[..., None, :] + mu))
    dose = np.sum(amplitude / rate, axis=-1)
    if np.any(dose <= 0):
        raise InputError("amplitudes", amplitudes, "terms whose total dose Σ c_k/a_k is positive")
    return 2 * np.sum(pair, axis=(-2, -1)) / dose**2


def g_factor_constant(duration: ArrayLike, repair_half_time: ArrayLike) -> NDArray[np.float64]:
    """G = 2(μT − 1 + e^{−μT})/(μT)² for a constant dose rate over T (Lea–Catcheside; → 1 as T → 0)."""
    mu_t = repair_rate(repair_half_time) * checked_array(duration, "duration", positive=True)
    return 2 * _segment_integrals(np.asarray(mu_t, dtype=float))["T00"]
