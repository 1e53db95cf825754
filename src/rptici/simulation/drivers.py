"""Drivers of the tumour–immune equations: dose-rate impulse responses and per-patient event lists.

The radiopharmaceutical's biokinetics are linear (:mod:`rptici.kinetics.biokinetics`), so the dose rate of
every region per MBq into blood is a sum of exponentials; the dosimetry layer computes it once for every
user (:func:`rptici.dosimetry.dose_rate.dose_rate_modes`: the modes of
:meth:`~rptici.kinetics.compartments.CompartmentModel.exponential_modes` times the S-value matrix — lesions
the unit-density sphere S-value of their mass (for Ra-223, osteoblastic bone metastases: lesion surface and
lesion mineral compartments), organs the self-dose S-value of their compartments, bone
targets of α emitters the ICRP 30 absorbed fractions; masses from
:func:`rptici.radiobiology.regimen_dose.target_masses`). This module only reduces those modes to the
``n_exponentials`` the ODE carries.

The ODE carries each region's dose rate as ``n_exponentials`` components u_k' = −rate_k u_k; an
administration of activity A adds A·coefficient_k to u_k. This is exact when at most ``n_exponentials``
eigen-terms feed the region. Otherwise :func:`reduce_exponentials` keeps the term of largest time integral,
adds the rates that fit best one at a time (greedy forward selection), and refits the coefficients by least
squares on a time grid under two equality constraints: the dose rate at injection Ḋ(0) (zero for an organ or lesion fed from blood) and
the total absorbed dose ∫Ḋ dt — so every absorbed dose is exact and the shape is close (``exact`` False).

Events: RPT administrations (:meth:`Regimen.rpt_administrations`) and checkpoint-antibody infusions
(:meth:`Regimen.ici_infusions`, given as a bolus of the dose into the central compartment: the 30–60 min
infusion is short against the antibody's 2–4 week half-life).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ..dosimetry.dose_rate import dose_rate_modes
from ..errors import InputError
from ..kinetics.biokinetics import Covariates, agent_parameters, biokinetic_model, lesion_names
from ..radiobiology.regimen_dose import target_masses
#: Relative size below which an eigen-term's coefficient counts as zero.
NEGLIGIBLE = 1e-12
#: Points of the grid on which a reduced sum of exponentials is fitted.
FIT_POINTS = 96
#: Rows reduced at a time (bounds the temporaries of the fit).
BLOCK_ROWS = 512


@dataclass
class DoseRateResponse:
    """Dose rate of each region per MBq injected: Ḋ_r(t) = Σ_k coefficients[p, r, k] e^{−rates[p, r, k] t}.

    coefficients in Gy/d per MBq, rates in 1/d (patients, regions, terms); ``exact[p, r]`` is False where
    the region needed more terms than kept (then only Ḋ(0) and ∫Ḋ dt are exact).
    """

    regions: tuple[str, ...]
    coefficients: np.ndarray
    rates: np.ndarray
    exact: np.ndarray

    def index(self, region: str) -> int:
        if region not in self.regions:
            raise InputError("region", region, "one of " + ", ".join(self.regions))
        return self.regions.index(region)

    def dose_rate(self, elapsed_d) -> np.ndarray:
        """Ḋ per MBq (Gy/d/MBq) at ``elapsed_d`` days after injection, (patients, regions, times)."""
        elapsed = np.asarray(elapsed_d, dtype=float)
        return np.einsum("prk,prkt->prt", self.coefficients,
                         np.exp(-self.rates[..., None] * elapsed[None, None, None, :]))

    def absorbed_dose_per_MBq(self) -> np.ndarray:
        """∫₀^∞ Ḋ dt per MBq (Gy/MBq), (patients, regions)."""
        return np.sum(self.coefficients / self.rates, axis=-1)


def reduce_exponentials(coefficients: np.ndarray, rates: np.ndarray, terms: int,
                        horizon_d: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce Σ c_k e^{−λ_k t} over the last axis to ``terms`` exponentials; returns (c, λ, exact).

    Exact where at most ``terms`` coefficients are non-zero (the others padded with zero coefficients).
    Otherwise start from the term of largest time integral |c/λ| and add, one at a time, the rate whose
    refit fits best; the kept coefficients are refitted by least squares on a grid from 0 to 5 slowest time
    constants, constrained to keep Σc (the value at 0) and Σc/λ (the integral), so the absorbed dose stays
    exact.
    """
    coefficients = np.asarray(coefficients)
    rates = np.asarray(rates)
    shape = coefficients.shape[:-1]
    c = coefficients.reshape(-1, coefficients.shape[-1])
    lam = rates.reshape(-1, rates.shape[-1])
    size = c.shape[0]
    scale = np.max(np.abs(c), axis=1, keepdims=True)
    significant = np.abs(c) > NEGLIGIBLE * np.where(scale > 0, scale, 1.0)
    exact = significant.sum(axis=1) <= terms
    complex_terms = np.any(significant & (np.abs(np.imag(lam)) > 1e-12 * np.abs(lam)), axis=1)
    exact &= ~complex_terms
    c_real, lam_real = np.real(c), np.real(lam)
    out_c = np.zeros((size, terms))
    out_lam = np.tile(np.min(np.where(significant, lam_real, np.inf), axis=1, initial=np.inf)[:, None], (1, terms))
    out_lam[~np.isfinite(out_lam)] = 1.0
    order = np.argsort(~significant, axis=1, kind="stable")[:, :terms]
    if np.any(exact):
        chosen = order[exact]
        width = chosen.shape[1]
        picked = np.arange(chosen.shape[0])[:, None], chosen
        kept = significant[exact][picked]
        out_c[exact, :width] = np.where(kept, c_real[exact][picked], 0.0)
        out_lam[exact, :width] = np.where(kept, lam_real[exact][picked], out_lam[exact, :width])
    counts = significant.sum(axis=1)
    reduce = np.flatnonzero(~exact)
    for width in np.unique(counts[reduce]):  # rows with as many significant modes together: see _greedy_fit
        group = reduce[counts[reduce] == width]
        for first in range(0, group.size, BLOCK_ROWS):  # blocks of rows keep the (rows, points, modes) basis small
            rows = group[first:first + BLOCK_ROWS]
            out_c[rows], out_lam[rows] = _greedy_fit(c_real[rows], lam_real[rows], significant[rows], terms,
                                                     horizon_d)
    return out_c.reshape(*shape, terms), out_lam.reshape(*shape, terms), exact.reshape(shape)


