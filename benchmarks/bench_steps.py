"""Where the engine's steps go in the standard trial (issue 15: what would make a 10⁶-patient run 3× faster).

Replays the engine calls of the standard scenario's trial (examples/trials/standard.yaml, both arms; recorded once
by :func:`bench_trial.recorded_engine_calls`) under variations that each isolate one cost, and prints for each the
median wall time of ``--repeats`` runs, the mean accepted steps per patient and, where the variation changes the
numbers, the largest deviation of the lesion diameters (≥ 5 mm) and PSA from the shipped settings:

* ``follow-up N months``: the output grid cut at N months: the share of the cost in the treatment period (six
  Lu-PSMA-617 cycles q6w end at week 30) and what ending each patient's integration at his death could save;
* ``no radiation kill of effectors``: switch ``lymphocyte_kill`` off (changes the model: a measurement only), the
  stiffness of the tumour-infiltrating effectors, whose decay rate k_E + α_L·Ḋ reaches tens per day while a lesion
  is irradiated (the explicit solver's stability limit);
* ``neither stiff relaxation``: no radiation kill of the effectors and PD-L1 relaxing at 0.1/d instead of 1/d (model
  changes, a measurement only): the steps that accuracy alone asks for without the two stiff modes, about the most
  that an integrator treating them exactly could save at the shipped tolerance;
* ``dimensionless states atol 1e-6``: the absolute tolerance of the states of unit "1" (effector densities, PD-L1
  fraction, immune cells relative to baseline) a millionth of their reference level instead of 1e-8;
* ``rtol 1e-5``: the relative tolerance ten times looser;
* ``rtol 1e-4`` and ``rtol 1e-3`` (with the dimensionless states' atol 1e-6 and 1e-5): far looser than the endpoints
  allow, to find the floor that the explicit solver's stability sets on the steps whatever the accuracy asked;
* ``every lesion slot in the stages``: the solver's stages over all of the layout's states, the slots of absent
  lesions included, as before December 2026 (the same numbers: what leaving them out saves).

``--stiffness-patients N`` also counts, for the combination arm's first N patients, the steps that the explicit
solver's stability alone would need (the integral over the follow-up of |λ_max(t)|/3.3, λ_max the largest eigenvalue
of the Jacobian of the controlled states, by finite differences on a daily grid of the oracle's trajectory; 3.3 the
length of DOPRI5's stability region on the negative real axis) beside the steps it took, and which state owns λ_max.

Usage: python benchmarks/bench_steps.py [--patients 2000] [--repeats 3] [--stiffness-patients 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trial import SCENARIO, recorded_engine_calls  # noqa: E402

from rptici.immunity.model import MODEL, TumourImmuneModel  # noqa: E402
from rptici.simulation import simulate  # noqa: E402
from rptici.simulation.engine import model_inputs  # noqa: E402
from rptici.simulation.solver import solver_for  # noqa: E402
from rptici.trials import load_trial_scenario  # noqa: E402
from rptici.trials.endpoints import to_days  # noqa: E402


def dimensionless_atol(args: tuple, kwargs: dict, atol: float) -> tuple[float, ...]:
    """Per-state absolute tolerances of one engine call: ``atol`` for the states of unit "1", 1e-8 for the rest."""
    layout = model_inputs(args[0], args[1], overrides=kwargs.get("overrides"))[0]
    table = layout.table
    unit = {state.name: state.unit for state in table.states}
    drivers = ["Gy/d"] * layout.n_exponentials
    units = ([unit[name] for name in table.systemic_states] + drivers
             + ([unit[name] for name in table.lesion_states] + drivers) * layout.n_lesions)
    return tuple(atol if value == "1" else 1e-8 for value in units)


def stability_steps(args: tuple, kwargs: dict, count: int) -> None:
    """Print, for the call's first ``count`` patients, the stability-limited steps, the steps taken and the states
    that own the largest eigenvalue longest (see the module docstring)."""
    from rptici.immunity.linear import linear_system
    from rptici.immunity.model import rhs
    from rptici.simulation.oracle import oracle_patient

    layout, y0, params, events, *_ = model_inputs(args[0], args[1], overrides=kwargs.get("overrides"))
    taken = simulate(*args, **kwargs).statistics["accepted_steps"]
    names = layout.state_names
    linear = linear_system(layout, params)
    exact = set(linear["states"].tolist()) | set(np.asarray(linear["blocks"]).ravel().tolist())
    controlled = np.array([index for index in range(y0.shape[1]) if index not in exact])
    days = np.arange(0.0, float(args[2][-1]), 1.0)
    for patient in range(min(count, y0.shape[0])):
        states, _ = oracle_patient(rhs, y0[patient], params[patient], days, *(item[patient] for item in events),
                                   rtol=1e-9, atol=1e-12)
        needed, owners = 0.0, {}
        for day, state in zip(days, states):
            slope = np.empty_like(state)
            rhs(day, state, params[patient], slope)
            jacobian = np.empty((controlled.size, controlled.size))
            for column, index in enumerate(controlled):
                step = 1e-7 * max(abs(state[index]), 1e-6)
                shifted, moved = state.copy(), np.empty_like(state)
                shifted[index] += step
                rhs(day, shifted, params[patient], moved)
                jacobian[:, column] = (moved[controlled] - slope[controlled]) / step
            values, vectors = np.linalg.eig(jacobian)
            largest = int(np.argmax(np.abs(values)))
            owner = names[controlled[int(np.argmax(np.abs(vectors[:, largest])))]]
            needed += abs(values[largest]) / 3.3
            owners[owner] = owners.get(owner, 0.0) + abs(values[largest]) / 3.3
        top = ", ".join(f"{name} {value:.0f}" for name, value in sorted(owners.items(), key=lambda item: -item[1])[:3])
        print(f"  patient {patient}: steps taken {taken[patient]}, stability alone {needed:.0f} ({top})")


class EveryState(TumourImmuneModel):
    """The model, but the solver's stages run over every state of the layout (no state left out as unused)."""

    def active_states(self, layout, params):
        return np.full(params.shape[0], layout.n_states, dtype=np.int64)


