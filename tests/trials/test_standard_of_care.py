"""An arm's standard of care (data/standard_of_care.yaml): empirical growth-rate reduction and background
disease-related grade ≥ 3 adverse events (issue 13 item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.trials import attribute_toxicity
from rptici.trials.scenario import load_trial_scenario
from rptici.trials.standard_of_care import (background_adverse_events, for_registry_arm, known_standards_of_care,
                                            standard_of_care, treated_doubling_time)
from rptici.trials.run import arm_doubling_time, care_end_covariates
from rptici.trials.scenario import Calibration


def test_every_standard_of_care_has_sources_and_a_registry_arm():
    assert set(known_standards_of_care()) >= {"vision_standard_of_care", "netter1_octreotide_lar_60mg",
                                              "alsympca_best_standard_of_care"}
    for name in known_standards_of_care():
        entry = standard_of_care(name)
        assert 0.0 <= entry.growth_rate_reduction < 1.0 and 0.0 <= entry.background_grade3plus <= 1.0
        assert all(entry.sources[key] for key in ("growth_rate_reduction", "background_grade3plus"))
        assert (entry.trial and entry.arms) or entry.disease


def test_background_rates_are_the_untreated_arms_reported_rates():
    """VISION control 0.38 and ALSYMPCA placebo 0.63 grade ≥ 3 (tests/reference/rpt_response.yaml,
    trials_monotherapy.yaml)."""
    assert standard_of_care("vision_standard_of_care").background_grade3plus == 0.38
    assert standard_of_care("alsympca_best_standard_of_care").background_grade3plus == 0.63


def test_registry_arms_find_their_standard_of_care():
    assert for_registry_arm(("VISION", "NCT03511664"), "standard of care") == "vision_standard_of_care"
    assert for_registry_arm(("NETTER-1",), "octreotide LAR 60 mg q4w") == "netter1_octreotide_lar_60mg"
    assert for_registry_arm(("PRINCE",), "RPT alone") is None
    assert for_registry_arm(("KEYNOTE-921",), "placebo + docetaxel") == "keynote921_docetaxel"
    assert for_registry_arm(("KEYNOTE-921",), "pembrolizumab + docetaxel") == "keynote921_docetaxel"
    assert for_registry_arm(("KEYNOTE-641",), "placebo + enzalutamide") == "keynote641_enzalutamide"
    # an mCRPC arm without its own gets the disease's background events (VISION control arm's 38 %), nothing else
    default = for_registry_arm(("TheraP",), "Lu-PSMA-617", "mcrpc")
    assert default == "mcrpc_disease_background"
    assert standard_of_care(default).background_grade3plus == 0.38
    assert standard_of_care(default).growth_rate_reduction == 0.0
    assert for_registry_arm(("VISION",), "standard of care", "mcrpc") == "vision_standard_of_care"
    assert for_registry_arm(("NETTER-1",), "Lu-DOTATATE + octreotide LAR 30 mg", "gep_net") is None


def test_growth_rate_reduction_lengthens_the_doubling_time():
    assert treated_doubling_time(60.0, 0.0) == 60.0
    assert treated_doubling_time(60.0, 0.5) == pytest.approx(120.0)
    with pytest.raises(InputError, match="growth_rate_reduction"):
        treated_doubling_time(60.0, 1.0)


def test_an_arm_without_standard_of_care_keeps_the_calibrated_doubling_time():
    document = {"disease": "mcrpc", "patients": 2,
                "arms": [{"name": "untreated"}, {"name": "soc", "standard_of_care": "vision_standard_of_care"}]}
    scenario = load_trial_scenario(document)
    calibration = Calibration({"doubling_time_days.mcrpc": 50.0})
    reduction = standard_of_care("vision_standard_of_care").growth_rate_reduction
    assert arm_doubling_time(scenario, calibration, 0) == 50.0
    assert arm_doubling_time(scenario, calibration, 1) == pytest.approx(50.0 / (1.0 - reduction))


def test_unknown_standard_of_care_is_refused_with_the_known_names():
    with pytest.raises(InputError, match="standard_of_care.*vision_standard_of_care"):
        load_trial_scenario({"disease": "mcrpc", "patients": 2,
                             "arms": [{"name": "a", "standard_of_care": "chemotherapy"}]})


def test_background_events_join_grade3plus_any_as_their_own_cause():
    draws = np.linspace(0.0, 0.999, 1000)
    flags = background_adverse_events(0.38, draws)
    assert flags.mean() == pytest.approx(0.38, abs=0.002)
    zero = np.zeros(1000, dtype=int)
    result = attribute_toxicity({"kidney": zero}, {"kidney": zero}, background=flags)
    assert result.grade3plus_any.mean() == pytest.approx(0.38, abs=0.002)
    assert not result.grade3plus_radiation.any()
    assert attribute_toxicity({"kidney": zero}, {"kidney": zero}).grade3plus_disease is None


def test_a_trial_with_a_standard_of_care_arm_stores_and_summarises_background_events(tmp_path):
    """Chunks of 2 patients: the disease column exists in every arm (0 where none is declared)."""
    import rptici

    document = {"disease": "mcrpc", "patients": 8, "chunk_size": 2, "follow_up": "6 months",
                "arms": [{"name": "untreated", "control": True},
                         {"name": "placebo + BSC", "standard_of_care": "alsympca_best_standard_of_care"}]}
    run = rptici.run_trial(document, tmp_path / "run")
    summary = rptici.summarize(run.folder)
    rates = {row["arm"]: row["grade3plus_rate"] for row in summary["arms"]}
    assert rates["untreated"]["disease"] == 0.0
    assert rates["placebo + BSC"]["any"] >= rates["placebo + BSC"]["disease"] > 0.0


def test_therap_replay_carries_the_mcrpc_disease_background():
    """TheraP's 33 % grade >= 3 adverse events (Hofman et al. 2021 Lancet) are all-cause, and TheraP has no control
    arm of its own: its Lu-PSMA-617 arm gets the mCRPC background (VISION's control arm, 38 %), no growth effect."""
    from rptici.analysis.replay import replay_arms
    from rptici.trials.registry import registry

    (arm,) = replay_arms(registry().get("TheraP"))
    assert arm.standard_of_care == "mcrpc_disease_background"
    vision = {item.name: item.standard_of_care for item in replay_arms(registry().get("VISION"))}
    assert set(vision.values()) == {"vision_standard_of_care"}  # a trial's own declaration comes first


def test_patient_doubling_times_spread_log_normally_around_the_arm_value():
    from scipy.stats import norm

    from rptici.trials.run import patient_doubling_times

    uniforms = (np.arange(2000) + 0.5) / 2000
    assert patient_doubling_times(90.0, 0.0, uniforms) == 90.0  # no spread: one value, as before
    times = patient_doubling_times(90.0, 0.8, uniforms)
    assert np.median(times) == pytest.approx(90.0, rel=1e-3)
    # log growth rate = log(ln 2/T) has SD 0.8; a high uniform is a fast tumour (short doubling time)
    assert np.std(np.log(np.log(2) / times)) == pytest.approx(0.8 * np.std(norm.ppf(uniforms)), rel=1e-9)
    assert times[-1] < times[0]


def test_docetaxel_is_given_for_ten_cycles_and_then_growth_is_untreated():
    """KEYNOTE-921: docetaxel 75 mg/m2 every 3 weeks for up to 10 cycles (Petrylak et al. 2025 J Clin Oncol): the
    care ends 210 days after the start; an ARPI (KEYNOTE-641's enzalutamide) is given throughout."""
    docetaxel = standard_of_care("keynote921_docetaxel")
    assert docetaxel.duration_days == 210.0 and "10 cycles" in docetaxel.sources["duration"]
    assert standard_of_care("keynote641_enzalutamide").duration_days is None
    document = {"disease": "mcrpc", "patients": 2,
                "arms": [{"name": "docetaxel", "standard_of_care": "keynote921_docetaxel"},
                         {"name": "enzalutamide", "standard_of_care": "keynote641_enzalutamide"}]}
    scenario = load_trial_scenario(document)
    treated = np.array([200.0, 400.0])
    covariates = care_end_covariates(scenario, 0, treated)
    assert covariates["care_end_days"] == 210.0
    np.testing.assert_allclose(covariates["doubling_time_after_care_days"],
                               treated * (1.0 - docetaxel.growth_rate_reduction))
    assert care_end_covariates(scenario, 1, treated) == {}


def test_a_duration_without_a_time_unit_is_refused():
    from rptici.trials.standard_of_care import _duration_days

    assert _duration_days({"value": "30 weeks", "source": "s"}, "x") == (210.0, "s")
    for bad in ({"value": 210, "source": "s"}, {"value": "210 mg", "source": "s"}, {"value": "-3 d", "source": "s"},
                {"value": "210 d"}):
        with pytest.raises(InputError, match="duration"):
            _duration_days(bad, "standard_of_care.yaml:docetaxel.duration")
