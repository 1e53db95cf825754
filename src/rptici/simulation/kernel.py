"""The per-patient Dormand–Prince integrator and the patient loop, as module-level source that
:func:`rptici.simulation.solver.kernel_source` specialises (the method is described in :mod:`.solver`).

Each specialisation is a copy of this text with the block below replaced by the right-hand side it calls, the
tableau's coefficients, the controller's constants and the decorators of its backend, all written as literals,
so that numba folds them into the compiled code and can cache it on disk per copy (the copy's name is a hash of
its text: another right-hand side, tableau or controller gives another copy). This file itself is a template
and is never imported.

``rhs(t, y, p, dydt)``: the model's equations. ``compile``: the helpers and ``integrate_patient``
(``numba.njit``); ``inline``: the helpers whose calls cost more than their body (``numba.njit(inline="always")``:
an array-laden call in numba pays for every array passed; inlined, the per-step ``propagate`` made the solver
~6 % faster); ``batch_compile`` and ``parallel_range``: the patient loop (``numba.njit(parallel=True, nogil=True)``
and ``numba.prange``). Without numba all four are the identity and ``range``.
"""

import math

import numpy as np

# --- specialisation: each copy assigns here rhs, compile, inline, batch_compile, parallel_range, the tableau's
# coefficients (C2..C5, A21..A76, E1..E7, D1..D7) and the controller's constants (BETA, SAFETY, FACTOR_MIN,
# FACTOR_MAX, EXPONENT, LOG_FACTOR_FLOOR) and UNIT_ROUNDOFF; see rptici.simulation.solver.kernel_source
# --- end of specialisation ---


@compile
def rms_norm(values, scale, controlled):
    total = 0.0
    for j in range(controlled.shape[0]):
        i = controlled[j]
        ratio = values[i] / scale[i]
        total += ratio * ratio
    return math.sqrt(total / max(controlled.shape[0], 1))


@compile
def decay_factors(rate, taus, stages, decays, column):
    """e^{−rate τ} for every τ of ``taus`` into ``decays[:, column]``.

    For the five stage times of a step (``stages``: taus = (1/5, 3/10, 4/5, 8/9, 1) h) all five are
    powers of q = e^{−rate h/90} (18, 27, 72, 80 and 90): one exponential and a few products instead of
    five exponentials (q^90 is within ~90 ulps, 2e-14 relative, far below any tolerance).
    """
    if not stages:
        for s in range(taus.shape[0]):
            decays[s, column] = math.exp(-rate * taus[s])
        return
    step = taus[4]
    q = math.exp(-rate * step / 90.0)
    q2 = q * q
    q9 = q2 * q2 * q2 * q2 * q
    q18 = q9 * q9
    q27 = q18 * q9
    q72 = q27 * q27 * q18
    decays[0, column] = q18
    decays[1, column] = q27
    decays[2, column] = q72
    decays[3, column] = q72 * q2 * q2 * q2 * q2
    decays[4, column] = q72 * q18


@compile
def difference_quotient(fast_decay, slow_decay, gap, inverse_gap, tau):
    """(e^{−λ_s τ} − e^{−λ_f τ})/(λ_f − λ_s) from the two decay factors, gap = λ_f − λ_s (and its inverse,
    computed once per pair); near gap τ = 0, where the difference cancels, τ e^{−λ_f τ} expm1(x)/x by its
    series in x = gap τ."""
    x = gap * tau
    if abs(x) > 0.01:
        return (slow_decay - fast_decay) * inverse_gap
    return tau * fast_decay * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x / 120.0))))


@inline
def block_eigenvalues(matrix):
    """(fast, gap, 1/gap) of a block's constant matrix (m11, m12, m21, m22): its eigenvalues are fast and
    fast + gap, gap ≥ 0 (real: validated; 1/gap is taken as 0 for a repeated eigenvalue)."""
    m11, m12, m21, m22 = matrix[0], matrix[1], matrix[2], matrix[3]
    root = math.sqrt(max(0.25 * (m11 - m22) * (m11 - m22) + m12 * m21, 0.0))
    return 0.5 * (m11 + m22) - root, 2.0 * root, 0.5 / root if root != 0.0 else 0.0


