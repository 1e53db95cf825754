"""Batched ODE integration: one adaptive Dormand–Prince 5(4) integrator per patient, patients in parallel.

Why this design (DESIGN.md, "Numerical engine"): patients differ by orders of magnitude in how fast their
dynamics move, so each keeps its own adaptive step (a step shared by the batch is set by the worst
patient); a numba-compiled kernel runs patients in parallel threads (``numba.prange``); dosing events are
jumps in the state, so each patient is integrated piecewise between its own events, and a step never
crosses one.

Method: the solver is an object, in the manner of diffrax (a solver is its tableau, the step-size
controller is an object beside it): :class:`Dopri5` holds the explicit Runge–Kutta pair of Dormand & Prince
(1980, J Comput Appl Math 6:19) as a :class:`RungeKuttaTableau` (:data:`DORMAND_PRINCE_54`, with DOPRI5's
4th-order continuous extension) and a :class:`PIController` (tolerances, β = 0.04, safety 0.9; Hairer,
Nørsett & Wanner, *Solving Ordinary Differential Equations I*, 2nd ed., Springer 1993, sections II.4–II.6
and the code ``dopri5.f``). The kernel takes the tableau's coefficients and the controller's constants as
literals of its generated source, which numba folds into the compiled code. The error norm is the root mean square of
``error_i / (atol_i + rtol·max(|y_i|, |y_new_i|))``.

Layout: patient-major. ``y0`` is (patients, states), ``params`` (patients, parameters), events
(patients, events); the output is (patients, times, output states). Each patient's state is then one
contiguous vector, which is what a per-patient right-hand side ``rhs(t, y, p, dydt)`` reads and writes, and
threads write disjoint blocks. A states × patients ``y0`` is accepted with ``states_first=True``.

Exact states: states with linear equations fed only by pure decays (:class:`LinearSystem` ``states``: dose-rate
drivers, repair residuals, signals they drive) and two-state linear systems with constant coefficients
(its ``blocks``: an antibody's central and peripheral amounts) are set to their exact solution at every
stage and left out of the error norm, so fast linear transients do not hold the step at their stability
limit. Their values at the five stage times of a step come from one call (the decay factors as powers of
e^{−λh/90}). After an event that changes only exact states the step continues at the size the controller
proposed before the stop (the controlled states are continuous there); after any other event the step
restarts from the initial-step heuristic.

Unused states: a patient's equations may use only the first states of the batch's layout (a patient with fewer
lesions than the layout has slots for); ``solve(..., active=)`` gives their number per patient, and the stages
leave the rest out. Their derivatives and error terms are exactly 0, so the numbers are the same to the bit (the
error norm's divisor stays the layout's count of controlled states); the standard trial's engine runs about 7 %
faster (``benchmarks/bench_steps.py``, December 2026).

Measured alternatives (prototypes built on this kernel and not kept; standard scenario of
``benchmarks/bench_engine.py``, 50 patients, rtol 1e-6, November 2026): the step is held by the lesion
effectors' decay k_E + α_L Ḋ (up to 11/d after an administration: accuracy of that transient in the first
days, the stability limit of DOPRI5 for weeks after) and by PD-L1 (1/d). An IMEX additive Runge–Kutta method
(Kennedy & Carpenter 2003 ARK4(3)6L[2]SA) with those decays implicit took 40 % more steps (1,030–1,080 against
741 per patient): its stage order 2 loses accuracy at hλ ≈ 1–3 (order reduction: on a test equation with decay
rate 50 its error fell 3.4× when h was halved, the explicit method's 12×). An explicit exponential Runge–Kutta
method (Hochbruck & Ostermann 2005, stiff order 4, with an order-3 embedded estimate) took 955 steps and left
10× larger errors at the daily outputs (its dense output is of order 3); its own explicit limit needs 1,407,
so the exponential treatment did cut its steps 1.5×. A method that keeps DOPRI5's order 5, 4th-order dense
output and error constants while treating those decays exponentially is what would lower the step count
further.

Events are right-continuous: an output requested at an event time shows the state *after* the jump.

Backends: ``"numba"`` (default when numba is installed) compiles the per-patient integrator (``kernel.py``,
specialised by :func:`kernel_source`) with the jitted ``rhs`` and keeps one compiled kernel per ``rhs``, tableau
and controller constants, on disk when ``rhs`` is the model's generated equations (:func:`batched_kernel`);
``"python"`` runs *the same source* uncompiled with ``rhs.py_func`` (slow, but rptici keeps working without
numba). The stiff-capable :class:`Radau` integrates each patient with :func:`scipy.integrate.solve_ivp`
(Radau IIA, order 5, finite-difference Jacobian) piecewise between the same events; :class:`Auto` runs
Dormand–Prince and re-integrates with Radau only the patients that failed with too many steps or a
step-size underflow (the symptoms of stiffness), recording ``used_stiff`` for them.

Every patient is integrated independently of the others with the same arithmetic, so the results do not
depend on thread count or on how patients are split into batches. A patient whose integration fails
(non-finite state or derivative, too many steps, step-size underflow, non-finite initial state) gets a
status code and NaN output; the others are unaffected.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..utils import codecache

try:  # numba is optional ("fast" extra); without it the same algorithm runs uncompiled
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

SUCCESS = 0
TOO_MANY_STEPS = 1
STEP_UNDERFLOW = 2
NON_FINITE = 3
NON_FINITE_INPUT = 4
STIFF_FAILED = 5

REASONS = {
    SUCCESS: "",
    TOO_MANY_STEPS: "too many steps (max_steps reached)",
    STEP_UNDERFLOW: "step size underflow",
    NON_FINITE: "non-finite state or derivative",
    NON_FINITE_INPUT: "non-finite initial state",
    STIFF_FAILED: "stiff solver (Radau) failed",
}

METHODS = ("dopri5", "radau", "auto")
BACKENDS = ("numba", "python")
UNIT_ROUNDOFF = 2.220446049250313e-16


@dataclass(frozen=True)
class RungeKuttaTableau:
    """An explicit Runge–Kutta pair with a continuous extension (a solver is its tableau).

    ``c`` nodes, ``a`` the stage matrix (row i: the weights of stages 0..i−1 in stage i), ``b`` the weights
    of the propagated solution (of ``order``), ``error`` the weights b − b̂ of the error estimate against the
    embedded solution, ``dense`` the weights of the continuous extension's last coefficient (HNW 1993, II.6).
    """

    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    error: tuple[float, ...]
    dense: tuple[float, ...]
    order: int
    embedded_order: int


#: Dormand & Prince 5(4) (1980, J Comput Appl Math 6:19; HNW 1993, table II.5.2) with DOPRI5's dense
#: output (``dopri5.f``, routine contd5): seven stages, the last at the new point (first same as last).
DORMAND_PRINCE_54 = RungeKuttaTableau(
    c=(0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0),
    a=((), (0.2,), (3.0 / 40.0, 9.0 / 40.0), (44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0),
       (19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0),
       (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0),
       (35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0)),
    b=(35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0),
    error=(71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0),
    dense=(-12715105075.0 / 11282082432.0, 0.0, 87487479700.0 / 32700410799.0, -10690763975.0 / 1880347072.0,
           701980252875.0 / 199316789632.0, -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0),
    order=5, embedded_order=4)


@dataclass(frozen=True)
class PIController:
    """Step-size control: tolerances and the PI controller of Hairer's ``dopri5.f`` (HNW 1993, II.4).

    The error norm is the root mean square of error_i/(atol_i + rtol·max(|y_i|, |y_new_i|)); the next step is
    h·min(1/factor_min, max(1/factor_max, safety⁻¹·error^(1/order − 0.75β)/error_old^β)), the previous error
    counted as at least 1e-4. ``atol``: a number or one per state.
    """

    rtol: float = 1e-6
    atol: float | tuple[float, ...] = 1e-9
    beta: float = 0.04
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0

    def __post_init__(self) -> None:
        if np.ndim(self.atol) > 0:
            object.__setattr__(self, "atol", tuple(float(value) for value in np.ravel(self.atol)))
        if not (UNIT_ROUNDOFF * 10 < float(self.rtol) < 1.0):
            raise InputError("rtol", self.rtol, "a relative tolerance in (2.2e-15, 1)")
        atol = np.asarray(self.atol, dtype=float)
        if np.any(~np.isfinite(atol)) or np.any(atol <= 0):
            raise InputError("atol", self.atol, "positive finite absolute tolerances (a number or one per state)")
        if not (0.0 <= self.beta < 0.2 and 0.0 < self.safety <= 1.0 and 0.0 < self.factor_min < 1.0 < self.factor_max):
            raise InputError("controller", self, "0 <= beta < 0.2, 0 < safety <= 1, factor_min < 1 < factor_max")

    @property
    def constants(self) -> tuple[float, float, float, float]:
        """(β, safety, factor_min, factor_max): what the compiled kernel folds in."""
        return (float(self.beta), float(self.safety), float(self.factor_min), float(self.factor_max))


@dataclass(frozen=True)
class Dopri5:
    """Adaptive explicit Runge–Kutta with the Dormand–Prince 5(4) tableau, one step size per patient."""

    controller: PIController = PIController()
    tableau: RungeKuttaTableau = DORMAND_PRINCE_54

    def __post_init__(self) -> None:
        tableau = self.tableau
        if tableau.c != DORMAND_PRINCE_54.c or tableau.a[6] != tableau.b[:6] or tableau.b[1] or tableau.error[1] \
                or tableau.dense[1]:
            raise InputError("tableau", tableau, "a 5(4) pair with the Dormand–Prince nodes, first same as last "
                                                 "(the kernel's stage structure)")


@dataclass(frozen=True)
class Radau:
    """Radau IIA of order 5 (:func:`scipy.integrate.solve_ivp`, finite-difference Jacobian) per patient:
    the stiff path, slow; uses the controller's tolerances."""

    controller: PIController = PIController()


