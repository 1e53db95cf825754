"""Nuclides from ICRP Publication 107.

Half-lives, progeny and branching fractions come from ``radioactivedecay`` (its default dataset is
ICRP-107); emission lines come from the ``icrp107-database`` package (one JSON file per nuclide,
each a JSON document stored as a JSON string). ``radioactivedecay`` has no emission energies.

Mean energy per decay of a radiation type is Σ E·y over its lines (MeV per decay). The types are
grouped as MIRD does for dosimetry:

* ``alpha``: α particles plus the recoiling daughter nucleus (both deposit within a cell);
* ``beta``: β⁻ and β⁺ continua (mean energies);
* ``electron``: β plus internal-conversion and Auger electrons;
* ``photon``: γ rays, X rays and annihilation photons.

Short-lived daughters are in secular equilibrium with the parent unless asked otherwise: a daughter
counts, weighted by the product of branching fractions along its path, when its half-life is shorter
than the parent's (so that, in a closed source, its activity follows the parent's). The energy per
*parent* decay then includes the whole chain down to the first long-lived or stable member.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import radioactivedecay
from icrp107_database.utility import icrp107_source_path

from ..errors import UnknownNameError

_ICRP107_FOLDER = Path(icrp107_source_path) / "icrp107"
_MASS_FIRST = re.compile(r"^(\d+)(m\d?)?([A-Z][a-z]?)$")

#: ICRP-107 emission groups summed into each dosimetric radiation type.
RADIATION_GROUPS: dict[str, tuple[str, ...]] = {
    "alpha": ("alpha", "alpha recoil"),
    "beta": ("beta-", "beta+"),
    "electron": ("beta-", "beta+", "IE", "auger"),
    "photon": ("gamma", "X", "annihilation"),
}


@dataclass(frozen=True)
class EnergyPerDecay:
    """Mean energy emitted per decay (MeV) by radiation type; ``electron`` includes ``beta``."""

    alpha: float = 0.0
    beta: float = 0.0
    electron: float = 0.0
    photon: float = 0.0

    @property
    def local(self) -> float:
        """Energy of the non-penetrating radiations (α and electrons), deposited where emitted."""
        return self.alpha + self.electron

    @property
    def total(self) -> float:
        return self.alpha + self.electron + self.photon

    def as_dict(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "electron": self.electron, "photon": self.photon}

    def __add__(self, other: "EnergyPerDecay") -> "EnergyPerDecay":
        return EnergyPerDecay(*(a + b for a, b in zip(self.as_dict().values(), other.as_dict().values())))

    def scaled(self, factor: float) -> "EnergyPerDecay":
        return EnergyPerDecay(*(factor * value for value in self.as_dict().values()))


@lru_cache(maxsize=None)
def known_nuclides() -> tuple[str, ...]:
    """Every nuclide with ICRP-107 emission data, in ``radioactivedecay`` spelling (``Lu-177``)."""
    return tuple(sorted(path.stem for path in _ICRP107_FOLDER.glob("*.json")))


def canonical_name(name: str) -> str:
    """``Lu177``, ``lu-177``, ``177Lu`` → ``Lu-177``; unknown names raise :class:`UnknownNameError`."""
    text = str(name).strip()
    mass_first = _MASS_FIRST.match(text)
    if mass_first:
        mass, metastable, symbol = mass_first.groups()
        text = f"{symbol}-{mass}{metastable or ''}"
    try:
        canonical = radioactivedecay.Nuclide(text).nuclide
    except Exception:
        raise UnknownNameError("nuclide", name, known_nuclides()) from None
    if canonical not in _known_set():
        raise UnknownNameError("nuclide", name, known_nuclides())
    return canonical


@lru_cache(maxsize=1)
def _known_set() -> frozenset[str]:
    return frozenset(known_nuclides())


@lru_cache(maxsize=None)
def emissions(name: str) -> dict[str, list[list[float]]]:
    """ICRP-107 emissions of ``name`` alone: group (``alpha``, ``beta-``, ``IE``, ``gamma``, ``b-spectra``, ...)
    → list of (energy MeV, yield per decay). Treat as read-only (cached)."""
    document = json.loads((_ICRP107_FOLDER / f"{name}.json").read_text(encoding="utf-8"))
    return json.loads(document)["emissions"] if isinstance(document, str) else document["emissions"]


@lru_cache(maxsize=None)
def own_energy_per_decay(name: str) -> EnergyPerDecay:
    """Mean energy per decay of ``name`` alone (no daughters), MeV."""
    lines = emissions(name)
    sums = {
        kind: sum(energy * yield_ for group in groups for energy, yield_ in lines.get(group, []))
        for kind, groups in RADIATION_GROUPS.items()
    }
    return EnergyPerDecay(**sums)


@lru_cache(maxsize=None)
def _half_life_days(name: str) -> float:
    return float(radioactivedecay.Nuclide(name).half_life("d"))


def equilibrium_daughters(name: str) -> dict[str, float]:
    """Daughters in secular equilibrium with ``name`` and their decays per parent decay.

    A daughter is included when its half-life is shorter than the parent's; its weight is the product
    of branching fractions along every path that reaches it. Spontaneous fission and stable members end
    a path.
    """
    parent_half_life = _half_life_days(name)
    weights: dict[str, float] = {}

    def walk(member: str, weight: float) -> None:
        nuclide = radioactivedecay.Nuclide(member)
        for progeny, branching in zip(nuclide.progeny(), nuclide.branching_fractions()):
            if progeny == "SF" or progeny not in radioactivedecay.DEFAULTDATA.nuclide_dict:
                continue
            if _half_life_days(progeny) < parent_half_life:
                weights[progeny] = weights.get(progeny, 0.0) + weight * branching
                walk(progeny, weight * branching)

    walk(name, 1.0)
    return weights


@dataclass(frozen=True)
class Nuclide:
    """A radionuclide: half-life, chain and energy emitted per decay (including equilibrium daughters).

    >>> Nuclide("Lu-177").half_life_days
    6.647
    """

    name: str
    include_daughters: bool = True
    _canonical: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_canonical", canonical_name(self.name))
        object.__setattr__(self, "name", self._canonical)

    @property
    def half_life_days(self) -> float:
        return _half_life_days(self.name)

    @property
    def decay_constant_per_day(self) -> float:
        """λ = ln 2 / T½ (1/d)."""
        return math.log(2.0) / self.half_life_days

    @property
    def progeny(self) -> list[tuple[str, float]]:
        """Direct daughters with their branching fractions."""
        nuclide = radioactivedecay.Nuclide(self.name)
        return list(zip(nuclide.progeny(), nuclide.branching_fractions()))

    @property
    def decay_modes(self) -> list[str]:
        return list(radioactivedecay.Nuclide(self.name).decay_modes())

    @property
    def daughters_included(self) -> dict[str, float]:
        """Daughters counted in :attr:`energy_per_decay`, with decays per parent decay."""
        return equilibrium_daughters(self.name) if self.include_daughters else {}

    @property
    def energy_per_decay(self) -> EnergyPerDecay:
        """Mean energy emitted per parent decay (MeV), chain included when ``include_daughters``."""
        total = own_energy_per_decay(self.name)
        for daughter, weight in self.daughters_included.items():
            if daughter in _known_set():
                total = total + own_energy_per_decay(daughter).scaled(weight)
        return total

    @property
    def is_alpha_emitter(self) -> bool:
        return self.energy_per_decay.alpha > 0.0

    def photon_lines(self, minimum_yield: float = 0.0) -> list[tuple[float, float]]:
        """γ lines of the nuclide itself as (energy MeV, yield per decay), for imaging and photon dose."""
        return [(energy, yield_) for energy, yield_ in emissions(self.name).get("gamma", []) if yield_ >= minimum_yield]

    def summary(self) -> dict[str, object]:
        """The facts the CLI prints with ``rptici nuclide NAME --json``."""
        return {
            "nuclide": self.name,
            "half_life_days": self.half_life_days,
            "decay_modes": self.decay_modes,
            "progeny": [{"nuclide": name, "branching": branching} for name, branching in self.progeny],
            "mean_energy_MeV_per_decay": self.energy_per_decay.as_dict(),
            "daughters_included": self.daughters_included,
            "source": "ICRP Publication 107 via radioactivedecay and icrp107-database",
        }


def nuclide(name: str, include_daughters: bool = True) -> Nuclide:
    """Shorthand for :class:`Nuclide`."""
    return Nuclide(name, include_daughters)
