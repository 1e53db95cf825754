"""Plain words for the dashboard: the catalogue's agents with why one cannot be simulated, and the reasons a
registry trial cannot be replayed, written for a clinician (issue 19, item 8: no developer text such as
``rpt.activity: got None`` in a tooltip).

Field paths of the regimen schema (``rpt.activity``, ``ici[1].interval``) are named in words by
:data:`FIELD_WORDS`; an :class:`~rptici.errors.InputError` message (``field: got value; expected allowed``)
becomes one sentence by :func:`sentence`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from rptici.data.catalogue import checkpoint_inhibitors, radiopharmaceutical, radiopharmaceuticals
from rptici.errors import InputError
from rptici.kinetics import known_agents

#: A regimen field path (list indices removed) in words.
FIELD_WORDS = {
    "rpt": "radiopharmaceutical schedule", "rpt.agent": "radiopharmaceutical",
    "rpt.activity": "activity of the radiopharmaceutical", "rpt.activity_step": "change of activity per cycle",
    "rpt.interval": "interval between radiopharmaceutical cycles", "rpt.cycles": "number of radiopharmaceutical cycles",
    "rpt.start": "start of the radiopharmaceutical",
    "ici": "checkpoint-inhibitor schedule", "ici.agent": "checkpoint inhibitor", "ici.dose": "checkpoint-inhibitor dose",
    "ici.interval": "checkpoint-inhibitor dosing interval", "ici.infusions": "number of checkpoint-inhibitor infusions",
    "ici.duration": "checkpoint-inhibitor treatment duration", "ici.start": "start of the checkpoint inhibitor",
    "ici.infusion_time": "checkpoint-inhibitor infusion time",
    "sequence": "order of the treatments", "sequence.order": "order of the treatments",
    "sequence.lead": "lead time of the checkpoint inhibitor", "sequence.lag": "lag of the checkpoint inhibitor",
}
_MESSAGE = re.compile(r"^(?P<field>[\w.\[\]]+): got (?P<value>.+?); expected (?P<allowed>.+)$", re.S)
_NOT_IN_CATALOGUE = re.compile(r"^(?P<field>[\w.\[\]]+)\.agent '(?P<agent>.+)' is not in the catalogue$")
_NO_BIOKINETICS = re.compile(r"^(?:rpt\.agent '|no biokinetics for )(?P<agent>.+?)(?:' has no biokinetics| yet\b)")
_NO_POPULATION = re.compile(r"^no virtual population for the disease '(?P<disease>.+)'$")
_SEQUENCE = re.compile(r"^sequence '(?P<value>.+)' is not one of")


def field_words(path: str) -> str:
    """``rpt.activity`` -> 'activity of the radiopharmaceutical'; ``ici[1].dose`` -> 'dose of the second
    checkpoint inhibitor'; an unknown path its last part with spaces."""
    match = re.match(r"^ici\[(\d+)\](.*)$", path)
    if match:
        words = FIELD_WORDS.get("ici" + match.group(2), path)
        ordinal = ("first", "second", "third", "fourth")[min(int(match.group(1)), 3)]
        return words.replace("checkpoint-inhibitor", f"{ordinal} checkpoint-inhibitor") \
            .replace("checkpoint inhibitor", f"{ordinal} checkpoint inhibitor")
    return FIELD_WORDS.get(path, path.rsplit(".", 1)[-1].replace("_", " "))


def simulatable() -> str:
    """The radiopharmaceuticals the engine can simulate, in words."""
    return ", ".join(sorted(known_agents()))


def no_biokinetics(agent: str) -> str:
    return (f"rptici has no biokinetic model for {agent} yet, so it cannot be simulated "
            f"(it can simulate {simulatable()})")


