"""Two-compartment population pharmacokinetics of checkpoint antibodies.

The model (central amount A1, peripheral amount A2, eliminated amount E, all in mg; volumes in L, so
that A1/V1 is in mg/L = ug/mL, the internal concentration unit)::

    dA1/dt = R(t) - (CL(t) + Q)/V1 * A1 + Q/V2 * A2
    dA2/dt = Q/V1 * A1 - Q/V2 * A2
    dE/dt  = CL(t)/V1 * A1
    CL(t)  = CL0 * exp(Emax * t^h / (T50^h + t^h))     (t: days since the first infusion)

R(t) is the sum of the zero-order infusions (or boluses). The time-varying clearance is the sigmoid
Emax form of Li et al. 2017 (J Pharmacokinet Pharmacodyn 44:403) and Bajaj et al. 2017 (CPT
Pharmacometrics Syst Pharmacol 6:58). Body weight W acts allometrically, CL and Q scaled by
(W/W_ref)^theta_CL, V1 and V2 by (W/W_ref)^theta_V (Ahamadi et al. 2017 for pembrolizumab); the
exponents and reference weight come with each antibody in the catalogue.

Without time-varying clearance the system is linear and time-invariant and is solved in closed form
(two exponentials, superposition of doses); with it, numerically, piecewise between infusion events.
Arrays are laid out times x patients.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Mapping

import numpy as np
from scipy.integrate import solve_ivp

from rptici.data.catalogue import AntibodyPK, checkpoint_inhibitor
from rptici.errors import InputError

Method = Literal["auto", "closed_form", "numerical"]

_RANDOM_EFFECT_NAMES = ("clearance", "central_volume", "intercompartmental_clearance", "peripheral_volume")


@dataclass(frozen=True)
class AntibodyParameters:
    """Per-patient two-compartment parameters, each an array of shape (patients,).

    clearance (CL0) and intercompartmental_clearance (Q) in L/day, volumes in L. A clearance_emax of
    0 means a constant clearance; clearance_t50_days and clearance_hill are then unused.
    """

    clearance: np.ndarray
    central_volume: np.ndarray
    intercompartmental_clearance: np.ndarray
    peripheral_volume: np.ndarray
    clearance_emax: np.ndarray
    clearance_t50_days: np.ndarray
    clearance_hill: np.ndarray

    @property
    def patients(self) -> int:
        return int(self.clearance.shape[0])

    @property
    def time_varying(self) -> bool:
        """Whether any patient's clearance changes with time."""
        return bool(np.any(self.clearance_emax != 0))

    def at_steady_state(self) -> AntibodyParameters:
        """The same patients with clearance fixed at its late value CL0*exp(Emax) (t >> T50)."""
        return replace(self, clearance=self.clearance * np.exp(self.clearance_emax),
                       clearance_emax=np.zeros_like(self.clearance_emax))

    def clearance_at(self, days_since_first_dose: np.ndarray) -> np.ndarray:
        """CL(t) = CL0 exp(Emax t^h / (T50^h + t^h)) in L/day (Li et al. 2017; Bajaj et al. 2017)."""
        t = np.maximum(np.asarray(days_since_first_dose, dtype=float), 0.0)
        ratio = (t / self.clearance_t50_days) ** self.clearance_hill
        return self.clearance * np.exp(self.clearance_emax * ratio / (1.0 + ratio))


@dataclass(frozen=True)
class AntibodyAmounts:
    """Drug amounts in mg, arrays of shape (times, patients); concentration in ug/mL."""

    central: np.ndarray
    peripheral: np.ndarray
    eliminated: np.ndarray
    concentration: np.ndarray