@dataclass(frozen=True)
class Auto:
    """``explicit`` for every patient, then ``stiff`` for those that failed with too many steps or a
    step-size underflow (the symptoms of stiffness)."""

    explicit: Dopri5 = Dopri5()
    stiff: Radau = Radau()

    @property
    def controller(self) -> PIController:
        return self.explicit.controller


Solver = Dopri5 | Radau | Auto


def solver_for(method: str = "auto", rtol: float = 1e-6, atol=1e-9) -> Solver:
    """The solver object named ``method`` ("dopri5", "radau" or "auto") with these tolerances."""
    if method not in METHODS:
        raise InputError("method", method, "one of " + ", ".join(METHODS))
    controller = PIController(rtol=rtol, atol=atol)
    if method == "dopri5":
        return Dopri5(controller)
    if method == "radau":
        return Radau(controller)
    return Auto(Dopri5(controller), Radau(controller))


@dataclass(frozen=True)
class LinearSystem:
    """States the solver propagates exactly and leaves out of the error norm (see :func:`solve`).

    ``states`` (m,) with u_i' = −``rates``_i u_i + Σ_j w_ij u_j (rates (m,) or (patients, m), 1/d), the
    pairs ``sources`` ((pairs, 2): target i, source j, positions in ``states``) with ``weights`` ((pairs,)
    or (patients, pairs)); ``blocks`` (b, 2) pairs of states with x' = Mx, M = ``block_matrices`` ((b, 2, 2)
    or (patients, b, 2, 2), 1/d, real eigenvalues).
    """

    states: np.ndarray | None = None
    rates: np.ndarray | None = None
    sources: np.ndarray | None = None
    weights: np.ndarray | None = None
    blocks: np.ndarray | None = None
    block_matrices: np.ndarray | None = None


