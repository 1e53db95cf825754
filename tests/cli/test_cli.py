"""The command line: each computing command answers with the keys the issue names, and bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rptici.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def run_json(*arguments: str) -> dict:
    result = runner.invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_nuclide_json_keys_and_lu177_values(reference):
    # Lu-177: ICRP-107 via tests/reference/dosimetry.yaml; 0.5 % tolerance as in test_physics
    expected = reference("dosimetry.yaml")["nuclides"]["Lu-177"]
    answer = run_json("nuclide", "Lu-177")
    assert {"nuclide", "half_life_days", "mean_energy_MeV_per_decay", "daughters_included"} <= set(answer)
    assert set(answer["mean_energy_MeV_per_decay"]) == {"alpha", "beta", "electron", "photon"}
    assert answer["half_life_days"] == pytest.approx(expected["half_life_d"], rel=1e-3)
    for kind, value in expected["mean_energy_MeV"].items():
        assert answer["mean_energy_MeV_per_decay"][kind] == pytest.approx(value, rel=5e-3)
    assert answer["daughters_included"] == {}


def test_nuclide_includes_ra223_daughters():
    answer = run_json("nuclide", "Ra-223")
    assert {"Rn-219", "Po-215", "Pb-211", "Bi-211", "Tl-207"} <= set(answer["daughters_included"])


def test_sphere_json_large_sphere_tends_to_local_deposition(reference):
    # 1 MeV per decay in 1 g is 576.7 mGy/(MBq h) (dosimetry.yaml unit_conversion); for a 1 kg sphere
    # nearly all Lu-177 electron energy (0.14792 MeV) is absorbed, photons add a few per cent: ±5 %.
    answer = run_json("sphere", "--nuclide", "Lu-177", "--mass", "1 kg")
    assert "s_value_mGy_per_MBq_h" in answer
    local = 576.7 * reference("dosimetry.yaml")["nuclides"]["Lu-177"]["mean_energy_MeV"]["electron"] / 1000
    assert answer["s_value_mGy_per_MBq_h"] == pytest.approx(local, rel=0.05)
    assert answer["s_value_mGy_per_MBq_h"] > local  # the photon contribution is positive


def test_bed_json_reproduces_the_reference_case(reference):
    case = reference("dosimetry.yaml")["bed_cases"][0]  # Dale 1985 / Bodei 2008 kidney case, 0.2 %
    answer = run_json("bed", "--dose", f"{case['absorbed_dose_Gy']} Gy", "--alpha-beta", f"{case['alpha_beta_Gy']} Gy",
                      "--repair-half-time", f"{case['repair_half_time_h']} h",
                      "--effective-half-life", f"{case['effective_half_life_h']} h")
    assert answer["g_factor"] == pytest.approx(case["expected"]["g_factor"], rel=case["tolerance_rel"])
    assert answer["bed_Gy"] == pytest.approx(case["expected"]["bed_Gy"], rel=case["tolerance_rel"])
    assert answer["eqd2_Gy"] == pytest.approx(answer["bed_Gy"] / (1 + 2 / case["alpha_beta_Gy"]), rel=1e-12)


def test_bed_with_fast_uptake_is_close_to_instant_uptake():
    instant = run_json("bed", "--dose", "20 Gy", "--alpha-beta", "2.6 Gy", "--repair-half-time", "2.8 h",
                       "--effective-half-life", "50 h")
    uptake = run_json("bed", "--dose", "20 Gy", "--alpha-beta", "2.6 Gy", "--repair-half-time", "2.8 h",
                      "--effective-half-life", "50 h", "--uptake-half-life", "1 h")
    assert uptake["g_factor"] < instant["g_factor"]  # an uptake phase spreads the dose further in time
    assert uptake["g_factor"] == pytest.approx(instant["g_factor"], rel=0.05)


def test_agents_list_and_show():
    names = {row["name"] for row in run_json("agents", "list")}
    assert {"[177Lu]Lu-PSMA-617", "[223Ra]RaCl2", "pembrolizumab", "ipilimumab"} <= names
    assert run_json("agents", "show", "Xofigo")["nuclide"] == "Ra-223"


def test_tia_and_dose_on_the_example_patient(tmp_path, reference):
    fits = run_json("tia", str(EXAMPLES / "lu177_dotatate_patient.yaml"))
    assert set(fits) == {"kidneys", "liver", "spleen", "lesion-1", "lesion-2"}
    result = run_json("dose", str(EXAMPLES / "lu177_dotatate_patient.yaml"), "--out", str(tmp_path))
    kidneys = result["regions"]["kidneys"]
    # Lu-DOTATATE kidney dose per activity: 0.38-0.57 Gy/GBq (dosimetry.yaml, four published series)
    published = reference("dosimetry.yaml")["absorbed_dose_per_activity"]["Lu-177-DOTATATE"]["kidneys"]["values"]
    assert min(published) <= kidneys["dose_per_activity_Gy_per_GBq"] <= max(published)
    assert kidneys["bed_Gy"] > kidneys["absorbed_dose_Gy"]
    assert {limit["name"] for limit in kidneys["limits"]} >= {"bed"}
    report = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in report and "kidneys" in report
    assert json.loads((tmp_path / "dosimetry.json").read_text())["nuclide"] == "Lu-177"
    # issue 19, item 6: words, not Python names; no scientific notation; a risk-factor limit says it does not apply
    import re

    visible = re.sub(r"<[^>]+>", " ", re.sub(r'(src|title)="[^"]*"', "", report))
    assert not re.search(r"\b\w+_\w+\b", visible), re.findall(r"\b\w+_\w+\b", visible)
    assert not re.search(r"\d(\.\d+)?e[+-]\d", visible)
    assert "bed with risk factors <span" in report and "— not applied to this patient" in report


def test_dose_and_regimen_dose_with_and_without_phantom_cross_dose():
    """``rptici dose`` adds the phantom's photon cross-dose by default (--phantom none: self-dose only); ``rptici
    regimen dose`` likewise (--self-dose-only). Cross-dose only adds dose."""
    patient = str(EXAMPLES / "lu177_dotatate_patient.yaml")
    cross, self_only = run_json("dose", patient), run_json("dose", patient, "--phantom", "none")
    assert "phantom" in cross["s_values"] and "phantom" not in self_only["s_values"]
    for region in ("kidneys", "liver", "spleen"):
        assert cross["regions"][region]["absorbed_dose_Gy"] > self_only["regions"][region]["absorbed_dose_Gy"]
    scenario = str(EXAMPLES / "scenarios" / "lutathera.yaml")
    cross, self_only = run_json("regimen", "dose", scenario), run_json("regimen", "dose", scenario, "--self-dose-only")
    assert "cross-dose" in cross["s_values"] and self_only["s_values"] == "organ self-dose only"
    marrow = [answer["regions"]["red_marrow"]["rbe_weighted_dose_Gy"] for answer in (cross, self_only)]
    assert marrow[0] > marrow[1]


@pytest.mark.parametrize("arguments, field", [
    (["nuclide", "Lu-999"], "nuclide"),
    (["dose", str(EXAMPLES / "lu177_dotatate_patient.yaml"), "--phantom", "child"], "--phantom"),
    (["sphere", "--nuclide", "Lu-177", "--mass", "10 GBq"], "mass"),
    (["sphere", "--nuclide", "Lu-177", "--mass", "-3 g"], "mass"),
    (["bed", "--dose", "20 Gy", "--alpha-beta", "2.6 Gy", "--repair-half-time", "2.8 GBq",
      "--effective-half-life", "50 h"], "repair_half_time"),
    (["agents", "show", "Pluvictoo"], "agent"),
])
def test_bad_input_is_one_clear_line_and_exit_status_2(arguments, field):
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert f"error: {field}" in result.output
    assert "Traceback" not in result.output


def test_registry_list_filters_and_show(reference):
    # PRINCE (Sandhu et al. 2022, trials_combination.yaml): PSA50 0.76, median OS 17.8 months
    rows = run_json("registry", "list", "--checkpoint-inhibitor", "pembrolizumab", "--agent", "Lu-PSMA-617")
    assert "NCT03658447" in {row["nct"] for row in rows}
    assert all(row["role"] in ("validation", "calibration") for row in rows)
    prince = run_json("registry", "show", "PRINCE")
    published = next(t for t in reference("trials_combination.yaml")["trials"] if t.get("acronym") == "PRINCE")
    assert prince["results"]["psa50"] == published["results"]["psa50"]
    assert prince["results"]["median_os"] == published["results"]["median_os"]


def test_registry_import_of_a_clinicaltrials_gov_record():
    example = Path(__file__).resolve().parents[1] / "data" / "clinicaltrials_gov_example.json"
    rows = run_json("registry", "list", "--role", "imported", "--import", str(example))
    assert [row["nct"] for row in rows] == ["NCT03658447"]


def test_s_values_command_table_and_csv(tmp_path):
    """``rptici s-values``: self-dose at the ICRP 89 masses (Lu-177 kidneys: k·E_local/m plus photons, within 3 %
    of OpenDose's 0.2774 mGy/(MBq h) at 310 g, tests/reference/organ_s_values.yaml), reciprocal cross-dose, and a
    CSV that ``rptici dose --s-values`` reads."""
    csv_path = tmp_path / "s.csv"
    answer = run_json("s-values", "--nuclide", "Lu-177", "--csv", str(csv_path))
    values = answer["s_values"]
    assert values["kidneys <- kidneys"] == pytest.approx(7.7060e-5 * 3600, rel=0.03)
    # photon cross-dose only, so S(T <- S) = S(S <- T) exactly (reciprocity of the SAF, MIRD Pamphlet 21)
    assert values["kidneys <- liver"] == pytest.approx(values["liver <- kidneys"], rel=1e-12)
    assert values["red_marrow <- remainder"] > 0
    dose = run_json("dose", str(EXAMPLES / "lu177_dotatate_patient.yaml"), "--s-values", str(csv_path))
    assert "user table" in dose["s_values"]
