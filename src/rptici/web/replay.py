"""Replays of registry trials from the dashboard's registry page.

The scenario and the simulated-versus-reported comparison are those of :mod:`rptici.analysis.replay` (the
same as ``rptici registry replay``); the dashboard runs the scenario as a background run with progress and,
once it is done, compares it with what the trial reported.
"""

from __future__ import annotations

from typing import Any

from rptici.errors import InputError
from rptici.kinetics import known_agents

from .forms import default_calibration


def replay_problem(record: Any) -> str | None:
    """Why the dashboard cannot replay this record, in plain words for the greyed button's tooltip (None when it
    can)."""
    from rptici.analysis.replay import population_for, replay_arms

    from .plain import no_biokinetics, replay_reason, sentence

    if not record.replayable:
        return replay_reason(record)
    try:
        population_for(record)
        arms = replay_arms(record)
    except InputError as error:
        return sentence(error)
    for arm in arms:
        rpt = (arm.regimen or {}).get("rpt")
        if rpt and rpt["agent"] not in known_agents():
            return no_biokinetics(rpt["agent"]) + "."
    return None


def replay_scenario(name: str, patients_per_arm: int, seed: int = 1) -> dict[str, Any]:
    """The scenario mapping (as in a scenario file) replaying trial ``name`` with ``patients_per_arm`` per arm."""
    from rptici.analysis.replay import replay_arms, replay_scenario as scenario_of
    from rptici.trials import registry

    record = registry().get(name)
    problem = replay_problem(record)
    if problem:
        raise InputError("trial", name, f"a trial the dashboard can replay ({problem})")
    arms = len(replay_arms(record))
    scenario = scenario_of(record, patients=patients_per_arm * arms, seed=seed, calibration=default_calibration())
    return scenario.model_dump(mode="json", exclude_defaults=False)


def replay_comparison(trial: str, scenario: dict[str, Any], tables: dict) -> list[dict[str, Any]]:
    """Rows of simulated (with 95 % interval) versus reported, per endpoint and arm."""
    from rptici.analysis.replay import compare
    from rptici.trials import registry
    from rptici.trials.scenario import load_trial_scenario

    result = compare(registry().get(trial), load_trial_scenario(scenario), tables)
    return [{"endpoint": row.get("endpoint"), "arm": row.get("arm"), "reported": row.get("reported"),
             "simulated": [row.get("simulated"), row.get("low"), row.get("high")],
             "kind": row["unit"] if row["unit"] in ("months", "ratio") else "rate",
             "inside": row.get("reported_inside_ci")} for row in result["endpoints"]]
