"""Virtual-trial runner: chunk-size invariance, failure reporting, resume, scenario validation, summary contract."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rptici.errors import InputError
from rptici.parallel import run_chunks as real_run_chunks
from rptici.store import ResultStore
from rptici.trials import load_trial_scenario, run_trial
from rptici.trials import run as run_module
from rptici.trials.scenario import parse_schedule
from rptici.analysis.summary import summarize

LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2}
SCENARIO = {
    "name": "small", "disease": "mcrpc", "patients": 24, "follow_up": "6 months", "assessments": "q8w",
    "psa_assessments": "q4w", "seed": 3, "chunk_size": 24, "calibration": None,
    "arms": [{"name": "control", "control": True, "regimen": None},
             {"name": "lutetium", "regimen": {"rpt": LUTETIUM}}],
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("reference")
    run = run_trial(SCENARIO, folder, executor="serial")
    assert run.report.ok
    return ResultStore(folder).read("patients")


def test_same_numbers_whatever_the_chunk_size(reference, tmp_path):
    """Issue 5 "Reliability": same scenario and seed give identical numbers with chunks of 24 and of 7."""
    run = run_trial(SCENARIO, tmp_path, chunk_size=7, executor="threads:2")
    assert run.report.ok and len(run.report.completed) == 4
    other = ResultStore(tmp_path).read("patients")
    pd.testing.assert_frame_equal(reference, other)
    assert set(reference["arm"]) == {"control", "lutetium"} and (reference["arm"] == "control").sum() == 12


def test_a_failing_patient_is_reported_and_excluded(monkeypatch, tmp_path):
    """A patient whose simulation fails appears in the failures table with its reason and is left out of the
    summary; it is counted, never silently dropped."""
    from rptici.simulation import engine

    real = engine.simulate

    def failing(regimen, patients, t_out, *args, **kwargs):
        result = real(regimen, patients, t_out, *args, **kwargs)
        hit = np.flatnonzero(np.isclose(patients["weight_kg"], weight))
        for index in hit:
            result.status[index] = 3
            result.reasons[index] = "forced failure (test)"
        return result

    population = run_module.calibrated_population(load_trial_scenario(SCENARIO), 24, 3, run_module.Calibration())
    weight = float(population.weight_kg[5])
    monkeypatch.setattr(engine, "simulate", failing)
    run_trial(SCENARIO, tmp_path, executor="serial")
    failures = ResultStore(tmp_path).failures()
    assert failures["patient"].tolist() == [5] and failures["reason"].tolist() == ["forced failure (test)"]
    patients = ResultStore(tmp_path).read("patients")
    assert patients.loc[patients["patient"] == 5, "status"].item() == "failed"
    summary = summarize(tmp_path)
    assert summary["failed"] == 1 and sum(arm["n"] for arm in summary["arms"]) == 23
    assert sum(arm["failed"] for arm in summary["arms"]) == 1


def test_interrupted_run_resumes_missing_chunks_only(reference, monkeypatch, tmp_path):
    """Chunk 1 fails the first time; the re-run into the same folder computes chunk 1 only and the result
    equals the uninterrupted run."""
    calls: list[int] = []
    interrupted: list[bool] = []

    def flaky(task):
        calls.append(task.start)
        if task.start == 8 and not interrupted:
            interrupted.append(True)
            raise RuntimeError("interrupted")
        return run_module.simulate_chunk(task)

    def run_chunks(function, chunks, **kwargs):
        return real_run_chunks(flaky, chunks, **kwargs)

    monkeypatch.setattr(run_module, "run_chunks", run_chunks)
    first = run_trial(SCENARIO, tmp_path, chunk_size=8, executor="serial")
    assert first.report.failed_indices == [1]
    assert ResultStore(tmp_path).missing_chunks() == [1]
    calls.clear()
    second = run_trial(SCENARIO, tmp_path, chunk_size=8, executor="serial")
    assert calls == [8] and second.report.completed == [1]
    pd.testing.assert_frame_equal(reference, ResultStore(tmp_path).read("patients"))


def test_summary_contract_and_numbers(reference, tmp_path):
    run_trial(SCENARIO, tmp_path, executor="serial")
    summary = summarize(tmp_path)
    arms = {row["arm"]: row for row in summary["arms"]}
    treated = arms["lutetium"]
    for key in ("arm", "n", "orr", "psa50", "median_pfs_months", "median_os_months", "hr_pfs", "hr_os", "grade3plus_rate"):
        assert key in treated
    assert arms["control"]["hr_pfs"] is None and len(treated["hr_os"]) == 3
    group = reference[(reference["arm"] == "lutetium") & reference["measurable"]]
    assert treated["orr"] == pytest.approx(group["objective_response"].mean(), abs=1e-12)
    assert set(treated["grade3plus_rate"]) == {"radiation", "immune", "both", "any"}
    curve = summary["km"]["os"]["lutetium"]
    assert curve["at_risk"]["n"][0] == treated["n"] and curve["survival"][0] == 1.0
    # untreated tumours grow: no objective response without treatment (RECIST 1.1 needs a 30 % decrease)
    assert arms["control"]["orr"] == 0.0


def test_whole_body_tumour_dose_is_a_patient_column(reference):
    """Issue 13 item 1: each patient's whole-body tumour dose (mass-weighted lesion dose, Gy) is in the trial
    table: 0 without RPT, positive with Lu-PSMA-617 (two 7.4 GBq cycles)."""
    ok = reference["status"] == "ok"
    control = reference[ok & (reference["arm"] == "control")]["tumour_dose_Gy"]
    treated = reference[ok & (reference["arm"] == "lutetium")]["tumour_dose_Gy"]
    assert np.all(control == 0.0) and np.all(treated > 1.0)


def test_schedule_and_validation():
    """'q8w x3 then q12w': days 0, 56, 112, 168, then every 84 days (VISION imaging schedule)."""
    assert parse_schedule("q8w x3 then q12w", 400).tolist() == [0, 56, 112, 168, 252, 336]
    with pytest.raises(InputError, match="disease"):
        load_trial_scenario({**SCENARIO, "disease": "melanoma"})
    with pytest.raises(InputError, match="assessments"):
        load_trial_scenario({**SCENARIO, "assessments": "sometimes"})
    with pytest.raises(InputError, match="activity"):
        load_trial_scenario({**SCENARIO, "arms": [{"name": "a", "regimen": {"rpt": {**LUTETIUM, "activity": "7.4 kg"}}}]})
    scenario = load_trial_scenario({**SCENARIO, "patients": 10,
                                    "arms": [{"name": "a", "ratio": 2}, {"name": "b", "control": True}]})
    assert scenario.arm_counts() == [7, 3] and scenario.arm_counts(30) == [20, 10]


def test_disease_specific_death_hazard_scale():
    """``death_hazard_scale.<disease>`` multiplies the burden term for that disease only, on top of the global
    scale; a calibration file may carry it, an unknown name is still refused."""
    from rptici.errors import InputError
    from rptici.trials.endpoints import SurvivalParameters
    from rptici.trials.scenario import Calibration, calibration_from_document

    base = SurvivalParameters.default().burden_hazard_at_reference
    calibration = calibration_from_document({"parameters": {"death_hazard_scale": 2.0,
                                                            "death_hazard_scale.gep_net": 0.25}}, "test")
    assert calibration.survival_parameters("gep_net").burden_hazard_at_reference == pytest.approx(0.5 * base)
    assert calibration.survival_parameters("mcrpc").burden_hazard_at_reference == pytest.approx(2.0 * base)
    assert Calibration().survival_parameters("gep_net").burden_hazard_at_reference == pytest.approx(base)
    with pytest.raises(InputError, match="death_hazard_scale.<disease>"):
        calibration_from_document({"parameters": {"death_scale.gep_net": 1.0}}, "test")


def test_a_model_parameter_may_have_a_disease_specific_value():
    """``immunity.<parameter>.<disease>`` replaces ``immunity.<parameter>`` for that disease only (the doomed-cell
    lifetime of slowly cycling NETs), and a GEP-NET trial's patients keep their doomed cells longer with it; a
    suffix that is no disease is refused, naming the parameter."""
    from rptici.trials.scenario import calibration_from_document

    calibration = calibration_from_document({"parameters": {"immunity.doomed_lifetime_doublings": 0.25,
                                                            "immunity.doomed_lifetime_doublings.gep_net": 2.0,
                                                            "immunity.kill_rate": 0.1}}, "test")
    assert calibration.immunity_overrides("gep_net") == {"doomed_lifetime_doublings": 2.0, "kill_rate": 0.1}
    assert calibration.immunity_overrides("mcrpc") == {"doomed_lifetime_doublings": 0.25, "kill_rate": 0.1}
    assert calibration.immunity_overrides() == {"doomed_lifetime_doublings": 0.25, "kill_rate": 0.1}
    with pytest.raises(InputError, match=r"immunity.kill_rate.prostate"):
        calibration_from_document({"parameters": {"immunity.kill_rate.prostate": 0.1}}, "test")

    scenario = load_trial_scenario({"name": "net", "disease": "gep_net", "patients": 60, "follow_up": "8 months",
                                    "arms": [{"name": "Lu-DOTATATE", "regimen": {"rpt": {
                                        "agent": "[177Lu]Lu-DOTATATE", "activity": "7.4 GBq", "interval": "8 weeks",
                                        "cycles": 2}}}]})
    short, long = (run_module.simulate_trial(scenario, calibration=calibration_from_document(
        {"parameters": {"immunity.doomed_lifetime_doublings.gep_net": value}}, "test"))["patients"]
        for value in (0.1, 3.0))
    # doomed cells keep their volume while they live: a longer lifetime, a smaller best shrinkage
    assert long["best_percent_change"].median() > short["best_percent_change"].median() + 5


def test_alpha_spread_widens_the_log_spread_around_the_median_and_keeps_the_order():
    """``alpha_spread`` k: α' = median × (α/median)^k, so the standard deviation of ln α is k times the file's,
    the median and every patient's rank stay, and k = 1 changes nothing (calibrated_population applies it before
    ``alpha_scale``)."""
    from rptici.population import load_disease, sample_population
    from rptici.trials.run import calibrated_population, spread_log
    from rptici.trials.scenario import calibration_from_document

    alpha = np.asarray(sample_population("mcrpc", 401, 3).alpha_per_Gy)
    median = load_disease("mcrpc").marginal("alpha").median()
    spread = spread_log(alpha, median, 3.0)
    assert np.std(np.log(spread)) == pytest.approx(3.0 * np.std(np.log(alpha)), rel=1e-9)
    assert np.array_equal(np.argsort(spread), np.argsort(alpha))
    assert np.median(spread) == pytest.approx(median * (np.median(alpha) / median) ** 3)
    assert spread_log(alpha, median, 1.0) == pytest.approx(alpha, rel=1e-12)
    scenario = load_trial_scenario(SCENARIO)
    calibration = calibration_from_document({"parameters": {"alpha_spread": 2.0, "alpha_scale": 0.5}}, "test")
    plain = np.asarray(run_module.sampled_population(scenario, 40, 3, calibration)[0].alpha_per_Gy)
    fitted = np.asarray(calibrated_population(scenario, 40, 3, calibration).alpha_per_Gy)
    assert fitted == pytest.approx(0.5 * spread_log(plain, median, 2.0))


# --- issue 19, item 14 -----------------------------------------------------------------------------------------
def test_toxicity_grades_of_a_control_arm_are_zero_not_missing(reference):
    """The control arm gets no RPT dose: its radiation grades are 0 (they were NaN: no dose, no column)."""
    grades = reference[[column for column in reference.columns if column.startswith("max_grade_")]]
    control = grades[reference["arm"] == "control"]
    assert not grades.isna().any().any()
    assert (control[["max_grade_kidney", "max_grade_salivary", "max_grade_platelets",
                     "max_grade_neutrophils"]] == 0).all().all()


@pytest.mark.parametrize("ratios, text", [((1e308, 1e308), None), ((1e-300, 1.0), "arm(s) control would get none")])
def test_extreme_allocation_ratios_split_plainly_or_say_why_not(ratios, text):
    """Ratios of 1e308 overflowed their sum ("got -18446744073709551614"); an arm that would get no patient says so."""
    arms = [{**arm, "ratio": ratio} for arm, ratio in zip(SCENARIO["arms"], ratios)]
    scenario = load_trial_scenario({**SCENARIO, "arms": arms})
    if text is None:
        assert scenario.arm_counts(2) == [1, 1]
        return
    with pytest.raises(InputError, match=r"^patients: got 2; expected enough patients for every arm") as caught:
        scenario.arm_counts(2)
    assert text in str(caught.value)


def test_prior_lines_scale_infiltration_and_a_first_line_trial_has_none():
    """``prior_line_infiltration.<disease>`` f: each patient's infiltration × f^lines (prior systemic lines from the
    population file; JAVELIN Merkel 200 part A: 1, 2, >= 3 in 59/30/11 %); a scenario's ``prior_lines`` sets every
    patient's lines (a first-line trial: 0, so f changes nothing); KEYNOTE-017's replay is first line (its record's
    disease text), JAVELIN Merkel 200's is not; a negative count names the field."""
    from rptici.analysis.replay import replay_scenario
    from rptici.errors import InputError
    from rptici.trials.run import calibrated_population
    from rptici.trials.scenario import calibration_from_document

    document = {"name": "merkel", "disease": "merkel", "arms": [{"name": "avelumab"}], "patients": 60}
    plain = calibrated_population(load_trial_scenario(document), 60, 3, run_module.Calibration())
    calibration = calibration_from_document({"parameters": {"prior_line_infiltration.merkel": 0.5}}, "test")
    fitted = calibrated_population(load_trial_scenario(document), 60, 3, calibration)
    lines = np.asarray(plain.prior_lines)
    assert set(lines) == {1, 2, 3}
    assert np.asarray(fitted.immune_infiltration) == pytest.approx(np.asarray(plain.immune_infiltration) * 0.5 ** lines)
    first = calibrated_population(load_trial_scenario({**document, "prior_lines": 0}), 60, 3, calibration)
    assert np.all(np.asarray(first.prior_lines) == 0)
    assert np.asarray(first.immune_infiltration) == pytest.approx(np.asarray(plain.immune_infiltration))
    other = calibration_from_document({"parameters": {"prior_line_infiltration.sclc": 0.5}}, "test")
    assert np.asarray(calibrated_population(load_trial_scenario(document), 60, 3, other).immune_infiltration) == \
        pytest.approx(np.asarray(plain.immune_infiltration))  # another disease's factor does not apply
    assert replay_scenario("KEYNOTE-017", 40, seed=1).prior_lines == 0
    assert replay_scenario("JAVELIN Merkel 200 (part A)", 40, seed=1).prior_lines is None
    with pytest.raises(InputError, match="prior_lines"):
        load_trial_scenario({**document, "prior_lines": -1})