@inline
def block_after(x1, x2, matrix, fast, fast_decay, slow_decay, gap, inverse_gap, tau):
    """A block's two states τ after (x1, x2) by Sylvester's formula (see :func:`propagate`), from its
    eigenvalues fast and fast + gap and their factors e^{fast τ}, e^{(fast + gap) τ}; ``matrix`` is its
    (m11, m12, m21, m22)."""
    share = difference_quotient(fast_decay, slow_decay, gap, inverse_gap, tau)
    return (fast_decay * x1 + share * ((matrix[0] - fast) * x1 + matrix[1] * x2),
            fast_decay * x2 + share * (matrix[2] * x1 + (matrix[3] - fast) * x2))


@inline
def propagate(y, taus, stages, system, wanted, decays, out):
    """Exact values of the exact states ``taus[s]`` after the state ``y``, into ``out[s, k]`` (k in the
    order of ``exact_states``: the linear states, then each block's two states) where ``wanted`` (the
    sources of a wanted state must be wanted too); ``decays`` is scratch.

    A pure decay u' = −λu gives u e^{−λτ}; a state r' = Σ_j w_j u_j − μ r fed by pure decays gives
    r e^{−μτ} + Σ_j w_j u_j (e^{−λ_j τ} − e^{−μτ})/(μ − λ_j) (variation of constants). A block x' = Mx of
    two states with a constant 2×2 matrix M of real eigenvalues λ₁ ≥ λ₂ gives e^{Mτ}x, e^{Mτ} = e^{λ₂τ}I
    + (e^{λ₁τ} − e^{λ₂τ})/(λ₁ − λ₂) (M − λ₂I) (Sylvester's formula).
    """
    linear_states, linear_rates, source_target, source_from, source_weight, block_states, block_matrix = system
    m = linear_states.shape[0]
    times = taus.shape[0]
    for i in range(m):
        if not wanted[i]:
            continue
        value = y[linear_states[i]]
        if value == 0.0:  # a flushed or never-dosed state: no exponential to evaluate
            decays[0, i] = -1.0
            for s in range(times):
                out[s, i] = 0.0
        else:
            decay_factors(linear_rates[i], taus, stages, decays, i)
            for s in range(times):
                out[s, i] = value * decays[s, i]
    for pair in range(source_target.shape[0]):
        weight = source_weight[pair]
        j = source_from[pair]
        amount = y[linear_states[j]]
        i = source_target[pair]
        if weight == 0.0 or amount == 0.0 or not wanted[i]:
            continue
        if decays[0, i] < 0.0:
            decay_factors(linear_rates[i], taus, stages, decays, i)
        gap = linear_rates[i] - linear_rates[j]
        inverse_gap = 1.0 / gap if gap != 0.0 else 0.0
        for s in range(times):
            share = difference_quotient(decays[s, i], decays[s, j], gap, inverse_gap, taus[s])
            out[s, i] += weight * amount * share
    for b in range(block_states.shape[0]):
        first = m + 2 * b
        if not (wanted[first] or wanted[first + 1]):
            continue
        x1 = y[block_states[b, 0]]
        x2 = y[block_states[b, 1]]
        if x1 == 0.0 and x2 == 0.0:
            for s in range(times):
                out[s, first] = 0.0
                out[s, first + 1] = 0.0
            continue
        fast, gap, inverse_gap = block_eigenvalues(block_matrix[b])
        decay_factors(-fast, taus, stages, decays, first)
        decay_factors(-(fast + gap), taus, stages, decays, first + 1)
        for s in range(times):
            out[s, first], out[s, first + 1] = block_after(x1, x2, block_matrix[b], fast, decays[s, first],
                                                           decays[s, first + 1], gap, inverse_gap, taus[s])


@compile
def set_exact(table, row, exact_states, target):
    """Write row ``row`` of an exact-value table (see :func:`propagate`) into the state vector ``target``."""
    for k in range(exact_states.shape[0]):
        target[exact_states[k]] = table[row, k]


@compile
def exact_after(y, tau, system, exact_states, every, single, decays, one, target):
    """Set the exact states of ``target`` to their values ``tau`` after ``y`` (``every``: all True)."""
    single[0] = tau
    propagate(y, single, False, system, every, decays, one)
    set_exact(one, 0, exact_states, target)


