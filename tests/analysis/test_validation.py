"""`rptici validate`: code verification, the calibration and validation tables, direction checks (issue 14, item 5)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rptici.analysis.validation import code_verification, direction_checks, trial_rows, validate
from rptici.cli import app
from rptici.report.validation import validation_markdown, write_validation_html


def test_code_verification_passes_engine_against_oracle_and_closed_forms():
    checks = code_verification(patients=3)
    assert [check.name for check in checks][0] == "engine against the solve_ivp oracle"
    assert all(check.passed for check in checks), checks
    # Dale 1985: G = T_rep / (T_rep + T_eff) = (1.5 h) / (1.5 h + 2.8 d) for the mono-exponential dose rate
    assert checks[1].reference == pytest.approx(1.5 / (1.5 + 2.8 * 24), rel=1e-12)
    assert checks[1].value == pytest.approx(checks[1].reference, rel=1e-7)


def _result(rows):
    return {"trial": "VISION", "acronym": "VISION", "endpoints": rows}


def test_rows_hold_inside_the_widened_wilson_interval_at_the_trials_n():
    # VISION PSA50 46 % in 551 patients (Sartor et al. 2021 N Engl J Med 385:1091): Wilson 95 % interval
    # 0.419-0.502, widened by 0.05 to 0.369-0.552.
    base = {"arm": "Lu-PSMA-617", "endpoint": "psa50", "unit": "rate", "reported": 0.46, "n": 551, "low": None,
            "high": None}
    rows = trial_rows(_result([{**base, "simulated": 0.55}, {**base, "simulated": 0.56},
                               {**base, "endpoint": "median_os", "unit": "months", "reported": 15.3,
                                "simulated": 20.3}, {**base, "endpoint": "median_os", "unit": "months",
                                                     "reported": 15.3, "simulated": None}]))
    assert [row["holds"] for row in rows] == [True, False, True, False]
    assert rows[0]["tolerance_low"] == pytest.approx(0.369, abs=1e-3)
    assert rows[0]["tolerance_high"] == pytest.approx(0.552, abs=1e-3)
    assert rows[2]["tolerance_high"] == pytest.approx(15.3 * 4 / 3)


def test_direction_checks_read_the_simulated_arms():
    def arms(**values):
        return {"summary": {"arms": [{"arm": arm, **row} for arm, row in values.items()]}}

    prince = arms(**{"RPT + ICI": {"psa50": [0.80, 0.7, 0.9]}, "RPT alone": {"psa50": [0.65, 0.55, 0.75]}})
    radium = arms(**{"RPT + ICI": {"hr_pfs": [0.62, 0.4, 0.9]}, "RPT alone": {"hr_pfs": None}})
    gain, ratio = direction_checks({"PRINCE": prince, "NCT03093428": radium})
    assert gain.passed and gain.value == pytest.approx(0.15)
    assert not ratio.passed and ratio.value == pytest.approx(0.62)  # better than Ra-223 alone: the wrong direction
    assert gain.prediction is None and ratio.prediction is None  # replayed without the ensemble
    radium["prediction"] = {"arms": {"RPT + ICI": {"hr_pfs": [0.55, 0.71]}}}
    assert direction_checks({"NCT03093428": radium})[0].prediction == (0.55, 0.71)


def test_a_small_report_is_deterministic_and_renders(tmp_path):
    settings = dict(patients=40, calibration_trials=("KEYNOTE-017",), validation_trials=("PRINCE",),
                    verification_patients=2)
    first, second = validate(**settings), validate(**settings)
    assert {**first, "seconds": 0} == {**second, "seconds": 0}
    assert first["calibration"]["total"] == len(first["calibration"]["rows"]) > 0
    assert first["validation"]["within_tolerance"] == sum(row["holds"] for row in first["validation"]["rows"])
    assert {row["trial"] for row in first["validation"]["rows"]} == {"PRINCE"}
    assert [check["name"] for check in first["direction_checks"]] == ["PRINCE: pembrolizumab adds to Lu-PSMA-617"]
    page = write_validation_html(first, tmp_path / "validation.html").read_text()
    markdown = validation_markdown(first)
    for text in (page, markdown):
        assert "Code verification" in text and "Validation: the combination trials" in text and "PRINCE" in text
        assert "How the combination trials are replayed" in text


def test_the_report_says_how_each_combination_trial_is_replayed():
    """Each validation trial's replay design comes from its record: NCT03093428's 12-weekly imaging and the radium-223
    label's exclusion of visceral disease, NCT02814669's measurable disease with no site excluded (its eligibility),
    PRINCE on the default schedule with the population file's men; every amendment with its source; every one paired
    with its RPT alone."""
    from rptici.analysis.validation import VALIDATION_TRIALS, replay_design
    from rptici.report.validation import design_section

    designs = {design["trial"]: design for design in map(replay_design, VALIDATION_TRIALS)}
    radium = designs["NCT03093428"]
    assert radium["assessments"] == "q12w" and radium["excluded_sites"] == ["liver", "lung"]
    assert radium["excluded_by"] == "the replay's rule" and "every 12 weeks" in radium["amendments"][0]["source"]
    atezolizumab = designs["NCT02814669"]
    assert atezolizumab["cohort"] == {"measurable_disease": True} and atezolizumab["excluded_sites"] == []
    assert atezolizumab["excluded_by"] == "the trial's eligibility"
    prince = designs["NCT03658447"]
    assert prince["cohort"] is None and prince["amendments"] == [] and prince["assessments"].startswith("q8w x3")
    assert {design["allocation"] for design in designs.values()} == {"paired"}  # each against the model's own RPT alone
    rows = {row[0]: row for row in design_section(list(designs.values())).rows}
    assert rows["NCT02814669"][3] == "measurable disease only; prior lines as the mcrpc population file's"
    assert rows["NCT03658447"][1] == "paired" and rows["NCT03658447"][5] == "–"


def test_cli_writes_json_html_and_markdown_and_refuses_status_at_other_settings(tmp_path):
    runner = CliRunner()
    refused = runner.invoke(app, ["validate", "--patients", "20", "--write-status", "--json"])
    assert refused.exit_code != 0 and "--patients 600 --seed 1" in refused.output
    done = runner.invoke(app, ["validate", "--patients", "20", "--out", str(tmp_path / "out"), "--docs",
                               str(tmp_path / "validation.md"), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert report["calibration"]["total"] > 40 and report["validation"]["total"] > 10
    assert (tmp_path / "out" / "validation.html").is_file()
    assert (tmp_path / "validation.md").read_text().startswith("# Validation")


def test_the_report_gives_the_counts_on_other_seeds_and_adds_them_up(tmp_path):
    """``--seeds``: the report's own seed first, then the others, each with its counts and direction checks, and the
    endpoints held over all of them; the rows of the report's seed are its own tables' counts."""
    runner = CliRunner()
    done = runner.invoke(app, ["validate", "--patients", "20", "--seeds", "2,1", "--out", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "validation.json").read_text())
    across = report["across_seeds"]
    assert [row["seed"] for row in across["seeds"]] == [1, 2]  # the report's seed once, first
    first = across["seeds"][0]
    for table in ("calibration", "validation"):
        assert first[table]["within_tolerance"] == report[table]["within_tolerance"]
        assert across[table]["within_tolerance"] == sum(row[table]["within_tolerance"] for row in across["seeds"])
        assert across[table]["total"] == 2 * report[table]["total"]
    assert [check["value"] for check in first["direction_checks"]] == [check["value"] for check in
                                                                       report["direction_checks"]]
    assert set(across["direction_checks_passed"].values()) <= {0, 1, 2}
    from rptici.report.validation import validation_markdown

    assert "## Across seeds" in validation_markdown(report)
    refused = runner.invoke(app, ["validate", "--patients", "20", "--seeds", "two"])
    assert refused.exit_code != 0 and "--seeds" in refused.output and "2,3,4" in refused.output