def test_the_death_hazard_rises_with_prior_lines_and_the_site_of_disease(reference, tmp_path):
    """Each patient's factor on the disease's death hazard is his site ratio (liver 1.73, lung 1.14 in mCRPC;
    Halabi et al. 2016) times g^lines (``prior_line_hazard.<disease>``); with the same seed every patient's death comes
    no later when g > 1 (the same uniform inverts a larger cumulative hazard), and strictly earlier for some."""
    import yaml
    from rptici.population import site_hazard_ratio
    from rptici.trials.run import calibrated_population, death_hazard_ratio
    from rptici.trials.scenario import calibration_from_document

    calibration = calibration_from_document({"parameters": {"prior_line_hazard.mcrpc": 1.5}}, "test")
    population = calibrated_population(load_trial_scenario(SCENARIO), 24, 3, calibration)
    lines = np.asarray(population.prior_lines, dtype=float)
    assert death_hazard_ratio(population, calibration, "mcrpc") == pytest.approx(
        site_hazard_ratio(population) * 1.5 ** lines)
    assert death_hazard_ratio(population, calibration, "sclc") == pytest.approx(site_hazard_ratio(population))
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"prior_line_hazard.mcrpc": {"value": 1.5, "unit": "1",
                                                                              "source": "test"}}}))
    run = run_trial({**SCENARIO, "calibration": str(path)}, tmp_path / "run", executor="serial")
    later = ResultStore(tmp_path / "run").read("patients")
    assert run.report.ok and len(later) == len(reference)
    assert np.all(later["death_days"].to_numpy() <= reference["death_days"].to_numpy())
    assert np.any(later["death_days"].to_numpy() < reference["death_days"].to_numpy())