@dataclass(frozen=True)
class Flush:
    """States that only decay between events, set to exactly 0 after an accepted step once |u| < ``levels``
    ((states,) or (patients, states); default their atol). See :func:`solve`."""

    states: np.ndarray
    levels: np.ndarray | None = None


#: The kernel's source: module-level functions that :func:`kernel_source` specialises.
KERNEL_TEMPLATE = Path(__file__).with_name("kernel.py")
_SPECIALISATION = re.compile(r"^# --- specialisation.*?^# --- end of specialisation ---$", re.S | re.M)
#: Seconds the first compilation of the engine takes (18 s measured on two cores, December 2026); said while it runs.
COMPILE_SECONDS = 20
_log = logging.getLogger("rptici.engine")


def kernel_source(tableau: RungeKuttaTableau = DORMAND_PRINCE_54,
                  control: tuple[float, float, float, float] = PIController().constants, backend: str = "numba",
                  rhs_import: str | None = None, cache: bool = False) -> str:
    """The text of ``kernel.py`` with its specialisation block written out: the ``tableau``'s coefficients and
    the controller's ``control`` constants (β, safety, factor_min, factor_max) as literals (numba folds them into
    the compiled code), the decorators of ``backend`` (numba: ``njit``, with ``cache`` on disk or not; python:
    none) and ``rhs_import``, the line that binds ``rhs`` (None: the caller puts ``rhs`` in the namespace).
    """
    _, c2, c3, c4, c5, _, _ = tableau.c
    (a21,), (a31, a32), (a41, a42, a43), (a51, a52, a53, a54), (a61, a62, a63, a64, a65) = tableau.a[1:6]
    a71, _, a73, a74, a75, a76, _ = tableau.b
    e1, _, e3, e4, e5, e6, e7 = tableau.error
    d1, _, d3, d4, d5, d6, d7 = tableau.dense
    beta, safety, factor_min, factor_max = control
    values = dict(C2=c2, C3=c3, C4=c4, C5=c5, A21=a21, A31=a31, A32=a32, A41=a41, A42=a42, A43=a43, A51=a51,
                  A52=a52, A53=a53, A54=a54, A61=a61, A62=a62, A63=a63, A64=a64, A65=a65, A71=a71, A73=a73,
                  A74=a74, A75=a75, A76=a76, E1=e1, E3=e3, E4=e4, E5=e5, E6=e6, E7=e7, D1=d1, D3=d3, D4=d4, D5=d5,
                  D6=d6, D7=d7, BETA=beta, SAFETY=safety, FACTOR_MIN=factor_min, FACTOR_MAX=factor_max,
                  EXPONENT=1.0 / tableau.order - beta * 0.75,
                  # the previous error enters the PI controller as at least 1e-4 (dopri5.f)
                  LOG_FACTOR_FLOOR=math.log(1e-4), UNIT_ROUNDOFF=UNIT_ROUNDOFF)
    lines = ["# --- specialisation (generated by rptici.simulation.solver.kernel_source) ---"]
    if backend == "numba":
        lines += ["import numba", "",
                  f"compile = numba.njit(cache={cache})",
                  f"inline = numba.njit(inline='always', cache={cache})",
                  "# nogil: the caller may post-process the previous batch in another thread meanwhile",
                  f"batch_compile = numba.njit(parallel=True, nogil=True, cache={cache})",
                  "parallel_range = numba.prange"]
    else:
        lines += ["compile = inline = batch_compile = lambda function: function  # noqa: E731",
                  "parallel_range = range"]
    if rhs_import:
        lines.append(rhs_import)
    lines += [f"{name} = {float(value)!r}" for name, value in values.items()]
    lines.append("# --- end of specialisation ---")
    return _SPECIALISATION.sub(lambda _: "\n".join(lines), KERNEL_TEMPLATE.read_text(encoding="utf-8"), count=1)


