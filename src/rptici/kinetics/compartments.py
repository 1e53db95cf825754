"""Linear compartment models of a radiopharmaceutical, solved in closed form and vectorised over patients.

The model is dA/dt = K A − λ A (Jacquez, *Compartmental analysis in biology and medicine*, 1996): A is the
activity per compartment (MBq), K[to, from] the transfer rate (1/d) between named compartments, with
K[i, i] = −Σ_j K[j, i], and λ the physical decay constant, applied to every compartment (excreta too).
Excretion compartments (urine, faeces) have no outflow.

Closed form: K = V diag(μ) V⁻¹ per patient (batched ``numpy.linalg.eig``), so after an administration b
at time tₐ, A(t) = V diag(exp((μ − λ)(t − tₐ))) V⁻¹ b — a sum of exponentials; administrations superpose
by linearity. The time-integrated activity is the analytic integral of the same sums. Patients whose
eigenvectors are ill-conditioned (defective K, for example a chain of equal rates) fall back to the matrix
exponential, which is also closed form; their sum-of-exponentials form (:meth:`CompartmentModel.exponential_modes`)
comes from a tiny, error-checked perturbation of the repeated rates.

Optional saturable uptake (target binding) makes the model nonlinear; it is then integrated numerically,
see :class:`SaturableUptake`.

Arrays: rates are (patients, compartments, compartments); activities (patients, compartments, times);
time-integrated activities (patients, compartments) in MBq·h.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.integrate import solve_ivp

from ..errors import InputError, UnknownNameError
from ..units import HOURS_PER_DAY

#: Eigenvector condition number above which a patient is solved by the matrix exponential instead.
_CONDITION_LIMIT = 1e8
#: Relative sizes of the perturbation that splits repeated rates of a (nearly) defective K (see
#: :meth:`CompartmentModel.exponential_modes`); each is tried with both signs and the most accurate kept.
_PERTURBATIONS = (1e-9, 1e-8, 1e-7, 1e-6)
#: Largest error accepted for a perturbed sum of exponentials, per MBq administered (checked against the
#: matrix exponential of the unperturbed K).
_PERTURBATION_TOLERANCE = 1e-6


def matrix_exponential(matrix: np.ndarray) -> np.ndarray:
    """exp(M) for a matrix or a batch (…, n, n), as H exp(H M H) H with H = I − 2 v vᵀ/n, v = (1, …, 1).

    The Householder similarity H (orthogonal, H = H⁻¹) keeps ``scipy.linalg.expm`` off its shortcut for
    triangular matrices, whose divided differences (e^a − e^b)/(a − b) lose about half the digits when
    diagonal entries are nearly equal (a catenary chain with almost equal rates: errors ~10⁻⁶ measured).
    """
    size = matrix.shape[-1]
    reflection = np.eye(size) - 2.0 / size * np.ones((size, size))
    return reflection @ scipy.linalg.expm(reflection @ matrix @ reflection) @ reflection


@dataclass(frozen=True)
class Administration:
    """An injection of ``activity_MBq`` (scalar or one value per patient) at ``time_d`` into ``compartment``."""

    time_d: float
    activity_MBq: float | np.ndarray
    compartment: str = "blood"


@dataclass(frozen=True)
class SaturableUptake:
    """Receptor-mediated uptake from ``source`` into ``target`` that saturates as the receptors fill.

    The linear rate K[target, source] is multiplied by (1 − L_target / Bmax), where L_target is the
    amount of ligand (nmol, labelled and unlabelled, decayed or not) in the target and Bmax
    (``capacity_nmol``, per patient) = receptor density × tissue mass. This is the binding flux
    k_on·C_free·(Bmax − B) with k_on·Bmax/V_source folded into the linear rate; release k_off·B is the
    linear rate out of the target. As in the PBPK models of PSMA ligands (Begum et al. 2018,
    J Nucl Med 59:1411) and of somatostatin analogues (Kletting et al. 2012, Med Phys 39:5708).
    """

    source: str
    target: str
    capacity_nmol: float | np.ndarray


def _conditioned_inverse(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V⁻¹, bad) per patient: ``bad`` marks eigenvector matrices whose 2-norm condition number exceeds
    ``_CONDITION_LIMIT`` or that are singular (their V⁻¹ is left 0).

    ‖V‖_F ‖V⁻¹‖_F bounds the condition number from above, so only the patients whose bound exceeds the
    limit need the singular values (np.linalg.cond): the same answer as cond for everyone, at the cost of
    the inverses alone.
    """
    count = vectors.shape[0]
    try:
        inverse = np.linalg.inv(vectors)
        with np.errstate(all="ignore"):
            bound = np.linalg.norm(vectors, axis=(-2, -1)) * np.linalg.norm(inverse, axis=(-2, -1))
    except np.linalg.LinAlgError:  # an exactly singular V somewhere: the singular values for all
        inverse, bound = None, np.full(count, np.inf)
    bad = np.zeros(count, dtype=bool)
    check = ~(bound <= _CONDITION_LIMIT)
    if np.any(check):
        condition = np.linalg.cond(vectors[check])
        bad[check] = ~np.isfinite(condition) | (condition > _CONDITION_LIMIT)
    if inverse is None:
        inverse = np.zeros_like(vectors)
        if np.any(~bad):
            inverse[~bad] = np.linalg.inv(vectors[~bad])
    inverse[bad] = 0.0
    return inverse, bad