def test_an_arm_sets_its_own_prior_lines_whatever_the_chunking():
    """CheckMate 650's chemotherapy-naive cohort has one prior line (its amendment), the post-chemotherapy cohort the
    mCRPC file's 2-5; the lines follow the allocation, so they are the same whatever the chunk size."""
    from rptici.analysis.replay import replay_scenario
    from rptici.trials.run import chunk_tasks

    scenario = replay_scenario("CheckMate 650", 90, seed=2)
    assert [arm.prior_lines for arm in scenario.arms] == [1, None]

    def lines(chunk_size):
        tasks = chunk_tasks(scenario, chunk_size=chunk_size).values()
        return (np.concatenate([np.asarray(task.population.prior_lines) for task in tasks]),
                np.concatenate([task.arms for task in tasks]))

    prior, arms = lines(1000)
    assert np.all(prior[arms == 0] == 1) and set(prior[arms == 1]) <= {2, 3, 4, 5}
    assert np.array_equal(lines(17)[0], prior)


def test_a_mixed_prior_line_cohort_gets_its_shares_whatever_the_chunking():
    """KEYNOTE-641 enrolled men with and without prior abiraterone (60.9 %; Graff et al. ESMO 2023 abstract 1771MO):
    each arm has 39.1 % with no prior line for mCRPC and 60.9 % with one, to the nearest patient (20 of 51, 20 of 50), the patients with the
    fewest sampled lines getting none; the same whatever the chunk size. Shares that do not sum to 1, or lines out of
    range, name the field."""
    from rptici.analysis.replay import replay_scenario
    from rptici.trials.run import assigned_prior_lines, chunk_tasks

    scenario = replay_scenario("KEYNOTE-641", 101, seed=3)
    assert [arm.prior_lines for arm in scenario.arms] == [{0: 0.391, 1: 0.609}] * 2

    def lines(chunk_size):
        tasks = chunk_tasks(scenario, chunk_size=chunk_size).values()
        return (np.concatenate([np.asarray(task.population.prior_lines) for task in tasks]),
                np.concatenate([task.arms for task in tasks]))

    prior, arms = lines(1000)
    for arm in (0, 1):
        size = np.sum(arms == arm)  # 51 and 50
        assert np.sum(prior[arms == arm] == 0) == round(0.391 * size) and set(prior[arms == arm]) == {0, 1}
    assert np.array_equal(lines(13)[0], prior)
    sampled = np.array([5, 2, 3, 2, 4])
    np.testing.assert_array_equal(assigned_prior_lines(sampled, {0: 0.4, 1: 0.6}), [1, 0, 1, 0, 1])
    # shares that sum to 1 only within the field's 1e-6 still place every patient (the last share takes the rest)
    assert np.sum(assigned_prior_lines(np.zeros(1_000_000), {0: 0.5, 1: 0.4999994}) == 1) == 500_000
    document = {"disease": "mcrpc", "patients": 4, "arms": [{"name": "a"}]}
    for bad in ({0: 0.5, 1: 0.4}, {-1: 1.0}, {0: 1.5, 1: -0.5}, {}, 2.5, True):
        with pytest.raises(InputError, match="prior_lines"):
            load_trial_scenario({**document, "prior_lines": bad})


