"""The engine against the solve_ivp oracle, determinism, failure isolation, and the dose-rate drivers."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.analysis.validation import random_patients
from rptici.kinetics import Regimen
from rptici.kinetics.biokinetics import Covariates, biokinetic_model
from rptici.kinetics.compartments import Administration
from rptici.simulation.drivers import Schedule, dose_rate_response, reduce_exponentials, regimen_schedule
from rptici.simulation.engine import model_inputs, organ_dose, simulate
from rptici.simulation.solver import _KERNELS, NON_FINITE, SUCCESS, Dopri5, Flush, PIController, solve

numba = pytest.importorskip("numba")
from rptici.immunity.model import MODEL, observables, rhs  # noqa: E402
from rptici.simulation.oracle import oracle  # noqa: E402

PSMA = "[177Lu]Lu-PSMA-617"
REGIMEN = Regimen.model_validate({
    "rpt": {"agent": PSMA, "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2},
    "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 5},
})
TIMES = np.arange(0.0, 91.0, 3.0)
COMPARED = ("volume", "diameter_sum", "dose", "bed", "psa", "effector_blood", "regulatory", "lymphocytes",
            "occupancy", "marrow_dose", "marrow_bed")


def agree(engine: dict, reference: dict, relative: float) -> None:
    for name in COMPARED:
        ours, theirs = np.asarray(engine[name]), np.asarray(reference[name])
        scale = np.nanmax(np.abs(theirs)) if np.any(np.isfinite(theirs)) else 1.0
        # relative 1e-6, with a floor of 1e-9 of the output's largest value for values that decay to ~0
        np.testing.assert_allclose(ours, theirs, rtol=relative, atol=1e-9 * scale, equal_nan=True, err_msg=name)


def test_engine_agrees_with_solve_ivp_oracle_on_50_random_patients():
    patients = random_patients(50, seed=11)
    result = simulate(REGIMEN, patients, TIMES, rtol=1e-9, atol=1e-12, organs=())
    assert np.all(result.status == SUCCESS)
    layout, y0, params, events, *_ = model_inputs(REGIMEN, patients)
    states, _ = oracle(rhs, y0, params, TIMES, *events, method="DOP853", rtol=1e-11, atol=1e-13, pure_python=False)
    # Issue 4: the engine agrees with the solve_ivp oracle to 1e-6 relative.
    agree(result.outputs, observables(states, params, layout), 1e-6)


def test_absent_lesions_are_left_out_of_the_stages_with_the_same_numbers():
    """The engine tells the solver how many states each patient uses (through his last present lesion,
    ``ModelLayout.active_states``); patients with one lesion of two skip the second's slots, to the same bits."""
    from rptici.simulation.solver import LinearSystem

    patients = random_patients(12, seed=11)
    layout, y0, params, events, *_ = model_inputs(REGIMEN, patients)
    active = MODEL.active_states(layout, params)
    one_lesion = np.isfinite(np.asarray(patients["lesion_volumes_mL"])).sum(axis=1) == 1
    assert layout.n_lesions == 2 and one_lesion.any() and not one_lesion.all()
    assert np.array_equal(active, np.where(one_lesion, layout.lesion_start(1), layout.n_states))
    linear = LinearSystem(**MODEL.linear_system(layout, params))
    every = solve(rhs, y0, params, TIMES, events, linear=linear)
    skipped = solve(rhs, y0, params, TIMES, events, linear=linear, active=active)
    np.testing.assert_array_equal(skipped.y, every.y)
    np.testing.assert_array_equal(skipped.accepted_steps, every.accepted_steps)


