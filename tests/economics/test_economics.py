"""Economics layer (issue 18): cohort models against closed forms, discounting and the half-cycle correction
against hand-checked examples, inputs validation, a hand-costed virtual-trial table, the probabilistic
analysis, and the ``economics`` command on a small virtual trial."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from rptici.cli import app
from rptici.economics import (acceptability, curve_from_mapping, cycle_grid, digitised, discount_factors,
                              evaluate_patients, exponential, icer, load_inputs, loglogistic, markov,
                              partitioned_survival, probabilistic, tornado, weibull)
from rptici.economics.sensitivity import sample_parameters
from rptici.errors import InputError

PACKAGED = Path(__file__).resolve().parents[2] / "src/rptici/data/economics/lu_psma_pembrolizumab_us.yaml"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LUTETIUM = {"rpt": {"agent": "[177Lu]Lu-PSMA-617", "activity": "8.5 GBq", "activity_step": "-0.5 GBq",
                    "interval": "6 weeks", "cycles": 6}}
COMBINATION = {**LUTETIUM, "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 35},
               "sequence": {"order": "concurrent"}}


def packaged() -> dict:
    return yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))


# --- cohort models against closed forms --------------------------------------------------------------------------

def test_two_state_constant_hazard_matches_closed_form():
    # alive → dead at λ = 0.5/year, 3.5 %/year, monthly cycles, 40 years; trapezoid occupancy, midpoint discount:
    # Σ c·(e^{-λkc} + e^{-λ(k+1)c})/2 · e^{-δ(k+½)c} = c(1+e^{-λc})/2 · e^{-δc/2} · (1−qⁿ)/(1−q), q = e^{-(λ+δ)c}
    rate, discount, cycle, horizon = 0.5, 0.035, 1 / 12, 40.0
    times = cycle_grid(horizon, cycle)
    trace = markov(0.0, rate, 0.0, times)
    delta, n = math.log(1 + discount), times.size - 1
    q = math.exp(-(rate + delta) * cycle)
    discrete = cycle * (1 + math.exp(-rate * cycle)) / 2 * math.exp(-delta * cycle / 2) * (1 - q ** n) / (1 - q)
    assert trace.life_years(discount) == pytest.approx(discrete, rel=1e-12)
    # and the continuous-time answer ∫ e^{-(λ+δ)t} dt = (1 − e^{-(λ+δ)T})/(λ+δ) within the trapezoid rule's
    # error c²(λ+δ)²/12 = 1.6e-4
    continuous = (1 - math.exp(-(rate + delta) * horizon)) / (rate + delta)
    assert trace.life_years(discount) == pytest.approx(continuous, rel=2e-4)
    # undiscounted life expectancy 1/λ = 2 years; without the correction it is half a cycle too long
    assert trace.life_years(0.0) == pytest.approx(2.0, rel=2e-4)
    assert trace.life_years(0.0, half_cycle=False) == pytest.approx(2.0 + cycle / 2, rel=1e-3)


def test_partitioned_survival_on_three_state_curves_reproduces_the_markov_model():
    # PF→PD a, PF→dead b, PD→dead c: PFS = e^{-(a+b)t}, OS = PFS + a/(a+b−c)·(e^{-ct} − e^{-(a+b)t})
    a, b, c = 0.8, 0.1, 0.6
    times = cycle_grid(10.0, 1 / 12)
    free = exponential(a + b)
    overall = lambda t: free(t) + a / (a + b - c) * (np.exp(-c * np.asarray(t)) - free(t))  # noqa: E731
    partitioned = partitioned_survival(free, overall, times, progression_share=a / (a + b))
    reference = markov(a, b, c, times)
    np.testing.assert_allclose(partitioned.occupancy, reference.occupancy, atol=1e-12)
    np.testing.assert_allclose(partitioned.progressions, reference.progressions, atol=1e-12)
    np.testing.assert_allclose(partitioned.deaths, reference.deaths, atol=1e-12)


def test_discounting_and_half_cycle_correction_hand_checked():
    # Discount factor 1/(1+r)^t (Drummond et al. 2015, ch. 4): 1/1.035^10 = 0.708919 (NICE reference-case rate)
    assert discount_factors(10.0, 0.035) == pytest.approx(0.708919, abs=1e-6)
    # Annual cycles, 10 % die each year (S_k = 0.9^k), no discounting. Rewards at the start of each cycle give
    # Σ 0.9^k = 1/(1 − 0.9) = 10 years; the half-cycle correction removes half a cycle (TreeAge Pro manual,
    # "Half-cycle correction": the uncorrected model overestimates life expectancy by about half a cycle): 9.5 years.
    # The continuous-time answer is −1/ln 0.9 = 9.4912 years.
    trace = partitioned_survival(exponential(-math.log(0.9)), exponential(-math.log(0.9)), cycle_grid(400, 1.0))
    assert trace.life_years(0.0, half_cycle=False) == pytest.approx(10.0, rel=1e-9)
    assert trace.life_years(0.0, half_cycle=True) == pytest.approx(9.5, rel=1e-9)
    assert trace.life_years(0.0) == pytest.approx(-1 / math.log(0.9), rel=1e-3)
    # discounted at 3.5 %: Σ_k ½(0.9^k + 0.9^{k+1})·1.035^-(k+½) = 0.95·1.035^-½ / (1 − 0.9/1.035)
    assert trace.life_years(0.035) == pytest.approx(0.95 / math.sqrt(1.035) / (1 - 0.9 / 1.035), rel=1e-9)


def test_parametric_and_digitised_curves():
    assert weibull(1.5, 2.0)(2.0 * math.log(2) ** (1 / 1.5)) == pytest.approx(0.5)  # median = scale·(ln 2)^(1/k)
    assert loglogistic(3.0, 1.2)(1.2) == pytest.approx(0.5)  # the scale is the median
    median = curve_from_mapping({"distribution": "exponential", "median": "11.3 months"}, "os")
    assert median(11.3 / 12) == pytest.approx(0.5)
    curve = digitised([1.0, 2.0], [0.8, 0.4])
    assert curve([0.0, 1.0, 1.5, 2.0, 3.0]) == pytest.approx([1.0, 0.8, math.sqrt(0.32), 0.4, 0.2])
    with pytest.raises(InputError, match="os.distribution"):
        curve_from_mapping({"distribution": "gompertz"}, "os")
    with pytest.raises(InputError, match="non-increasing"):
        digitised([1.0, 2.0], [0.4, 0.8])


# --- inputs ---------------------------------------------------------------------------------------------------------

def test_inputs_convert_units_and_keep_sources():
    inputs = load_inputs("lu_psma_pembrolizumab_us")
    assert inputs.currency == "USD" and inputs.price_year == 2024
    assert inputs.horizon_years == pytest.approx(10.0) and inputs.cycle_years == pytest.approx(1 / 12)
    assert inputs.parameters["progressed_care"].value == pytest.approx(3000 * 12)  # USD/month → per year
    assert inputs.parameters["progressed_care"].se == pytest.approx(0.2 * 3000 * 12)  # default 20 % of the value
    assert inputs.parameters["ici_drug_per_mg"].value == 54
    assert all(parameter.source for parameter in inputs.parameters.values())
    document = packaged()
    document["parameters"]["rpt_drug_per_activity"] = {"value": 5000, "unit": "USD/GBq", "source": "test"}
    assert load_inputs(document).parameters["rpt_drug_per_activity"].value == pytest.approx(5.0)  # per MBq


@pytest.mark.parametrize("path, value, message", [
    (("parameters", "drug_price"), {"value": 1, "unit": "USD", "source": "x"}, "parameters: got 'drug_price'"),
    (("parameters", "ici_drug_per_mg", "unit"), "EUR/mg", "ici_drug_per_mg.unit"),
    (("parameters", "utility_progressed", "value"), 1.2, "utility_progressed.value"),
    (("parameters", "end_of_life", "source"), "", "parameters.end_of_life"),
    (("discount", "costs", "value"), 3, "discount.costs"),
    (("model",), "microsimulation", "model"),
    (("adverse_event_causes", "colon"), "surgery", "adverse_event_causes.colon"),
])
def test_bad_inputs_name_the_field(path, value, message):
    document = packaged()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        load_inputs(document)


# --- a hand-costed trial table ---------------------------------------------------------------------------------------

def _patients(arms: dict[str, int]) -> pd.DataFrame:
    rows = []
    for arm, count in arms.items():
        for index in range(count):
            progressed = index % 2 == 0
            rows.append({"arm": arm, "status": "ok", "weight_kg": 80.0, "pfs_days": 400.0 if progressed else 730.5,
                         "pfs_event": progressed, "os_days": 730.5, "os_event": False,
                         "max_grade_colon": 3.0 if (arm == "combination" and index < count // 10) else 0.0,
                         "max_grade_platelets": 4.0 if index == 0 else 0.0})
    return pd.DataFrame(rows)


def test_trial_table_costs_by_hand():
    # Nobody dies in the 2-year follow-up and nothing is discounted, so every administration is given and paid:
    # 6 cycles × 42,500 USD = 255,000; 35 infusions × 200 mg × 54 USD/mg = 378,000; grade 3 colitis in 10 %
    # of the combination arm × 15,000 USD = 1,500; grade 4 platelets in 1 of 20 patients × 15,000 = 750.
    document = packaged()
    document["discount"] = {"costs": 0.0, "outcomes": 0.0}
    inputs = load_inputs(document)
    evaluation = evaluate_patients(_patients({"lutetium": 20, "combination": 20}),
                                   {"lutetium": LUTETIUM, "combination": COMBINATION}, "lutetium", inputs)
    result = evaluation.result()
    control, treated = result["arms"]
    assert control["costs"]["rpt_drug_per_administration"] == pytest.approx(255_000)
    assert treated["costs"]["ici_drug_per_mg"] == pytest.approx(378_000)
    assert treated["costs"]["ici_administration"] == pytest.approx(35 * 150)
    assert treated["costs"]["adverse_event_immune_grade3"] == pytest.approx(1_500)
    assert control["costs"]["adverse_event_radiation_grade4"] == pytest.approx(750)
    assert control["adverse_events_per_patient"]["immune_grade3"] == 0.0
    # same survival in both arms: the QALY difference is the immune-event disutility, 0.1 × 0.15 × 2/12
    comparison = result["comparisons"][0]
    assert comparison["incremental_qalys"] == pytest.approx(-0.1 * 0.15 * 2 / 12, rel=1e-9)
    assert comparison["quadrant"] == "dominated" and comparison["icer"] is None
    assert comparison["net_monetary_benefit"]["100000"] == pytest.approx(
        100_000 * comparison["incremental_qalys"] - comparison["incremental_cost"])
    with pytest.raises(InputError, match="control"):
        evaluate_patients(_patients({"a": 4, "b": 4}), {"a": LUTETIUM, "b": LUTETIUM}, "c", inputs)
    del document["adverse_event_causes"]["colon"]
    with pytest.raises(InputError, match=r"adverse_event_causes\.colon"):
        evaluate_patients(_patients({"a": 4, "b": 4}), {"a": LUTETIUM, "b": LUTETIUM}, "a", load_inputs(document))


def test_icer_quadrants_and_the_published_totals():
    # JNCCN 2023 (Lu-PSMA-617 vs SoC, US): costs 169,110 vs 85,398 USD, +0.42 QALY, ICER 200,708 USD/QALY.
    # Their rounded increment gives 199,314: within 1 % (an arithmetic check of the totals, not a reproduction).
    ratio, quadrant = icer(169_110 - 85_398, 0.42)
    assert ratio == pytest.approx(200_708, rel=0.01) and quadrant == "more costly, more effective"
    assert icer(-10.0, 0.1) == (None, "dominant")
    assert icer(10.0, -0.1) == (None, "dominated")
    assert icer(-10.0, -0.1) == (100.0, "less costly, less effective")


# --- probabilistic and one-way analyses --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published_evaluation():
    from rptici.economics import evaluate_curves

    inputs = load_inputs("lu_psma_pembrolizumab_us")
    arms = yaml.safe_load((EXAMPLES / "economics/vision_published_curves.yaml").read_text(encoding="utf-8"))
    return evaluate_curves(arms["arms"], inputs, arms["control"])


def test_probabilistic_draws_have_the_input_moments(published_evaluation):
    samples = sample_parameters(published_evaluation, 20_000, seed=3)
    inputs = published_evaluation.inputs
    for column, parameter in enumerate(inputs.parameters.values()):
        if parameter.se > 0 and parameter.value > 0:
            assert samples[:, column].mean() == pytest.approx(parameter.value, rel=0.02), parameter.name
            assert samples[:, column].std() == pytest.approx(parameter.se, rel=0.05), parameter.name
    utilities = samples[:, inputs.names.index("utility_progressed")]
    assert utilities.min() > 0 and utilities.max() < 1  # beta stays within (0, 1)
    again = probabilistic(published_evaluation, 50, seed=3)
    np.testing.assert_array_equal(again["costs"], probabilistic(published_evaluation, 50, seed=3)["costs"])


def test_acceptability_and_tornado(published_evaluation):
    draws = probabilistic(published_evaluation, 400, seed=1)
    curve = acceptability(draws["costs"], draws["qalys"], np.array([0.0, 1e5, 1e7]))
    np.testing.assert_allclose(curve.sum(axis=1), 1.0)
    cheaper = int(np.argmin(draws["costs"].mean(axis=0)))
    assert curve[0, cheaper] > 0.95  # at 0 per QALY the cheaper arm wins
    better = int(np.argmax(draws["qalys"].mean(axis=0)))
    assert curve[-1, better] > 0.9  # at a very high threshold the arm with more QALYs wins
    rows = tornado(published_evaluation, threshold=100_000)
    widths = [abs(row["benefit_high"] - row["benefit_low"]) for row in rows]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0
    base = published_evaluation.result([100_000])["comparisons"][0]["net_monetary_benefit"]["100000"]
    assert rows[0]["benefit_base"] == pytest.approx(base)


# --- the command on a small virtual trial -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A run folder as 'rptici trial run' writes it (ResultStore + scenario.json), with 60 synthetic patients per
    arm (exponential PFS and OS, censored at 2 years) so that the test does not simulate a trial."""
    from rptici.store import ResultStore

    folder = tmp_path_factory.mktemp("economics_run")
    rng = np.random.default_rng(7)
    arms = ["Lu-PSMA-617", "Lu-PSMA-617 + pembrolizumab"]
    frame = pd.DataFrame({"patient": np.arange(120), "arm": np.repeat(arms, 60), "status": "ok", "weight_kg": 80.0})
    progression = rng.exponential(np.repeat([300.0, 360.0], 60))
    death = progression + rng.exponential(300.0, 120)
    frame["pfs_days"], frame["pfs_event"] = np.minimum(progression, 730.5), progression < 730.5
    frame["os_days"], frame["os_event"] = np.minimum(death, 730.5), death < 730.5
    frame["max_grade_platelets"] = rng.integers(0, 5, 120).astype(float)
    frame["max_grade_colon"] = np.where(frame["arm"] == arms[1], rng.integers(0, 4, 120), 0).astype(float)
    ResultStore(folder, scenario_hash="synthetic", seed=7, patients=120, chunk_size=120).write_chunk(0, {"patients": frame})
    scenario = {"arms": [{"name": arms[0], "regimen": LUTETIUM, "control": True},
                         {"name": arms[1], "regimen": COMBINATION}]}
    (folder / "scenario.json").write_text(json.dumps({"scenario": scenario}), encoding="utf-8")
    return folder