def test_an_arm_enrols_by_measurable_disease_whatever_the_chunking():
    """KEYNOTE-199 enrolled RECIST-measurable disease in cohorts 1-2 and bone-predominant disease without it in
    cohort 3 (Antonarakis et al. 2020 J Clin Oncol 38:395; its amendment): each arm's patients meet its criterion
    (ORR's denominator is then every patient of cohorts 1-2 and none of cohort 3), drawn once for the whole trial so
    the same whatever the chunk size; about a third of the mCRPC population has no measurable disease (VISION:
    439 of 581 in the PFS analysis set response-evaluable, bone-only patients besides), so both kinds occur in an
    arm without a criterion. A criterion no patient meets, or a weighting beside it, names the field."""
    from rptici.analysis.replay import replay_scenario
    from rptici.trials.run import chunk_tasks, measurable_at_baseline

    scenario = replay_scenario("KEYNOTE-199", 150, seed=2)
    assert [arm.measurable_disease for arm in scenario.arms] == [True, True, False]

    def cohorts(chunk_size):
        tasks = list(chunk_tasks(scenario, chunk_size=chunk_size).values())
        return (np.concatenate([measurable_at_baseline(task.population) for task in tasks]),
                np.concatenate([task.arms for task in tasks]),
                np.concatenate([np.asarray(task.population.alpha_per_Gy) for task in tasks]))

    measurable, arms, alpha = cohorts(1000)
    assert np.all(measurable[arms < 2]) and not np.any(measurable[arms == 2])
    again = cohorts(23)
    assert np.array_equal(again[0], measurable) and np.array_equal(again[2], alpha)
    tables = run_module.simulate_trial(scenario, chunk_size=40)["patients"]
    assert tables.groupby("arm")["measurable"].mean().to_dict() == {
        "pembrolizumab, PD-L1 positive (cohort 1)": 1.0, "pembrolizumab, PD-L1 negative (cohort 2)": 1.0,
        "pembrolizumab, bone-predominant (cohort 3)": 0.0}

    plain = replay_scenario("VISION", 300, seed=2, calibration=None)
    share = np.mean(measurable_at_baseline(run_module.calibrated_population(plain, 300, 2, run_module.Calibration())))
    assert 0.45 < share < 0.85

    criterion = scenario.model_dump(mode="json")
    criterion["arms"][2]["measurable_disease"] = None
    assert run_module.run_hash(scenario, run_module.Calibration()) != \
        run_module.run_hash(load_trial_scenario(criterion), run_module.Calibration())
    # without any arm criterion the field is left out of the hash, so earlier runs resume (PRINCE-like example,
    # hash recorded with rptici 7b94d91, before the field existed; likewise a randomised allocation, the default,
    # which the example had then: it is paired since December 2026, a different run)
    example = Path(__file__).resolve().parents[2] / "examples" / "trials" / "prince_like.yaml"
    paired = load_trial_scenario(example)
    randomised = paired.model_copy(update={"allocation": "randomised"})
    assert run_module.run_hash(randomised, run_module.Calibration()) \
        == "daa983254a5bf01f79b8bd1055c8f155540ca7e9c13d39dc7866baf472ae9af0"
    assert run_module.run_hash(paired, run_module.Calibration()) != run_module.run_hash(randomised,
                                                                                        run_module.Calibration())

    document = {"name": "merkel", "disease": "merkel", "patients": 40,
                "arms": [{"name": "avelumab", "measurable_disease": False}]}
    with pytest.raises(InputError, match=r"arms\[0\].measurable_disease"):
        run_module.simulate_trial(load_trial_scenario(document))  # every Merkel patient has measurable disease
    with pytest.raises(InputError, match="baseline_weighting"):
        load_trial_scenario({**document, "disease": "mcrpc", "baseline_weighting": "VISION"})


