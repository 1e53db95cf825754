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


def _decay_integral(rate: NDArray[np.float64], decay: NDArray[np.float64], tau: NDArray[np.float64]
                    ) -> NDArray[np.float64]:
    """E = ∫₀^τ e^{−rate s} ds = (1 − e^{−rate τ})/rate from the decay factor e^{−rate τ}; by expm1 where
    rate·τ < 0.1 (there 1 − e^{−rate τ} would lose digits)."""
    rate, decay, tau = np.broadcast_arrays(rate, decay, tau)
    integral = (1.0 - decay) / rate
    small = rate * tau < 0.1
    if np.any(small):
        integral[small] = -np.expm1(-rate[small] * tau[small]) / rate[small]
    return integral


def _exponential_quotient(slow: NDArray[np.float64], fast: NDArray[np.float64], slow_decay: NDArray[np.float64],
                          fast_decay: NDArray[np.float64], tau: NDArray[np.float64]) -> NDArray[np.float64]:
    """φ = (e^{−slow τ} − e^{−fast τ})/(fast − slow) from the two decay factors; where |fast − slow|τ < 1,
    where the difference would cancel, as τ e^{−fast τ} expm1(x)/x, x = (fast − slow)τ (τ e^{−fast τ} at x = 0)."""
    slow, fast, slow_decay, fast_decay, tau = np.broadcast_arrays(slow, fast, slow_decay, fast_decay, tau)
    gap = fast - slow
    x = gap * tau
    close = np.abs(x) < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = (slow_decay - fast_decay) / gap
    if np.any(close):
        near = x[close]
        ratio = np.ones_like(near)
        nonzero = near != 0.0
        ratio[nonzero] = np.expm1(near[nonzero]) / near[nonzero]
        quotient[close] = tau[close] * fast_decay[close] * ratio
    return quotient


