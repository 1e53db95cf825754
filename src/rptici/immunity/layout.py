"""Where every state and parameter of one patient sits (the layout generated from :mod:`.table`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .table import MAX_EXPONENTIALS, MAX_LESIONS, TABLE, ModelTable


@dataclass(frozen=True)
class ModelLayout:
    """Where every state and parameter of one patient sits, for ``n_lesions`` lesions and ``n_exponentials``
    exponential components per dose-rate driver.

    States: the systemic block (:attr:`ModelTable.systemic_states`), the blood/red-marrow dose-rate drivers, then one
    block per lesion (:attr:`ModelTable.lesion_states` followed by that lesion's drivers). Parameters: the global block
    (:attr:`ModelTable.global_parameters`), the decay rates of the blood drivers, then one block per lesion
    (:attr:`ModelTable.lesion_parameters` followed by the decay rates of its drivers).
    """

    n_lesions: int
    n_exponentials: int = 3
    table: ModelTable = TABLE

    def __post_init__(self) -> None:
        if isinstance(self.n_lesions, bool) or not isinstance(self.n_lesions, (int, np.integer)) \
                or not 1 <= self.n_lesions <= MAX_LESIONS:
            raise InputError("n_lesions", self.n_lesions, f"an integer from 1 to {MAX_LESIONS}")
        if isinstance(self.n_exponentials, bool) or not isinstance(self.n_exponentials, (int, np.integer)) \
                or not 1 <= self.n_exponentials <= MAX_EXPONENTIALS:
            raise InputError("n_exponentials", self.n_exponentials, f"an integer from 1 to {MAX_EXPONENTIALS}")

    @property
    def _first_lesion_state(self) -> int:
        return len(self.table.systemic_states) + self.n_exponentials

    @property
    def _first_lesion_parameter(self) -> int:
        return len(self.table.global_parameters) + self.n_exponentials

    @property
    def lesion_state_size(self) -> int:
        return len(self.table.lesion_states) + self.n_exponentials

    @property
    def lesion_parameter_size(self) -> int:
        return len(self.table.lesion_parameters) + self.n_exponentials

    @property
    def n_states(self) -> int:
        return self._first_lesion_state + self.n_lesions * self.lesion_state_size

    @property
    def n_params(self) -> int:
        return self._first_lesion_parameter + self.n_lesions * self.lesion_parameter_size

    def _lesion(self, lesion: int) -> int:
        if isinstance(lesion, bool) or not isinstance(lesion, (int, np.integer)) or not 0 <= lesion < self.n_lesions:
            raise InputError("lesion", lesion, f"a lesion index from 0 to {self.n_lesions - 1}")
        return int(lesion)

    def _exponential(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.n_exponentials:
            raise InputError("k", k, f"an exponential index from 0 to {self.n_exponentials - 1}")
        return int(k)

    def state(self, name: str, lesion: int | None = None) -> int:
        """Index of a systemic state (``lesion`` None) or of a lesion's state."""
        systemic, per_lesion = self.table.systemic_states, self.table.lesion_states
        if lesion is None:
            if name not in systemic:
                raise InputError("state", name, f"one of {', '.join(systemic)} (or a lesion state with lesion=)")
            return systemic.index(name)
        if name not in per_lesion:
            raise InputError("state", name, f"one of {', '.join(per_lesion)}")
        return self.lesion_start(lesion) + per_lesion.index(name)

    def lesion_states(self, name: str) -> np.ndarray:
        """Indices of state ``name`` in every lesion, shape (n_lesions,)."""
        return np.array([self.state(name, lesion) for lesion in range(self.n_lesions)], dtype=np.int64)

    def lesion_start(self, lesion: int) -> int:
        return self._first_lesion_state + self._lesion(lesion) * self.lesion_state_size

    def parameter(self, name: str, lesion: int | None = None) -> int:
        """Index of a global parameter (``lesion`` None) or of a lesion's parameter."""
        global_names, per_lesion = self.table.global_parameters, self.table.lesion_parameters
        if lesion is None:
            if name not in global_names:
                raise InputError("parameter", name, f"one of {len(global_names)} global parameter names "
                                                    "(the table's global parameters) or a lesion parameter with lesion=")
            return global_names.index(name)
        if name not in per_lesion:
            raise InputError("parameter", name, f"one of {', '.join(per_lesion)}")
        return self.lesion_parameter_start(lesion) + per_lesion.index(name)

    def lesion_parameter_start(self, lesion: int) -> int:
        return self._first_lesion_parameter + self._lesion(lesion) * self.lesion_parameter_size

    def dose_rate_state(self, region: int | str, k: int) -> int:
        """State u_k of the dose-rate driver of ``region`` (a lesion index or "blood"); Ḋ = Σ_k u_k (Gy/d)."""
        k = self._exponential(k)
        if region == "blood":
            return len(self.table.systemic_states) + k
        return self.lesion_start(region) + len(self.table.lesion_states) + k  # type: ignore[arg-type]

    def dose_rate_decay_param(self, region: int | str, k: int) -> int:
        """Parameter holding the decay rate (1/d) of driver u_k of ``region`` (u_k' = −rate·u_k)."""
        k = self._exponential(k)
        if region == "blood":
            return len(self.table.global_parameters) + k
        return self.lesion_parameter_start(region) + len(self.table.lesion_parameters) + k  # type: ignore[arg-type]

    def active_states(self, params: np.ndarray) -> np.ndarray:
        """The number of leading states each patient's equations use, (patients,): through the block of his last
        present lesion; the slots of absent lesions after it stay constant and are never read (the solver's
        ``active``: it leaves them out of its arithmetic)."""
        present = np.stack([params[:, self.parameter("present", lesion)] != 0.0 for lesion in range(self.n_lesions)],
                           axis=1)
        last = np.where(present.any(axis=1), self.n_lesions - np.argmax(present[:, ::-1], axis=1), 0)
        return (self._first_lesion_state + last * self.lesion_state_size).astype(np.int64)

    @property
    def antibody_central(self) -> int:
        """Central amount (mg) of the anti-PD-1/PD-L1 antibody; an infusion adds its dose here."""
        return self.state("antibody_central")

    @property
    def antibody_peripheral(self) -> int:
        return self.state("antibody_peripheral")

    @property
    def ctla4_central(self) -> int:
        """Central amount (mg) of the anti-CTLA-4 antibody; an infusion adds its dose here."""
        return self.state("ctla4_central")

    @property
    def ctla4_peripheral(self) -> int:
        return self.state("ctla4_peripheral")

    @property
    def antibody_first_dose_param(self) -> int:
        """Parameter: day of the first anti-PD-(L)1 infusion (time-varying clearance runs from it)."""
        return self.parameter("antibody_first_dose_time")

    @property
    def ctla4_first_dose_param(self) -> int:
        return self.parameter("ctla4_first_dose_time")

    @property
    def state_names(self) -> tuple[str, ...]:
        names = list(self.table.systemic_states) + [f"blood_dose_rate_{k}" for k in range(self.n_exponentials)]
        for lesion in range(self.n_lesions):
            names += [f"{name}_{lesion}" for name in self.table.lesion_states]
            names += [f"dose_rate_{lesion}_{k}" for k in range(self.n_exponentials)]
        return tuple(names)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        names = list(self.table.global_parameters) + [f"blood_decay_rate_{k}" for k in range(self.n_exponentials)]
        for lesion in range(self.n_lesions):
            names += [f"{name}_{lesion}" for name in self.table.lesion_parameters]
            names += [f"decay_rate_{lesion}_{k}" for k in range(self.n_exponentials)]
        return tuple(names)