def _inverse_per_patient(values: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_conditioned_inverse` with each patient's V⁻¹ in its own arithmetic, whatever the batch.

    ``np.linalg.eig`` returns the whole batch as complex as soon as one patient has a complex mode; the others'
    eigenvectors are then real numbers stored as complex, and inverting them in complex arithmetic rounds
    differently from real arithmetic. So patients whose eigenvalues and eigenvectors are all real are inverted as
    real matrices: a patient's modes, and the doses from them, do not depend on the patients it is batched with
    (issue 19, item 13: organ doses differed in the last bits between chunk sizes).
    """
    if not np.iscomplexobj(vectors):
        return _conditioned_inverse(vectors)
    real = np.all(values.imag == 0.0, axis=-1) & np.all(vectors.imag == 0.0, axis=(-2, -1))
    inverse = np.zeros_like(vectors)
    bad = np.zeros(vectors.shape[0], dtype=bool)
    for group, matrices in ((real, vectors.real), (~real, vectors)):
        if np.any(group):
            inverse[group], bad[group] = _conditioned_inverse(np.ascontiguousarray(matrices[group]))
    return inverse, bad


def _activity_by_modes(times: np.ndarray, doses: list[tuple[float, np.ndarray]], chosen: np.ndarray,
                       rates: np.ndarray, vectors: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """A(t) = V Σ_doses diag(exp(μ (t − t_d))) V⁻¹ a_d for the ``chosen`` patients, shape (chosen, n, times).

    A patient's numbers depend only on its own modes and their dtype, not on its batch-mates (issue 19, item 13:
    a batch with one oscillating patient is complex; its real patients are passed here as real arrays)."""
    coefficients = np.zeros((int(chosen.sum()), rates.shape[1], times.size), dtype=complex)
    for time, vector in doses:
        elapsed = times - time
        started = elapsed >= 0
        weights = np.einsum("pkj,pj->pk", inverse[chosen], vector[chosen])
        coefficients[:, :, started] += weights[:, :, None] * np.exp(rates[chosen][:, :, None] * elapsed[started])
    return np.einsum("pik,pkt->pit", vectors[chosen], coefficients).real


@dataclass
class CompartmentModel:
    """Named compartments, transfer rates per patient (1/d) and the physical decay constant (1/d).

    ``rates[p, to, from]`` is the transfer rate from compartment ``from`` to ``to``; the diagonal is
    ignored and rebuilt as minus the total outflow. ``excretion`` names the compartments outside the
    body (sinks). ``saturable`` switches on saturable uptake (numerical path); then
    ``ligand_nmol_per_MBq`` (per patient or scalar) converts administered activity into ligand amount.
    """

    compartments: tuple[str, ...]
    rates: np.ndarray
    decay_constant_per_day: float
    excretion: tuple[str, ...] = ()
    saturable: tuple[SaturableUptake, ...] = ()
    ligand_nmol_per_MBq: float | np.ndarray = 0.0
    _eigen: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.compartments = tuple(self.compartments)
        if len(set(self.compartments)) != len(self.compartments) or not self.compartments:
            raise InputError("compartments", self.compartments, "a non-empty list of distinct names")
        rates = np.asarray(self.rates, dtype=float)
        n = len(self.compartments)
        if rates.ndim == 2:
            rates = rates[None]
        if rates.ndim != 3 or rates.shape[1:] != (n, n):
            raise InputError("rates", rates.shape, f"an array of shape (patients, {n}, {n}) or ({n}, {n})")
        off_diagonal = rates * (1.0 - np.eye(n))
        if not np.all(np.isfinite(off_diagonal)) or np.any(off_diagonal < 0):
            raise InputError("rates", "negative or non-finite transfer rate", "finite transfer rates >= 0 (1/d)")
        self.rates = off_diagonal
        if not (np.isfinite(self.decay_constant_per_day) and self.decay_constant_per_day > 0):
            raise InputError("decay_constant_per_day", self.decay_constant_per_day, "a positive decay constant (1/d)")
        for name in self.excretion:
            self.index(name)
            if np.any(self.rates[:, :, self.index(name)] > 0):
                raise InputError("excretion", name, "an excretion compartment with no outflow")
        for uptake in self.saturable:
            self.index(uptake.source), self.index(uptake.target)
            capacity = np.broadcast_to(np.asarray(uptake.capacity_nmol, dtype=float), (self.patients,))
            if np.any(~(capacity > 0)):
                raise InputError("saturable.capacity_nmol", uptake.capacity_nmol, "a positive binding capacity (nmol)")

    # -- structure ----------------------------------------------------------------------------------
    @property
    def patients(self) -> int:
        return self.rates.shape[0]

    def index(self, name: str) -> int:
        """Position of compartment ``name``; unknown names raise :class:`UnknownNameError`."""
        try:
            return self.compartments.index(name)
        except ValueError:
            raise UnknownNameError("compartment", name, self.compartments) from None

    @property
    def body(self) -> np.ndarray:
        """Boolean mask of the compartments inside the body (not excretion)."""
        return np.array([name not in self.excretion for name in self.compartments])

    def generator(self) -> np.ndarray:
        """K with its diagonal, (patients, n, n): K[i, i] = −Σ_j K[j, i]."""
        matrix = self.rates.copy()
        index = np.arange(len(self.compartments))
        matrix[:, index, index] = -self.rates.sum(axis=1)
        return matrix

    @property
    def is_linear(self) -> bool:
        return not self.saturable

    # -- inputs -------------------------------------------------------------------------------------
    def _doses(self, administrations) -> list[tuple[float, np.ndarray]]:
        """Administrations as (time, activity vector (patients, n)) sorted by time."""
        if isinstance(administrations, Administration):
            administrations = [administrations]
        elif np.isscalar(administrations) or isinstance(administrations, np.ndarray):
            administrations = [Administration(0.0, administrations)]
        doses = []
        for item in administrations:
            if isinstance(item, tuple) and len(item) == 2 and np.shape(item[1]) == (self.patients, len(self.compartments)):
                doses.append((float(item[0]), np.asarray(item[1], dtype=float)))  # already prepared
                continue
            if not isinstance(item, Administration):
                raise InputError("administrations", item, "Administration objects (time_d, activity_MBq, compartment)")
            time = float(item.time_d)
            if not np.isfinite(time) or time < 0:
                raise InputError("administrations.time_d", item.time_d, "a finite time >= 0 (d)")
            activity = np.asarray(item.activity_MBq, dtype=float)
            if activity.ndim > 1 or (activity.ndim == 1 and activity.shape[0] not in (1, self.patients)):
                raise InputError("administrations.activity_MBq", activity.shape, f"a scalar or {self.patients} values")
            if np.any(~np.isfinite(activity)) or np.any(activity < 0):
                raise InputError("administrations.activity_MBq", item.activity_MBq, "activities >= 0 (MBq)")
            vector = np.zeros((self.patients, len(self.compartments)))
            vector[:, self.index(item.compartment)] = activity
            doses.append((time, vector))
        if not doses:
            raise InputError("administrations", administrations, "at least one administration")
        return sorted(doses, key=lambda dose: dose[0])

    @staticmethod
    def _times(times) -> np.ndarray:
        times = np.atleast_1d(np.asarray(times, dtype=float))
        if times.ndim != 1 or np.any(~np.isfinite(times)) or np.any(times < 0):
            raise InputError("times", times, "finite times >= 0 (d)")
        return times

    # -- closed form --------------------------------------------------------------------------------
    def _eigensystem(self):
        """Eigenvalues ν = μ − λ, eigenvectors V and V⁻¹ per patient, plus a mask of ill-conditioned ones."""
        if self._eigen is None:
            generator = self.generator()
            values, vectors = np.linalg.eig(generator)
            inverse, bad = _inverse_per_patient(values, vectors)
            self._eigen = (values - self.decay_constant_per_day, vectors, inverse, bad)
        return self._eigen

    def exponential_modes(self, compartment: str = "blood") -> tuple[np.ndarray, np.ndarray]:
        """Impulse response to 1 MBq into ``compartment`` as a sum of exponentials, per patient.

        A_c(t) = Σ_k amplitudes[p, c, k] · exp(−rates[p, k] · t) (MBq per MBq administered), with
        rates = λ − μ_k (1/d, physical decay included) from K = V diag(μ) V⁻¹ and amplitudes
        V[c, k] · (V⁻¹ b)[k] for b the unit input. Linear models only.

        A patient whose eigenvectors are ill-conditioned (K defective or nearly so: equal outflow rates in
        a chain give t·e^(−kt) terms, which no sum of exponentials holds) is solved for K·diag(1 + ε d),
        d_i = i/(n − 1): compartment i's outflows scaled by 1 + ε d_i, so mass balance holds and equal
        rates split by about ε·k/n. The result is checked against the matrix exponential of the unperturbed
        K at 13 times from 10⁻³/λ to 10/λ; of ε = ±10⁻⁹ … ±10⁻⁶ (``_PERTURBATIONS``) the most accurate is
        kept if its error is below ``_PERTURBATION_TOLERANCE`` (10⁻⁶ per MBq). The error is O(ε) from the
        perturbation plus O(machine ε / ε) from the cancelling amplitudes of a split pair (a pair of equal
        rates: about 2·10⁻⁸ at ε = 10⁻⁸). A chain of three or more equal rates needs t²·e^(−kt) and cannot be
        held to 10⁻⁶ this way; it, complex modes, and any other patient no perturbation fixes raise
        :class:`InputError`.
        """
        self._require_linear("exponential_modes")
        source = self.index(compartment)
        values, vectors, inverse, bad = self._eigensystem()
        amplitudes = np.zeros(vectors.shape)
        rates = np.zeros(values.shape)
        good = ~bad
        if np.any(good):
            amplitudes[good], rates[good] = self._real_modes(values[good], vectors[good], inverse[good], source)
        for patient in np.flatnonzero(bad):
            amplitudes[patient], rates[patient] = self._perturbed_modes(patient, source)
        return amplitudes, rates

    def _real_modes(self, values, vectors, inverse, source) -> tuple[np.ndarray, np.ndarray]:
        """(amplitudes, rates) of the eigen-decomposition; raises where the modes are complex."""
        amplitudes = vectors * inverse[:, :, source][:, None, :]
        scale = np.maximum(np.abs(values.real), self.decay_constant_per_day)
        if np.any(np.abs(values.imag) > 1e-9 * scale) or np.any(
                np.abs(amplitudes.imag) > 1e-9 * np.maximum(np.abs(amplitudes).max(axis=(1, 2), keepdims=True), 1.0)):
            raise InputError("rates", "complex eigenvalues", "a model whose impulse response is a sum of real exponentials")
        return amplitudes.real.copy(), -values.real.copy()

    def _perturbed_modes(self, patient: int, source: int) -> tuple[np.ndarray, np.ndarray]:
        """Modes of one (nearly) defective patient from a slightly perturbed K, error-checked (see above)."""
        generator = self.generator()[patient]
        n = generator.shape[0]
        spread = np.arange(n) / max(n - 1, 1)
        decay = self.decay_constant_per_day
        times = np.geomspace(1e-3, 10.0, 13) / decay
        unit = np.zeros(n)
        unit[source] = 1.0
        shifted = generator - decay * np.eye(n)
        exact = np.stack([matrix_exponential(shifted * time) @ unit for time in times], axis=1)
        best, best_error = None, np.inf
        for size in _PERTURBATIONS:
            for sign in (1.0, -1.0):
                values, vectors = np.linalg.eig(generator * (1.0 + sign * size * spread)[None, :])
                if not np.isfinite(np.linalg.cond(vectors)):
                    continue
                inverse = np.linalg.inv(vectors)
                try:
                    amplitudes, rates = self._real_modes((values - decay)[None], vectors[None], inverse[None], source)
                except InputError:
                    continue
                error = np.max(np.abs(amplitudes[0] @ np.exp(-rates[0][:, None] * times[None, :]) - exact))
                if error < best_error:
                    best, best_error = (amplitudes[0], rates[0]), error
        if best is not None and best_error < _PERTURBATION_TOLERANCE:
            return best
        raise InputError("rates", f"patient {patient}",
                         "transfer rates whose impulse response is a sum of real exponentials within "
                         f"{_PERTURBATION_TOLERANCE:g} per MBq (use activity() or solve_numerically())")

    def _require_linear(self, what: str) -> None:
        if not self.is_linear:
            raise InputError("method", what, "the numerical path (solve_numerically) for a model with saturable uptake")

    def activity(self, times, administrations) -> np.ndarray:
        """Activity A(t) (MBq), shape (patients, compartments, times); saturable models integrate numerically."""
        times = self._times(times)
        doses = self._doses(administrations)
        if not self.is_linear:
            return self.solve_numerically(times, doses)[0]
        rates, vectors, inverse, bad = self._eigensystem()
        result = np.zeros((self.patients, len(self.compartments), times.size))
        good = ~bad
        groups = [(good, rates, vectors, inverse)]
        if np.iscomplexobj(vectors):  # patients with real modes in real arithmetic, as when computed alone
            real = good & np.all(rates.imag == 0, axis=-1) & np.all(vectors.imag == 0, axis=(-2, -1)) \
                & np.all(inverse.imag == 0, axis=(-2, -1))
            groups = [(real, rates.real, vectors.real, inverse.real), (good & ~real, rates, vectors, inverse)]
        for chosen, modes, shapes, inverted in groups:
            if np.any(chosen):
                result[chosen] = _activity_by_modes(times, doses, chosen, modes, shapes, inverted)
        if np.any(bad):
            result[bad] = self._activity_by_exponential(times, doses, bad)
        return result

    def time_integrated_activity(self, administrations, start_d: float = 0.0, end_d: float = np.inf) -> np.ndarray:
        """∫ A dt from ``start_d`` to ``end_d`` (default 0 to ∞) in MBq·h, shape (patients, compartments).

        Analytic: for each exponential term, ∫ e^{ν s} ds over [s₁, s₂] = e^{ν s₁}(e^{ν (s₂−s₁)} − 1)/ν,
        and −e^{ν s₁}/ν to infinity (Re ν ≤ −λ < 0).
        """
        start, end = float(start_d), float(end_d)
        if not (np.isfinite(start) and start >= 0 and end >= start):
            raise InputError("start_d, end_d", (start_d, end_d), "0 <= start_d <= end_d (d)")
        doses = self._doses(administrations)
        if not self.is_linear:
            return self._integrated_numerically(doses, start, end)
        rates, vectors, inverse, bad = self._eigensystem()
        result = np.zeros((self.patients, len(self.compartments)))
        good = ~bad
        if np.any(good):
            total = np.zeros((int(good.sum()), rates.shape[1]), dtype=complex)
            for time, vector in doses:
                if end <= time:
                    continue
                low = max(start - time, 0.0)
                weights = np.einsum("pkj,pj->pk", inverse[good], vector[good])
                nu = rates[good]
                if np.isinf(end):
                    integral = -np.exp(nu * low) / nu
                else:
                    integral = np.exp(nu * low) * np.expm1(nu * (end - time - low)) / nu
                total += weights * integral
            result[good] = np.einsum("pik,pk->pi", vectors[good], total).real
        if np.any(bad):
            result[bad] = self._integral_by_exponential(doses, start, end, bad)
        return result * HOURS_PER_DAY

    def _shifted(self, mask) -> np.ndarray:
        return self.generator()[mask] - self.decay_constant_per_day * np.eye(len(self.compartments))

    def _activity_by_exponential(self, times, doses, mask) -> np.ndarray:
        """A(t) = Σ exp(M (t − tₐ)) bₐ with M = K − λI (:func:`matrix_exponential`, batched); the fallback path."""
        matrix = self._shifted(mask)
        result = np.zeros((matrix.shape[0], matrix.shape[1], times.size))
        for time, vector in doses:
            for column, elapsed in enumerate(times - time):
                if elapsed >= 0:
                    result[:, :, column] += np.einsum("pij,pj->pi", matrix_exponential(matrix * elapsed), vector[mask])
        return result

    def _integral_by_exponential(self, doses, start, end, mask) -> np.ndarray:
        """∫ exp(M s) b ds = M⁻¹ (exp(M s₂) − exp(M s₁)) b, M invertible since λ > 0; the fallback path."""
        matrix = self._shifted(mask)
        total = np.zeros(matrix.shape[:2])
        for time, vector in doses:
            if end <= time:
                continue
            low = max(start - time, 0.0)
            upper = np.zeros_like(matrix) if np.isinf(end) else matrix_exponential(matrix * (end - time))
            difference = np.einsum("pij,pj->pi", upper - matrix_exponential(matrix * low), vector[mask])
            total += np.linalg.solve(matrix, difference[..., None])[..., 0]
        return total

    # -- numerical path -----------------------------------------------------------------------------
    def _right_hand_side(self, patients: int, generator: np.ndarray, capacity: np.ndarray):
        """dy/dt for y = [activity (MBq), ligand (nmol), ∫activity (MBq·d)] per patient, flattened."""
        n = len(self.compartments)
        decay = self.decay_constant_per_day
        pairs = [(self.index(u.source), self.index(u.target)) for u in self.saturable]

        def derivative(_time, flat):
            state = flat.reshape(patients, 3, n)
            activity, ligand = state[:, 0], state[:, 1]
            matrix = generator
            if pairs:
                matrix = generator.copy()
                for column, (source, target) in enumerate(pairs):
                    free = np.clip(1.0 - ligand[:, target] / capacity[:, column], 0.0, 1.0)
                    adjusted = generator[:, target, source] * free
                    matrix[:, source, source] += generator[:, target, source] - adjusted
                    matrix[:, target, source] = adjusted
            change = np.empty_like(state)
            change[:, 0] = np.einsum("pij,pj->pi", matrix, activity) - decay * activity
            change[:, 1] = np.einsum("pij,pj->pi", matrix, ligand)
            change[:, 2] = activity
            return change.ravel()

        return derivative

    def solve_numerically(self, times, administrations, rtol: float = 1e-10, atol: float = 1e-12,
                          method: str = "LSODA") -> tuple[np.ndarray, np.ndarray]:
        """Integrate the same equations with ``scipy.integrate.solve_ivp``, piecewise between administrations.

        Returns (activity MBq, cumulative time-integrated activity from 0 in MBq·h), each of shape
        (patients, compartments, times). All patients are integrated as one system with a shared step
        (the correctness oracle, and the path for saturable uptake).
        """
        times = self._times(times)
        order = np.argsort(times)
        if np.any(order != np.arange(times.size)):
            activity, integral = self.solve_numerically(times[order], administrations, rtol, atol, method)
            inverse = np.argsort(order)
            return activity[:, :, inverse], integral[:, :, inverse]
        doses = self._doses(administrations)
        patients, n = self.patients, len(self.compartments)
        capacity = np.stack([np.broadcast_to(np.asarray(u.capacity_nmol, float), (patients,)) for u in self.saturable],
                            axis=1) if self.saturable else np.ones((patients, 0))
        ligand_per_MBq = np.broadcast_to(np.asarray(self.ligand_nmol_per_MBq, float), (patients,))
        derivative = self._right_hand_side(patients, self.generator(), capacity)
        state = np.zeros((patients, 3, n))
        activity = np.zeros((patients, n, times.size))
        integral = np.zeros((patients, n, times.size))
        clock = 0.0
        for time, vector in doses:
            state = self._advance(derivative, state, clock, time, times, activity, integral, rtol, atol, method)
            clock = time
            state[:, 0] += vector
            state[:, 1] += vector * ligand_per_MBq[:, None]
        final = max(float(times.max()), clock)
        self._advance(derivative, state, clock, final, times, activity, integral, rtol, atol, method, include_end=True)
        return activity, integral * HOURS_PER_DAY

    @staticmethod
    def _advance(derivative, state, start, end, times, activity, integral, rtol, atol, method, include_end=False):
        """Integrate from ``start`` to ``end``; store outputs at requested times in [start, end)."""
        inside = (times >= start) & ((times <= end) if include_end else (times < end))
        if end <= start or not np.any(state):
            if np.any(inside):
                activity[:, :, inside] = state[:, 0, :, None]
                integral[:, :, inside] = state[:, 2, :, None]
            return state
        interior = inside & (times < end)
        solution = solve_ivp(derivative, (start, end), state.ravel(), method=method, rtol=rtol, atol=atol,
                             t_eval=np.unique(np.append(times[interior], end)))
        if not solution.success:
            raise RuntimeError(f"solve_ivp failed: {solution.message}")
        values = solution.y.reshape(state.shape + (-1,))
        activity[:, :, interior] = values[:, 0, :, :-1]
        integral[:, :, interior] = values[:, 2, :, :-1]
        at_end = inside & (times == end)
        activity[:, :, at_end] = values[:, 0, :, -1:]
        integral[:, :, at_end] = values[:, 2, :, -1:]
        return values[:, :, :, -1].copy()

    def _integrated_numerically(self, doses, start, end) -> np.ndarray:
        """Time-integrated activity between ``start`` and ``end`` (∞: until 99.9999 % of the atoms decayed)."""
        if np.isinf(end):
            end = doses[-1][0] + 20.0 * np.log(10.0) / self.decay_constant_per_day
        _, integral = self.solve_numerically([start, end], doses)
        return integral[:, :, 1] - integral[:, :, 0]

    # -- bookkeeping --------------------------------------------------------------------------------
    def balance(self, time_d: float, administrations) -> dict[str, np.ndarray]:
        """Where the administered atoms are at ``time_d``, in MBq-at-administration units (λ × atoms).

        present_in_body + decayed_in_body + excreted = administered, where excreted counts what left the
        body (still present in excreta or decayed there). Decayed = λ ∫ A dt.
        """
        doses = self._doses(administrations)
        administered = sum(vector.sum(axis=1) for time, vector in doses if time <= time_d)
        activity = self.activity([time_d], doses)[:, :, 0]
        integrated = self.time_integrated_activity(doses, 0.0, time_d) / HOURS_PER_DAY
        decayed = self.decay_constant_per_day * integrated
        body = self.body
        return {
            "administered": administered,
            "present_in_body": activity[:, body].sum(axis=1),
            "decayed_in_body": decayed[:, body].sum(axis=1),
            "excreted": (activity[:, ~body] + decayed[:, ~body]).sum(axis=1),
        }