def _in_memory_kernel(text: str, rhs: Callable):
    """Execute a kernel's ``text`` with ``rhs`` bound, in memory (compiled in this process only)."""
    namespace = {"__name__": "rptici_kernel", "rhs": rhs}
    exec(compile(text, str(KERNEL_TEMPLATE), "exec"), namespace)  # noqa: S102 - our own template
    return namespace["batch"]


_KERNELS: dict[tuple, Callable] = {}
_MODULES: dict[tuple, Any] = {}  # the generated module of each disk-cached kernel


def batched_kernel(rhs: Callable, backend: str = "numba", solver: Dopri5 = Dopri5()) -> Callable:
    """The batch kernel for ``rhs`` on ``backend``, built once and cached per right-hand side, tableau and
    controller constants (not the tolerances, which the kernel takes as arguments).

    With numba the per-patient integrator is compiled with the jitted ``rhs`` inlined into it and the patient loop
    runs in parallel with ``numba.prange``. When ``rhs`` is a generated module's function (the model's equations,
    :func:`rptici.immunity.equations.equations_for`) the kernel is generated too (:func:`kernel_source`, naming
    that module) and its machine code cached on disk (:mod:`rptici.utils.codecache`): the next process loads it
    instead of compiling. Any other ``rhs`` (e.g. a test's own) gets a kernel compiled in memory.
    """
    key = (rhs, backend, solver.tableau, solver.controller.constants)
    kernel = _KERNELS.get(key)
    if kernel is not None:
        return kernel
    tableau, control = solver.tableau, solver.controller.constants
    if backend == "numba":
        if numba is None:
            raise InputError("backend", backend, "'python' (numba is not installed)")
        jitted = rhs if hasattr(rhs, "py_func") else numba.njit(rhs)
        module = None
        origin = codecache.generated_name(getattr(jitted.py_func, "__module__", ""))
        if origin is not None and getattr(sys.modules[origin], jitted.py_func.__name__, None) is jitted:
            text = kernel_source(tableau, control, "numba", f"from {origin} import {jitted.py_func.__name__} as rhs",
                                 cache=True)
            module = codecache.generated_module("kernel", text)
        if module is not None:
            kernel = module.batch
            _MODULES[key] = module
        else:
            kernel = _in_memory_kernel(kernel_source(tableau, control, "numba"), jitted)
    elif backend == "python":
        kernel = _in_memory_kernel(kernel_source(tableau, control, "python"), getattr(rhs, "py_func", rhs))
    else:
        raise InputError("backend", backend, "one of " + ", ".join(BACKENDS))
    _KERNELS[key] = kernel
    return kernel


def kernel_ready(rhs: Callable, solver: Dopri5 = Dopri5()) -> bool:
    """Whether the numba kernel of ``rhs`` needs no compilation: compiled in this process, or in the disk cache."""
    if numba is None:
        return True
    key = (rhs, "numba", solver.tableau, solver.controller.constants)
    kernel = _KERNELS.get(key)
    if kernel is not None and kernel.signatures:
        return True
    batched_kernel(rhs, "numba", solver)
    module = _MODULES.get(key)
    return module is not None and codecache.is_cached(module, "batch")


def _compile_once(kernel: Callable, key: tuple, arguments: tuple) -> None:
    """Compile ``kernel`` for ``arguments`` before its first call in this process, saying so when it is not in the
    disk cache; other processes wait for a disk-cached kernel's first compilation and then load it."""
    if not hasattr(kernel, "signatures") or kernel.signatures:
        return
    module = _MODULES.get(key)

    def waiting() -> None:
        _log.info("waiting for another process that compiles the engine (first run only, about %d s)…",
                  COMPILE_SECONDS)

    with codecache.compile_lock(module, waiting) if module is not None else contextlib.nullcontext():
        if kernel.signatures:
            return
        if module is None or not codecache.is_cached(module, "batch"):
            _log.info("compiling the engine (first run only, about %d s)…", COMPILE_SECONDS)
        started = time.perf_counter()
        kernel.compile(tuple(numba.typeof(argument) for argument in arguments))
        _log.debug("engine ready after %.1f s", time.perf_counter() - started)