@compile
def initial_step(t, y, f0, params, rtol, atol, h_limit, y1, f1, scale, controlled, system, exact_states, every,
                 single, decays, one):
    """Hairer's starting-step heuristic (HNW 1993, II.4, 'Starting Step Size'), order 5, over the
    error-controlled states."""
    n = y.shape[0]
    for i in range(n):
        scale[i] = atol[i] + rtol * abs(y[i])
    norm_f = rms_norm(f0, scale, controlled)
    norm_y = rms_norm(y, scale, controlled)
    if norm_f <= 1e-10 or norm_y <= 1e-10:
        h = 1e-6
    else:
        h = 0.01 * norm_y / norm_f
    h = min(h, h_limit)
    for i in range(n):
        y1[i] = y[i] + h * f0[i]
    exact_after(y, h, system, exact_states, every, single, decays, one, y1)
    rhs(t + h, y1, params, f1)
    for i in range(n):
        y1[i] = f1[i] - f0[i]
    second = rms_norm(y1, scale, controlled) / h
    largest = max(abs(second), norm_f)
    if not math.isfinite(largest):
        return min(h, h_limit)
    if largest <= 1e-15:
        h1 = max(1e-6, h * 1e-3)
    else:
        h1 = (0.01 / largest) ** 0.2
    return min(100.0 * h, h1, h_limit)


