"""Two checkpoint inhibitors in one regimen (issue 13 item 6): nivolumab + ipilimumab q3w x4, then nivolumab
480 mg q4w (CheckMate 650, Sharma et al. 2020 Cancer Cell 38:489). Each antibody fills its own compartment of the
model (anti-PD-(L)1, anti-CTLA-4), so the doublet's PD-1 occupancy is nivolumab's alone and anti-CTLA-4 acts on
top (Treg depletion)."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.errors import InputError
from rptici.kinetics import Regimen
from rptici.simulation.engine import simulate
from rptici.simulation.solver import SUCCESS

NIVOLUMAB = [{"agent": "nivolumab", "dose": "1 mg/kg", "interval": "q3w", "infusions": 4},
             {"agent": "nivolumab", "dose": "480 mg", "interval": "q4w", "start": "12 weeks", "infusions": 6}]
IPILIMUMAB = {"agent": "ipilimumab", "dose": "3 mg/kg", "interval": "q3w", "infusions": 4}
DOUBLET = Regimen.model_validate({"ici": [NIVOLUMAB[0], IPILIMUMAB, NIVOLUMAB[1]]})
NIVOLUMAB_ALONE = Regimen.model_validate({"ici": NIVOLUMAB})
TIMES = np.arange(0.0, 211.0, 7.0)


def patients(count: int = 6, seed: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"lesion_volumes_mL": rng.uniform(2.0, 30.0, (count, 2)), "infiltration": rng.uniform(0.1, 0.8, count),
            "pdl1": rng.uniform(0.0, 0.6, count), "alpha": rng.uniform(0.1, 0.3, count),
            "lymphocytes": rng.uniform(1.0, 2.0, count), "psa": rng.uniform(5.0, 50.0, count),
            "weight_kg": rng.uniform(60.0, 100.0, count)}


def test_the_regimen_lists_infusions_of_both_antibodies_in_time_order():
    times, doses = DOUBLET.ici_infusions(weight_kg=[80.0])
    agents = DOUBLET.ici_infusion_agents()
    assert agents.count("ipilimumab") == 4 and agents.count("nivolumab") == 10
    assert np.all(np.diff(times) >= 0)
    assert doses[agents.index("ipilimumab"), 0] == pytest.approx(240.0)  # 3 mg/kg x 80 kg
    assert times[-1] == pytest.approx(84.0 + 5 * 28.0)  # maintenance from week 12, q4w
    assert DOUBLET.ici_agents() == {"nivolumab": "PD-1", "ipilimumab": "CTLA-4"}


def test_two_antibodies_of_one_class_are_refused():
    with pytest.raises(InputError) as error:
        Regimen.model_validate({"ici": [NIVOLUMAB[0], {"agent": "pembrolizumab", "dose": "200 mg",
                                                        "interval": "q3w", "infusions": 2}]})
    assert error.value.field == "ici[1].agent"


def test_each_antibody_fills_its_own_compartment():
    cohort = patients()
    outputs = ("occupancy", "ctla4_occupancy", "regulatory", "volume_sum")
    doublet = simulate(DOUBLET, cohort, TIMES, organs=(), outputs=outputs)
    alone = simulate(NIVOLUMAB_ALONE, cohort, TIMES, organs=(), outputs=outputs)
    assert np.all(doublet.status == SUCCESS) and np.all(alone.status == SUCCESS)
    # PD-1 occupancy comes from nivolumab only: the same with or without ipilimumab
    np.testing.assert_allclose(doublet["occupancy"], alone["occupancy"], rtol=1e-5, atol=1e-7)
    assert np.all(doublet["occupancy"][:, 1:] > 0.5)
    # anti-CTLA-4 occupied during the induction, none without ipilimumab
    assert np.all(doublet["ctla4_occupancy"][:, 1:10] > 0.1)
    assert np.all(alone["ctla4_occupancy"] == 0.0)
    # anti-CTLA-4 depletes regulatory T cells (the model's ctla4_treg_depletion)
    assert np.all(doublet["regulatory"][:, 5] < alone["regulatory"][:, 5])


def test_checkmate_650_replays_with_its_doublet_and_is_a_calibration_trial():
    """CheckMate 650's regimen (data/trials_amendments.yaml) loads, names both antibodies in words, and the trial is
    among the default calibration trials."""
    from rptici.analysis.calibration import DEFAULT_TRIALS
    from rptici.kinetics.regimen import load_regimen
    from rptici.report.trial import regimen_in_words
    from rptici.trials.registry import registry, regimen_mapping

    record = registry().get("CheckMate 650")
    assert record.replayable and "CheckMate 650" in DEFAULT_TRIALS
    mapping = regimen_mapping(record, arm="pre-chemotherapy")
    assert load_regimen(mapping).ici_agents() == {"nivolumab": "PD-1", "ipilimumab": "CTLA-4"}
    words = regimen_in_words(mapping)
    assert "ipilimumab 3 mg/kg" in words and "nivolumab 480 mg" in words
