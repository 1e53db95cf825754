"""What the dosimetry and single-patient pages compute and show (issue 19, item 8).

- Dosimetry (``/dosimetry``): the regimens of the dashboard form (arm A, and B when comparing) at the reference
  patient of the chosen disease: organ and lesion doses, BED and EQD2, every limit with its margin and whether it
  applies, checkpoint occupancy, and the time–activity curves (:func:`rptici.analysis.dosimetry.arm_dosimetry`, the
  same numbers as the trial report and ``rptici regimen dose``).
- One patient (``/patient``): one virtual patient with the covariates typed in, simulated with
  :func:`rptici.api.simulate`: sum of diameters, PSA, lymphocytes and checkpoint occupancy over time, with the
  lesion and marrow doses (:func:`rptici.api.simulation_summary`).

The forms go through the same schemas as scenario files; an error is shown beside its field in one line naming
the value and what is allowed.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from rptici.errors import InputError
from rptici.units import format_number

from . import forms
from .limits import WebLimits

#: Patient fields of the single-patient form: (form name, scenario ``patient:`` key, label, placeholder).
PATIENT_FIELDS = (
    ("p_weight", "weight", "body weight", "80 kg"),
    ("p_lesions", "lesions", "lesions (volumes or diameters, comma-separated)", "25 mm, 12 mL"),
    ("p_infiltration", "infiltration", "immune infiltration (0 cold … 1 hot)", "0.4"),
    ("p_pdl1", "pdl1", "PD-L1 fraction", "0.1, 10 %"),
    ("p_psa", "psa", "PSA at baseline", "40 ng/mL"),
    ("p_lymphocytes", "lymphocytes", "lymphocytes at baseline", "1.6e9/L"),
)
#: The single-patient form as first shown: examples/simulate/pluvicto_pembrolizumab_patient.yaml.
PATIENT_DEFAULTS = {"p_weight": "80 kg", "p_lesions": "25 mm, 12 mL", "p_infiltration": "0.4", "p_pdl1": "0.1",
                    "p_psa": "40 ng/mL", "p_lymphocytes": "1.6e9/L", "p_days": "365"}
PATIENT_FORM_FIELDS = (*(name for name, *_ in PATIENT_FIELDS), "p_days")
#: The regimen of the single-patient form uses the dashboard's arm-A fields.
PATIENT_ARM = "a"
MAX_LESIONS_TYPED = 10

Simulator = Callable[[Mapping[str, Any]], Any]


# -- dosimetry ---------------------------------------------------------------------------------------------
def dosimetry_form(submitted: Mapping[str, Any]) -> dict[str, str]:
    """The dashboard form as the dosimetry page reads it (trial-only fields not given keep their defaults)."""
    form = forms.read_form(submitted)
    defaults = forms.default_form()
    for key in ("patients", "follow_up_months", "seed"):
        form[key] = form[key] or defaults[key]
    return form


def dosimetry_context(form: Mapping[str, str], limits: WebLimits) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """({sections, reference, ...}, {}) for a valid form, else (None, {field: message})."""
    scenario, errors = forms.validate({**form, "control": ""}, limits)
    if errors:
        return None, errors
    return dosimetry_result(scenario), {}  # type: ignore[arg-type]


def dosimetry_result(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """The dosimetry of every arm of a trial scenario mapping that gives a radiopharmaceutical, at the reference
    patient of its disease, ready for the page."""
    from rptici.analysis.dosimetry import arm_dosimetry, row_warnings

    from . import figures

    arms = [arm for arm in scenario.get("arms") or [] if isinstance(arm, Mapping)]
    sections, reference = arm_dosimetry(scenario)
    labels = {str(arm.get("name")): forms.regimen_label(arm.get("regimen")) for arm in arms}
    rendered = []
    for section in sections:
        rendered.append({
            "arm": section.arm, "label": labels.get(section.arm, ""), "agent": section.agent,
            "nuclide": section.nuclide, "total_GBq": section.total_GBq, "cycles": section.cycles,
            "alpha_rbe": section.alpha_rbe, "rows": [_dose_row(row) for row in section.rows], "ici": section.ici,
            "warnings": row_warnings(section.rows),  # issue 19, item 14: thousands of Gy said, not only shown
            "error": section.error and _plain_error(section.error),
            "figure": figures.to_html(figures.activity_figure(section), f"activity-{len(rendered)}")
            if section.times is not None and section.activity_MBq else None,
        })
    no_rpt = [f"{arm.get('name')}: {labels[str(arm.get('name'))]}" for arm in arms
              if isinstance(arm.get("regimen"), Mapping) and not arm["regimen"].get("rpt")]
    return {"sections": rendered, "reference": reference, "disease": scenario.get("disease"), "without_rpt": no_rpt}


def _plain_error(text: str) -> str:
    from .plain import sentence

    return sentence(text, "The regimen")


def _dose_row(row: Mapping[str, Any]) -> dict[str, Any]:
    limits = []
    for limit in row.get("limits") or ():
        limits.append({**limit, "label": _limit_label(limit), "applies": limit.get("applies", True)})
    return {**row, "limits": limits}


def _limit_label(limit: Mapping[str, Any]) -> str:
    """'bed' -> 'BED limit'; 'mean_eqd2_liver_metastases' -> 'mean EQD2 liver metastases'."""
    name, quantity = str(limit.get("name", "")), str(limit.get("quantity", ""))
    if name == quantity:
        return "absorbed-dose limit" if quantity == "dose" else f"{quantity.upper()} limit"
    words = [word.upper() if word in ("bed", "eqd2", "dose") and word == quantity else word for word in name.split("_")]
    return " ".join(words)


number = format_number  # the one definition: rptici.units.format_number


# -- one patient -------------------------------------------------------------------------------------------
def patient_default_form() -> dict[str, str]:
    """The single-patient form as first shown: the dashboard's regimen A and the example patient."""
    return {**forms.default_form(), **PATIENT_DEFAULTS}


