"""Each agent's absorbed dose per administered activity against the organ and tumour doses published for it.

A biokinetics data file (``rptici/data/biokinetics/*.yaml``) may list ``published_doses``: entries
``{region, low, high, unit, source}`` (low = high for a single published value; ``unit`` a dose per activity
such as ``Gy/GBq``, ``mGy/MBq`` or, for a mouse agent, ``Gy/MBq``; optional ``rbe`` for an RBE-weighted value
and ``nuclide`` for a value published for the same carrier with another label, e.g. the imaging analogue
89Zr-girentuximab: the model then runs with that nuclide's decay and emissions; ``calibrated: true`` for a value
the file's rates were calibrated to, so that the table tells calibration targets from independent checks;
``lesion_mass`` (e.g. ``10 g``) for a tumour region whose lesions differ from :data:`REFERENCE_LESION_G`).
:func:`comparison` evaluates the model for the reference patient of the agent (the ICRP 89 adult male, or the reference mouse of a ``species: mouse`` agent) by the dosimetry of
``rptici regimen dose`` (:func:`rptici.radiobiology.regimen_dose.regimen_dose`: closed-form biokinetics,
self-dose S-values) after one administration, with one lesion of :data:`REFERENCE_LESION_G` so that tumour
regions exist. :func:`agents_table` writes the table of ``docs/agents.md`` from the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..units import parse_quantity, registry

#: Widening of a published range for the comparison: the model (one reference patient, reference organ masses,
#: self-dose only) must lie in [low / TOLERANCE, high × TOLERANCE]. A factor 1.5 because (1) a published single
#: value is a cohort mean or median with an inter-patient spread of 30-60 % (coefficient of variation) and the
#: published ranges span up to a factor 10 between patients, (2) patient organ masses differ from the ICRP 89
#: reference masses (CT-based and reference-mass organ doses of the same 131I-tositumomab patients differ by a
#: factor 1.2-4, Rajendran et al. 2008 J Nucl Med 49:837), and (3) the model leaves out photon cross-dose (up to
#: about 20 % of an organ dose for 131I and 177Lu).
TOLERANCE = 1.5
#: Lesion mass (g) of the reference patient for tumour regions (the 10-30 g of the data files' calibrations),
#: and of the reference mouse (a 0.1 g, about 6 mm, syngeneic tumour).
REFERENCE_LESION_G = {"human": 20.0, "mouse": 0.1}
#: Region names that mean the tumour (the model's ``lesion_1``).
TUMOUR_REGIONS = ("tumour", "tumor", "lesion", "lesion_1")
#: Activity of the single administration: 1 GBq (human) or 1 MBq (mouse); doses are linear in activity.
REFERENCE_ACTIVITY = {"human": "1 GBq", "mouse": "1 MBq"}


@dataclass(frozen=True)
class Comparison:
    """One published region of one agent: the published range and the model, both in ``unit``."""

    agent: str
    region: str
    low: float
    high: float
    unit: str
    source: str
    model: float
    rbe: float | None = None
    nuclide: str | None = None
    calibrated: bool = False

    @property
    def lower_bound(self) -> float:
        return self.low / TOLERANCE

    @property
    def upper_bound(self) -> float:
        return self.high * TOLERANCE

    @property
    def within(self) -> bool:
        """The model inside the published range widened by :data:`TOLERANCE`."""
        return self.lower_bound <= self.model <= self.upper_bound


def _per_GBq(unit: str, field: str) -> float:
    """Gy/GBq per one ``unit`` (a dose per activity, e.g. mGy/MBq → 1, Gy/MBq → 1000)."""
    try:
        return float(registry().Quantity(1.0, str(unit).replace("Sv", "Gy")).to("Gy/GBq").magnitude)
    except Exception:  # pint raises several error types for an unknown or wrong-dimension unit
        raise InputError(field, unit, "a dose per activity such as Gy/GBq, mGy/MBq or Gy/MBq") from None


def published_doses(agent: str) -> list[dict]:
    """The checked ``published_doses`` entries of ``agent``'s data file (empty when it has none)."""
    from ..kinetics.biokinetics import agent_parameters

    parameters = agent_parameters(agent)
    entries = parameters.get("published_doses") or []
    name = parameters["agent"]
    result = []
    for number, entry in enumerate(entries):
        field = f"{name}.published_doses[{number}]"
        if not isinstance(entry, dict):
            raise InputError(field, entry, "a mapping {region, low, high, unit, source}")
        missing = [key for key in ("region", "low", "high", "unit", "source") if key not in entry]
        if missing:
            raise InputError(f"{field}.{missing[0]}", None, "a value (region, low, high, unit and source are required)")
        low, high = entry["low"], entry["high"]
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value > 0
                   for value in (low, high)) or low > high:
            raise InputError(f"{field}.low", (low, high), "published doses 0 < low <= high")
        _per_GBq(entry["unit"], f"{field}.unit")
        if not str(entry["source"]).strip():
            raise InputError(f"{field}.source", entry["source"], "the publication the values are from")
        result.append(dict(entry))
    return result