@dataclass
class BatchResult:
    """Solution of a batch: ``y[patient, time, output state]`` at ``t``, with a status per patient.

    ``status`` is 0 for success, else a code in :data:`REASONS`; a failed patient's rows are NaN.
    ``used_stiff`` marks patients integrated (or re-integrated) with the stiff Radau path.
    """

    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    output_states: np.ndarray
    accepted_steps: np.ndarray
    rejected_steps: np.ndarray
    evaluations: np.ndarray
    time_reached: np.ndarray
    used_stiff: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def success(self) -> np.ndarray:
        return self.status == SUCCESS

    @property
    def reasons(self) -> list[str]:
        """One string per patient: empty on success, else why and when the integration stopped."""
        texts = []
        for code, time in zip(self.status.tolist(), self.time_reached.tolist()):
            texts.append("" if code == SUCCESS else f"{REASONS.get(code, 'unknown failure')} at t = {time:.6g} d")
        return texts


def _validated(y0, params, t_out, t0, event_times, event_state, event_amount, rtol, atol, max_steps, h_max,
               output_states, states_first):
    y0 = np.array(y0, dtype=float, ndmin=2)
    if states_first:
        y0 = y0.T
    y0 = np.ascontiguousarray(y0)
    patients, states = y0.shape
    params = np.ascontiguousarray(np.asarray(params, dtype=float))
    if params.ndim == 1:
        params = np.ascontiguousarray(np.broadcast_to(params, (patients, params.size)))
    if params.ndim != 2 or params.shape[0] != patients:
        raise InputError("params", params.shape, f"an array (patients={patients}, parameters)")
    t_out = np.ascontiguousarray(np.atleast_1d(np.asarray(t_out, dtype=float)))
    if t_out.ndim != 1 or t_out.size == 0 or not np.all(np.isfinite(t_out)) or np.any(np.diff(t_out) < 0):
        raise InputError("t_out", t_out, "a non-empty, finite, non-decreasing 1-D array of times (d)")
    t0 = float(t_out[0]) if t0 is None else float(t0)
    if not math.isfinite(t0) or t0 > t_out[0]:
        raise InputError("t0", t0, f"a finite start time <= the first output time {t_out[0]}")
    if event_times is None:
        event_times = np.full((patients, 0), np.inf)
        event_state = np.zeros((patients, 0), dtype=np.int64)
        event_amount = np.zeros((patients, 0))
    event_times = np.array(event_times, dtype=float, ndmin=2)
    event_state = np.array(event_state, dtype=np.int64, ndmin=2)
    event_amount = np.array(event_amount, dtype=float, ndmin=2)
    shape = (patients, event_times.shape[1])
    for name, array in (("event_times", event_times), ("event_state", event_state), ("event_amount", event_amount)):
        if array.shape != shape:
            raise InputError(name, array.shape, f"an array of shape {shape} (patients, events), padded with +inf times")
    if np.any(np.isnan(event_times)) or np.any(event_times < t0):
        raise InputError("event_times", event_times, f"times >= t0 = {t0} (pad unused slots with +inf)")
    if np.any(np.diff(event_times, axis=1) < 0):
        raise InputError("event_times", event_times, "times sorted in each patient's row")
    used = np.isfinite(event_times)
    if np.any(used & ((event_state < 0) | (event_state >= states))):
        raise InputError("event_state", event_state, f"state indices in [0, {states})")
    if np.any(used & ~np.isfinite(event_amount)):
        raise InputError("event_amount", event_amount, "finite amounts")
    event_state = np.ascontiguousarray(np.where(used, event_state, 0))
    event_amount = np.ascontiguousarray(np.where(used, event_amount, 0.0))
    event_times = np.ascontiguousarray(event_times)
    rtol = float(rtol)
    if not (UNIT_ROUNDOFF * 10 < rtol < 1.0):
        raise InputError("rtol", rtol, "a relative tolerance in (2.2e-15, 1)")
    atol = np.ascontiguousarray(np.broadcast_to(np.asarray(atol, dtype=float), (states,)).copy())
    if np.any(~np.isfinite(atol)) or np.any(atol <= 0):
        raise InputError("atol", atol, f"positive finite absolute tolerances (a number or {states} values)")
    if int(max_steps) < 1:
        raise InputError("max_steps", max_steps, "a positive integer")
    h_max = float(np.inf if h_max is None else h_max)
    if not h_max > 0:
        raise InputError("h_max", h_max, "a positive maximum step (d)")
    output_states = np.arange(states) if output_states is None else np.atleast_1d(np.asarray(output_states))
    if output_states.dtype.kind not in "iu" or np.any((output_states < 0) | (output_states >= states)):
        raise InputError("output_states", output_states, f"integer state indices in [0, {states})")
    output_states = np.ascontiguousarray(output_states, dtype=np.int64)
    return (y0, params, t_out, t0, event_times, event_state, event_amount, rtol, atol, int(max_steps), h_max,
            output_states)


