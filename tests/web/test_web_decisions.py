"""The decisions view of the dashboard (/decisions): a real tiny ``rptici optimize`` result run across two
calibration-ensemble members, its front and the chosen point's regimen timeline — routes through the test client,
then the same in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): choose another point
and see the timeline change. Also the HTML report's timeline of a chosen point."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from rptici.decisions.optimize import optimize  # noqa: E402
from serving import serving  # noqa: E402
from rptici.web import create_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
BASE = "http://127.0.0.1"
#: Four candidates (pembrolizumab or not, fixed or kidney-guided activity), 30 patients each: objective response
#: against grade ≥ 3 toxicity. Adding the ICI raises both, so the front has the points with and without it.
SPACE = {
    "kind": "optimization", "name": "tiny guided or fixed, with or without pembrolizumab",
    "trial": {"disease": "mcrpc", "follow_up": "24 months", "assessments": "q12w", "psa_assessments": "q3w"},
    "patients": 30, "seed": 1,
    "regimen": {"rpt": {"agent": "[177Lu]Lu-PSMA-617", "activity": "6 GBq", "interval": "6 weeks", "cycles": 3},
                "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 8},
                "sequence": {"order": "concurrent"}},
    "variables": {"ici": {"choices": [None, {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w",
                                             "infusions": 8}]},
                  "rpt.guided": {"choices": [None, {"region": "kidneys", "quantity": "bed", "target": "30 Gy"}]}},
    "objectives": [{"endpoint": "orr", "goal": "maximize"}, {"endpoint": "grade3plus_rate.any", "goal": "minimize"}],
    "constraints": [{"region": "kidneys", "quantity": "bed", "statistic": "p90"}],
    "search": {"generations": 2, "population": 4}}


@pytest.fixture(scope="module")
def decisions_root(tmp_path_factory):
    """A decisions folder with one real optimisation result (``tiny``) and its HTML report."""
    from rptici.report.decisions import write_optimize_report

    root = tmp_path_factory.mktemp("decisions")
    result = optimize(SPACE, root / "tiny", ensemble=2)
    write_optimize_report(result, root / "tiny" / "report.html")
    return root


@pytest.fixture(scope="module")
def client(decisions_root, tmp_path_factory):
    from fastapi.testclient import TestClient

    app = create_app(tmp_path_factory.mktemp("runs"), decisions_root=decisions_root)
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def test_routes_list_show_and_refuse(client, decisions_root):
    listing = client.get("/decisions")
    assert listing.status_code == 200 and 'data-result="tiny"' in listing.text
    page = client.get("/decisions/tiny")
    assert page.status_code == 200
    assert 'id="front-figure"' in page.text and 'id="timeline-figure"' in page.text
    assert 'id="chosen-point">1<' in page.text and "robust" in page.text
    assert "not yet credible" in page.text
    bad = client.get("/decisions/tiny?point=99")
    assert bad.status_code == 422 and "point" in bad.text and "99" in bad.text
    for name in ("nope", "%2E%2E", "tiny%2F..%2F.."):  # only listed names are served
        assert client.get(f"/decisions/{name}").status_code in (404, 422)
    report = client.get("/decisions/tiny/report")
    assert report.status_code == 200 and "Regimen of front point 1" in report.text


def test_a_result_without_the_ensemble_is_shown_without_the_robust_column(client, decisions_root):
    import json

    document = json.loads((decisions_root / "tiny" / "front.json").read_text(encoding="utf-8"))
    document.pop("ensemble")
    for point in document["front"]:
        point.pop("robust"), point.pop("ensemble")
    (decisions_root / "plain").mkdir(exist_ok=True)
    (decisions_root / "plain" / "front.json").write_text(json.dumps(document), encoding="utf-8")
    page = client.get("/decisions/plain?point=1")
    assert page.status_code == 200 and 'id="front-figure"' in page.text and "holds in" not in page.text
    assert client.get("/decisions/plain/report").status_code == 404  # no report.html written for it


def test_report_shows_the_chosen_point_and_refuses_another(decisions_root, tmp_path):
    import json

    from rptici.errors import InputError
    from rptici.report.decisions import write_optimize_report

    result = json.loads((decisions_root / "tiny" / "front.json").read_text(encoding="utf-8"))
    last = len(result["front"])
    text = write_optimize_report(result, tmp_path / "r.html", chosen=last).read_text(encoding="utf-8")
    assert f"Regimen of front point {last}" in text and "robust (holds in)" in text
    with pytest.raises(InputError, match="--point"):
        write_optimize_report(result, tmp_path / "r.html", chosen=last + 1)


@pytest.fixture(scope="module")
def server(decisions_root, tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("runs-browser"), decisions_root=decisions_root)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


def drawn(page, div: str) -> dict:
    """What plotly drew in ``div``: its title and, per trace, name and point count."""
    return page.evaluate(f"""() => {{
        const element = document.getElementById('{div}');
        return {{title: element.layout.title.text,
                 traces: element.data.map(trace => [trace.name, (trace.y || []).length])}};
    }}""")


def test_choose_a_front_point_and_see_its_timeline_in_chromium(browser, server, decisions_root):
    import json

    result = json.loads((decisions_root / "tiny" / "front.json").read_text(encoding="utf-8"))
    front = result["front"]
    context = browser.new_context(base_url=server, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto("/decisions")
        page.click("#decisions-table a")
        page.wait_for_selector("#front-figure .main-svg")
        page.wait_for_selector("#timeline-figure .main-svg")
        figure = drawn(page, "front-figure")
        front_trace = next(trace for trace in figure["traces"] if trace[0].startswith("Pareto front"))
        assert front_trace[1] == len(front)  # every front point drawn
        timeline = drawn(page, "timeline-figure")
        assert timeline["title"].startswith("Front point 1")
        bars = next(trace for trace in timeline["traces"] if trace[0].startswith("RPT"))
        assert bars[1] == 3  # three cycles
        has_ici = any(trace[0] == "ICI infusion" for trace in timeline["traces"])
        assert has_ici == (front[0]["regimen"].get("ici") is not None)
        assert page.locator("#front-table tbody tr").count() == len(front)
        if len(front) > 1:
            page.click(f"#show-point-{len(front)}")
            page.wait_for_selector("#timeline-figure .main-svg")
            assert page.locator("#chosen-point").inner_text() == str(len(front))
            timeline = drawn(page, "timeline-figure")
            assert timeline["title"].startswith(f"Front point {len(front)}")
            has_ici = any(trace[0] == "ICI infusion" for trace in timeline["traces"])
            assert has_ici == (front[-1]["regimen"].get("ici") is not None)
            assert page.locator(f'#front-table tr[data-point="{len(front)}"]').get_attribute("class") == "chosen"
        page.goto("/decisions/tiny?point=0")
        assert "a front point from 1 to" in page.locator("#message").inner_text()
    finally:
        context.close()
