"""Radionuclide physics: half-lives, decay chains and mean energy emitted per decay (ICRP-107)."""

from .nuclides import EnergyPerDecay, Nuclide, emissions, known_nuclides, nuclide
from .radiation import RadiationClass, radiation_classes

__all__ = ["EnergyPerDecay", "Nuclide", "emissions", "known_nuclides", "nuclide", "RadiationClass", "radiation_classes"]
