"""Oracle: the same equations integrated patient by patient with plain ``scipy.integrate.solve_ivp``.

Independent of :mod:`rptici.simulation.solver` on purpose: it shares only the model inputs (the
right-hand side, initial states, parameters and event lists), integrates each patient piecewise between
its events (state jumps applied between segments; outputs at an event time show the state after the
jump), and uses the pure-Python right-hand side ``rhs.py_func`` by default. It is the correctness reference
of tests/simulation/test_engine.py, of ``rptici validate`` (code verification) and the speed baseline of
benchmarks/bench_engine.py.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp


def oracle_patient(rhs: Callable, y0: np.ndarray, params: np.ndarray, t_out: np.ndarray, event_times: np.ndarray,
                   event_state: np.ndarray, event_amount: np.ndarray, t0: float = 0.0, method: str = "DOP853",
                   rtol: float = 1e-11, atol: float = 1e-13) -> tuple[np.ndarray, int]:
    """States (times, states) of one patient at ``t_out`` and the number of right-hand-side evaluations."""

    def derivative(time_d, state):
        result = np.empty_like(state)
        rhs(time_d, state, params, result)
        return result

    final = float(t_out[-1])
    used = np.isfinite(event_times) & (event_times <= final)
    times, states, amounts = event_times[used], event_state[used], event_amount[used]
    boundaries = np.unique(np.concatenate([[t0], times, [final]]))
    y = np.array(y0, dtype=float)
    out = np.full((t_out.size, y.size), np.nan)
    evaluations = 0
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        for state, amount in zip(states[times == start], amounts[times == start]):
            y[state] += amount
        inside = (t_out >= start) & (t_out < end)
        solution = solve_ivp(derivative, (start, end), y, method=method, rtol=rtol, atol=atol,
                             dense_output=bool(np.any(inside)))
        evaluations += int(solution.nfev)
        if solution.status != 0:
            return out, evaluations
        if np.any(inside):
            out[inside] = solution.sol(t_out[inside]).T
        y = solution.y[:, -1].copy()
    for state, amount in zip(states[times == final], amounts[times == final]):
        y[state] += amount
    out[t_out == final] = y
    return out, evaluations


def oracle(rhs: Callable, y0: np.ndarray, params: np.ndarray, t_out: np.ndarray, event_times: np.ndarray,
           event_state: np.ndarray, event_amount: np.ndarray, t0: float = 0.0, method: str = "DOP853",
           rtol: float = 1e-11, atol: float = 1e-13, pure_python: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """States (patients, times, states) for every patient, and the wall time (s) of each patient."""
    function = getattr(rhs, "py_func", rhs) if pure_python else rhs
    t_out = np.asarray(t_out, dtype=float)
    result = np.empty((y0.shape[0], t_out.size, y0.shape[1]))
    seconds = np.empty(y0.shape[0])
    for patient in range(y0.shape[0]):
        begin = time.perf_counter()
        result[patient], _ = oracle_patient(function, y0[patient], params[patient], t_out, event_times[patient],
                                            event_state[patient], event_amount[patient], t0, method, rtol, atol)
        seconds[patient] = time.perf_counter() - begin
    return result, seconds
