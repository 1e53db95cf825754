"""The endpoint registry (rptici.trials.endpoint_registry): one object per endpoint, iterated over by the trial
runner, the summary, the replay, the report, the dashboard and the CLI.

The main test adds an endpoint — CR + PR + SD as best overall response among patients with measurable disease,
without the duration that the registered disease control rate asks (RECIST 1.1, Eisenhauer et al. 2009 Eur J
Cancer 45:228) — in this file alone, and finds it in the per-patient table, the per-arm summary, the HTML report, the CLI and the replay comparison.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.analysis.replay import compare, replay_scenario
from rptici.analysis.summary import summarize
from rptici.cli import app
from rptici.errors import InputError
from rptici.report.trial import write_trial_report
from rptici.trials import registry
from rptici.trials.endpoint_registry import Rate, endpoint, endpoints, flag_columns, register, summary_rows, unregister
from rptici.trials.endpoints import STABLE_DISEASE
from rptici.trials.run import run_trial, simulate_trial

#: The example PRINCE-like trial (Lu-PSMA-617 with and without pembrolizumab, mCRPC), run small.
SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "trials" / "prince_like.yaml"


def stable_or_better(record):
    """CR, PR or SD as best overall response."""
    return {"stable_or_better": record.response.best_response <= STABLE_DISEASE}


STABLE_OR_BETTER = Rate("sd_or_better", "stable disease or better (RECIST 1.1)", "fraction", ("stable_or_better",),
                        ("sd_or_better",), ("stable_or_better",), "SD or better", compute=stable_or_better,
                        denominator="measurable")


@pytest.fixture
def with_stable_or_better():
    register(STABLE_OR_BETTER, before="pfs")
    yield STABLE_OR_BETTER
    unregister("sd_or_better")


def test_the_registry_names_each_endpoint_once_with_its_keys_and_columns():
    names = [item.name for item in endpoints()]
    assert names == ["orr", "psa50", "dcr", "pfs", "os", "psa_pfs", "composite_pfs", "new_lesion_share",
                     "grade3plus"]
    assert endpoint("pfs").registry_keys == ("median_rpfs", "median_pfs")
    assert endpoint("os").columns == ("os_days", "os_event")
    assert "grade3plus_any" in flag_columns() and "objective_response" in flag_columns()
    assert ("hr_pfs", "hazard ratio PFS vs control", "ratio", None) in summary_rows()
    with pytest.raises(InputError, match="endpoint"):
        endpoint("sd_or_better")
    with pytest.raises(InputError, match="not yet registered"):
        register(endpoint("orr"))


def test_landmark_survival_is_read_and_answered_by_its_time_to_event_endpoint():
    assert endpoint("pfs").reported("pfs_12mo", 0.19) == [("pfs_12mo", 0.19, None)]
    assert endpoint("os").reported("pfs_12mo", 0.19) == []
    assert endpoint("os").answers("os_18mo") and not endpoint("os").answers("pfs_18mo")
    # a dictionary of counts gives the rate and its own n (trials_combination.yaml: 1 of 7 evaluable)
    assert endpoint("orr").reported("partial_responses", {"responders": 1, "evaluable": 7}) == [("orr", 1 / 7, 7)]
    assert endpoint("grade3plus").reported("grade3plus_ae_attributed", {"atezolizumab": 0.341, "radium": 0.273}) \
        == [("grade3plus_immune_related", 0.341, None), ("grade3plus_radiation_related", 0.273, None)]


def test_a_reported_hazard_ratio_is_read_by_the_endpoint_whose_median_it_compares():
    """``hr_rpfs`` (a registry record's hazard ratio for rPFS) is PFS's ``hr_pfs``, a ratio read from the arm's
    summary row (estimate, low, high); PSA-PFS, which has no hazard ratio against control, reads none."""
    assert endpoint("pfs").reported("hr_rpfs", 0.85) == [("hr_pfs", 0.85, None)]
    assert endpoint("os").reported("hr_os", 0.92) == [("hr_os", 0.92, None)]
    assert endpoint("os").reported("hr_rpfs", 0.85) == []
    assert endpoint("psa_pfs").reported("hr_psa_pfs", 0.9) == [] and not endpoint("psa_pfs").answers("hr_psa_pfs")
    assert endpoint("pfs").answers("hr_pfs") and endpoint("pfs").unit_of("hr_pfs") == "ratio"
    assert endpoint("pfs").simulated("hr_pfs", {"hr_pfs": [0.74, 0.6, 0.9]}, None, None) == (0.74, 0.6, 0.9)
    assert endpoint("pfs").simulated("hr_pfs", {"hr_pfs": None}, None, None) == (None, None, None)


def test_a_new_endpoint_appears_in_table_summary_replay_and_report(with_stable_or_better, tmp_path):
    run = run_trial(SCENARIO, tmp_path / "run", patients=24, seed=5, executor="serial")
    patients = run.store.read("patients")
    assert patients["stable_or_better"].dtype == bool
    summary = summarize(run.folder)
    for row in summary["arms"]:
        arm = patients[(patients["arm"] == row["arm"]) & (patients["status"] == "ok") & patients["measurable"]]
        # counted independently from the stored RECIST labels
        controlled = int(arm["best_response"].isin(["CR", "PR", "SD"]).sum())
        assert row["sd_or_better_evaluable"] == len(arm) > 0
        assert row["sd_or_better"] == pytest.approx(controlled / len(arm), abs=1e-12)
        assert row["orr"] <= row["sd_or_better"]  # CR + PR is part of CR + PR + SD
        assert row["sd_or_better_ci"][0] <= row["sd_or_better"] <= row["sd_or_better_ci"][1]

    page = write_trial_report(run.folder).read_text(encoding="utf-8")
    cells = re.search(r'<tr data-key="sd_or_better"><td[^>]*>stable disease or better \(RECIST 1\.1\)</td>(.*?)</tr>', page, re.S)
    assert cells is not None
    shown = re.findall(r"<td>(\d+) %", cells.group(1))
    header = re.search(r'<table id="endpoint-table">\s*<tr><th>endpoint</th>(.*?)</tr>', page, re.S).group(1)
    columns = [name.replace(" (control)", "") for name in re.findall(r"<th>(.*?)</th>", header)]
    rate_of = {row["arm"]: row["sd_or_better"] for row in summary["arms"]}
    assert shown == [f"{100 * rate_of[arm]:.0f}" for arm in columns]

    html = tmp_path / "summary.html"
    outcome = CliRunner().invoke(app, ["trial", "summary", str(run.folder), "--html", str(html), "--json"])
    assert outcome.exit_code == 0, outcome.output
    assert [row["sd_or_better"] for row in json.loads(outcome.output)["arms"]] == [row["sd_or_better"] for row in summary["arms"]]
    assert '<tr data-key="sd_or_better">' in html.read_text(encoding="utf-8")  # the same report, from the CLI

    record = registry().get("PRINCE")
    record = record.model_copy(update={"results": {**record.results, "sd_or_better": 0.8}})
    scenario = replay_scenario(record, patients=24, seed=5, calibration=None, follow_up_months=6)
    result = compare(record, scenario, simulate_trial(scenario))
    rows = [row for row in result["endpoints"] if row["endpoint"] == "sd_or_better"]
    assert len(rows) == 1 and rows[0]["reported"] == 0.8
    simulated = next(arm for arm in result["summary"]["arms"] if arm["arm"] == rows[0]["arm"])
    assert rows[0]["simulated"] == simulated["sd_or_better"] and rows[0]["low"] == simulated["sd_or_better_ci"][0]
    assert np.isfinite(rows[0]["ratio"])


def test_orr_counts_response_evaluable_patients_only():
    """Issue 13 item 7: ORR is counted among patients with measurable disease (VISION: 319 of 551 in the
    Lu-PSMA-617 arm, Sartor et al. 2021 NEJM; ClinicalTrials.gov NCT03511664). A patient without measurable disease
    is not evaluable ("NE") and never a responder, so the per-patient table and the summary give the same ORR."""
    tables = simulate_trial(SCENARIO, patients=24, seed=5)
    patients = tables["patients"]
    patients = patients[patients["status"] == "ok"]
    unmeasurable = patients[~patients["measurable"]]
    assert len(unmeasurable) > 0
    assert not unmeasurable["objective_response"].any()
    assert (unmeasurable["best_response"] == "NE").all()
    from rptici.analysis.summary import summarize_tables

    summary = summarize_tables(tables["patients"])
    assert summary["arms"]
    for row in summary["arms"]:
        group = patients[(patients["arm"] == row["arm"]) & patients["measurable"]]
        assert row["orr_evaluable"] == len(group)
        assert row["orr"] == pytest.approx(group["objective_response"].mean())


def test_vision_orr_is_reported_on_its_evaluable_patients():
    """VISION's ORR 29.8 % was counted in 319 response-evaluable patients (ClinicalTrials.gov NCT03511664)."""
    from rptici.analysis.replay import reported_endpoints

    rows = {row["arm"]: row for row in reported_endpoints(registry().get("VISION")) if row["endpoint"] == "orr"}
    counts = sorted(row["n"] for row in rows.values())
    assert counts == [120, 319]
    assert max(row["reported"] for row in rows.values()) == pytest.approx(0.298, abs=5e-4)