def test_economics_command_json_and_report(small_run, tmp_path):
    report = tmp_path / "economics.html"
    result = CliRunner().invoke(app, ["economics", str(small_run), "--psa", "200", "--html", str(report), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert [arm["arm"] for arm in answer["arms"]] == ["Lu-PSMA-617", "Lu-PSMA-617 + pembrolizumab"]
    assert answer["arms"][0]["control"] and answer["comparisons"][0]["against"] == "Lu-PSMA-617"
    assert set(answer["comparisons"][0]["net_monetary_benefit"]) == {"50000", "100000", "150000", "200000"}
    comparison = answer["comparisons"][0]
    assert comparison["incremental_cost"] == pytest.approx(answer["arms"][1]["cost"] - answer["arms"][0]["cost"])
    assert answer["probabilistic"]["draws"] == 200 and answer["one_way"]
    page = report.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3 and "acceptability" in page
    markov_answer = json.loads(CliRunner().invoke(app, ["economics", str(small_run), "--model", "markov", "--psa", "0",
                                                        "--json"]).output)
    assert markov_answer["model"] == "markov" and "probabilistic" not in markov_answer
    bad = CliRunner().invoke(app, ["economics", str(small_run), "--model", "decision-tree"])
    assert bad.exit_code == 2 and "--model" in bad.output
    missing = CliRunner().invoke(app, ["economics", str(small_run), "--costs", "no_such_costs"])
    assert missing.exit_code == 2 and "costs: got 'no_such_costs'" in missing.output
    not_a_run = CliRunner().invoke(app, ["economics", str(tmp_path)])
    assert not_a_run.exit_code == 2 and "folder" in not_a_run.output