def test_a_pet_screen_turns_away_the_largest_target_low_shares_whatever_the_chunking():
    """TheraP enrolled only men with high PSMA expression and no FDG-discordant disease; its PET screen turned away
    61 of 291 (21 %; Hofman et al. 2021 Lancet 397:797, its amendment). ``pet_screen_exclusion`` f keeps the pool's
    patients whose target-low share lies at or below the pool's (1 − f) quantile: the arm's patients then hold no
    share above it and their mean share is lower than an unscreened arm's; the same whatever the chunk size, and the
    criterion enters the run hash. A population without a target-low share, or f of 1, names the field."""
    from rptici.analysis.replay import replay_scenario
    from rptici.trials.run import chunk_tasks

    scenario = replay_scenario("TheraP", 200, seed=3)
    screened = [arm.pet_screen_exclusion for arm in scenario.arms]
    assert screened[0] == pytest.approx(0.21)

    def shares(chunk_size):
        tasks = list(chunk_tasks(scenario, chunk_size=chunk_size).values())
        return (np.concatenate([np.asarray(task.population.low_uptake_fraction) for task in tasks]),
                np.concatenate([task.arms for task in tasks]))

    share, arms = shares(1000)
    unscreened = replay_scenario("VISION", 800, seed=3)
    pool = np.asarray(run_module.calibrated_population(unscreened, 800, 3, run_module.Calibration())
                      .low_uptake_fraction)
    assert np.max(share[arms == 0]) <= np.quantile(pool, 0.85)  # 0.79 of a larger pool: a margin for sampling
    assert np.mean(share[arms == 0]) < 0.7 * np.mean(pool)
    assert np.array_equal(shares(37)[0], share)

    document = scenario.model_dump(mode="json")
    document["arms"][0]["pet_screen_exclusion"] = 0.4
    assert run_module.run_hash(scenario, run_module.Calibration()) != \
        run_module.run_hash(load_trial_scenario(document), run_module.Calibration())
    pool = run_module.calibrated_population(unscreened, 800, 3, run_module.Calibration())
    without = dataclasses.replace(pool, low_uptake_fraction=np.zeros(len(pool)))  # a population file without one
    with pytest.raises(InputError, match=r"arms\[0\].pet_screen_exclusion"):
        run_module.arm_cohorts(without, scenario, np.zeros(100, dtype=int))
    document["arms"][0]["pet_screen_exclusion"] = 1.0
    with pytest.raises(InputError, match="pet_screen_exclusion"):
        load_trial_scenario(document)


