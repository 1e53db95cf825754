"""Every agent's model dose per activity against the doses published for it (``published_doses`` of each
biokinetics data file), and the generated table ``docs/agents.md``.

The model runs for the reference patient of the agent by the dosimetry of ``rptici regimen dose``
(:func:`rptici.analysis.published_doses.model_doses`). It must lie in the published range widened by the factor
``TOLERANCE`` = 1.5 either side: published single values are cohort means or medians with 30-60 % inter-patient
spread, patients' organ masses differ from the ICRP 89 reference masses (factor 1.2-4 between CT-based and
reference-mass doses of the same patients, Rajendran et al. 2008 J Nucl Med 49:837), and the model has no photon
cross-dose. Entries marked as calibration targets in the data files are met almost exactly; the others
(tositumomab total body, girentuximab tumour range) are independent checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rptici.analysis import published_doses as published
from rptici.analysis.published_doses import (TOLERANCE, Comparison, agents_table, agents_with_published_doses,
                                             comparison, model_doses)
from rptici.errors import InputError
from rptici.kinetics.biokinetics import agent_parameters

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def _all_entries():
    return [(agent, number) for agent in agents_with_published_doses()
            for number in range(len(agent_parameters(agent)["published_doses"]))]


@pytest.mark.parametrize(("agent", "number"), _all_entries(),
                         ids=lambda value: value if isinstance(value, str) else str(value))
def test_model_dose_per_activity_is_within_the_published_range(agent, number):
    """Model in [low / 1.5, high × 1.5] of the published entry (module docstring for the tolerance)."""
    row = comparison(agent)[number]
    assert row.lower_bound <= row.model <= row.upper_bound, (
        f"{agent} {row.region}: model {row.model:.3g} {row.unit}, published {row.low:g}-{row.high:g} ({row.source})")


def test_the_antibody_agents_have_published_doses_with_sources():
    """The three radiolabelled antibodies carry published doses; each entry names its publication."""
    agents = set(agents_with_published_doses())
    assert {"[90Y]Y-ibritumomab tiuxetan", "[131I]I-tositumomab", "[177Lu]Lu-girentuximab"} <= agents
    for agent in agents:
        for entry in published.published_doses(agent):
            assert any(char.isdigit() for char in entry["source"]), (agent, entry)  # a year or value in the source


def test_docs_agents_table_is_current():
    """docs/agents.md is what the generator writes (run rptici.analysis.published_doses.write_agents_doc())."""
    assert DOCS.read_text(encoding="utf-8") == agents_table()


def test_generator_writes_the_table(tmp_path):
    path = published.write_agents_doc(tmp_path / "agents.md")
    text = path.read_text(encoding="utf-8")
    assert "| [131I]I-tositumomab | total_body |" in text and "[90Y]Y-NM600" in text  # NM600: no published doses


def test_tolerance_is_a_factor_either_side():
    row = Comparison("x", "liver", 2.0, 4.0, "Gy/GBq", "s", 5.9)
    assert (row.lower_bound, row.upper_bound, row.within) == (2.0 / TOLERANCE, 4.0 * TOLERANCE, True)
    assert not Comparison("x", "liver", 2.0, 4.0, "Gy/GBq", "s", 6.1).within


def test_units_convert_with_pint():
    """1 mGy/MBq = 1 Gy/GBq; 1 Gy/MBq = 1000 Gy/GBq (mouse papers); a wrong dimension names the field."""
    assert published._per_GBq("mGy/MBq", "unit") == pytest.approx(1.0)
    assert published._per_GBq("Gy/MBq", "unit") == pytest.approx(1000.0)
    with pytest.raises(InputError, match="unit"):
        published._per_GBq("Gy/kg", "unit")


def test_model_doses_are_linear_in_the_reference_activity():
    """Gy/GBq does not depend on the activity used (linear kinetics): the exponential sums per MBq and a 7.4 GBq
    regimen on the same (self-dose) dosimetry agree to 1e-9."""
    from rptici.kinetics.biokinetics import Covariates
    from rptici.kinetics.regimen import load_regimen
    from rptici.radiobiology.regimen_dose import regimen_dose

    once = model_doses("Zevalin")
    covariates = Covariates.reference("male", 1, np.array([[20.0]]))
    result = regimen_dose(load_regimen({"rpt": {"agent": "Zevalin", "activity": "7.4 GBq"}}), covariates,
                          times=np.array([0.0]), cross_dose=False)
    np.testing.assert_allclose(result.dose_per_activity_Gy_per_GBq[0], list(once.values()), rtol=1e-9)


def test_bad_published_entries_name_the_field(monkeypatch):
    parameters = dict(agent_parameters("Zevalin"))
    for bad, field in (({"region": "liver", "low": 5.0, "high": 1.0, "unit": "Gy/GBq", "source": "x 2020"}, "low"),
                       ({"region": "liver", "low": 1.0, "high": 2.0, "unit": "Gy", "source": "x 2020"}, "unit"),
                       ({"region": "liver", "low": 1.0, "high": 2.0, "unit": "Gy/GBq"}, "source")):
        monkeypatch.setattr("rptici.kinetics.biokinetics.agent_parameters",
                            lambda agent, entry=bad: {**parameters, "published_doses": [entry]})
        with pytest.raises(InputError, match=field):
            published.published_doses("Zevalin")
    monkeypatch.setattr("rptici.kinetics.biokinetics.agent_parameters", lambda agent: {
        **parameters, "published_doses": [{"region": "thyroid", "low": 1.0, "high": 2.0, "unit": "Gy/GBq",
                                           "source": "x 2020"}]})
    with pytest.raises(InputError, match="a target of the model"):
        comparison("Zevalin")


def test_lesion_mass_of_an_entry_changes_the_tumour_model(monkeypatch):
    """A published tumour dose for small lesions is compared with a lesion of that mass: at the same uptake per
    gram the self-dose per GBq of a 2 g lesion is below that of a 20 g one (more β energy escapes a small sphere)."""
    parameters = dict(agent_parameters("Zevalin"))
    entry = {"region": "tumour", "low": 1.0, "high": 100.0, "unit": "Gy/GBq", "source": "x 2020"}
    rows = {}
    for mass in ("2 g", "20 g"):
        monkeypatch.setattr("rptici.kinetics.biokinetics.agent_parameters",
                            lambda agent, mass=mass: {**parameters, "published_doses": [{**entry, "lesion_mass": mass}]})
        rows[mass] = comparison("Zevalin")[0].model
    assert rows["2 g"] < rows["20 g"]
    assert rows["20 g"] == pytest.approx(model_doses("Zevalin")["lesion_1"], rel=1e-9)
    monkeypatch.setattr("rptici.kinetics.biokinetics.agent_parameters",
                        lambda agent: {**parameters, "published_doses": [{**entry, "lesion_mass": "2 mL"}]})
    with pytest.raises(InputError, match="lesion_mass"):
        comparison("Zevalin")
