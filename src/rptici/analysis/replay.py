"""Replay of a registry trial: a virtual trial built from its record, compared endpoint by endpoint with what
the trial reported.

A combination trial (RPT + ICI at trial level) is replayed with two arms: the combination and the same RPT without
the checkpoint inhibitor (``RPT alone``, the reference arm), so that each replay also predicts the effect of adding
the ICI; both enrol the trial's cohort where its record defines one (prior lines, a PET screen:
:class:`rptici.trials.registry.Cohort`, set by an amendment with its source). That reference arm is the model's
counterfactual, not a trial arm, so the two are paired (scenario ``allocation: paired``): the same virtual patients,
with the same random streams, with and without the ICI, so that the effect of adding it carries no noise from which
patients each arm drew. A trial whose record lists its arms is replayed as it was run, randomised (``allocation``
may ask for either). Arms the record lists (monotherapy
trials, randomised combination trials) keep their names and their own cohort over the trial's; an arm without a
replayable regimen is replayed as "no active treatment" only when its name says it is a placebo, best supportive or
standard of care or octreotide (:data:`UNTREATED_WORDS`), and is skipped otherwise (e.g. cabazitaxel in TheraP,
which rptici does not model). An arm for which ``data/standard_of_care.yaml`` declares a standard of care (VISION,
NETTER-1 and ALSYMPCA controls; VISION and ALSYMPCA RPT arms too, whose patients also received it) carries its
growth-rate reduction and background grade ≥ 3 adverse events (:mod:`rptici.trials.standard_of_care`).

Reported values come from the record's ``results`` and arms' ``outcomes`` (fractions, months). Simulated
values carry 95 % intervals of the virtual trial itself (exact binomial for rates, Kaplan–Meier for medians
and landmarks), which reflect the number of virtual patients, not the real trial's size.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from pydantic import ValidationError

from ..errors import InputError
from ..trials.registry import COHORT_FIELDS, Cohort, TrialRecord, population_for, registry
from ..population.weighting import baseline_summary, baseline_targets, baseline_trials
from ..trials.run import sampled_population, simulate_trial
from ..trials.standard_of_care import for_registry_arm
from ..trials.scenario import Calibration, TrialScenario, load_calibration, load_trial_scenario
from ..trials.endpoint_registry import LANDMARK, answering, endpoints
from .. import seeds
from ..trials.endpoints import to_months
from .ensemble import arm_intervals, collect_arm_estimates, ensemble_members, interval
from .evidence import compare_evidence
from .summary import STATISTICS, summarize_tables
from .tolerance import holds, tolerance_band
from .status import model_status

#: Imaging of a replay whose record gives no schedule: q8w for 24 weeks, then q12w (VISION's protocol).
DEFAULT_ASSESSMENTS = "q8w x3 then q12w"
#: Words of an arm name that mark "no active treatment modelled" (the control of a placebo-controlled trial).
UNTREATED_WORDS = ("placebo", "standard of care", "best supportive", "octreotide")
COMBINATION_ARM = "RPT + ICI"
RPT_ALONE_ARM = "RPT alone"
#: Eligibility read from a record's disease text: "no visceral metastases" (ALSYMPCA) excludes these sites.
NO_VISCERAL = r"no visceral"
VISCERAL_SITES = ("liver", "lung")
#: A record whose disease text says "first line" (KEYNOTE-017) enrols patients without prior systemic therapy.
FIRST_LINE = r"\bfirst[- ]line\b"
#: Radium-223 is given in castration-resistant prostate cancer within its label, "symptomatic bone metastases and no
#: known visceral metastatic disease" (Xofigo prescribing information; ALSYMPCA's eligibility, Parker et al. 2013
#: N Engl J Med 369:213), so a replay of a radium-223 trial in mCRPC enrols no patient with visceral lesions.
RADIUM_223 = "[223Ra]RaCl2"


@dataclass(frozen=True)
class ReplayArm:
    name: str
    regimen: dict[str, Any] | None
    record_arm: str | None
    control: bool = False
    standard_of_care: str | None = None
    cohort: Mapping[str, Any] = field(default_factory=dict)  # the registry arm's own patients (ArmRecord.cohort)


def _population_or_none(record: TrialRecord) -> str | None:
    try:
        return population_for(record)
    except InputError:
        return None


def replay_arms(record: TrialRecord) -> list[ReplayArm]:
    """The arms a replay of ``record`` simulates (see the module docstring)."""
    from ..trials.registry import regimen_mapping

    trial_level = [status for status in record.regimens if status.arm is None and status.replayable]
    if trial_level:
        mapping = regimen_mapping(record)
        care = for_registry_arm((record.acronym, record.nct), "", _population_or_none(record))
        arms = [ReplayArm(COMBINATION_ARM if "rpt" in mapping and "ici" in mapping else record.name, mapping, None,
                          standard_of_care=care, cohort=record.cohort())]
        if "rpt" in mapping and "ici" in mapping:
            alone = {"rpt": mapping["rpt"], "sequence": {"order": "concurrent"}}
            arms.append(ReplayArm(RPT_ALONE_ARM, alone, None, control=True, standard_of_care=care,
                                  cohort=record.cohort()))
        return arms
    arms = []
    for arm in record.arms:
        care = for_registry_arm((record.acronym, record.nct), arm.name, _population_or_none(record))
        cohort = {**record.cohort(), **arm.cohort()}
        if any(status.arm == arm.name and status.replayable for status in record.regimens):
            arms.append(ReplayArm(arm.name, regimen_mapping(record, arm=arm.name), arm.name, standard_of_care=care,
                                  cohort=cohort))
        elif arm.rpt is None and arm.ici is None and any(word in arm.name.casefold() for word in UNTREATED_WORDS):
            arms.append(ReplayArm(arm.name, None, arm.name, control=True, standard_of_care=care, cohort=cohort))
    if not arms:
        raise InputError("trial", record.name, f"a trial with a replayable regimen ({record.replay_reason})")
    return arms


def default_allocation(arms: list[ReplayArm]) -> str:
    """Paired where the reference arm is the model's own (:data:`RPT_ALONE_ARM` beside a trial-level combination),
    randomised where the record lists its arms (as the trial was run)."""
    return "paired" if any(arm.name == RPT_ALONE_ARM for arm in arms) else "randomised"


def replay_scenario(record: TrialRecord | str, patients: int = 2000, seed: int = 1,
                    calibration: str | None = "default", follow_up_months: float | None = None,
                    only_arms: tuple[str, ...] | None = None, weight_baseline: bool = False,
                    allocation: str | None = None) -> TrialScenario:
    """A :class:`TrialScenario` replaying ``record`` with ``patients`` in total (split equally between arms).

    ``allocation``: ``paired`` or ``randomised``; None, the replay's rule: paired where the reference arm is the
    model's own (``RPT alone`` beside a trial-level combination), randomised otherwise. A paired replay rounds
    ``patients`` up to a multiple of its arms.

    Follow-up: at least 24 months and 1.5 × the longest reported median or landmark; imaging on the record's
    schedule (``assessments``, the trial's protocol) or else q8w for 6 months, then q12w (VISION's); PSA every 3
    weeks. ``only_arms``: replay these arms only (e.g. a control arm when fitting its standard of care), none of
    them the reference arm. ``weight_baseline``: the patients are resampled to the trial's reported baseline
    (scenario ``baseline_weighting``; ``data/baseline_targets.yaml``).
    """
    if isinstance(record, str):
        record = registry().get(record)
    arms = replay_arms(record)
    if only_arms is not None:
        unknown = sorted(set(only_arms) - {arm.name for arm in arms})
        if unknown:
            raise InputError("only_arms", unknown, "arms of the replay: " + ", ".join(arm.name for arm in arms))
        arms = [dataclasses.replace(arm, control=False)
                for arm in arms if arm.name in only_arms]
    if follow_up_months is None:
        longest = 0.0
        for key, value in _reported_values(record, arms):
            months = _months_of(key, value)
            longest = max(longest, months or 0.0)
        follow_up_months = max(24.0, float(np.ceil(1.5 * longest)))
    allocation = allocation or default_allocation(arms)
    if allocation == "paired":
        patients = -(-int(patients) // len(arms)) * len(arms)
    document = {
        "name": f"replay of {record.name}", "disease": population_for(record),
        "description": f"{record.acronym or record.name}: {record.disease} ({record.reference or 'no reference'})",
        "arms": [{"name": arm.name, "regimen": arm.regimen, "control": arm.control,
                  **({"standard_of_care": arm.standard_of_care} if arm.standard_of_care else {}),
                  **arm.cohort} for arm in arms],
        "patients": int(patients), "allocation": allocation, "follow_up": f"{follow_up_months} months",
        "assessments": record.assessments or DEFAULT_ASSESSMENTS, "psa_assessments": "q3w", "seed": int(seed),
        "chunk_size": 1000, "calibration": calibration,
        **({"baseline_weighting": baseline_trial(record)} if weight_baseline else {}),
        **({"excluded_sites": list(excluded)} if (excluded := excluded_sites(record)) else {}),
        **({"prior_lines": 0} if re.search(FIRST_LINE, record.disease or "", re.I) else {}),
    }
    return load_trial_scenario(document)


def excluded_sites(record: TrialRecord) -> tuple[str, ...]:
    """Lesion sites that exclude a patient from ``record``'s replay: those its record names (its trial's eligibility,
    set by an amendment with its source; () for none); else the visceral sites when the record says "no visceral
    metastases" or gives radium-223 in mCRPC (:data:`RADIUM_223`); none otherwise."""
    if record.excluded_sites is not None:
        return record.excluded_sites
    agents = {spec.agent_name for spec in (record.rpt, *(arm.rpt for arm in record.arms)) if spec is not None}
    if re.search(NO_VISCERAL, record.disease or "", re.I) or (RADIUM_223 in agents and record.population == "mcrpc"):
        return VISCERAL_SITES
    return ()