def _species(agent: str) -> str:
    from ..kinetics.biokinetics import agent_parameters

    return "mouse" if agent_parameters(agent).get("species") == "mouse" else "human"


def model_doses(agent: str, rbe: float | None = None, nuclide: str | None = None,
                lesion_mass_g: float | None = None, patient: dict | None = None, state: str | None = None,
                release: bool = True) -> dict[str, float]:
    """Model absorbed dose per administered activity (Gy/GBq) of every target of ``agent`` (self-dose with the
    agent's own dosimetry blocks, as the trial runner) for its reference patient with one lesion (``lesion_1`` of
    ``lesion_mass_g``, default :data:`REFERENCE_LESION_G`), or for ``patient`` (a :class:`PatientSpec` mapping: a
    child of a paediatric study); RBE-weighted with ``rbe`` when given; with ``nuclide`` in place of the agent's
    radionuclide, the biokinetic ``state`` (radioiodine: ``withdrawal``), and ``release`` False to leave freed
    daughters where their parent decays (a published estimate that did not model their release)."""
    from ..dosimetry.dose_rate import dose_rate_modes
    from ..kinetics.biokinetics import (Covariates, agent_parameters, biokinetic_model, body_masses_g, subject,
                                        subject_covariates)
    from ..kinetics.schema import PatientSpec
    from ..radiobiology.regimen_dose import target_masses

    parameters = dict(agent_parameters(agent))
    if not release:
        parameters.pop("daughters", None)
    if patient:
        spec = PatientSpec(**patient)
        covariates, sex = spec.kinetic_covariates(), spec.sex or "male"
    else:
        mass = REFERENCE_LESION_G[_species(agent)] if lesion_mass_g is None else lesion_mass_g
        covariates, sex = Covariates.reference("male", 1, np.array([[mass]])), "male"
    covariates, subject_sex = subject_covariates(parameters, covariates, sex), subject(parameters, sex)
    model = biokinetic_model(agent, covariates, sex, state=state, nuclide=nuclide)
    masses = target_masses(agent, covariates, model.compartments, sex)
    modes = dose_rate_modes(model, nuclide or parameters["nuclide"], masses, parameters.get("bone_dosimetry"),
                            agent=parameters, body_masses=body_masses_g(covariates, subject_sex))
    per_GBq = modes.dose_per_activity(1.0 if rbe is None else float(rbe))[0] * 1000.0
    return {target: float(value) for target, value in zip(modes.targets, per_GBq)}


def _model_region(region: str, doses: dict[str, float], agent: str) -> float:
    name = "lesion_1" if region in TUMOUR_REGIONS else region
    if name not in doses:
        raise InputError(f"{agent}.published_doses.region", region,
                         "a target of the model: " + ", ".join(list(doses) + ["tumour"]))
    return doses[name]


def comparison(agent: str) -> list[Comparison]:
    """The model against every ``published_doses`` entry of ``agent``, in each entry's unit."""
    from ..kinetics.biokinetics import agent_parameters

    name = agent_parameters(agent)["agent"]
    rows, cache = [], {}
    for entry in published_doses(agent):
        mass = entry.get("lesion_mass")
        if mass is not None:
            mass = parse_quantity(mass, "mass", f"{name}.published_doses.lesion_mass", require_unit=True)
            if not np.isfinite(mass) or mass <= 0:
                raise InputError(f"{name}.published_doses.lesion_mass", entry["lesion_mass"], "a positive mass ('10 g')")
        key = (entry.get("rbe"), entry.get("nuclide"), mass)
        options = {"patient": entry.get("patient"), "state": entry.get("state"),
                   "release": entry.get("daughters_released", True)}
        full = key + (repr(options),)
        if full not in cache:
            cache[full] = model_doses(agent, *key, **options)
        model = _model_region(str(entry["region"]), cache[full], name) / _per_GBq(entry["unit"], "unit")
        rows.append(Comparison(name, str(entry["region"]), float(entry["low"]), float(entry["high"]),
                               str(entry["unit"]), str(entry["source"]), model, *key[:2],
                               bool(entry.get("calibrated"))))
    return rows


def agents_with_published_doses() -> tuple[str, ...]:
    """Agents whose biokinetics data file lists ``published_doses``."""
    from ..kinetics.biokinetics import agent_parameters, known_agents

    return tuple(agent for agent in known_agents() if agent_parameters(agent).get("published_doses"))


def _number(value: float) -> str:
    return f"{value:.3g}"


def _bexxar_activity_GBq() -> float:
    """The model's activity (GBq) of [131I]I-tositumomab for the label's 0.75 Gy total-body dose, reference adult."""
    from ..radiobiology.regimen_dose import activity_for_total_body_dose

    return float(activity_for_total_body_dose("[131I]I-tositumomab")[0]) / 1000.0


