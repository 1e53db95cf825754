"""The HTML report of a virtual-trial run: self-contained, and every number it shows is the right one.

The run folder here is a TEST FIXTURE: written with the real ResultStore, but its tables are synthetic
(constructed so that medians, response counts and toxicity counts are known exactly), not simulated.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure
from scipy.stats import binomtest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.errors import InputError
from rptici.kinetics.regimen import load_regimen
from rptici.radiobiology.regimen_dose import regimen_dose
from rptici.report import figures
from rptici.analysis.dosimetry import reference_patient
from rptici.units import format_number
from rptici.report.trial import regimen_in_words, sample_patients, thinned_risk_times, write_trial_report
from rptici.store import ResultStore, scenario_hash

DAYS_PER_MONTH = 30.4375  # 365.25 / 12, data/endpoints.yaml
PER_ARM = 40
LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "8.5 GBq", "activity_step": "-0.5 GBq",
            "interval": "6 weeks", "cycles": 6}
PEMBROLIZUMAB = {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 35}
SCENARIO = {
    "name": "PRINCE-like fixture", "disease": "mcrpc", "seed": 7, "follow_up": "24 months",
    "assessments": {"imaging": "12 weeks", "psa": "3 weeks"},
    "arms": [{"name": "Lu-PSMA", "control": True, "regimen": {"rpt": LUTETIUM}},
             {"name": "Lu-PSMA + pembrolizumab",
              "regimen": {"rpt": LUTETIUM, "ici": PEMBROLIZUMAB, "sequence": {"order": "concurrent"}}}],
}
#: Known answers of the fixture, per arm: responders (CR+PR), PSA50 responders, grade >= 3 by cause.
RESPONDERS = {"Lu-PSMA": 10, "Lu-PSMA + pembrolizumab": 16}
PSA50 = {"Lu-PSMA": 22, "Lu-PSMA + pembrolizumab": 26}
GRADE3 = {"Lu-PSMA": {"radiation": 4, "immune": 0, "both": 0},
          "Lu-PSMA + pembrolizumab": {"radiation": 4, "immune": 6, "both": 2}}
FAILURES = [(80, "step size underflow"), (81, "step size underflow"), (82, "negative tumour volume")]


def synthetic_tables(arm: str, first: int) -> dict[str, pd.DataFrame]:
    """Patients and assessments of one arm (synthetic: constructed, not simulated)."""
    index = np.arange(PER_ARM)
    patient = first + index
    responders = RESPONDERS[arm]
    # best change: responders -35 .. -80 %, the rest from -25 % to +45 %
    change = np.where(index < responders, -35.0 - 45.0 * index / max(responders - 1, 1),
                      -25.0 + 70.0 * (index - responders) / (PER_ARM - responders - 1))
    response = np.where(index < responders, np.where(change <= -75, "CR", "PR"),
                        np.where(change >= 20, "PD", "SD"))
    scale = 1.0 if arm == "Lu-PSMA" else 1.5
    pfs = scale * 30.0 * (index + 1)  # every patient progresses: KM median = the sample median
    os_days = pfs + 120.0
    os_event = index % 4 != 0  # every fourth patient alive (censored) at the last follow-up
    grades = {cause: np.zeros(PER_ARM, bool) for cause in ("radiation", "immune", "both")}
    grades["radiation"][:GRADE3[arm]["radiation"]] = True
    grades["immune"][10:10 + GRADE3[arm]["immune"]] = True
    grades["both"][20:20 + GRADE3[arm]["both"]] = True
    patients = pd.DataFrame({
        "patient": patient, "arm": arm, "weight_kg": 80.0 + index % 7, "best_response": response,
        "objective_response": np.isin(response, ("CR", "PR")),
        "best_percent_change": change, "psa50": index < PSA50[arm], "pfs_days": pfs, "pfs_event": True,
        "os_days": os_days, "os_event": os_event,
        **{f"grade3plus_{cause}": flags for cause, flags in grades.items()},
        "grade3plus_any": grades["radiation"] | grades["immune"] | grades["both"],
        "max_grade_kidney": np.where(grades["both"], 3, index % 3), "max_grade_marrow": np.where(grades["radiation"], 3, 1),
        "max_grade_colitis": np.where(grades["immune"], 3, 0), "status": "ok",
    })
    rows = []
    for row, identifier in enumerate(patient):
        for visit, time in enumerate(np.arange(0.0, os_days[row], 84.0)):
            fraction = min(visit / 2.0, 1.0)  # reaches the best change by the second scan
            rows.append({"patient": identifier, "arm": arm, "time_days": time,
                         "sum_diameters_mm": 60.0 * (1 + fraction * change[row] / 100.0), "psa": 20.0,
                         "lymphocytes": 1.2, "lesion_1": 30.0})
    return {"patients": patients, "assessments": pd.DataFrame(rows)}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A run folder written with the real ResultStore from synthetic tables (a fixture, not a simulation)."""
    folder = tmp_path_factory.mktemp("run")
    store = ResultStore(folder, scenario_hash=scenario_hash(SCENARIO), seed=7, patients=2 * PER_ARM + 3,
                        chunk_size=PER_ARM)
    (folder / "scenario.yaml").write_text(yaml.safe_dump(SCENARIO, sort_keys=False), encoding="utf-8")
    for chunk, arm in enumerate(RESPONDERS):
        store.write_chunk(chunk, synthetic_tables(arm, chunk * PER_ARM))
    store.write_chunk(2, {"patients": pd.DataFrame({"patient": pd.Series([], dtype="int64")}),
                          "failures": pd.DataFrame(FAILURES, columns=["patient", "reason"])})
    (folder / "replay.json").write_text(
        '[{"endpoint": "ORR", "arm": "Lu-PSMA + pembrolizumab", "simulated": [0.40, 0.25, 0.57], "reported": 0.56}]',
        encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def report(run_folder) -> str:
    path = write_trial_report(run_folder)
    assert path == run_folder.resolve() / "report.html"
    return path.read_text(encoding="utf-8")


def text_of(page: str) -> str:
    """The visible text of the page, tags dropped and whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="[^"]*"', "", page))))


def test_report_is_self_contained(report):
    """One file: every image a PNG data URI, no external stylesheet, script, font or link to fetch."""
    sources = re.findall(r'src="([^"]*)"', report)
    # 2 time-activity, 2 Kaplan-Meier, 2 waterfall, 1 swimmer, 2 spider, 1 toxicity
    assert len(sources) == 10
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"<link|<script|@import|url\(|https?://", re.sub(r'src="[^"]*"', "", report))


def test_scenario_and_failures_in_words(report):
    text = text_of(report)
    assert "83 virtual patients with metastatic castration-resistant prostate cancer" in text and "seed 7" in text and "follow-up 24 months" in text
    assert "Lu-PSMA (control)" in text
    assert ("[177Lu]Lu-PSMA-617 8.5 GBq, -0.5 GBq per cycle every 6 weeks, 6 cycles; pembrolizumab 200 mg every "
            "3 weeks, 35 infusions; started together") in text
    assert "3 of 83 patients failed" in text
    assert "step size underflow 2" in text and "negative tumour volume 1" in text


def test_response_rates_with_exact_intervals(report):
    """ORR and PSA50 with the exact Clopper–Pearson interval (Clopper & Pearson 1934), checked against
    scipy's independent implementation (binomtest, method 'exact'), to the 3 significant digits shown."""
    text = text_of(report)
    for arm, responders in RESPONDERS.items():
        for count in (responders, PSA50[arm]):
            interval = binomtest(count, PER_ARM).proportion_ci(method="exact")
            assert (f"{100 * count / PER_ARM:.3g} % ({100 * interval.low:.3g}–{100 * interval.high:.3g})") in text
    # 10/40: 25 % (12.7–41.2 %), the textbook exact interval
    assert "25 % (12.7–41.2)" in text


def test_survival_medians_and_hazard_ratio(report):
    """Without censoring the Kaplan–Meier median is the sample median: the 20th of 40 times (smallest t with
    S(t) <= 0.5), 600 d = 19.7 months (control) and 900 d = 29.6 months (1.5 times longer)."""
    text = text_of(report)
    assert "Progression-free survival (radiographic)" in text and "Overall survival" in text
    assert f"Lu-PSMA 40 40 {600 / DAYS_PER_MONTH:.3g} (" in text
    assert f"Lu-PSMA + pembrolizumab 40 40 {900 / DAYS_PER_MONTH:.3g} (" in text
    # times 1.5 times longer in every quantile: the Cox HR is well below 1, its CI excludes 1
    match = re.search(r"Lu-PSMA \+ pembrolizumab 40 40 [\d.]+ \([^)]*\) ([\d.]+) \(([\d.]+)–([\d.]+)\)", text)
    estimate, low, high = map(float, match.groups())
    assert low < estimate < high < 1.0 and estimate < 0.7


def test_toxicity_counts_by_cause(report):
    text = text_of(report)
    for arm, causes in GRADE3.items():
        counts = [f"{count}: {100 * count / PER_ARM:.3g} %" for count in causes.values()]
        any_count = sum(causes.values())
        assert f"{arm} 40 {any_count}: {100 * any_count / PER_ARM:.3g} %" in text
        assert all(count in text for count in counts)


def test_dose_table_at_the_reference_patient(report):
    """The dose table is regimen_dose at the reference mCRPC patient; kidneys of Lu-PSMA-617 in Gy/GBq lie
    within the published 0.81 ± 0.32 Gy/GBq (mean ± SD, J Nucl Med 60:1579; tests/reference/dosimetry.yaml)."""
    covariates, sex, description = reference_patient("mcrpc")
    assert sex == "male" and description in html.unescape(report)
    result = regimen_dose(load_regimen({"rpt": LUTETIUM}), covariates, sex=sex)
    kidneys = result.region_summary(0)["kidneys"]
    assert 0.81 - 0.32 <= kidneys["dose_per_activity_Gy_per_GBq"] <= 0.81 + 0.32
    text = text_of(report)
    row = " ".join(["kidneys", kidneys["tissue"], *(format_number(kidneys[key]) for key in (
        "mass_g", "rbe_weighted_dose_Gy", "dose_per_activity_Gy_per_GBq", "bed_Gy"))])
    assert text.count(row) == 2  # both arms give the same Lu-PSMA-617 schedule
    bed_limit = next(limit for limit in kidneys["limits"] if limit["name"] == "bed")
    assert bed_limit["limit_Gy"] == 40.0  # kidney BED limit, Bodei et al. 2008 Eur J Nucl Med Mol Imaging 35:1847
    assert format_number(bed_limit["margin_Gy"]) in text
    assert "pembrolizumab (PD-1): trough occupancy" in text


def test_replay_table(report):
    text = text_of(report)
    assert "Simulated versus reported" in text
    assert "ORR Lu-PSMA + pembrolizumab 0.4, 0.25, 0.57 0.56" in text


def test_swimmer_sample_is_deterministic_and_capped():
    patients = pd.DataFrame({"patient": np.arange(300), "arm": np.repeat(["a", "b", "c"], [120, 30, 150])})
    chosen = sample_patients(patients, per_arm=50)
    assert chosen.size == 50 + 30 + 50
    assert chosen[0] == 0 and chosen[49] == 119 and chosen[80] == 150 and chosen[-1] == 299
    assert np.array_equal(chosen, sample_patients(patients.sample(frac=1.0, random_state=1), per_arm=50))


def test_risk_times_and_regimen_words():
    # the summary counts at risk every 3 months: 24 months give 9 columns, 63 months 22 -> every 4th (0, 12, ...)
    assert list(thinned_risk_times({"time_months": np.arange(0.0, 24.1, 3.0)})) == list(range(9))
    assert list(thinned_risk_times({"time_months": np.arange(0.0, 63.1, 3.0)})) == [0, 4, 8, 12, 16, 20]
    assert regimen_in_words(None) == "no active treatment (untreated tumour growth)"
    words = regimen_in_words({"rpt": LUTETIUM, "ici": PEMBROLIZUMAB, "sequence": {"order": "rpt_first", "lag": "4 weeks"}})
    assert words.endswith("RPT first, checkpoint inhibitor 4 weeks later")


def test_figures_are_pure_and_check_their_input():
    """Each figure function returns a Figure from arrays; mismatched arrays raise an InputError naming them."""
    assert figures.recist_thresholds_percent() == (-30.0, 20.0)  # RECIST 1.1, Eisenhauer et al. 2009
    curve = {"time": [0, 1, 2], "survival": [1, 0.6, 0.3], "low": [1, 0.4, 0.1], "high": [1, 0.8, 0.5],
             "at_risk": [10, 6]}
    assert isinstance(figures.kaplan_meier_figure({"arm": curve}, [0, 2]), Figure)
    assert isinstance(figures.waterfall_figure([10, -40, np.nan], ["SD", "PR", "NE"]), Figure)
    assert isinstance(figures.swimmer_figure([5, 8], ["a", "b"], [np.nan, 2], [4, np.nan], [True, False]), Figure)
    assert isinstance(figures.spider_figure([0, 2, 0, 2], [0, -40, 0, 25], [1, 1, 2, 2], {1: "PR", 2: "PD"}), Figure)
    assert isinstance(figures.toxicity_figure(["a"], ["kidney"], np.full((1, 1, 5), 0.1), [[0.1, 0.0, 0.0]]), Figure)
    assert isinstance(figures.time_activity_figure([0, 1], {"kidneys": [10, 5], "bladder": [0, 0]}), Figure)
    with pytest.raises(InputError, match="at_risk"):
        figures.kaplan_meier_figure({"arm": {**curve, "at_risk": [10]}}, [0, 2])
    with pytest.raises(InputError, match="response"):
        figures.waterfall_figure([10, -40], ["SD"])
    with pytest.raises(InputError, match="grade_fraction"):
        figures.toxicity_figure(["a", "b"], ["kidney"], np.zeros((1, 1, 5)), np.zeros((2, 3)))


def test_cli_report_writes_the_file(run_folder, tmp_path):
    target = tmp_path / "elsewhere" / "trial.html"
    outcome = CliRunner().invoke(app, ["report", str(run_folder), "--out", str(target)])
    assert outcome.exit_code == 0, outcome.output
    assert target.is_file() and "Virtual trial: PRINCE-like fixture" in target.read_text(encoding="utf-8")
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "DIR" in missing.output


def test_report_of_a_tiny_real_trial(tmp_path):
    """A real (uncalibrated) two-arm trial of 20 patients, 6 months: the report shows every patient once,
    per arm the RECIST counts add up to the arm's size, and the failures match the store's."""
    from rptici.analysis.summary import summarize
    from rptici.trials.run import run_trial

    rpt = {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2}
    scenario = {"name": "tiny real trial", "disease": "mcrpc", "patients": 20, "calibration": None,
                "follow_up": "6 months", "assessments": "q8w", "seed": 3,
                "arms": [{"name": "RPT", "control": True, "regimen": {"rpt": rpt}},
                         {"name": "RPT + ICI", "regimen": {"rpt": rpt, "ici": {
                             "agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 4}}}]}
    run = run_trial(scenario, tmp_path / "run", patients=20, seed=3, executor="serial")
    page = write_trial_report(run.folder).read_text(encoding="utf-8")
    text = text_of(page)
    store = ResultStore(run.folder)
    patients = store.read("patients")
    failed = len(store.failures())
    assert "20 virtual patients with metastatic castration-resistant prostate cancer" in text and "RPT (control)" in text
    assert ("None: all 20 patients were simulated" in text) if failed == 0 else (f"{failed} of 20 patients failed" in text)
    for arm in ("RPT", "RPT + ICI"):
        simulated = int(((patients["arm"] == arm) & (patients["status"] == "ok")).sum())
        counts = re.search(re.escape(arm) + r" (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+) % \(", text)
        assert counts is not None and int(counts.group(1)) == simulated
        evaluable = int(counts.group(2))
        assert sum(int(value) for value in counts.groups()[2:7]) == evaluable <= simulated
        # the same ORR as the trial summary (analysis.summary), to the 3 significant digits shown
        orr = next(row["orr"] for row in summarize(run.folder)["arms"] if row["arm"] == arm)
        assert counts.group(8) == f"{100 * orr:.3g}"
    assert page.count('src="data:image/png;base64,') >= 8


def test_replay_rows_accept_the_compare_result():
    from rptici.report.trial import replay_rows

    row = {"endpoint": "orr", "arm": "combination", "reported": 0.56, "simulated": 0.4, "low": 0.3, "high": 0.5}
    assert replay_rows({"endpoints": [row], "summary": {}}) == [row] == replay_rows([row])
    assert replay_rows(None) == []


def test_report_says_the_model_status_and_borrows_no_numbers_for_an_unrecorded_calibration(report):
    # the fixture folder records no calibration (no scenario.json): the banner must not claim the default's counts
    assert 'id="model-status"' in report and "has not been measured" in report and "28 of 55" not in report


def test_the_report_speaks_to_a_clinician(report):
    """Issue 19, item 6: no scientific notation (a liver of '1.93e+03' g is 1,930 g), no Python names
    ('red_marrow', 'mcrpc', 'None') in what the reader sees."""
    text = text_of(report)
    assert not re.search(r"\d(\.\d+)?e[+-]\d", text), re.search(r".{60}\d(\.\d+)?e[+-]\d.{20}", text)
    table = text_of(report.split('id="dosimetry"')[1].split('id="endpoints"')[0])
    assert "red marrow" in table and "red_marrow" not in table and "lesion 1" in table
    assert not re.search(r"\bmcrpc\b", text) and not re.search(r"\bNone\b(?!: all)", text)


def test_kaplan_meier_curves_mark_the_censored_patients(run_folder, monkeypatch):
    """Issue 19, item 6: the report's Kaplan–Meier plots had no censor marks. The fixture censors every fourth
    patient's OS (alive at the last follow-up) and no PFS: the plotter gets exactly those times as '+' marks."""
    from rptici.report import trial

    drawn = {}

    def recording(curves, ticks, title=None):
        drawn[title] = curves
        return Figure()

    monkeypatch.setattr(figures, "kaplan_meier_figure", recording)
    trial.survival_sections(trial.summarize_tables(
        ResultStore(run_folder).read("patients"), list(RESPONDERS), "Lu-PSMA", keep_fits=True))
    os_curves = next(curves for title, curves in drawn.items() if "overall" in title.lower())
    pfs_curves = next(curves for title, curves in drawn.items() if "progression" in title.lower())
    index = np.arange(PER_ARM)
    for arm, curve in os_curves.items():
        scale = 1.0 if arm == "Lu-PSMA" else 1.5
        expected = (scale * 30.0 * (index + 1) + 120.0)[index % 4 == 0]
        assert np.allclose(np.sort(curve["censored"]) * 365.25 / 12, expected), arm  # months -> days
    assert all(curve["censored"].size == 0 for curve in pfs_curves.values())


def test_figures_carry_what_a_clinician_reads_them_by():
    """Issue 19, item 6: the waterfall's colours need a legend, a Kaplan–Meier plot its numbers at risk and '+' censor
    marks, and the toxicity axes end at 100 % (one ran to 120 %)."""
    waterfall = figures.waterfall_figure([10, -40, -80, 30], ["SD", "PR", "CR", "PD"]).axes[0]
    labels = [text.get_text() for text in waterfall.get_legend().get_texts()]
    assert {"CR", "PR", "SD", "PD"} <= set(labels) and "-30 %" in labels and "+20 %" in labels
    curve = {"time": [0, 1, 2, 3], "survival": [1, 0.6, 0.6, 0.3], "low": [1, 0.4, 0.4, 0.1],
             "high": [1, 0.8, 0.8, 0.5], "at_risk": [10, 6], "censored": [1.5, 2.5]}
    km = figures.kaplan_meier_figure({"arm": curve}, [0, 2])
    texts = [text.get_text() for axes in km.axes for text in axes.texts]
    assert "number at risk" in texts and "10" in texts and "6" in texts
    marks = [line for line in km.axes[0].get_lines() if line.get_marker() == "+"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1.5, 2.5] and list(marks[0].get_ydata()) == [0.6, 0.6]
    toxicity = figures.toxicity_figure(["a"], ["kidney"], np.full((1, 1, 5), 0.2), [[0.5, 0.3, 0.2]])
    assert [axes.get_ylim() for axes in toxicity.axes[:2]] == [(0.0, 100.0), (0.0, 100.0)]