def sentence(problem: str | InputError, subject: str = "The trial record") -> str:
    """One problem (an InputError or its message, or a registry reason) as a plain sentence."""
    text = str(problem).strip()
    for pattern, build in (
            (_NO_BIOKINETICS, lambda m: no_biokinetics(m["agent"]) + "."),
            (_NOT_IN_CATALOGUE, lambda m: f"{subject} names the {field_words(m['field'] + '.agent')} "
                                          f"'{m['agent']}', which is not in rptici's catalogue."),
            (_NO_POPULATION, lambda m: f"rptici has no virtual population of patients with {m['disease']} yet."),
            (_SEQUENCE, lambda m: f"{subject} gives the order of the treatments as '{m['value']}', which the model "
                                  "does not know (it knows concurrent, checkpoint inhibitor first, radiopharmaceutical "
                                  "first)."),
    ):
        match = pattern.match(text)
        if match:
            return build(match)
    match = _MESSAGE.match(text)
    if match:
        words = field_words(match["field"])
        if match["value"] == "None":
            return f"{subject} does not give the {words}, so the regimen cannot be rebuilt."
        allowed = re.sub(r"^a value \(this field is required\)$", "a value", match["allowed"])
        return f"{subject} gives the {words} as {match['value']}; the model needs {allowed}."
    if text == "no RPT or ICI regimen in the source":
        return f"{subject} gives no radiopharmaceutical or checkpoint-inhibitor regimen."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def sentences(problems: Iterable[str]) -> str:
    """Several problems as sentences, each once."""
    return " ".join(dict.fromkeys(sentence(problem) for part in problems for problem in _split(part)))


def _split(reason: str) -> list[str]:
    """A registry reason may join several messages with '; ' (each itself 'field: got v; expected a')."""
    pieces = re.split(r"; (?=[\w.\[\]]+: got |\w[\w .]*: [\w.\[\]]+: got |no biokinetics for )", reason)
    return [piece for piece in pieces if piece]


def replay_reason(record: Any) -> str:
    """Why ``record`` cannot be replayed, in sentences (arm names in front when the reason is an arm's)."""
    if record.population is None:
        return sentence(f"no virtual population for the disease {record.disease!r}")
    parts = []
    for status in record.regimens:
        if status.replayable or not status.reason:
            continue
        text = " ".join(dict.fromkeys(sentence(piece) for piece in _split(str(status.reason))))
        parts.append(f"Arm '{status.arm}': {text}" if status.arm else text)
    return " ".join(dict.fromkeys(parts)) or "The trial record gives no regimen the model can run."


def _brand(aliases: Iterable[str]) -> str | None:
    """The first alias that looks like a brand name (a capitalised word)."""
    return next((alias for alias in aliases if re.fullmatch(r"[A-Z][a-z]+", alias)), None)


def rpt_agent_options() -> list[dict[str, Any]]:
    """Every catalogued radiopharmaceutical: {value, label, reason} with ``reason`` None when it can be simulated,
    else why not in words (those are offered greyed out)."""
    simulated = set(known_agents())
    options = []
    for name, agent in radiopharmaceuticals().items():
        brand = _brand(agent.aliases)
        label = f"{name} ({brand})" if brand else name
        reason = None
        if name not in simulated:
            status = f"{agent.status}; " if agent.status in ("withdrawn", "investigational", "preclinical") else ""
            reason = f"{status}no biokinetic model in rptici yet, so it cannot be simulated"
        options.append({"value": name, "label": label, "reason": reason})
    return sorted(options, key=lambda option: (option["reason"] is not None, option["value"]))


def ici_agent_options() -> list[dict[str, Any]]:
    """Every catalogued checkpoint inhibitor: {value, label, reason} (target in the label; ``reason`` when it
    has no pharmacokinetic or binding model)."""
    options = []
    for name, agent in checkpoint_inhibitors().items():
        brand = _brand(agent.aliases)
        label = f"{name} ({brand}, anti-{agent.target})" if brand else f"{name} (anti-{agent.target})"
        reason = None
        if getattr(agent, "pk", None) is None:
            reason = "no pharmacokinetic model in rptici yet, so it cannot be simulated"
        elif getattr(agent, "binding", None) is None:
            reason = "no target-binding data in rptici yet, so it cannot be simulated"
        options.append({"value": name, "label": label, "reason": reason})
    return sorted(options, key=lambda option: (option["reason"] is not None, option["value"]))


def unsimulatable_rpt(name: str) -> str | None:
    """Why the radiopharmaceutical ``name`` (any alias) cannot be simulated, or None (unknown names: None; the
    schema reports them)."""
    try:
        standard = radiopharmaceutical(name).name
    except InputError:
        return None
    return None if standard in known_agents() else no_biokinetics(standard)