def solve(rhs: Callable, y0, params, t_out, events=None, *, solver: Solver | None = None,
          linear: LinearSystem | None = None, flush: Flush | None = None, output_states=None, t0: float | None = None,
          max_steps: int = 100_000, h_max: float | None = None, backend: str | None = None,
          states_first: bool = False, active=None) -> BatchResult:
    """Integrate ``y' = rhs(t, y, p)`` for every patient from ``t0`` (default ``t_out[0]``), output at ``t_out``.

    ``rhs(t, y, p, dydt)`` writes the derivative of one patient in place (numba-jitted for the fast path).
    ``y0`` (patients, states) — or (states, patients) with ``states_first`` — ``params`` (patients,
    parameters); ``events`` (event_times, event_state, event_amount), each (patients, events): at each event
    time ``y[state] += amount`` (rows sorted, padded with +inf). ``solver``: :class:`Dopri5`, :class:`Radau`
    or :class:`Auto` (default ``Auto()``), each with its :class:`PIController` (tolerances and step control).
    ``backend``: ``"numba"`` (default when installed) or ``"python"``. ``output_states``: the states returned.

    ``flush`` (:class:`Flush`): states that only decay between events (u' = −λu, such as dose-rate
    drivers); after an accepted step each is set to exactly 0 once |u| < its level. A fast decaying
    component integrated explicitly does not decay below the error-control noise (it hovers near atol, the
    step held at the stability limit h ≈ 3.3/λ for the rest of the run); set to zero it stays zero and no
    longer limits the step. The dose it would still have delivered is below level/λ. Radau does not flush.

    ``linear`` (:class:`LinearSystem`): states whose equations are linear, solved exactly instead of by the
    Runge–Kutta formula: u_i' = −λ_i u_i + Σ_j w_ij u_j, a source being a pure decay (not itself a target),
    and blocks x' = Mx of two states (a two-compartment antibody). At every stage of a step they are set to
    their exact values (:func:`_patient_integrator`'s ``propagate``: e^{−λτ} and the variation-of-constants
    term; e^{Mτ} by Sylvester's formula) and left out of the error norm, so fast linear decays (dose-rate
    drivers, repair residuals) no longer hold the step at their stability limit; the nonlinear states they
    drive keep full error control. ``rhs`` must still return their derivatives (Radau integrates them).

    ``active`` ((patients,) integers, default all states): patient p's equations use only his first
    ``active[p]`` states; the states after them are constant and ``rhs`` neither reads nor changes them (the
    slots of absent lesions). The explicit kernel's stages then leave them out — the same numbers to the bit,
    with less arithmetic for a patient with fewer lesions than the batch's layout.
    """
    solver = Auto() if solver is None else solver
    if not isinstance(solver, (Dopri5, Radau, Auto)):
        raise InputError("solver", solver, "Dopri5(...), Radau(...) or Auto(...)")
    backend = backend or ("numba" if numba is not None else "python")
    if backend not in BACKENDS:
        raise InputError("backend", backend, "one of " + ", ".join(BACKENDS))
    event_times, event_state, event_amount = (None, None, None) if events is None else events
    controller = solver.controller
    (y0, params, t_out, t0, event_times, event_state, event_amount, rtol, atol, max_steps, h_max,
     output_states) = _validated(y0, params, t_out, t0, event_times, event_state, event_amount, controller.rtol,
                                 controller.atol, max_steps, h_max, output_states, states_first)
    states = y0.shape[1]
    active = _validated_active(active, y0.shape[0], states)
    flush = Flush(np.zeros(0, dtype=np.int64)) if flush is None else flush
    flush_states = np.atleast_1d(np.asarray(flush.states))
    if flush_states.size and (flush_states.dtype.kind not in "iu" or np.any((flush_states < 0)
                                                                            | (flush_states >= states))):
        raise InputError("flush_states", flush_states, f"integer state indices in [0, {states})")
    flush_states = np.ascontiguousarray(flush_states, dtype=np.int64)
    shape = (y0.shape[0], flush_states.size)
    flush_level = np.broadcast_to(atol[flush_states] if flush.levels is None else np.asarray(flush.levels, dtype=float),
                                  shape).copy()
    if np.any(~np.isfinite(flush_level)) or np.any(flush_level < 0):
        raise InputError("flush_level", flush_level, "finite levels >= 0")
    flush_level = np.ascontiguousarray(flush_level, dtype=float)
    patients = y0.shape[0]
    linear = LinearSystem() if linear is None else linear
    exact = _validated_linear(linear.states, linear.rates, linear.sources, linear.weights, patients, states)
    blocks = _validated_blocks(linear.blocks, linear.block_matrices, exact[0], patients, states)
    exact_states = np.concatenate([exact[0], blocks[0].ravel()]).astype(np.int64)
    position = {state: number for number, state in enumerate(exact_states.tolist())}
    exact_output = np.array([position.get(state, -1) for state in output_states.tolist()], dtype=np.int64)
    controlled = np.setdiff1d(np.arange(states), exact_states).astype(np.int64)
    out = np.empty((patients, t_out.size, output_states.size))
    status = np.zeros(patients, dtype=np.int64)
    info = np.zeros((patients, 4))
    used_stiff = np.zeros(patients, dtype=bool)
    if isinstance(solver, Radau):
        stiff = np.ones(patients, dtype=bool)
    else:
        explicit = solver.explicit if isinstance(solver, Auto) else solver
        kernel = batched_kernel(rhs, backend, explicit)
        arguments = (y0, params, t0, t_out, event_times, event_state, event_amount, rtol, atol, max_steps, h_max,
                     output_states, flush_states, flush_level, controlled, *exact, *blocks, exact_states, exact_output,
                     active, out, status, info)
        if backend == "numba":
            _compile_once(kernel, (rhs, backend, explicit.tableau, explicit.controller.constants), arguments)
        kernel(*arguments)
        stiff = ((status == TOO_MANY_STEPS) | (status == STEP_UNDERFLOW) if isinstance(solver, Auto)
                 else np.zeros(patients, bool))
    for patient in np.flatnonzero(stiff):
        used_stiff[patient] = True
        code, time, evaluations = _radau_patient(rhs, y0[patient], params[patient], t0, t_out, event_times[patient],
                                                 event_state[patient], event_amount[patient], rtol, atol,
                                                 output_states, out[patient])
        status[patient] = code
        info[patient] = (0, 0, evaluations, time)
    return BatchResult(t=t_out, y=out, status=status, output_states=output_states,
                       accepted_steps=info[:, 0].astype(np.int64), rejected_steps=info[:, 1].astype(np.int64),
                       evaluations=info[:, 2].astype(np.int64), time_reached=info[:, 3], used_stiff=used_stiff)