@dataclass(frozen=True)
class AntibodyModel:
    """Typical-value population PK of one antibody, with its allometric weight effect."""

    name: str
    clearance_L_per_day: float
    central_volume_L: float
    intercompartmental_clearance_L_per_day: float
    peripheral_volume_L: float
    clearance_emax: float
    clearance_t50_days: float
    clearance_hill: float
    reference_weight_kg: float | None
    clearance_weight_exponent: float
    volume_weight_exponent: float

    @classmethod
    def from_pk(cls, name: str, pk: AntibodyPK) -> AntibodyModel:
        """Build from a catalogue :class:`AntibodyPK` entry (also usable for radiolabelled carriers).

        The weight exponents are read from the entry's ``clearance_weight_exponent`` and
        ``volume_weight_exponent`` (with ``reference_weight_kg``) where the catalogue gives them; without
        them body weight acts only through weight-based doses.
        """
        varying = pk.time_varying_clearance
        reference = pk.reference_weight_kg
        clearance_exponent = getattr(pk, "clearance_weight_exponent", None)
        volume_exponent = getattr(pk, "volume_weight_exponent", None)
        return cls(
            name=name,
            clearance_L_per_day=pk.clearance_L_per_day,
            central_volume_L=pk.central_volume_L,
            intercompartmental_clearance_L_per_day=pk.intercompartmental_clearance_L_per_day,
            peripheral_volume_L=pk.peripheral_volume_L,
            clearance_emax=varying.emax if varying else 0.0,
            clearance_t50_days=varying.t50_days if varying else 1.0,
            clearance_hill=varying.hill if varying else 1.0,
            reference_weight_kg=reference,
            clearance_weight_exponent=clearance_exponent if reference and clearance_exponent is not None else 0.0,
            volume_weight_exponent=volume_exponent if reference and volume_exponent is not None else 0.0,
        )

    @property
    def time_varying(self) -> bool:
        return self.clearance_emax != 0

    def parameters(self, weight_kg: object = None,
                   random_effects: Mapping[str, object] | None = None) -> AntibodyParameters:
        """Per-patient parameters for body weights ``weight_kg`` (kg; scalar or array of patients).

        ``weight_kg`` None means the reference patient. ``random_effects`` maps any of "clearance",
        "central_volume", "intercompartmental_clearance", "peripheral_volume" to log-normal deviations
        eta (arrays of patients): parameter_i = typical_i * exp(eta_i).
        """
        weight = _weights(weight_kg, self.reference_weight_kg)
        size = weight.shape[0]
        if random_effects:
            for key, value in random_effects.items():
                if key not in _RANDOM_EFFECT_NAMES:
                    raise InputError("random_effects", key, f"one of {', '.join(_RANDOM_EFFECT_NAMES)}")
                size = np.broadcast_shapes((size,), np.shape(np.atleast_1d(value)))[0]
        weight = np.broadcast_to(weight, (size,))
        if self.reference_weight_kg:
            relative = weight / self.reference_weight_kg
            clearance_scale = relative ** self.clearance_weight_exponent
            volume_scale = relative ** self.volume_weight_exponent
        else:
            clearance_scale = volume_scale = np.ones(size)
        eta = {key: np.broadcast_to(np.asarray((random_effects or {}).get(key, 0.0), dtype=float), (size,))
               for key in _RANDOM_EFFECT_NAMES}
        full = np.ones(size)
        return AntibodyParameters(
            clearance=self.clearance_L_per_day * clearance_scale * np.exp(eta["clearance"]),
            central_volume=self.central_volume_L * volume_scale * np.exp(eta["central_volume"]),
            intercompartmental_clearance=self.intercompartmental_clearance_L_per_day * clearance_scale
            * np.exp(eta["intercompartmental_clearance"]),
            peripheral_volume=self.peripheral_volume_L * volume_scale * np.exp(eta["peripheral_volume"]),
            clearance_emax=self.clearance_emax * full,
            clearance_t50_days=self.clearance_t50_days * full,
            clearance_hill=self.clearance_hill * full,
        )

    def amounts(self, infusion_times: object, doses_mg: object, times: object, weight_kg: object = None,
                infusion_days: object = 0.0, random_effects: Mapping[str, object] | None = None,
                method: Method = "auto") -> AntibodyAmounts:
        """Amounts and concentration over ``times`` (days) for the given infusions; see :func:`simulate_antibody`."""
        parameters = self.parameters(weight_kg, random_effects)
        return simulate_parameters(parameters, infusion_times, doses_mg, times, infusion_days, method)

    def concentration(self, infusion_times: object, doses_mg: object, times: object, weight_kg: object = None,
                      infusion_days: object = 0.0, random_effects: Mapping[str, object] | None = None,
                      method: Method = "auto") -> np.ndarray:
        """Serum concentration in ug/mL, shape (times, patients)."""
        parameters = self.parameters(weight_kg, random_effects)
        return simulate_parameters(parameters, infusion_times, doses_mg, times, infusion_days, method,
                                   central_only=True).concentration

    def terminal_half_life(self, weight_kg: object = None, steady_state: bool = True) -> np.ndarray:
        """Terminal half-life in days per patient; see :func:`half_life_from_parameters`."""
        return half_life_from_parameters(self.parameters(weight_kg), steady_state)


