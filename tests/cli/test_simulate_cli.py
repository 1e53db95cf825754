"""``rptici simulate``: JSON output, plots, scenario validation (examples/simulate/*.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulate"
runner = CliRunner()


def simulate(*arguments: str) -> dict:
    result = runner.invoke(app, ["simulate", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_mouse_scenario_reports_the_prescribed_dose_and_a_response():
    summary = simulate(str(EXAMPLES / "mouse_nm600_like.yaml"), "--days", "30")
    patient = summary["patients"][0]
    assert patient["status"] == "ok" and patient["reason"] == ""
    # the prescribed 12 Gy, mono-exponential with T_eff 2.67 d: 1 − 2^(−30/2.67) of it given by day 30
    assert patient["lesion_dose_Gy"][0] == pytest.approx(12.0 * (1 - 2 ** (-30 / 2.67)), rel=1e-5)
    assert patient["marrow_dose_Gy"] == pytest.approx(1.2 * (1 - 2 ** (-30 / 2.67)), rel=1e-5)
    # BED > dose (incomplete repair adds the quadratic term) and a 12 Gy dose shrinks the tumour
    assert patient["lesion_bed_Gy"][0] > patient["lesion_dose_Gy"][0]
    assert patient["best_change_percent"] < -30.0
    assert len(patient["sum_of_diameters_mm"]) == len(summary["times_d"]) == 31


def test_pluvicto_patient_cohort_and_plots(tmp_path):
    summary = simulate(str(EXAMPLES / "pluvicto_pembrolizumab_patient.yaml"), "--days", "60", "--patients", "2",
                       "--plot", str(tmp_path / "trajectories.png"))
    assert len(summary["patients"]) == 2 and all(p["status"] == "ok" for p in summary["patients"])
    first = summary["patients"][0]
    # baseline sum of diameters: 25 mm + the 12 mL sphere (2·(3·12/4π)^(1/3) cm = 28.4 mm)
    assert first["sum_of_diameters_mm"][0] == pytest.approx(25.0 + 28.41, abs=0.01)
    # pembrolizumab 200 mg q3w: occupancy of PD-1 high from the first infusion (Keytruda label: ≥ 90 % RO)
    assert first["occupancy"][1] > 0.9
    assert (tmp_path / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = runner.invoke(app, ["simulate", str(EXAMPLES / "mouse_nm600_like.yaml"), "--days", "10", "--plot",
                               str(tmp_path / "plot.html")])
    assert html.exit_code == 0, html.output
    assert "data:image/png;base64," in (tmp_path / "plot.html").read_text(encoding="utf-8")


def test_bad_scenarios_name_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("species: rat\npatient: {lesions: [1 mL]}\nantibody: [{day: 0, dose: 1 mg}]\n", encoding="utf-8")
    result = runner.invoke(app, ["simulate", str(bad)])
    assert result.exit_code == 2 and "species" in result.output
    result = runner.invoke(app, ["simulate", str(EXAMPLES / "mouse_nm600_like.yaml"), "--plot", "x.pdf"])
    assert result.exit_code == 2 and "--plot" in result.output


def test_organ_dose_and_bed_of_the_pluvicto_patient():
    """organs: [kidneys, salivary_glands] in the example: after two cycles (days 0 and 42, read on day 60) the
    kidneys' dose is 2 × 7.4 GBq × the regimen calculator's Gy/GBq (closed form from the same biokinetics; the
    engine keeps four exponentials, which keep the dose exact) to 1 %, and BED exceeds the dose."""
    from rptici.kinetics import load_regimen
    from rptici.kinetics.biokinetics import Covariates
    from rptici.radiobiology.regimen_dose import regimen_dose

    summary = simulate(str(EXAMPLES / "pluvicto_pembrolizumab_patient.yaml"), "--days", "60")
    patient = summary["patients"][0]
    regimen = load_regimen({"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 1}})
    reference = regimen_dose(regimen, Covariates(weight_kg=80.0, lesion_masses_g=np.zeros((1, 0))))
    per_GBq = reference.dose_per_activity_Gy_per_GBq[0, reference.targets.index("kidneys")]
    assert patient["organ_dose_Gy"]["kidneys"] == pytest.approx(2 * 7.4 * per_GBq, rel=0.01)
    for organ in ("kidneys", "salivary_glands"):
        assert patient["organ_bed_Gy"][organ] > patient["organ_dose_Gy"][organ] > 0


@pytest.mark.parametrize("organs, message", [("[kidneys]\nprescribed_rpt: [{day: 0, tumour_dose: 5 Gy, "
                                              "effective_half_life: 2 d}]\n", "organs"),
                                             ("[liver_tumour]\nregimen: {rpt: {agent: Pluvicto, activity: 7.4 GBq}}\n",
                                              "organs")])
def test_bad_organs_name_the_field(tmp_path, organs, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient: {lesions: [10 mL]}\norgans: " + organs, encoding="utf-8")
    result = runner.invoke(app, ["simulate", str(bad), "--days", "10"])
    assert result.exit_code == 2 and message in result.output


def test_the_engines_first_compilation_is_said_on_stderr(capsys):
    """Issue 19, item 3: the CLI shows the engine's notices (its first compilation) as one plain stderr line."""
    import logging

    from rptici.cli import _say_engine_progress

    _say_engine_progress()
    _say_engine_progress()  # once only
    logging.getLogger("rptici.engine").info("compiling the engine (first run only, about %d s)…", 20)
    captured = capsys.readouterr()
    assert captured.err == "compiling the engine (first run only, about 20 s)…\n" and captured.out == ""


def test_a_dose_beyond_any_clinical_range_is_said(tmp_path):
    """Issue 19, item 14: 200 GBq gives lesion doses of thousands of Gy: a warning line, and in the JSON."""
    text = (EXAMPLES / "pluvicto_pembrolizumab_patient.yaml").read_text().replace("activity: 7.4 GBq",
                                                                                   "activity: 200 GBq")
    path = tmp_path / "huge.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["simulate", str(path), "--days", "60"])
    assert result.exit_code == 0 and "warning: lesion 1 absorbed dose" in result.output
    assert "beyond any clinical range" in " ".join(simulate(str(path), "--days", "60")["warnings"])
    assert simulate(str(EXAMPLES / "pluvicto_pembrolizumab_patient.yaml"), "--days", "60")["warnings"] == []
