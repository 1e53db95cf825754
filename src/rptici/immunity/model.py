"""The tumour–immune model as one object: its table, its equations, and what the engine asks of it.

:class:`TumourImmuneModel` owns the model's parts, each defined once in its own module:

- :mod:`.table`: every state, parameter, switch and observable (indices, units and switches generated);
- :mod:`.equations`: the right-hand side ``rhs(t, y, p, dydt)``;
- :mod:`.linear`: the repair split, the antibody blocks, the exactly propagated states and the flush levels;
- :mod:`.covariates`: covariates → parameter vector and initial state;
- :mod:`.observables`: states → clinical read-outs.

The engine (:mod:`rptici.simulation.engine`) is generic over any object with these methods; it never
indexes the layout. A model with another table (a new mechanism) is ``TumourImmuneModel(table, rhs)``
with ``rhs`` its equations (default: :func:`.equations.equations_for` of the table).

The names below the class are this package's earlier module-level API, kept for callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import covariates, linear, observables as readouts
from .covariates import (COVARIATES, ImmunityCovariates, initial_state, measured_volume, parameter_vector,
                         stroma_ratio)
from .equations import SLOW_FRACTION, equations_for, jit
from .layout import ModelLayout
from .linear import (antibody_blocks, damage, flush_levels, linear_system, repair_residual_events, repair_weights,
                     residual_states, set_damage)
from .observables import observable_states, observables
from .parameters import ImmunityParameters
from .table import (GLOBAL_PARAMETERS, LESION_PARAMETERS, LESION_STATES, MAX_LESIONS, SWITCH_EQUIVALENTS,
                    SYSTEMIC_STATES, TABLE, ModelTable)

#: The checkpoint target whose antibody an infusion doses: target → compartment prefix of the table.
ANTIBODY_COMPARTMENTS = {"PD-1": "antibody", "PD-L1": "antibody", "CTLA-4": "ctla4"}


@dataclass(frozen=True)
class TumourImmuneModel:
    """One tumour–immune model: ``table`` (its one definition) and ``rhs`` (its equations, compiled once)."""

    table: ModelTable = TABLE
    rhs: Callable = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.rhs is None:
            object.__setattr__(self, "rhs", equations_for(self.table))

    def layout(self, n_lesions: int, n_exponentials: int = 3) -> ModelLayout:
        return ModelLayout(n_lesions, n_exponentials, self.table)

    def parameter_vector(self, parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                         overrides: Mapping[str, object] | None = None) -> np.ndarray:
        return covariates.parameter_vector(parameters, layout, patients, overrides)

    def initial_state(self, parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                      overrides: Mapping[str, object] | None = None) -> np.ndarray:
        return covariates.initial_state(parameters, layout, patients, overrides)

    def set_dose_rate_decay(self, layout: ModelLayout, params: np.ndarray, rates: np.ndarray) -> None:
        """Write the drivers' decay rates (1/d) into ``params``: ``rates`` (patients, 1 + lesions, k), the
        blood/red marrow first, then the lesions."""
        for number, region in enumerate(("blood",) + tuple(range(layout.n_lesions))):
            for k in range(layout.n_exponentials):
                params[:, layout.dose_rate_decay_param(region, k)] = rates[:, number, k]

    def dose_rate_state(self, layout: ModelLayout, region: int, k: int) -> int:
        """State of driver u_k of ``region`` (0 the blood/red marrow, 1 + i lesion i): an administration adds
        its activity × coefficient here."""
        return layout.dose_rate_state("blood" if region == 0 else region - 1, k)

    def antibody_dosing(self, layout: ModelLayout, params: np.ndarray, target: str, first_time: float) -> int:
        """The state an infusion of an antibody against ``target`` doses; records its first infusion time
        (time-varying clearance runs from it) in ``params``."""
        prefix = ANTIBODY_COMPARTMENTS[target]
        params[:, layout.parameter(f"{prefix}_first_dose_time")] = first_time
        return layout.state(f"{prefix}_central")

    def dosing_events(self, layout: ModelLayout, params: np.ndarray, events):
        """``events`` completed by the repair residual's jumps (:func:`.linear.repair_residual_events`) and the
        end of a standard of care with a duration (:func:`.linear.care_end_events`)."""
        return linear.care_end_events(layout, params, linear.repair_residual_events(layout, params, events))

    def linear_system(self, layout: ModelLayout, params: np.ndarray) -> dict[str, np.ndarray]:
        return linear.linear_system(layout, params)

    def active_states(self, layout: ModelLayout, params: np.ndarray) -> np.ndarray:
        return layout.active_states(params)

    def flush_levels(self, layout: ModelLayout, params: np.ndarray, events, atol: float):
        return linear.flush_levels(layout, params, events, atol)

    def observable_states(self, layout: ModelLayout, names: Sequence[str]) -> np.ndarray:
        return readouts.observable_states(layout, names)

    def observables(self, y: np.ndarray, p: np.ndarray, layout: ModelLayout, states: np.ndarray | None = None,
                    names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        return readouts.observables(y, p, layout, states, names)


#: The model of this package (the table :data:`.table.TABLE` and its compiled :func:`.equations.rhs`).
MODEL = TumourImmuneModel()
#: The model's equations as the engine runs them (disk-cached when numba is installed; :func:`.equations.equations_for`).
rhs = MODEL.rhs

__all__ = [
    "ANTIBODY_COMPARTMENTS", "COVARIATES", "GLOBAL_PARAMETERS", "LESION_PARAMETERS", "LESION_STATES", "MAX_LESIONS",
    "MODEL", "SLOW_FRACTION", "SWITCH_EQUIVALENTS", "SYSTEMIC_STATES", "ImmunityCovariates", "ModelLayout",
    "TumourImmuneModel", "antibody_blocks", "damage", "flush_levels", "initial_state", "jit", "linear_system",
    "measured_volume", "observable_states", "observables", "parameter_vector", "repair_residual_events",
    "repair_weights", "residual_states", "rhs", "set_damage", "stroma_ratio",
]