def read_patient_form(submitted: Mapping[str, Any]) -> dict[str, str]:
    """The dashboard's fields (regimen A is used) and the patient fields, each capped in length."""
    form = forms.read_form(submitted)
    form.update({name: forms._field(submitted, name) for name in PATIENT_FORM_FIELDS})
    return form


def patient_scenario(form: Mapping[str, str], limits: WebLimits) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(simulation scenario mapping, {}) for a valid single-patient form, else (None, {form field: message})."""
    from rptici.kinetics import load_regimen
    from rptici.kinetics.schema import PatientSpec
    from rptici.simulation.scenario import load_simulation_scenario

    errors: dict[str, str] = {}
    regimen: dict[str, Any] | None = None
    try:
        schedules = [prefix for prefix, _ in forms._ici_schedules(form, PATIENT_ARM)]
    except InputError:
        schedules = []
    try:
        regimen = forms._regimen_mapping(form, PATIENT_ARM)
        load_regimen(regimen)
    except InputError as error:
        errors[forms._arm_field(PATIENT_ARM, error.field, None, schedules)] = forms._message(error)
    max_days = round(limits.max_follow_up_months * 30.4375)
    days = None
    try:
        days = forms._whole(form.get("p_days", ""), "days", 1, max_days,
                            f"a whole number of days from 1 to {max_days}")
    except InputError as error:
        errors["p_days"] = forms._message(error)
    patient: dict[str, Any] = {}
    for name, key, _, _ in PATIENT_FIELDS:
        text = form.get(name, "")
        if not text:
            continue
        if key == "lesions":
            lesions = [part.strip() for part in re.split(r"[,;]", text) if part.strip()]
            if not 1 <= len(lesions) <= MAX_LESIONS_TYPED:
                errors[name] = forms._message(InputError("lesions", text, f"1 to {MAX_LESIONS_TYPED} lesion sizes "
                                                                          "separated by commas, such as '25 mm, 12 mL'"))
                continue
            value: Any = lesions
        else:
            value = text
        try:  # each covariate alone, so that every bad one is reported beside its field
            PatientSpec.load({key: value}, "patient")
        except InputError as error:
            errors[name] = forms._message(error)
            continue
        patient[key] = value
    if "lesions" not in patient and "p_lesions" not in errors:
        errors["p_lesions"] = forms._message(InputError("lesions", "", "at least one lesion size, such as '25 mm'"))
    if errors:
        return None, errors
    scenario = {"kind": "simulation", "name": "one patient: " + forms.regimen_label(regimen), "regimen": regimen,
                "patient": patient, "days": f"{days} days", "patients": 1}
    try:
        load_simulation_scenario(scenario)
    except InputError as error:
        return None, {_patient_field(error.field): forms._message(error)}
    return scenario, {}


def _patient_field(path: str) -> str:
    """The single-patient form field of a simulation-scenario error path."""
    head, _, rest = path.partition(".")
    if head == "patient":
        key = re.sub(r"\[\d+\]$", "", rest.split(".")[0])
        return next((name for name, patient_key, *_ in PATIENT_FIELDS if patient_key == key), "form")
    if head == "regimen":
        return forms._arm_field(PATIENT_ARM, rest, None, ["ici", "ici2"])
    if head == "days":
        return "p_days"
    return "form"


def default_simulator(scenario: Mapping[str, Any]) -> Any:
    """One patient simulated with :func:`rptici.api.simulate` (daily outputs)."""
    from rptici.api import simulate

    return simulate(dict(scenario))


def patient_context(result: Any) -> dict[str, Any]:
    """What the single-patient page shows of a :func:`rptici.api.simulate` result: the figure, the read-outs at
    the end, warnings and the model status (the parameter files' values, no trial calibration)."""
    import numpy as np

    from rptici.api import simulation_summary

    from . import figures

    summary = simulation_summary(result)
    row = summary["patients"][0]
    lesions = [number(value) for value in np.atleast_1d(row["lesion_dose_Gy"])]
    return {
        "figure": figures.to_html(figures.patient_figure(result), "patient-trajectories"),
        "status": row["status"], "reason": row["reason"],
        "rows": [
            ("best change of the sum of diameters", _percent(row["best_change_percent"])),
            ("change at the end", _percent(row["final_change_percent"])),
            ("sum of diameters at baseline → end (mm)", f"{number(row['sum_of_diameters_mm'][0])} → "
                                                         f"{number(row['sum_of_diameters_mm'][-1])}"),
            ("PSA at baseline → end (ng/mL)", f"{number(row['psa_ng_per_mL'][0])} → {number(row['psa_ng_per_mL'][-1])}"),
            ("lymphocytes, lowest (10⁹/L)", number(np.nanmin(row["lymphocytes_1e9_per_L"]))),
            ("lesion dose (Gy), each lesion", ", ".join(lesions)),
            ("red-marrow dose (Gy)", number(row["marrow_dose_Gy"])),
        ],
        "warnings": summary["warnings"], "model_status": summary["model_status"], "days": summary["days"],
    }


def _percent(value: Any) -> str:
    if value is None:
        return "–"
    text = number(value, 2)
    return ("+" if text[0].isdigit() and float(value) > 0 else "") + text + " %"