def baseline_trial(record: TrialRecord) -> str:
    """The name under which ``record``'s reported baseline is in ``data/baseline_targets.yaml`` (its acronym or NCT
    number); InputError when it has none."""
    for name in (record.acronym, record.nct, record.name):
        if name:
            try:
                baseline_targets(name)
                return name
            except InputError:
                continue
    raise InputError("weight_baseline", record.name, "a trial with reported baseline targets (data/baseline_targets."
                                                     "yaml: " + ", ".join(baseline_trials()) + ")")


def baseline_comparison(record: TrialRecord, scenario: TrialScenario, calibration: Calibration
                        ) -> dict[str, Any] | None:
    """The trial's reported baseline against the replay's virtual patients (``rows``), with the weighting's Kish
    effective sample size in its pool when the scenario weights; None for a trial without baseline targets."""
    try:
        trial = scenario.baseline_weighting or baseline_trial(record)
    except InputError:
        return None
    population, weighting = sampled_population(scenario, int(sum(scenario.arm_counts(None))), scenario.seed,
                                               calibration)
    result: dict[str, Any] = {"trial": trial, "weighted": weighting is not None,
                              "rows": baseline_summary(population, trial)}
    if weighting is not None:
        result.update(pool=int(weighting.weights.size), ess=weighting.ess)
    return result


