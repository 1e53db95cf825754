"""Issue 19, item 8: the dashboard offers every catalogued agent (greyed with a reason in words when it cannot be
simulated), two checkpoint inhibitors per arm, plain-word reasons on greyed replay buttons, a dosimetry page, a
single-patient page and a link to a finished run's full HTML report — each checked here without a browser
(FastAPI TestClient); tests/web/test_web_browser.py checks the pages in Chromium.

Runs use the stand-in runner of test_web_routes; the single-patient page a stand-in simulator (a small
xarray result in the shape of rptici.simulate's), so that these tests check the web layer and stay fast.
"""

from __future__ import annotations

import html as html_module
import re

import numpy as np
import pytest
import yaml

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
xr = pytest.importorskip("xarray")
from fastapi.testclient import TestClient  # noqa: E402

from rptici.data.catalogue import checkpoint_inhibitors, radiopharmaceuticals  # noqa: E402
from rptici.kinetics import known_agents  # noqa: E402
from rptici.web import WebLimits, create_app  # noqa: E402
from rptici.web.forms import default_form, form_field, form_from_scenario, validate  # noqa: E402
from rptici.web.pages import number, patient_default_form  # noqa: E402

from test_web_routes import BASE, fake_runner, fake_summarizer, field_error, start, wait_done  # noqa: E402

#: CheckMate 650's doublet (Sharma et al. 2020 Cancer Cell 38:489): nivolumab 1 mg/kg + ipilimumab 3 mg/kg q3w x 4.
DOUBLET = {"a_ici_agent": "nivolumab", "a_ici_dose": "1 mg/kg", "a_ici_interval": "q3w", "a_ici_infusions": "4",
           "a_ici2_agent": "ipilimumab", "a_ici2_dose": "3 mg/kg", "a_ici2_interval": "q3w", "a_ici2_infusions": "4"}
#: What must never reach a page: pydantic's own text and the InputError's developer form.
DEVELOPER_TEXT = re.compile(r"Input should be|validation error|pydantic|\bgot None\b|[a-z_]+\.[a-z_]+: got ")


def fake_simulator(scenario):
    """A result shaped as rptici.simulate's for one patient with two lesions (made-up, smooth trajectories)."""
    days = np.arange(0.0, 31.0)
    shrink = np.exp(-days / 60.0)[None, :]
    one = lambda values: (("patient", "time"), np.asarray(values, dtype=float))  # noqa: E731
    two = lambda values: (("patient", "time", "lesion"), np.asarray(values, dtype=float))  # noqa: E731
    data = {
        "diameter_sum": one(50.0 * shrink), "psa": one(40.0 * shrink), "lymphocytes": one(1.6 - 0.01 * days[None]),
        "occupancy": one(np.full((1, days.size), 0.9)),
        "dose": two(np.repeat((3.0 * days)[None, :, None], 2, axis=2)),
        "bed": two(np.repeat((3.5 * days)[None, :, None], 2, axis=2)),
        "marrow_dose": one(0.01 * days[None]), "marrow_bed": one(0.01 * days[None]),
        "status": ("patient", np.array([0])), "reason": ("patient", np.array([""], dtype=object)),
    }
    return xr.Dataset(data, {"patient": [0], "time": days, "lesion": ["lesion_1", "lesion_2"]},
                      attrs={"scenario": scenario["name"], "species": "human", "days": 30.0})


@pytest.fixture
def client(tmp_path):
    app = create_app(tmp_path / "runs", WebLimits(max_patients=500, max_run_seconds=30),
                     runner=fake_runner, summarizer=fake_summarizer, simulator=fake_simulator)
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def options(page: str, name: str) -> dict[str, str]:
    """{value: the option's whole tag} of the select ``name``."""
    select = re.search(rf'<select id="field-{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    return {html_module.unescape(match.group(1)): match.group(0)
            for match in re.finditer(r'<option value="([^"]*)"[^>]*>[^<]*</option>', select.group(1))}


