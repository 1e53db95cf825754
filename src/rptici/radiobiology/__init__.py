"""Radiobiology: linear-quadratic model with incomplete repair, BED/EQD2/EUD, TCP and NTCP, tissue parameters.

Times in days (half-lives and repair half-times passed in days), doses in Gy, dose rates in Gy/d.
"""

from .bed import BedResult, bed_closed_form, bed_cycles, bed_from_dose_rate, eqd2, eud_tumour, geud
from .lq import (damage_derivatives, g_factor_constant, g_factor_exponential_sum, g_factor_monoexponential,
                 g_factor_uptake_washout, incomplete_repair_ode, incomplete_repair_piecewise_linear, log_cell_kill,
                 repair_rate, repeated_exponential_dose)
from .ntcp import ntcp_for_tissue, ntcp_lkb
from .tcp import surviving_fraction, tcp_population, tcp_poisson
from .tissues import DoseLimit, LkbParameters, Tissue, tissue, tissue_names

__all__ = [
    "BedResult", "bed_closed_form", "bed_cycles", "bed_from_dose_rate", "eqd2", "eud_tumour", "geud",
    "damage_derivatives", "g_factor_constant", "g_factor_exponential_sum", "g_factor_monoexponential",
    "g_factor_uptake_washout", "incomplete_repair_ode", "incomplete_repair_piecewise_linear", "log_cell_kill",
    "repair_rate", "ntcp_for_tissue", "ntcp_lkb", "surviving_fraction", "tcp_population", "tcp_poisson",
    "DoseLimit", "LkbParameters", "Tissue", "tissue", "tissue_names",
]
