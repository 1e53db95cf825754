"""``replayable: true`` is never a lie (issue 20 item 4): every record of the registry that says it is replayable is
replayed with a few virtual patients, and no arm may lose a patient. The list comes from the registry itself, so a
trial joins this test as soon as its agent's biokinetics file lands (data/biokinetics) and its record turns
replayable; nothing here names a trial. The records that are not replayable must say why and refuse to replay.

Only the plumbing is checked (every arm simulated, no patient failed): no response rate or survival number is
pinned, since the tumour-immune model and its calibration change under other work."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rptici.analysis.replay import replay
from rptici.cli import app
from rptici.kinetics.biokinetics import known_agents
from rptici.trials import registry

pytest.importorskip("numba")  # the engine's compiled kernel, as in tests/trials/test_lost_data.py
PATIENTS = 4  # 2 per arm of a combination replay (combination and RPT alone)

REPLAYABLE = [record.name for record in registry() if record.replayable]
NOT_REPLAYABLE = [record.name for record in registry() if not record.replayable]


def test_the_smoke_replay_covers_the_table2_trials_that_can_run_today():
    # 8 of the 12 Table 2 trials replay with the three agents that have biokinetics today; the four others wait for
    # [177Lu]Lu-girentuximab (2), [131I]NaI and [131I]I-MIBG, and join as their files land (never fewer than 8)
    table2 = [record.name for record in registry().filter(role="validation") if record.replayable]
    assert len(table2) >= 8
    assert set(table2) <= set(REPLAYABLE)


@pytest.mark.parametrize("name", REPLAYABLE)
def test_every_replayable_record_replays_without_a_failed_patient(name):
    result = replay(name, patients=PATIENTS, seed=1)
    arms = result["summary"]["arms"]
    assert arms, name
    for arm in arms:
        assert arm["failed"] == 0, (name, arm["arm"], result["summary"].get("failure_reasons"))
        assert arm["n"] > 0, (name, arm["arm"])


@pytest.mark.parametrize("name", NOT_REPLAYABLE)
def test_every_other_record_says_why_and_refuses_to_replay(name):
    record = registry().get(name)
    assert record.replay_reason
    if record.role == "validation":  # a Table 2 trial waits only for its agent's biokinetics (test_registry.py)
        assert record.replay_reason.startswith("no biokinetics for ")
        assert record.rpt.agent_name not in known_agents()
    result = CliRunner().invoke(app, ["registry", "replay", name, "--patients", "2", "--json"])
    assert result.exit_code == 2, result.output
    if record.role == "validation":
        assert "no biokinetics for " + record.rpt.agent_name in result.output
