"""Results beyond any clinical range carry a warning (issue 19, item 14): a lesion dose of thousands of Gy or a
kidney BED of 1,944 Gy is a unit slip or a scenario far outside practice, and must not pass without a word."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from rptici.analysis.summary import dose_warnings
from rptici.api import load_scenario, regimen_dose
from rptici.cli import app
from rptici.radiobiology.plausibility import beyond_clinical_range

SCENARIO = """kind: dose
name: {name}
regimen:
  rpt: {{agent: Pluvicto, activity: {activity}, interval: 6 weeks, cycles: 6}}
patient:
  lesions: [25 mm, 12 mL]
"""


def test_the_bounds_by_kind_of_region():
    assert beyond_clinical_range("lesion_1", dose_Gy=6858.0).startswith("lesion 1 absorbed dose 6,858 Gy is beyond")
    assert beyond_clinical_range("lesion_1", dose_Gy=400.0) is None
    assert "kidneys BED 1,944 Gy" in beyond_clinical_range("kidneys", dose_Gy=900.0, bed_Gy=1944.0)
    assert beyond_clinical_range("kidneys", dose_Gy=29.0, bed_Gy=33.0) is None
    assert "red marrow absorbed dose 37 Gy" in beyond_clinical_range("red_marrow", dose_Gy=37.0)
    assert beyond_clinical_range("liver-lesion", dose_Gy=3000.0, tissue="tumour") is not None
    assert beyond_clinical_range("kidneys", bed_Gy=float("nan")) is None


def test_the_label_dose_has_no_warning_and_a_thirty_fold_activity_has_them(tmp_path):
    label = regimen_dose(load_scenario({**_scenario("label", "7.4 GBq")})).summary(0)
    huge = regimen_dose(load_scenario({**_scenario("huge", "200 GBq")})).summary(0)
    assert label["warnings"] == []
    assert any(line.startswith("kidneys BED") for line in huge["warnings"])
    assert any(line.startswith("lesion 1 absorbed dose") for line in huge["warnings"])
    path = tmp_path / "huge.yaml"
    path.write_text(SCENARIO.format(name="huge", activity="200 GBq"))
    result = CliRunner().invoke(app, ["regimen", "dose", str(path)])
    assert result.exit_code == 0 and "warning: kidneys BED" in result.output


def test_a_trial_summary_counts_the_patients_beyond_range():
    patients = pd.DataFrame({"arm": ["a", "a", "b"], "kidney_bed_Gy": [33.0, 1944.0, 30.0],
                             "marrow_dose_Gy": [1.0, 1.2, 1.1], "tumour_dose_Gy": [200.0, 6858.0, 150.0]})
    lines = dose_warnings(patients, ["a", "b"])
    assert lines == ["a: 1 of 2 patients have a kidney BED beyond any clinical range (highest 1,944 Gy): check the "
                     "activity and its unit",
                     "a: 1 of 2 patients have a tumour dose (RBE-weighted) beyond any clinical range (highest "
                     "6,858 Gy): check the activity and its unit"]


def _scenario(name: str, activity: str) -> dict:
    import yaml

    return yaml.safe_load(SCENARIO.format(name=name, activity=activity))


HUGE_PATIENT = """patient: huge
nuclide: Lu-177
administered_activity: 7.4 GBq
regions:
  kidneys: {mass: 310 g, tissue: kidney, times: [4 h, 24 h, 96 h, 168 h], activities: [160 MBq, 130 MBq, 60 MBq, 30 MBq]}
  lesion: {volume: 12 mL, tissue: tumour, times: [1 d, 3 d, 5 d, 7 d], activities: [20000 MBq, 15000 MBq, 9500 MBq, 6000 MBq]}
"""


def test_the_patient_dosimetry_report_says_a_dose_beyond_range(tmp_path):
    """The `rptici dose` HTML report showed a lesion of thousands of Gy without a word (issue 19, item 14)."""
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE_PATIENT)
    result = CliRunner().invoke(app, ["dose", str(path), "--model", "mono", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: lesion absorbed dose" in result.output
    report = next((tmp_path / "out").glob("*.html")).read_text(encoding="utf-8")
    assert "Beyond any clinical range.</strong> lesion absorbed dose" in report


def test_the_dashboards_dosimetry_and_results_say_a_dose_beyond_range(tmp_path):
    import pytest

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rptici.web import create_app
    from rptici.web.forms import default_form

    def runner(scenario, folder, progress, chunk_size):
        progress(1, 1)

    lines = ["A: 3 of 10 patients have a tumour dose beyond any clinical range (highest 6,858 Gy): check the activity "
             "and its unit"]
    app = create_app(tmp_path / "runs", runner=runner, summarizer=lambda folder: {"arms": [], "warnings": lines})
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.post("/dosimetry", data={**default_form(), "a_rpt_activity": "200 GBq"}).text
        assert "Beyond any clinical range.</strong> kidneys BED" in page
        assert "Beyond any clinical range" not in client.post("/dosimetry", data=default_form()).text
        run = client.post("/runs", data=default_form(), follow_redirects=False).headers["location"]
        for _ in range(200):
            if client.get(f"{run}/status").json()["state"] not in ("queued", "running"):
                break
        assert "Beyond any clinical range.</strong> " + lines[0] in client.get(f"{run}/results").text