def solve_batched(rhs: Callable, y0, params, t_out, event_times=None, event_state=None, event_amount=None, *,
                  t0: float | None = None, rtol: float = 1e-6, atol=1e-9, max_steps: int = 100_000,
                  h_max: float | None = None, output_states=None, flush_states=None, flush_level=None,
                  linear_states=None, linear_rates=None, linear_sources=None, linear_weights=None,
                  linear_blocks=None, linear_block_matrices=None, method: str = "dopri5",
                  backend: str | None = None, states_first: bool = False) -> BatchResult:
    """:func:`solve` with the method as a name and the parts as keywords (the earlier interface, kept for its
    callers): ``method`` "dopri5", "radau" or "auto" (:func:`solver_for`), ``flush_*`` a :class:`Flush`,
    ``linear_*`` a :class:`LinearSystem`."""
    events = None if event_times is None else (event_times, event_state, event_amount)
    flush = None if flush_states is None else Flush(flush_states, flush_level)
    linear = LinearSystem(linear_states, linear_rates, linear_sources, linear_weights, linear_blocks,
                          linear_block_matrices)
    return solve(rhs, y0, params, t_out, events, solver=solver_for(method, rtol, atol), linear=linear, flush=flush,
                 output_states=output_states, t0=t0, max_steps=max_steps, h_max=h_max, backend=backend,
                 states_first=states_first)


def _validated_active(active, patients: int, states: int) -> np.ndarray:
    """The number of states each patient's equations use, (patients,) int64 (all of them when None)."""
    if active is None:
        return np.full(patients, states, dtype=np.int64)
    values = np.asarray(active)
    if values.shape not in ((), (patients,)) or values.dtype.kind not in "iu" or np.any((values < 1) | (values > states)):
        raise InputError("active", active, f"one number of states in [1, {states}] per patient ({patients})")
    return np.array(np.broadcast_to(values, (patients,)), dtype=np.int64)  # a writable copy: one kernel signature


def _validated_linear(linear_states, linear_rates, linear_sources, linear_weights, patients: int, states: int):
    """(states, rates, source targets, source positions, weights) as contiguous arrays for the kernel."""
    if linear_states is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros((patients, 0)), empty, empty.copy(), np.zeros((patients, 0))
    indices = np.atleast_1d(np.asarray(linear_states))
    if indices.ndim != 1 or indices.dtype.kind not in "iu" or np.any((indices < 0) | (indices >= states)) \
            or np.unique(indices).size != indices.size:
        raise InputError("linear_states", indices, f"distinct integer state indices in [0, {states})")
    m = indices.size
    if linear_rates is None:
        raise InputError("linear_rates", None, f"decay rates (1/d) of the {m} linear states, (m,) or (patients, m)")
    try:
        rates = np.broadcast_to(np.asarray(linear_rates, dtype=float), (patients, m)).copy()
    except ValueError:
        raise InputError("linear_rates", np.shape(linear_rates), f"shape ({m},) or ({patients}, {m})") from None
    if np.any(~np.isfinite(rates)) or np.any(rates < 0):
        raise InputError("linear_rates", rates, "finite decay rates >= 0 (1/d)")
    sources = np.zeros((0, 2), dtype=np.int64) if linear_sources is None else np.asarray(linear_sources)
    sources = sources.reshape(-1, 2) if sources.size == 0 else sources
    if sources.ndim != 2 or sources.shape[1] != 2 or (sources.size and (
            sources.dtype.kind not in "iu" or np.any((sources < 0) | (sources >= m)))):
        raise InputError("linear_sources", sources, f"(pairs, 2) positions (target, source) in [0, {m})")
    sources = sources.astype(np.int64)
    if np.any(sources[:, 0] == sources[:, 1]) or np.any(np.isin(sources[:, 1], sources[:, 0])):
        raise InputError("linear_sources", sources, "sources that are pure decays (not targets themselves)")
    pairs = sources.shape[0]
    weights = np.zeros((patients, pairs)) if linear_weights is None else linear_weights
    try:
        weights = np.broadcast_to(np.asarray(weights, dtype=float), (patients, pairs)).copy()
    except ValueError:
        raise InputError("linear_weights", np.shape(linear_weights), f"shape ({pairs},) or ({patients}, {pairs})") from None
    if np.any(~np.isfinite(weights)):
        raise InputError("linear_weights", weights, "finite weights")
    return (np.ascontiguousarray(indices, dtype=np.int64), np.ascontiguousarray(rates),
            np.ascontiguousarray(sources[:, 0]), np.ascontiguousarray(sources[:, 1]), np.ascontiguousarray(weights))


