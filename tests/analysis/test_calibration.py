"""Calibration: objective terms, monotherapy-only targets, and the committed default calibration file."""

from __future__ import annotations

import math

import pytest

from rptici.analysis.calibration import PARAMETERS, _term_row, _variance, calibrate, calibration_targets
from rptici.data import load_yaml
from rptici.errors import InputError
from rptici.trials import load_calibration, registry


def test_objective_weights():
    """σ² of asin √p is 1/(4n) whatever p, of ln(median) 1/n: VISION PSA50 46 % and median OS 15.3 months in 551 men
    (Sartor et al. 2021 N Engl J Med 385:1091)."""
    assert _variance("fraction", 0.46, 551) == pytest.approx(1 / (4 * 551), rel=1e-12)
    assert _variance("months", 15.3, 551) == pytest.approx(1 / 551, rel=1e-12)


def test_a_hazard_ratio_is_weighed_on_the_log_scale():
    """KEYNOTE-921 rPFS HR 0.85 in 1030 men (Petrylak et al. 2025 J Clin Oncol): σ² of ln HR is taken as 4/n (every
    patient an event, 1:1), plus the floor 0.1²; a simulated 0.74 is then about 1.2 standard errors away, and a
    hazard ratio with no events in either arm counts as 1."""
    assert _variance("ratio", 0.85, 1030) == pytest.approx(4 / 1030, rel=1e-12)
    row = {"unit": "ratio", "reported": 0.85, "n": 1030, "low": None, "high": None}
    term = _term_row("KEYNOTE-921", "pembrolizumab + docetaxel", "hr_pfs", {**row, "simulated": 0.74}, 29.4)["term"]
    assert term == pytest.approx(math.log(0.74 / 0.85) ** 2 / (4 / 1030 + 0.01), rel=1e-12)
    assert term == pytest.approx(1.38, abs=0.01)
    none = _term_row("KEYNOTE-921", "pembrolizumab + docetaxel", "hr_pfs", {**row, "simulated": None}, 29.4)["term"]
    assert none == pytest.approx(math.log(0.85) ** 2 / (4 / 1030 + 0.01), rel=1e-12)


def test_a_rate_of_zero_costs_what_its_sampling_error_says():
    """KEYNOTE-199 cohort 1 ORR 5 % of 133 (Antonarakis et al. 2020): a simulated 0 is about 3.4 standard errors
    away on the arcsine scale (finite), one of 10 % about 1.7 the other way."""
    row = {"unit": "fraction", "reported": 0.05, "n": 133, "low": None, "high": None}
    zero = _term_row("KEYNOTE-199", "cohort 1", "orr", {**row, "simulated": 0.0}, 24.0)
    double = _term_row("KEYNOTE-199", "cohort 1", "orr", {**row, "simulated": 0.10}, 24.0)
    sd = math.sqrt(1 / (4 * 133) + 0.05 ** 2)
    assert zero["term"] == pytest.approx((math.asin(math.sqrt(0.05)) / sd) ** 2, rel=1e-12)
    assert zero["term"] == pytest.approx(11.6, abs=0.1)
    assert double["term"] == pytest.approx(((math.asin(math.sqrt(0.10)) - math.asin(math.sqrt(0.05))) / sd) ** 2)


def test_combination_trials_are_never_calibration_targets():
    """PRINCE (NCT03658447) is a validation trial: asking to fit it is an error."""
    with pytest.raises(InputError, match="validation only"):
        calibration_targets(("PRINCE",), patients=10)


def test_default_calibration_file():
    """The committed file: fitted values inside their bounds, fitted to monotherapy trials only, and a table of
    simulated versus reported values that carries the reported numbers of the registry."""
    document = load_yaml("calibration/default.yaml")
    calibration = load_calibration()
    fitted = [name for name in PARAMETERS if name in calibration.values]
    assert len(fitted) >= 15  # parameters added later (issue 14) are absent until the next fit: neutral values
    for name in fitted:
        lower, upper, *_ = PARAMETERS[name]
        assert lower <= calibration.values[name] <= upper
    monotherapy = {record.acronym or record.name for record in registry().filter(role="calibration")}
    assert set(document["fitted"]["trials"]) <= monotherapy
    assert {row["trial"] for row in document["table"]} <= monotherapy
    vision = [row for row in document["table"] if row["trial"] == "VISION" and row["endpoint"] == "psa50"]
    assert vision[0]["reported"] == pytest.approx(0.46)  # Sartor et al. 2021: PSA50 46.0 %
    assert math.isfinite(document["fitted"]["objective"])
    assert document["fitted"]["objective"] <= document["fitted"]["objective_at_start"]