def antibody_model(name: str) -> AntibodyModel:
    """The population PK model of a checkpoint antibody from the catalogue (UnknownNameError if unknown)."""
    entry = checkpoint_inhibitor(name)
    return AntibodyModel.from_pk(entry.name, entry.pk)


def simulate_antibody(name: str | AntibodyModel, infusion_times: object, doses_mg: object, weight_kg: object,
                      times: object, infusion_days: object = 0.0,
                      random_effects: Mapping[str, object] | None = None, method: Method = "auto") -> np.ndarray:
    """Serum concentration (ug/mL) of antibody ``name``, array [times x patients].

    infusion_times: days, shape (doses,) shared by all patients or (doses, patients).
    doses_mg: mg per infusion, shape (doses,) or (doses, patients) (weight-based doses differ).
    weight_kg: body weight per patient (kg), scalar, array of patients, or None for the reference weight.
    times: output times in days. infusion_days: infusion duration (0 for a bolus), scalar or per dose.
    method: "closed_form" (linear models only), "numerical", or "auto" (closed form when CL is constant).
    """
    model = name if isinstance(name, AntibodyModel) else antibody_model(name)
    return model.concentration(infusion_times, doses_mg, times, weight_kg, infusion_days, random_effects, method)


def terminal_half_life(name: str | AntibodyModel, weight_kg: object = None, steady_state: bool = True) -> np.ndarray:
    """Terminal half-life ln2/lambda_z (days) of antibody ``name`` per patient weight.

    lambda_z is the smaller eigenvalue of the two-compartment system; with time-varying clearance it is
    taken at steady state (CL = CL0 exp(Emax)) unless ``steady_state`` is False (then at the first dose).
    """
    model = name if isinstance(name, AntibodyModel) else antibody_model(name)
    return model.terminal_half_life(weight_kg, steady_state)


def half_life_from_parameters(parameters: AntibodyParameters, steady_state: bool = True) -> np.ndarray:
    """ln2 / beta, beta the slow disposition eigenvalue (Gibaldi and Perrier, Pharmacokinetics, ch. 2)."""
    if steady_state:
        parameters = parameters.at_steady_state()
    _, slow = disposition_rates(parameters)
    return np.log(2.0) / slow


def disposition_rates(parameters: AntibodyParameters) -> tuple[np.ndarray, np.ndarray]:
    """Fast and slow eigenvalues alpha > beta (1/day) of the two-compartment system at CL0.

    They are the roots of lambda^2 - (k10 + k12 + k21) lambda + k10 k21 = 0 with k10 = CL/V1,
    k12 = Q/V1, k21 = Q/V2; beta is computed as k10 k21 / alpha to avoid cancellation.
    """
    k10, k12, k21 = _rate_constants(parameters)
    total = k10 + k12 + k21
    fast = 0.5 * (total + np.sqrt(total * total - 4.0 * k10 * k21))
    return fast, k10 * k21 / fast


