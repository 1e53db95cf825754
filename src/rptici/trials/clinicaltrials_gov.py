"""Import of ClinicalTrials.gov API v2 study records from a JSON file (no network).

A file holds one study object, a list of them, or a search page ``{"studies": [...]}``, each study in
the v2 layout (https://clinicaltrials.gov/data-api/api): ``protocolSection`` with
``identificationModule`` (``nctId``, ``briefTitle``, ``officialTitle``, ``acronym``), ``statusModule``
(``overallStatus``), ``designModule`` (``phases``, ``enrollmentInfo.count``), ``conditionsModule``
(``conditions``) and ``armsInterventionsModule`` (``interventions`` [{type, name, otherNames}],
``armGroups`` [{label, type, description, interventionNames}]).

Each intervention is looked up in the agents catalogue by its name, then by its other names: the first
radiopharmaceutical found becomes the record's RPT, the first checkpoint inhibitor its ICI; every other
intervention is kept, as written, in ``other_interventions``. The v2 record has no structured dose, so an
imported record is not replayable until its regimen is curated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rptici.data import catalogue, read_user_text
from rptici.errors import InputError, UnknownNameError

from .registry import ArmRecord, IciSpec, RptSpec, TrialRecord

_ALLOWED = "a ClinicalTrials.gov API v2 study object, a list of them, or {\"studies\": [...]}"
_PHASES = {"EARLY_PHASE1": "early I", "PHASE1": "I", "PHASE2": "II", "PHASE3": "III", "PHASE4": "IV"}


def _get(node: Any, key: str, where: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
    """``node[key]`` checked to be of ``kind`` (None when absent and not required); InputError at ``where``."""
    if not isinstance(node, dict):
        raise InputError(where, node, "a JSON object")
    value = node.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}.{key}", None, "a value (this field is required)")
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"{where}.{key}", value, f"a JSON value of type {names}")
    return value


def phase_text(phases: list[str] | None) -> str | None:
    """['PHASE1', 'PHASE2'] -> 'I/II'; 'NA' or nothing -> None."""
    names = [_PHASES[phase] for phase in phases or [] if phase in _PHASES]
    return "/".join(names) or None


def status_text(status: str | None) -> str | None:
    """'ACTIVE_NOT_RECRUITING' -> 'active, not recruiting'; 'COMPLETED' -> 'completed'."""
    if status is None:
        return None
    text = status.replace("_", " ").lower()
    return text.replace("active not", "active, not")


def _lookup(names: list[str], lookup) -> str | None:
    for name in names:
        try:
            return lookup(name).name
        except UnknownNameError:
            continue
    return None


def study_record(study: Any, where: str) -> TrialRecord:
    """One v2 study object as a :class:`TrialRecord` (role 'imported'); ``where`` is its JSON path."""
    protocol = _get(study, "protocolSection", where, dict, required=True)
    base = f"{where}.protocolSection"
    identification = _get(protocol, "identificationModule", base, dict, required=True)
    nct = _get(identification, "nctId", f"{base}.identificationModule", str, required=True)
    status = _get(protocol, "statusModule", base, dict) or {}
    design = _get(protocol, "designModule", base, dict) or {}
    conditions = _get(protocol, "conditionsModule", base, dict) or {}
    arms_module = _get(protocol, "armsInterventionsModule", base, dict) or {}
    enrollment = _get(design, "enrollmentInfo", f"{base}.designModule", dict) or {}
    count = _get(enrollment, "count", f"{base}.designModule.enrollmentInfo", int)

    rpt: RptSpec | None = None
    ici: IciSpec | None = None
    others: list[str] = []
    interventions = _get(arms_module, "interventions", f"{base}.armsInterventionsModule", list) or []
    for index, intervention in enumerate(interventions):
        here = f"{base}.armsInterventionsModule.interventions[{index}]"
        name = _get(intervention, "name", here, str, required=True)
        other_names = _get(intervention, "otherNames", here, list) or []
        spellings = [name, *(str(other) for other in other_names)]
        rpt_name = _lookup(spellings, catalogue.radiopharmaceutical)
        ici_name = None if rpt_name else _lookup(spellings, catalogue.checkpoint_inhibitor)
        if rpt_name and rpt is None:
            rpt = RptSpec(agent=name, agent_name=rpt_name, agent_known=True)
        elif ici_name and ici is None:
            ici = IciSpec(agent=name, agent_name=ici_name, agent_known=True)
        else:
            kind = _get(intervention, "type", here, str)
            others.append(f"{kind}: {name}" if kind else name)

    arms = []
    for index, group in enumerate(_get(arms_module, "armGroups", f"{base}.armsInterventionsModule", list) or []):
        here = f"{base}.armsInterventionsModule.armGroups[{index}]"
        arms.append(ArmRecord(name=_get(group, "label", here, str, required=True),
                              description=_get(group, "description", here, str)))

    condition_names = _get(conditions, "conditions", f"{base}.conditionsModule", list) or []
    return TrialRecord(
        nct=nct, acronym=_get(identification, "acronym", f"{base}.identificationModule", str),
        title=(_get(identification, "briefTitle", f"{base}.identificationModule", str)
               or _get(identification, "officialTitle", f"{base}.identificationModule", str)),
        disease=", ".join(str(name) for name in condition_names) or None,
        phase=phase_text(_get(design, "phases", f"{base}.designModule", list)),
        status=status_text(_get(status, "overallStatus", f"{base}.statusModule", str)),
        rpt=rpt, ici=ici, n=count, arms=tuple(arms), other_interventions=tuple(others),
        reference=f"ClinicalTrials.gov {nct} (API v2 record)", role="imported")


def read_studies(path: str | Path) -> list[TrialRecord]:
    """Every study in a ClinicalTrials.gov API v2 JSON file, as records (regimens not yet assessed).

    Errors name the file and the JSON path of the bad value, e.g.
    ``studies.json: studies[0].protocolSection.identificationModule.nctId``.
    """
    path = Path(path)
    text = read_user_text(path, "path", "ClinicalTrials.gov API v2 studies (JSON)")
    try:
        document = json.loads(text)
    except RecursionError:
        raise InputError(f"{path}: $", "nested too deeply", "valid JSON: " + _ALLOWED) from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: $", f"line {error.lineno}, column {error.colno}: {error.msg}",
                         "valid JSON: " + _ALLOWED) from None
    if isinstance(document, dict) and "studies" in document:
        studies, prefix = document["studies"], "studies"
        if not isinstance(studies, list):
            raise InputError(f"{path}: studies", type(studies).__name__, "a JSON list of study objects")
    elif isinstance(document, dict):
        studies, prefix = [document], None
    elif isinstance(document, list):
        studies, prefix = document, ""
    else:
        raise InputError(f"{path}: $", type(document).__name__, _ALLOWED)
    records = []
    for index, study in enumerate(studies):
        where = f"{path}: " + ("$" if prefix is None else f"{prefix}[{index}]")
        records.append(study_record(study, where))
    return records