def _months_of(key: str, value: Any) -> float | None:
    if key.startswith("median_") and isinstance(value, (int, float)):
        return float(value)
    match = LANDMARK.match(key)
    return float(match.group("months")) if match else None


def _reported_values(record: TrialRecord, arms: list[ReplayArm]) -> list[tuple[str, Any]]:
    values = list(record.results.items())
    for arm in record.arms:
        values += list(arm.outcomes.items())
    return values


def reported_endpoints(record: TrialRecord, arms: list[ReplayArm] | None = None) -> list[dict[str, Any]]:
    """Rows ``{arm, endpoint, reported, n}`` of what ``record`` reported, mapped onto the replay's arms; a reported
    hazard ratio (``hazard_ratios``) is the first treated arm's ``hr_<endpoint>`` where the replay has a control arm,
    with the trial's total n."""
    arms = replay_arms(record) if arms is None else arms
    names = [arm.name for arm in arms]
    main = next((arm.name for arm in arms if not arm.control), names[0])
    rows: list[dict[str, Any]] = []

    def add(arm: str, key: str, value: Any, n: int | None) -> None:
        """The rows of the first registered endpoint that reads ``key``."""
        for item in endpoints():
            found = item.reported(key, value)
            if found:
                rows.extend({"arm": arm, "endpoint": name, "reported": reported, "n": n if count is None else count}
                            for name, reported, count in found)
                return

    for key, value in record.results.items():
        comparator = re.match(r"^(?P<key>.+)_comparator_.*alone$", key)
        if comparator and RPT_ALONE_ARM in names:
            add(RPT_ALONE_ARM, comparator.group("key"), value, None)
        elif not comparator:
            add(main, key, value, record.total_n)
    if any(arm.control for arm in arms) and main not in {arm.name for arm in arms if arm.control}:
        for key, ratio in record.hazard_ratios.items():  # the treated arm against the replay's control
            add(main, f"hr_{key}", ratio.estimate, record.total_n)
    for arm in record.arms:
        target = next((replay.name for replay in arms if replay.record_arm == arm.name), None)
        if target is None and "alone" in arm.name.casefold() and RPT_ALONE_ARM in names:
            target = RPT_ALONE_ARM
        elif target is None and COMBINATION_ARM in names:
            target = COMBINATION_ARM
        if target is None:
            continue
        for key, value in arm.outcomes.items():
            add(target, key, value, arm.n)
    return rows