def repeated_exponential_dose(coefficients: ArrayLike, rates: ArrayLike, repair_rate_per_day: ArrayLike | None,
                              administration_times: ArrayLike, activities: ArrayLike, times: ArrayLike,
                              quadratic: bool = True) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Absorbed dose D(t) and quadratic integral Q(t) = ∫₀ᵗ ḊΓ ds, in closed form, for repeated administrations.

    Ḋ(t) = Σ_a A_a Σ_k c_k e^{−λ_k (t − t_a)} over the administrations a given at or before t (``coefficients``
    c (..., K) in Gy/d per unit activity, ``rates`` λ (..., K) in 1/d, ``activities`` A (..., A),
    ``administration_times`` (A,) sorted, days); Γ' = Ḋ − μΓ (``repair_rate_per_day`` μ, (...)). Returns D
    (Gy) and Q (Gy²), each (..., times); BED = D + 2Q/(α/β) and −ln S = αD + 2βQ (module docstring). With
    ``quadratic`` False only D is computed (Q is None; the repair rate may then be None).

    Between administrations the retained amounts R_k = Σ_a A_a e^{−λ_k (t − t_a)}, Γ, D and Q move in closed
    form over τ = t − t_a: R_k e^{−λ_k τ}, Γ e^{−μτ} + Σ_k c_k R_k φ(λ_k, μ), D + Σ_k c_k R_k E(λ_k) and
    Q + Σ_j c_j R_j [Γ E(λ_j + μ) + Σ_k c_k R_k ψ_jk], with E(x) = ∫₀^τ e^{−xs} ds, φ(a, b) = (e^{−aτ} −
    e^{−bτ})/(b − a) and ψ_jk = (E(a) − E(b))/(b − a) = (E(a) − φ(a, b))/b for a = λ_j + λ_k, b = λ_j + μ
    (the last form has no cancellation when μ is close to λ_k; :func:`_advance` sums it as a quadratic form
    per time). To infinity a single administration gives
    Q = Σ_jk c_j c_k/((λ_j + λ_k)(λ_j + μ)), the sum behind :func:`g_factor_exponential_sum`.
    """
    c = np.asarray(coefficients, dtype=float)
    lam = checked_array(rates, "rates", positive=True)
    c, lam = np.broadcast_arrays(c, lam)
    if repair_rate_per_day is None and not quadratic:
        repair_rate_per_day = 1.0  # not used
    mu = checked_array(repair_rate_per_day, "repair_rate_per_day", positive=True)
    given = np.atleast_1d(np.asarray(administration_times, dtype=float))
    amounts = np.asarray(activities, dtype=float)
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if given.ndim != 1 or np.any(~np.isfinite(given)) or np.any(np.diff(given) < 0):
        raise InputError("administration_times", given, "finite, sorted administration times (d)")
    if amounts.shape[-1:] != given.shape or np.any(~np.isfinite(amounts)) or np.any(amounts < 0):
        raise InputError("activities", amounts.shape, f"non-negative activities with a last axis of {given.size}")
    if times.ndim != 1 or np.any(~np.isfinite(times)):
        raise InputError("times", times, "finite times (d)")
    shape = np.broadcast_shapes(c.shape[:-1], np.shape(mu), amounts.shape[:-1])
    c, lam = (np.broadcast_to(array, shape + c.shape[-1:]) for array in (c, lam))
    mu = np.broadcast_to(mu, shape)
    amounts = np.broadcast_to(amounts, shape + given.shape)

    zero = np.zeros(shape)
    state = (np.zeros(shape + c.shape[-1:]), zero, zero, zero)
    starts = []  # the state just after each administration
    for number, when in enumerate(given):
        if number:
            moved = _advance(state, np.full(shape + (1,), when - given[number - 1]), c, lam, mu, quadratic)
            state = tuple(part[..., 0, :] if part.ndim > len(shape) + 1 else part[..., 0] for part in moved)
        retained, damage, dose, square = state
        state = (retained + amounts[..., number, None], damage, dose, square)
        starts.append(state)
    dose_out = np.zeros(shape + times.shape)
    quadratic_out = np.zeros(shape + times.shape)
    last = np.searchsorted(given, times, side="right") - 1  # −1: before the first administration
    for number, start in enumerate(starts):
        columns = np.flatnonzero(last == number)
        if columns.size:
            tau = np.broadcast_to(times[columns] - given[number], shape + columns.shape)
            if quadratic:
                _, _, dose_out[..., columns], quadratic_out[..., columns] = _advance(start, tau, c, lam, mu)
            else:
                dose_out[..., columns] = _dose_after(start, tau, c, lam)
    return dose_out, quadratic_out if quadratic else None


def _dose_after(state, tau, c, lam):
    """D at the times τ (..., T) after an administration with state (R, Γ, D, Q): D + Σ_k c_k R_k E(λ_k), E(x) =
    (1 − e^{−xτ})/x by expm1 (accurate for every xτ); the dose alone, without the other states (see :func:`_advance`)."""
    retained, _, dose, _ = state
    integral = -np.expm1(-lam[..., None, :] * tau[..., None]) / lam[..., None, :]
    return dose[..., None] + (integral @ (c * retained)[..., :, None])[..., 0]


def _advance(state, tau, c, lam, mu, quadratic=True):
    """(R (..., K), Γ, D, Q) at an administration → their values at the times τ (..., T) after it, in closed
    form (see :func:`repeated_exponential_dose`; R comes back (..., T, K)).

    The double sum Σ_jk w_j w_k ψ_jk (w = cR) is evaluated as Σ_jk M_jk (1 − e_j e_k) − (Σ_j w_j e_j/b_j)
    (Σ_k w_k φ_k) with M_jk = w_j w_k/((λ_j + λ_k) b_j) and e_k = e^{−λ_k τ}: a quadratic form per time.
    """
    retained, damage, _, square = state
    weight = c * retained  # w_k = c_k R_k
    decay = np.exp(-lam[..., None, :] * tau[..., None])  # e_k (..., T, K)
    new_dose = _dose_after(state, tau, c, lam)
    if not quadratic:
        return retained[..., None, :] * decay, damage[..., None], new_dose, square[..., None]
    repair_decay = np.exp(-mu[..., None] * tau)
    quotient = _exponential_quotient(lam[..., None, :], mu[..., None, None], decay, repair_decay[..., None],
                                     tau[..., None])
    forced = np.sum(weight[..., None, :] * quotient, axis=-1)  # Σ_k w_k φ_k
    with_repair = lam + mu[..., None]  # b_j = λ_j + μ
    pair = (weight[..., :, None] * weight[..., None, :]
            / ((lam[..., :, None] + lam[..., None, :]) * with_repair[..., :, None]))  # M_jk
    both = np.sum(pair, axis=(-2, -1))[..., None] - np.sum((decay @ pair) * decay, axis=-1)
    carried = np.sum(weight[..., None, :] * _decay_integral(with_repair[..., None, :], decay * repair_decay[..., None],
                                                             tau[..., None]), axis=-1)
    increment = (damage[..., None] * carried + both
                 - np.sum(weight[..., None, :] * decay / with_repair[..., None, :], axis=-1) * forced)
    increment = np.maximum(increment, 0.0)  # ∫ḊΓ ≥ 0 for a dose rate ≥ 0; the form leaves rounding of either sign
    return (retained[..., None, :] * decay, damage[..., None] * repair_decay + forced, new_dose,
            square[..., None] + increment)
