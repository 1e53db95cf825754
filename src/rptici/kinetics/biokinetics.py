"""Per-agent body models: covariates → transfer rates → :class:`CompartmentModel`.

Each agent has a data file in ``rptici/data/biokinetics/`` listing its compartments and transfer rates
(1/d) for a reference adult, each with its source (or marked as an assumption with what it was
calibrated to). Covariates scale the rates:

* renal function: renal elimination × (GFR / GFR_ref) / (BSA / BSA_ref) — clearance over a distribution
  volume that grows with body size;
* target expression: rates marked ``target_expression`` (lesions, target-expressing organs) × the
  patient's uptake scale (PET uptake relative to the reference);
* lesions: uptake from blood = rate per gram × lesion mass × target scale × lesion uptake factor / (BSA /
  BSA_ref) (the factor: the lesion's target expression relative to the patient's, 1 by default), so a large
  tumour burden takes ligand from the blood and lowers normal-organ uptake (the tumour-sink effect,
  Begum et al. 2018 J Nucl Med 59:1411; Gafita et al. 2021 J Nucl Med 62:1096); for Ra-223 the lesions
  are osteoblastic bone metastases, a lesion surface plus a lesion mineral compartment;
* lesion sites: an agent whose data file lists ``lesions.sites`` (radium-223: bone) reaches only lesions at
  those sites when ``site_selective`` is asked (the model switch ``site_selective_uptake``); a lesion at
  another site takes up nothing, a lesion of unknown site (``""``) counts as reached;
* body size: organ masses × BSA / BSA_ref (:func:`organ_masses_g`);
* species: an agent whose data file says ``species: mouse`` ([90Y]Y-NM600) is modelled in the reference mouse of
  ``reference_anatomy.yaml`` (:func:`subject`): its body size, GFR and organ masses replace the patient's
  (:func:`subject_covariates`; the lesions and target uptake are kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..data import load_yaml
from ..data.catalogue import radiopharmaceutical
from ..errors import InputError, UnknownNameError
from ..physics import Nuclide
from .compartments import CompartmentModel, SaturableUptake

SCALINGS = ("renal_function", "target_expression")
#: Sites a lesion can be at (population files give their frequencies; ``""`` is an unknown site).
LESION_SITES = ("bone", "node", "liver", "lung", "soft_tissue")
#: Suffix of a lesion's mineral (bone-volume) compartment, for agents whose data file has ``lesions.mineral``.
MINERAL_SUFFIX = "_mineral"


SEXES = ("male", "female")
#: The reference subjects of ``reference_anatomy.yaml``: the ICRP 89 adults and the laboratory mouse.
SUBJECTS = (*SEXES, "mouse")


def reference_anatomy(sex: str = "male") -> dict[str, float]:
    """Reference organ masses (g) and body size: the ICRP Publication 89 adult of ``sex``, or ``mouse``; keys as
    in the data file, with ``total_body`` and (where the file gives it) ``blood`` (g)."""
    data = load_yaml("reference_anatomy.yaml")
    if sex not in SUBJECTS:
        raise UnknownNameError("sex", sex, SUBJECTS)
    entry = data[sex]
    result = {name: float(value["value"]) for name, value in entry["organs_g"].items()}
    result["total_body"] = float(entry["total_body_g"]["value"])
    if "blood_g" in entry:  # whole-blood mass, for blood-based marrow fractions
        result["blood"] = float(entry["blood_g"]["value"])
    result["weight_kg"] = result["total_body"] / 1000.0
    result["body_surface_area_m2"] = float(entry["body_surface_area_m2"]["value"])
    result["gfr_mL_per_min"] = float(entry["glomerular_filtration_rate_mL_per_min"]["value"])
    return result


def _paediatric_points(sex: str) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """ICRP 89 children as interpolation points: surface areas (m²), masses per organ (g, ``blood`` included),
    and the surface area above which the adult rule applies (the 15-year-old's)."""
    data = load_yaml("reference_anatomy.yaml")
    children = data["children"]
    individuals = sorted(children["individuals"].values(), key=lambda entry: entry["body_surface_area_m2"]["value"])
    areas = np.array([float(entry["body_surface_area_m2"]["value"]) for entry in individuals])
    masses = {organ: np.array([float(entry["organs_g"][organ]) for entry in individuals])
              for organ in individuals[0]["organs_g"]}
    masses["blood"] = np.array([float(entry["blood_g"]["value"]) for entry in individuals])
    return areas, masses, float(children["blend_until_bsa_m2"][sex]["value"])


def scaled_mass_g(organ: str, bsa_m2: np.ndarray, sex: str = "male") -> np.ndarray:
    """Mass (g) of ``organ`` (an ICRP 89 organ of the data file, or ``blood``) for patients of surface area
    ``bsa_m2``: the adult rule, reference mass × BSA / BSA_ref, at or above the 15-year-old's surface area; for a
    child, interpolation in BSA between the ICRP 89 newborn, 1-, 5- and 10-year-old, then linearly from the
    10-year-old to the adult rule at the 15-year-old's surface area (continuous; adults unchanged). Organs with
    no child value keep the adult rule."""
    anatomy = reference_anatomy(sex)
    bsa = np.asarray(bsa_m2, dtype=float)
    adult = anatomy[organ] * bsa / anatomy["body_surface_area_m2"]
    if sex not in SEXES:  # the mouse: its own reference, no children
        return adult
    areas, masses, join = _paediatric_points(sex)
    if organ not in masses:
        return adult
    points = np.append(areas, join)
    values = np.append(masses[organ], anatomy[organ] * join / anatomy["body_surface_area_m2"])
    return np.where(bsa < join, np.interp(bsa, points, values), adult)


def _column(values, patients: int | None, name: str, positive: bool = True) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1 or (patients is not None and array.size not in (1, patients)):
        raise InputError(name, values, f"a number or one value per patient ({patients})")
    if np.any(~np.isfinite(array)) or np.any(array <= 0 if positive else array < 0):
        raise InputError(name, values, "positive finite numbers" if positive else "finite numbers >= 0")
    return array


def _lesion_array(values, shape: tuple[int, int], name: str) -> np.ndarray:
    """Per-lesion factors (>= 0) broadcast to ``shape`` (patients, lesions); None: all 1."""
    if values is None:
        return np.ones(shape)
    array = np.asarray(values, dtype=float)
    try:
        array = np.broadcast_to(array if array.ndim != 1 else array[None, :], shape).copy()
    except ValueError:
        raise InputError(name, f"array of shape {array.shape}", f"an array (patients, lesions) = {shape}") from None
    if np.any(~np.isfinite(array)) or np.any(array < 0):
        raise InputError(name, values, "finite factors >= 0, one per lesion")
    return array


def _lesion_sites(values, shape: tuple[int, int]) -> np.ndarray:
    """Lesion sites as a (patients, lesions) array of names of :data:`LESION_SITES` or ``""`` (unknown)."""
    array = np.asarray(values, dtype=object)
    try:
        array = np.broadcast_to(array if array.ndim != 1 else array[None, :], shape).astype(str)
    except ValueError:
        raise InputError("lesion_sites", f"array of shape {array.shape}", f"an array (patients, lesions) = {shape}") \
            from None
    unknown = sorted(set(array.ravel()) - set(LESION_SITES) - {""})
    if unknown:
        raise UnknownNameError("lesion_sites", unknown[0], LESION_SITES)
    return array


def site_reached(agent_sites, lesion_sites: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """1 where a lesion is at a site the agent reaches, else 0 (patients, lesions): every lesion when the agent
    lists no sites or the lesion's site is unknown (``""``)."""
    if not agent_sites or lesion_sites is None:
        return np.ones(shape)
    return np.where(np.isin(lesion_sites, list(agent_sites)) | (lesion_sites == ""), 1.0, 0.0)


@dataclass
class Covariates:
    """Patient covariates as arrays (one value per patient, or a scalar shared by all).

    ``lesion_masses_g`` is (patients, lesions) in g; zero marks an absent lesion. ``target_uptake_scale``
    is the target expression relative to the reference patient of the agent (for example the ratio of
    the patient's tumour SUV on PSMA or SSTR PET to a typical one). ``lesion_uptake_factors`` (patients,
    lesions, >= 0; default 1) is each lesion's target expression relative to its patient's (within-patient
    heterogeneity, :mod:`rptici.population`); ``lesion_sites`` (patients, lesions) names each lesion's site
    (:data:`LESION_SITES`, ``""`` unknown; None: all unknown).
    """

    weight_kg: np.ndarray | float = 73.0
    bsa_m2: np.ndarray | float = 1.9
    gfr_mL_per_min: np.ndarray | float = 125.0
    target_uptake_scale: np.ndarray | float = 1.0
    lesion_masses_g: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    lesion_uptake_factors: np.ndarray | None = None
    lesion_sites: np.ndarray | None = None

    def __post_init__(self) -> None:
        lesions = np.asarray(self.lesion_masses_g, dtype=float)
        if lesions.ndim == 1:
            lesions = lesions[None, :]
        if lesions.ndim != 2 or np.any(~np.isfinite(lesions)) or np.any(lesions < 0):
            raise InputError("lesion_masses_g", self.lesion_masses_g, "an array (patients, lesions) of masses >= 0 g")
        sizes = {np.atleast_1d(np.asarray(v)).size for v in
                 (self.weight_kg, self.bsa_m2, self.gfr_mL_per_min, self.target_uptake_scale)} | {lesions.shape[0]}
        sizes.discard(1)
        if len(sizes) > 1:
            raise InputError("covariates", sorted(sizes), "arrays of one common length (patients) or scalars")
        patients = sizes.pop() if sizes else 1
        self.weight_kg = np.broadcast_to(_column(self.weight_kg, patients, "weight_kg"), (patients,)).copy()
        self.bsa_m2 = np.broadcast_to(_column(self.bsa_m2, patients, "bsa_m2"), (patients,)).copy()
        self.gfr_mL_per_min = np.broadcast_to(_column(self.gfr_mL_per_min, patients, "gfr_mL_per_min"), (patients,)).copy()
        self.target_uptake_scale = np.broadcast_to(
            _column(self.target_uptake_scale, patients, "target_uptake_scale", positive=False), (patients,)).copy()
        self.lesion_masses_g = np.broadcast_to(lesions, (patients, lesions.shape[1])).copy()
        self.lesion_uptake_factors = _lesion_array(self.lesion_uptake_factors, self.lesion_masses_g.shape,
                                                   "lesion_uptake_factors")
        if self.lesion_sites is not None:
            self.lesion_sites = _lesion_sites(self.lesion_sites, self.lesion_masses_g.shape)

    @property
    def patients(self) -> int:
        return self.weight_kg.size

    def take(self, patients: slice | np.ndarray) -> "Covariates":
        """The covariates of a subset of the patients (a slice or indices)."""
        return Covariates(self.weight_kg[patients], self.bsa_m2[patients], self.gfr_mL_per_min[patients],
                          self.target_uptake_scale[patients], self.lesion_masses_g[patients],
                          self.lesion_uptake_factors[patients],
                          None if self.lesion_sites is None else self.lesion_sites[patients])

    @classmethod
    def reference(cls, sex: str = "male", patients: int = 1, lesion_masses_g=None) -> "Covariates":
        """The ICRP 89 reference adult, repeated ``patients`` times, with optional lesions."""
        anatomy = reference_anatomy(sex)
        lesions = np.zeros((patients, 0)) if lesion_masses_g is None else lesion_masses_g
        return cls(np.full(patients, anatomy["weight_kg"]), np.full(patients, anatomy["body_surface_area_m2"]),
                   np.full(patients, anatomy["gfr_mL_per_min"]), np.ones(patients), lesions)


@lru_cache(maxsize=1)
def _agent_files() -> dict[str, str]:
    folder = resources.files("rptici.data").joinpath("biokinetics")
    result = {}
    for item in folder.iterdir():
        if item.name.endswith(".yaml"):
            result[load_yaml(f"biokinetics/{item.name}")["agent"]] = f"biokinetics/{item.name}"
    return result


def known_agents() -> tuple[str, ...]:
    """Catalogue names of the agents that have a biokinetic model."""
    return tuple(sorted(_agent_files()))


def agent_parameters(agent: str) -> dict:
    """The parsed data file of ``agent`` (any catalogue name or alias); read-only."""
    name = radiopharmaceutical(agent).name
    files = _agent_files()
    if name not in files:
        raise UnknownNameError("agent", agent, tuple(files))
    return load_yaml(files[name])


def subject(parameters: dict, sex: str = "male") -> str:
    """The reference anatomy an agent's data file is modelled in: ``mouse`` for ``species: mouse``, else ``sex``."""
    species = parameters.get("species", "human")
    if species not in ("human", "mouse"):
        raise UnknownNameError(f"{parameters.get('agent')}.species", species, ("human", "mouse"))
    return "mouse" if species == "mouse" else sex


def subject_covariates(parameters: dict, covariates: Covariates | None, sex: str = "male") -> Covariates:
    """``covariates`` for the agent of ``parameters``: for a mouse agent, the reference mouse's weight, BSA and GFR
    replace the patient's (assumption: a strain of one body size; lesions and target uptake are kept)."""
    covariates = covariates or Covariates.reference(sex)
    if subject(parameters, sex) != "mouse":
        return covariates
    mouse = reference_anatomy("mouse")
    count = covariates.patients
    return Covariates(np.full(count, mouse["weight_kg"]), np.full(count, mouse["body_surface_area_m2"]),
                      np.full(count, mouse["gfr_mL_per_min"]), covariates.target_uptake_scale,
                      covariates.lesion_masses_g, covariates.lesion_uptake_factors, covariates.lesion_sites)


def organ_masses_g(covariates: Covariates | None = None, sex: str = "male") -> dict[str, np.ndarray]:
    """Organ masses per patient (g): reference masses × BSA / BSA_ref for adults (assumption: organs scale with
    body surface); children from the ICRP 89 paediatric reference individuals (:func:`scaled_mass_g`)."""
    covariates = covariates or Covariates.reference(sex)
    organs = load_yaml("reference_anatomy.yaml")[sex]["organs_g"]
    return {name: scaled_mass_g(name, covariates.bsa_m2, sex) for name in organs}


def body_masses_g(covariates: Covariates | None = None, sex: str = "male") -> dict[str, np.ndarray]:
    """Whole-body masses per patient (g): ``total_body`` (the patient's weight) and ``blood`` (ICRP 89 blood
    volume × density, scaled as an organ by :func:`scaled_mass_g`); used for the photon dose from the whole
    body and for blood-based marrow dosimetry."""
    covariates = covariates or Covariates.reference(sex)
    return {"total_body": covariates.weight_kg * 1000.0, "blood": scaled_mass_g("blood", covariates.bsa_m2, sex)}


def lesion_names(count: int) -> tuple[str, ...]:
    return tuple(f"lesion_{number + 1}" for number in range(count))


def state_factors(parameters: dict, state: str | None) -> dict[tuple[str, str], float]:
    """Rate factors (from, to) → factor of a physiological ``state`` of the data file's ``states`` block (e.g.
    thyroid-hormone withdrawal vs rhTSH for radioiodine); None: the reference state (no factor)."""
    if state is None:
        return {}
    states = parameters.get("states") or {}
    if state not in states:
        raise UnknownNameError("state", state, tuple(states))
    factors = {}
    for entry in states[state]["factors"]:
        factor = float(entry["factor"])
        if not np.isfinite(factor) or factor < 0:
            raise InputError(f"{parameters['agent']}.states.{state}.factor", entry["factor"], "a finite factor >= 0")
        factors[(entry["from"], entry["to"])] = factor
    return factors


def biokinetic_model(agent: str, covariates: Covariates | None = None, sex: str = "male",
                     saturable: bool = False, site_selective: bool = False, state: str | None = None,
                     nuclide: str | None = None
                     ) -> CompartmentModel:
    """The compartment model of ``agent`` for each patient in ``covariates`` (reference adult if None).

    Lesions become compartments ``lesion_1`` … in blood exchange; for bone seekers (data file block
    ``lesions.mineral``, Ra-223) each lesion also has a mineral compartment ``lesion_1_mineral`` fed from the
    lesion's surface (burial into bone volume, as in the ICRP 137 alkaline-earth model), whose α energy is
    deposited in the same lesion. ``saturable=True`` makes uptake into
    lesions and the target-expressing organs listed in the data file saturable (receptor density × mass).
    Each lesion's uptake is scaled by its ``lesion_uptake_factors``; ``site_selective=True`` gives no uptake to
    lesions at sites the data file's ``lesions.sites`` does not list (radium-223: bone only). ``state``: a
    physiological state of the data file's ``states`` block whose factors multiply named transfer rates
    (:func:`state_factors`; radioiodine: ``withdrawal`` against the reference rhTSH state). ``nuclide`` replaces
    the data file's radionuclide (physical decay only): the same carrier with another label, e.g. the imaging
    analogue 89Zr-girentuximab of [177Lu]Lu-girentuximab (both labels residualising; assumption that the
    biological kinetics do not depend on the label).
    """
    parameters = agent_parameters(agent)
    factors_of_state = state_factors(parameters, state)
    covariates = subject_covariates(parameters, covariates, sex)
    sex = subject(parameters, sex)
    anatomy = reference_anatomy(sex)
    patients = covariates.patients
    lesions = lesion_names(covariates.lesion_masses_g.shape[1])
    lesion = parameters.get("lesions", {})
    if lesions and not lesion:
        raise InputError("lesion_masses_g", covariates.lesion_masses_g.shape, f"no lesions for {parameters['agent']}")
    mineral = lesion.get("mineral")
    volumes = tuple(f"{name}{MINERAL_SUFFIX}" for name in lesions) if mineral else ()
    names = tuple(parameters["compartments"]) + lesions + volumes + tuple(parameters["excretion"])
    index = {name: number for number, name in enumerate(names)}
    size_ratio = covariates.bsa_m2 / anatomy["body_surface_area_m2"]
    factors = {
        "renal_function": covariates.gfr_mL_per_min / anatomy["gfr_mL_per_min"] / size_ratio,
        "target_expression": covariates.target_uptake_scale,
    }
    rates = np.zeros((patients, len(names), len(names)))
    for transfer in parameters["transfers"]:
        source, target = transfer["from"], transfer["to"]
        for end in (source, target):
            if end not in index:
                raise UnknownNameError(f"{parameters['agent']}.transfers", end, names)
        value = np.full(patients, float(transfer["rate_per_day"]) * factors_of_state.pop((source, target), 1.0))
        for scaling in transfer.get("scaling", []):
            if scaling not in factors:
                raise UnknownNameError(f"{parameters['agent']}.transfers.scaling", scaling, SCALINGS)
            value = value * factors[scaling]
        rates[:, index[target], index[source]] += value
    if factors_of_state:
        raise UnknownNameError(f"{parameters['agent']}.states.{state}", " -> ".join(next(iter(factors_of_state))),
                               [f"{item['from']} -> {item['to']}" for item in parameters["transfers"]])
    source = lesion.get("exchange_with", "blood")
    if lesions:
        uptake = (float(lesion["uptake_rate_per_day_per_g"]["value"]) * covariates.lesion_masses_g
                  * (covariates.target_uptake_scale / size_ratio)[:, None] * covariates.lesion_uptake_factors)
        if site_selective:
            uptake = uptake * site_reached((lesion.get("sites") or {}).get("value"), covariates.lesion_sites, uptake.shape)
        for number, name in enumerate(lesions):
            rates[:, index[name], index[source]] = uptake[:, number]
            rates[:, index[source], index[name]] = float(lesion["release_rate_per_day"]["value"])
            if mineral:
                volume = index[f"{name}{MINERAL_SUFFIX}"]
                rates[:, volume, index[name]] = float(mineral["burial_rate_per_day"]["value"])
                rates[:, index[name], volume] = float(mineral["return_rate_per_day"]["value"])
    uptakes: tuple[SaturableUptake, ...] = ()
    ligand = 0.0
    if saturable:
        binding = parameters.get("saturable_binding")
        if binding is None:
            raise InputError("saturable", agent, "an agent whose data file has saturable_binding")
        ligand = float(binding["ligand_nmol_per_GBq"]["value"]) / 1000.0
        density = binding["receptor_density_nmol_per_g"]
        masses = organ_masses_g(covariates, sex)
        items = []
        for organ, entry in density.items():
            if organ == "lesion":
                for number, name in enumerate(lesions):
                    mass = np.maximum(covariates.lesion_masses_g[:, number], 1e-12)
                    items.append(SaturableUptake(source, name, float(entry["value"]) * mass))
            else:
                items.append(SaturableUptake("blood", organ, float(entry["value"]) * masses[entry.get("mass", organ)]))
        uptakes = tuple(items)
    return CompartmentModel(names, rates, Nuclide(nuclide or parameters["nuclide"]).decay_constant_per_day,
                            excretion=tuple(parameters["excretion"]), saturable=uptakes, ligand_nmol_per_MBq=ligand)