def test_calibrate_runs_and_reports_every_endpoint():
    """One evaluation on KEYNOTE-199 (Antonarakis et al. 2020 J Clin Oncol 38:395: ORR 5 % and 3 %, OS 9.5, 7.9
    and 14.1 months): every reported endpoint appears with its reported value."""
    result = calibrate(("KEYNOTE-199",), patients=15, max_evaluations=0)
    reported = {(row["arm"], row["endpoint"]): row["reported"] for row in result.table}
    assert reported[("pembrolizumab, PD-L1 positive (cohort 1)", "orr")] == pytest.approx(0.05)
    assert sorted(value for (arm, endpoint), value in reported.items() if endpoint == "median_os") == [7.9, 9.5, 14.1]
    # disease control (CR, PR, or SD for >= 6 months) 10 %, 9 %, 22 %: data/trials_amendments.yaml, same paper
    assert sorted(value for (arm, endpoint), value in reported.items() if endpoint == "dcr") == [0.09, 0.10, 0.22]
    assert math.isfinite(result.objective) and result.evaluations == 1


def test_cma_es_searches_inside_the_bounds_and_never_reports_worse_than_its_start():
    """CMA-ES on two parameters of KEYNOTE-199: every evaluation stays inside the bounds, the result is the best
    evaluation (so never above the start's objective), and the file records the optimiser."""
    seen = []
    names = ["immunity.kill_rate", "immunity.pdl1_suppression"]
    result = calibrate(("KEYNOTE-199",), patients=10, max_evaluations=6, method="cma", parameters=names,
                       log=seen.append)
    assert len(seen) == result.evaluations >= 6
    for line in seen:
        values = dict(item.split("=") for item in line.split(") ", 1)[1].split(", "))
        for name in names:
            lower, upper, *_ = PARAMETERS[name]
            assert lower * (1 - 1e-9) <= float(values[name]) <= upper * (1 + 1e-9)
    assert result.objective <= result.start_objective
    assert "CMA-ES" in result.document()["optimiser"]
    # a block fit writes every parameter: the ones it did not search at the values it held them
    written = result.document()["parameters"]
    assert set(PARAMETERS) <= set(written)
    assert written["alpha_scale"]["value"] == pytest.approx(load_calibration().values["alpha_scale"], rel=1e-3)
    assert written["immunity.kill_rate"]["start"] == pytest.approx(load_calibration().values["immunity.kill_rate"],
                                                                   rel=1e-3)  # the search began at the packaged values
    assert written["alpha_scale"]["source"].startswith("held") and "fitted by" in written["immunity.kill_rate"]["source"]
    with pytest.raises(InputError, match="method"):
        calibrate(("KEYNOTE-199",), patients=10, max_evaluations=1, method="bfgs")
    with pytest.raises(InputError, match="two parameters"):
        calibrate(("KEYNOTE-199",), patients=10, max_evaluations=2, method="cma", parameters=names[:1])


def test_an_evidence_entry_marked_objective_false_is_reported_but_not_fitted():
    """VISION's progression by 12 weeks counting new lesions on PSMA PET (Gafita et al. 2022) is reported beside the
    replay but is no term of the objective (data/rpt_evidence.yaml: PET finds lesions before CT and bone scan)."""
    result = calibrate(("VISION",), patients=15, max_evaluations=0)
    fitted = {row["endpoint"] for row in result.table if row["arm"] == "evidence"}
    assert "vision_psa_waterfall[0]" in fitted
    assert not any(name.startswith("progression_by_new_lesions") for name in fitted)


def test_the_command_line_fits_a_block_of_parameters(tmp_path):
    """``rptici calibrate --parameters``: the named parameters are searched, the file holds all of them."""
    from typer.testing import CliRunner

    from rptici.cli import app

    out = tmp_path / "block.yaml"
    outcome = CliRunner().invoke(app, ["calibrate", "--trials", "KEYNOTE-199", "--patients", "8", "--evaluations", "0",
                                       "--parameters", "immunity.kill_rate", "--out", str(out), "--json"])
    assert outcome.exit_code == 0, outcome.output
    calibration = load_calibration(str(out))
    assert set(PARAMETERS) <= set(calibration.values)
    wrong = CliRunner().invoke(app, ["calibrate", "--trials", "KEYNOTE-199", "--patients", "8", "--evaluations", "0",
                                     "--parameters", "no_such_parameter"])
    assert wrong.exit_code != 0 and "no_such_parameter" in wrong.output
    # --start: the search begins at another calibration file's values (and holds its unfitted ones there)
    begun = tmp_path / "begun.yaml"
    started = CliRunner().invoke(app, ["calibrate", "--trials", "KEYNOTE-199", "--patients", "8", "--evaluations", "0",
                                       "--parameters", "immunity.kill_rate", "--start", str(out), "--out", str(begun),
                                       "--json"])
    assert started.exit_code == 0, started.output
    assert load_calibration(str(begun)).values == load_calibration(str(out)).values
    text = out.read_text().replace(f"value: {load_calibration().values['death_hazard_scale']}", "value: 0.25", 1)
    (tmp_path / "other.yaml").write_text(text)
    other = tmp_path / "other_fit.yaml"
    assert CliRunner().invoke(app, ["calibrate", "--trials", "KEYNOTE-199", "--patients", "8", "--evaluations", "0",
                                    "--parameters", "immunity.kill_rate", "--start", str(tmp_path / "other.yaml"),
                                    "--out", str(other), "--json"]).exit_code == 0
    assert load_calibration(str(other)).values["death_hazard_scale"] == 0.25  # an unfitted value held at the start's