def agents_table() -> str:
    """The Markdown of ``docs/agents.md``: one row per agent and published region (model, published range,
    source) and the agents with biokinetics but no published doses in their file."""
    from ..kinetics.biokinetics import agent_parameters, known_agents

    lines = [
        "# Agents: model dose per activity against published doses",
        "",
        "Generated by `rptici.analysis.published_doses.write_agents_doc()` from the `published_doses` blocks of",
        "`src/rptici/data/biokinetics/*.yaml`; `tests/kinetics/test_published_doses.py` checks that this file is",
        "current and that every model value lies in the published range widened by a factor",
        f"{TOLERANCE:g} (`TOLERANCE`: cohort spread, reference versus patient organ masses, no photon cross-dose).",
        "Model: reference patient (ICRP 89 adult male, or the reference mouse of a mouse agent) after one",
        "administration, with one lesion of "
        f"{REFERENCE_LESION_G['human']:g} g ({REFERENCE_LESION_G['mouse']:g} g in the mouse) for the tumour, by the",
        "dosimetry of `rptici regimen dose` (closed-form biokinetics, self-dose S-values; red marrow of the",
        "antibodies blood-based, Sgouros 1993).",
        "",
        "How the agents of issue 20 are modelled (each data file's header and `assumption:` marks say more):",
        "",
        "- Red marrow of the antibodies and of NM600 has no compartment: its activity is a fixed fraction of blood",
        "  activity (`derived_regions`: RMBLR 0.36 × m_RM / m_blood, Sgouros 1993 J Nucl Med 34:689); the total body",
        "  is every body compartment in the total-body mass.",
        "- The CD20 antibodies ([90Y]Y-ibritumomab tiuxetan, [131I]I-tositumomab) are modelled as given on the label,",
        "  after the unlabelled-antibody pre-dose that saturates the CD20 sink of blood B cells and spleen: linear",
        "  kinetics whose rates hold only with the pre-dose (no saturable pre-dose mechanism yet).",
        "- [131I]I-tositumomab: the label's activity for a 0.75 Gy total-body dose is",
        "  `rptici.radiobiology.regimen_dose.activity_for_total_body_dose` (from a measured total-body residence",
        f"  time, or the model's); {_bexxar_activity_GBq():.3g} GBq for the reference adult (52-211 mCi, 1.9-7.8 GBq,",
        "  were given in practice).",
        "- [177Lu]Lu-girentuximab: no 177Lu organ dosimetry was found; its uptake rates are calibrated on the",
        "  89Zr-girentuximab PET dosimetry of the same antibody, the model run with 89Zr (rows \"as Zr-89\").",
        "- [90Y]Y-ibritumomab tiuxetan: the kidney dose differs 25-fold between studies (5.1 Gy/GBq in the",
        "  myeloablative study the rates are calibrated on, about 0.2 Gy/GBq in Wiseman et al. 2001); the model",
        "  follows the former and is checked against Wiseman 2001 for marrow, spleen, liver and lungs",
        "  (`tests/kinetics/test_antibody_biokinetics.py`).",
        "- [90Y]Y-NM600 is modelled in a 25 g reference mouse (`species: mouse`); no murine dose per MBq was verified,",
        "  so every rate is an assumption and it has no rows here.",
        "",
        "Use: *calibration* for a value the data file's rates were calibrated to (met by construction), *check* for",
        "an independent comparison.",
        "",
        "| agent | region | model | published | unit | within | use | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for agent in agents_with_published_doses():
        for row in comparison(agent):
            published = _number(row.low) if row.low == row.high else f"{_number(row.low)}-{_number(row.high)}"
            unit = row.unit + (f" (RBE {row.rbe:g})" if row.rbe is not None else "") + \
                (f" (as {row.nuclide})" if row.nuclide else "")
            lines.append(f"| {row.agent} | {row.region} | {_number(row.model)} | {published} | {unit} | "
                         f"{'yes' if row.within else 'NO'} | {'calibration' if row.calibrated else 'check'} | "
                         f"{row.source} |")
    without = [agent for agent in known_agents() if agent not in agents_with_published_doses()]
    if without:
        lines += ["", "Agents with biokinetics but no `published_doses` in their data file (see the file's header):", ""]
        lines += [f"- {agent_parameters(agent)['agent']}" for agent in without]
    return "\n".join(lines) + "\n"


def write_agents_doc(path: str | Path | None = None) -> Path:
    """Write :func:`agents_table` to ``path`` (default ``docs/agents.md`` of the repository)."""
    target = Path(path) if path is not None else Path(__file__).resolve().parents[3] / "docs" / "agents.md"
    target.write_text(agents_table(), encoding="utf-8")
    return target
