"""Property-based fuzz of the dashboard's forms (issue 19, item 11) through FastAPI's TestClient: the trial form
(POST /runs and /scenario.yaml) with fuzzed fields, the scenario upload (POST /scenario/load) with fuzzed files, the
registry's replay form and filters, and run pages with fuzzed ids. Every answer is a page or a redirect (2xx, 3xx)
or a refusal (4xx) that shows the field's message; never a server error. The trials run by a stand-in (no
simulation)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from fuzz_inputs import HOSTILE_TEXT, example, fuzz_settings, mutated, number_text, quantity_text, values, yaml_text  # noqa: E402
from rptici.web import create_app  # noqa: E402
from rptici.web.forms import default_form  # noqa: E402

FORM = dict(default_form(), compare="on", control="on")
field_values = st.one_of(st.sampled_from(HOSTILE_TEXT), quantity_text, number_text, st.text(max_size=20),
                         st.sampled_from(["on", "off", "x" * 201, "-1", "100000", "1e9", "4294967296"]))


def stand_in_trial(scenario, folder, progress, chunk_size):  # the web layer only: no simulation
    progress(1, 1)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("dashboard_runs"), runner=stand_in_trial,
                     summarizer=lambda folder: {"arms": []})
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:  # server errors raise here
        yield test_client


@st.composite
def forms(draw) -> dict[str, str]:
    """The dashboard's form with one to four fields changed, removed or added."""
    form = dict(FORM)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.one_of(st.sampled_from(sorted(form) or ["disease"]), st.text(max_size=8)))
        if draw(st.booleans()) or not form:
            form[name] = draw(field_values)
        else:
            form.pop(name, None)
    return form


def answered(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text and "Internal Server Error" not in response.text


@fuzz_settings(500)
@given(form=forms(), path=st.sampled_from(["/runs", "/scenario.yaml"]))
def test_fuzzed_trial_forms_are_answered_with_a_page_or_a_refusal(client, form, path):
    answered(client.post(path, data=form, follow_redirects=False))


TRIAL_FILES = [example(f"trials/{name}.yaml") for name in ("prince_like", "netter1_like", "standard")]


@fuzz_settings(300)
@given(content=st.one_of(st.sampled_from(TRIAL_FILES).flatmap(mutated).map(lambda doc: yaml_text(doc).encode()),
                         values.map(lambda value: yaml_text(value).encode()), st.binary(max_size=40)),
       filename=st.sampled_from(["scenario.yaml", "", "../../etc/passwd", "a\x00b.yaml", "x" * 300]))
def test_fuzzed_scenario_uploads_are_answered_with_a_page_or_a_refusal(client, content, filename):
    answered(client.post("/scenario/load", files={"scenario_file": (filename, content, "application/x-yaml")}))


@fuzz_settings(200)
@given(name=st.one_of(st.sampled_from(["PRINCE", "NCT03658447", "VISION", "NETTER-1", "unknown", "..", "%2e%2e"]),
                      st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)),
       patients=field_values, filters=st.dictionaries(st.sampled_from(["disease", "agent", "phase", "status", "role",
                                                                       "checkpoint_inhibitor", "other"]), field_values,
                                                      max_size=3))
def test_fuzzed_registry_requests_are_answered_with_a_page_or_a_refusal(client, name, patients, filters):
    name = quote(name, safe="")  # as a browser sends it
    answered(client.get("/registry", params=filters))
    answered(client.post(f"/registry/{name}/replay", data={"patients": patients}, follow_redirects=False))
    for page in (f"/runs/{name}", f"/runs/{name}/status", f"/runs/{name}/results", f"/runs/{name}/download/{name}",
                 f"/?run={name}"):
        answered(client.get(page))


# -- issue 19, item 8: the dosimetry and single-patient forms, and arms with two checkpoint inhibitors ----------
DOUBLET_FORM = dict(FORM, a_ici_agent="nivolumab", a_ici_dose="1 mg/kg", a_ici_interval="q3w", a_ici_infusions="4",
                    a_ici2_agent="ipilimumab", a_ici2_dose="3 mg/kg", a_ici2_interval="q3w", a_ici2_infusions="4",
                    a_ici2_start="3 weeks")


def refused_simulation(scenario):  # the web layer only: a valid patient form is refused as the engine might
    from rptici.errors import InputError

    raise InputError("patient", "stand-in", "a simulation (this test runs none)")


@pytest.fixture(scope="module")
def pages_client(tmp_path_factory):
    from rptici.web.pages import patient_default_form

    app = create_app(tmp_path_factory.mktemp("dashboard_pages"), runner=stand_in_trial,
                     summarizer=lambda folder: {"arms": []}, simulator=refused_simulation)
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client, {**DOUBLET_FORM, **patient_default_form(), **{key: value for key, value in
                                                                         DOUBLET_FORM.items() if key.startswith("a_")}}


@st.composite
def doublet_forms(draw, base: dict[str, str]) -> dict[str, str]:
    """``base`` with one to four fields (mostly of the checkpoint inhibitors and the patient) changed or removed."""
    form = dict(base)
    names = sorted(name for name in form if "ici" in name or name.startswith("p_")) or sorted(form)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.one_of(st.sampled_from(names), st.sampled_from(sorted(form))))
        if draw(st.booleans()):
            form[name] = draw(st.one_of(field_values, st.sampled_from(["pembrolizumab", "ipilimumab", "Zevalin",
                                                                       "[131I]NaI", "2 years", "q3w", "0 weeks"])))
        else:
            form.pop(name, None)
    return form


@fuzz_settings(150)
@given(data=st.data())
def test_fuzzed_dosimetry_and_patient_forms_are_answered_with_a_page_or_a_refusal(pages_client, data):
    client, base = pages_client
    form = data.draw(doublet_forms(base))
    for path in ("/dosimetry", "/patient", "/runs"):
        answered(client.post(path, data=form, follow_redirects=False))
