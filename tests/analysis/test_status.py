"""The model's validation status travels with every output of predictions (issue 19, item 1).

The counts are those of ``data/model_status.yaml`` (written by ``rptici validate --write-status``); the tests read
them from the file, so that a re-measurement after a model change moves the outputs and not the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rptici.analysis.status import STATUS_FILE, ModelStatus, model_status
from rptici.data import load_yaml
from rptici.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trials" / "prince_like.yaml"
MEASURED = load_yaml(STATUS_FILE)
FITTED = (MEASURED["calibration_endpoints"]["within_tolerance"], MEASURED["calibration_endpoints"]["total"])
PREDICTED = (MEASURED["validation_endpoints"]["within_tolerance"], MEASURED["validation_endpoints"]["total"])


def test_the_default_calibration_carries_its_measured_counts_and_says_it_is_not_credible():
    status = model_status()
    assert MEASURED["calibration"] == "calibration/default.yaml"
    assert (status.calibration_within, status.calibration_total) == FITTED
    assert (status.validation_within, status.validation_total) == PREDICTED
    directions = MEASURED["direction_checks"]
    assert len(directions) == 2 and status.failed_directions == tuple(c["name"] for c in directions if not c["passed"])
    assert status.credible == (FITTED[0] / FITTED[1] >= 0.8 and PREDICTED[0] / PREDICTED[1] >= 0.6
                               and all(c["passed"] for c in directions))  # issue 14
    assert ("not yet credible" in status.headline) != status.credible
    assert "{} of {}".format(*FITTED) in status.headline and "{} of {}".format(*PREDICTED) in status.headline
    assert model_status("calibration/default.yaml") == model_status("default") == status


def test_credible_only_when_both_shares_reach_the_thresholds():
    # issue 14's bar: >= 80 % of calibration endpoints and >= 60 % of combination endpoints
    assert ModelStatus("x", "2027-01-01", 38, 47, 11, 17).credible  # 80.9 % and 64.7 %
    assert not ModelStatus("x", "2027-01-01", 37, 47, 11, 17).credible  # 78.7 %
    assert not ModelStatus("x", "2027-01-01", 38, 47, 10, 17).credible  # 58.8 %
    assert "not yet credible" not in ModelStatus("x", "2027-01-01", 38, 47, 11, 17).headline


def test_not_credible_while_a_direction_check_fails_even_with_both_shares_reached():
    # issue 14 also requires the direction right: PRINCE's gain, radium-223 + an ICI no better than radium alone
    status = ModelStatus("x", "2027-01-01", 47, 58, 11, 17, failed_directions=("PRINCE: pembrolizumab adds",))
    assert not status.credible
    assert "not yet credible" in status.headline and "direction wrong in PRINCE" in status.headline
    assert status.as_dict()["failed_directions"] == ["PRINCE: pembrolizumab adds"]


def test_another_calibration_is_not_given_borrowed_numbers():
    status = model_status("my_fit.yaml")
    assert status.measured is None and status.calibration_total is None and not status.credible
    assert "has not been measured" in status.headline


@pytest.mark.filterwarnings("ignore")
def test_summary_cli_and_report_of_a_real_run_show_the_status(tmp_path):
    pytest.importorskip("numba")
    folder = tmp_path / "run"
    result = CliRunner().invoke(app, ["trial", "run", str(EXAMPLE), "--patients", "20", "--seed", "3",
                                      "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Model status: " + model_status().headline in result.output
    summary = CliRunner().invoke(app, ["trial", "summary", str(folder), "--html", str(tmp_path / "report.html")])
    assert summary.exit_code == 0 and "Model status:" in summary.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="model-status"' in html and "{} of {}".format(*FITTED) in html