@compile
def integrate_patient(y0, params, t0, t_out, event_times, event_state, event_amount, rtol, atol, max_steps,
                      h_max, output_states, flush_states, flush_level, controlled, system, exact_states,
                      exact_output, active, out, info):
    """Integrate one patient from ``t0``; write ``out[time, output state]``; return a status code.

    ``info`` receives accepted steps, rejected steps, right-hand-side evaluations and the time reached.
    The exact states (linear states and blocks) are set to their exact values at every stage
    (:func:`propagate`); the error norm runs over ``controlled`` only. After an event that changes only
    exact states the step continues at the size the controller proposed before stopping there.

    ``active``: the patient's equations use only his first ``active`` states; the others are constant and ``rhs``
    neither reads them nor changes them (absent lesions), so the stages leave them out (a jump of an event still
    counts its state in). Their derivatives and error terms are exactly 0, so the results are the same to the bit.
    """
    n = y0.shape[0]
    m = min(max(active, 1), n)  # the states the stages update
    for e in range(event_times.shape[0]):
        if event_amount[e] != 0.0 and math.isfinite(event_times[e]) and event_state[e] >= m:
            m = event_state[e] + 1
    n_out = t_out.shape[0]
    n_events = event_times.shape[0]
    n_selected = output_states.shape[0]
    n_flush = flush_states.shape[0]
    y = y0.copy()
    y_new = y0.copy()  # the states from m on keep their values here, as in y
    stage = y0.copy()
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    k7 = np.empty(n)
    scale = np.empty(n)
    n_exact = exact_states.shape[0]
    decays = np.empty((5, n_exact))  # scratch of propagate: decay factors at up to five times
    table = np.empty((5, n_exact))  # exact states at the five stage times of a step
    one = np.empty((1, n_exact))
    taus = np.empty(5)
    single = np.empty(1)
    n_controlled = controlled.shape[0]
    every = np.ones(n_exact, dtype=np.bool_)
    for_output = np.zeros(n_exact, dtype=np.bool_)  # exact states shown, and the sources that feed them
    linear_output = False
    for j in range(n_selected):
        if exact_output[j] >= 0:
            for_output[exact_output[j]] = True
            linear_output = True
    for pair in range(system[2].shape[0]):
        if for_output[system[2][pair]]:
            for_output[system[3][pair]] = True
    n_linear = system[0].shape[0]
    n_blocks = system[5].shape[0]
    shown_block = np.zeros(n_blocks, dtype=np.bool_)
    block_fast = np.zeros(n_blocks)  # eigenvalues fast and fast + gap of each block (constant matrices)
    block_gap = np.zeros(n_blocks)
    block_inverse_gap = np.zeros(n_blocks)
    for b in range(n_blocks):
        shown_block[b] = for_output[n_linear + 2 * b] or for_output[n_linear + 2 * b + 1]
        block_fast[b], block_gap[b], block_inverse_gap[b] = block_eigenvalues(system[6][b])
    blocks_only = True
    for i in range(n_linear):
        if for_output[i]:
            blocks_only = False
    is_exact = np.zeros(n, dtype=np.bool_)
    for i in range(n_exact):
        is_exact[exact_states[i]] = True
    h_free = 0.0
    accepted = 0
    rejected = 0
    evaluations = 0
    t = t0
    info[3] = t
    for i in range(n):
        if not math.isfinite(y[i]):
            return 4
    t_final = t_out[n_out - 1]
    event = 0
    while event < n_events and event_times[event] < t:
        event += 1
    while event < n_events and event_times[event] <= t:
        y[event_state[event]] += event_amount[event]
        event += 1
    output = 0
    while output < n_out and t_out[output] <= t:
        for j in range(n_selected):
            out[output, j] = y[output_states[j]]
        output += 1
    if output == n_out:
        return 0
    rhs(t, y, params, k1)
    evaluations += 1
    for i in range(n):
        if not math.isfinite(k1[i]):
            return 3
    t_stop = t_final
    if event < n_events and event_times[event] < t_stop:
        t_stop = event_times[event]
    h = initial_step(t, y, k1, params, rtol, atol, min(h_max, t_stop - t), k2, k3, scale, controlled, system,
                     exact_states, every, single, decays, one)
    evaluations += 1
    log_factor_old = LOG_FACTOR_FLOOR
    last_rejected = False
    non_finite = False
    arrived = False
    while True:
        if arrived:
            arrived = False
            jumped = False
            jumped_controlled = False
            while event < n_events and event_times[event] <= t:
                y[event_state[event]] += event_amount[event]
                jumped_controlled = jumped_controlled or not is_exact[event_state[event]]
                event += 1
                jumped = True
            while output < n_out and t_out[output] <= t:
                for j in range(n_selected):
                    out[output, j] = y[output_states[j]]
                output += 1
            if output == n_out:
                info[0], info[1], info[2], info[3] = accepted, rejected, evaluations, t
                return 0
            t_stop = t_final
            if event < n_events and event_times[event] < t_stop:
                t_stop = event_times[event]
            if jumped:
                rhs(t, y, params, k1)
                evaluations += 1
                for i in range(n):
                    if not math.isfinite(k1[i]):
                        info[0], info[1], info[2], info[3] = accepted, rejected, evaluations, t
                        return 3
                if jumped_controlled:
                    h = initial_step(t, y, k1, params, rtol, atol, min(h_max, t_stop - t), k2, k3, scale,
                                     controlled, system, exact_states, every, single, decays, one)
                    evaluations += 1
                    log_factor_old = LOG_FACTOR_FLOOR
                else:  # the controlled states are continuous here: keep the step the controller wanted
                    h = min(max(h, h_free), h_max)
                h_free = 0.0
        room = t_stop - t
        if room <= 16.0 * UNIT_ROUNDOFF * max(abs(t), 1.0):
            # the stop point is within rounding of t: move there by an Euler step (error O(room²))
            for i in range(n):
                y_new[i] = y[i] + room * k1[i]
            if n_exact:
                exact_after(y, room, system, exact_states, every, single, decays, one, y_new)
            for i in range(n):
                y[i] = y_new[i]
            t = t_stop
            arrived = True
            continue
        if accepted + rejected >= max_steps:
            info[0], info[1], info[2], info[3] = accepted, rejected, evaluations, t
            return 1
        if h <= 16.0 * UNIT_ROUNDOFF * max(abs(t), 1.0):
            info[0], info[1], info[2], info[3] = accepted, rejected, evaluations, t
            return 3 if non_finite else 2
        last = False
        if t + 1.01 * h >= t_stop:
            h_free = h
            h = t_stop - t
            last = True
        if n_exact:  # the exact states at all stage times at once
            taus[0], taus[1], taus[2], taus[3], taus[4] = C2 * h, C3 * h, C4 * h, C5 * h, h
            propagate(y, taus, True, system, every, decays, table)
        for i in range(m):
            stage[i] = y[i] + h * A21 * k1[i]
        set_exact(table, 0, exact_states, stage)
        rhs(t + C2 * h, stage, params, k2)
        for i in range(m):
            stage[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i])
        set_exact(table, 1, exact_states, stage)
        rhs(t + C3 * h, stage, params, k3)
        for i in range(m):
            stage[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
        set_exact(table, 2, exact_states, stage)
        rhs(t + C4 * h, stage, params, k4)
        for i in range(m):
            stage[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
        set_exact(table, 3, exact_states, stage)
        rhs(t + C5 * h, stage, params, k5)
        for i in range(m):
            stage[i] = y[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i])
        set_exact(table, 4, exact_states, stage)
        rhs(t + h, stage, params, k6)
        for i in range(m):
            y_new[i] = y[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i])
        set_exact(table, 4, exact_states, y_new)  # the exact values at t + h
        rhs(t + h, y_new, params, k7)
        evaluations += 6
        total = 0.0
        for j in range(n_controlled):
            i = controlled[j]
            if i >= m:  # controlled is sorted: the rest are constant states, whose error terms are 0
                break
            estimate = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i])
            ratio = estimate / (atol[i] + rtol * max(abs(y[i]), abs(y_new[i])))
            total += ratio * ratio
        error = math.sqrt(total / max(n_controlled, 1))
        if not math.isfinite(error):
            non_finite = True
            rejected += 1
            last_rejected = True
            h *= 0.1
            continue
        non_finite = False
        # PI controller in logarithms: factor = error^EXPONENT / error_old^BETA (one log, one exp a step)
        log_error = math.log(error) if error > 0.0 else -math.inf
        factor = math.exp(EXPONENT * log_error - BETA * log_factor_old)
        factor = max(1.0 / FACTOR_MAX, min(1.0 / FACTOR_MIN, factor / SAFETY))
        h_new = h / factor
        if error > 1.0:
            rejected += 1
            last_rejected = True
            h = h / min(1.0 / FACTOR_MIN, math.exp(EXPONENT * log_error) / SAFETY)
            continue
        accepted += 1
        log_factor_old = max(log_error, LOG_FACTOR_FLOOR)
        if last_rejected:
            h_new = min(h_new, h)
        last_rejected = False
        t_new = t_stop if last else t + h
        if output < n_out and t_out[output] < t_new:
            for j in range(n_selected):
                s = output_states[j]
                difference = y_new[s] - y[s]
                # dense coefficients of DOPRI5 (HNW 1993, II.6; dopri5.f, routine contd5)
                stage[s] = h * k1[s] - difference
                scale[s] = difference - h * k7[s] - stage[s]
                k2[s] = h * (D1 * k1[s] + D3 * k3[s] + D4 * k4[s] + D5 * k5[s] + D6 * k6[s] + D7 * k7[s])
            while output < n_out and t_out[output] < t_new:
                theta = (t_out[output] - t) / h
                theta_1 = 1.0 - theta
                for j in range(n_selected):
                    s = output_states[j]
                    out[output, j] = y[s] + theta * (y_new[s] - y[s] + theta_1 * (
                        stage[s] + theta * (scale[s] + theta_1 * k2[s])))
                if linear_output:  # exact states: their exact values, not the interpolant
                    tau = t_out[output] - t
                    if blocks_only:  # only block states shown: their eigenvalues are known (faster)
                        for b in range(n_blocks):
                            if shown_block[b]:
                                fast = block_fast[b]
                                first = n_linear + 2 * b
                                one[0, first], one[0, first + 1] = block_after(
                                    y[system[5][b, 0]], y[system[5][b, 1]], system[6][b], fast,
                                    math.exp(fast * tau), math.exp((fast + block_gap[b]) * tau), block_gap[b],
                                    block_inverse_gap[b], tau)
                    else:
                        single[0] = tau
                        propagate(y, single, False, system, for_output, decays, one)
                    for j in range(n_selected):
                        if exact_output[j] >= 0:
                            out[output, j] = one[0, exact_output[j]]
                output += 1
        t = t_new
        for i in range(m):
            y[i] = y_new[i]
            k1[i] = k7[i]
        for j in range(n_flush):
            i = flush_states[j]
            if y[i] != 0.0 and abs(y[i]) < flush_level[j]:
                y[i] = 0.0
                y_new[i] = 0.0  # a state from m on is not copied from y_new: keep the two equal
                k1[i] = 0.0
        h = min(h_new, h_max)
        arrived = last


@batch_compile
def batch(y0, params, t0, t_out, event_times, event_state, event_amount, rtol, atol, max_steps, h_max,
          output_states, flush_states, flush_level, controlled, linear_states, linear_rates, source_target,
          source_from, source_weight, block_states, block_matrix, exact_states, exact_output, active, out, status,
          info):
    for patient in parallel_range(y0.shape[0]):
        code = integrate_patient(y0[patient], params[patient], t0, t_out, event_times[patient],
                                 event_state[patient], event_amount[patient], rtol, atol, max_steps, h_max,
                                 output_states, flush_states, flush_level[patient], controlled,
                                 (linear_states, linear_rates[patient], source_target, source_from,
                                  source_weight[patient], block_states, block_matrix[patient]),
                                 exact_states, exact_output, active[patient], out[patient], info[patient])
        status[patient] = code
        if code != 0:
            out[patient, :, :] = np.nan