def _greedy_fit(cr: np.ndarray, lr: np.ndarray, sig: np.ndarray, terms: int,
                horizon_d: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients, rates) of ``terms`` exponentials chosen greedily from the significant modes of each row."""
    # only the significant modes, in their order (the rows of a call have as many: each row's numbers then do not
    # depend on the other rows of its batch)
    order = np.argsort(~sig, axis=1, kind="stable")[:, :max(int(sig.sum(axis=1).max()), 1)]
    cr, lr, sig = (np.take_along_axis(array, order, axis=1) for array in (cr, lr, sig))
    count = cr.shape[0]
    local = np.arange(count)[:, None]
    slowest = np.min(np.where(sig, lr, np.inf), axis=1)
    end = 5.0 / slowest if horizon_d is None else np.full(count, float(horizon_d))
    grid = np.concatenate([np.zeros((count, 1)),
                           end[:, None] * np.geomspace(1e-4, 1.0, FIT_POINTS - 1)[None, :]], axis=1)
    basis = np.exp(-lr[:, None, :] * grid[:, :, None])  # (rows, points, modes): every candidate once
    target = np.einsum("nk,ngk->ng", np.where(sig, cr, 0.0), basis)
    normal = _NormalEquations(basis.transpose(0, 2, 1) @ basis, (target[:, None, :] @ basis)[:, 0, :],
                              np.einsum("ng,ng->n", target, target))
    at_zero = np.sum(np.where(sig, cr, 0.0), axis=1)
    integral = np.sum(np.where(sig, cr / lr, 0.0), axis=1)
    # greedy forward selection: start from the term of largest integral, add the term that fits best (every
    # candidate of every row in one batch of least-squares problems)
    chosen = np.argmax(np.where(sig, np.abs(cr / lr), -1.0), axis=1)[:, None]
    modes = lr.shape[1]
    rows = np.repeat(np.arange(count), modes)
    candidate = np.tile(np.arange(modes), count)
    for _ in range(1, terms):
        # only the candidates that are significant and not chosen yet are fitted; the others never win
        usable = np.flatnonzero(sig[rows, candidate] & ~np.any(chosen[rows] == candidate[:, None], axis=1))
        trial = np.concatenate([chosen[rows[usable]], candidate[usable, None]], axis=1)
        residual = np.full(rows.size, np.inf)
        _, residual[usable] = _constrained_fit(normal, rows[usable], trial, lr[rows[usable, None], trial], at_zero,
                                               integral)
        chosen = np.concatenate([chosen, np.argmin(residual.reshape(count, modes), axis=1)[:, None]], axis=1)
    chosen_lam = lr[local, chosen]
    fitted, _ = _constrained_fit(normal, np.arange(count), chosen, chosen_lam, at_zero, integral)
    return fitted, chosen_lam


@dataclass
class _NormalEquations:
    """Least-squares data of every candidate exponential on a row's grid: Gram matrix BᵀB, Bᵀy and yᵀy."""

    gram: np.ndarray
    projection: np.ndarray
    norm: np.ndarray