def variations(calls: list[tuple[tuple, dict]]) -> dict[str, list[tuple[tuple, dict]]]:
    """Name → the recorded calls as that variation makes them."""
    def cut(months: float):
        return [((regimen, patients, grid[grid <= float(to_days(months)) + 1e-9]), kwargs)
                for (regimen, patients, grid), kwargs in calls]

    def tolerances(rtol: float, atol: float):
        return [(args, {**kwargs, "solver": solver_for("auto", rtol, dimensionless_atol(args, kwargs, atol))})
                for args, kwargs in calls]

    def overridden(**extra):
        return [(args, {**kwargs, "overrides": {**(kwargs.get("overrides") or {}), **extra}}) for args, kwargs in calls]

    return {
        "shipped (24 months, rtol 1e-6, atol 1e-8)": calls,
        "follow-up 6 months": cut(6.0),
        "follow-up 12 months": cut(12.0),
        "no radiation kill of effectors": overridden(switch_lymphocyte_kill=0.0),
        "neither stiff relaxation (PD-L1 0.1/d, no effector kill)": overridden(switch_lymphocyte_kill=0.0,
                                                                               pdl1_rate=0.1),
        "dimensionless states atol 1e-6": tolerances(1e-6, 1e-6),
        "rtol 1e-5": [(args, {**kwargs, "rtol": 1e-5}) for args, kwargs in calls],
        "rtol 1e-4, dimensionless atol 1e-6": tolerances(1e-4, 1e-6),
        "rtol 1e-3, dimensionless atol 1e-5": tolerances(1e-3, 1e-5),
        "every lesion slot in the stages": [(args, {**kwargs, "model": EveryState(MODEL.table, MODEL.rhs)})
                                            for args, kwargs in calls],
    }


def run(calls: list[tuple[tuple, dict]]) -> tuple[float, list]:
    begin = time.perf_counter()
    results = [simulate(*args, **kwargs) for args, kwargs in calls]
    return time.perf_counter() - begin, results


def deviation(results: list, reference: list, name: str, floor: float) -> float:
    """Largest relative deviation of read-out ``name`` from the shipped run (values above ``floor`` only)."""
    worst = 0.0
    for result, base in zip(results, reference):
        value, expected = result.outputs[name], base.outputs[name]
        if value.shape != expected.shape:
            return float("nan")
        mask = np.isfinite(expected) & (expected > floor)
        worst = max(worst, float(np.max(np.abs(value[mask] - expected[mask]) / expected[mask], initial=0.0)))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stiffness-patients", type=int, default=0)
    arguments = parser.parse_args()
    calls = recorded_engine_calls(load_trial_scenario(SCENARIO), arguments.patients, None)
    cases = variations(calls)
    for case in cases.values():  # compile every kernel once (the atol vector is a literal of none: one kernel)
        run(case[:1])
    times: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, list] = {}
    for _ in range(arguments.repeats):  # interleaved, so that the machine's load falls on every case alike
        for name, case in cases.items():
            seconds, results[name] = run(case)
            times[name].append(seconds)
    reference = results[next(iter(cases))]
    base = statistics.median(times[next(iter(cases))])
    print(f"standard trial's engine calls, {arguments.patients} patients (two arms), medians of "
          f"{arguments.repeats} interleaved repeats:")
    print(f"  {'variation':56s} {'seconds':>8s} {'ratio':>6s} {'steps':>6s} {'diameter dev':>13s} {'PSA dev':>8s}")
    for name in cases:
        steps = np.mean(np.concatenate([result.statistics["accepted_steps"] for result in results[name]]))
        seconds = statistics.median(times[name])
        same_grid = not name.startswith("follow-up")
        diameter = deviation(results[name], reference, "diameter", 5.0) if same_grid else float("nan")
        psa = deviation(results[name], reference, "psa", 1e-3) if same_grid else float("nan")
        print(f"  {name:56s} {seconds:8.2f} {seconds / base:6.3f} {steps:6.0f} {diameter:13.1e} {psa:8.1e}")
    if arguments.stiffness_patients:
        print("steps that stability alone would need (combination arm):")
        stability_steps(*calls[-1], arguments.stiffness_patients)


if __name__ == "__main__":
    main()
