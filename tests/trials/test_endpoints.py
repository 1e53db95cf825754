"""Trial endpoints: RECIST 1.1 (Eisenhauer 2009), PCWG3 (Scher 2016), death times, censoring, toxicity grades."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.trials.endpoints import (NOT_EVALUABLE, PROGRESSIVE_DISEASE, SurvivalParameters, background_hazard,
                                     bone_scan_progression, censoring_times, death_times, dropout_times, pcwg3_psa,
                                     recist, time_to_event, to_days, to_months)
from rptici.trials.toxicity import (attribute_toxicity, blood_count_grade, blood_count_nadir, haematotoxic_marrow_dose,
                                    immune_adverse_events, immune_rate,
                                    lymphopenia_grade, ntcp_grade, radiation_toxicity)

SIX_WEEKLY = [0, 42, 84, 126, 168]


def labels(times, sums, **options):
    return recist(times, sums, **options).best_response_labels.tolist()


# ----------------------------------------------------------------------------------------------- RECIST 1.1


def test_partial_response_at_exactly_30_percent():
    # RECIST 1.1 section 4.3.1: PR is "at least a 30 % decrease"; 70 of 100 mm and 39.9 of 57 mm are exactly 30 %.
    sums = [[100, 70, 70, 70, 70], [57, 39.9, 39.9, 39.9, 39.9], [100, 71, 71, 71, 71], [57, 40, 40, 40, 40]]
    assert labels(SIX_WEEKLY, sums) == ["PR", "PR", "SD", "SD"]


def test_complete_response_when_every_target_lesion_is_gone():
    result = recist(SIX_WEEKLY, [[50, 20, 0, 0, 0], [50, 20, 8, 8, 8]], complete_response_threshold=[0, 10])
    assert result.best_response_labels.tolist() == ["CR", "CR"]
    assert result.best_percent_change.tolist() == [-100.0, -84.0]


def test_progression_needs_20_percent_and_5_mm():
    # RECIST 1.1: 20 % over the nadir AND at least 5 mm absolute; 20 -> 24 mm is 20 % but 4 mm.
    result = recist(SIX_WEEKLY, [[20, 24, 24, 24, 24], [25, 30, 30, 30, 30], [100, 119, 119, 119, 119],
                                 [100, 120, 120, 120, 120]])
    assert result.best_response_labels.tolist() == ["SD", "PD", "SD", "PD"]
    assert result.progression_time[1] == 42 and result.progression_time[3] == 42
    assert np.isinf(result.progression_time[0]) and np.isinf(result.progression_time[2])


def test_progression_is_measured_from_the_nadir_not_the_baseline():
    # 60 mm nadir, then 75 mm: +25 % and +15 mm over the nadir although still 25 % below baseline.
    result = recist(SIX_WEEKLY, [[100, 60, 75, 75, 75]])
    assert result.assessment_labels.tolist() == [["PR", "PD", "PD", "PD"]]
    assert result.best_response_labels.tolist() == ["PR"]
    assert result.progression_time.tolist() == [84.0]
    assert result.best_percent_change.tolist() == [-40.0]


def test_a_new_lesion_is_progression_at_the_next_assessment():
    result = recist(SIX_WEEKLY, [[100, 100, 100, 100, 100]] * 2, new_lesion_times=[50, 10])
    assert result.progression_time.tolist() == [84.0, 42.0]
    assert result.best_response_labels.tolist() == ["SD", "PD"]


def test_confirmation_of_response():
    sums = [[100, 60, 60, 60, 60],  # PR confirmed 42 d later
            [100, 60, 150, 150, 150],  # PR then PD: unconfirmed -> SD
            [100, 0, 0, 0, 0],  # CR confirmed
            [100, 8, 12, 12, 12],  # CR (nodal allowance 10 mm) followed by PR (+4 mm, not PD) -> PR
            [100, 0, 50, 50, 50]]  # reappearance after CR: +50 mm over a 0 nadir is PD -> unconfirmed CR is SD
    threshold = [0, 0, 0, 10, 0]
    unconfirmed = labels(SIX_WEEKLY, sums, confirm=False, complete_response_threshold=threshold)
    assert unconfirmed == ["PR", "PR", "CR", "CR", "CR"]
    confirmed = labels(SIX_WEEKLY, sums, confirm=True, complete_response_threshold=threshold)
    assert confirmed == ["PR", "SD", "CR", "PR", "SD"]
    # RECIST 1.1 section 4.6: the repeat assessment must be at least 4 weeks later; 14 days does not confirm.
    assert labels([0, 42, 56], [[100, 60, 60]], confirm=True) == ["SD"]
    assert labels([0, 42, 70], [[100, 60, 60]], confirm=True) == ["PR"]


def test_stable_disease_needs_the_minimum_duration():
    # SD at day 28 only (< 42 days), then PD: best response PD; without follow-up: NE.
    assert labels([0, 28, 56], [[100, 100, 130], [100, 100, np.nan]]) == ["PD", "NE"]
    result = recist(SIX_WEEKLY, [[100, np.nan, np.nan, np.nan, np.nan]])
    assert result.best_response[0] == NOT_EVALUABLE and np.isnan(result.best_percent_change[0])


def test_recist_per_patient_times_and_vectorised_rows():
    times = np.array([[0, 42, 84], [0, 56, 112]], dtype=float)
    result = recist(times, [[10, 12, 16], [10, 6, 12]])
    assert result.best_response_labels[0] == "SD" and result.progression_time[0] == 84
    assert result.assessment_response[0].tolist() == [2, PROGRESSIVE_DISEASE]
    assert result.best_response_labels[1] == "PR" and result.progression_time[1] == 112


@pytest.mark.parametrize("times, sums", [
    ([0, 42], [[100, 80, 70]]),  # shape mismatch
    (SIX_WEEKLY, [[100, -1, 50, 50, 50]]),  # negative diameter
    ([0, 42, 42, 84, 126], [[100, 80, 70, 70, 70]]),  # times not increasing
    (SIX_WEEKLY, [[0, 0, 0, 0, 0]]),  # no measurable disease at baseline
])
def test_recist_rejects_bad_input(times, sums):
    with pytest.raises(InputError):
        recist(times, sums)


# ----------------------------------------------------------------------------------------------- PCWG3

THREE_WEEKLY = [0, 21, 42, 63, 84, 105, 126]


def test_psa50_at_exactly_50_percent_and_its_confirmation():
    # PCWG3 (Scher 2016): >= 50 % decline from baseline, confirmed by a second value >= 3 weeks later.
    psa = [[10, 5, 5, 5, 5, 5, 5], [10, 5, 8, 8, 8, 8, 8], [10, 5.1, 5.1, 5.1, 5.1, 5.1, 5.1]]
    assert pcwg3_psa(THREE_WEEKLY, psa, confirm=True).psa50.tolist() == [True, False, False]
    result = pcwg3_psa(THREE_WEEKLY, psa, confirm=False)
    assert result.psa50.tolist() == [True, True, False]
    assert result.best_percent_change.tolist() == pytest.approx([-50, -50, -49])


def test_psa_progression_after_decline_needs_25_percent_and_2_ng_per_ml():
    # nadir 4: 6.0 is +50 % and +2.0 (progression), 5.9 is +1.9 ng/mL (not); nadir 20: 24 is +20 % (not), 25 is.
    psa = [[10, 4, 4, 6.0, 6.5, 7, 8], [10, 4, 4, 5.9, 5.9, 5.9, 5.9],
           [40, 20, 20, 24, 24, 24, 24], [40, 20, 20, 25, 25, 25, 25]]
    result = pcwg3_psa(THREE_WEEKLY, psa)
    assert result.progression_time[0] == 63 and result.progression_time[3] == 63
    assert np.isinf(result.progression_time[1]) and np.isinf(result.progression_time[2])


def test_psa_progression_without_decline_is_ignored_before_12_weeks():
    # PCWG3: no decline -> >= 25 % and >= 2 ng/mL above baseline, beginning after 12 weeks (84 d).
    result = pcwg3_psa(THREE_WEEKLY, [[10, 13, 13, 13, 13, 13, 13]])
    assert result.progression_time.tolist() == [84.0]


def test_psa_progression_needs_a_confirming_value():
    psa = [[10, 4, 4, 4, 4, 4, 9], [10, 4, 4, 4, 4, 9, 4]]
    assert np.isinf(pcwg3_psa(THREE_WEEKLY, psa, confirm=True).progression_time).all()
    assert pcwg3_psa(THREE_WEEKLY, psa, confirm=False).progression_time.tolist() == [126.0, 105.0]


def test_bone_scan_two_plus_two_rule():
    times = [0, 56, 112, 168]
    counts = [[0, 2, 4, 4],  # flare window: 2 new, confirmed by 2 more -> dated at the first scan
              [0, 2, 3, 3],  # not confirmed, and only 1 more than the first scan later
              [0, 2, 3, 4],  # 2 more than the first post-treatment scan at 168
              [0, 0, 1, 1]]
    assert bone_scan_progression(times, counts).tolist() == [56.0, math.inf, 168.0, math.inf]
    # a first scan after the flare window needs no confirmation
    assert bone_scan_progression([0, 90, 180], [[0, 2, 2]]).tolist() == [90.0]


# ----------------------------------------------------------------------------------------------- survival


def constant_hazard(rate_per_day: float) -> SurvivalParameters:
    return SurvivalParameters(0.0, 70.0, 0.0, rate_per_day, 100.0, 1.0)


def test_death_times_reproduce_an_exponential_median():
    # Constant hazard λ: median ln2/λ. With n = 20,000 the sample median's relative SD is 1/(ln2 √n) = 1.0 %;
    # tolerance 4 %.
    rate = math.log(2) / 365.0
    patients = 20_000
    uniforms = np.random.default_rng(5).random(patients)
    times = np.linspace(0, 730, 25)
    deaths = death_times(times, np.full((patients, times.size), 100.0), np.full(patients, 65.0), uniforms,
                         constant_hazard(rate))
    assert np.median(deaths) == pytest.approx(365.0, rel=0.04)
    # inversion is exact: T = -ln(1 - u)/λ, inside and beyond the grid
    assert deaths == pytest.approx(-np.log1p(-uniforms) / rate, rel=1e-9)


def test_death_times_with_a_linear_hazard_solve_the_quadratic():
    # h(t) = a t (burden growing linearly) gives H = a t²/2, T = sqrt(2 E / a) exactly for piecewise-linear h.
    times = np.linspace(0, 1000, 11)
    slope = 1e-5
    burden = 100.0 * slope * times / 1e-3  # hazard_at_reference 1e-3 per 100 mL
    uniforms = np.array([0.1, 0.5, 0.9])
    deaths = death_times(times, np.tile(burden, (3, 1)), [60, 60, 60], uniforms, constant_hazard(1e-3))
    assert deaths == pytest.approx(np.sqrt(2 * -np.log1p(-uniforms) / slope), rel=1e-9)


def test_a_hazard_ratio_scales_the_disease_part_of_the_hazard_only():
    # Constant disease hazard λ and no background: a patient with hazard ratio r dies at T/r (inversion exact).
    rate = 1e-3
    uniforms = np.array([0.2, 0.5, 0.8])
    times = np.linspace(0, 2000, 21)
    burden = np.full((3, times.size), 100.0)
    reference = death_times(times, burden, [65, 65, 65], uniforms, constant_hazard(rate))
    scaled = death_times(times, burden, [65, 65, 65], uniforms, constant_hazard(rate), [1.0, 1.73, 2.0])
    assert scaled == pytest.approx(reference / np.array([1.0, 1.73, 2.0]), rel=1e-9)
    # the background (Gompertz) hazard is not scaled: with no disease hazard the ratio changes nothing
    no_disease = dataclasses.replace(SurvivalParameters.default(), burden_hazard_at_reference=0.0, disease_hazard=0.0)
    assert death_times(times, burden, [65, 65, 65], uniforms, no_disease, 3.0) == pytest.approx(
        death_times(times, burden, [65, 65, 65], uniforms, no_disease), rel=1e-12)
    with pytest.raises(InputError, match="hazard_ratio"):
        death_times(times, burden, [65, 65, 65], uniforms, constant_hazard(rate), [1.0, 0.0, 1.0])


def test_background_mortality_doubles_in_8_years_and_gives_life_expectancy():
    # Gompertz approximation of the US life table 2017 (Arias & Xu 2019): remaining life expectancy at 70 is about
    # 15.5 years (read approximately); tolerance 1.5 years. Mortality doubling time about 8 years.
    parameters = SurvivalParameters.default()
    assert background_hazard(78.0) / background_hazard(70.0) == pytest.approx(2.0, rel=0.01)
    years = np.linspace(0, 60, 6001)
    hazard = background_hazard(70.0 + years) * 365.25
    survival = np.exp(-np.concatenate([[0], np.cumsum(0.5 * (hazard[1:] + hazard[:-1]) * np.diff(years))]))
    expectancy = np.sum(0.5 * (survival[1:] + survival[:-1]) * np.diff(years))
    assert expectancy == pytest.approx(15.5, abs=1.5)
    assert parameters.reference_age == 70


def test_censoring_dropout_and_composite_endpoints():
    rate = 0.001
    dropout = dropout_times([0.0, 0.5], rate)
    assert dropout.tolist() == pytest.approx([0.0, math.log(2) / rate])
    censor = censoring_times([365.0, 365.0], dropout)
    assert censor.tolist() == pytest.approx([0.0, 365.0])
    progression = np.array([100.0, np.inf, np.inf, 500.0])
    death = np.array([200.0, 50.0, np.inf, 600.0])
    time, event = time_to_event([progression, death], np.array([365.0, 365.0, 365.0, 365.0]))
    assert time.tolist() == [100.0, 50.0, 365.0, 365.0]
    assert event.tolist() == [True, True, False, False]
    assert to_months(to_days(12.0)) == pytest.approx(12.0) and to_days(1.0) == 30.4375


def test_survival_inputs_are_checked():
    with pytest.raises(InputError):
        death_times([0, 10], [[1.0, 1.0]], [60.0], [1.0])  # uniform outside [0, 1)
    with pytest.raises(InputError):
        death_times([0, 10, 5], [[1.0, 1.0, 1.0]], [60.0], [0.5])  # times not increasing
    with pytest.raises(InputError):
        death_times([0, 10], [[1.0, -1.0]], [60.0], [0.5])  # negative burden
    with pytest.raises(InputError):
        dropout_times([0.5], -1.0)


# ----------------------------------------------------------------------------------------------- toxicity


def test_lymphopenia_grades_at_the_ctcae_boundaries():
    # CTCAE v5.0 lymphocyte count decreased: 1 <LLN-0.8, 2 <0.8-0.5, 3 <0.5-0.2, 4 <0.2 (x10^9/L); LLN 1.0 here.
    counts = np.array([1.0, 0.99, 0.8, 0.79, 0.5, 0.49, 0.2, 0.19])
    assert lymphopenia_grade(counts).tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    # the worst value of a trajectory counts; NaN is not measured
    assert lymphopenia_grade([[1.8, 0.45, np.nan, 0.9]]).tolist() == [3]


def test_platelet_and_neutrophil_grades_at_the_ctcae_boundaries():
    # CTCAE v5.0: platelets 1 <LLN-75, 2 <75-50, 3 <50-25, 4 <25; neutrophils 1 <LLN-1.5, 2 <1.5-1.0, 3 <1.0-0.5, 4 <0.5
    assert blood_count_grade([150, 149, 75, 74.9, 50, 49.9, 25, 24.9], "platelets").tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    assert blood_count_grade([2.0, 1.5, 1.49, 1.0, 0.99, 0.5, 0.49], "neutrophils").tolist() == [0, 1, 2, 2, 3, 3, 4]


def test_kidney_grade_follows_ntcp_at_td50():
    # Burman et al. 1991: kidney TD50 28 Gy EQD2 = 49.5 Gy BED at alpha/beta 2.6 -> NTCP 0.5 (tolerance 1 %).
    patients = 10_000
    uniforms = (np.arange(patients) + 0.5) / patients
    grades = ntcp_grade("kidney", np.full(patients, 28 * (1 + 2 / 2.6)), uniforms)
    assert np.mean(grades >= 2) == pytest.approx(0.5, abs=0.01)
    # severe fraction 0.02: 0 grade 3-4 nephrotoxicity events in 71 Lu-PSMA-617 patients (benchmarks/fit_toxicity.py)
    assert np.mean(grades >= 3) == pytest.approx(0.5 * 0.02, abs=0.002)
    assert ntcp_grade("kidney", np.full(3, 5.0), np.full(3, 0.01)).tolist() == [0, 0, 0]


def test_immune_event_rate_reproduces_keynote_158_and_class_order():
    # KEYNOTE-158 NET cohort: grade 3+ TRAE 21.5 % at the reference exposure (384 days of full occupancy, fitted to
    # the three anti-PD-1 monotherapy trials by benchmarks/fit_immune_toxicity.py); half that exposure gives
    # 1 - 0.785^0.5 = 11.4 %; tolerance 1/n.
    patients = 10_000
    event = (np.arange(patients) + 0.5) / patients
    organ = np.random.default_rng(2).random(patients)
    for days, expected in ((384.0, 0.215), (192.0, 1 - 0.785 ** 0.5)):
        grades = immune_adverse_events({"PD-1": np.full(patients, days)}, np.column_stack([event, organ]))
        anything = np.max(np.stack(list(grades.values())), axis=0)
        assert np.mean(anything >= 3) == pytest.approx(expected, abs=1e-3)
    assert immune_rate("CTLA-4") > immune_rate("PD-1") and immune_rate("CTLA-4") > immune_rate("PD-L1")
    none = immune_adverse_events({"PD-1": np.zeros(5)}, np.full((5, 2), 0.01))
    assert all(g.sum() == 0 for g in none.values())


def test_attribution_rule():
    radiation = {"kidney": [3, 2, 0, 0, 0], "neutrophils": [0, 0, 0, 3, 0]}
    immune = {"kidney": [0, 3, 3, 0, 0], "colon": [0, 0, 0, 3, 0]}
    result = attribute_toxicity(radiation, immune)
    assert result.attribution["kidney"].tolist() == ["radiation", "both", "immune", "", ""]
    assert result.max_grade["kidney"].tolist() == [3, 3, 3, 0, 0]
    assert result.grade3plus_radiation.tolist() == [True, False, False, True, False]
    assert result.grade3plus_immune.tolist() == [False, False, True, True, False]
    assert result.grade3plus_both.tolist() == [False, True, False, False, False]
    assert result.grade3plus_any.tolist() == [True, True, True, True, False]


def test_radiation_toxicity_collects_the_organs_given():
    uniforms = np.full((2, 5), 0.5)
    grades = radiation_toxicity(uniforms, kidney_bed=[10.0, 10.0], marrow_dose=[0.0, 4.0],
                                lymphocyte_counts=[[1.5, 0.6], [1.5, 0.1]])
    assert set(grades) == {"kidney", "platelets", "neutrophils", "haemoglobin", "lymphocytes"}
    assert grades["platelets"].tolist()[0] == 0 and grades["platelets"].tolist()[1] >= 3
    assert grades["lymphocytes"].tolist() == [2, 4]
    with pytest.raises(InputError):
        radiation_toxicity(np.full((2, 4), 0.5))


def test_alpha_marrow_dose_acts_only_in_part_and_lymphopenia_is_not_a_reported_event():
    # 10 Gy (RBE-weighted), all alpha: the effective dose is the fitted fraction of it (0.212, benchmarks/fit_toxicity.py)
    assert haematotoxic_marrow_dose([10.0], [10.0]).tolist() == pytest.approx([2.12])
    assert haematotoxic_marrow_dose([2.0], [0.0]).tolist() == [2.0]
    # radium-223 in ALSYMPCA: about 9 Gy (RBE) to the marrow, grade 3-4 thrombocytopenia 6 % vs 2 % on placebo
    # (Parker et al. 2013 N Engl J Med 369:213): with the alpha part in full every patient would reach grade 4
    draws = (np.arange(1000) + 0.5) / 1000
    full = blood_count_grade(blood_count_nadir(np.full(1000, 9.25), "platelets", draws), "platelets")
    spared = blood_count_grade(blood_count_nadir(haematotoxic_marrow_dose(np.full(1000, 9.25), np.full(1000, 9.2)),
                                                 "platelets", draws), "platelets")
    assert np.mean(full >= 3) == 1.0 and np.mean(spared >= 3) < 0.10
    result = attribute_toxicity({"lymphocytes": [3, 0], "platelets": [0, 3]}, {})
    assert result.max_grade["lymphocytes"].tolist() == [3, 0]
    assert result.grade3plus_any.tolist() == [False, True]
    with pytest.raises(InputError):
        attribute_toxicity({"kidney": [3, 2]}, {"kidney": [0, 1, 2]})
