"""The dashboard form: flat HTML field names to and from a trial scenario mapping, with validation.

The form has global fields (``disease``, ``patients`` per arm, ``follow_up_months``, ``seed``, ``compare``,
``control``) and, for each regimen (prefix ``a_`` and, when comparing, ``b_``), the fields
``rpt_agent``, ``rpt_activity``, ``rpt_activity_step``, ``rpt_interval``, ``rpt_cycles``, ``ici_agent``, ``ici_dose``, ``ici_interval``,
``ici_infusions``, ``sequence_order`` and ``sequence_offset`` (the ICI lead for ``ici_first``, the ICI lag for
``rpt_first``), and for a second checkpoint inhibitor in the same arm (a doublet such as nivolumab + ipilimumab,
CheckMate 650) ``ici2_agent``, ``ici2_dose``, ``ici2_interval``, ``ici2_infusions`` and ``ici2_start``. The
infusions fields take a whole number of infusions or a treatment duration ('2 years').

Every catalogued agent is offered; those the engine cannot simulate are greyed out with the reason in words
(:mod:`rptici.web.plain`), and a submitted one is refused with that reason.

Validation goes through the same models as scenario files (:func:`rptici.kinetics.load_regimen`, and
:func:`rptici.trials.scenario.load_trial_scenario` when it is installed); an
:class:`~rptici.errors.InputError` names a field path such as ``rpt.activity`` or ``arms.1.regimen.ici.dose``,
which :func:`form_field` turns into the form field the message is shown beside.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import yaml

from rptici.data.catalogue import checkpoint_inhibitors, radiopharmaceutical
from rptici.errors import InputError
from rptici.kinetics import known_agents, load_regimen
from rptici.kinetics.regimen import ORDERS
from rptici.population import known_diseases

from .limits import WebLimits

ARMS = ("a", "b")
ICI_FIELDS = ("agent", "dose", "interval", "infusions")
#: Form prefixes of the checkpoint-inhibitor schedules of an arm (the regimen's ``ici`` list, in order).
ICI_PREFIXES = ("ici", "ici2")
ARM_FIELDS = ("rpt_agent", "rpt_activity", "rpt_activity_step", "rpt_interval", "rpt_cycles",
              *(f"{prefix}_{key}" for prefix in ICI_PREFIXES for key in ICI_FIELDS), "ici2_start",
              "sequence_order", "sequence_offset")
GLOBAL_FIELDS = ("disease", "patients", "follow_up_months", "seed")
CHECKBOXES = ("compare", "control")
NONE = ""  # the value of "no radiopharmaceutical" / "no checkpoint inhibitor"

#: Regimen field path (as :func:`load_regimen` reports it) -> arm form field.
_REGIMEN_FIELDS = {
    "rpt": "rpt_agent", "rpt.agent": "rpt_agent", "rpt.activity": "rpt_activity", "rpt.activity_step": "rpt_activity_step",
    "rpt.interval": "rpt_interval", "rpt.cycles": "rpt_cycles", "rpt.start": "sequence_offset",
    "ici": "ici_agent", "ici.agent": "ici_agent", "ici.dose": "ici_dose", "ici.interval": "ici_interval",
    "ici.infusion_time": "ici_interval", "ici.infusions": "ici_infusions", "ici.duration": "ici_infusions",
    "ici.start": "sequence_offset",
    "ici2": "ici2_agent", "ici2.agent": "ici2_agent", "ici2.dose": "ici2_dose", "ici2.interval": "ici2_interval",
    "ici2.infusion_time": "ici2_interval", "ici2.infusions": "ici2_infusions", "ici2.duration": "ici2_infusions",
    "ici2.start": "ici2_start",
    "sequence": "sequence_order", "sequence.order": "sequence_order", "sequence.lead": "sequence_offset",
    "sequence.lag": "sequence_offset",
}
_GLOBAL_PATHS = {"disease": "disease", "patients": "patients", "patients_per_arm": "patients",
                 "follow_up": "follow_up_months", "seed": "seed"}
_ARM_PATH = re.compile(r"^arms(?:\.(\d+)|\[(\d+)\])\.(?:regimen\.)?(.*)$")  # arms.1.… or arms[1].…


def default_calibration() -> str | None:
    """'default' when the packaged calibration is installed; else None (the model's own parameters), so that
    the dashboard still runs where ``rptici calibrate`` has not written one yet."""
    try:
        from rptici.trials.scenario import DEFAULT_CALIBRATION, load_calibration
    except ImportError:
        return None
    try:
        load_calibration(DEFAULT_CALIBRATION)
    except InputError:
        return None
    return DEFAULT_CALIBRATION


def disease_options() -> list[tuple[str, str]]:
    """(population name, its title) for the disease select."""
    from rptici.population import load_disease

    return [(name, f"{name}: {load_disease(name).title}") for name in known_diseases()]


def rpt_agents() -> list[str]:
    """Radiopharmaceuticals the engine can simulate (those with biokinetics), by standard name."""
    return sorted(known_agents())


def ici_agents() -> list[str]:
    return sorted(checkpoint_inhibitors())


def rpt_agent_options() -> list[dict[str, Any]]:
    """Every catalogued radiopharmaceutical for the select: {value, label, reason (None: can be simulated)}."""
    from .plain import rpt_agent_options as options

    return options()


def ici_agent_options() -> list[dict[str, Any]]:
    """Every catalogued checkpoint inhibitor for the select: {value, label, reason (None: can be simulated)}."""
    from .plain import ici_agent_options as options

    return options()


def regimen_field(path: str) -> str:
    """The arm form field (without its ``a_``/``b_`` prefix) of a regimen field path: ``rpt.activity`` ->
    ``rpt_activity``, ``ici[1].dose`` -> ``ici2_dose`` (``ici[0]`` is the first schedule's ``ici_`` fields)."""
    match = re.match(r"^ici\[(\d+)\](.*)$", path)
    if match:
        index = int(match.group(1))
        path = (ICI_PREFIXES[index] if index < len(ICI_PREFIXES) else "ici2") + match.group(2)
    return _REGIMEN_FIELDS.get(path, _REGIMEN_FIELDS.get(path.split(".")[0], "rpt_agent"))


def default_form() -> dict[str, str]:
    """The form as first shown: Lu-PSMA-617 7.4 GBq q6w x 6 with pembrolizumab 200 mg q3w in mCRPC (PRINCE-like;
    label doses, Pluvicto and Keytruda prescribing information)."""
    arm = {"rpt_agent": "[177Lu]Lu-PSMA-617", "rpt_activity": "7.4 GBq", "rpt_activity_step": "",
           "rpt_interval": "6 weeks", "rpt_cycles": "6",
           "ici_agent": "pembrolizumab", "ici_dose": "200 mg", "ici_interval": "q3w", "ici_infusions": "35",
           "ici2_agent": NONE, "ici2_dose": "", "ici2_interval": "", "ici2_infusions": "", "ici2_start": "",
           "sequence_order": "concurrent", "sequence_offset": ""}
    second = dict(arm, ici_agent=NONE)
    form = {"disease": "mcrpc", "patients": "100", "follow_up_months": "24", "seed": "1", "compare": "", "control": ""}
    form.update({f"a_{key}": value for key, value in arm.items()})
    form.update({f"b_{key}": value for key, value in second.items()})
    return form


#: Longest value a form field may hold; longer ones are refused before any parsing (a value is a number with
#: its unit or a name: 200 characters is ample, and parsing time must stay bounded).
MAX_FIELD_CHARACTERS = 200


def _field(submitted: Mapping[str, Any], name: str) -> str:
    value = str(submitted.get(name, "") or "").strip()
    if len(value) > MAX_FIELD_CHARACTERS:
        raise InputError(name, f"{len(value)} characters", f"at most {MAX_FIELD_CHARACTERS} characters")
    return value


def read_form(submitted: Mapping[str, Any]) -> dict[str, str]:
    """The known fields of a submitted form as stripped strings (unchecked checkboxes as ''); a value longer
    than :data:`MAX_FIELD_CHARACTERS` is an InputError."""
    form = {name: _field(submitted, name) for name in GLOBAL_FIELDS}
    form.update({name: "on" if submitted.get(name) not in (None, "", "off") else "" for name in CHECKBOXES})
    for arm in ARMS:
        form.update({f"{arm}_{key}": _field(submitted, f"{arm}_{key}") for key in ARM_FIELDS})
    return form


def form_field(path: str, arm_fields: list[str]) -> str:
    """The form field an InputError path belongs to; ``arm_fields`` maps scenario arm index -> form prefix
    (None for the control arm). Unplaceable paths give ``"form"`` (shown above the form)."""
    match = _ARM_PATH.match(path)
    if match:
        index, rest = int(match.group(1) or match.group(2)), match.group(3)
        prefix = arm_fields[index] if index < len(arm_fields) else None
        if prefix is None:
            return "control" if index < len(arm_fields) else "form"
        return f"{prefix}_{regimen_field(rest)}"
    head = path.split(".")[0]
    return _GLOBAL_PATHS.get(path, _GLOBAL_PATHS.get(head, "form"))


def _whole(text: str, field: str, low: int, high: int | None, what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InputError(field, text, what) from None
    if not math.isfinite(value) or value != int(value) or value < low or (high is not None and value > high):
        raise InputError(field, text, what)
    return int(value)


def _infusions(text: str, field: str) -> dict[str, Any]:
    """``{'infusions': n}`` for a whole number, ``{'duration': text}`` for a duration such as '2 years'."""
    if text and not re.fullmatch(r"[\s\d.eE+-]*", text):
        return {"duration": text}
    return {"infusions": _whole(text or "0", field, 1, 200, "a whole number of infusions from 1 to 200, "
                                                            "or a treatment duration such as '2 years'")}


def _ici_schedules(form: Mapping[str, str], arm: str) -> list[tuple[str, dict[str, Any]]]:
    """(form prefix, schedule mapping) of each checkpoint inhibitor chosen in arm ``arm``, in order."""
    schedules = []
    for prefix in ICI_PREFIXES:
        value = lambda key: form.get(f"{arm}_{prefix}_{key}", "")  # noqa: E731
        if not value("agent"):
            continue
        schedule: dict[str, Any] = {"agent": value("agent"), "dose": value("dose"), "interval": value("interval"),
                                    **_infusions(value("infusions"), f"{prefix}.infusions")}
        if prefix != "ici" and value("start"):
            schedule["start"] = value("start")
        schedules.append((prefix, schedule))
    return schedules


def _arm_field(arm: str, path: str, prefix: str | None, prefixes: list[str]) -> str:
    """The form field of arm ``arm`` that an error at regimen ``path`` belongs to; ``prefix``: the ICI schedule
    validated alone (its paths start with ``ici``), ``prefixes``: the form prefix of each of the arm's schedules."""
    single = path == "ici" or path.startswith("ici.")
    if prefix is not None and single:
        path = prefix + path[3:]
    else:
        match = re.match(r"^ici\[(\d+)\](.*)$", path)
        if match and int(match.group(1)) < len(prefixes):
            path = prefixes[int(match.group(1))] + match.group(2)
        elif single and prefixes:
            path = prefixes[0] + path[3:]
    return f"{arm}_{regimen_field(path)}"


def _regimen_mapping(form: Mapping[str, str], arm: str) -> dict[str, Any]:
    """The regimen mapping of arm ``arm`` (``a`` or ``b``) as written in a scenario file: ``ici`` is one schedule,
    or a list of two for a doublet."""
    from .plain import unsimulatable_rpt

    value = lambda key: form.get(f"{arm}_{key}", "")  # noqa: E731
    mapping: dict[str, Any] = {}
    if value("rpt_agent"):
        reason = unsimulatable_rpt(value("rpt_agent"))
        if reason:
            raise InputError("rpt.agent", value("rpt_agent"), "a radiopharmaceutical the model can simulate: " + reason)
        rpt: dict[str, Any] = {"agent": value("rpt_agent"), "activity": value("rpt_activity")}
        if value("rpt_activity_step"):
            rpt["activity_step"] = value("rpt_activity_step")
        cycles = _whole(value("rpt_cycles") or "1", "rpt.cycles", 1, 50, "a whole number of cycles from 1 to 50")
        rpt["cycles"] = cycles
        if value("rpt_interval") or cycles > 1:
            rpt["interval"] = value("rpt_interval") or None
        mapping["rpt"] = rpt
    schedules = [schedule for _, schedule in _ici_schedules(form, arm)]
    if schedules:
        mapping["ici"] = schedules[0] if len(schedules) == 1 else schedules
    if not mapping:
        raise InputError("rpt.agent", "none", "a radiopharmaceutical, a checkpoint inhibitor, or both")
    order = value("sequence_order") or "concurrent"
    sequence: dict[str, Any] = {"order": order}
    if order == "ici_first":
        sequence["lead"] = value("sequence_offset") or None
    elif order == "rpt_first":
        sequence["lag"] = value("sequence_offset") or None
    elif order not in ORDERS:
        raise InputError("sequence.order", order, "one of " + ", ".join(ORDERS))
    mapping["sequence"] = sequence
    return mapping


def regimen_label(regimen: Mapping[str, Any] | None) -> str:
    """A short description of a regimen mapping for legends and tables."""
    if not regimen:
        return "control (no RPT, no ICI)"
    parts = []
    rpt, ici = regimen.get("rpt"), regimen.get("ici")
    if rpt:
        try:
            name = radiopharmaceutical(rpt["agent"]).name
        except InputError:
            name = str(rpt["agent"])
        cycles = rpt.get("cycles", 1)
        step = f" ({rpt['activity_step']} per cycle)" if rpt.get("activity_step") else ""
        parts.append(f"{name} {rpt.get('activity')}{step}" + (f" ×{cycles} every {rpt.get('interval')}" if cycles != 1 else ""))
    for schedule in (ici if isinstance(ici, (list, tuple)) else [ici] if ici else []):  # one schedule or phases
        parts.append(f"{schedule['agent']} {schedule.get('dose')} {schedule.get('interval')} "
                     f"×{schedule.get('infusions', '')}".rstrip(" ×"))
    sequence = regimen.get("sequence") or {}
    order = sequence.get("order", "concurrent")
    joined = " + ".join(parts)
    if order == "ici_first":
        joined += f" (ICI first, lead {sequence.get('lead')})"
    elif order == "rpt_first":
        joined += f" (RPT first, ICI lag {sequence.get('lag')})"
    return joined


def validate(form: Mapping[str, str], limits: WebLimits) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(scenario mapping, {}) for a valid form, else (None, {form field: message})."""
    errors: dict[str, str] = {}
    disease = form.get("disease", "")
    if disease not in known_diseases():
        errors["disease"] = f"Unknown disease {disease!r}: choose one of {', '.join(known_diseases())}."
    patients = follow_up = seed = None
    try:
        patients = _whole(form.get("patients", ""), "patients", 1, limits.max_patients,
                          f"a whole number of virtual patients per arm from 1 to {limits.max_patients}")
    except InputError as error:
        errors["patients"] = _message(error)
    try:
        follow_up = float(form.get("follow_up_months", ""))
        if not (math.isfinite(follow_up) and 0 < follow_up <= limits.max_follow_up_months):
            raise ValueError
    except ValueError:
        errors["follow_up_months"] = _message(InputError(
            "follow_up", form.get("follow_up_months", ""),
            f"a follow-up in months, above 0 and at most {limits.max_follow_up_months:g}"))
    try:
        seed = _whole(form.get("seed", ""), "seed", 0, 2**32 - 1, "a whole number from 0 to 4294967295")
    except InputError as error:
        errors["seed"] = _message(error)
    arms_used = ["a", "b"] if form.get("compare") else ["a"]
    arms: list[dict[str, Any]] = []
    arm_fields: list[str | None] = []
    for arm in arms_used:
        try:
            regimen = _regimen_mapping(form, arm)
            schedules = _ici_schedules(form, arm)
        except InputError as error:
            errors[f"{arm}_{regimen_field(error.field)}"] = _message(error)
            continue
        # each schedule alone first, so that a bad activity and a bad ICI interval are both reported
        parts: list[tuple[dict[str, Any], str | None]] = [({"rpt": regimen["rpt"]}, None)] if "rpt" in regimen else []
        parts += [({"ici": schedule}, prefix) for prefix, schedule in schedules]
        parts.append((regimen, None))
        failed = False
        for part, prefix in parts:
            try:
                load_regimen(part)
            except InputError as error:
                errors.setdefault(_arm_field(arm, error.field, prefix, [name for name, _ in schedules]),
                                  _message(error))
                failed = True
                if part is not regimen:
                    continue
            if failed:
                break
        if failed:
            continue
        arms.append({"name": arm.upper(), "regimen": regimen, "patients": patients})
        arm_fields.append(arm)
    if form.get("control"):
        arms.append({"name": "control", "regimen": None, "control": True, "patients": patients})
        arm_fields.append(None)
    elif len(arms) == 2:
        arms[0]["control"] = True  # comparing A and B: B's hazard ratios are against A
    if errors:
        return None, errors
    scenario = {
        "name": " vs ".join(f"{arm['name']}: {regimen_label(arm['regimen'])}" if arm["regimen"] else arm["name"]
                            for arm in arms),
        "disease": disease,
        "follow_up": f"{follow_up:g} months",
        "seed": seed,
        "arms": arms,
        "calibration": default_calibration(),
    }
    return _check_scenario(scenario, arm_fields)


def _check_scenario(scenario: dict[str, Any], arm_fields: list[str | None]
                    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Validate the whole scenario with the trial-scenario schema when it is installed."""
    try:
        from rptici.trials.scenario import load_trial_scenario
    except ImportError:  # the scenario schema is not installed: the regimens were validated above
        return scenario, {}
    try:
        load_trial_scenario(scenario)
    except InputError as error:
        return None, {form_field(error.field, arm_fields): _message(error)}  # type: ignore[arg-type]
    return scenario, {}


def _message(error: InputError) -> str:
    """What the user sees beside the field: the value and what is allowed."""
    value = "nothing" if error.value in (None, "") else repr(error.value)
    return f"Got {value}; expected {error.allowed}."


def form_from_scenario(text: str, limits: WebLimits) -> dict[str, str]:
    """The form filled from a scenario file's text; InputError(field 'scenario_file') when it cannot be read."""
    if len(text.encode("utf-8")) > limits.max_upload_bytes:
        raise InputError("scenario_file", f"{len(text)} characters", f"a file of at most {limits.max_upload_bytes} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError("scenario_file", "unreadable YAML", f"a YAML scenario file ({str(error).splitlines()[0]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("arms"), list):
        raise InputError("scenario_file", type(data).__name__, "a scenario mapping with a list of arms")
    form = default_form()
    form.update({"compare": "", "control": ""})
    for key in ("disease", "patients", "seed"):
        if data.get(key) is not None:
            form[key] = str(data[key])
    per_arm = [arm.get("patients") for arm in data["arms"] if isinstance(arm, Mapping)]
    if per_arm and per_arm[0] is not None:
        form["patients"] = str(per_arm[0])
    elif data.get("patients") is not None and data["arms"]:
        form["patients"] = str(max(1, int(data["patients"]) // len(data["arms"])))
    follow_up = data.get("follow_up")
    if follow_up is not None:
        match = re.fullmatch(r"\s*([0-9.]+)\s*(months?|mo)?\s*", str(follow_up))
        form["follow_up_months"] = match.group(1) if match else str(follow_up)
    treated = []
    for arm in data["arms"]:
        if not isinstance(arm, Mapping):
            raise InputError("scenario_file", type(arm).__name__, "arms that are mappings with a name and a regimen")
        if arm.get("regimen") is None:
            form["control"] = "on"
        else:
            treated.append(arm["regimen"])
    if not 1 <= len(treated) <= len(ARMS):
        raise InputError("scenario_file", f"{len(treated)} treated arms", "one or two treated arms (and a control)")
    for prefix, regimen in zip(ARMS, treated):
        if not isinstance(regimen, Mapping):
            raise InputError("scenario_file", type(regimen).__name__, "a regimen mapping with rpt, ici, sequence")
        rpt, ici = regimen.get("rpt") or {}, regimen.get("ici") or []
        schedules = list(ici) if isinstance(ici, (list, tuple)) else [ici]
        if len(schedules) > len(ICI_PREFIXES) or not all(isinstance(item, Mapping) for item in schedules) \
                or not isinstance(rpt, Mapping):
            raise InputError("scenario_file", f"{len(schedules)} ICI schedules" if len(schedules) > len(ICI_PREFIXES)
                             else "a regimen entry that is not a mapping",
                             f"at most {len(ICI_PREFIXES)} checkpoint-inhibitor schedules per arm, each a mapping "
                             "(run longer sequences, such as CheckMate 650's three phases, with `rptici trial run`)")
        if schedules and schedules[0].get("start") not in (None, 0, "0", "0 d", "0 days"):
            raise InputError("scenario_file", f"start: {schedules[0].get('start')}",
                             "a first checkpoint-inhibitor schedule starting on day 0 (use the sequence's lead or lag)")
        sequence = regimen.get("sequence") or {}
        values = {
            "rpt_agent": _agent_name(rpt.get("agent")), "rpt_activity": rpt.get("activity"),
            "rpt_activity_step": rpt.get("activity_step"),
            "rpt_interval": rpt.get("interval"), "rpt_cycles": rpt.get("cycles", 1 if rpt else ""),
            "sequence_order": sequence.get("order", "concurrent"),
            "sequence_offset": sequence.get("lead") or sequence.get("lag"),
        }
        for ici_prefix, schedule in zip(ICI_PREFIXES, schedules + [{}] * len(ICI_PREFIXES)):
            values.update({f"{ici_prefix}_{key}": schedule.get(key) for key in ("agent", "dose", "interval")})
            values[f"{ici_prefix}_infusions"] = schedule.get("infusions", schedule.get("duration"))
            if ici_prefix != "ici":
                values[f"{ici_prefix}_start"] = schedule.get("start")
        form.update({f"{prefix}_{key}": "" if value is None else str(value) for key, value in values.items()})
    if len(treated) == 2:
        form["compare"] = "on"
    return form


def _agent_name(name: object) -> object:
    """The catalogue's standard name for an alias (so the select shows it); the text itself when unknown."""
    if not name:
        return name
    try:
        return radiopharmaceutical(str(name)).name
    except InputError:
        return name


def scenario_yaml(scenario: Mapping[str, Any]) -> str:
    """The scenario as the YAML file a user downloads (and can load back)."""
    header = "# rptici virtual-trial scenario written by the dashboard; `rptici trial run` reads it.\n"
    return header + yaml.safe_dump(dict(scenario), sort_keys=False, allow_unicode=True)