def text_of(page: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", " ", page))


# -- 1 + 3: every catalogued agent, the unsimulatable ones greyed with a reason in words -------------------
def test_every_catalogued_agent_is_offered_and_the_unsimulatable_ones_say_why(client):
    page = client.get("/").text
    for arm in ("a", "b"):
        rpt = options(page, f"{arm}_rpt_agent")
        assert set(radiopharmaceuticals()) <= set(rpt) and len(radiopharmaceuticals()) == 10
        for name, tag in rpt.items():
            if name in known_agents():
                assert "disabled" not in tag, name
            elif name:
                assert "disabled" in tag and "no biokinetic model" in tag and "cannot be simulated" in tag, tag
        for prefix in ("ici", "ici2"):
            ici = options(page, f"{arm}_{prefix}_agent")
            assert set(checkpoint_inhibitors()) <= set(ici)
            assert not any("disabled" in tag for tag in ici.values())
    missing = [name for name in radiopharmaceuticals() if name not in known_agents()]
    if missing:  # issue 20 gives every agent biokinetics; until then the page says which lack them and why
        notes = page.split('id="agent-notes"')[1].split("</details>")[0]
        assert missing[0] in notes and "no biokinetic model" in notes
    assert not DEVELOPER_TEXT.search(text_of(page))


def test_an_unsimulatable_agent_sent_anyway_is_refused_in_words(client):
    unsimulatable = sorted(set(radiopharmaceuticals()) - set(known_agents()))
    if not unsimulatable:
        pytest.skip("every catalogued radiopharmaceutical has a biokinetic model")
    agent = unsimulatable[0]
    response = client.post("/runs", data={**default_form(), "a_rpt_agent": agent})
    assert response.status_code == 422
    message = html_module.unescape(field_error(response.text, "a_rpt_agent"))
    assert agent in message and "no biokinetic model" in message and "[177Lu]Lu-PSMA-617" in message
    assert "\n" not in message


# -- 2: two checkpoint inhibitors per arm -------------------------------------------------------------------
def test_nivolumab_plus_ipilimumab_in_one_arm_runs(client):
    scenario = yaml.safe_load(client.post("/scenario.yaml", data={**default_form(), **DOUBLET}).text)
    ici = scenario["arms"][0]["regimen"]["ici"]
    assert [schedule["agent"] for schedule in ici] == ["nivolumab", "ipilimumab"]
    assert ici[1] == {"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "q3w", "infusions": 4}
    run_id = start(client, **DOUBLET)
    assert wait_done(client, run_id)["state"] == "done"
    assert "nivolumab 1 mg/kg q3w ×4 + ipilimumab 3 mg/kg q3w ×4" in client.get(f"/runs/{run_id}").text


def test_errors_of_the_second_checkpoint_inhibitor_are_readable_and_beside_its_fields(client):
    response = client.post("/runs", data={**default_form(), **DOUBLET, "a_ici2_dose": "lots", "a_ici_interval": "now"})
    assert response.status_code == 422
    assert "lots" in html_module.unescape(field_error(response.text, "a_ici2_dose"))
    assert "now" in html_module.unescape(field_error(response.text, "a_ici_interval"))
    # two anti-PD-1 agents: one compartment per checkpoint class, said beside the second agent
    response = client.post("/runs", data={**default_form(), **DOUBLET, "a_ici2_agent": "pembrolizumab",
                                          "a_ici2_dose": "200 mg"})
    message = html_module.unescape(field_error(response.text, "a_ici2_agent"))
    assert response.status_code == 422 and "pembrolizumab" in message and "nivolumab" in message
    # a duration instead of a number of infusions
    scenario = yaml.safe_load(client.post("/scenario.yaml", data={**default_form(), **DOUBLET,
                                                                  "a_ici2_infusions": "2 years"}).text)
    assert scenario["arms"][0]["regimen"]["ici"][1]["duration"] == "2 years"
    assert not DEVELOPER_TEXT.search(text_of(response.text))


def test_a_doublet_loads_back_into_the_form_and_error_paths_map_to_the_second_schedule():
    form = {**default_form(), **DOUBLET, "a_ici2_start": "3 weeks"}
    scenario, errors = validate(form, WebLimits())
    assert not errors
    loaded = form_from_scenario(yaml.safe_dump(scenario), WebLimits())
    for key, value in {**DOUBLET, "a_ici2_start": "3 weeks"}.items():
        assert loaded[key] == value, key
    assert form_field("arms[0].regimen.ici[1].dose", ["a"]) == "a_ici2_dose"
    assert form_field("arms[1].regimen.ici[0].interval", ["a", "b"]) == "b_ici_interval"


def test_three_schedules_in_a_file_are_refused_in_one_readable_line(client):
    scenario = {"disease": "mcrpc", "arms": [{"name": "A", "regimen": {"ici": [
        {"agent": "nivolumab", "dose": "1 mg/kg", "interval": "q3w", "infusions": 4},
        {"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "q3w", "infusions": 4},
        {"agent": "nivolumab", "dose": "480 mg", "interval": "q4w", "start": "12 weeks", "duration": "2 years"}]}}]}
    response = client.post("/scenario/load", files={"scenario_file": ("cm650.yaml", yaml.safe_dump(scenario))})
    message = html_module.unescape(field_error(response.text, "scenario_file"))
    assert response.status_code == 422 and "3 ICI schedules" in message and "rptici trial run" in message
    assert not DEVELOPER_TEXT.search(message)


# -- 3: greyed replay buttons explain themselves in words ----------------------------------------------------
def test_greyed_replay_buttons_explain_in_plain_words(client):
    page = client.get("/registry").text
    reasons = [html_module.unescape(text) for text in re.findall(r'<small class="why"[^>]*>([^<]*)</small>', page)]
    titles = [html_module.unescape(text) for text in re.findall(r'<button type="button" disabled title="([^"]*)"', page)]
    from rptici.trials import registry

    blocked = [record for record in registry().filter() if not record.replayable]
    assert reasons == titles and len(reasons) >= len(blocked)  # issue 20: every Table 2 trial replays now
    for reason in reasons:
        assert not DEVELOPER_TEXT.search(reason), reason
        assert reason[0].isupper() or reason.startswith("rptici"), reason
    # issue 20: a Table 2 trial that cannot replay waits only for its agent's biokinetics, and says so in words
    from rptici.trials import registry

    for record in registry().filter(role="validation"):
        row = html_module.unescape(page.split(f'data-trial="{record.nct}"')[1].split("</tr>")[0])
        if record.replayable:
            assert f'action="/registry/{record.nct}/replay"' in row
        else:
            assert "disabled" in row and f"no biokinetic model for {record.rpt.agent_name} yet" in row, record.nct


# -- 4a: dosimetry page ---------------------------------------------------------------------------------------
def test_dosimetry_page_shows_doses_bed_limits_and_margins(client):
    page = client.get("/dosimetry")
    assert page.status_code == 200
    text = text_of(page.text)
    assert 'id="model-status"' in page.text and "Model status." in text
    assert "Reference patient: median patient of 400 virtual patients with metastatic castration-resistant" in text
    table = page.text.split('id="dose-table-A"')[1].split("</table>")[0]
    for target in ("kidneys", "red_marrow", "salivary_glands", "lesion_1"):
        assert f'data-target="{target}"' in table
    assert "BED (Gy)" in page.text and "margin (Gy)" in page.text
    assert "not applied" in table  # the kidney limit with renal risk factors, for a patient without them
    assert 'id="activity-0"' in page.text and "pembrolizumab (PD-1): trough occupancy" in text
    assert "e+" not in table  # no scientific notation
    # the dashboard's form posted to /dosimetry: both regimens, with the doublet in B
    response = client.post("/dosimetry", data={**default_form(), "compare": "on", "b_rpt_activity": "3.7 GBq",
                                               **{key.replace("a_", "b_", 1): value for key, value in DOUBLET.items()}})
    assert response.status_code == 200
    assert 'id="dose-table-A"' in response.text and 'id="dose-table-B"' in response.text
    assert "22.2 GBq in 6 cycles" in text_of(response.text)  # 6 x 3.7 GBq
    bad = client.post("/dosimetry", data={**default_form(), "a_rpt_activity": "7.4 parsecs"})
    assert bad.status_code == 422 and "7.4 parsecs" in html_module.unescape(field_error(bad.text, "a_rpt_activity"))


def test_dosimetry_of_a_run_and_of_an_ici_only_regimen(client):
    run_id = start(client, patients="10")
    wait_done(client, run_id)
    page = client.get(f"/runs/{run_id}/results").text
    assert f'href="/dosimetry?run={run_id}"' in page
    dosimetry = client.get("/dosimetry", params={"run": run_id})
    assert dosimetry.status_code == 200 and 'id="dose-table-A"' in dosimetry.text
    assert client.get("/dosimetry", params={"run": "0123456789abcdef"}).status_code == 404
    alone = client.post("/dosimetry", data={**default_form(), "a_rpt_agent": ""})
    assert alone.status_code == 200 and "no radiopharmaceutical, so no absorbed dose" in alone.text


# -- 4b: single-patient page ------------------------------------------------------------------------------------
def test_single_patient_page_simulates_and_shows_the_trajectories(client):
    page = client.get("/patient")
    assert page.status_code == 200 and 'id="patient-form"' in page.text and "patient-trajectories" not in page.text
    assert 'id="model-status"' in page.text
    response = client.post("/patient", data={**patient_default_form(), **DOUBLET, "p_days": "30"})
    assert response.status_code == 200, response.text[:3000]
    assert 'id="patient-trajectories"' in response.text
    for title in ("Sum of lesion diameters", "PSA", "Lymphocytes", "Checkpoint occupancy"):
        assert title in response.text
    text = text_of(response.text)
    assert "Model status." in text and "calibration 'none'" in text
    table = response.text.split('id="patient-table"')[1].split("</table>")[0]
    assert "best change of the sum of diameters" in table and "lesion dose (Gy), each lesion" in table


def test_single_patient_errors_are_beside_their_fields(client):
    response = client.post("/patient", data={**patient_default_form(), "p_weight": "80 furlongs", "p_lesions": "",
                                             "p_pdl1": "2", "p_days": "99999", "a_rpt_activity": "lots"})
    assert response.status_code == 422
    for field, value in (("p_weight", "80 furlongs"), ("p_pdl1", "'2'"), ("p_days", "99999"), ("a_rpt_activity", "lots")):
        assert value in html_module.unescape(field_error(response.text, field)), field
    assert "at least one lesion" in field_error(response.text, "p_lesions")
    assert not DEVELOPER_TEXT.search(text_of(response.text))


def test_new_posts_keep_the_dashboards_protections(client):
    for path in ("/dosimetry", "/patient"):
        refused = client.post(path, data=default_form(), headers={"origin": "https://evil.example"})
        assert refused.status_code == 403, path
        assert refused.headers["x-frame-options"] == "DENY"
        too_long = client.post(path, data={**default_form(), "a_rpt_activity": "7" * 5000})
        assert too_long.status_code == 400 and "at most 200 characters" in too_long.text, path
    page = client.get("/patient")
    assert "content-security-policy" in page.headers and page.headers["x-content-type-options"] == "nosniff"


# -- 5: the full HTML report of a finished run -------------------------------------------------------------------
def test_results_link_to_the_full_report_written_on_demand(client, monkeypatch):
    import rptici.report.trial as trial_report

    calls = []

    def fake_report(folder, path=None, *, replay=None):
        calls.append(folder)
        path.write_text("<!doctype html><title>report</title><h1>Full report</h1>", encoding="utf-8")
        return path

    monkeypatch.setattr(trial_report, "write_trial_report", fake_report)
    run_id = start(client, patients="10")
    wait_done(client, run_id)
    assert f'href="/runs/{run_id}/report"' in client.get(f"/runs/{run_id}/results").text
    for _ in range(2):
        report = client.get(f"/runs/{run_id}/report")
        assert report.status_code == 200 and "Full report" in report.text
        assert report.headers["content-type"].startswith("text/html")
    assert len(calls) == 1  # written once into the run folder, then served from there
    assert client.get("/runs/0123456789abcdef/report").status_code == 404
    assert client.get("/runs/..%2f..%2fetc/report").status_code == 404


def test_numbers_are_written_for_a_clinician():
    assert number(11930.4) == "11,930" and number(1.193e4) == "11,930" and number(6858.2) == "6,858"
    assert number(0.000123) == "0.000123" and number(-6.97) == "−6.97" and number(None) == "–"
    assert number(float("nan")) == "–" and number(0) == "0"


# -- issue 19, item 4: one meaning for the patient count and the hazard ratios' reference -------------------------
@pytest.mark.parametrize("control, reference", [("", "A"), ("on", "control")])
def test_patients_are_per_arm_and_the_hazard_ratio_reference_is_named(control, reference):
    """The dashboard's count is per arm (the CLI's --patients is the total, split by arm ratio: both say so) and
    the hazard ratios are against the control arm when one is asked for, else against A (the first regimen)."""
    scenario, errors = validate(dict(default_form(), compare="on", control=control, patients="30"), WebLimits())
    assert errors == {}
    assert [arm["patients"] for arm in scenario["arms"]] == [30] * len(scenario["arms"])
    assert [arm["name"] for arm in scenario["arms"] if arm.get("control")] == [reference]


def test_the_form_and_the_command_line_say_which_count_they_mean(tmp_path):
    from typer.testing import CliRunner

    from rptici.cli import app

    # a wide terminal, so that rich does not wrap the option's help across lines
    help_text = CliRunner().invoke(app, ["trial", "run", "--help"], env={"COLUMNS": "200"}).output
    assert "Total virtual patients (split by" in help_text
    with TestClient(create_app(tmp_path / "runs", runner=fake_runner, summarizer=fake_summarizer),
                    base_url=BASE) as client:
        assert "virtual patients per arm" in client.get("/").text
        run_id = start(client, compare="on", patients="4")
        wait_done(client, run_id)
        results = text_of(client.get(f"/runs/{run_id}/results").text)
    assert "Hazard ratios against arm A" in results  # was 'HR vs control' with A, the combination, as reference