def _validated_blocks(blocks, matrices, linear_states: np.ndarray, patients: int, states: int):
    """(block state pairs (b, 2), matrices (patients, b, 4) row-major) as contiguous arrays for the kernel."""
    if blocks is None:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((patients, 0, 4))
    pairs = np.asarray(blocks)
    pairs = pairs.reshape(-1, 2) if pairs.size == 0 else pairs
    used = pairs.ravel()
    if pairs.ndim != 2 or pairs.shape[1] != 2 or (pairs.size and (
            pairs.dtype.kind not in "iu" or np.any((used < 0) | (used >= states)))) \
            or np.unique(used).size != used.size or np.any(np.isin(used, linear_states)):
        raise InputError("linear_blocks", pairs, f"(b, 2) distinct state indices in [0, {states}), not linear states")
    count = pairs.shape[0]
    if matrices is None:
        raise InputError("linear_block_matrices", None, f"the 2×2 matrices (1/d) of the {count} blocks")
    try:
        matrix = np.broadcast_to(np.asarray(matrices, dtype=float), (patients, count, 2, 2)).copy()
    except ValueError:
        raise InputError("linear_block_matrices", np.shape(matrices),
                         f"shape ({count}, 2, 2) or ({patients}, {count}, 2, 2)") from None
    discriminant = 0.25 * (matrix[..., 0, 0] - matrix[..., 1, 1]) ** 2 + matrix[..., 0, 1] * matrix[..., 1, 0]
    if np.any(~np.isfinite(matrix)) or np.any(discriminant < 0):
        raise InputError("linear_block_matrices", matrix, "finite matrices with real eigenvalues")
    return np.ascontiguousarray(pairs, dtype=np.int64), np.ascontiguousarray(matrix.reshape(patients, count, 4))


def _radau_patient(rhs, y0, params, t0, t_out, event_times, event_state, event_amount, rtol, atol, output_states,
                   out) -> tuple[int, float, int]:
    """Stiff path for one patient: scipy Radau IIA piecewise between events, with the same event convention."""
    from scipy.integrate import solve_ivp

    def derivative(time, state):
        result = np.empty_like(state)
        rhs(time, state, params, result)  # the jitted rhs is callable from Python, faster than its py_func
        return result

    y = np.array(y0, dtype=float)
    if not np.all(np.isfinite(y)):
        out[:] = np.nan
        return NON_FINITE_INPUT, t0, 0
    final = float(t_out[-1])
    used = np.isfinite(event_times) & (event_times <= final)
    times, states, amounts = event_times[used], event_state[used], event_amount[used]
    boundaries = np.unique(np.concatenate([[t0], times, [final]]))
    evaluations = 0
    np.add.at(y, states[times == t0], amounts[times == t0])
    first_step = None
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        # Radau's dense output is of low order, so step exactly to each output time inside the segment.
        inside = t_out[(t_out > start) & (t_out < end)]
        stops = np.concatenate([[start], inside, [end]])
        for number, (begin, finish) in enumerate(zip(stops[:-1], stops[1:])):
            if number == 0:
                out[t_out == begin] = y[output_states]
            if finish == begin:
                continue
            try:
                solution = solve_ivp(derivative, (begin, finish), y, method="Radau", rtol=rtol, atol=atol,
                                     first_step=None if first_step is None else min(first_step, finish - begin))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):  # a non-finite Jacobian: this patient fails
                out[:] = np.nan
                return STIFF_FAILED, float(begin), evaluations
            evaluations += int(solution.nfev)
            if solution.status != 0 or not np.all(np.isfinite(solution.y)):
                out[:] = np.nan
                return STIFF_FAILED, float(solution.t[-1]), evaluations
            first_step = float(solution.t[-1] - solution.t[-2]) if solution.t.size > 1 else None
            y = solution.y[:, -1].copy()
            if finish < end:
                out[t_out == finish] = y[output_states]
        np.add.at(y, states[times == end], amounts[times == end])
    out[t_out == final] = y[output_states]
    return SUCCESS, final, evaluations
