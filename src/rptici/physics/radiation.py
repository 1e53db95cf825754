"""Classes of therapeutic radiation (β⁻, α, Auger): energy, range, LET, DNA damage, examples.

The numbers live in ``data/radiation_classes.yaml`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import load_yaml


@dataclass(frozen=True)
class RadiationClass:
    name: str
    particle: str
    energy_MeV: tuple[float, float]
    range_in_tissue: str
    range_mm: tuple[float, float]
    let_keV_per_um: tuple[float, float]
    dna_damage: str
    examples: tuple[str, ...]
    source: str


def radiation_classes() -> dict[str, RadiationClass]:
    """The table of radiation classes, keyed by name (``beta``, ``alpha``, ``auger``)."""
    return {
        row["name"]: RadiationClass(**{key: tuple(value) if isinstance(value, list) else value for key, value in row.items()})
        for row in load_yaml("radiation_classes.yaml")
    }