def simulated_value(summary: dict[str, Any], arm: str, endpoint: str) -> tuple[float | None, float | None, float | None]:
    """(estimate, low, high) of replay endpoint ``endpoint`` (a registry key such as ``orr``, ``median_os``,
    ``pfs_12mo``, ``grade3plus_any``) for ``arm`` in a summary made with ``keep_fits=True``."""
    row = next((item for item in summary["arms"] if item["arm"] == arm), None)
    owner = answering(endpoint)
    if row is None or row["n"] == 0 or owner is None:
        return None, None, None
    return owner.simulated(endpoint, row, summary["km"].get(owner.name, {}).get(arm), STATISTICS)


def compare(record: TrialRecord, scenario: TrialScenario, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Per endpoint: reported versus simulated (with CI), plus the simulated summary of every arm."""
    arms = replay_arms(record)
    summary = summarize_tables(tables["patients"], [arm.name for arm in scenario.arms], scenario.control_arm,
                               float(to_months(scenario.follow_up_days)), tables.get("failures"), keep_fits=True,
                               paired=scenario.allocation == "paired")
    rows = []
    for item in reported_endpoints(record, arms):
        estimate, low, high = simulated_value(summary, item["arm"], item["endpoint"])
        ratio = None if estimate is None or not item["reported"] else estimate / item["reported"]
        inside = None if low is None else bool(low <= item["reported"] and (high is None or item["reported"] <= high))
        rows.append({**item, "simulated": estimate, "low": low, "high": high, "ratio": ratio,
                     "reported_inside_ci": inside, "unit": answering(item["endpoint"]).unit_of(item["endpoint"])})
    for curve_set in summary["km"].values():
        for curve in curve_set.values():
            curve.pop("fit", None)
    evidence = [{**dataclasses.asdict(item), "low": band[0], "high": band[1],
                 "holds": holds(item.unit, item.reported, item.simulated, item.n)}
                for item in compare_evidence(record.acronym or record.name, tables["patients"])
                for band in [tolerance_band(item.unit, item.reported, item.n)]] if record.role == "calibration" else []
    return {"trial": record.name, "acronym": record.acronym, "role": record.role, "disease": scenario.disease,
            "reference": record.reference, "endpoints": rows, "evidence": evidence, "summary": summary}


def replay(name: str, patients: int = 2000, seed: int = 1, calibration: str | Calibration | None = "default",
           follow_up_months: float | None = None, ensemble: int = 0, weight_baseline: bool = False,
           cohort: Mapping[str, Any] | None = None, allocation: str | None = None) -> dict[str, Any]:
    """Replay trial ``name`` (NCT number or acronym) with ``patients`` virtual patients; see :func:`compare`.

    ``allocation``: ``paired`` (the same virtual patients in every arm) or ``randomised``; None, the replay's rule
    (:func:`replay_scenario`). The result's ``allocation`` says which.

    ``cohort``: whom the trial enrolled, in place of what its record says (:class:`~rptici.trials.registry.Cohort`
    fields, e.g. ``{"prior_lines": 1}``): a what-if, since a combination record rarely says (the result's
    ``cohort`` keeps it).

    ``weight_baseline``: the virtual patients are resampled to the trial's reported baseline
    (:mod:`rptici.population.weighting`); ``baseline`` of the result compares that baseline with the patients.

    ``ensemble`` > 0: every endpoint also gets a 95 % prediction interval (``prediction_low``,
    ``prediction_high``) from that many members of the calibration's ensemble (:mod:`rptici.analysis.ensemble`),
    each replayed with new virtual patients at the trial's own size (paired: the trial's number of men, each in every
    arm), so that the interval holds the calibration's uncertainty and the sampling spread of a trial of that size
    (not only the virtual trial's own interval)."""
    record = with_cohort(registry().get(name), cohort or {})
    scenario = replay_scenario(record, patients, seed,
                               calibration if isinstance(calibration, str) or calibration is None else None,
                               follow_up_months, weight_baseline=weight_baseline, allocation=allocation)
    calibration_object = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    tables = simulate_trial(scenario, calibration=calibration_object)
    result = compare(record, scenario, tables)
    result.update(patients=scenario.patients, allocation=scenario.allocation, seed=seed,
                  calibration=calibration_object.source,
                  model_status=model_status(calibration_object.source).as_dict(), cohort=record.cohort())
    baseline = baseline_comparison(record, scenario, calibration_object)
    if baseline is not None:
        result["baseline"] = baseline
    if ensemble:
        if not isinstance(calibration, str):
            raise InputError("calibration", calibration_object.source, "a calibration name or file with an ensemble "
                                                                      "section (needed for --ensemble)")
        # a member is a trial of the record's size (paired: each of its men simulated in every arm), else the replay's
        per_man = len(scenario.arms) if scenario.allocation == "paired" else 1
        size = record.total_n * per_man if record.total_n else scenario.patients
        result["prediction"] = add_prediction_intervals(result["endpoints"], record, seed, calibration, ensemble,
                                                        float(to_months(scenario.follow_up_days)), size,
                                                        weight_baseline, scenario.allocation)
    return result


def with_cohort(record: TrialRecord, cohort: Mapping[str, Any]) -> TrialRecord:
    """``record`` enrolling ``cohort`` (:class:`~rptici.trials.registry.Cohort` fields) over what it and its arms say
    (every arm takes the fields given; the others stay as recorded); a field that is not one, or a value out of
    range, is an InputError naming it."""
    try:
        given = Cohort(**cohort)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise InputError(f"cohort.{field}", problem.get("input"),
                         f"{problem['msg']}; cohort fields: {', '.join(COHORT_FIELDS)}") from None
    update = {name: getattr(given, name) for name in cohort}
    return record.model_copy(update={**update, "arms": tuple(arm.model_copy(update=update) for arm in record.arms)})


def add_prediction_intervals(rows: list[dict[str, Any]], record: TrialRecord, seed: int, calibration: str,
                             members: int, follow_up_months: float, trial_size: int,
                             weight_baseline: bool = False, allocation: str | None = None) -> dict[str, Any]:
    """Add ``prediction_low``/``prediction_high`` to each endpoint row: the central 95 % of the estimates of
    ``members`` ensemble members, each a virtual trial of ``trial_size`` patients with its own seed
    (:func:`rptici.seeds.ensemble_member`). Returns what was done, for the result's ``prediction`` key, with the
    same interval of every arm's summary estimate (``arms``: e.g. an arm's hazard ratio or paired difference)."""
    estimates: dict[tuple[str, str], list[float | None]] = {}
    summaries: dict[str, dict[str, list[float | None]]] = {}
    calibrations = ensemble_members(calibration, members)
    for index, member in enumerate(calibrations):
        scenario = replay_scenario(record, trial_size, seeds.ensemble_member(seed, index), calibration,
                                   follow_up_months, weight_baseline=weight_baseline, allocation=allocation)
        result = compare(record, scenario, simulate_trial(scenario, calibration=member))
        for row in result["endpoints"]:
            estimates.setdefault((row["arm"], row["endpoint"]), []).append(row["simulated"])
        collect_arm_estimates(summaries, result["summary"])
    for row in rows:
        row["prediction_low"], row["prediction_high"] = interval(estimates.get((row["arm"], row["endpoint"]), []))
    return {"members": len(calibrations), "patients_per_member": int(trial_size), "coverage": 0.95,
            "method": "central 95 % of the ensemble members' estimates, each a new virtual trial at the trial's size",
            "arms": arm_intervals(summaries)}
