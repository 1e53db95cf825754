"""The trial registry: records equal the reference files, filters, regimens, ClinicalTrials.gov import.

Reported numbers are checked against the packaged copies of the reference files (tests/reference/trials_combination.yaml
(validation) and trials_monotherapy.yaml (calibration); their sources are the trial reports named beside
each assertion. Equality is exact (tolerance 0): the registry must not alter any number.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

from rptici.errors import InputError, UnknownNameError
from rptici.kinetics.regimen import Regimen, load_regimen
from rptici.trials import Registry, list_trials, regimen_mapping, registry, show_trial
from rptici.trials.clinicaltrials_gov import phase_text, status_text
from rptici.data import load_yaml
from rptici.trials.registry import AMENDMENTS_FILE, COMBINATION_AMENDMENTS_FILE, amended, phase_numbers

HERE = Path(__file__).resolve().parents[1]  # tests/
EXAMPLE = HERE / "data" / "clinicaltrials_gov_example.json"
HEADER_LINES = 4  # the comment lines added on top of each packaged copy


REFERENCE = HERE / "reference"


def _packaged(name: str) -> str:
    return resources.files("rptici.data").joinpath(name).read_text(encoding="utf-8")


def _combination() -> dict:
    return yaml.safe_load(_packaged("trials_combination.yaml"))


def _monotherapy() -> list:
    return yaml.safe_load(_packaged("trials_monotherapy.yaml"))


def _added() -> list:
    return yaml.safe_load(_packaged("trials_monotherapy_added.yaml"))


# --- the packaged copies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["trials_combination.yaml", "trials_monotherapy.yaml"])
def test_packaged_copy_is_the_reference_file_byte_for_byte_below_its_header(name):
    reference = REFERENCE
    packaged = _packaged(name).splitlines(keepends=True)
    assert all(line.startswith("#") for line in packaged[:HEADER_LINES])
    assert "".join(packaged[HEADER_LINES:]) == (reference / name).read_text(encoding="utf-8")
    assert yaml.safe_load(_packaged(name)) == yaml.safe_load((reference / name).read_text(encoding="utf-8"))


def test_combination_copy_says_it_is_validation_only():
    assert "VALIDATION DATA ONLY" in "".join(_packaged("trials_combination.yaml").splitlines(True)[:HEADER_LINES])


# --- records ---------------------------------------------------------------------------------------------

def test_every_trial_of_both_files_is_a_record():
    trials = registry().trials
    combination, monotherapy = _combination(), _monotherapy()
    assert len([record for record in trials if record.role == "validation"]) == len(combination["trials"]) == 12
    assert len([record for record in trials if record.role == "calibration"]) == len(monotherapy) + len(_added()) == 12
    assert [record.nct for record in trials if record.role == "validation"] == [raw["nct"] for raw in combination["trials"]]
    assert len(registry().case_reports) == len(combination["case_reports"])


def test_added_calibration_trials_are_records_with_their_sources():
    """KEYNOTE-921 (Petrylak et al. 2025 J Clin Oncol): pembrolizumab or placebo with docetaxel in 515 + 515 men
    after one ARPI; rPFS HR 0.85 (95 % CI 0.71-1.01), OS HR 0.92 (0.78-1.09); rPFS at 18 months 9.4 % with
    pembrolizumab, OS at 24 months 38.5 % with placebo (The ASCO Post's summary). KEYNOTE-641: with enzalutamide, 621 +
    623 men, rPFS HR 0.98. Read from rptici's own file of added calibration trials, not from the reference copy,
    whose trials it leaves as they are."""
    record = registry().get("KEYNOTE-921")
    assert record.role == "calibration" and record.nct == "NCT03834506"
    assert [(arm.n, arm.prior_lines) for arm in record.arms] == [(515, 1), (515, 1)]
    rpfs, os_ = record.hazard_ratios["rpfs"], record.hazard_ratios["os"]
    assert (rpfs.estimate, rpfs.low, rpfs.high) == (0.85, 0.71, 1.01)
    assert (os_.estimate, os_.low, os_.high) == (0.92, 0.78, 1.09)
    assert record.arms[0].outcomes["pfs_18mo"] == 0.094 and record.arms[1].outcomes["os_24mo"] == 0.385  # landmarks
    keynote641 = registry().get("NCT03834493")  # KEYNOTE-641 (Graff et al. ESMO 2023 abstract 1771MO)
    assert [arm.n for arm in keynote641.arms] == [621, 623] and keynote641.hazard_ratios["rpfs"].estimate == 0.98
    assert keynote641.assessments == "q9w x5 then q12w"  # every 9 weeks in the first year (trial-design abstract)
    # prior abiraterone in 60.9 %: one prior line for mCRPC, none in the other 39.1 % (a mixed cohort)
    assert [arm.prior_lines for arm in keynote641.arms] == [{0: 0.391, 1: 0.609}] * 2
    assert all(raw["source"] for raw in _added())
    without = Registry.load(added_monotherapy=None)
    assert {"KEYNOTE-921", "KEYNOTE-641"}.isdisjoint(trial.acronym for trial in without)
    assert len(without.filter(role="calibration")) == len(_monotherapy())


def test_prince_numbers_equal_the_file():
    # Sandhu et al. 2022 J Clin Oncol 40(16 suppl):5017: PSA50 76 %, median rPFS 11.2 mo, median OS 17.8 mo.
    prince = registry().get("prince")
    assert prince.nct == "NCT03658447" and prince.n == 37 and prince.phase == "I"
    assert prince.results["psa50"] == 0.76
    assert prince.results["median_os"] == 17.8
    assert prince.results["median_rpfs"] == 11.2
    assert prince.results["median_psa_pfs"] == 8.2
    assert prince.results["psa50_comparator_lu_psma_alone"] == 0.46
    assert prince.result_summary == "no additional safety concerns"
    assert prince.rpt.agent_name == "[177Lu]Lu-PSMA-617" and prince.rpt.agent_known
    assert prince.ici.agent_name == "pembrolizumab" and prince.ici.max_cycles == 35
    assert prince.reference == "Sandhu et al. 2022 J Clin Oncol 40(16 suppl):5017"


def test_nct02814669_numbers_equal_the_file():
    # Fong et al. 2021 Clin Cancer Res 27:4746: grade >= 3 AEs 52.3 % (atezolizumab 34.1 %, radium 27.3 %).
    trial = registry().get("nct02814669")
    assert trial.results["grade3plus_ae"] == 0.523
    assert trial.results["grade3plus_ae_attributed"] == {"atezolizumab": 0.341, "radium": 0.273}
    assert trial.results["orr"] == 0.068
    assert trial.results["median_rpfs"] == 3.0 and trial.results["median_os"] == 16.3
    assert trial.n == 45 and trial.rpt.route == "IV" and trial.ici.dose == "840 mg"


def test_per_arm_outcomes_and_confirmed_flag():
    # Choudhury et al. 2024 Cancer Immunol Res 12:704: median rPFS 6.1 vs 5.7 mo, OS 16.9 vs 16.0 mo.
    trial = registry().get("NCT03093428")
    combination, alone = trial.arms
    assert (combination.n, combination.outcomes["median_rpfs"], combination.outcomes["median_os"]) == (29, 6.1, 16.9)
    assert (alone.n, alone.outcomes["median_rpfs"], alone.outcomes["median_os"]) == (13, 5.7, 16.0)
    assert trial.total_n == 42
    assert trial.ici.confirmed is False and trial.rpt.confirmed is True


def test_every_reported_number_survives_value_for_value():
    """Each trial's results and arm outcomes equal the file's, key for key (summary text moved aside)."""
    for raw in _combination()["trials"]:
        record = registry().get(raw["nct"])
        results = dict(raw.get("results") or {})
        assert record.result_summary == results.pop("summary", None)
        assert record.results == results
        for raw_arm, arm in zip(raw.get("arms") or [], record.arms, strict=True):
            assert {"name": arm.name, "n": arm.n, **arm.outcomes} == raw_arm
    for raw in amended(_monotherapy(), load_yaml(AMENDMENTS_FILE), AMENDMENTS_FILE):
        record = registry().get(raw.get("nct") or raw["trial"])
        assert record.reference == raw["source"]
        for raw_arm, arm in zip(raw["arms"], record.arms, strict=True):
            assert arm.outcomes == raw_arm["outcomes"] and arm.n == raw_arm["n"]
        for endpoint, values in (raw.get("hazard_ratios") or {}).items():
            ratio = record.hazard_ratios[endpoint]
            assert [ratio.estimate, ratio.low, ratio.high] == values[:3]


def test_monotherapy_calibration_numbers():
    # Sartor et al. 2021 NEJM (VISION): PSA50 46.0 %, median OS 15.3 mo, HR OS 0.62 (0.52-0.74);
    # rPFS HR with a 99.2 % CI.
    vision = registry().get("NCT03511664")
    assert vision.acronym == "VISION" and vision.role == "calibration"
    assert vision.arms[0].outcomes["psa50"] == 0.460 and vision.arms[0].outcomes["median_os"] == 15.3
    assert (vision.hazard_ratios["os"].estimate, vision.hazard_ratios["os"].interval) == (0.62, "95 % CI")
    assert vision.hazard_ratios["rpfs"].interval == "99.2 % CI"
    assert registry().get("KEYNOTE-158").acronym == "KEYNOTE-158 (NET cohort)"
    # TheraP's 12-month PFS 19 % counted PSA progression (Hofman et al. 2021 Lancet): the amendment (null removes a
    # key) moves it from radiographic PFS to the composite endpoint
    therap = registry().get("TheraP").arms[0].outcomes
    assert therap["composite_pfs_12mo"] == 0.19 and "pfs_12mo" not in therap


def test_unknown_agent_is_kept_and_flagged():
    # [177Lu]Lu-DOTATOC (Ferdinandus et al. 2022) is not in the agents catalogue.
    report = registry().case_reports[1]
    assert report.rpt.agent == "[177Lu]Lu-DOTATOC" and report.rpt.agent_known is False and report.rpt.agent_name is None
    assert report.ici_agents == ("ipilimumab", "nivolumab")
    assert all(spec.agent_known for record in registry() for spec in [*record.rpt_specs(), *record.ici_specs()])


def test_unknown_trial_names_close_matches():
    with pytest.raises(UnknownNameError) as caught:
        registry().get("PRINCES")
    assert caught.value.field == "trial" and "PRINCE" in str(caught.value)


# --- filters ---------------------------------------------------------------------------------------------

def _names(found: Registry) -> set[str]:
    return {record.name for record in found}


def test_filter_by_disease_agent_and_checkpoint():
    prostate = registry().filter(disease="prostate", role="validation")
    assert _names(prostate) == {"NCT02814669", "NCT03093428", "NCT03658447"}
    assert {"NCT03511664", "TheraP", "ALSYMPCA"} <= _names(registry().filter(disease="PROSTATE", role="calibration"))
    assert _names(registry().filter(agent="Lu-PSMA-617")) == {"NCT03658447", "NCT03511664", "TheraP"}
    assert _names(registry().filter(agent="Pluvicto", role="validation")) == {"NCT03658447"}
    assert _names(registry().filter(agent="Ra-223", role="validation")) == {"NCT02814669", "NCT03093428", "NCT03996473"}
    pembrolizumab = registry().filter(checkpoint_inhibitor="pembrolizumab", role="validation")
    assert _names(pembrolizumab) == {"NCT03093428", "NCT03658447", "NCT03996473", "NCT05583708", "NCT03457948"}
    assert _names(registry().filter(checkpoint_inhibitor="Keytruda", disease="prostate", role="validation")) == {
        "NCT03093428", "NCT03658447"}
    assert _names(registry().filter(checkpoint_inhibitor="PD-L1", role="validation")) == {
        "NCT02814669", "NCT04261855", "NCT03215095"}


def test_filter_by_phase_status_and_role():
    assert _names(registry().filter(phase="III")) == set()
    phase_two = _names(registry().filter(phase="II"))
    assert {"NCT03093428", "NCT03325816", "NCT05663710", "NCT05239533", "NCT05583708", "NCT04261855",
            "NCT03457948"} == phase_two
    assert "NCT03658447" in _names(registry().filter(phase=1)) and "NCT03658447" not in phase_two
    assert _names(registry().filter(status="completed")) == {"NCT02814669", "NCT03093428", "NCT03658447", "NCT03325816"}
    assert _names(registry().filter(status="ongoing")) == {"NCT05663710", "NCT05239533", "NCT04261855"}
    assert len(registry().filter(role="calibration")) == 12
    with pytest.raises(InputError):
        registry().filter(role="training")
    with pytest.raises(InputError):
        registry().filter(phase="early")


@pytest.mark.parametrize("text, numbers", [("Ib/II", {1, 2}), ("II (randomised)", {2}), ("I", {1}),
                                           ("PHASE1", {1}), ("phase 2", {2}), ("I/II", {1, 2})])
def test_phase_numbers(text, numbers):
    assert phase_numbers(text) == numbers


# --- regimens --------------------------------------------------------------------------------------------

def test_prince_regimen():
    # PRINCE: 8.5 GBq less 0.5 GBq per cycle, q6w x 6; pembrolizumab 200 mg q3w x 35 (Sandhu et al. 2022).
    mapping = regimen_mapping("PRINCE")
    assert mapping == {
        "rpt": {"agent": "[177Lu]Lu-PSMA-617", "activity": "8.5 GBq", "activity_step": "-0.5 GBq",
                "interval": "6 weeks", "cycles": 6},
        "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks", "infusions": 35},
        "sequence": {"order": "concurrent"}}
    regimen = load_regimen(mapping)
    assert regimen.rpt.cycle_activities() == pytest.approx([8500, 8000, 7500, 7000, 6500, 6000], abs=1e-9)
    assert regimen.ici.count == 35 and regimen.ici.interval_days == 21


def test_nct02814669_regimen():
    regimen = load_regimen(regimen_mapping("NCT02814669"))
    assert regimen.rpt.activity == "55 kBq/kg" and regimen.rpt.interval_days == 28 and regimen.rpt.cycles == 6
    assert regimen.ici.agent == "atezolizumab" and regimen.ici.dose == "840 mg" and regimen.ici.interval_days == 14
    status = registry().get("NCT02814669").regimens[0]
    assert any("2 years" in note for note in status.assumptions)
    assert any("staggered" in note for note in status.assumptions)


def test_every_replayable_mapping_loads_and_the_rest_say_why():
    replayable = 0
    for record in registry():
        for status in record.regimens:
            if status.replayable:
                assert isinstance(load_regimen(status.mapping), Regimen)
                replayable += 1
            else:
                assert status.mapping is None and status.reason
        if not record.replayable:
            assert record.replay_reason
        if not any(status.replayable for status in record.regimens):
            with pytest.raises(InputError):
                regimen_mapping(record)
    assert replayable >= 15
    for name in ("NCT03658447", "NCT02814669", "NCT03093428", "NCT03325816"):  # the replays
        assert registry().get(name).replayable


#: Issue 20: the Table 2 trials whose regimen needs an agent without biokinetics today, and that agent. Each is
#: replayable exactly when that agent's biokinetics file lands (data/biokinetics), and says why not until then.
WAITING_FOR = {"NCT05663710": "[177Lu]Lu-girentuximab", "NCT05239533": "[177Lu]Lu-girentuximab",
               "NCT03215095": "[131I]NaI", "NCT02914405": "[131I]I-MIBG"}


def test_every_table2_trial_is_replayable_or_waits_only_for_its_agents_biokinetics():
    from rptici.kinetics.biokinetics import known_agents

    validation = registry().filter(role="validation")
    assert len(validation) == 12
    for record in validation:
        assert record.population is not None, record.name  # every disease has a virtual population
        agent = WAITING_FOR.get(record.nct)
        if agent is None or agent in known_agents():
            assert record.replayable, (record.name, record.replay_reason)
        else:
            assert not record.replayable
            assert record.replay_reason == f"no biokinetics for {agent} yet: the engine can run only the agents of " \
                "data/biokinetics (" + ", ".join(known_agents()) + ")"
            # ... and nothing else stands in the way: the regimen itself loads
            assert all(status.reason.startswith("no biokinetics for") and ";" not in status.reason
                       for status in record.regimens)
    # NSCLC with bone metastases (radium-223 + pembrolizumab) and NETs with liver metastases have populations now
    assert registry().get("NCT03996473").population == "nsclc_bone"
    assert registry().get("NCT03457948").population == "gep_net"


def test_combination_amendments_keep_what_the_source_said_and_say_where_the_new_values_come_from():
    """Amended records (data/trials_combination_amendments.yaml) keep the source's text in ``amendments[].was``, cite a
    source, and list the choice among their regimens' assumptions; reported results are never amended."""
    amendments = load_yaml(COMBINATION_AMENDMENTS_FILE)
    assert {entry["trial"] for entry in amendments} == {"NCT05663710", "NCT05239533", "NCT04261855", "NCT02914405",
                                                         "NCT03457948", "NCT02814669", "NCT03093428"}
    raw = {item["nct"]: item for item in _combination()["trials"]}
    for entry in amendments:
        record = registry().get(entry["trial"])
        (amendment,) = record.amendments
        assert amendment.source == entry["source"] and amendment.choice == entry["choice"]
        assert amendment.was == {key: raw[entry["trial"]].get(key) for key in entry["set"]}
        assert all(any(note.startswith("amended ") for note in status.assumptions) for status in record.regimens)
        assert "results" not in entry["set"] and "arms" not in entry
    # STARLITE 2 (Feldman et al. 2022 TPS4603): '12-14 weeks' replayed as 12; 1.8 and 2.4 GBq/m2 stay two levels,
    # each later dose 75 % of the one before; nivolumab 240 mg q2w from day 15
    starlite = registry().get("STARLITE 2")
    assert starlite.amendments[0].was["rpt"]["interval"] == "12-14 weeks"
    assert [status.level for status in starlite.regimens] == ["1.8 GBq/m2 (decreasing 25 % per cycle)",
                                                            "2.4 GBq/m2 (decreasing 25 % per cycle)"]
    mapping = {"rpt": {"agent": "[177Lu]Lu-girentuximab", "activity": "2.4 GBq/m2", "activity_factor": 0.75,
                       "interval": "12 weeks", "cycles": 3},
               "ici": {"agent": "nivolumab", "dose": "240 mg", "interval": "2 weeks", "start": "2 weeks",
                       "duration": "2 years"}, "sequence": {"order": "concurrent"}}
    from rptici.kinetics.biokinetics import known_agents

    if "[177Lu]Lu-girentuximab" in known_agents():  # the level by its activity alone, the factor from its note
        assert regimen_mapping("STARLITE 2", level="1.8 GBq/m2")["rpt"] == {**mapping["rpt"], "activity": "1.8 GBq/m2"}
        assert regimen_mapping("STARLITE 2") == mapping
    else:
        with pytest.raises(InputError, match="no biokinetics for"):
            regimen_mapping("STARLITE 2", level="1.8 GBq/m2")
    regimen = load_regimen(mapping)
    times, activities = regimen.rpt_administrations(bsa_m2=[2.0])
    assert times.tolist() == [0.0, 84.0, 168.0]
    assert activities[:, 0].tolist() == pytest.approx([4800.0, 3600.0, 2700.0])  # MBq for 2 m2: 2.4, 1.8, 1.35 GBq/m2
    # GoTHAM (NCT04261855 registration): 2 administrations 8-10 weeks apart -> 8 weeks; 7.4 GBq from the label
    gotham = regimen_mapping("GoTHAM")
    assert gotham["rpt"] == {"agent": "[177Lu]Lu-DOTATATE", "activity": "7.4 GBq", "interval": "8 weeks", "cycles": 2}
    assert gotham["ici"]["dose"] == "10 mg/kg" and gotham["ici"]["duration"] == "24 months"
    with pytest.raises(InputError, match="set"):
        amended(_combination()["trials"], [{"trial": "GoTHAM", "set": {"results": {}}, "source": "x"}], "test")
    with pytest.raises(InputError, match="source"):
        amended(_combination()["trials"], [{"trial": "GoTHAM", "set": {"sequence": "concurrent"}}], "test")
    with pytest.raises(InputError, match="trial"):
        amended(_combination()["trials"], [{"trial": "NCT00000000", "source": "x"}], "test")


def test_activity_levels_and_arms():
    assert regimen_mapping("NCT03325816")["rpt"]["activity"] == "7.4 GBq"  # default: the highest level
    assert regimen_mapping("NCT03325816", level="3.7 GBq")["rpt"]["activity"] == "3.7 GBq"
    assert regimen_mapping("NCT03325816", level=0)["rpt"]["activity"] == "3.7 GBq"
    alsympca = regimen_mapping("ALSYMPCA")
    assert alsympca["rpt"]["activity"] == "55 kBq/kg" and "ici" not in alsympca
    assert regimen_mapping("KEYNOTE-199", arm="cohort 3")["ici"]["dose"] == "200 mg"
    with pytest.raises(InputError):
        regimen_mapping("KEYNOTE-199", arm="cohort 9")


# --- query functions -------------------------------------------------------------------------------------

def test_list_and_show_are_json_ready():
    rows = list_trials(disease="prostate", checkpoint_inhibitor="pembrolizumab", role="validation")
    assert [row["name"] for row in rows] == ["NCT03093428", "NCT03658447"]
    assert rows[1]["rpt"] == "[177Lu]Lu-PSMA-617" and rows[1]["n"] == 37 and rows[1]["replayable"] is True
    shown = show_trial("prince")
    assert json.loads(json.dumps(shown)) == shown
    assert shown["results"]["psa50"] == 0.76 and shown["regimens"][0]["mapping"]["rpt"]["cycles"] == 6
    everything = json.loads(registry().to_json())
    assert len(everything["trials"]) == 12 + 10 + 2 and len(everything["case_reports"]) == 2  # + KEYNOTE-921 and -641


# --- ClinicalTrials.gov import ---------------------------------------------------------------------------

def test_clinicaltrials_gov_import():
    imported = Registry().add_clinicaltrials_gov(EXAMPLE)
    record = imported.get("NCT03658447")
    assert record.role == "imported" and record.acronym == "PRINCE" and record.n == 37
    assert record.phase == "I" and record.status == "completed"
    assert record.disease == "Metastatic Castration-resistant Prostate Cancer"
    assert record.rpt.agent == "Lutetium Lu 177 vipivotide tetraxetan" and record.rpt.agent_name == "[177Lu]Lu-PSMA-617"
    assert record.ici.agent_name == "pembrolizumab"
    assert record.other_interventions == ("DIAGNOSTIC_TEST: 68Ga-PSMA-11 PET/CT",)
    assert [arm.name for arm in record.arms] == ["177Lu-PSMA-617 + pembrolizumab"]
    assert not record.replayable  # v2 records carry no structured activity
    assert _names(imported.filter(agent="Lu-PSMA-617", checkpoint_inhibitor="MK-3475")) == {"NCT03658447"}


def test_import_forms_duplicates_and_other_names(tmp_path):
    study = json.loads(EXAMPLE.read_text())["studies"][0]
    interventions = study["protocolSection"]["armsInterventionsModule"]["interventions"]
    interventions[0]["name"] = "177Lu-PSMA-617"
    interventions[1] = {"type": "DRUG", "name": "Study drug", "otherNames": ["MK-3475"]}
    interventions.append({"type": "DRUG", "name": "Cabozantinib"})
    for document in (study, [study]):
        path = tmp_path / "study.json"
        path.write_text(json.dumps(document))
        record = Registry().add_clinicaltrials_gov(path).trials[0]
        assert record.rpt.agent_name == "[177Lu]Lu-PSMA-617" and record.ici.agent_name == "pembrolizumab"
        assert record.other_interventions[-1] == "DRUG: Cabozantinib"
    with pytest.raises(InputError, match="NCT03658447"):
        registry().add_clinicaltrials_gov(EXAMPLE)
    replaced = registry().add_clinicaltrials_gov(EXAMPLE, replace=True)
    assert len(replaced) == len(registry()) and replaced.get("PRINCE").role == "imported"
    assert registry().get("PRINCE").role == "validation"  # the cached registry is unchanged


def test_malformed_json_names_file_and_path(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"studies": [ {"protocolSection": ')
    with pytest.raises(InputError, match="broken.json") as caught:
        Registry().add_clinicaltrials_gov(broken)
    assert "line 1" in str(caught.value)
    missing = tmp_path / "missing_nct.json"
    study = json.loads(EXAMPLE.read_text())["studies"][0]
    del study["protocolSection"]["identificationModule"]["nctId"]
    missing.write_text(json.dumps({"studies": [study]}))
    with pytest.raises(InputError) as caught:
        Registry().add_clinicaltrials_gov(missing)
    assert caught.value.field == f"{missing}: studies[0].protocolSection.identificationModule.nctId"
    wrong_type = tmp_path / "wrong_type.json"
    study = json.loads(EXAMPLE.read_text())["studies"][0]
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "thirty-seven"
    wrong_type.write_text(json.dumps(study))
    with pytest.raises(InputError) as caught:
        Registry().add_clinicaltrials_gov(wrong_type)
    assert caught.value.field == f"{wrong_type}: $.protocolSection.designModule.enrollmentInfo.count"


def test_clinicaltrials_gov_enumerations():
    assert phase_text(["PHASE1", "PHASE2"]) == "I/II" and phase_text(["NA"]) is None
    assert status_text("ACTIVE_NOT_RECRUITING") == "active, not recruiting"


def test_amendments_keep_the_reported_values():
    """The amendments (data/trials_amendments.yaml) restate an ORR as responders of evaluable patients: the ratio
    rounds to the file's value (VISION 95/319 = 0.298, Sartor et al. 2021; CheckMate 650 8/32 = 0.25, Sharma et al.
    2020), and every other outcome stays the file's."""
    original = {raw["trial"]: raw for raw in _monotherapy()}
    for raw in amended(_monotherapy(), load_yaml(AMENDMENTS_FILE), AMENDMENTS_FILE):
        for raw_arm, original_arm in zip(raw["arms"], original[raw["trial"]]["arms"], strict=True):
            for key, value in raw_arm["outcomes"].items():
                if key not in original_arm["outcomes"]:  # an endpoint the amendment adds (KEYNOTE-199 dcr)
                    continue
                before = original_arm["outcomes"][key]
                if isinstance(value, dict):
                    assert value["responders"] / value["evaluable"] == pytest.approx(before, abs=0.0015)
                else:
                    assert value == before
    with pytest.raises(InputError):
        amended(_monotherapy(), [{"trial": "VISION", "arms": {"no such arm": {}}}], AMENDMENTS_FILE)


def test_a_record_carries_its_trials_imaging_schedule_into_the_replay():
    """KEYNOTE-158 imaged every 9 weeks for the first year, then every 12 (Strosberg et al. 2020 Clin Cancer Res
    26:2124; its amendment): the replay scans on that schedule, a record without one on VISION's (q8w x3 then q12w);
    a schedule the scenario cannot read is refused at load, naming the field."""
    from rptici.analysis.replay import DEFAULT_ASSESSMENTS, replay_scenario
    from rptici.trials.registry import _monotherapy_record
    from rptici.trials.scenario import parse_schedule

    record = registry().get("KEYNOTE-158 (NET cohort)")
    assert record.assessments == "q9w x5 then q12w" and record.amendments[-1].was == {"assessments": None}
    scenario = replay_scenario(record, 40, seed=1)
    days = parse_schedule(scenario.assessments, 730.0)
    assert days[1:7].tolist() == [63.0, 126.0, 189.0, 252.0, 315.0, 399.0]
    assert replay_scenario("VISION", 40, seed=1).assessments == DEFAULT_ASSESSMENTS == "q8w x3 then q12w"
    (vision, *_) = amended(_monotherapy(), [{"trial": "VISION", "set": {"assessments": "every so often"},
                                             "source": "test"}], AMENDMENTS_FILE)
    with pytest.raises(InputError, match=r"^trial\[0\]\.assessments"):
        _monotherapy_record(vision, "trial[0]")
