"""Batched Dormand–Prince solver on toy problems with known solutions, and against scipy's solve_ivp."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rptici.errors import InputError
from rptici.simulation.solver import (DORMAND_PRINCE_54, NON_FINITE, NON_FINITE_INPUT, STIFF_FAILED, SUCCESS,
                                     TOO_MANY_STEPS, Auto, Dopri5, Flush, LinearSystem, PIController, Radau, solve,
                                     solve_batched)

numba = pytest.importorskip("numba")


@numba.njit
def decay_chain(t, y, p, dydt):
    """Parent → daughter → (gone): y0' = −a y0, y1' = a y0 − b y1."""
    dydt[0] = -p[0] * y[0]
    dydt[1] = p[0] * y[0] - p[1] * y[1]


@numba.njit
def logistic(t, y, p, dydt):
    dydt[0] = p[0] * y[0] * (1.0 - y[0] / p[1])


@numba.njit
def oscillator(t, y, p, dydt):
    dydt[0] = y[1]
    dydt[1] = -p[0] * p[0] * y[0]


@numba.njit
def predator_prey(t, y, p, dydt):
    """Lotka–Volterra, a nonlinear problem without a closed form (checked against solve_ivp)."""
    dydt[0] = p[0] * y[0] - p[1] * y[0] * y[1]
    dydt[1] = p[2] * y[0] * y[1] - p[3] * y[1]


@numba.njit
def stiff_relaxation(t, y, p, dydt):
    """y' = −λ (y − cos t): stiff for large λ (Hairer & Wanner 1996, section IV.1, a Curtiss–Hirschfelder form)."""
    dydt[0] = -p[0] * (y[0] - np.cos(t))


@numba.njit
def poisoned_off_start(t, y, p, dydt):
    """y' = −y, except for a patient with p = 1, whose derivative is NaN anywhere but at y = 0: its Jacobian by
    finite differences is not finite (as the immune equations' can be at extreme parameters)."""
    dydt[0] = -y[0] if p[0] == 0.0 else (0.0 if y[0] == 0.0 else np.nan)


