"""Replays of registry trials: arms, reported endpoints, simulated values with CIs, CLI JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rptici.analysis.replay import (COMBINATION_ARM, RPT_ALONE_ARM, population_for, replay, replay_arms,
                                    reported_endpoints)
from rptici.cli import app
from rptici.trials import registry


def test_prince_arms_and_reported_values():
    """PRINCE (Sandhu et al. 2022 J Clin Oncol 40(16 suppl):5017): PSA50 76 % with pembrolizumab, about 46 %
    for Lu-PSMA-617 alone; median rPFS 11.2 and OS 17.8 months."""
    record = registry().get("PRINCE")
    arms = replay_arms(record)
    assert [arm.name for arm in arms] == [COMBINATION_ARM, RPT_ALONE_ARM]
    assert "ici" not in arms[1].regimen and arms[1].control
    rows = {(row["arm"], row["endpoint"]): row["reported"] for row in reported_endpoints(record)}
    assert rows[(COMBINATION_ARM, "psa50")] == pytest.approx(0.76)
    assert rows[(RPT_ALONE_ARM, "psa50")] == pytest.approx(0.46)
    assert rows[(COMBINATION_ARM, "median_rpfs")] == pytest.approx(11.2)


def test_a_trials_cohort_enrols_every_arm_of_its_replay(tmp_path):
    """A cohort set on a whole trial by an amendment reaches every arm its replay simulates: PRINCE's combination and
    its RPT-alone reference alike (both stand for the same men). The value here is a test value, not PRINCE's: its
    Table 1 (prior docetaxel) is not in the repository. An arm's own cohort wins over its trial's (KEYNOTE-199's
    cohorts); a key an amendment may not set is refused by name."""
    from rptici.analysis.replay import replay_scenario
    from rptici.errors import InputError
    from rptici.trials.registry import Registry

    amendments = tmp_path / "amendments.yaml"
    amendments.write_text("- {trial: PRINCE, set: {prior_lines: 1, pet_screen_exclusion: 0.21}, source: test value}\n")
    record = Registry.load(combination_amendments=str(amendments)).get("PRINCE")
    assert record.cohort() == {"prior_lines": 1, "pet_screen_exclusion": 0.21}
    assert record.amendments[0].was == {"prior_lines": None, "pet_screen_exclusion": None}
    scenario = replay_scenario(record, patients=40, seed=1)
    assert [(arm.name, arm.prior_lines, arm.pet_screen_exclusion) for arm in scenario.arms] == \
        [(COMBINATION_ARM, 1, 0.21), (RPT_ALONE_ARM, 1, 0.21)]
    assert all(not arm.cohort for arm in replay_arms(registry().get("PRINCE")))  # as shipped: the population file's
    keynote = registry().get("KEYNOTE-199").model_copy(update={"measurable_disease": True, "prior_lines": 2})
    assert [(arm.cohort["measurable_disease"], arm.cohort["prior_lines"]) for arm in replay_arms(keynote)] == \
        [(True, 2), (True, 2), (False, 2)]
    outcome = tmp_path / "outcome.yaml"  # (files are read once: a new name)
    outcome.write_text("- {trial: PRINCE, set: {results: {psa50: 0.9}}, source: test}\n")
    with pytest.raises(InputError, match="results"):
        Registry.load(combination_amendments=str(outcome))


def test_a_what_if_cohort_takes_the_records_place_and_bad_fields_are_refused_by_name():
    """``replay(..., cohort=...)`` and ``rptici registry replay --prior-lines/--pet-screen``: whom the trial enrolled,
    over what its record and its arms say for the fields given (KEYNOTE-199's arms keep their own measurable-disease
    criterion); an unknown field or a share out of range is an error naming it, before anything is simulated."""
    from rptici.analysis.replay import with_cohort
    from rptici.errors import InputError

    keynote = with_cohort(registry().get("KEYNOTE-199"), {"prior_lines": 1})
    assert [arm.cohort for arm in replay_arms(keynote)] == [
        {"prior_lines": 1, "measurable_disease": True}, {"prior_lines": 1, "measurable_disease": True},
        {"prior_lines": 1, "measurable_disease": False}]
    # a what-if reaches arms that define their own lines too (CheckMate 650's chemotherapy-naive cohort: 1)
    checkmate = registry().get("CheckMate 650")
    assert sorted(str(arm.cohort.get("prior_lines")) for arm in replay_arms(checkmate)) == ["1", "None"]
    assert [arm.cohort["prior_lines"] for arm in replay_arms(with_cohort(checkmate, {"prior_lines": 3}))] == [3, 3]
    assert with_cohort(registry().get("PRINCE"), {}).cohort() == {}
    with pytest.raises(InputError, match="cohort.prior_line") as caught:
        with_cohort(registry().get("PRINCE"), {"prior_line": 1})
    assert "prior_lines" in str(caught.value)
    outcome = CliRunner().invoke(app, ["registry", "replay", "PRINCE", "--patients", "20", "--pet-screen", "1.5"])
    assert outcome.exit_code != 0 and "cohort.pet_screen_exclusion" in outcome.output and "1.5" in outcome.output


def test_populations_and_randomised_arms():
    """NCT03325816 enrolled extensive-stage SCLC and lung NET (replayed as SCLC); NCT03093428 reported medians
    per arm (Choudhury et al. 2024: rPFS 6.1 vs 5.7 months)."""
    assert population_for(registry().get("NCT03325816")) == "sclc"
    assert population_for(registry().get("NETTER-1")) == "gep_net"
    rows = {(row["arm"], row["endpoint"]): row["reported"] for row in reported_endpoints(registry().get("NCT03093428"))}
    assert rows[(COMBINATION_ARM, "median_rpfs")] == 6.1 and rows[(RPT_ALONE_ARM, "median_rpfs")] == 5.7


def test_reported_hazard_ratios_are_the_treated_arm_against_the_control():
    """VISION (Sartor et al. 2021 N Engl J Med 385:1091): rPFS HR 0.40 and OS HR 0.62 over 831 men; KEYNOTE-921
    (Petrylak et al. 2025 J Clin Oncol): rPFS HR 0.85 over 1030. TheraP's HR is against cabazitaxel, an arm the replay
    does not simulate: no row."""
    vision = {(row["arm"], row["endpoint"]): (row["reported"], row["n"])
              for row in reported_endpoints(registry().get("VISION"))}
    assert vision[("Lu-PSMA-617 + standard of care", "hr_pfs")] == (0.40, 831)
    assert vision[("Lu-PSMA-617 + standard of care", "hr_os")] == (0.62, 831)
    keynote = {(row["arm"], row["endpoint"]): row["reported"]
               for row in reported_endpoints(registry().get("KEYNOTE-921"))}
    assert keynote[("pembrolizumab + docetaxel", "hr_pfs")] == 0.85
    assert not any(row["endpoint"].startswith("hr_") for row in reported_endpoints(registry().get("TheraP")))


def test_a_replayed_hazard_ratio_is_the_cox_estimate_of_the_summary():
    result = replay("KEYNOTE-921", patients=60, seed=1)
    row = next(item for item in result["endpoints"] if item["endpoint"] == "hr_pfs")
    arm = next(item for item in result["summary"]["arms"] if item["arm"] == "pembrolizumab + docetaxel")
    assert row["unit"] == "ratio" and [row["simulated"], row["low"], row["high"]] == arm["hr_pfs"]
    assert row["low"] < row["simulated"] < row["high"]


def test_small_prince_replay_has_simulated_values_inside_their_intervals():
    result = replay("PRINCE", patients=30, seed=2)
    assert result["summary"]["patients"] == 30
    for row in result["endpoints"]:
        if row["simulated"] is not None and row["low"] is not None and row["high"] is not None:
            assert row["low"] - 1e-9 <= row["simulated"] <= row["high"] + 1e-9


def test_cli_replay_json():
    outcome = CliRunner().invoke(app, ["registry", "replay", "NCT03658447", "--patients", "20", "--seed", "1", "--json"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.output)
    endpoints = {(row["arm"], row["endpoint"]) for row in document["endpoints"]}
    assert (COMBINATION_ARM, "psa50") in endpoints and document["trial"] == "NCT03658447"


def test_the_cli_says_how_the_arms_were_allocated_and_refuses_an_unknown_allocation():
    """PRINCE's RPT alone is the model's own: paired by default, randomised on request (``--allocation``)."""
    runner = CliRunner()
    paired = runner.invoke(app, ["registry", "replay", "PRINCE", "--patients", "11"])
    assert paired.exit_code == 0, paired.output
    assert "(12 virtual patients, paired, seed 1)" in paired.output  # rounded up to a multiple of the two arms
    randomised = runner.invoke(app, ["registry", "replay", "PRINCE", "--patients", "11", "--allocation", "randomised",
                                     "--json"])
    assert randomised.exit_code == 0 and json.loads(randomised.output)["allocation"] == "randomised"
    refused = runner.invoke(app, ["registry", "replay", "PRINCE", "--patients", "10", "--allocation", "crossover"])
    assert refused.exit_code != 0 and "allocation" in refused.output and "paired" in refused.output