@pytest.mark.parametrize("ici", [
    {"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "3 weeks", "infusions": 4},  # constant CL: exact block
    {"agent": "nivolumab", "dose": "240 mg", "interval": "2 weeks", "infusions": 6},  # time-varying CL: integrated
])
def test_engine_agrees_with_the_oracle_for_other_antibodies(ici):
    regimen = Regimen.model_validate({"rpt": {"agent": PSMA, "activity": "7.4 GBq", "interval": "6 weeks",
                                              "cycles": 2}, "ici": ici})
    patients = random_patients(8, seed=12)
    result = simulate(regimen, patients, TIMES, rtol=1e-9, atol=1e-12, organs=())
    assert np.all(result.status == SUCCESS)
    layout, y0, params, events, *_ = model_inputs(regimen, patients)
    states, _ = oracle(rhs, y0, params, TIMES, *events, method="DOP853", rtol=1e-11, atol=1e-13, pure_python=False)
    reference = observables(states, params, layout)
    agree(result.outputs, reference, 1e-6)
    if ici["agent"] == "ipilimumab":
        np.testing.assert_allclose(simulate(regimen, patients, TIMES, rtol=1e-9, atol=1e-12, organs=(),
                                            outputs=("ctla4_occupancy",))["ctla4_occupancy"],
                                   reference["ctla4_occupancy"], rtol=1e-6)


def test_engine_agrees_with_the_pure_python_right_hand_side():
    patients = random_patients(3, seed=12)
    result = simulate(REGIMEN, patients, TIMES, rtol=1e-9, atol=1e-12, organs=())
    layout, y0, params, events, *_ = model_inputs(REGIMEN, patients)
    states, _ = oracle(rhs, y0, params, TIMES, *events, method="LSODA", rtol=1e-11, atol=1e-13, pure_python=True)
    agree(result.outputs, observables(states, params, layout), 1e-6)


def test_one_compiled_kernel_serves_every_scenario():
    """Regimens, lesion counts, switches and tolerances change arrays, not the compiled code: one kernel for the
    model's rhs with the default solver, compiled for one signature."""
    one_lesion = {"lesion_volumes_mL": np.array([[8.0], [30.0]])}
    rpt_only = Regimen.model_validate({"rpt": {"agent": PSMA, "activity": "7.4 GBq", "interval": "6 weeks",
                                               "cycles": 1}})
    simulate(REGIMEN, random_patients(2, seed=15), TIMES[:4], organs=())
    simulate(rpt_only, one_lesion, TIMES[:4], organs=(), rtol=1e-7, atol=1e-9, overrides={"switch_memory": 0})
    kernels = [key for key in _KERNELS if key[0] is MODEL.rhs and key[1] == "numba"]
    assert len(kernels) == 1
    assert len(_KERNELS[kernels[0]].signatures) == 1


def test_same_numbers_for_one_or_two_threads_and_any_chunk_size():
    patients = random_patients(9, seed=13)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = simulate(REGIMEN, patients, TIMES, chunk_size=9)
    finally:
        numba.set_num_threads(threads)
    together = simulate(REGIMEN, patients, TIMES, chunk_size=9)
    split = simulate(REGIMEN, patients, TIMES, chunk_size=4)
    for name in ("volume", "dose", "lymphocytes", "organ_dose"):
        np.testing.assert_array_equal(single[name], together[name])
        np.testing.assert_array_equal(split[name], together[name])


def test_a_broken_patient_is_flagged_and_the_others_are_unchanged():
    patients = random_patients(6, seed=14)
    layout, y0, params, events, *_ = model_inputs(REGIMEN, patients)
    arguments = dict(t0=0.0, flush=Flush(*MODEL.flush_levels(layout, params, events, 1e-8)),
                     solver=Dopri5(PIController(atol=1e-8)))
    clean = solve(rhs, y0, params, TIMES, events, **arguments)
    broken = params.copy()
    broken[2, layout.parameter("kill_rate")] = np.nan
    result = solve(rhs, y0, broken, TIMES, events, **arguments)
    assert result.status[2] == NON_FINITE and "non-finite" in result.reasons[2]
    assert np.all(np.isnan(result.y[2]))
    others = [0, 1, 3, 4, 5]
    assert np.all(result.status[others] == SUCCESS)
    np.testing.assert_array_equal(result.y[others], clean.y[others])


def test_outputs_have_the_documented_shapes_and_organ_dose_is_the_closed_form():
    patients = random_patients(4, seed=15)
    result = simulate(REGIMEN, patients, TIMES, organs=("kidneys",))
    assert result["volume"].shape == (4, TIMES.size, 2) and result["lymphocytes"].shape == (4, TIMES.size)
    covariates = Covariates(weight_kg=patients["weight_kg"], gfr_mL_per_min=patients["gfr_mL_per_min"],
                            target_uptake_scale=patients["target_uptake_scale"],
                            lesion_masses_g=np.nan_to_num(patients["lesion_volumes_mL"]))
    model = biokinetic_model(PSMA, covariates)
    response = dose_rate_response(PSMA, covariates, organs=("kidneys",), n_exponentials=12)
    per_MBq = response.absorbed_dose_per_MBq()[:, response.index("kidneys")]
    # Reference: compartments.time_integrated_activity × S-value, for the two 7400 MBq cycles (to infinity)
    tia = model.time_integrated_activity([Administration(0.0, 1.0)])[:, model.index("kidneys")]
    assert np.all(tia > 0)
    final = result["organ_dose"][:, -1, 0]
    np.testing.assert_allclose(final, 7400.0 * per_MBq * 2, rtol=0.02)  # day 90: second cycle (day 42) ≥ 98 % given


def test_organ_dose_equals_the_sum_over_administrations():
    """The one-exponential-per-time evaluation of :func:`organ_dose` against the direct superposition
    D(t) = Σ_a A_a Σ_k (c_k/λ_k)(1 − e^{−λ_k (t − t_a)}), uneven intervals and activities, to 1e-12 relative."""
    covariates = Covariates(lesion_masses_g=np.array([[10.0, 2.0], [30.0, 0.5]]), weight_kg=np.array([70.0, 90.0]))
    response = dose_rate_response(PSMA, covariates, organs=("kidneys", "red_marrow"), n_exponentials=4)
    given = np.array([0.0, 30.0, 72.0, 100.0])
    activities = np.array([[7400.0, 6000.0, 7400.0, 3000.0], [5000.0, 5000.0, 0.0, 7400.0]])
    schedule = Schedule(given, activities, np.zeros(0), np.zeros((2, 0)))
    times = np.concatenate([[0.0, 0.5], np.arange(1.0, 200.0, 0.7), [30.0, 72.0]])
    times.sort()
    result = organ_dose(response, schedule, ("kidneys", "red_marrow"), times)
    for column, organ in enumerate(("kidneys", "red_marrow")):
        index = response.index(organ)
        rate = response.rates[:, index, :, None]
        expected = sum(activities[:, number, None] * np.sum(
            response.coefficients[:, index, :, None] / rate * -np.expm1(-rate * np.maximum(times - when, 0.0)), axis=1)
            for number, when in enumerate(given))
        np.testing.assert_allclose(result[:, :, column], expected, rtol=1e-12, atol=0)


def test_organ_bed_at_the_end_equals_the_regimen_bed_of_the_cycles():
    """The kidneys' BED time course (closed form, organ_dose(bed=True)) at the end of two Lu-PSMA-617 cycles
    against rptici.radiobiology.regimen_dose, which sums D_c(1 + G D_c/(α/β)) over cycles with the
    Lea–Catcheside G of each (Dale 1985): the same number to 1e-6 (damage left from one cycle six weeks later
    is e^{−42 μ}, nothing), with all the exponential modes kept."""
    from rptici.radiobiology.regimen_dose import regimen_dose

    covariates = Covariates(lesion_masses_g=np.array([[10.0, 2.0], [30.0, 0.5]]), weight_kg=np.array([70.0, 90.0]),
                            gfr_mL_per_min=np.array([60.0, 120.0]))
    response = dose_rate_response(PSMA, covariates, organs=("kidneys",), n_exponentials=12)
    assert np.all(response.exact)
    schedule = regimen_schedule(REGIMEN, covariates)
    end = np.array([schedule.rpt_times[-1] + 400.0])
    bed = organ_dose(response, schedule, ("kidneys",), end, bed=True)[:, 0, 0]
    reference = regimen_dose(REGIMEN, covariates, cross_dose=False)  # the engine's organ doses are self-dose
    expected = reference.bed_Gy[:, reference.targets.index("kidneys")]
    np.testing.assert_allclose(bed, expected, rtol=1e-6)
    assert np.all(bed > organ_dose(response, schedule, ("kidneys",), end)[:, 0, 0])


def test_dose_rate_reduction_keeps_the_absorbed_dose_exactly():
    covariates = Covariates(lesion_masses_g=np.array([[10.0, 2.0], [30.0, 0.5]]), weight_kg=np.array([70.0, 90.0]),
                            bsa_m2=np.array([1.8, 2.1]))
    full = dose_rate_response(PSMA, covariates, organs=("red_marrow", "kidneys"), n_exponentials=12)
    reduced = dose_rate_response(PSMA, covariates, organs=("red_marrow", "kidneys"), n_exponentials=3)
    assert np.all(full.exact) and not np.any(reduced.exact)
    np.testing.assert_allclose(reduced.absorbed_dose_per_MBq(), full.absorbed_dose_per_MBq(), rtol=1e-9)
    np.testing.assert_allclose(reduced.dose_rate([0.0]), 0.0, atol=1e-12)  # no activity in tissue at injection
    times = np.concatenate([[0.0], np.geomspace(1e-3, 60.0, 200)])
    exact, approximate = full.dose_rate(times), reduced.dose_rate(times)
    # shape within 8 % of the peak dose rate with three exponentials (measured 4-6.3 %), 0.5 % with four
    assert np.max(np.abs(approximate - exact) / exact.max(axis=2, keepdims=True)) < 0.08
    four = dose_rate_response(PSMA, covariates, organs=("red_marrow", "kidneys"), n_exponentials=4).dose_rate(times)
    assert np.max(np.abs(four - exact) / exact.max(axis=2, keepdims=True)) < 0.005
    # full response against the compartment model's own closed form (activity × S-value)
    model = biokinetic_model(PSMA, covariates)
    activity = model.activity(times, [Administration(0.0, 1.0)])[:, model.index("lesion_1")]
    ratio = exact[:, 0, 1:] / activity[:, 1:]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-8)


