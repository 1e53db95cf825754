"""Summaries of huge runs (issue 15, item 2): Kaplan–Meier and the Cox hazard ratio from aggregated event tables
(DuckDB ``GROUP BY arm, time`` over the Parquet store) against the per-patient lifelines estimates.

Reference: lifelines 0.27+ (Davidson-Pilon 2019, JOSS 4:1317), ``KaplanMeierFitter`` (exponential Greenwood band)
and ``CoxPHFitter`` (Efron ties). Tolerances: the Kaplan–Meier curve, band, medians and numbers at risk are equal
to 1e-12 (the same arithmetic on the same counts); the hazard ratio, its interval and p to 1e-9 relative (p through log p) against
lifelines run to tight tolerances; against lifelines at its defaults only to the precision its fit reached: it
stops once the log-likelihood changes by less than 1e-9 relative between damped Newton steps
(``lifelines.CoxPHFitter`` ``fit_options``), which leaves the hazard ratio off by up to 2e-5 relative in the
2,000-patient run below (HR 0.007), 4e-8 in the synthetic sample."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rptici.analysis.aggregate import (cox_counts, cox_from_groups, event_counts, event_counts_from_store,
                                       kaplan_meier_counts)
from rptici.analysis.summary import summarize
from rptici.analysis.survival import cox_hazard_ratio, kaplan_meier
from rptici.errors import InputError
from rptici.store import ResultStore
from rptici.trials import run_trial
from rptici.trials.endpoints import days_per_month, to_months

LUTETIUM = {"agent": "[177Lu]Lu-PSMA-617", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 4}
SCENARIO = {
    "name": "aggregate", "disease": "mcrpc", "patients": 2000, "follow_up": "12 months", "assessments": "q8w",
    "psa_assessments": "q4w", "seed": 7, "calibration": None, "dropout_per_year": 0.1,
    "arms": [{"name": "control", "control": True, "regimen": None},
             {"name": "lutetium", "regimen": {"rpt": LUTETIUM}}],
}


def _same_cox(ours: tuple, theirs: tuple, rtol: float, message: str = "") -> None:
    """Hazard ratio and interval to ``rtol``; the p-value through its logarithm (a tiny p moves by z²/2 times
    the relative change of z, so log p is the quantity known to the same relative precision)."""
    np.testing.assert_allclose(ours[:3], theirs[:3], rtol=rtol, err_msg=message)
    np.testing.assert_allclose(np.log(ours[3]), np.log(theirs[3]), rtol=rtol, err_msg=message)


def _tight_cox(times, events, treated) -> tuple[float, float, float, float]:
    """lifelines' Cox fit run to machine precision (undamped Newton steps, tolerances 1e-14)."""
    from lifelines import CoxPHFitter

    frame = pd.DataFrame({"time": times, "event": np.asarray(events, int), "treatment": np.asarray(treated, float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxPHFitter().fit(frame, "time", "event",
                                fit_options={"precision": 1e-14, "r_precision": 1e-16, "step_size": 1.0})
    row = fit.summary.loc["treatment"]
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"]),
            float(row["p"]))


def _tied_sample(seed: int = 3, n: int = 3000):
    """Two arms, exponential times rounded to whole days (many ties, as on a scan grid), uniform censoring."""
    generator = np.random.default_rng(seed)
    arm = generator.integers(0, 2, n)
    event_time = np.round(generator.exponential(10.0 * (1.0 + 0.5 * arm)))
    censor = np.round(generator.uniform(0.0, 25.0, n))
    return np.minimum(event_time, censor), event_time <= censor, np.where(arm == 1, "b", "a")


def test_kaplan_meier_from_counts_equals_lifelines():
    times, events, _ = _tied_sample()
    lifelines_fit = kaplan_meier(times, events)
    counted = kaplan_meier_counts(event_counts(times, events))
    np.testing.assert_array_equal(counted.timeline, lifelines_fit.timeline)
    for ours, theirs in ((counted.survival, lifelines_fit.survival), (counted.survival_low, lifelines_fit.survival_low),
                         (counted.survival_high, lifelines_fit.survival_high)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert (counted.median, counted.median_low, counted.median_high) == \
        (lifelines_fit.median, lifelines_fit.median_low, lifelines_fit.median_high)
    points = np.linspace(0.0, 30.0, 31)
    np.testing.assert_array_equal(counted.at_risk(points), lifelines_fit.at_risk(points))


def test_cox_from_counts_equals_lifelines_with_efron_ties():
    times, events, arms = _tied_sample()
    groups = {label: event_counts(times[arms == label], events[arms == label]) for label in ("a", "b")}
    ours = cox_from_groups(groups, "a")
    _same_cox(ours.as_tuple(), _tight_cox(times, events, arms == "b"), rtol=1e-9)
    np.testing.assert_allclose(ours.as_tuple()[:3], cox_hazard_ratio(times, events, arms, "a")[:3], rtol=1e-6)
    assert ours.hazard_ratio < 1.0  # arm b's mean time is 1.5 times a's: HR about 1/1.5


def test_cox_needs_events():
    none = event_counts(np.array([5.0, 6.0]), np.array([False, False]))
    with pytest.raises(InputError, match="events"):
        cox_counts(none, none)


@pytest.fixture(scope="module")
def two_arm_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aggregate") / "run"
    run = run_trial(SCENARIO, folder, chunk_size=500)
    assert run.report.ok, run.report.summary()
    return folder


def test_store_event_tables_give_the_per_patient_estimates(two_arm_run):
    """A 2,000-patient two-arm trial: DuckDB's GROUP BY tables give lifelines' curves, and the Cox fit of the
    per-patient rows (tight lifelines) to 1e-9."""
    patients = ResultStore(two_arm_run).read("patients")
    patients = patients[patients["status"] == "ok"]
    with ResultStore(two_arm_run).database() as connection:
        tables = event_counts_from_store(connection, "os_days", "os_event")
    assert sorted(tables) == ["control", "lutetium"]
    assert sum(table.total for table in tables.values()) == len(patients)
    for arm, table in tables.items():
        group = patients[patients["arm"] == arm]
        months = kaplan_meier_counts(table.scaled(days_per_month()))
        reference = kaplan_meier(to_months(group["os_days"].to_numpy(float)), group["os_event"].to_numpy(bool))
        np.testing.assert_allclose(months.survival, reference.survival, rtol=0, atol=1e-12)
        np.testing.assert_allclose(months.timeline, reference.timeline, rtol=1e-15)
    for endpoint in ("os", "pfs"):
        ours = cox_counts(*(event_counts_from_store(ResultStore(two_arm_run).database(), f"{endpoint}_days",
                                                    f"{endpoint}_event")[arm] for arm in ("lutetium", "control")))
        theirs = _tight_cox(patients[f"{endpoint}_days"].to_numpy(float), patients[f"{endpoint}_event"].to_numpy(bool),
                            (patients["arm"] == "lutetium").to_numpy())
        _same_cox(ours.as_tuple(), theirs, rtol=1e-9, message=endpoint)


def test_aggregated_summary_equals_the_per_patient_summary(two_arm_run):
    """summarize(aggregate=True) reads no per-patient time column; its medians, intervals, curves and numbers at
    risk equal the lifelines summary's; its hazard ratios to the precision of lifelines' default convergence (1e-4
    here; the tight comparison is the test above)."""
    ours, theirs = summarize(two_arm_run, aggregate=True), summarize(two_arm_run, aggregate=False)
    assert ours["endpoints"] == theirs["endpoints"]
    for mine, recorded in zip(ours["arms"], theirs["arms"]):
        assert mine.keys() == recorded.keys()
        for key, value in recorded.items():
            if key.endswith("_p") and key.startswith("hr_") and value is not None:
                np.testing.assert_allclose(np.log(mine[key]), np.log(value), rtol=1e-4, err_msg=key)
            elif key.startswith("hr_"):
                np.testing.assert_allclose(np.array(mine[key], float), np.array(value, float), rtol=1e-4, err_msg=key)
            else:
                assert mine[key] == value or np.allclose(np.array(mine[key], float), np.array(value, float),
                                                          rtol=1e-12, atol=1e-12, equal_nan=True), key
    for endpoint, curves in theirs["km"].items():
        for arm, curve in curves.items():
            for key in ("survival", "low", "high"):
                np.testing.assert_allclose(ours["km"][endpoint][arm][key], curve[key], rtol=0, atol=1e-12)
            assert ours["km"][endpoint][arm]["at_risk"] == curve["at_risk"]
            assert ours["km"][endpoint][arm]["median_ci"] == curve["median_ci"]
