"""Tests of the tumour–immune–checkpoint equations (rptici.immunity): switches, steady state, growth,
LQ with incomplete repair against the closed forms of rptici.radiobiology, antibody PK and occupancy
against rptici.kinetics, and balances that must hold exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rptici.errors import InputError, UnknownNameError
from rptici.immunity import (GLOBAL_PARAMETERS, LESION_STATES, SWITCH_EQUIVALENTS, SWITCHES, SYSTEMIC_STATES,
                             ImmunityCovariates, ModelLayout, initial_state, load_parameters, observables,
                             parameter_vector, rhs)
from rptici.immunity.model import damage, repair_residual_events, set_damage
from rptici.kinetics import occupancy, simulate_antibody
from rptici.radiobiology import bed_closed_form, g_factor_monoexponential, log_cell_kill, tissue

LAYOUT = ModelLayout(n_lesions=2, n_exponentials=2)


def derivative(y: np.ndarray, p: np.ndarray, t: float = 0.0) -> np.ndarray:
    out = np.full_like(y, np.nan)
    rhs(t, y, p, out)
    return out


def integrate(y0: np.ndarray, p: np.ndarray, t_end: float, rtol: float = 1e-10, atol: float = 1e-13,
              t_start: float = 0.0) -> np.ndarray:
    """State at ``t_end`` (scipy DOP853 on the same rhs; the engine's oracle)."""
    solution = solve_ivp(lambda t, y: derivative(y, p, t), (t_start, t_end), y0, method="DOP853", rtol=rtol,
                         atol=atol)
    assert solution.success, solution.message
    return solution.y[:, -1]


def patient(species: str = "human", overrides: dict | None = None, layout: ModelLayout = LAYOUT,
            volumes=(20.0, 5.0), **covariates) -> tuple[np.ndarray, np.ndarray]:
    parameters = load_parameters(species, overrides)
    cohort = {"lesion_volumes_mL": np.array([volumes], dtype=float), **covariates}
    return parameter_vector(parameters, layout, cohort)[0], initial_state(parameters, layout, cohort)[0]


def treated_state(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A state in the middle of a combined treatment: every term of the rhs is non-zero."""
    y = y.copy()
    for lesion, rate in enumerate((3.0, 0.0)):  # lesion 1 not irradiated (abscopal)
        y[LAYOUT.dose_rate_state(lesion, 0)] = rate
        y[LAYOUT.dose_rate_state(lesion, 1)] = 0.5 * rate
        start = LAYOUT.lesion_start(lesion)
        y[start + LESION_STATES.index("doomed")] = 2.0 + lesion
        y[start + LESION_STATES.index("repair_residual")] = 0.4 * rate
        y[start + LESION_STATES.index("dose")] = 4.0 * rate
        y[start + LESION_STATES.index("radiation_signal")] = 3.0 * rate
        y[start + LESION_STATES.index("effector")] *= 1.5
    y[LAYOUT.dose_rate_state("blood", 0)] = 0.05
    y[LAYOUT.state("marrow_repair_residual")] = 0.01
    for name, value in (("antigen", 0.7), ("interferon", 0.4), ("dendritic_cells", 0.6), ("effector_blood", 3.0),
                        ("regulatory", 1.3), ("suppressor", 1.2), ("memory", 0.2), ("exhausted", 0.4),
                        ("antibody_central", 300.0),
                        ("antibody_peripheral", 100.0), ("ctla4_central", 150.0), ("ctla4_peripheral", 50.0)):
        y[LAYOUT.state(name)] = value
    y[LAYOUT.state("lymphocytes")] *= 0.8
    for k in range(LAYOUT.n_exponentials):
        p[LAYOUT.dose_rate_decay_param("blood", k)] = 0.1 * (k + 1)
        for lesion in range(LAYOUT.n_lesions):
            p[LAYOUT.dose_rate_decay_param(lesion, k)] = 0.2 * (k + 1)
    return y


# --- layout and loader ------------------------------------------------------------------------------------

def test_layout_indices_are_distinct_and_complete():
    layout = ModelLayout(3, 3)
    states = [layout.state(name) for name in SYSTEMIC_STATES]
    states += [layout.state(name, lesion) for lesion in range(3) for name in LESION_STATES]
    states += [layout.dose_rate_state(region, k) for region in ("blood", 0, 1, 2) for k in range(3)]
    assert sorted(states) == list(range(layout.n_states))
    parameters = [layout.dose_rate_decay_param(region, k) for region in ("blood", 0, 1, 2) for k in range(3)]
    assert len(set(parameters)) == 12 and max(parameters) < layout.n_params
    assert len(layout.state_names) == layout.n_states and len(layout.parameter_names) == layout.n_params
    assert layout.antibody_central == layout.state("antibody_central")
    with pytest.raises(InputError):
        ModelLayout(9)
    with pytest.raises(InputError):
        layout.dose_rate_state(3, 0)


def test_every_parameter_has_unit_and_source():
    for species in ("human", "mouse"):
        parameters = load_parameters(species)
        for name in parameters.values:
            assert parameters.sources[name], name
        # the rhs reads every parameter the file defines, except the few used only to build the vector
        unused = set(parameters.values) - set(GLOBAL_PARAMETERS)
        assert unused <= {"doubling_time", "carrying_capacity", "doomed_cell_lifetime", "tumour_alpha",
                          "tumour_alpha_beta", "tumour_repair_half_time", "lymphocyte_alpha_beta",
                          "marrow_repair_half_time", "psa_half_life", "infiltration", "pdl1_expression",
                          "body_weight", "default_half_occupancy", "low_uptake_fraction",
                          "low_uptake_odds_scale", "doomed_lifetime_doublings",
                          "occult_detection_volume", "occult_fraction", "occult_fraction_min", "occult_fraction_max",
                          "occult_bone_share"}
    # a value taken from tissues.yaml is the radiobiology layer's value
    assert load_parameters("human")["lymphocyte_alpha"] == tissue("lymphocytes").alpha


def test_bad_input_names_the_field():
    parameters = load_parameters("human")
    with pytest.raises(InputError, match="overrides"):
        parameters.with_overrides({"kill_rat": 0.1})
    with pytest.raises(InputError, match="switch_memory"):
        parameters.with_overrides({"switch_memory": 0.5})
    with pytest.raises(UnknownNameError):
        load_parameters("rat")
    with pytest.raises(InputError, match="lesion_volumes"):
        parameter_vector(parameters, LAYOUT, {"lesion_volumes_mL": np.ones((2, 3))})
    with pytest.raises(InputError, match="infiltration"):
        parameter_vector(parameters, LAYOUT, {"lesion_volumes_mL": np.ones((2, 2)), "infiltration": [0.5, -1.0]})
    with pytest.raises(InputError, match="antibody"):
        load_parameters("human", antibody="ipilimumab")


# --- switches ------------------------------------------------------------------------------------------------

# site_selective_uptake acts on the kinetics, not on the equations (tests/kinetics/test_lesion_heterogeneity.py)
@pytest.mark.parametrize("mechanism", sorted(set(SWITCHES) - {"gompertz", "site_selective_uptake"}))
def test_switch_off_equals_strength_zero(mechanism):
    """Each switch removes exactly its term: rhs(switch off) = rhs(the term's strength at zero), and ≠ rhs(on)."""
    p_on, y0 = patient("human", psa=12.0)
    p_on[GLOBAL_PARAMETERS.index(f"switch_{mechanism}")] = 1.0
    y = treated_state(p_on, y0)
    p_off = p_on.copy()
    p_off[GLOBAL_PARAMETERS.index(f"switch_{mechanism}")] = 0.0
    p_zero = p_on.copy()
    compare = np.ones(LAYOUT.n_states, dtype=bool)
    if mechanism in SWITCH_EQUIVALENTS:
        name, per_lesion = SWITCH_EQUIVALENTS[mechanism]
        indices = [LAYOUT.parameter(name, lesion) for lesion in range(LAYOUT.n_lesions)] if per_lesion \
            else [LAYOUT.parameter(name)]
        if mechanism == "ici_suppression_relief":  # relief = occupancy × switch: compare without drug
            y_zero = y.copy()
            y_zero[LAYOUT.antibody_central] = 0.0
            compare[[LAYOUT.antibody_central, LAYOUT.antibody_peripheral]] = False
        else:
            y_zero = y
            p_zero[indices] = 0.0
        if mechanism == "growth":  # the occult burden grows at its own (derived) rate
            p_zero[LAYOUT.parameter("occult_growth_rate")] = 0.0
        if mechanism == "radiation_kill":
            p_zero[[LAYOUT.parameter("beta", lesion) for lesion in range(LAYOUT.n_lesions)]] = 0.0
        if mechanism == "memory":  # no memory formed and none recalled
            p_zero[LAYOUT.parameter("memory_recall_rate")] = 0.0
        if mechanism == "immune_escape":  # a selected share of invisible cells (0 in the human file: no escape)
            for vector in (p_on, p_off):
                vector[LAYOUT.parameter("immune_escape_fraction")] = 0.01
            y = y.copy()
            y[[LAYOUT.state("immune_selection", lesion) for lesion in range(LAYOUT.n_lesions)]] = 3.0
            y_zero = y
    elif mechanism == "mitotic_death":  # off: every lesion clears doomed cells at the fixed 1/τ0
        y_zero = y
        p_zero[[LAYOUT.parameter("doomed_death_rate", lesion) for lesion in range(LAYOUT.n_lesions)]] = \
            p_on[LAYOUT.parameter("doomed_death_rate")]
    elif mechanism == "uptake_heterogeneity":  # off: target-low cells get the full dose rate (f = 1)
        y_zero = y
        p_zero[LAYOUT.parameter("low_uptake_dose_fraction")] = 1.0
    elif mechanism == "trafficking_limit":
        y_zero = y
        p_zero[[LAYOUT.parameter("infiltration", lesion) for lesion in range(LAYOUT.n_lesions)]] = 1.0
    elif mechanism == "regulatory_suppression":
        y_zero = y
        p_zero[[LAYOUT.parameter("treg_suppression"), LAYOUT.parameter("mdsc_suppression")]] = 0.0
    elif mechanism == "lymphocyte_kill":
        y_zero = y
        p_zero[[LAYOUT.parameter(name) for name in ("lymphocyte_alpha", "lymphocyte_beta", "treg_radiosensitivity")]] = 0.0
    elif mechanism == "occult_disease":  # off: as if there were no occult burden (it neither grows nor makes PSA)
        p_on[GLOBAL_PARAMETERS.index("switch_occult_disease")] = 1.0
        y = y.copy()
        y[[LAYOUT.state("occult"), LAYOUT.state("occult_low")]] = (0.05, 0.01)
        y_zero = y.copy()
        y_zero[[LAYOUT.state("occult"), LAYOUT.state("occult_low")]] = 0.0
        compare[[LAYOUT.state("occult"), LAYOUT.state("occult_low")]] = False
    elif mechanism == "abscopal":  # without the shared pool the unirradiated lesion gets no expanded effectors
        y_zero = y.copy()
        y_zero[LAYOUT.state("effector_blood")] = 1.0
        y_zero[LAYOUT.state("exhausted")] = 0.0
        compare[:] = False
        compare[LAYOUT.state("effector", 1)] = True
    elif mechanism == "priming_saturation":  # off: s A/(A+K_G), at s = 1 the saturating signal with K_A = K_G
        y_zero = y
        p_off[LAYOUT.parameter("priming_strength")] = 1.0
        p_zero[LAYOUT.parameter("antigen_half_saturation")] = p_on[LAYOUT.parameter("antigen_graded_half_saturation")]
        compare[:] = False
        compare[LAYOUT.state("dendritic_cells")] = True
    else:  # pragma: no cover
        raise AssertionError(f"no equivalent strength for {mechanism}")
    off, zero, on = derivative(y, p_off), derivative(y_zero, p_zero), derivative(y, p_on)
    np.testing.assert_allclose(off[compare], zero[compare], rtol=1e-13, atol=1e-15)
    assert not np.allclose(off, on, rtol=1e-9, atol=0), f"switch_{mechanism} changes nothing in this state"


def test_python_and_compiled_rhs_agree():
    p, y0 = patient("mouse", volumes=(0.1, 0.05))
    y = treated_state(p, y0)
    compiled = derivative(y, p)
    python = np.full_like(y, np.nan)
    rhs.py_func(0.3, y, p, python)
    np.testing.assert_allclose(python, derivative(y, p, 0.3), rtol=1e-14)
    assert np.all(np.isfinite(compiled))


# --- untreated growth and steady state ------------------------------------------------------------------

@pytest.mark.parametrize("species", ["human", "mouse"])
def test_untreated_growth_has_the_stated_doubling_time(species):
    """Initial net specific growth = ln2/T_d exactly; with a remote plateau the tumour doubles in T_d
    (mouse: T_d = ln2/0.4 d for CT26, Kosinsky et al. 2018 Table 1) within 0.5 %."""
    doubling = load_parameters(species)["doubling_time"]
    volume = 0.05 if species == "mouse" else 10.0
    p, y0 = patient(species, {"carrying_capacity": 1e9}, layout=ModelLayout(1, 1), volumes=(volume,))
    cells = [ModelLayout(1, 1).state("viable", 0), ModelLayout(1, 1).state("viable_low", 0)]
    assert derivative(y0, p)[cells].sum() / y0[cells].sum() == pytest.approx(math.log(2) / doubling, rel=1e-12)
    y = integrate(y0, p, doubling)
    # the Gompertz rate falls as ln(K/V): over one doubling by ln2/ln(K/V) ≈ 3 %, so half of that on average
    tolerance = 0.005 if species == "mouse" else 0.03
    assert y[cells].sum() / y0[cells].sum() == pytest.approx(2.0, rel=tolerance)


@pytest.mark.parametrize("species", ["human", "mouse"])
def test_without_treatment_immune_states_stay_at_steady_state(species):
    p, y0 = patient(species, volumes=(10.0, 2.0) if species == "human" else (0.1, 0.02), infiltration=[0.8],
                    pdl1=[0.6])
    rate = derivative(y0, p)
    immune = [LAYOUT.state(name) for name in SYSTEMIC_STATES if name not in ("psa", "occult", "occult_low")]
    immune += [LAYOUT.state(name, lesion) for lesion in range(2) for name in ("effector", "pdl1")]
    np.testing.assert_array_equal(rate[immune], 0.0)
    y = integrate(y0, p, 30.0 if species == "human" else 5.0)
    np.testing.assert_allclose(y[immune], y0[immune], rtol=1e-9, atol=1e-12)
    # the stated PD-L1 expression is the baseline state
    assert y0[LAYOUT.state("pdl1", 0)] == pytest.approx(0.6)


# --- radiobiology ------------------------------------------------------------------------------------------

def test_lq_part_reproduces_lea_catcheside_bed():
    """Mono-exponential dose rate: BED = D(1 + G D/(α/β)), G = T_rep/(T_rep + T_eff) (Dale 1985), to 1e-6;
    surviving viable fraction = exp(−αD − 2β∫ḊΓ) (rptici.radiobiology.log_cell_kill); target-low cells
    (dose rate f Ḋ, so dose f D and ∫(fḊ)(fΓ) = f²∫ḊΓ) survive exp(−α f D − 2β f² ∫ḊΓ)."""
    layout = ModelLayout(1, 1)
    overrides = {"switch_growth": 0, "kill_rate": 0.0}
    share = 0.1
    p, y0 = patient("human", overrides, layout=layout, volumes=(10.0,), low_uptake_fraction=share)
    effective_half_life = 2.5  # d
    dose = 40.0
    decay = math.log(2) / effective_half_life
    p[layout.dose_rate_decay_param(0, 0)] = decay
    p[layout.dose_rate_decay_param("blood", 0)] = decay
    y0[layout.dose_rate_state(0, 0)] = dose * decay
    y0[layout.dose_rate_state("blood", 0)] = 0.5 * decay
    y0 = set_damage(y0, p, layout, 0.0)  # Γ(0) = 0 with a dose rate already on: residual r(0) = −u/(μ − λ)
    y = integrate(y0, p, 40 * effective_half_life)
    tumour = tissue("tumour")
    g = g_factor_monoexponential(effective_half_life, tumour.repair_half_time)
    expected = bed_closed_form(dose, tumour.alpha_beta, g)
    result = observables(y, p, layout)
    assert result["dose"][0] == pytest.approx(dose, rel=1e-9)
    assert result["bed"][0] == pytest.approx(float(expected), rel=1e-6)
    marrow = tissue("red_marrow")
    marrow_bed = bed_closed_form(0.5, marrow.alpha_beta, g_factor_monoexponential(effective_half_life,
                                                                                 marrow.repair_half_time))
    assert result["marrow_bed"] == pytest.approx(float(marrow_bed), rel=1e-6)
    alpha = tumour.alpha
    kill = log_cell_kill(y[layout.state("dose", 0)], y[layout.state("quadratic", 0)], alpha, alpha / tumour.alpha_beta)
    assert y[layout.state("viable", 0)] / y0[layout.state("viable", 0)] == pytest.approx(math.exp(-kill), rel=1e-7)
    fraction = load_parameters("human")["low_uptake_dose_fraction"]
    kill_low = log_cell_kill(fraction * y[layout.state("dose", 0)], fraction**2 * y[layout.state("quadratic", 0)],
                             alpha, alpha / tumour.alpha_beta)
    assert y[layout.state("viable_low", 0)] / y0[layout.state("viable_low", 0)] == pytest.approx(math.exp(-kill_low), rel=1e-7)
    assert kill_low < 0.5 * kill  # the target-low cells are what survives
    # lymphocytes without recovery: survival exp(−α_L D − 2β_L ∫ḊΓ) with the lymphocyte α = ln10/D10
    lymphocytes = tissue("lymphocytes")
    p2, y2 = p.copy(), y0.copy()
    p2[layout.parameter("lymphocyte_recovery_rate")] = 0.0
    y2[layout.dose_rate_state(0, 0)] = 0.0
    y2 = set_damage(y2, p2, layout, 0.0)
    y_end = integrate(y2, p2, 40 * effective_half_life)
    expected_kill = log_cell_kill(y_end[layout.state("marrow_dose")], y_end[layout.state("marrow_quadratic")],
                                  lymphocytes.alpha, lymphocytes.alpha / lymphocytes.alpha_beta)
    assert y_end[layout.state("lymphocytes")] / y2[layout.state("lymphocytes")] == pytest.approx(
        math.exp(-expected_kill), rel=1e-7)


def test_doomed_cells_and_antigen_balance():
    """Without growth and immune kill, V + U + (cells died) = V0: the antigen state with no clearance and
    unit yield counts the dead volume ∫U/τ exactly."""
    layout = ModelLayout(1, 1)
    p, y0 = patient("mouse", {"switch_growth": 0, "kill_rate": 0.0, "antigen_clearance_rate": 0.0,
                              "antigen_yield": 1.0}, layout=layout, volumes=(0.2,))
    p[layout.dose_rate_decay_param(0, 0)] = 0.26
    y0[layout.dose_rate_state(0, 0)] = 10 * 0.26
    y0 = set_damage(y0, p, layout, 0.0)
    for day in (1.0, 5.0, 30.0):
        y = integrate(y0, p, day)
        total = y[layout.state("viable", 0)] + y[layout.state("doomed", 0)] + y[layout.state("antigen")]
        assert total == pytest.approx(0.2, rel=1e-8)


# --- antibody ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("agent", ["pembrolizumab", "nivolumab"])
def test_antibody_pk_and_occupancy_match_kinetics(agent):
    """Concentration after 240 mg (nivolumab, time-varying CL, Bajaj et al. 2017) or 200 mg pembrolizumab
    (weight-scaled, Ahamadi et al. 2017) equals rptici.kinetics to 1e-6; occupancy = kinetics.occupancy."""
    layout = ModelLayout(1, 1)
    weight = 60.0
    parameters = load_parameters("human", antibody=agent)
    cohort = ImmunityCovariates(lesion_volumes_mL=[[5.0]], weight_kg=[weight])
    p = parameter_vector(parameters, layout, cohort)[0]
    y0 = initial_state(parameters, layout, cohort)[0]
    dose = 240.0 if agent == "nivolumab" else 200.0
    y0[layout.antibody_central] = dose
    times = [7.0, 21.0, 84.0]
    expected = simulate_antibody(agent, [0.0], [dose], [weight], times)[:, 0]
    for time, value in zip(times, expected):
        y = integrate(y0, p, time, rtol=1e-11, atol=1e-12)
        result = observables(y, p, layout)
        assert result["concentration"] == pytest.approx(value, rel=1e-6)
        assert result["occupancy"] == pytest.approx(float(occupancy(value, agent)), rel=1e-12)


def test_ctla4_depletes_regulatory_cells_and_psa_follows_burden():
    """Anti-CTLA-4 lowers Tregs (switchable); PSA decays with its 2.2-day half-life (Stamey et al. 1987)
    when production stops."""
    layout = ModelLayout(1, 1)
    p, y0 = patient("human", layout=layout, volumes=(5.0,), psa=[30.0])
    y0[layout.ctla4_central] = 300.0
    y = integrate(y0, p, 21.0)
    turnover, depletion = p[layout.parameter("treg_turnover_rate")], p[layout.parameter("ctla4_treg_depletion_rate")]
    floor = turnover / (turnover + depletion)  # steady state at full occupancy
    assert floor < y[layout.state("regulatory")] < floor + 0.25 * (1 - floor)
    p_off = p.copy()
    p_off[layout.parameter("switch_ctla4_treg_depletion")] = 0.0
    assert integrate(y0, p_off, 21.0)[layout.state("regulatory")] == pytest.approx(1.0, abs=1e-12)
    p[layout.parameter("switch_psa")] = 0.0
    y = integrate(y0, p, 2.2)
    assert y[layout.state("psa")] == pytest.approx(15.0, rel=1e-6)


def test_exhaustion_diverts_cells_primed_under_unblocked_pdl1():
    """Newly primed effectors are exhausted in the share x = g e/(1 + g e), e = φ_P P (1 − occ) B/(B + K_X)
    (module docstring; Wherry 2011, Dovedi et al. 2014): exactly that share of the priming flux goes to the
    exhausted pool and the rest to the effector pool; a blocking antibody shrinks the share."""
    layout = ModelLayout(1, 1)
    p, y0 = patient("mouse", layout=layout, volumes=(0.1,), pdl1=[0.4])
    y = y0.copy()
    y[layout.state("dendritic_cells")] = 0.6
    p_off = p.copy()
    p_off[layout.parameter("switch_exhaustion")] = 0.0

    def share(state: np.ndarray) -> float:
        occupancy = observables(state, p, layout)["occupancy"]
        volume = state[layout.state("viable", 0)]
        engagement = (p[layout.parameter("pdl1_suppression")] * state[layout.state("pdl1", 0)] * (1 - occupancy)
                      * volume / (volume + p[layout.parameter("exhaustion_burden_half_saturation")]))
        x = p[layout.parameter("exhaustion_gain")] * engagement
        return float(x / (1 + x))

    effector, exhausted = layout.state("effector_blood"), layout.state("exhausted")
    for antibody_mg in (0.0, 0.02):
        state = y.copy()
        state[layout.antibody_central] = antibody_mg
        on, off = derivative(state, p), derivative(state, p_off)
        priming = off[effector]  # T = 1, no memory, no blood dose: dT/dt is the priming flux alone
        assert priming > 0
        assert on[exhausted] == pytest.approx(share(state) * priming, rel=1e-12)
        assert on[effector] + on[exhausted] == pytest.approx(priming, rel=1e-12)
        assert off[exhausted] == 0.0
        if antibody_mg == 0.0:
            unblocked = share(state)
            assert unblocked > 0.5  # most cells primed against unblocked PD-L1 are lost
        else:
            assert share(state) < 0.2 * unblocked


def test_exhausted_cells_are_not_rescued_by_later_blockade():
    """Exhaustion is fixed (Pauken et al. 2016 Science 354:1160): under full anti-PD-L1 occupancy an exhausted
    pool only dies, X(t) = X0 exp(−δ_X t) to 1e-8, and none of it returns to the effector pool (T stays 1);
    blockade raises its killing contribution from f_X0 to f_XB only (the infiltrate's target rises by
    k_E χ (f_XB − f_X0) X0 with reach 1)."""
    layout = ModelLayout(1, 1)
    p, y0 = patient("mouse", layout=layout, volumes=(0.1,), infiltration=[1.0])
    y0[layout.state("exhausted")] = 1.0
    blocked = y0.copy()
    blocked[layout.antibody_central] = 0.2  # 200 ug/mL in a 1 mL plasma volume: occupancy > 0.99
    occupancy = float(observables(blocked, p, layout)["occupancy"])
    assert occupancy > 0.99
    infiltrate = layout.state("effector", 0)
    gain = derivative(blocked, p)[infiltrate] - derivative(y0, p)[infiltrate]
    f0, fb = p[layout.parameter("exhausted_function")], p[layout.parameter("exhausted_function_blocked")]
    assert gain == pytest.approx(p[layout.parameter("effector_tumour_turnover_rate")] * (fb - f0) * occupancy,
                                 rel=1e-12)
    y = integrate(blocked, p, 10.0)
    assert y[layout.state("exhausted")] == pytest.approx(math.exp(-10.0 * p[layout.parameter("exhausted_death_rate")]),
                                                        rel=1e-8)
    assert y[layout.state("effector_blood")] == pytest.approx(1.0, abs=1e-12)


def test_jit_shim_without_numba(monkeypatch):
    """Where numba is missing the same function runs as plain Python (and still has py_func)."""
    from rptici.immunity import equations

    monkeypatch.setattr(equations, "_njit", None)

    def square(x):
        return x * x

    wrapped = equations.jit(square)
    assert wrapped is square and wrapped.py_func is square and wrapped(3.0) == 9.0


@pytest.mark.parametrize("ratio", [0.2, 0.4999, 0.5, 0.999, 1.0, 3.0])
def test_repair_split_matches_the_closed_form_damage(ratio):
    """Γ' = Ḋ − μΓ for Ḋ = c e^{−λt}: Γ(t) = c (e^{−λt} − e^{−μt})/(μ − λ) (c t e^{−μt} at λ = μ), whether
    the component is slow (algebraic) or fast (through the residual), including λ at or near μ; and Γ stays
    continuous across a second administration (the residual jump of repair_residual_events)."""
    from rptici.simulation.solver import solve_batched

    layout = ModelLayout(1, 1)
    p, y0 = patient("human", {"switch_growth": 0}, layout=layout, volumes=(10.0,))
    mu = p[layout.parameter("repair_rate", 0)]
    decay = ratio * mu
    p[layout.dose_rate_decay_param(0, 0)] = decay
    p[layout.dose_rate_decay_param("blood", 0)] = 1.0
    c = 2.0
    state = layout.dose_rate_state(0, 0)
    events = (np.array([[0.0, 0.3]]), np.array([[state, state]]), np.array([[c, c]]))
    events = repair_residual_events(layout, p[None, :], events)
    times = np.array([0.0, 0.1, 0.3, 0.5, 1.0])
    result = solve_batched(rhs, y0[None, :], p[None, :], times, *events, t0=0.0, rtol=1e-10, atol=1e-14)
    gamma = damage(result.y[0], p, layout)[:, 1]

    def closed(elapsed):
        elapsed = np.maximum(elapsed, 0.0)
        if decay == mu:
            return c * elapsed * np.exp(-mu * elapsed)
        return c * (np.exp(-decay * elapsed) - np.exp(-mu * elapsed)) / (mu - decay)

    expected = closed(times) + np.where(times >= 0.3, closed(times - 0.3), 0.0)
    np.testing.assert_allclose(gamma, expected, rtol=1e-7, atol=1e-12)


def test_target_low_cells_count_in_the_volume_and_carry_the_regrowth():
    """Volume = viable + target-low + doomed; with half the cells target-low (f = 0.2) a 60 Gy dose leaves the lesion
    at least the target-low half × exp(−α f D − 2β f²∫ḊΓ) ≫ the homogeneous survival exp(−αD − ...) (LQ)."""
    layout = ModelLayout(1, 1)
    overrides = {"switch_growth": 0, "kill_rate": 0.0, "stroma_share": 0.0, "switch_mitotic_death": 0}
    results = {}
    for switch in (1.0, 0.0):
        p, y0 = patient("human", {**overrides, "switch_uptake_heterogeneity": switch}, layout=layout, volumes=(8.0,),
                        low_uptake_fraction=0.5)
        decay = math.log(2) / 2.5
        p[layout.dose_rate_decay_param(0, 0)] = p[layout.dose_rate_decay_param("blood", 0)] = decay
        y0[layout.dose_rate_state(0, 0)] = 60.0 * decay
        y0 = set_damage(y0, p, layout, 0.0)
        y = integrate(y0, p, 60.0)
        volume = observables(y, p, layout)["volume"][0]
        parts = [y[layout.state(name, 0)] for name in ("viable", "viable_low", "doomed")]
        assert volume == pytest.approx(sum(parts), rel=1e-12)
        results[switch] = volume
    assert results[1.0] > 1e3 * results[0.0]
    assert results[1.0] > 4.0 * math.exp(-0.2 * 60.0 * tissue("tumour").alpha * 1.2)  # 4 mL target-low, f D = 12 Gy


# --- mitotic death and stroma -----------------------------------------------------------------------------------

def test_doomed_cells_of_a_slow_tumour_die_at_its_mitotic_rate():
    """Mitotic death: τ = max(τ0, k T_d) (Dale & Jones 1998 Br J Radiol 71:465: lethally damaged cells die at
    mitosis, so slowly proliferating tumours keep them for months). A NET with T_d = 450 d and k = 0.3 keeps its
    doomed cells for τ = 135 d, so 90 d after an instantaneous kill exp(−90/135) = 51 % of them remain (vs
    exp(−90/5) ≈ 0 with the fixed 5-d lifetime); a fast tumour (T_d = 10 d) keeps τ0 = 5 d. Tolerance 1e-6."""
    layout = ModelLayout(1, 1)
    overrides = {"switch_growth": 0, "kill_rate": 0.0, "doomed_cell_lifetime": 5.0, "doomed_lifetime_doublings": 0.3}
    for doubling_time, lifetime in ((450.0, 135.0), (10.0, 5.0)):
        p, y0 = patient("human", overrides, layout=layout, volumes=(8.0,), doubling_time_days=doubling_time)
        assert p[layout.parameter("doomed_death_rate", 0)] == pytest.approx(1.0 / lifetime, rel=1e-12)
        y0[layout.state("doomed", 0)] = 6.0
        y0[layout.state("viable", 0)] = 2.0
        y0[layout.state("viable_low", 0)] = 0.0
        y = integrate(y0, p, 90.0)
        assert y[layout.state("doomed", 0)] == pytest.approx(6.0 * math.exp(-90.0 / lifetime), rel=1e-6, abs=1e-12)
        off = p.copy()
        off[layout.parameter("switch_mitotic_death")] = 0.0
        y_off = integrate(y0, off, 90.0)
        assert y_off[layout.state("doomed", 0)] == pytest.approx(6.0 * math.exp(-90.0 / 5.0), rel=1e-6, abs=1e-12)


def test_stroma_keeps_the_measured_lesion_from_disappearing():
    """Measured volume = tumour cells + stroma S0 = σ × the measured baseline, which does not shrink (model docstring,
    "Stroma"). With σ = 0.2 a lesion whose every tumour cell is dead keeps σ of its baseline
    measured volume: the diameter falls by 1 − 0.2^(1/3) = 41.5 % (exact, rel 1e-9), a RECIST partial response
    (≥ 30 %, Eisenhauer et al. 2009 Eur J Cancer 45:228) but never a disappearance; above the baseline the stroma
    grows with the tumour (same share σ); σ = 0 gives the tumour volume."""
    layout = ModelLayout(1, 1)
    p, y0 = patient("human", {"stroma_share": 0.2}, layout=layout, volumes=(8.0,))
    baseline = observables(y0, p, layout)
    assert baseline["volume"][0] == pytest.approx(8.0, rel=1e-12)  # the covariate is the measured volume
    assert sum(y0[layout.state(name, 0)] for name in ("viable", "viable_low")) == pytest.approx(0.8 * 8.0, rel=1e-12)
    empty = y0.copy()
    empty[[layout.state(name, 0) for name in ("viable", "viable_low", "doomed")]] = 0.0
    cleared = observables(empty, p, layout)
    assert 1.0 - cleared["diameter"][0] / baseline["diameter"][0] == pytest.approx(1.0 - 0.2 ** (1.0 / 3.0), rel=1e-9)
    grown = y0.copy()
    grown[[layout.state("viable", 0), layout.state("viable_low", 0)]] *= 3.0
    assert observables(grown, p, layout)["volume"][0] == pytest.approx(3.0 * 8.0, rel=1e-12)
    p0, y00 = patient("human", {"stroma_share": 0.0}, layout=layout, volumes=(8.0,))
    assert observables(y00, p0, layout)["volume"][0] == pytest.approx(8.0, rel=1e-12)
    with pytest.raises(InputError, match="stroma_share"):
        patient("human", {"stroma_share": 1.0}, layout=layout, volumes=(8.0,))


@pytest.mark.parametrize("gain", [0.0003, 0.5])
def test_anti_ctla4_expansion_is_bounded_by_its_set_point_and_washes_out(gain):
    """Ipilimumab 3 mg/kg x4 without RPT raises the effector pool towards its set point 1 + g·occupancy and no
    further, and the pool returns to baseline after wash-out: memory forms only as antigen wanes, so the loop memory
    → recall → effectors → memory cannot grow by itself. (Before December 2026 it grew at about 0.1/d, and a gain
    of 0.0003 cut CheckMate 650's PSA by 10⁴ within a year.)"""
    import dataclasses

    from rptici.kinetics import Regimen
    from rptici.simulation.engine import simulate

    regimen = Regimen.model_validate({"ici": [{"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "3 weeks",
                                              "infusions": 4}]})
    patients = {"lesion_volumes_mL": np.array([[12.0, 3.0], [40.0, np.nan], [5.0, 9.0]]),
                "infiltration": np.array([0.2, 0.6, 1.0]), "psa": np.array([10.0, 40.0, 3.0])}
    base = load_parameters("human")
    parameters = dataclasses.replace(base, values={**base.values, "ctla4_expansion_gain": gain})
    result = simulate(regimen, patients, np.arange(0.0, 731.0, 7.0), parameters=parameters, organs=(),
                      outputs=("effector_blood", "memory", "ctla4_occupancy"), output_dtype=np.float64)
    assert np.all(result.success)
    assert result["ctla4_occupancy"].max() > 0.9  # the antibody reached its target
    assert result["effector_blood"].max() <= 1.0 + gain * result["ctla4_occupancy"].max() + 1e-9
    assert result["effector_blood"].max() > 1.0 + 0.5 * gain  # and did expand the pool
    np.testing.assert_allclose(result["effector_blood"][:, -1], 1.0, atol=0.03 * gain)