def _constrained_fit(normal: _NormalEquations, rows: np.ndarray, columns: np.ndarray, rates: np.ndarray,
                     at_zero: np.ndarray, integral: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients of Σ c_k e^{−rate_k t} (the candidates ``columns`` of row ``rows``) with
    Σc = at_zero and Σc/rate = integral of that row; returns (coefficients, residual sum of squares).

    Solved per problem through the KKT system built from the precomputed normal equations (pseudo-inverse
    where repeated rates make it singular); with one term only the integral is kept.
    """
    count, terms = rates.shape
    gram = normal.gram[rows[:, None, None], columns[:, :, None], columns[:, None, :]]
    projection = normal.projection[rows[:, None], columns]
    at_zero, integral = at_zero[rows], integral[rows]
    constraints = [1.0 / rates] if terms == 1 else [np.ones_like(rates), 1.0 / rates]
    values = [integral] if terms == 1 else [at_zero, integral]
    size = terms + len(constraints)
    matrix = np.zeros((count, size, size))
    right = np.zeros((count, size))
    matrix[:, :terms, :terms] = 2.0 * gram
    right[:, :terms] = 2.0 * projection
    for number, (row, value) in enumerate(zip(constraints, values)):
        matrix[:, terms + number, :terms] = row
        matrix[:, :terms, terms + number] = row
        right[:, terms + number] = value
    solution = _solve_each(matrix, right)
    coefficients = solution[:, :terms]
    # ‖Bc − y‖² = cᵀ(BᵀB)c − 2cᵀBᵀy + yᵀy, clipped at 0 against rounding
    residual = (np.einsum("nk,nkl,nl->n", coefficients, gram, coefficients)
                - 2.0 * np.einsum("nk,nk->n", coefficients, projection) + normal.norm[rows])
    return coefficients, np.maximum(residual, 0.0)


def _solve_each(matrix: np.ndarray, right: np.ndarray) -> np.ndarray:
    """x with matrix[i] x[i] = right[i] for every i: LU (~10× faster than the pseudo-inverse), and the
    pseudo-inverse only for the singular systems (repeated rates), so each row's answer does not depend on which
    other rows share its batch (the same numbers whatever the chunking)."""
    singular = np.zeros(matrix.shape[0], dtype=bool)
    try:
        solution = np.linalg.solve(matrix, right[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # an exactly singular matrix (a zero pivot, det 0) somewhere in the batch
        singular = np.linalg.det(matrix) == 0.0
        solution = np.empty_like(right)
        solution[~singular] = np.linalg.solve(matrix[~singular], right[~singular, :, None])[:, :, 0]
    singular |= ~np.all(np.isfinite(solution), axis=1)
    if np.any(singular):
        solution[singular] = (np.linalg.pinv(matrix[singular]) @ right[singular, :, None])[:, :, 0]
    return solution


def dose_rate_response(agent: str, covariates: Covariates | None = None, organs: Sequence[str] = ("red_marrow",),
                       n_exponentials: int = 3, sex: str = "male", rbe: float | None = None,
                       site_selective: bool = False) -> DoseRateResponse:
    """Dose-rate impulse responses of every lesion of ``covariates`` and of ``organs``, per MBq into blood.

    ``rbe`` weights the α component of the S-values (RBE-weighted dose rate) when given. ``site_selective``:
    lesions at sites the agent does not reach take up nothing (:func:`rptici.kinetics.biokinetic_model`).
    """
    if int(n_exponentials) != n_exponentials or n_exponentials < 1:
        raise InputError("n_exponentials", n_exponentials, "a whole number of exponential terms, at least 1")
    covariates = covariates or Covariates.reference(sex)
    model = biokinetic_model(agent, covariates, sex, site_selective=site_selective)
    lesions = lesion_names(covariates.lesion_masses_g.shape[1])
    regions = tuple(lesions) + tuple(organs)
    masses = target_masses(agent, covariates, model.compartments, sex)
    for organ in organs:
        if organ not in masses:
            raise InputError("organs", organ, f"a target of {agent} with a compartment: "
                             + ", ".join(name for name in masses if name not in lesions))
    parameters = agent_parameters(agent)
    modes = dose_rate_modes(model, parameters["nuclide"], {region: masses[region] for region in regions},
                            parameters.get("bone_dosimetry"), derived_regions=parameters.get("derived_regions"))
    coefficients = modes.coefficients if rbe is None else modes.weighted(rbe)
    rates = np.broadcast_to(modes.rates[:, None, :], coefficients.shape)
    reduced, reduced_rates, exact = reduce_exponentials(coefficients, rates, int(n_exponentials))
    return DoseRateResponse(regions, reduced, reduced_rates, exact)


@dataclass
class Schedule:
    """Dosing events of a cohort: RPT administrations (times (a,), activities (patients, a) in MBq) and
    checkpoint-antibody infusions (times (i,), doses (patients, i) in mg, the agent of each infusion)."""

    rpt_times: np.ndarray
    rpt_activities: np.ndarray
    ici_times: np.ndarray
    ici_doses: np.ndarray
    ici_agents: tuple[str, ...] = ()

    def take(self, part) -> Schedule:
        """The schedule of the patients ``part`` (a slice or index array)."""
        return Schedule(self.rpt_times, self.rpt_activities[part], self.ici_times, self.ici_doses[part],
                        self.ici_agents)

    def stopped(self, rpt_stop_days: np.ndarray | None, ici_stop_days: np.ndarray | None) -> Schedule:
        """The schedule with every administration after a patient's stop day removed (its amount set to zero):
        treatment stopped at progression or toxicity, or an ICI given for at most a maximum duration. An
        administration on the stop day itself is given."""
        activities, doses = self.rpt_activities, self.ici_doses
        if rpt_stop_days is not None and self.rpt_times.size:
            activities = np.where(self.rpt_times[None, :] > np.asarray(rpt_stop_days, float)[:, None], 0.0, activities)
        if ici_stop_days is not None and self.ici_times.size:
            doses = np.where(self.ici_times[None, :] > np.asarray(ici_stop_days, float)[:, None], 0.0, doses)
        return Schedule(self.rpt_times, activities, self.ici_times, doses, self.ici_agents)


def regimen_schedule(regimen, covariates: Covariates) -> Schedule:
    """The events of ``regimen`` (a :class:`rptici.kinetics.Regimen`) for each patient of ``covariates``."""
    rpt_times, activities = regimen.rpt_administrations(covariates.weight_kg, covariates.bsa_m2)
    ici_times, doses = regimen.ici_infusions(covariates.weight_kg)
    patients = covariates.patients
    return Schedule(np.asarray(rpt_times, float), np.broadcast_to(np.asarray(activities, float).T,
                                                                  (patients, len(rpt_times))).copy(),
                    np.asarray(ici_times, float), np.broadcast_to(np.asarray(doses, float).T,
                                                                  (patients, len(ici_times))).copy(),
                    tuple(regimen.ici_infusion_agents()))


def event_arrays(schedule: Schedule, response: DoseRateResponse | None, dose_rate_state: Callable[[str, int], int],
                 antibody_state: int | Mapping[str, int] | None, regions: Sequence[str] | None = None):
    """Per-patient event arrays for :func:`rptici.simulation.solver.solve_batched`, sorted by time.

    An RPT administration of activity A adds A × coefficient[p, region, k] to the state
    ``dose_rate_state(region, k)`` of each region and term; an infusion adds its dose (mg) to
    ``antibody_state`` (one state, or the state of each agent of ``schedule.ici_agents``). Returns
    (event_times, event_state, event_amount), each (patients, events).
    """
    patients = schedule.rpt_activities.shape[0]
    times, states, amounts = [], [], []
    if schedule.rpt_times.size and response is not None:
        regions = response.regions if regions is None else tuple(regions)
        for region in regions:
            column = response.index(region)
            for term in range(response.coefficients.shape[-1]):
                state = dose_rate_state(region, term)
                for number, time in enumerate(schedule.rpt_times):
                    times.append(np.full(patients, time))
                    states.append(np.full(patients, state))
                    amounts.append(schedule.rpt_activities[:, number] * response.coefficients[:, column, term])
    if schedule.ici_times.size:
        if antibody_state is None:
            raise InputError("antibody_state", None, "the antibody state index of a model with a checkpoint inhibitor")
        for number, time in enumerate(schedule.ici_times):
            state = antibody_state
            if isinstance(antibody_state, Mapping):
                agent = schedule.ici_agents[number]
                if agent not in antibody_state:
                    raise InputError("antibody_state", agent, "a state for each agent: " + ", ".join(antibody_state))
                state = antibody_state[agent]
            times.append(np.full(patients, time))
            states.append(np.full(patients, state))
            amounts.append(schedule.ici_doses[:, number])
    if not times:
        return np.full((patients, 0), np.inf), np.zeros((patients, 0), dtype=np.int64), np.zeros((patients, 0))
    event_times = np.stack(times, axis=1)
    event_state = np.stack(states, axis=1).astype(np.int64)
    event_amount = np.stack(amounts, axis=1)
    order = np.argsort(event_times, axis=1, kind="stable")
    return (np.take_along_axis(event_times, order, 1), np.take_along_axis(event_state, order, 1),
            np.take_along_axis(event_amount, order, 1))