def chain_with_doses(patients: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    params = np.column_stack([rng.uniform(0.1, 2.0, patients), rng.uniform(0.05, 1.0, patients)])
    doses = np.array([0.0, 10.0, 20.5])
    event_times = np.tile(np.append(doses, np.inf), (patients, 1))
    event_state = np.zeros(event_times.shape, dtype=int)
    event_amount = np.tile(np.array([1.0, 2.0, 0.5, 0.0]), (patients, 1))
    return params, event_times, event_state, event_amount, doses, np.array([1.0, 2.0, 0.5])


def bateman(params, doses, amounts, times):
    """Bateman (1910) solution of the two-member chain, summed over the doses (superposition)."""
    a, b = params[:, :1], params[:, 1:]
    parent = np.zeros((params.shape[0], times.size))
    daughter = np.zeros_like(parent)
    for dose_time, amount in zip(doses, amounts):
        elapsed = np.maximum(times[None, :] - dose_time, 0.0)
        given = times[None, :] >= dose_time
        parent += given * amount * np.exp(-a * elapsed)
        daughter += given * amount * a / (b - a) * (np.exp(-a * elapsed) - np.exp(-b * elapsed))
    return parent, daughter


def test_decay_chain_with_doses_matches_bateman():
    params, event_times, event_state, event_amount, doses, amounts = chain_with_doses(200)
    times = np.linspace(0.0, 30.0, 61)
    result = solve_batched(decay_chain, np.zeros((200, 2)), params, times, event_times, event_state, event_amount,
                           rtol=1e-8, atol=1e-12)
    parent, daughter = bateman(params, doses, amounts, times)
    assert np.all(result.status == SUCCESS)
    # Global error of an rtol = 1e-8 integration: tolerance 1e-7 absolute on amounts of order 1.
    np.testing.assert_allclose(result.y[:, :, 0], parent, rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.y[:, :, 1], daughter, rtol=0, atol=1e-7)


def test_output_at_event_time_is_after_the_jump():
    params, event_times, event_state, event_amount, doses, amounts = chain_with_doses(3)
    result = solve_batched(decay_chain, np.zeros((3, 2)), params, np.array([0.0, 10.0]), event_times, event_state,
                           event_amount, rtol=1e-10, atol=1e-14)
    a = params[:, 0]
    # Right-continuous: at t = 10 the first dose has decayed to exp(−10 a) and the second (2.0) has been added.
    np.testing.assert_allclose(result.y[:, 1, 0], np.exp(-10.0 * a) + 2.0, rtol=1e-9)
    np.testing.assert_allclose(result.y[:, 0, 0], 1.0, rtol=0, atol=0)


def test_logistic_growth_matches_closed_form():
    rate, capacity, start = np.array([0.3, 1.0, 2.5]), np.array([1e3, 50.0, 1.0]), np.array([1.0, 0.5, 1e-3])
    times = np.linspace(0.0, 20.0, 41)
    result = solve_batched(logistic, start[:, None], np.column_stack([rate, capacity]), times, rtol=1e-9, atol=1e-12)
    exact = capacity[:, None] / (1.0 + (capacity / start - 1.0)[:, None] * np.exp(-rate[:, None] * times[None, :]))
    np.testing.assert_allclose(result.y[:, :, 0], exact, rtol=1e-7)


def test_harmonic_oscillator_over_twenty_periods():
    omega = np.array([1.0, 2.0 * np.pi, 0.3])
    times = np.linspace(0.0, 20.0 * 2.0 * np.pi / omega.min(), 200)
    start = np.tile([1.0, 0.0], (3, 1))
    result = solve_batched(oscillator, start, omega[:, None], times, rtol=1e-10, atol=1e-12)
    # x = cos(ωt); error grows linearly with the number of periods, 1e-6 is ~100× the tolerance.
    np.testing.assert_allclose(result.y[:, :, 0], np.cos(omega[:, None] * times[None, :]), rtol=0, atol=1e-6)
    energy = result.y[:, :, 1] ** 2 + (omega[:, None] * result.y[:, :, 0]) ** 2
    np.testing.assert_allclose(energy, np.broadcast_to(omega[:, None] ** 2, energy.shape), rtol=1e-6)


def test_error_shrinks_with_tolerance():
    params, event_times, event_state, event_amount, doses, amounts = chain_with_doses(50, seed=3)
    times = np.linspace(0.0, 30.0, 31)
    parent, _ = bateman(params, doses, amounts, times)
    errors = []
    for rtol in (1e-4, 1e-7, 1e-10):
        result = solve_batched(decay_chain, np.zeros((50, 2)), params, times, event_times, event_state, event_amount,
                               rtol=rtol, atol=rtol * 1e-3)
        errors.append(np.abs(result.y[:, :, 0] - parent).max())
    # Global error within a small multiple of the tolerance, and falling as the tolerance falls.
    assert errors[0] < 1e-3 and errors[1] < 1e-6 and errors[2] < 1e-9
    assert errors[0] > errors[1] > errors[2]


def test_predator_prey_with_jumps_matches_solve_ivp():
    rng = np.random.default_rng(7)
    patients = 8
    params = np.column_stack([rng.uniform(0.8, 1.2, patients), rng.uniform(0.3, 0.5, patients),
                              rng.uniform(0.2, 0.4, patients), rng.uniform(0.8, 1.2, patients)])
    start = rng.uniform(1.0, 3.0, (patients, 2))
    event_times = np.tile([5.0, 12.0, np.inf], (patients, 1))
    event_state = np.tile([0, 1, 0], (patients, 1))
    event_amount = np.tile([1.5, 0.7, 0.0], (patients, 1))
    times = np.linspace(0.0, 25.0, 101)
    result = solve_batched(predator_prey, start, params, times, event_times, event_state, event_amount,
                           rtol=1e-10, atol=1e-12)
    for patient in range(patients):
        y = start[patient].copy()
        expected = np.empty((times.size, 2))
        for begin, end in ((0.0, 5.0), (5.0, 12.0), (12.0, 25.0)):
            if begin == 5.0:
                y[0] += 1.5
            if begin == 12.0:
                y[1] += 0.7
            here = (times >= begin) & ((times < end) | (end == 25.0))
            solution = solve_ivp(lambda t, z: np.array([
                params[patient, 0] * z[0] - params[patient, 1] * z[0] * z[1],
                params[patient, 2] * z[0] * z[1] - params[patient, 3] * z[1]]),
                (begin, end), y, method="DOP853", rtol=1e-12, atol=1e-14, dense_output=True)
            expected[here] = solution.sol(times[here]).T
            y = solution.y[:, -1]
        np.testing.assert_allclose(result.y[patient], expected, rtol=1e-7)


def test_python_backend_runs_the_same_algorithm():
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(4)
    times = np.linspace(0.0, 25.0, 26)
    arguments = (decay_chain, np.zeros((4, 2)), params, times, event_times, event_state, event_amount)
    compiled = solve_batched(*arguments, rtol=1e-7, backend="numba")
    plain = solve_batched(*arguments, rtol=1e-7, backend="python")
    np.testing.assert_array_equal(compiled.accepted_steps, plain.accepted_steps)
    np.testing.assert_allclose(plain.y, compiled.y, rtol=1e-12, atol=1e-15)


def test_same_numbers_for_any_thread_count_and_batch_split():
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(101, seed=5)
    times = np.linspace(0.0, 30.0, 31)
    arguments = (np.zeros((101, 2)), params, times, event_times, event_state, event_amount)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = solve_batched(decay_chain, *arguments).y
    finally:
        numba.set_num_threads(threads)
    together = solve_batched(decay_chain, *arguments).y
    split = [solve_batched(decay_chain, *(a[part] if a is not times else a for a in arguments)).y
             for part in (slice(0, 37), slice(37, 101))]
    np.testing.assert_array_equal(single, together)
    np.testing.assert_array_equal(np.concatenate(split), together)


@numba.njit
def chain_with_idle_tail(t, y, p, dydt):
    """The decay chain in states 0-1 and two states after them that only events move (an absent lesion's slots)."""
    dydt[0] = -p[0] * y[0]
    dydt[1] = p[0] * y[0] - p[1] * y[1]
    dydt[2] = 0.0
    dydt[3] = 0.0


def test_active_states_leave_the_numbers_unchanged_to_the_bit():
    """``active``: a patient's equations use only his first states; the stages skip the rest, whose derivatives
    and error terms are 0, so the solution is the same to the bit — also where an event moves a state after them
    (it is counted in), where a state after them is flushed to 0, and for every output state."""
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(5, seed=3)
    event_times = np.column_stack([event_times[:, :2], np.full(5, 12.5), event_times[:, 2:]])  # sorted rows
    event_state = np.column_stack([event_state[:, :2], np.full(5, 2), event_state[:, 2:]])
    event_amount = np.column_stack([event_amount[:, :2], np.full(5, 4.0), event_amount[:, 2:]])
    start = np.column_stack([np.zeros((5, 3)), np.full(5, 7.0)])
    times = np.linspace(0.0, 30.0, 61)
    arguments = (chain_with_idle_tail, start, params, times, (event_times, event_state, event_amount))
    flushed = Flush(np.array([3]), np.full((5, 1), 10.0))  # state 3 (7.0) set to 0 after the first step
    for flush in (None, flushed):
        every = solve(*arguments, flush=flush)
        for active in (2, np.array([2, 3, 4, 2, 1])):
            part = solve(*arguments, active=active, flush=flush)
            np.testing.assert_array_equal(part.y, every.y)
            np.testing.assert_array_equal(part.accepted_steps, every.accepted_steps)
        assert np.all(every.y[:, times >= 12.5, 2] == 4.0)
        assert np.all(every.y[:, :, 3] == 7.0) if flush is None else np.all(every.y[:, -1, 3] == 0.0)


@pytest.mark.parametrize("active", [0, 5, np.array([2, 2]), 2.5])
def test_bad_active_states_are_refused(active):
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(3)
    with pytest.raises(InputError, match="active"):
        solve(chain_with_idle_tail, np.zeros((3, 4)), params, np.linspace(0.0, 5.0, 6),
              (event_times, event_state, event_amount), active=active)


def test_a_broken_patient_is_flagged_and_the_others_are_unchanged():
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(6)
    times = np.linspace(0.0, 30.0, 31)
    start = np.zeros((6, 2))
    clean = solve_batched(decay_chain, start, params, times, event_times, event_state, event_amount)
    broken = params.copy()
    broken[2, 1] = np.nan
    start_broken = start.copy()
    start_broken[4, 0] = np.inf
    result = solve_batched(decay_chain, start_broken, broken, times, event_times, event_state, event_amount)
    assert result.status[2] == NON_FINITE and result.status[4] == NON_FINITE_INPUT
    assert np.all(np.isnan(result.y[[2, 4]]))
    assert "non-finite" in result.reasons[2] and result.reasons[0] == ""
    others = [0, 1, 3, 5]
    np.testing.assert_array_equal(result.y[others], clean.y[others])
    limited = solve_batched(decay_chain, start, params, times, event_times, event_state, event_amount, max_steps=20)
    assert np.all(limited.status == TOO_MANY_STEPS)
    assert "too many steps" in limited.reasons[0]


def test_stiff_patients_fall_back_to_radau():
    stiffness = np.array([[1.0], [1e5]])
    times = np.linspace(0.0, 5.0, 11)
    controller = PIController(rtol=1e-8, atol=1e-10)
    result = solve(stiff_relaxation, np.zeros((2, 1)), stiffness, times, max_steps=5000,
                   solver=Auto(Dopri5(controller), Radau(controller)))
    assert np.all(result.status == SUCCESS)
    assert result.used_stiff.tolist() == [False, True]
    radau = solve(stiff_relaxation, np.zeros((2, 1)), stiffness, times, solver=Radau(controller))
    assert radau.used_stiff.tolist() == [True, True]
    np.testing.assert_allclose(radau.y, result.y, rtol=1e-6, atol=1e-8)
    lam = stiffness[:, :1]
    t = times[None, :]
    exact = (lam ** 2 * np.cos(t) + lam * np.sin(t) - lam ** 2 * np.exp(-lam * t)) / (lam ** 2 + 1.0)
    np.testing.assert_allclose(result.y[:, :, 0], exact, rtol=1e-6, atol=1e-8)


def test_a_patient_whose_stiff_solve_raises_fails_alone():
    times = np.linspace(0.0, 2.0, 5)
    controller = PIController(rtol=1e-6, atol=1e-10)
    result = solve(poisoned_off_start, np.array([[1.0], [0.0], [1.0]]), np.array([[0.0], [1.0], [0.0]]), times,
                   solver=Radau(controller))
    assert result.status.tolist() == [SUCCESS, STIFF_FAILED, SUCCESS]
    assert np.all(np.isnan(result.y[1])) and "Radau" in result.reasons[1]
    np.testing.assert_allclose(result.y[[0, 2], :, 0], np.exp(-times)[None, :].repeat(2, axis=0), rtol=1e-5)


def test_states_first_layout_and_output_selection():
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(5)
    times = np.linspace(0.0, 30.0, 7)
    full = solve_batched(decay_chain, np.zeros((5, 2)), params, times, event_times, event_state, event_amount)
    daughter = solve_batched(decay_chain, np.zeros((2, 5)), params, times, event_times, event_state, event_amount,
                             states_first=True, output_states=[1])
    np.testing.assert_array_equal(daughter.y[:, :, 0], full.y[:, :, 1])


@pytest.mark.parametrize("field, change", [
    ("event_times", lambda e: (e[0][:, ::-1], e[1], e[2])),
    ("event_state", lambda e: (e[0], e[1] + 7, e[2])),
    ("event_times", lambda e: (e[0] - 1.0, e[1], e[2])),
])
def test_bad_events_name_the_field(field, change):
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(2)
    times, states, amounts = change((event_times, event_state, event_amount))
    with pytest.raises(InputError) as error:
        solve_batched(decay_chain, np.zeros((2, 2)), params, np.linspace(0, 5, 6), times, states, amounts)
    assert error.value.field == field


def test_events_closer_than_rounding_are_both_applied():
    params = np.array([[0.5, 0.2]])
    close = 0.1 + 0.2  # 0.30000000000000004, one rounding step after 0.3
    result = solve_batched(decay_chain, np.zeros((1, 2)), params, np.array([0.0, 1.0]),
                           np.array([[0.3, close]]), np.array([[0, 0]]), np.array([[1.0, 1.0]]), rtol=1e-10,
                           atol=1e-14)
    assert result.status[0] == SUCCESS
    np.testing.assert_allclose(result.y[0, 1, 0], 2.0 * np.exp(-0.5 * 0.7), rtol=1e-9)


@numba.njit
def driven_growth(t, y, p, dydt):
    """A fast decaying driver u (rate p[0]) with its residual r' = u − p[1] r, killing a logistic population V."""
    dydt[0] = -p[0] * y[0]
    dydt[1] = y[0] - p[1] * y[1]
    dydt[2] = 0.1 * y[2] * (1.0 - y[2] / 10.0) - 0.5 * (y[0] + y[1]) * y[2]


def test_linear_states_are_propagated_exactly():
    """The decay chain solved as linear states: Bateman (1910) to rounding, whatever the rates' spread."""
    params, event_times, event_state, event_amount, doses, amounts = chain_with_doses(200)
    params[:50, 0] = params[:50, 1]  # equal rates: the t·e^{−λt} limit of the Bateman solution
    times = np.linspace(0.0, 30.0, 61)
    result = solve_batched(decay_chain, np.zeros((200, 2)), params, times, event_times, event_state, event_amount,
                           rtol=1e-6, atol=1e-9, linear_states=[0, 1], linear_rates=params,
                           linear_sources=[[1, 0]], linear_weights=params[:, :1])
    parent, daughter = bateman(params[50:], doses, amounts, times)
    assert np.all(result.status == SUCCESS)
    # Exact propagation: only rounding (1e-12 absolute on amounts of order 1), although rtol is 1e-6.
    np.testing.assert_allclose(result.y[50:, :, 0], parent, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.y[50:, :, 1], daughter, rtol=0, atol=1e-12)
    a = params[:50, :1]  # equal rates: a·t·e^{−at} per unit dose (the limit of Bateman's formula)
    elapsed = [np.maximum(times[None, :] - dose, 0.0) for dose in doses]
    expected = sum(amount * a * gone * np.exp(-a * gone) for gone, amount in zip(elapsed, amounts))
    np.testing.assert_allclose(result.y[:50, :, 1], expected, rtol=0, atol=1e-12)
    # only the daughter shown: its exact values still include the parent's feed
    daughter_only = solve_batched(decay_chain, np.zeros((200, 2)), params, times, event_times, event_state,
                                  event_amount, rtol=1e-6, atol=1e-9, linear_states=[0, 1], linear_rates=params,
                                  linear_sources=[[1, 0]], linear_weights=params[:, :1], output_states=[1])
    np.testing.assert_array_equal(daughter_only.y[:, :, 0], result.y[:, :, 1])


def test_linear_states_leave_the_driven_state_accurate_with_fewer_steps():
    """A fast driver (100/d) with residual (20/d) acting on a nonlinear state, against solve_ivp at rtol 1e-12."""
    params = np.array([[100.0, 20.0], [33.0, 33.0], [5.0, 11.0]])
    times = np.linspace(0.0, 20.0, 41)
    events = (np.array([[0.0, 7.0]] * 3), np.zeros((3, 2), dtype=int), np.array([[10.0, 10.0]] * 3))
    y0 = np.array([[0.0, 0.0, 1.0]] * 3)
    plain = solve_batched(driven_growth, y0, params, times, *events, rtol=1e-8, atol=1e-10)
    exact = solve(driven_growth, y0, params, times, events, solver=Dopri5(PIController(rtol=1e-8, atol=1e-10)),
                  linear=LinearSystem(states=[0, 1], rates=params, sources=[[1, 0]], weights=[1.0]))
    for patient in range(3):
        reference = []
        state = y0[patient].copy()
        for start, end in ((0.0, 7.0), (7.0, 20.0)):
            state[0] += 10.0
            inside = times[(times >= start) & (times <= end)]
            solution = solve_ivp(lambda t, y: _derivative(driven_growth, t, y, params[patient]), (start, end), state,
                                 method="DOP853", rtol=1e-12, atol=1e-14, t_eval=inside, dense_output=True)
            reference.append(solution.y[2][inside < end] if end < 20.0 else solution.y[2])
            state = solution.y[:, -1].copy()
        # rtol 1e-8 integration: global error below 1e-6 relative (V from 1 down to ~1e-2)
        np.testing.assert_allclose(exact.y[patient, :, 2], np.concatenate(reference), rtol=1e-6, atol=1e-10)
    assert np.all(exact.accepted_steps < plain.accepted_steps)


def _derivative(function, t, y, p):
    result = np.empty_like(y)
    function(t, y, p, result)
    return result


@pytest.mark.parametrize("arguments", [
    dict(linear_states=[0, 0], linear_rates=[1.0, 1.0]),
    dict(linear_states=[0, 1], linear_rates=[1.0, -1.0]),
    dict(linear_states=[0, 1], linear_rates=[1.0, 1.0], linear_sources=[[1, 0], [0, 1]]),
])
def test_bad_linear_states_are_refused(arguments):
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(2)
    with pytest.raises(InputError):
        solve_batched(decay_chain, np.zeros((2, 2)), params, np.linspace(0, 5, 6), event_times, event_state,
                      event_amount, **arguments)


@numba.njit
def linear_pair(t, y, p, dydt):
    """x' = Mx for two states, M = [[p0, p1], [p2, p3]]."""
    dydt[0] = p[0] * y[0] + p[1] * y[1]
    dydt[1] = p[2] * y[0] + p[3] * y[1]


def test_linear_blocks_are_propagated_exactly():
    """A two-compartment antibody (pembrolizumab's typical CL 0.22, V1 3.48, Q 0.795, V2 4.06 L/d, Ahamadi et al.
    2017) given 200 mg q3w, as a 2×2 block: the matrix exponential (scipy.linalg.expm, superposed over the
    infusions) to rounding, 1e-9 mg on amounts up to 200 mg, although rtol is 1e-6. Also the degenerate
    blocks: no exchange (eigenvalues −0.3 and 0) and a repeated eigenvalue."""
    from scipy.linalg import expm

    clearance, volume, exchange, peripheral = 0.22, 3.48, 0.795, 4.06
    matrices = np.array([[[-(clearance + exchange) / volume, exchange / peripheral],
                          [exchange / volume, -exchange / peripheral]],
                         [[-0.3, 0.0], [0.0, 0.0]],
                         [[-0.2, 0.0], [0.0, -0.2]]])
    infusions = np.arange(0.0, 126.0, 21.0)
    times = np.linspace(0.0, 140.0, 281)
    events = (np.tile(infusions, (3, 1)), np.zeros((3, infusions.size), dtype=int), np.full((3, infusions.size), 200.0))
    y0 = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 50.0]])
    result = solve_batched(linear_pair, y0, matrices.reshape(3, 4), times, *events, rtol=1e-6, atol=1e-9,
                           linear_blocks=[[0, 1]], linear_block_matrices=matrices[:, None])
    assert np.all(result.status == SUCCESS)
    for patient in range(3):
        expected = np.array([expm(matrices[patient] * t) @ y0[patient] for t in times])
        for given in infusions:
            elapsed = np.maximum(times - given, 0.0)
            expected += (times >= given)[:, None] * np.array([expm(matrices[patient] * e) @ [200.0, 0.0]
                                                             for e in elapsed])
        np.testing.assert_allclose(result.y[patient], expected, rtol=0, atol=1e-9)
    # the peripheral amount shown alone is as exact
    peripheral_only = solve_batched(linear_pair, y0, matrices.reshape(3, 4), times, *events, rtol=1e-6, atol=1e-9,
                                    linear_blocks=[[0, 1]], linear_block_matrices=matrices[:, None], output_states=[1])
    np.testing.assert_allclose(peripheral_only.y[..., 0], result.y[..., 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("arguments", [
    dict(linear_blocks=[[0, 1]], linear_block_matrices=[[0.0, 1.0], [-1.0, 0.0]]),  # complex eigenvalues
    dict(linear_blocks=[[0, 1]], linear_block_matrices=[[-1.0, 0.0], [0.0, np.nan]]),
    dict(linear_blocks=[[0, 1]], linear_block_matrices=None),
    dict(linear_blocks=[[0, 0]], linear_block_matrices=np.eye(2)),
    dict(linear_blocks=[[0, 1]], linear_block_matrices=-np.eye(2), linear_states=[1], linear_rates=[1.0]),
])
def test_bad_linear_blocks_are_refused(arguments):
    with pytest.raises(InputError) as error:
        solve_batched(linear_pair, np.ones((2, 2)), np.ones((2, 4)), np.linspace(0, 5, 6), **arguments)
    assert "linear_block" in str(error.value)


# --- the solver as objects ----------------------------------------------------------------------------------

def test_dormand_prince_tableau_satisfies_its_order_conditions():
    """Quadrature conditions Σ b_i c_i^(k−1) = 1/k for k ≤ 5 (order 5) and, for the embedded b̂ = b − error,
    k ≤ 4 (order 4) but not 5; row sums of a equal c; Σ b_i a_ij c_j = 1/6 (HNW 1993, II.2, table 2.2)."""
    tableau = DORMAND_PRINCE_54
    b, c = np.array(tableau.b), np.array(tableau.c)
    embedded = b - np.array(tableau.error)
    a = np.zeros((7, 7))
    for row, weights in enumerate(tableau.a):
        a[row, :len(weights)] = weights
    for k in range(1, 6):
        assert b @ c ** (k - 1) == pytest.approx(1.0 / k, abs=1e-15)
    for k in range(1, 5):
        assert embedded @ c ** (k - 1) == pytest.approx(1.0 / k, abs=1e-15)
    assert abs(embedded @ c ** 4 - 0.2) > 1e-4
    np.testing.assert_allclose(a.sum(axis=1), c, atol=1e-14)
    assert b @ a @ c == pytest.approx(1.0 / 6.0, abs=1e-15)
    assert tableau.a[6] == tableau.b[:6]  # first same as last: the 7th stage is f at the new point


def test_a_tableau_the_kernel_cannot_run_is_refused():
    changed = dataclasses.replace(DORMAND_PRINCE_54, c=(0.0, 0.25) + DORMAND_PRINCE_54.c[2:])
    with pytest.raises(InputError, match="tableau"):
        Dopri5(tableau=changed)


def test_controller_constants_reach_the_kernel():
    """A smaller safety factor takes more, smaller steps for the same tolerance; both meet it (Bateman)."""
    params, event_times, event_state, event_amount, doses, amounts = chain_with_doses(20)
    times = np.linspace(0.0, 30.0, 31)
    events = (event_times, event_state, event_amount)
    steps = {}
    for safety in (0.9, 0.5):
        controller = PIController(rtol=1e-7, atol=1e-10, safety=safety)
        result = solve(decay_chain, np.zeros((20, 2)), params, times, events, solver=Dopri5(controller))
        parent, daughter = bateman(params, doses, amounts, times)
        np.testing.assert_allclose(result.y[:, :, 1], daughter, rtol=1e-5, atol=1e-9)
        steps[safety] = result.accepted_steps.sum()
    assert steps[0.5] > 1.2 * steps[0.9]


def test_solve_batched_is_solve_with_named_parts():
    params, event_times, event_state, event_amount, _, _ = chain_with_doses(4)
    times = np.linspace(0.0, 25.0, 11)
    named = solve_batched(decay_chain, np.zeros((4, 2)), params, times, event_times, event_state, event_amount,
                          rtol=1e-7, atol=1e-10, method="auto", linear_states=[0], linear_rates=params[:, :1])
    objects = solve(decay_chain, np.zeros((4, 2)), params, times, (event_times, event_state, event_amount),
                    solver=Auto(Dopri5(PIController(rtol=1e-7, atol=1e-10))),
                    linear=LinearSystem(states=[0], rates=params[:, :1]))
    np.testing.assert_array_equal(named.y, objects.y)


@pytest.mark.parametrize("options", [dict(rtol=0.0), dict(atol=-1.0), dict(safety=1.5), dict(beta=0.3),
                                     dict(factor_min=2.0)])
def test_bad_controller_values_are_refused(options):
    with pytest.raises(InputError):
        PIController(**options)


def test_an_unknown_solver_is_refused():
    with pytest.raises(InputError, match="solver"):
        solve(decay_chain, np.zeros((1, 2)), np.ones((1, 2)), np.array([0.0, 1.0]), solver="dopri5")