def test_exact_reduction_when_few_terms():
    coefficients = np.array([[2.0, -2.0, 0.0]])
    rates = np.array([[0.1, 5.0, 1.0]])
    kept, kept_rates, exact = reduce_exponentials(coefficients, rates, 2)
    assert exact.all()
    np.testing.assert_array_equal(kept, [[2.0, -2.0]])
    np.testing.assert_array_equal(kept_rates, [[0.1, 5.0]])


def test_reduction_of_a_patient_does_not_depend_on_the_others():
    """A row with repeated rates (a singular least-squares system) in the same batch leaves the other rows'
    reduced exponentials exactly as they are alone (determinism whatever the chunking)."""
    coefficients = np.array([[1.0, -0.6, 0.3, 0.2, -0.1], [1.0, -0.6, 0.3, 0.2, -0.1]])
    rates = np.array([[0.1, 2.0, 0.5, 5.0, 30.0], [0.1, 0.1, 0.5, 0.5, 30.0]])
    together = reduce_exponentials(coefficients, rates, 2)
    alone = reduce_exponentials(coefficients[:1], rates[:1], 2)
    np.testing.assert_array_equal(together[0][:1], alone[0])
    np.testing.assert_array_equal(together[1][:1], alone[1])
    assert np.all(np.isfinite(together[0]))