def test_immune_deserts_take_the_lowest_infiltration_share_of_a_disease():
    """``inflamed_share.<disease>`` s: the patients whose sampled infiltration lies below the population file's
    (1 − s) quantile have none (immune deserts; Chen and Mellman 2017 Nature 541:321), the others keep theirs; the
    threshold is the file's, so the share of deserts is 1 − s up to the sampling (Latin hypercube: within 0.02 at
    400 patients) and a patient's status does not depend on the sample size; another disease's share does not
    apply; a share outside (0, 1] names the field."""
    from rptici.trials.run import calibrated_population, immune_deserts
    from rptici.trials.scenario import calibration_from_document

    document = {"name": "mcrpc", "disease": "mcrpc", "arms": [{"name": "pembrolizumab"}], "patients": 400}
    plain = calibrated_population(load_trial_scenario(document), 400, 5, run_module.Calibration())
    calibration = calibration_from_document({"parameters": {"inflamed_share.mcrpc": 0.25}}, "test")
    deserts = calibrated_population(load_trial_scenario(document), 400, 5, calibration)
    before, after = np.asarray(plain.immune_infiltration), np.asarray(deserts.immune_infiltration)
    desert = after == 0.0
    assert desert.mean() == pytest.approx(0.75, abs=0.02)
    assert np.array_equal(after[~desert], before[~desert]) and before[desert].max() < before[~desert].min()
    assert immune_deserts(plain, 1.0) is plain
    other = calibration_from_document({"parameters": {"inflamed_share.merkel": 0.25}}, "test")
    assert np.array_equal(np.asarray(calibrated_population(load_trial_scenario(document), 400, 5, other)
                                     .immune_infiltration), before)
    for share in (0.0, 1.5):
        with pytest.raises(InputError, match="inflamed_share"):
            immune_deserts(plain, share)