def _rate_constants(parameters: AntibodyParameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (parameters.clearance / parameters.central_volume,
            parameters.intercompartmental_clearance / parameters.central_volume,
            parameters.intercompartmental_clearance / parameters.peripheral_volume)


def simulate_parameters(parameters: AntibodyParameters, infusion_times: object, doses_mg: object, times: object,
                        infusion_days: object = 0.0, method: Method = "auto",
                        central_only: bool = False) -> AntibodyAmounts:
    """Amounts in each compartment for per-patient ``parameters``; closed form when linear."""
    if method not in ("auto", "closed_form", "numerical"):
        raise InputError("method", method, "one of auto, closed_form, numerical")
    if method == "closed_form" and parameters.time_varying:
        raise InputError("method", method, "'numerical' or 'auto' for an antibody with time-varying clearance")
    if method == "numerical" or (method == "auto" and parameters.time_varying):
        return numerical_amounts(parameters, infusion_times, doses_mg, times, infusion_days)
    return closed_form_amounts(parameters, infusion_times, doses_mg, times, infusion_days, central_only)


def closed_form_amounts(parameters: AntibodyParameters, infusion_times: object, doses_mg: object, times: object,
                        infusion_days: object = 0.0, central_only: bool = False) -> AntibodyAmounts:
    """Linear two-compartment model in closed form: sum of two exponentials per dose, superposed.

    For a unit bolus the central amount is c_a e^(-alpha t) + c_b e^(-beta t) with
    c_a = (alpha - k21)/(alpha - beta), c_b = (k21 - beta)/(alpha - beta), and the peripheral amount
    k12/(alpha - beta) (e^(-beta t) - e^(-alpha t)) (Gibaldi and Perrier). A zero-order infusion over T
    is the convolution of these with a rectangle; the eliminated amount is k10 times the integral of
    the central amount. The clearance is CL0 (constant); use :func:`numerical_amounts` otherwise.
    ``central_only`` skips the peripheral and eliminated amounts (left as zeros) for speed.
    """
    schedule = _Schedule.build(infusion_times, doses_mg, infusion_days, parameters.patients)
    times = _times(times)
    k10, k12, k21 = _rate_constants(parameters)
    fast, slow = disposition_rates(parameters)
    spread = fast - slow
    weight_fast, weight_slow = (fast - k21) / spread, (k21 - slow) / spread
    central = np.zeros((times.size, parameters.patients))
    peripheral = np.zeros_like(central)
    eliminated = np.zeros_like(central)
    for start, dose, duration in schedule:
        rows = times >= np.min(start)
        if not np.any(rows):
            continue
        every_row = bool(np.all(rows))
        elapsed = (times if every_row else times[rows])[:, None] - start[None, :]
        value_fast, integral_fast = _mode_response(fast, elapsed, duration, not central_only)
        value_slow, integral_slow = _mode_response(slow, elapsed, duration, not central_only)
        target = slice(None) if every_row else rows
        central[target] += dose * (weight_fast * value_fast + weight_slow * value_slow)
        if not central_only:
            peripheral[target] += dose * k12 / spread * (value_slow - value_fast)
            eliminated[target] += dose * k10 * (weight_fast * integral_fast + weight_slow * integral_slow)
    return AntibodyAmounts(central, peripheral, eliminated, central / parameters.central_volume)


def _mode_response(rate: np.ndarray, elapsed: np.ndarray, duration: np.ndarray,
                   with_integral: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Response of one exponential mode e^(-rate t) to a unit dose given over ``duration`` (0: bolus).

    Returns the value h(t) and its time integral H(t) for elapsed time t since the start of the dose
    (zero before it). For an infusion with u = min(t, T):
    h = e^(-rate (t-u)) (1 - e^(-rate u)) / (rate T) and
    H = [u - (1 - e^(-rate u))/rate] / (rate T) + (1 - e^(-rate u))/(rate T) * (1 - e^(-rate (t-u)))/rate.
    """
    started = elapsed >= 0.0
    time = np.maximum(elapsed, 0.0)
    infusion = duration > 0.0
    if not np.any(infusion):
        value = np.exp(-rate * time)
        value[~started] = 0.0
        return value, (-np.expm1(-rate * time) / rate if with_integral else None)
    safe_duration = np.where(infusion, duration, 1.0)
    within = np.minimum(time, duration)
    after = time - within
    infused = np.where(infusion, -np.expm1(-rate * within) / (rate * safe_duration), 1.0)
    value = infused * np.exp(-rate * after)
    value[~started] = 0.0
    if not with_integral:
        return value, None
    infused_integral = np.where(infusion, (within + np.expm1(-rate * within) / rate) / (rate * safe_duration), 0.0)
    return value, infused_integral - infused * np.expm1(-rate * after) / rate


def numerical_amounts(parameters: AntibodyParameters, infusion_times: object, doses_mg: object, times: object,
                      infusion_days: object = 0.0, rtol: float = 1e-10) -> AntibodyAmounts:
    """Integrate the model (any clearance) with an explicit Runge-Kutta method (DOP853, scipy).

    All patients form one system (states x patients), integrated piecewise between infusion starts
    and ends so that the infusion rate is constant on each piece; boluses are added at their time.
    Time-varying clearance runs from each patient's first infusion.
    """
    schedule = _Schedule.build(infusion_times, doses_mg, infusion_days, parameters.patients)
    requested = _times(times)
    order = np.argsort(requested, kind="stable")
    times = requested[order]
    patients = parameters.patients
    _, k12, k21 = _rate_constants(parameters)
    volume = parameters.central_volume
    first_dose = np.min(schedule.start, axis=0)
    state = np.zeros((3, patients))
    output = np.zeros((3, times.size, patients))
    scale = max(float(np.max(schedule.dose, initial=0.0)), 1e-300)
    breaks = np.unique(np.concatenate([schedule.start.ravel(), (schedule.start + schedule.duration).ravel()]))
    breaks = breaks[breaks <= times.max()] if times.size else breaks[:0]
    edges = np.concatenate([breaks, [times.max() if times.size else 0.0]])

    def derivative(time: float, flat: np.ndarray, rate: np.ndarray) -> np.ndarray:
        central, peripheral, _ = flat.reshape(3, patients)
        clearance = parameters.clearance_at(time - first_dose) / volume
        to_peripheral = k12 * central - k21 * peripheral
        return np.concatenate([rate - clearance * central - to_peripheral, to_peripheral, clearance * central])

    for index, begin in enumerate(edges[:-1]):
        end = edges[index + 1]
        state[0] += np.sum(np.where((schedule.start == begin) & (schedule.duration == 0), schedule.dose, 0.0), axis=0)
        middle = 0.5 * (begin + end)
        running = (schedule.start <= middle) & (middle < schedule.start + schedule.duration)
        rate = np.sum(np.where(running, schedule.dose / np.where(running, schedule.duration, 1.0), 0.0), axis=0)
        last = index == edges.size - 2
        inside = (times >= begin) & ((times <= end) if last else (times < end))
        if end > begin:
            wanted = times[inside]
            evaluate = wanted if wanted.size and wanted[-1] == end else np.append(wanted, end)
            solution = solve_ivp(derivative, (begin, end), state.ravel(), method="DOP853", args=(rate,),
                                 t_eval=evaluate, rtol=rtol, atol=rtol * 1e-3 * scale)
            if not solution.success:
                raise RuntimeError(f"antibody integration failed: {solution.message}")
            values = solution.y.reshape(3, patients, -1)
            output[:, inside, :] = values[:, :, :wanted.size].transpose(0, 2, 1)
            state = values[:, :, -1].copy()
        else:
            output[:, inside, :] = state[:, None, :]
    central, peripheral, eliminated = output[:, np.argsort(order), :]
    return AntibodyAmounts(central, peripheral, eliminated, central / volume)


@dataclass(frozen=True)
class _Schedule:
    """Infusions as arrays of shape (doses, patients): start day, amount mg, duration days."""

    start: np.ndarray
    dose: np.ndarray
    duration: np.ndarray

    @classmethod
    def build(cls, infusion_times: object, doses_mg: object, infusion_days: object, patients: int) -> _Schedule:
        start = _per_dose(infusion_times, "infusion_times", patients)
        doses = start.shape[0]
        dose = _per_dose(doses_mg, "doses_mg", patients, doses)
        duration = _per_dose(infusion_days, "infusion_days", patients, doses)
        if np.any(~np.isfinite(start)):
            raise InputError("infusion_times", infusion_times, "finite times in days")
        if np.any(dose < 0) or np.any(~np.isfinite(dose)):
            raise InputError("doses_mg", doses_mg, "non-negative doses in mg")
        if np.any(duration < 0) or np.any(~np.isfinite(duration)):
            raise InputError("infusion_days", infusion_days, "a non-negative infusion duration in days")
        return cls(start, dose, duration)

    def __iter__(self):
        return iter(zip(self.start, self.dose, self.duration))


def _per_dose(value: object, field: str, patients: int, doses: int | None = None) -> np.ndarray:
    """An array (doses, patients) from a scalar, a (doses,) array or a (doses, patients) array."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full((doses if doses is not None else 1,), float(array))
    if array.ndim == 1:
        array = array[:, None]
    target = (doses if doses is not None else array.shape[0], patients)
    try:
        return np.broadcast_to(array, target).astype(float)
    except ValueError:
        raise InputError(field, f"array of shape {np.shape(value)}",
                         f"shape (doses,) or (doses, patients) = {target}") from None


def _times(times: object) -> np.ndarray:
    array = np.atleast_1d(np.asarray(times, dtype=float))
    if array.ndim != 1 or np.any(~np.isfinite(array)):
        raise InputError("times", times, "a one-dimensional array of finite times in days")
    return array


def _weights(weight_kg: object, reference: float | None) -> np.ndarray:
    if weight_kg is None:
        if reference is None:
            return np.ones(1)
        return np.array([float(reference)])
    weight = np.atleast_1d(np.asarray(weight_kg, dtype=float))
    if weight.ndim != 1 or np.any(~(weight > 0)) or np.any(~np.isfinite(weight)):
        raise InputError("weight_kg", weight_kg, "positive body weights in kg (a number or 1-D array)")
    return weight
