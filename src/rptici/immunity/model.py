"""Tumour–immune–checkpoint model: the state and parameter layout and the right-hand side for one patient.

One compiled right-hand side ``rhs(t, y, p, dydt)`` serves every scenario: the number of lesions and of
dose-rate exponentials is read from the parameter vector, and each mechanism is multiplied by a switch
parameter (``switch_<mechanism>``, 1 on, 0 off). The immune core follows Kosinsky et al. 2018 (J Immunother
Cancer 6:17): radiation turns viable cells into doomed cells that die over days (rate U/τ), their death
releases antigen that matures dendritic cells, which prime effector T cells that traffic into the tumour
and kill, suppressed by PD-L1 unless a checkpoint antibody occupies the axis. Added here for RPT: the
continuous dose rate with incomplete repair, type I interferon (STING), MHC-I and radiation-driven PD-L1,
regulatory T cells and myeloid suppressors, anti-CTLA-4, lymphocyte kill by blood and tumour dose,
memory, T-cell exhaustion, a systemic pool shared by all lesions, and PSA.

Equations (t in days; V, U in mL; Ḋ in Gy/d; immune cell states relative to their untreated baseline)::

  dose rate      Ḋ_r = Σ_k u_rk,  u_rk' = −λ_rk u_rk                        (r: lesion or blood)
  LQ damage      Γ' = Ḋ − μΓ,  D' = Ḋ,  Q' = ḊΓ;  BED = D + 2Q/(α/β)         (Dale 1985, as an ODE)
                 carried as Γ = Σ_slow u_k/(μ − λ_k) + r,  r' = Σ_fast u_k − μ r     (see below)
  viable         V' = s_g r V G(V+W+U) V/(V+v_c) − s_rk(αḊ + 2βḊΓ)V − κ V
                 G = ln(K/(V+W+U)) (Gompertz) or 1 − (V+W+U)/K (logistic)
  target-low     W' = s_g r W G(V+W+U) W/(W+v_c) − s_rk(α f Ḋ + 2β f² Ḋ Γ)W − κ W,
                 f = 1 − s_het (1 − f_low)                                  (uptake heterogeneity, below)
  doomed         U' = s_rk(αḊ + 2βḊΓ)V + s_rk(α f Ḋ + 2β f² ḊΓ)W − U/τ       (Kosinsky 2018, repair U/τ)
                 1/τ = 1/τ0 + s_mit (1/max(τ0, k T_d) − 1/τ0)               (mitotic death, below)
  measured vol.  V_CT = V + W + U + max(S0, σ/(1 − σ)(V + W + U)),  S0 = σ/(1 − σ) V(0)   (stroma, below)
  immune kill    κ = k_kill E m S,  m = 1 + s_mhc g_mhc Y/(Y+K_Y)           (MHC-I)
                 S = 1/(1 + φ_P P (1 − s_ici occ) + s_reg(φ_R R + φ_S M_s))
  radiation sig. Y' = Ḋ − k_Y Y                                             (drives MHC-I and PD-L1)
  PD-L1          P' = k_P (P_b + s_pi g_i E/(E+K_E) + s_pr g_r Y/(Y+K_Y) − P)
  infiltrate     E' = k_E χ (1 + (T + f_X X − 1) reach)(1 + g_I I/(I+K_I)) − k_E E − s_lk(α_L Ḋ + 2β_L ḊΓ) E
                 f_X = f_X0 + (f_XB − f_X0) s_ici occ     (exhausted cells kill poorly; blockade restores them partly)
                 χ = s_tl χ_lesion + (1 − s_tl);  reach = s_ab + (1 − s_ab) D/D_max
  antigen        A' = s_icd y_A Σ U/τ − k_A A                               (immunogenic cell death)
  interferon     I' = s_st y_I Σ s_rk(αḊ + 2βḊΓ)V − k_I I                  (cGAS–STING)
  dendritic      C' = k_C A/(A+K_A) ((1 − w) + w I/(I+K_I)) − δ_C C
  priming        Π = s_pr k_p C (L/L0)(1 + s_cp g_c occ_c)(1 + g_ip s_ici occ)(1 + s_reg φ_R)/(1 + s_reg φ_R R)
  effector pool  T' = δ_T(1 − T) + (1 − x) Π + s_m k_r M B/(B+K_B) − s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L) T
  exhaustion     X' = x Π − (δ_X + s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L)) X,   x = s_x g_x e/(1 + s_x g_x e)
                 e = φ_P P̄ (1 − s_ici occ) B/(B + K_X),  P̄ = Σ V P / Σ V      (unblocked PD-1 engagement)
  regulatory     R' = δ_R(1 + g_R C − R) − (s_cd d_c occ_c + d_R) R − s_lk α_R Ḋ_L R
  suppressors    M_s' = δ_M(1 + g_M A/(A+K_A) − M_s)
  memory         M' = s_m f_m δ_T max(T − 1, 0) − δ_m M          (memory from contracting effectors)
  lymphocytes    L' = r_L (L0 − L) − s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L) L        (Ḋ_L = f_L Ḋ_blood, Γ_L = f_L Γ_b)
  PSA            PSA' = s_psa p Σ(V+U) − k_psa PSA
  antibody       A1' = −(CL(t)+Q)/V1 A1 + Q/V2 A2,  A2' = Q/V1 A1 − Q/V2 A2,
                 CL(t) = CL0 exp(Emax τ^h/(T50^h + τ^h)),  occ = C/(C+K), C = A1/V1 (ug/mL)

Repair split. μ (33/d for marrow, 11/d for tumour) would hold an explicit step near 0.1 d for the whole run
if Γ were a state. Because Ḋ is a sum of exponentials, Γ' = Ḋ − μΓ has the exact solution
Γ = Σ_k u_k/(μ − λ_k) + r with r' = −μ r: the slow part is algebraic in the u's, and only the residual r —
which decays within hours — is a state (``repair_residual``, ``marrow_repair_residual``). A component is
"slow" when λ_k < μ/2 (:data:`SLOW_FRACTION`), so 1/(μ − λ_k) ≤ 2/μ and no cancellation can occur when λ_k
is close to μ: faster components instead drive r (r' = Σ_fast u_k − μ r), which keeps the split exact for
every λ. Γ stays continuous across an administration because every jump Δu_k of a slow component comes
with the jump Δr = −Δu_k/(μ − λ_k) (:func:`repair_residual_events`). After a few hours r and the fast u's
are negligible, the engine sets them to zero, and the smooth dynamics set the step.

The untreated net growth rate is the stated doubling time: r is chosen in :func:`parameter_vector` so that
s_g r G V/(V+v_c) − κ₀ = ln 2/T_d at the initial volume (κ₀ the baseline immune kill), and with no drug
and no RPT every immune state sits at its steady state.

Exhaustion. Effector cells primed while PD-1 meets tumour PD-L1 unblocked, under persistent antigen, are
exhausted in the ratio g_x e : 1 (the same engagement φ_P P (1 − occ) that suppresses killing); they leave
the functional pool for X, kill with the fraction f_X of an effector's function, form no memory and never
return to T: a later antibody restores them only to f_XB (Wherry 2011 Nat Immunol 12:492; Pauken et al. 2016
Science 354:1160, exhaustion is epigenetically fixed and blockade reinvigorates only partly; Dovedi et al.
2014 Cancer Res 74:5458, PD-L1 raised after RT drives adaptive resistance and only concomitant blockade
cures). This is what makes anti-PD-L1 before or with RPT beat the same antibody given long after. No
priming happens untreated (C = 0), so X = 0 at the untreated steady state.

Uptake heterogeneity. A lesion is not uniformly target-positive: PSMA expression is lost or low in part of
mCRPC (15–20 % of castration-resistant tumours, lower in liver metastases: Bakht et al. 2023 Nat Cancer 4:699;
heterogeneous PSMA within metastases: Current et al. 2020 Clin Cancer Res; low PSMA-PET uptake predicts poor
outcome of Lu-PSMA: Seifert et al. 2020, Ferdinandus et al. 2020; TheraP excluded FDG-positive/PSMA-negative
disease: Hofman et al. 2021 Lancet 397:797), and
SSTR2A is negative or weak in about a fifth of NET liver metastases and heterogeneous in two thirds of primaries
(Charoenpitakchai et al. 2017 Virchows Arch 470:545). Each lesion therefore carries a second viable
population W of target-low cells, its initial share ``low_uptake_fraction`` a per-patient covariate. W grows
and is killed by the immune system like V but receives only the fraction f_low of the lesion's dose rate
(cross-fire from the target-positive neighbours; Γ is linear in Ḋ, so its damage is f_low Γ and the
quadratic kill 2β f_low² Ḋ Γ). The doomed cells are shared. Switched off (``switch_uptake_heterogeneity``
= 0), f = 1 and W behaves exactly as V. W regrows after RPT and is what keeps Lu-177 from curing every
lesion; f_low is an assumption fitted to the monotherapy trials (rptici.analysis.calibration).

Mitotic death. Lethally irradiated cells are not removed at once: they die when they attempt mitosis, after
one or a few abortive divisions, so the clearance of doomed cells follows the proliferation rate of the
tumour (Dale & Jones 1998 Br J Radiol 71:465, delayed cell death in slowly proliferating tumours; Sachs et
al. 2001 Phys Med Biol; NETs shrink slowly and incompletely after PRRT). With ``switch_mitotic_death`` on,
each lesion's doomed-cell lifetime is τ = max(τ0, k T_d), T_d its volume doubling time and k
(``doomed_lifetime_doublings``) the number of cell cycles to death times T_pot/T_d (cell loss makes the
potential doubling time a fraction of the volume doubling time); off, every lesion uses τ0
(``doomed_cell_lifetime``). A slow NET (T_d ≈ 450 d) keeps its doomed cells for months.

Stroma. A CT measures the whole lesion: tumour cells plus stroma (fibrosis, necrosis, vessels, matrix),
which makes up a share σ (``stroma_share``) of carcinomas and does not disappear when the tumour cells die.
The lesion-volume covariate is the measured volume: the tumour cells are V(0) = (1 − σ) of it and the stroma
S0 = σ/(1 − σ) V(0) = σ of it, which never shrinks below S0 and grows with the tumour above it. It enters
only the measured volume and diameter (:func:`observables`), not the dynamics; σ = 0 removes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..kinetics import occupancy_fraction
from .parameters import ImmunityParameters

try:  # numba is optional (the "fast" extra); without it the same functions run as plain Python
    from numba import njit as _njit
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _njit = None


def jit(function: Callable) -> Callable:
    """numba ``njit(cache=True, fastmath=False)`` when numba is installed, else ``function`` unchanged.

    Either way the result has ``py_func``, the pure-Python function (the engine's Python path uses it).
    """
    if _njit is None:
        function.py_func = function  # type: ignore[attr-defined]
        return function
    return _njit(cache=True, fastmath=False)(function)


# --- layout ---------------------------------------------------------------------------------------------

SYSTEMIC_STATES: tuple[str, ...] = (
    "antigen", "interferon", "dendritic_cells", "effector_blood", "regulatory", "suppressor", "memory",
    "lymphocytes", "psa", "antibody_central", "antibody_peripheral", "ctla4_central", "ctla4_peripheral",
    "marrow_dose", "marrow_repair_residual", "marrow_quadratic", "exhausted",
)
LESION_STATES: tuple[str, ...] = (
    "viable", "doomed", "repair_residual", "dose", "quadratic", "effector", "pdl1", "radiation_signal", "viable_low",
)
GLOBAL_PARAMETERS: tuple[str, ...] = (
    "n_lesions", "n_exponentials", "antibody_first_dose_time", "ctla4_first_dose_time",
    "switch_growth", "switch_gompertz", "switch_radiation_kill", "switch_immunogenic_cell_death",
    "switch_sting", "switch_priming", "switch_trafficking_limit", "switch_mhc_upregulation",
    "switch_pdl1_ifn", "switch_pdl1_radiation", "switch_ici_suppression_relief", "switch_regulatory_suppression",
    "switch_ctla4_priming", "switch_ctla4_treg_depletion", "switch_lymphocyte_kill", "switch_memory",
    "switch_abscopal", "switch_psa", "switch_exhaustion", "switch_uptake_heterogeneity",
    "doomed_death_rate", "cell_volume", "antigen_yield", "antigen_clearance_rate", "antigen_half_saturation",
    "sting_yield", "interferon_clearance_rate", "interferon_half_saturation", "sting_dependence",
    "dc_maturation_rate", "dc_death_rate", "priming_rate", "effector_blood_death_rate",
    "effector_tumour_turnover_rate", "trafficking_interferon_gain", "kill_rate", "mhc_gain",
    "radiation_signal_decay_rate", "radiation_signal_half_saturation", "pdl1_rate", "pdl1_ifn_gain",
    "pdl1_effector_half_saturation", "pdl1_radiation_gain", "pdl1_suppression", "treg_suppression",
    "mdsc_suppression", "treg_turnover_rate", "treg_expansion_gain", "treg_depletion_rate",
    "treg_radiosensitivity", "mdsc_turnover_rate", "mdsc_recruitment_gain", "ctla4_priming_gain",
    "ctla4_treg_depletion_rate", "ici_priming_gain", "lymphocyte_alpha", "lymphocyte_beta", "lymphocyte_recovery_rate",
    "lymphocyte_baseline", "lymphoid_dose_factor", "marrow_repair_rate", "marrow_alpha_beta",
    "memory_fraction", "memory_decay_rate", "memory_recall_rate", "memory_recall_half_saturation",
    "psa_production", "psa_clearance_rate",
    "exhaustion_gain", "exhaustion_burden_half_saturation", "exhausted_death_rate", "exhausted_function",
    "exhausted_function_blocked", "low_uptake_dose_fraction",
    "antibody_clearance", "antibody_central_volume", "antibody_intercompartmental_clearance",
    "antibody_peripheral_volume", "antibody_clearance_emax", "antibody_clearance_t50", "antibody_clearance_hill",
    "antibody_half_occupancy",
    "ctla4_clearance", "ctla4_central_volume", "ctla4_intercompartmental_clearance",
    "ctla4_peripheral_volume", "ctla4_clearance_emax", "ctla4_clearance_t50", "ctla4_clearance_hill",
    "ctla4_half_occupancy", "switch_mitotic_death", "stroma_share",
)
LESION_PARAMETERS: tuple[str, ...] = (
    "present", "growth_rate", "carrying_capacity", "alpha", "beta", "repair_rate", "infiltration", "pdl1_base",
    "doomed_death_rate", "stroma_volume",
)
MAX_LESIONS = 8

N_SYSTEMIC_STATES = len(SYSTEMIC_STATES)
N_LESION_STATES = len(LESION_STATES)
N_GLOBAL_PARAMETERS = len(GLOBAL_PARAMETERS)
N_LESION_PARAMETERS = len(LESION_PARAMETERS)

# Index constants: numba reads module globals as compile-time constants.
(S_ANTIGEN, S_INTERFERON, S_DENDRITIC, S_EFFECTOR_BLOOD, S_REGULATORY, S_SUPPRESSOR, S_MEMORY, S_LYMPHOCYTES,
 S_PSA, S_ANTIBODY_CENTRAL, S_ANTIBODY_PERIPHERAL, S_CTLA4_CENTRAL, S_CTLA4_PERIPHERAL, S_MARROW_DOSE,
 S_MARROW_RESIDUAL, S_MARROW_QUADRATIC, S_EXHAUSTED) = range(N_SYSTEMIC_STATES)
(L_VIABLE, L_DOOMED, L_RESIDUAL, L_DOSE, L_QUADRATIC, L_EFFECTOR, L_PDL1, L_SIGNAL, L_VIABLE_LOW) = range(N_LESION_STATES)
(P_N_LESIONS, P_N_EXPONENTIALS, P_ANTIBODY_FIRST, P_CTLA4_FIRST,
 P_SW_GROWTH, P_SW_GOMPERTZ, P_SW_RADIATION_KILL, P_SW_ICD, P_SW_STING, P_SW_PRIMING, P_SW_TRAFFICKING,
 P_SW_MHC, P_SW_PDL1_IFN, P_SW_PDL1_RADIATION, P_SW_ICI, P_SW_REGULATORY, P_SW_CTLA4_PRIMING,
 P_SW_CTLA4_DEPLETION, P_SW_LYMPHOCYTE_KILL, P_SW_MEMORY, P_SW_ABSCOPAL, P_SW_PSA, P_SW_EXHAUSTION,
 P_SW_UPTAKE_HETEROGENEITY,
 P_DOOMED_DEATH, P_CELL_VOLUME, P_ANTIGEN_YIELD, P_ANTIGEN_CLEARANCE, P_ANTIGEN_HALF, P_STING_YIELD,
 P_IFN_CLEARANCE, P_IFN_HALF, P_STING_DEPENDENCE, P_DC_MATURATION, P_DC_DEATH, P_PRIMING,
 P_EFFECTOR_BLOOD_DEATH, P_EFFECTOR_TURNOVER, P_TRAFFICKING_IFN_GAIN, P_KILL, P_MHC_GAIN, P_SIGNAL_DECAY,
 P_SIGNAL_HALF, P_PDL1_RATE, P_PDL1_IFN_GAIN, P_PDL1_EFFECTOR_HALF, P_PDL1_RADIATION_GAIN, P_PDL1_SUPPRESSION,
 P_TREG_SUPPRESSION, P_MDSC_SUPPRESSION, P_TREG_TURNOVER, P_TREG_EXPANSION, P_TREG_DEPLETION,
 P_TREG_RADIOSENSITIVITY, P_MDSC_TURNOVER, P_MDSC_RECRUITMENT, P_CTLA4_PRIMING_GAIN, P_CTLA4_DEPLETION, P_ICI_PRIMING_GAIN,
 P_LYMPHOCYTE_ALPHA, P_LYMPHOCYTE_BETA, P_LYMPHOCYTE_RECOVERY, P_LYMPHOCYTE_BASELINE, P_LYMPHOID_DOSE_FACTOR,
 P_MARROW_REPAIR, P_MARROW_ALPHA_BETA, P_MEMORY_FRACTION, P_MEMORY_DECAY, P_MEMORY_RECALL, P_MEMORY_RECALL_HALF,
 P_PSA_PRODUCTION, P_PSA_CLEARANCE,
 P_EXHAUSTION, P_EXHAUSTION_HALF, P_EXHAUSTED_DEATH, P_EXHAUSTED_FUNCTION, P_EXHAUSTED_FUNCTION_BLOCKED,
 P_LOW_UPTAKE_DOSE_FRACTION, P_ANTIBODY, P_ANTIBODY_1, P_ANTIBODY_2, P_ANTIBODY_3, P_ANTIBODY_4,
 P_ANTIBODY_5, P_ANTIBODY_6, P_ANTIBODY_7, P_CTLA4, P_CTLA4_1, P_CTLA4_2, P_CTLA4_3, P_CTLA4_4, P_CTLA4_5,
 P_CTLA4_6, P_CTLA4_7, P_SW_MITOTIC_DEATH, P_STROMA_SHARE) = range(N_GLOBAL_PARAMETERS)
(Q_PRESENT, Q_GROWTH, Q_CAPACITY, Q_ALPHA, Q_BETA, Q_REPAIR, Q_INFILTRATION, Q_PDL1_BASE, Q_DOOMED_DEATH,
 Q_STROMA) = range(N_LESION_PARAMETERS)

#: switch name (without ``switch_``) → (parameter whose zero removes the same term, lesion parameter?)
SWITCH_EQUIVALENTS: dict[str, tuple[str, bool]] = {
    "growth": ("growth_rate", True),
    "radiation_kill": ("alpha", True),  # with beta also zero
    "immunogenic_cell_death": ("antigen_yield", False),
    "sting": ("sting_yield", False),
    "priming": ("priming_rate", False),
    "mhc_upregulation": ("mhc_gain", False),
    "pdl1_ifn": ("pdl1_ifn_gain", False),
    "pdl1_radiation": ("pdl1_radiation_gain", False),
    "ici_suppression_relief": ("antibody_half_occupancy", False),  # K → ∞ is occupancy 0; see tests
    "ctla4_priming": ("ctla4_priming_gain", False),
    "ctla4_treg_depletion": ("ctla4_treg_depletion_rate", False),
    "memory": ("memory_fraction", False),  # with memory_recall_rate also zero
    "psa": ("psa_production", False),
    "exhaustion": ("exhaustion_gain", False),
}


@dataclass(frozen=True)
class ModelLayout:
    """Where every state and parameter of one patient sits, for ``n_lesions`` lesions and ``n_exponentials``
    exponential components per dose-rate driver.

    States: the systemic block (:data:`SYSTEMIC_STATES`), the blood/red-marrow dose-rate drivers, then one
    block per lesion (:data:`LESION_STATES` followed by that lesion's drivers). Parameters: the global block
    (:data:`GLOBAL_PARAMETERS`), the decay rates of the blood drivers, then one block per lesion
    (:data:`LESION_PARAMETERS` followed by the decay rates of its drivers).
    """

    n_lesions: int
    n_exponentials: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.n_lesions, bool) or not isinstance(self.n_lesions, (int, np.integer)) \
                or not 1 <= self.n_lesions <= MAX_LESIONS:
            raise InputError("n_lesions", self.n_lesions, f"an integer from 1 to {MAX_LESIONS}")
        if isinstance(self.n_exponentials, bool) or not isinstance(self.n_exponentials, (int, np.integer)) \
                or not 1 <= self.n_exponentials <= 6:
            raise InputError("n_exponentials", self.n_exponentials, "an integer from 1 to 6")

    @property
    def lesion_state_size(self) -> int:
        return N_LESION_STATES + self.n_exponentials

    @property
    def lesion_parameter_size(self) -> int:
        return N_LESION_PARAMETERS + self.n_exponentials

    @property
    def n_states(self) -> int:
        return N_SYSTEMIC_STATES + self.n_exponentials + self.n_lesions * self.lesion_state_size

    @property
    def n_params(self) -> int:
        return N_GLOBAL_PARAMETERS + self.n_exponentials + self.n_lesions * self.lesion_parameter_size

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
        if lesion is None:
            if name not in SYSTEMIC_STATES:
                raise InputError("state", name, f"one of {', '.join(SYSTEMIC_STATES)} (or a lesion state with lesion=)")
            return SYSTEMIC_STATES.index(name)
        if name not in LESION_STATES:
            raise InputError("state", name, f"one of {', '.join(LESION_STATES)}")
        return self.lesion_start(lesion) + LESION_STATES.index(name)

    def lesion_states(self, name: str) -> np.ndarray:
        """Indices of state ``name`` in every lesion, shape (n_lesions,)."""
        return np.array([self.state(name, lesion) for lesion in range(self.n_lesions)], dtype=np.int64)

    def lesion_start(self, lesion: int) -> int:
        return N_SYSTEMIC_STATES + self.n_exponentials + self._lesion(lesion) * self.lesion_state_size

    def parameter(self, name: str, lesion: int | None = None) -> int:
        """Index of a global parameter (``lesion`` None) or of a lesion's parameter."""
        if lesion is None:
            if name not in GLOBAL_PARAMETERS:
                raise InputError("parameter", name, f"one of {len(GLOBAL_PARAMETERS)} global parameter names "
                                                    "(GLOBAL_PARAMETERS) or a lesion parameter with lesion=")
            return GLOBAL_PARAMETERS.index(name)
        if name not in LESION_PARAMETERS:
            raise InputError("parameter", name, f"one of {', '.join(LESION_PARAMETERS)}")
        return self.lesion_parameter_start(lesion) + LESION_PARAMETERS.index(name)

    def lesion_parameter_start(self, lesion: int) -> int:
        return N_GLOBAL_PARAMETERS + self.n_exponentials + self._lesion(lesion) * self.lesion_parameter_size

    def dose_rate_state(self, region: int | str, k: int) -> int:
        """State u_k of the dose-rate driver of ``region`` (a lesion index or "blood"); Ḋ = Σ_k u_k (Gy/d)."""
        k = self._exponential(k)
        if region == "blood":
            return N_SYSTEMIC_STATES + k
        return self.lesion_start(region) + N_LESION_STATES + k  # type: ignore[arg-type]

    def dose_rate_decay_param(self, region: int | str, k: int) -> int:
        """Parameter holding the decay rate (1/d) of driver u_k of ``region`` (u_k' = −rate·u_k)."""
        k = self._exponential(k)
        if region == "blood":
            return N_GLOBAL_PARAMETERS + k
        return self.lesion_parameter_start(region) + N_LESION_PARAMETERS + k  # type: ignore[arg-type]

    @property
    def antibody_central(self) -> int:
        """Central amount (mg) of the anti-PD-1/PD-L1 antibody; an infusion adds its dose here."""
        return S_ANTIBODY_CENTRAL

    @property
    def antibody_peripheral(self) -> int:
        return S_ANTIBODY_PERIPHERAL

    @property
    def ctla4_central(self) -> int:
        """Central amount (mg) of the anti-CTLA-4 antibody; an infusion adds its dose here."""
        return S_CTLA4_CENTRAL

    @property
    def ctla4_peripheral(self) -> int:
        return S_CTLA4_PERIPHERAL

    @property
    def antibody_first_dose_param(self) -> int:
        """Parameter: day of the first anti-PD-(L)1 infusion (time-varying clearance runs from it)."""
        return P_ANTIBODY_FIRST

    @property
    def ctla4_first_dose_param(self) -> int:
        return P_CTLA4_FIRST

    @property
    def state_names(self) -> tuple[str, ...]:
        names = list(SYSTEMIC_STATES) + [f"blood_dose_rate_{k}" for k in range(self.n_exponentials)]
        for lesion in range(self.n_lesions):
            names += [f"{name}_{lesion}" for name in LESION_STATES]
            names += [f"dose_rate_{lesion}_{k}" for k in range(self.n_exponentials)]
        return tuple(names)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        names = list(GLOBAL_PARAMETERS) + [f"blood_decay_rate_{k}" for k in range(self.n_exponentials)]
        for lesion in range(self.n_lesions):
            names += [f"{name}_{lesion}" for name in LESION_PARAMETERS]
            names += [f"decay_rate_{lesion}_{k}" for k in range(self.n_exponentials)]
        return tuple(names)


# --- right-hand side ------------------------------------------------------------------------------------

@jit
def _saturation(x: float, half: float) -> float:
    """x/(x + half) for x ≥ 0 (negative overshoots of the solver count as 0)."""
    if x <= 0.0:
        return 0.0
    return x / (x + half)


@jit
def _antibody(t: float, y: np.ndarray, p: np.ndarray, dydt: np.ndarray, central: int, start: int,
              first_dose: int) -> float:
    """Two-compartment antibody with CL(t) = CL0 exp(Emax τ^h/(T50^h+τ^h)); returns occupancy C/(C+K).

    Amounts in mg and volumes in L, so C = A1/V1 is in mg/L = ug/mL (kinetics/antibody.py, same equations).
    """
    clearance = p[start]
    volume = p[start + 1]
    exchange = p[start + 2]
    peripheral_volume = p[start + 3]
    emax = p[start + 4]
    elapsed = t - p[first_dose]
    if emax != 0.0 and elapsed > 0.0:
        ratio = (elapsed / p[start + 5]) ** p[start + 6]
        clearance = clearance * math.exp(emax * ratio / (1.0 + ratio))
    amount = y[central]
    amount_peripheral = y[central + 1]
    transfer = exchange / volume * amount - exchange / peripheral_volume * amount_peripheral
    dydt[central] = -clearance / volume * amount - transfer
    dydt[central + 1] = transfer
    return _saturation(amount / volume, p[start + 7])


#: A dose-rate component u_k counts as slow, its share of Γ algebraic, when its decay rate λ_k < SLOW_FRACTION × μ.
SLOW_FRACTION = 0.5


@jit
def _dose_rate_and_damage(y: np.ndarray, p: np.ndarray, first_state: int, first_parameter: int, n_exp: int,
                          repair_rate: float, residual: float) -> tuple[float, float, float]:
    """(Ḋ, Γ, forcing of the residual) of one region from its drivers u_k and repair residual r.

    Γ = Σ_slow u_k/(μ − λ_k) + r with r' = Σ_fast u_k − μ r (see :func:`repair_weights`).
    """
    rate = 0.0
    damage = residual
    forcing = 0.0
    for k in range(n_exp):
        u = y[first_state + k]
        decay = p[first_parameter + k]
        rate += u
        if decay < SLOW_FRACTION * repair_rate:
            damage += u / (repair_rate - decay)
        else:
            forcing += u
    return rate, damage, forcing


@jit
def _doomed_death_rate(p: np.ndarray, q: int) -> float:
    """1/τ of the lesion whose parameters start at ``q``: the lesion's mitotic rate 1/(k T_d) when
    ``switch_mitotic_death`` is on, else the fixed 1/τ0 (module docstring, "Mitotic death")."""
    return p[P_DOOMED_DEATH] + p[P_SW_MITOTIC_DEATH] * (p[q + Q_DOOMED_DEATH] - p[P_DOOMED_DEATH])


@jit
def rhs(t: float, y: np.ndarray, p: np.ndarray, dydt: np.ndarray) -> None:
    """d y/dt of one patient, written into ``dydt`` (see the module docstring for the equations)."""
    n_lesions = int(p[P_N_LESIONS])
    n_exp = int(p[P_N_EXPONENTIALS])
    lesion_size = N_LESION_STATES + n_exp
    lesion_parameter_size = N_LESION_PARAMETERS + n_exp
    first_lesion = N_SYSTEMIC_STATES + n_exp
    first_lesion_parameter = N_GLOBAL_PARAMETERS + n_exp

    marrow_repair = p[P_MARROW_REPAIR]
    blood_rate, blood_damage, blood_forcing = _dose_rate_and_damage(
        y, p, N_SYSTEMIC_STATES, N_GLOBAL_PARAMETERS, n_exp, marrow_repair, y[S_MARROW_RESIDUAL])
    for k in range(n_exp):
        dydt[N_SYSTEMIC_STATES + k] = -p[N_GLOBAL_PARAMETERS + k] * y[N_SYSTEMIC_STATES + k]

    occupancy = _antibody(t, y, p, dydt, S_ANTIBODY_CENTRAL, P_ANTIBODY, P_ANTIBODY_FIRST)
    occupancy_ctla4 = _antibody(t, y, p, dydt, S_CTLA4_CENTRAL, P_CTLA4, P_CTLA4_FIRST)

    antigen = y[S_ANTIGEN]
    interferon = y[S_INTERFERON]
    dendritic = y[S_DENDRITIC]
    effector_blood = y[S_EFFECTOR_BLOOD]
    regulatory = y[S_REGULATORY]
    suppressor = y[S_SUPPRESSOR]
    memory = y[S_MEMORY]
    lymphocytes = y[S_LYMPHOCYTES]

    switch_regulatory = p[P_SW_REGULATORY]
    switch_lymphocyte_kill = p[P_SW_LYMPHOCYTE_KILL]
    interferon_signal = _saturation(interferon, p[P_IFN_HALF])
    trafficking_boost = 1.0 + p[P_TRAFFICKING_IFN_GAIN] * interferon_signal
    systemic_suppression = switch_regulatory * (p[P_TREG_SUPPRESSION] * regulatory
                                                + p[P_MDSC_SUPPRESSION] * suppressor)
    relief = p[P_SW_ICI] * occupancy
    exhausted = y[S_EXHAUSTED]
    # exhausted effectors traffic with the pool but keep only part of their function, partly restored by blockade
    exhausted_function = (p[P_EXHAUSTED_FUNCTION]
                          + (p[P_EXHAUSTED_FUNCTION_BLOCKED] - p[P_EXHAUSTED_FUNCTION]) * relief)
    functional_blood = effector_blood + exhausted_function * max(exhausted, 0.0)

    # target-low cells receive the fraction f of the lesion's dose rate (and f Γ of its damage); switched off, f = 1
    low_fraction = 1.0 - p[P_SW_UPTAKE_HETEROGENEITY] * (1.0 - p[P_LOW_UPTAKE_DOSE_FRACTION])

    # the largest lesion dose sets how far each lesion reaches the systemic pool (abscopal switch off)
    largest_dose = 0.0
    for lesion in range(n_lesions):
        if p[first_lesion_parameter + lesion * lesion_parameter_size + Q_PRESENT] != 0.0:
            largest_dose = max(largest_dose, y[first_lesion + lesion * lesion_size + L_DOSE])

    # lesions, summing what the systemic equations need (burden, dying cells, radiation kill, PD-L1 met)
    burden = 0.0
    engaged = 0.0
    volume = 0.0
    dying = 0.0
    irradiated = 0.0
    for lesion in range(n_lesions):
        s = first_lesion + lesion * lesion_size
        q = first_lesion_parameter + lesion * lesion_parameter_size
        if p[q + Q_PRESENT] == 0.0:
            for index in range(lesion_size):
                dydt[s + index] = 0.0
            continue
        repair = p[q + Q_REPAIR]
        residual = y[s + L_RESIDUAL]
        rate, damage, forcing = _dose_rate_and_damage(y, p, s + N_LESION_STATES, q + N_LESION_PARAMETERS, n_exp,
                                                      repair, residual)
        for k in range(n_exp):
            dydt[s + N_LESION_STATES + k] = -p[q + N_LESION_PARAMETERS + k] * y[s + N_LESION_STATES + k]
        viable = y[s + L_VIABLE]
        viable_low = y[s + L_VIABLE_LOW]
        doomed = y[s + L_DOOMED]
        effector = y[s + L_EFFECTOR]
        pdl1 = y[s + L_PDL1]
        signal = y[s + L_SIGNAL]
        cells = max(viable, 0.0) + max(viable_low, 0.0)
        total = cells + doomed
        death_rate = _doomed_death_rate(p, q)
        burden += cells
        engaged += cells * max(pdl1, 0.0)
        volume += cells + max(doomed, 0.0)
        dying += death_rate * doomed

        growth = 0.0
        growth_low = 0.0
        if total > 0.0 and (viable > 0.0 or viable_low > 0.0):
            if p[P_SW_GOMPERTZ] != 0.0:
                shape = math.log(p[q + Q_CAPACITY] / total)
            else:
                shape = 1.0 - total / p[q + Q_CAPACITY]
            per_cell = p[P_SW_GROWTH] * p[q + Q_GROWTH] * shape
            if viable > 0.0:
                growth = per_cell * viable * viable / (viable + p[P_CELL_VOLUME])
            if viable_low > 0.0:  # each sub-population needs its own surviving cells to regrow
                growth_low = per_cell * viable_low * viable_low / (viable_low + p[P_CELL_VOLUME])
        switch_radiation = p[P_SW_RADIATION_KILL]
        radiation_kill = switch_radiation * (p[q + Q_ALPHA] * rate + 2.0 * p[q + Q_BETA] * rate * damage) * viable
        radiation_kill_low = switch_radiation * (p[q + Q_ALPHA] * low_fraction * rate + 2.0 * p[q + Q_BETA]
                                                 * low_fraction * low_fraction * rate * damage) * viable_low
        irradiated += radiation_kill + radiation_kill_low
        radiation_signal = _saturation(signal, p[P_SIGNAL_HALF])
        mhc = 1.0 + p[P_SW_MHC] * p[P_MHC_GAIN] * radiation_signal
        suppression = 1.0 / (1.0 + p[P_PDL1_SUPPRESSION] * max(pdl1, 0.0) * (1.0 - relief) + systemic_suppression)
        immune_rate = p[P_KILL] * max(effector, 0.0) * mhc * suppression

        dydt[s + L_VIABLE] = growth - radiation_kill - immune_rate * viable
        dydt[s + L_VIABLE_LOW] = growth_low - radiation_kill_low - immune_rate * viable_low
        dydt[s + L_DOOMED] = radiation_kill + radiation_kill_low - death_rate * doomed
        dydt[s + L_RESIDUAL] = forcing - repair * residual
        dydt[s + L_DOSE] = rate
        dydt[s + L_QUADRATIC] = rate * damage

        infiltration = p[P_SW_TRAFFICKING] * p[q + Q_INFILTRATION] + (1.0 - p[P_SW_TRAFFICKING])
        share = 0.0
        if largest_dose > 0.0:
            share = y[s + L_DOSE] / largest_dose
        reach = p[P_SW_ABSCOPAL] + (1.0 - p[P_SW_ABSCOPAL]) * share
        turnover = p[P_EFFECTOR_TURNOVER]
        local_kill = switch_lymphocyte_kill * (p[P_LYMPHOCYTE_ALPHA] * rate
                                               + 2.0 * p[P_LYMPHOCYTE_BETA] * rate * damage)
        dydt[s + L_EFFECTOR] = (turnover * infiltration * (1.0 + (functional_blood - 1.0) * reach) * trafficking_boost
                                - turnover * effector - local_kill * effector)
        target = (p[q + Q_PDL1_BASE]
                  + p[P_SW_PDL1_IFN] * p[P_PDL1_IFN_GAIN] * _saturation(effector, p[P_PDL1_EFFECTOR_HALF])
                  + p[P_SW_PDL1_RADIATION] * p[P_PDL1_RADIATION_GAIN] * radiation_signal)
        dydt[s + L_PDL1] = p[P_PDL1_RATE] * (target - pdl1)
        dydt[s + L_SIGNAL] = rate - p[P_SIGNAL_DECAY] * signal

    # systemic immunity
    dydt[S_ANTIGEN] = p[P_SW_ICD] * p[P_ANTIGEN_YIELD] * dying - p[P_ANTIGEN_CLEARANCE] * antigen
    dydt[S_INTERFERON] = p[P_SW_STING] * p[P_STING_YIELD] * irradiated - p[P_IFN_CLEARANCE] * interferon
    antigen_signal = _saturation(antigen, p[P_ANTIGEN_HALF])
    sting = p[P_STING_DEPENDENCE]
    dydt[S_DENDRITIC] = (p[P_DC_MATURATION] * antigen_signal * ((1.0 - sting) + sting * interferon_signal)
                         - p[P_DC_DEATH] * dendritic)
    baseline_lymphocytes = p[P_LYMPHOCYTE_BASELINE]
    treg_priming = switch_regulatory * p[P_TREG_SUPPRESSION]
    priming = (p[P_SW_PRIMING] * p[P_PRIMING] * max(dendritic, 0.0) * max(lymphocytes, 0.0) / baseline_lymphocytes
               * (1.0 + p[P_SW_CTLA4_PRIMING] * p[P_CTLA4_PRIMING_GAIN] * occupancy_ctla4)
               * (1.0 + p[P_ICI_PRIMING_GAIN] * relief)
               * (1.0 + treg_priming) / (1.0 + treg_priming * max(regulatory, 0.0)))
    recall = p[P_SW_MEMORY] * p[P_MEMORY_RECALL] * max(memory, 0.0) * _saturation(burden, p[P_MEMORY_RECALL_HALF])
    lymphoid_rate = p[P_LYMPHOID_DOSE_FACTOR] * blood_rate
    lymphoid_damage = p[P_LYMPHOID_DOSE_FACTOR] * blood_damage
    lymphocyte_kill = switch_lymphocyte_kill * (p[P_LYMPHOCYTE_ALPHA] * lymphoid_rate
                                                + 2.0 * p[P_LYMPHOCYTE_BETA] * lymphoid_rate * lymphoid_damage)
    # exhaustion: cells primed while tumour PD-L1 meets PD-1 unblocked, under persistent antigen, are exhausted
    engagement = 0.0
    if burden > 0.0:
        engagement = (p[P_PDL1_SUPPRESSION] * (engaged / burden) * (1.0 - relief)
                      * _saturation(burden, p[P_EXHAUSTION_HALF]))
    exhausted_share = p[P_SW_EXHAUSTION] * p[P_EXHAUSTION] * engagement
    exhausted_share = exhausted_share / (1.0 + exhausted_share)
    dydt[S_EFFECTOR_BLOOD] = (p[P_EFFECTOR_BLOOD_DEATH] * (1.0 - effector_blood) + (1.0 - exhausted_share) * priming
                              + recall - lymphocyte_kill * effector_blood)
    dydt[S_EXHAUSTED] = exhausted_share * priming - (p[P_EXHAUSTED_DEATH] + lymphocyte_kill) * exhausted
    dydt[S_REGULATORY] = (p[P_TREG_TURNOVER] * (1.0 + p[P_TREG_EXPANSION] * dendritic - regulatory)
                          - (p[P_SW_CTLA4_DEPLETION] * p[P_CTLA4_DEPLETION] * occupancy_ctla4 + p[P_TREG_DEPLETION])
                          * regulatory
                          - switch_lymphocyte_kill * p[P_TREG_RADIOSENSITIVITY] * lymphoid_rate * regulatory)
    dydt[S_SUPPRESSOR] = p[P_MDSC_TURNOVER] * (1.0 + p[P_MDSC_RECRUITMENT] * antigen_signal - suppressor)
    contraction = p[P_EFFECTOR_BLOOD_DEATH] * max(effector_blood - 1.0, 0.0)
    dydt[S_MEMORY] = p[P_SW_MEMORY] * p[P_MEMORY_FRACTION] * contraction - p[P_MEMORY_DECAY] * memory
    dydt[S_LYMPHOCYTES] = p[P_LYMPHOCYTE_RECOVERY] * (baseline_lymphocytes - lymphocytes) - lymphocyte_kill * lymphocytes
    dydt[S_PSA] = p[P_SW_PSA] * p[P_PSA_PRODUCTION] * volume - p[P_PSA_CLEARANCE] * y[S_PSA]
    dydt[S_MARROW_DOSE] = blood_rate
    dydt[S_MARROW_RESIDUAL] = blood_forcing - marrow_repair * y[S_MARROW_RESIDUAL]
    dydt[S_MARROW_QUADRATIC] = blood_rate * blood_damage



# --- the repair split, vectorised ------------------------------------------------------------------------

def _regions(layout: ModelLayout) -> tuple:
    return ("blood",) + tuple(range(layout.n_lesions))


def repair_weights(p: np.ndarray, layout: ModelLayout) -> np.ndarray:
    """Weights w_k = 1/(μ − λ_k) of the slow dose-rate components in Γ (0 for fast ones), (..., regions, k).

    Regions: blood/marrow first, then the lesions. Γ = Σ_k w_k u_k + r (module docstring, "Repair split").
    """
    p = np.asarray(p, dtype=float)
    repair = np.stack([p[..., P_MARROW_REPAIR]] + [p[..., layout.parameter("repair_rate", lesion)]
                                                   for lesion in range(layout.n_lesions)], axis=-1)[..., None]
    decay = np.stack([np.stack([p[..., layout.dose_rate_decay_param(region, k)]
                                for k in range(layout.n_exponentials)], axis=-1)
                      for region in _regions(layout)], axis=-2)
    slow = decay < SLOW_FRACTION * repair
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(slow, 1.0 / np.where(slow, repair - decay, 1.0), 0.0)


def residual_states(layout: ModelLayout) -> np.ndarray:
    """Indices of the repair residual r of each region (blood/marrow first, then lesions)."""
    return np.array([S_MARROW_RESIDUAL] + [layout.state("repair_residual", lesion)
                                           for lesion in range(layout.n_lesions)], dtype=np.int64)


def _driver_states(layout: ModelLayout) -> np.ndarray:
    return np.array([[layout.dose_rate_state(region, k) for k in range(layout.n_exponentials)]
                     for region in _regions(layout)], dtype=np.int64)


def damage(y: np.ndarray, p: np.ndarray, layout: ModelLayout) -> np.ndarray:
    """Sublethal damage Γ (Gy) of every region, (..., regions): marrow first, then the lesions."""
    y = np.asarray(y, dtype=float)
    return np.sum(repair_weights(p, layout) * y[..., _driver_states(layout)], axis=-1) + y[..., residual_states(layout)]


def set_damage(y: np.ndarray, p: np.ndarray, layout: ModelLayout, value: float | np.ndarray = 0.0) -> np.ndarray:
    """``y`` with each region's residual chosen so that Γ = ``value`` given its drivers (for initial states
    with a non-zero dose rate); ``value`` broadcasts against (..., regions)."""
    y = np.array(y, dtype=float)
    y[..., residual_states(layout)] += np.asarray(value, dtype=float) - damage(y, p, layout)
    return y


def antibody_blocks(layout: ModelLayout, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The antibodies whose kinetics are linear with constant coefficients, for exact propagation.

    Returns (pairs (b, 2) of (central, peripheral) states, matrices (patients, b, 2, 2) in 1/d) with
    x' = Mx, M = [[−(CL+Q)/V1, Q/V2], [Q/V1, −Q/V2]] (:func:`_antibody`). An antibody with time-varying
    clearance (Emax ≠ 0 for some patient) is left out: its equations change with time.
    """
    pairs, matrices = [], []
    for prefix, central in (("antibody", S_ANTIBODY_CENTRAL), ("ctla4", S_CTLA4_CENTRAL)):
        clearance, volume, exchange, peripheral, emax = (
            params[:, layout.parameter(f"{prefix}_{name}")]
            for name in ("clearance", "central_volume", "intercompartmental_clearance", "peripheral_volume",
                         "clearance_emax"))
        if np.any(emax != 0.0) or np.any(volume <= 0.0) or np.any(peripheral <= 0.0):
            continue
        pairs.append((central, central + 1))
        matrices.append(np.stack([np.stack([-(clearance + exchange) / volume, exchange / peripheral], axis=-1),
                                  np.stack([exchange / volume, -exchange / peripheral], axis=-1)], axis=-2))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((params.shape[0], 0, 2, 2))
    return np.array(pairs, dtype=np.int64), np.stack(matrices, axis=1)


def repair_residual_events(layout: ModelLayout, params: np.ndarray, events):
    """``events`` (times, states, amounts; each (patients, events)) with, for every jump Δu_k of a slow
    dose-rate component, the jump Δr = −w_k Δu_k of its region's residual, so Γ is continuous; sorted by time.
    """
    event_times, event_state, event_amount = (np.asarray(array) for array in events)
    weights = repair_weights(params, layout)  # (patients, regions, k)
    drivers = _driver_states(layout)
    residuals = residual_states(layout)
    patients = event_times.shape[0]
    region_of = np.full(layout.n_states, -1)
    term_of = np.zeros(layout.n_states, dtype=np.int64)
    for region in range(drivers.shape[0]):
        region_of[drivers[region]] = region
        term_of[drivers[region]] = np.arange(layout.n_exponentials)
    states = np.where(np.isfinite(event_times), event_state, 0)
    region = region_of[states]
    is_driver = (region >= 0) & np.isfinite(event_times)
    rows = np.arange(patients)[:, None]
    weight = np.where(is_driver, weights[rows, np.maximum(region, 0), term_of[states]], 0.0)
    extra = is_driver.any(axis=0)
    if not np.any(extra):
        return event_times, event_state, event_amount
    times = np.concatenate([event_times, np.where(is_driver, event_times, np.inf)[:, extra]], axis=1)
    new_states = np.concatenate([event_state, np.where(is_driver, residuals[np.maximum(region, 0)], 0)[:, extra]],
                                axis=1)
    amounts = np.concatenate([event_amount, (-weight * np.where(is_driver, event_amount, 0.0))[:, extra]], axis=1)
    order = np.argsort(times, axis=1, kind="stable")
    return (np.take_along_axis(times, order, 1), np.take_along_axis(new_states, order, 1).astype(np.int64),
            np.take_along_axis(amounts, order, 1))


# --- parameters and initial state per patient -------------------------------------------------------------

#: Covariate names a ``patients`` object may carry (attribute or mapping key), with accepted spellings.
COVARIATES: dict[str, tuple[str, ...]] = {
    "lesion_volumes": ("lesion_volumes_mL", "lesion_volumes"),
    "infiltration": ("infiltration", "immune_infiltration"),
    "pdl1": ("pdl1", "pdl1_expression"),
    "alpha": ("alpha", "radiosensitivity", "tumour_alpha"),
    "lymphocytes": ("lymphocytes", "baseline_lymphocytes", "lymphocyte_count"),
    "psa": ("psa", "baseline_psa"),
    "weight": ("weight_kg", "weight", "body_weight"),
    "doubling_time": ("doubling_time_days", "doubling_time"),
    "low_uptake_fraction": ("low_uptake_fraction",),
}


@dataclass(frozen=True)
class ImmunityCovariates:
    """Covariates of a batch of patients, arrays with patients first.

    lesion_volumes_mL (patients, lesions), NaN for an absent lesion; infiltration (≥ 0, "hot" ≈ 1, "cold" ≈
    0.1) and pdl1 (fraction of PD-L1-positive tumour cells) per patient or per lesion; alpha (1/Gy) per
    patient or lesion; lymphocytes (10⁹/L), psa (ng/mL, NaN if not prostate cancer), weight_kg per
    patient; doubling_time_days per patient or lesion; low_uptake_fraction (initial share of target-low
    cells, 0 to 1) per patient or lesion. None: the parameter set's default.
    """

    lesion_volumes_mL: Any
    infiltration: Any = None
    pdl1: Any = None
    alpha: Any = None
    lymphocytes: Any = None
    psa: Any = None
    weight_kg: Any = None
    doubling_time_days: Any = None
    low_uptake_fraction: Any = None


def _covariate(patients: Any, key: str) -> Any:
    for spelling in COVARIATES[key]:
        if isinstance(patients, Mapping):
            if spelling in patients:
                return patients[spelling]
        elif getattr(patients, spelling, None) is not None:
            return getattr(patients, spelling)
    return None


def _per_patient(value: Any, default: float, size: int, field: str, positive: bool = True,
                 allow_nan: bool = False) -> np.ndarray:
    array = np.full(size, default, dtype=float) if value is None else np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise InputError(field, f"array of shape {array.shape}", f"a number or an array of shape ({size},)")
    finite = np.isfinite(array)
    bad = ~finite if not allow_nan else np.isinf(array)
    if np.any(bad) or (positive and np.any(array[finite] <= 0)) or np.any(array[finite] < 0):
        raise InputError(field, value, ("positive" if positive else "non-negative") + " finite values"
                         + (" (NaN: not given)" if allow_nan else ""))
    return array


def _per_lesion(value: Any, default: float, size: int, lesions: int, field: str, upper: float | None = None) -> np.ndarray:
    array = np.full((size, lesions), default, dtype=float) if value is None else np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full((size, lesions), float(array))
    elif array.ndim == 1:
        if array.shape != (size,):
            raise InputError(field, f"array of shape {array.shape}",
                             f"a number, an array ({size},) per patient or ({size}, {lesions}) per lesion")
        array = np.repeat(array[:, None], lesions, axis=1)
    if array.shape != (size, lesions):
        raise InputError(field, f"array of shape {array.shape}",
                         f"a number, an array ({size},) per patient or ({size}, {lesions}) per lesion")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or (upper is not None and np.any(array > upper)):
        raise InputError(field, value, "finite values" + (f" from 0 to {upper}" if upper is not None else " ≥ 0"))
    return array


@dataclass(frozen=True)
class _Baseline:
    """Per patient/lesion quantities shared by parameter_vector and initial_state."""

    volumes: np.ndarray          # tumour-cell volumes (patients, lesions): measured × (1 − σ), 0 where absent
    present: np.ndarray          # (patients, lesions) bool
    infiltration: np.ndarray     # effective χ (switch applied)
    effector: np.ndarray         # baseline infiltrate E0 = χ
    pdl1_base: np.ndarray
    pdl1: np.ndarray             # baseline PD-L1 state
    alpha: np.ndarray
    doubling_time: np.ndarray
    low_share: np.ndarray        # initial share of target-low viable cells per lesion
    lymphocytes: np.ndarray
    psa: np.ndarray              # NaN where not given
    weight: np.ndarray


def _baseline(parameters: ImmunityParameters, layout: ModelLayout, patients: Any) -> _Baseline:
    if isinstance(patients, ImmunityCovariates):
        patients = {key: getattr(patients, key) for key in ImmunityCovariates.__dataclass_fields__}
    volumes = _covariate(patients, "lesion_volumes")
    if volumes is None:
        raise InputError("patients.lesion_volumes_mL", None, "lesion volumes in mL, shape (patients, lesions)")
    volumes = np.atleast_2d(np.asarray(volumes, dtype=float))
    if volumes.ndim != 2 or volumes.shape[1] != layout.n_lesions:
        raise InputError("patients.lesion_volumes_mL", f"array of shape {volumes.shape}",
                         f"shape (patients, {layout.n_lesions}) matching the layout's lesions")
    present = np.isfinite(volumes)
    if np.any(np.isinf(volumes)) or np.any(volumes[present] <= 0) or np.any(~present.any(axis=1)):
        raise InputError("patients.lesion_volumes_mL", "non-positive, infinite or all-NaN row",
                         "positive volumes in mL (NaN for an absent lesion), at least one lesion per patient")
    capacity = parameters["carrying_capacity"]
    if np.any(volumes[present] >= capacity):
        raise InputError("patients.lesion_volumes_mL", float(np.max(volumes[present])),
                         f"volumes below the carrying capacity {capacity} mL")
    size, lesions = volumes.shape
    stroma_share = parameters.values["stroma_share"]
    stroma_ratio(stroma_share)  # validates 0 ≤ σ < 1
    values = parameters.values
    switch_trafficking = values["switch_trafficking_limit"]
    infiltration = _per_lesion(_covariate(patients, "infiltration"), values["infiltration"], size, lesions,
                               "patients.infiltration")
    infiltration = switch_trafficking * infiltration + (1.0 - switch_trafficking)
    effector = infiltration.copy()
    pdl1_observed = _per_lesion(_covariate(patients, "pdl1"), values["pdl1_expression"], size, lesions,
                                "patients.pdl1", upper=1.0)
    induced = values["switch_pdl1_ifn"] * values["pdl1_ifn_gain"] * effector / (
        effector + values["pdl1_effector_half_saturation"])
    pdl1_base = np.maximum(pdl1_observed - induced, 0.0)
    alpha = _per_lesion(_covariate(patients, "alpha"), values["tumour_alpha"], size, lesions, "patients.alpha")
    doubling = _per_lesion(_covariate(patients, "doubling_time"), values["doubling_time"], size, lesions,
                           "patients.doubling_time_days")
    if np.any(doubling <= 0):
        raise InputError("patients.doubling_time_days", "non-positive value", "positive doubling times in days")
    low_share = _per_lesion(_covariate(patients, "low_uptake_fraction"), values["low_uptake_fraction"], size, lesions,
                            "patients.low_uptake_fraction", upper=1.0)
    odds_scale = values["low_uptake_odds_scale"]  # calibration: multiplies the odds s/(1 − s) of every share
    low_share = odds_scale * low_share / (1.0 - low_share + odds_scale * low_share)
    return _Baseline(
        volumes=np.where(present, volumes, 0.0) * (1.0 - stroma_share), present=present, infiltration=infiltration,
        effector=effector,
        pdl1_base=pdl1_base, pdl1=pdl1_base + induced, alpha=alpha, doubling_time=doubling, low_share=low_share,
        lymphocytes=_per_patient(_covariate(patients, "lymphocytes"), values["lymphocyte_baseline"], size,
                                 "patients.lymphocytes"),
        psa=_per_patient(_covariate(patients, "psa"), math.nan, size, "patients.psa", positive=False,
                         allow_nan=True),
        weight=_per_patient(_covariate(patients, "weight"), values["body_weight"], size, "patients.weight_kg"))


def stroma_ratio(share: float | np.ndarray) -> np.ndarray:
    """Stroma volume per tumour-cell volume, σ/(1 − σ), for the stromal share σ (0 ≤ σ < 1) of a lesion."""
    share = np.asarray(share, dtype=float)
    if np.any(~np.isfinite(share)) or np.any(share < 0) or np.any(share >= 1):
        raise InputError("stroma_share", share, "a fraction from 0 (no stroma) to below 1")
    return share / (1.0 - share)


def measured_volume(tumour: np.ndarray, stroma_volume: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Lesion volume a CT measures (mL): tumour cells (viable + doomed) plus stroma.

    The stroma (fibrosis, necrosis, vessels, extracellular matrix) does not shrink when tumour cells die: it
    stays at its baseline volume S0 = σ/(1 − σ) V0 and grows with the tumour, max(S0, σ/(1 − σ) V_tumour).
    """
    return tumour + np.maximum(stroma_volume, stroma_ratio(share) * tumour)


def parameter_vector(parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                     overrides: Mapping[str, object] | None = None) -> np.ndarray:
    """Parameter vectors, float64 (patients, layout.n_params), for the covariates in ``patients``.

    ``patients``: an :class:`ImmunityCovariates`, a mapping or any object with the attributes of
    :data:`COVARIATES`. ``overrides`` replace values of the parameter set first (InputError for an
    unknown name). The growth rate of each lesion is chosen so that the untreated net growth at its
    initial volume has the stated doubling time; the dose-rate decay rates are left at 0 for the engine.
    """
    parameters = parameters.with_overrides(overrides)
    values = parameters.values
    base = _baseline(parameters, layout, patients)
    size = base.volumes.shape[0]
    vector = np.zeros((size, layout.n_params))

    def put(name: str, value: object) -> None:
        vector[:, GLOBAL_PARAMETERS.index(name)] = value

    put("n_lesions", layout.n_lesions)
    put("n_exponentials", layout.n_exponentials)
    for name in GLOBAL_PARAMETERS:
        if name in values:
            put(name, values[name])
    put("doomed_death_rate", 1.0 / values["doomed_cell_lifetime"])
    lymphocyte_alpha = values["lymphocyte_alpha"]
    put("lymphocyte_beta", lymphocyte_alpha / values["lymphocyte_alpha_beta"])
    put("lymphocyte_baseline", base.lymphocytes)
    put("marrow_repair_rate", math.log(2.0) / values["marrow_repair_half_time"])
    psa_clearance = math.log(2.0) / values["psa_half_life"]
    put("psa_clearance_rate", psa_clearance)
    total_volume = base.volumes.sum(axis=1)
    put("psa_production", np.where(np.isfinite(base.psa), psa_clearance * np.nan_to_num(base.psa) / total_volume, 0.0))
    for prefix, antibody in (("antibody", parameters.antibody), ("ctla4", parameters.ctla4_antibody)):
        if antibody is None:
            put(f"{prefix}_central_volume", 1.0)
            put(f"{prefix}_peripheral_volume", 1.0)
            put(f"{prefix}_clearance_t50", 1.0)
            put(f"{prefix}_clearance_hill", 1.0)
            put(f"{prefix}_half_occupancy", 1.0)
            continue
        pk = antibody.per_patient(base.weight)
        put(f"{prefix}_clearance", pk["clearance"])
        put(f"{prefix}_central_volume", pk["central_volume"])
        put(f"{prefix}_intercompartmental_clearance", pk["intercompartmental_clearance"])
        put(f"{prefix}_peripheral_volume", pk["peripheral_volume"])
        put(f"{prefix}_clearance_emax", pk["clearance_emax"])
        put(f"{prefix}_clearance_t50", pk["clearance_t50_days"])
        put(f"{prefix}_clearance_hill", pk["clearance_hill"])
        put(f"{prefix}_half_occupancy", antibody.half_occupancy)

    suppression = 1.0 / (1.0 + values["pdl1_suppression"] * base.pdl1
                         + values["switch_regulatory_suppression"] * (values["treg_suppression"] + values["mdsc_suppression"]))
    baseline_kill = values["kill_rate"] * base.effector * suppression
    capacity = values["carrying_capacity"]
    safe_volume = np.where(base.present, base.volumes, 1.0)
    shape = np.log(capacity / safe_volume) if values["switch_gompertz"] else 1.0 - safe_volume / capacity
    # Σ_i V_i²/(V_i + v_c) / V over the target-high and target-low parts (each regrows from its own cells)
    cell_volume = values["cell_volume"]
    low_volume = base.low_share * safe_volume
    high_volume = safe_volume - low_volume
    extinction = (high_volume**2 / (high_volume + cell_volume) + low_volume**2 / (low_volume + cell_volume)) / safe_volume
    growth_rate = (math.log(2.0) / base.doubling_time + baseline_kill) / (shape * extinction)
    alpha_beta = values["tumour_alpha_beta"]
    repair = math.log(2.0) / values["tumour_repair_half_time"]
    # mitotic death: doomed cells live k × T_d (at least τ0); stroma: σ/(1 − σ) of the initial tumour-cell volume
    # (= σ of the measured volume)
    doomed_death_rate = 1.0 / np.maximum(values["doomed_cell_lifetime"],
                                         values["doomed_lifetime_doublings"] * base.doubling_time)
    stroma_volume = stroma_ratio(values["stroma_share"]) * base.volumes
    for lesion in range(layout.n_lesions):
        start = layout.lesion_parameter_start(lesion)
        columns = {"present": base.present[:, lesion].astype(float), "growth_rate": growth_rate[:, lesion],
                   "carrying_capacity": capacity, "alpha": base.alpha[:, lesion],
                   "beta": base.alpha[:, lesion] / alpha_beta, "repair_rate": repair,
                   "infiltration": base.infiltration[:, lesion], "pdl1_base": base.pdl1_base[:, lesion],
                   "doomed_death_rate": doomed_death_rate[:, lesion], "stroma_volume": stroma_volume[:, lesion]}
        for offset, name in enumerate(LESION_PARAMETERS):
            vector[:, start + offset] = np.where(base.present[:, lesion], columns[name], 0.0) \
                if name != "present" else columns[name]
    return vector


def initial_state(parameters: ImmunityParameters, layout: ModelLayout, patients: Any,
                  overrides: Mapping[str, object] | None = None) -> np.ndarray:
    """Initial states (patients, layout.n_states): untreated steady state of every immune state.

    Lesions at (1 − stroma_share) of their volumes (all viable, the share ``low_uptake_fraction`` of them target-low), no dose, baseline infiltrate and PD-L1; effector, regulatory
    and suppressor pools at 1 (their baseline), no antigen, interferon, mature DCs, memory or exhausted
    cells; lymphocytes
    and PSA at the patient's baseline (PSA 0 where not given); no antibody.
    """
    parameters = parameters.with_overrides(overrides)
    base = _baseline(parameters, layout, patients)
    size = base.volumes.shape[0]
    state = np.zeros((size, layout.n_states))
    state[:, S_EFFECTOR_BLOOD] = 1.0
    state[:, S_REGULATORY] = 1.0
    state[:, S_SUPPRESSOR] = 1.0
    state[:, S_LYMPHOCYTES] = base.lymphocytes
    state[:, S_PSA] = np.nan_to_num(base.psa)
    for lesion in range(layout.n_lesions):
        start = layout.lesion_start(lesion)
        present = base.present[:, lesion]
        state[:, start + L_VIABLE] = base.volumes[:, lesion] * (1.0 - base.low_share[:, lesion])
        state[:, start + L_VIABLE_LOW] = base.volumes[:, lesion] * base.low_share[:, lesion]
        state[:, start + L_EFFECTOR] = np.where(present, base.effector[:, lesion], 0.0)
        state[:, start + L_PDL1] = np.where(present, base.pdl1[:, lesion], 0.0)
    return state


# --- observables -------------------------------------------------------------------------------------------

#: States each read-out of :func:`observables` needs: (lesion states, systemic states).
OBSERVABLE_STATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "volume": (("viable", "viable_low", "doomed"), ()), "diameter": (("viable", "viable_low", "doomed"), ()),
    "volume_sum": (("viable", "viable_low", "doomed"), ()),
    "diameter_sum": (("viable", "viable_low", "doomed"), ()),
    "dose": (("dose",), ()), "bed": (("dose", "quadratic"), ()), "effector_tumour": (("effector",), ()),
    "pdl1": (("pdl1",), ()), "psa": ((), ("psa",)), "effector_blood": ((), ("effector_blood",)),
    "regulatory": ((), ("regulatory",)), "cd8_treg_ratio": ((), ("effector_blood", "regulatory")),
    "memory": ((), ("memory",)), "exhausted": ((), ("exhausted",)), "lymphocytes": ((), ("lymphocytes",)),
    "concentration": ((), ("antibody_central",)), "occupancy": ((), ("antibody_central",)),
    "ctla4_occupancy": ((), ("ctla4_central",)), "marrow_dose": ((), ("marrow_dose",)),
    "marrow_bed": ((), ("marrow_dose", "marrow_quadratic")),
}


def observable_states(layout: ModelLayout, names) -> np.ndarray:
    """Sorted state indices that :func:`observables` needs for the read-outs ``names`` (so the solver can
    return only those states)."""
    indices: set[int] = set()
    for name in names:
        if name not in OBSERVABLE_STATES:
            raise InputError("outputs", name, "names among " + ", ".join(OBSERVABLE_STATES))
        lesion_states, systemic = OBSERVABLE_STATES[name]
        indices.update(layout.state(state, lesion) for state in lesion_states for lesion in range(layout.n_lesions))
        indices.update(layout.state(state) for state in systemic)
    return np.array(sorted(indices), dtype=np.int64)


class _SelectedStates:
    """``y[..., selected states]`` read by full-layout index; states not selected read as NaN."""

    def __init__(self, values: np.ndarray, states: np.ndarray, n_states: int) -> None:
        self.values = values
        self.column = np.full(n_states, -1, dtype=np.int64)
        self.column[np.asarray(states, dtype=np.int64)] = np.arange(len(states))
        self.shape = values.shape[:-1] + (n_states,)
        self.ndim = values.ndim

    def __getitem__(self, key):
        index = self.column[key[1]]
        picked = self.values[..., np.maximum(index, 0)]
        return np.where(index >= 0, picked, np.nan) if np.any(index < 0) else picked


#: Read-outs computed from other read-outs (:func:`observables`).
READ_OUT_NEEDS = {"diameter": ("volume",), "volume_sum": ("volume",), "diameter_sum": ("diameter",), "bed": ("dose",),
                  "occupancy": ("concentration",), "marrow_bed": ("marrow_dose",)}


def observables(y: np.ndarray, p: np.ndarray, layout: ModelLayout, states: np.ndarray | None = None,
                names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Clinical read-outs from states ``y`` [..., n_states] and parameters ``p`` [..., n_params] (broadcast).

    With ``states`` (full-layout indices, e.g. from :func:`observable_states`), ``y``'s last axis holds only
    those states; read-outs that need other states come out NaN.

    Per lesion (last axis = lesions; NaN where a lesion is absent): volume (mL, viable + target-low + doomed
    + stroma, :func:`measured_volume`),
    diameter (mm, sphere), dose (Gy), bed (Gy; BED = D + 2∫ḊΓ/(α/β), α/β = α/β_lesion), effector_tumour.
    Sums: volume_sum, diameter_sum (the RECIST sum of diameters). Systemic: psa (ng/mL), effector_blood
    and regulatory (relative to baseline), cd8_treg_ratio, memory, exhausted (relative to the
    baseline effector pool), lymphocytes (10⁹/L), occupancy and
    ctla4_occupancy (C/(C+K)), concentration (ug/mL), marrow_dose and marrow_bed (Gy).
    ``names`` computes only those read-outs (default: all).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if states is not None:
        if y.shape[-1] != len(states):
            raise InputError("y", f"array of shape {y.shape}", f"a last axis of the {len(states)} selected states")
        y = _SelectedStates(y, states, layout.n_states)  # type: ignore[assignment]
    if y.shape[-1] != layout.n_states or p.shape[-1] != layout.n_params:
        raise InputError("y, p", f"shapes {y.shape}, {p.shape}",
                         f"last axes of {layout.n_states} states and {layout.n_params} parameters")
    if 1 < p.ndim == y.ndim - 1:  # (patients, params) against (patients, times, states)
        p = p[..., None, :]
    expected = y.shape[:-1] + (layout.n_params,)
    try:  # p stays unbroadcast: the formulas broadcast what they pick from it (no copy of p per time)
        fits = np.broadcast_shapes(p.shape, expected) == expected
    except ValueError:
        fits = False
    if not fits:
        raise InputError("p", f"array of shape {p.shape}", f"parameters broadcastable to the states' shape {y.shape}")
    starts = np.array([layout.lesion_start(lesion) for lesion in range(layout.n_lesions)])
    parameter_starts = np.array([layout.lesion_parameter_start(lesion) for lesion in range(layout.n_lesions)])
    present = p[..., parameter_starts + Q_PRESENT] != 0

    def lesions(values):
        """NaN where a lesion is absent (the mask is per patient: usually nothing to do)."""
        return values if np.all(present) else np.where(present, values, np.nan)

    def volume(done):
        tumour = np.maximum(y[..., starts + L_VIABLE], 0)
        tumour += np.maximum(y[..., starts + L_VIABLE_LOW], 0)
        tumour += np.maximum(y[..., starts + L_DOOMED], 0)
        return lesions(measured_volume(tumour, p[..., parameter_starts + Q_STROMA], p[..., P_STROMA_SHARE][..., None]))

    def bed(done):
        alpha = p[..., parameter_starts + Q_ALPHA]
        with np.errstate(divide="ignore", invalid="ignore"):  # 2β/α per lesion, 0 where α = 0
            factor = np.where(alpha > 0, 2.0 * p[..., parameter_starts + Q_BETA] / alpha, 0.0)
        return done["dose"] + y[..., starts + L_QUADRATIC] * factor  # NaN where the dose is (absent lesions)

    def lesion_sum(values):
        """Sum over lesions, NaN counted as 0 (np.nansum, without its copy and slow reduction over 2-3 lesions)."""
        total = np.zeros(values.shape[:-1])
        for lesion in range(values.shape[-1]):
            column = values[..., lesion]
            total += np.where(np.isnan(column), 0.0, column)
        return total

    def ctla4_occupancy(done):
        concentration = np.maximum(y[..., S_CTLA4_CENTRAL], 0) / p[..., P_CTLA4 + 1]
        return occupancy_fraction(concentration, p[..., P_CTLA4 + 7])

    # each formula reads the read-outs it needs (READ_OUT_NEEDS) from ``done``, computed before it
    formulas = {
        "volume": volume,
        "diameter": lambda done: 10.0 * 2.0 * np.cbrt(3.0 * done["volume"] / (4.0 * math.pi)),
        "volume_sum": lambda done: lesion_sum(done["volume"]),
        "diameter_sum": lambda done: lesion_sum(done["diameter"]),
        "dose": lambda done: lesions(y[..., starts + L_DOSE]),
        "bed": bed,
        "effector_tumour": lambda done: lesions(y[..., starts + L_EFFECTOR]),
        "pdl1": lambda done: lesions(y[..., starts + L_PDL1]),
        "psa": lambda done: y[..., S_PSA],
        "effector_blood": lambda done: y[..., S_EFFECTOR_BLOOD],
        "regulatory": lambda done: y[..., S_REGULATORY],
        "cd8_treg_ratio": lambda done: y[..., S_EFFECTOR_BLOOD] / np.maximum(y[..., S_REGULATORY], 1e-12),
        "memory": lambda done: y[..., S_MEMORY],
        "exhausted": lambda done: y[..., S_EXHAUSTED],
        "lymphocytes": lambda done: y[..., S_LYMPHOCYTES],
        "concentration": lambda done: np.maximum(y[..., S_ANTIBODY_CENTRAL], 0) / p[..., P_ANTIBODY + 1],
        "occupancy": lambda done: occupancy_fraction(done["concentration"], p[..., P_ANTIBODY + 7]),
        "ctla4_occupancy": ctla4_occupancy,
        "marrow_dose": lambda done: y[..., S_MARROW_DOSE],
        "marrow_bed": lambda done: done["marrow_dose"] + y[..., S_MARROW_QUADRATIC] * (2.0 / p[..., P_MARROW_ALPHA_BETA]),
    }
    wanted = list(formulas) if names is None else list(names)
    for name in wanted:
        if name not in formulas:
            raise InputError("outputs", name, "names among " + ", ".join(sorted(formulas)))
    order: list[str] = []
    pending = list(wanted)
    while pending:  # depth-first: a read-out after the ones it needs
        name = pending.pop()
        if name in order:
            continue
        needs = [need for need in READ_OUT_NEEDS.get(name, ()) if need not in order]
        if needs:
            pending += [name] + needs
        else:
            order.append(name)
    done: dict[str, np.ndarray] = {}
    for name in order:
        done[name] = formulas[name](done)
    return {name: done[name] for name in wanted}
