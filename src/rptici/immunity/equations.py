"""Tumour–immune–checkpoint equations: the right-hand side ``rhs(t, y, p, dydt)`` of one patient.

The indices it reads (``S_*``, ``L_*``, ``P_*``, ``Q_*``, ``PK_*``) are generated from the model table
(:mod:`.table`); a new mechanism adds its entries there and its term here.

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
                 applied as κ₀ + (κ − κ₀)/(1 + ρ/(1 − ρ) e^Λ) where κ > κ₀,  Λ' = max(κ − κ₀, 0)   (escape, below)
  radiation sig. Y' = Ḋ − k_Y Y                                             (drives MHC-I and PD-L1)
  PD-L1          P' = k_P (P_b + s_pi g_i E/(E+K_E) + s_pr g_r Y/(Y+K_Y) − P)
  infiltrate     E' = k_E χ (1 + (T + f_X X − 1) reach)(1 + g_I I/(I+K_I)) − k_E E − s_lk(α_L Ḋ + 2β_L ḊΓ) E
                 f_X = f_X0 + (f_XB − f_X0) s_ici occ     (exhausted cells kill poorly; blockade restores them partly)
                 χ = s_tl χ_lesion + (1 − s_tl);  reach = s_ab + (1 − s_ab) D/D_max
  antigen        A' = s_icd y_A Σ U/τ − k_A A                               (immunogenic cell death)
  interferon     I' = s_st y_I Σ s_rk(αḊ + 2βḊΓ)V − k_I I                  (cGAS–STING)
  dendritic      C' = k_C a(A) ((1 − w) + w I/(I+K_I)) − δ_C C
                 a(A) = s_sat A/(A+K_A) + (1 − s_sat) s_P A/(A+K_G)          (graded priming, below)
  priming        Π = s_pr k_p C (L/L0)(1 + s_cp g_c occ_c)(1 + g_ip s_ici occ)(1 + s_reg φ_R)/(1 + s_reg φ_R R)
  effector pool  T' = δ_T(1 + s_ce g_ce occ_c − T) + (1 − x) Π + s_m k_r M B/(B+K_B) − s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L) T
  exhaustion     X' = x Π − (δ_X + s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L)) X,   x = s_x g_x e/(1 + s_x g_x e)
                 e = φ_P P̄ (1 − s_ici occ) B/(B + K_X),  P̄ = Σ V P / Σ V      (unblocked PD-1 engagement)
  regulatory     R' = δ_R(1 + g_R C − R) − (s_cd d_c occ_c + d_R) R − s_lk α_R Ḋ_L R
  suppressors    M_s' = δ_M(1 + g_M A/(A+K_A) − M_s)
  memory         M' = s_m f_m δ_T max(T − T*, 0) K_B/(B+K_B) − δ_m M   (memory from effectors contracting as
                 antigen wanes, T* = 1 + s_ce g_ce occ_c the pool's set point; below)
  lymphocytes    L' = r_L (L0 − L) − s_lk(α_L Ḋ_L + 2β_L Ḋ_L Γ_L) L        (Ḋ_L = f_L Ḋ_blood, Γ_L = f_L Γ_b)
  PSA            PSA' = s_psa p (Σ(V+W+U) + s_occ O) − k_psa PSA
  occult         O_+' = s_occ[s_g r_o G(O) O_+²/(O_+ + v_c) − s_rk(ᾱḊ_o + 2β̄Ḋ_oΓ_o) O_+ − κ_o O_+],  O = O_+ + O_−
                 O_−' = the same with f Ḋ_o and f² (target-low);  Ḋ_o = f_o mean Ḋ_i,  Γ_o = f_o mean Γ_i
                 κ_o = k_kill χ̄ (T + f_X X)(1 + g_I I/(I+K_I)) / (1 + φ_P P̄ (1 − s_ici occ) + s_reg(φ_R R + φ_S M_s))
  antibody       A1' = −(CL(t)+Q)/V1 A1 + Q/V2 A2,  A2' = Q/V1 A1 − Q/V2 A2,
                 CL(t) = CL0 exp(Emax τ^h/(T50^h + τ^h)),  occ = C/(C+K), C = A1/V1 (ug/mL)

Repair split. μ (33/d for marrow, 11/d for tumour) would hold an explicit step near 0.1 d for the whole run
if Γ were a state. Because Ḋ is a sum of exponentials, Γ' = Ḋ − μΓ has the exact solution
Γ = Σ_k u_k/(μ − λ_k) + r with r' = −μ r: the slow part is algebraic in the u's, and only the residual r —
which decays within hours — is a state (``repair_residual``, ``marrow_repair_residual``). A component is
"slow" when λ_k < μ/2 (:data:`SLOW_FRACTION`), so 1/(μ − λ_k) ≤ 2/μ and no cancellation can occur when λ_k
is close to μ: faster components instead drive r (r' = Σ_fast u_k − μ r), which keeps the split exact for
every λ. Γ stays continuous across an administration because every jump Δu_k of a slow component comes
with the jump Δr = −Δu_k/(μ − λ_k) (:func:`.linear.repair_residual_events`). After a few hours r and the
fast u's are negligible, the engine sets them to zero, and the smooth dynamics set the step.

The untreated net growth rate is the stated doubling time: r is chosen in :func:`.covariates.parameter_vector`
so that s_g r G V/(V+v_c) − κ₀ = ln 2/T_d at the initial volume (κ₀ the baseline immune kill), and with no drug
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

Occult disease. Micrometastases below the detection limit (issue 13 item 2; docs/model.md) are one burden
per patient in two parts, target-positive O_+ and target-low O_− (split as the lesions' target-low share), that
grow at the patient's doubling time (r_o in :func:`.covariates.parameter_vector`), receive the fraction f_o
(``occult_dose_fraction``) of the mean lesion dose rate and damage, and are killed by the systemic effector pool
like a fully reached lesion. The trial runner turns the burden into new lesions (one per
``occult_detection_volume``), which RECIST 1.1 and the PCWG3 bone-scan rule count as progression. Off
(``switch_occult_disease`` = 0, the default) the burden is 0 and constant.

Standard of care with a duration. An arm's standard of care slows every lesion's and the occult burden's growth
(its growth rate r is that of the longer, treated doubling time; :mod:`rptici.trials.standard_of_care`). Where the
care ends on a day (docetaxel's ten cycles), the state c (``standard_of_care``) drops from 1 to 0 by an event at
``care_end_time`` and the growth rates after it are those of the untreated doubling time (``growth_rate_after_care``,
``occult_growth_rate_after_care``; equal to r where the care has no end, so c changes nothing there). The doomed
cells' lifetime keeps the treated doubling time.

Immune escape. A share ρ (``immune_escape_fraction``) of each lesion's cells is invisible to the effectors that
treatment adds (loss of the antigen, of MHC-I or of interferon signalling: B2M truncation and JAK1/2 loss in melanoma
relapsing on anti-PD-1, Zaretsky et al. 2016 N Engl J Med 375:819; Sade-Feldman et al. 2017 Nat Commun 8:1136). The
untreated tumour has already escaped its baseline kill κ₀ (``baseline_immune_kill``, the lesion's untreated rate), so
only kill above it selects: the visible cells undergo the log-kill Λ (``immune_selection``) more than the invisible
ones, whose share grows as ρ e^Λ, and the lesion's mean kill is κ₀ + (κ − κ₀) v, v = 1/(1 + ρ/(1 − ρ) e^Λ) — exactly
the two populations written out, with one state instead of two (they grow and take radiation alike). A lesion held
by immune kill is back at its baseline volume about ln(1/ρ) T_d/ln 2 after the visible cells are gone, unless fewer
than one invisible cell was left (the extinction factor V/(V + v_c)). The occult burden has its own Λ
(``occult_immune_selection``) against its untreated kill. ρ = 0 (the human file's value) is no escape; the
calibration sets it for mCRPC, which carries few mutations (Alexandrov et al. 2013 Nature 500:415) and so few
neoantigens, of which blockade needs clonal ones (McGranahan et al. 2016 Science 351:1463); not for Merkel cell
carcinoma, whose viral antigens are in every cell and whose responses to PD-1 blockade last.

Stroma. A CT measures the whole lesion: tumour cells plus stroma (fibrosis, necrosis, vessels, matrix),
which makes up a share σ (``stroma_share``) of carcinomas and does not disappear when the tumour cells die.
The lesion-volume covariate is the measured volume: the tumour cells are V(0) = (1 − σ) of it and the stroma
S0 = σ/(1 − σ) V(0) = σ of it, which never shrinks below S0 and grows with the tumour above it. It enters
only the measured volume and diameter (:func:`.observables.observables`), not the dynamics; σ = 0 removes it.

Anti-CTLA-4 without radiation. Besides multiplying the priming that RPT's antigen drives (g_c), anti-CTLA-4
raises the set point of the effector pool itself by g_ce occ_c (``ctla4_expansion_gain``): it expands and broadens
the T cells primed on the tumour's endogenous antigen, with no radiation (Kvistborg et al. 2014 Sci Transl Med
6:254ra128). Without it nivolumab + ipilimumab acted as nivolumab alone (CheckMate 650 ORR 25 % reported, 7 %
simulated). Memory forms from contraction above the set point, not from the raised set point itself.

Memory. Memory cells form from contracting effectors as antigen wanes, not under persistent antigen (Wherry et
al. 2004 PNAS 101:16004: antigen-independent memory CD8 T cells do not develop while antigen persists; Kaech and
Cui 2012 Nat Rev Immunol 12:749), hence the factor K_B/(B+K_B), the complement of the recall signal. Recall
re-expands the pool without using it up (memory cells self-renew). Until December 2026 memory also formed under
antigen: the loop memory → recall → effectors → contraction → memory then grew at f_m k_r − δ_m ≈ 0.1/d from any
seed, and any priming at all (one RPT cycle's antigen, or the smallest anti-CTLA-4 expansion) grew into the
eradication of visible and occult disease (the all-or-none immune control that calibration leaned on). Now the
loop's rate is at most f_m k_r s(1 − s) − δ_m with s = B/(B+K_B), ≤ f_m k_r/4 where the burden passes K_B, and
negative elsewhere.

Graded priming (issue 13 item 3). With ``switch_priming_saturation`` on (the calibrated default) the signal
A/(A+K_A) saturates at about one Lu-177 cycle's antigen (K_A = 0.5 mL; one cycle kills about 18 mL of
tumour, 2–7 mL of antigen), so RPT-triggered priming is all or none. Off, the signal is s_P A/(A+K_G) with
K_G (``antigen_graded_half_saturation``) ten cycles above one cycle's antigen: smooth, monotone and nearly
linear in the antigen released; its size s_P (``priming_strength``) has a prior centred on weak (0.1),
because out-of-field responses to RPT alone are not reported in patients.
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Callable

import numpy as np

from ..utils import codecache
from . import table
from .table import (  # generated index constants (table.TABLE)
    L_DOOMED, L_DOSE, L_EFFECTOR, L_IMMUNE_SELECTION, L_PDL1, L_QUADRATIC, L_RADIATION_SIGNAL, L_REPAIR_RESIDUAL,
    L_VIABLE, L_VIABLE_LOW, N_GLOBAL_PARAMETERS, N_LESION_PARAMETERS, N_LESION_STATES, N_SYSTEMIC_STATES,
    PK_CENTRAL_VOLUME, PK_CLEARANCE, PK_CLEARANCE_EMAX, PK_CLEARANCE_HILL, PK_CLEARANCE_T50, PK_HALF_OCCUPANCY,
    PK_INTERCOMPARTMENTAL_CLEARANCE, PK_PERIPHERAL_VOLUME, P_ANTIBODY_CLEARANCE, P_ANTIBODY_FIRST_DOSE_TIME,
    P_ANTIGEN_CLEARANCE_RATE, P_ANTIGEN_GRADED_HALF_SATURATION, P_ANTIGEN_HALF_SATURATION, P_ANTIGEN_YIELD,
    P_CELL_VOLUME, P_CTLA4_CLEARANCE, P_CTLA4_EXPANSION_GAIN, P_CTLA4_FIRST_DOSE_TIME, P_CTLA4_PRIMING_GAIN,
    P_CTLA4_TREG_DEPLETION_RATE, P_DC_DEATH_RATE, P_DC_MATURATION_RATE, P_DOOMED_DEATH_RATE,
    P_EFFECTOR_BLOOD_DEATH_RATE, P_EFFECTOR_TUMOUR_TURNOVER_RATE, P_EXHAUSTED_DEATH_RATE, P_EXHAUSTED_FUNCTION,
    P_EXHAUSTED_FUNCTION_BLOCKED, P_EXHAUSTION_BURDEN_HALF_SATURATION, P_EXHAUSTION_GAIN, P_ICI_PRIMING_GAIN,
    P_IMMUNE_ESCAPE_FRACTION, P_INTERFERON_CLEARANCE_RATE, P_INTERFERON_HALF_SATURATION, P_KILL_RATE,
    P_LOW_UPTAKE_DOSE_FRACTION, P_LYMPHOCYTE_ALPHA, P_LYMPHOCYTE_BASELINE, P_LYMPHOCYTE_BETA,
    P_LYMPHOCYTE_RECOVERY_RATE, P_LYMPHOID_DOSE_FACTOR, P_MARROW_REPAIR_RATE, P_MDSC_RECRUITMENT_GAIN,
    P_MDSC_SUPPRESSION, P_MDSC_TURNOVER_RATE, P_MEMORY_DECAY_RATE, P_MEMORY_FRACTION,
    P_MEMORY_RECALL_HALF_SATURATION, P_MEMORY_RECALL_RATE, P_MHC_GAIN, P_N_EXPONENTIALS, P_N_LESIONS,
    P_OCCULT_BASELINE_IMMUNE_KILL, P_OCCULT_DOSE_FRACTION, P_OCCULT_GROWTH_RATE, P_OCCULT_GROWTH_RATE_AFTER_CARE,
    P_PDL1_EFFECTOR_HALF_SATURATION, P_PDL1_IFN_GAIN, P_PDL1_RADIATION_GAIN, P_PDL1_RATE, P_PDL1_SUPPRESSION,
    P_PRIMING_RATE, P_PRIMING_STRENGTH, P_PSA_CLEARANCE_RATE, P_PSA_PRODUCTION, P_RADIATION_SIGNAL_DECAY_RATE,
    P_RADIATION_SIGNAL_HALF_SATURATION, P_STING_DEPENDENCE, P_STING_YIELD, P_SWITCH_ABSCOPAL,
    P_SWITCH_CTLA4_EXPANSION, P_SWITCH_CTLA4_PRIMING, P_SWITCH_CTLA4_TREG_DEPLETION, P_SWITCH_EXHAUSTION,
    P_SWITCH_GOMPERTZ, P_SWITCH_GROWTH, P_SWITCH_ICI_SUPPRESSION_RELIEF, P_SWITCH_IMMUNE_ESCAPE,
    P_SWITCH_IMMUNOGENIC_CELL_DEATH, P_SWITCH_LYMPHOCYTE_KILL, P_SWITCH_MEMORY, P_SWITCH_MHC_UPREGULATION,
    P_SWITCH_MITOTIC_DEATH, P_SWITCH_OCCULT_DISEASE, P_SWITCH_PDL1_IFN, P_SWITCH_PDL1_RADIATION, P_SWITCH_PRIMING,
    P_SWITCH_PRIMING_SATURATION, P_SWITCH_PSA, P_SWITCH_RADIATION_KILL, P_SWITCH_REGULATORY_SUPPRESSION,
    P_SWITCH_STING, P_SWITCH_TRAFFICKING_LIMIT, P_SWITCH_UPTAKE_HETEROGENEITY, P_TRAFFICKING_INTERFERON_GAIN,
    P_TREG_DEPLETION_RATE, P_TREG_EXPANSION_GAIN, P_TREG_RADIOSENSITIVITY, P_TREG_SUPPRESSION, P_TREG_TURNOVER_RATE,
    Q_ALPHA, Q_BASELINE_IMMUNE_KILL, Q_BETA, Q_CARRYING_CAPACITY, Q_DOOMED_DEATH_RATE, Q_GROWTH_RATE,
    Q_GROWTH_RATE_AFTER_CARE, Q_INFILTRATION, Q_PDL1_BASE, Q_PRESENT, Q_REPAIR_RATE, S_ANTIBODY_CENTRAL,
    S_ANTIBODY_PERIPHERAL, S_ANTIGEN, S_CTLA4_CENTRAL, S_CTLA4_PERIPHERAL, S_DENDRITIC_CELLS, S_EFFECTOR_BLOOD,
    S_EXHAUSTED, S_INTERFERON, S_LYMPHOCYTES, S_MARROW_DOSE, S_MARROW_QUADRATIC, S_MARROW_REPAIR_RESIDUAL, S_MEMORY,
    S_OCCULT, S_OCCULT_IMMUNE_SELECTION, S_OCCULT_LOW, S_PSA, S_REGULATORY, S_STANDARD_OF_CARE, S_SUPPRESSOR,
)

try:  # numba is optional (the "fast" extra); without it the same functions run as plain Python
    from numba import njit as _njit
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _njit = None


#: True in a copy of this module generated for one model table (:func:`equations_for`): its text holds the table's
#: index constants, so numba may cache its machine code on disk. This module itself reads the constants from
#: ``table.py`` and is never cached (a table edit would otherwise load machine code with stale indices).
_GENERATED_COPY = __name__.rpartition(".")[2].startswith("equations_")


def jit(function: Callable, cache: bool | None = None) -> Callable:
    """numba ``njit(cache=cache, fastmath=False)`` when numba is installed, else ``function`` unchanged.

    Either way the result has ``py_func``, the pure-Python function (the engine's Python path uses it).
    ``cache`` None: cached on disk only in a generated copy of this module (:data:`_GENERATED_COPY`).
    """
    if _njit is None:
        function.py_func = function  # type: ignore[attr-defined]
        return function
    return _njit(cache=_GENERATED_COPY if cache is None else cache, fastmath=False)(function)


@jit
def _saturation(x: float, half: float) -> float:
    """x/(x + half) for x ≥ 0 (negative overshoots of the solver count as 0)."""
    if x <= 0.0:
        return 0.0
    return x / (x + half)


@jit
def dendritic_signal(antigen: float, p: np.ndarray) -> float:
    """Antigen signal that matures dendritic cells (module docstring, "Graded priming").

    ``switch_priming_saturation`` on (default): A/(A + K), saturated by about one Lu-177 cycle's antigen.
    Off: s A/(A + K_g), graded: with K_g far above one cycle's antigen it grows almost linearly with the
    antigen released, smooth and monotone; its size s in humans is the uncertain ``priming_strength``.
    """
    saturating = _saturation(antigen, p[P_ANTIGEN_HALF_SATURATION])
    graded = p[P_PRIMING_STRENGTH] * _saturation(antigen, p[P_ANTIGEN_GRADED_HALF_SATURATION])
    switch = p[P_SWITCH_PRIMING_SATURATION]
    return switch * saturating + (1.0 - switch) * graded


@jit
def _antibody(t: float, y: np.ndarray, p: np.ndarray, dydt: np.ndarray, central: int, peripheral: int,
              start: int, first_dose: int) -> float:
    """Two-compartment antibody with CL(t) = CL0 exp(Emax τ^h/(T50^h+τ^h)); returns occupancy C/(C+K).

    Amounts in mg and volumes in L, so C = A1/V1 is in mg/L = ug/mL (kinetics/antibody.py, same equations).
    """
    clearance = p[start + PK_CLEARANCE]
    volume = p[start + PK_CENTRAL_VOLUME]
    exchange = p[start + PK_INTERCOMPARTMENTAL_CLEARANCE]
    peripheral_volume = p[start + PK_PERIPHERAL_VOLUME]
    emax = p[start + PK_CLEARANCE_EMAX]
    elapsed = t - p[first_dose]
    if emax != 0.0 and elapsed > 0.0:
        ratio = (elapsed / p[start + PK_CLEARANCE_T50]) ** p[start + PK_CLEARANCE_HILL]
        clearance = clearance * math.exp(emax * ratio / (1.0 + ratio))
    amount = y[central]
    amount_peripheral = y[peripheral]
    transfer = exchange / volume * amount - exchange / peripheral_volume * amount_peripheral
    dydt[central] = -clearance / volume * amount - transfer
    dydt[peripheral] = transfer
    return _saturation(amount / volume, p[start + PK_HALF_OCCUPANCY])


#: A dose-rate component u_k counts as slow, its share of Γ algebraic, when its decay rate λ_k < SLOW_FRACTION × μ.
SLOW_FRACTION = 0.5


@jit
def _dose_rate_and_damage(y: np.ndarray, p: np.ndarray, first_state: int, first_parameter: int, n_exp: int,
                          repair_rate: float, residual: float) -> tuple[float, float, float]:
    """(Ḋ, Γ, forcing of the residual) of one region from its drivers u_k and repair residual r.

    Γ = Σ_slow u_k/(μ − λ_k) + r with r' = Σ_fast u_k − μ r (see :func:`.linear.repair_weights`).
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
    return p[P_DOOMED_DEATH_RATE] + p[P_SWITCH_MITOTIC_DEATH] * (p[q + Q_DOOMED_DEATH_RATE] - p[P_DOOMED_DEATH_RATE])


@jit
def _escaped_kill(kill: float, baseline: float, selection: float, p: np.ndarray) -> float:
    """Immune kill rate of a population whose immune-visible cells have undergone the log-kill Λ (``selection``)
    above the baseline rate κ₀ (module docstring, "Immune escape"): κ₀ + (κ − κ₀) v(Λ) for κ > κ₀, else κ;
    v = 1/(1 + ρ/(1 − ρ) e^Λ) is the visible share when the fraction ρ of the cells was invisible at the start."""
    excess = kill - baseline
    odds = p[P_SWITCH_IMMUNE_ESCAPE] * p[P_IMMUNE_ESCAPE_FRACTION] / (1.0 - p[P_IMMUNE_ESCAPE_FRACTION])
    if excess <= 0.0 or odds == 0.0:
        return kill
    return baseline + excess / (1.0 + odds * math.exp(min(selection, 700.0)))


@jit
def rhs(t: float, y: np.ndarray, p: np.ndarray, dydt: np.ndarray) -> None:
    """d y/dt of one patient, written into ``dydt`` (see the module docstring for the equations)."""
    n_lesions = int(p[P_N_LESIONS])
    n_exp = int(p[P_N_EXPONENTIALS])
    lesion_size = N_LESION_STATES + n_exp
    lesion_parameter_size = N_LESION_PARAMETERS + n_exp
    first_lesion = N_SYSTEMIC_STATES + n_exp
    first_lesion_parameter = N_GLOBAL_PARAMETERS + n_exp

    marrow_repair = p[P_MARROW_REPAIR_RATE]
    blood_rate, blood_damage, blood_forcing = _dose_rate_and_damage(
        y, p, N_SYSTEMIC_STATES, N_GLOBAL_PARAMETERS, n_exp, marrow_repair, y[S_MARROW_REPAIR_RESIDUAL])
    for k in range(n_exp):
        dydt[N_SYSTEMIC_STATES + k] = -p[N_GLOBAL_PARAMETERS + k] * y[N_SYSTEMIC_STATES + k]

    occupancy = _antibody(t, y, p, dydt, S_ANTIBODY_CENTRAL, S_ANTIBODY_PERIPHERAL, P_ANTIBODY_CLEARANCE,
                          P_ANTIBODY_FIRST_DOSE_TIME)
    occupancy_ctla4 = _antibody(t, y, p, dydt, S_CTLA4_CENTRAL, S_CTLA4_PERIPHERAL, P_CTLA4_CLEARANCE,
                                P_CTLA4_FIRST_DOSE_TIME)

    antigen = y[S_ANTIGEN]
    interferon = y[S_INTERFERON]
    dendritic = y[S_DENDRITIC_CELLS]
    effector_blood = y[S_EFFECTOR_BLOOD]
    regulatory = y[S_REGULATORY]
    suppressor = y[S_SUPPRESSOR]
    memory = y[S_MEMORY]
    lymphocytes = y[S_LYMPHOCYTES]

    switch_regulatory = p[P_SWITCH_REGULATORY_SUPPRESSION]
    switch_lymphocyte_kill = p[P_SWITCH_LYMPHOCYTE_KILL]
    interferon_signal = _saturation(interferon, p[P_INTERFERON_HALF_SATURATION])
    trafficking_boost = 1.0 + p[P_TRAFFICKING_INTERFERON_GAIN] * interferon_signal
    systemic_suppression = switch_regulatory * (p[P_TREG_SUPPRESSION] * regulatory
                                                + p[P_MDSC_SUPPRESSION] * suppressor)
    relief = p[P_SWITCH_ICI_SUPPRESSION_RELIEF] * occupancy
    exhausted = y[S_EXHAUSTED]
    # exhausted effectors traffic with the pool but keep only part of their function, partly restored by blockade
    exhausted_function = (p[P_EXHAUSTED_FUNCTION]
                          + (p[P_EXHAUSTED_FUNCTION_BLOCKED] - p[P_EXHAUSTED_FUNCTION]) * relief)
    functional_blood = effector_blood + exhausted_function * max(exhausted, 0.0)

    # target-low cells receive the fraction f of the lesion's dose rate (and f Γ of its damage); switched off, f = 1
    low_fraction = 1.0 - p[P_SWITCH_UPTAKE_HETEROGENEITY] * (1.0 - p[P_LOW_UPTAKE_DOSE_FRACTION])

    # the largest lesion dose sets how far each lesion reaches the systemic pool (abscopal switch off)
    largest_dose = 0.0
    for lesion in range(n_lesions):
        if p[first_lesion_parameter + lesion * lesion_parameter_size + Q_PRESENT] != 0.0:
            largest_dose = max(largest_dose, y[first_lesion + lesion * lesion_size + L_DOSE])

    # a standard of care with a duration: its growth rates while given, the untreated ones after (an event ends it)
    on_care = y[S_STANDARD_OF_CARE] > 0.5
    dydt[S_STANDARD_OF_CARE] = 0.0

    # lesions, summing what the systemic equations need (burden, dying cells, radiation kill, PD-L1 met)
    burden = 0.0
    engaged = 0.0
    volume = 0.0
    dying = 0.0
    irradiated = 0.0
    # means over the present lesions that the occult burden takes (dose rate, damage, α, β, infiltration)
    present = 0
    mean_rate = 0.0
    mean_damage = 0.0
    mean_alpha = 0.0
    mean_beta = 0.0
    mean_infiltration = 0.0
    capacity = 1.0
    for lesion in range(n_lesions):
        s = first_lesion + lesion * lesion_size
        q = first_lesion_parameter + lesion * lesion_parameter_size
        if p[q + Q_PRESENT] == 0.0:
            for index in range(lesion_size):
                dydt[s + index] = 0.0
            continue
        repair = p[q + Q_REPAIR_RATE]
        residual = y[s + L_REPAIR_RESIDUAL]
        rate, damage, forcing = _dose_rate_and_damage(y, p, s + N_LESION_STATES, q + N_LESION_PARAMETERS, n_exp,
                                                      repair, residual)
        for k in range(n_exp):
            dydt[s + N_LESION_STATES + k] = -p[q + N_LESION_PARAMETERS + k] * y[s + N_LESION_STATES + k]
        viable = y[s + L_VIABLE]
        viable_low = y[s + L_VIABLE_LOW]
        doomed = y[s + L_DOOMED]
        effector = y[s + L_EFFECTOR]
        pdl1 = y[s + L_PDL1]
        signal = y[s + L_RADIATION_SIGNAL]
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
            if p[P_SWITCH_GOMPERTZ] != 0.0:
                shape = math.log(p[q + Q_CARRYING_CAPACITY] / total)
            else:
                shape = 1.0 - total / p[q + Q_CARRYING_CAPACITY]
            per_cell = p[P_SWITCH_GROWTH] * p[q + (Q_GROWTH_RATE if on_care else Q_GROWTH_RATE_AFTER_CARE)] * shape
            if viable > 0.0:
                growth = per_cell * viable * viable / (viable + p[P_CELL_VOLUME])
            if viable_low > 0.0:  # each sub-population needs its own surviving cells to regrow
                growth_low = per_cell * viable_low * viable_low / (viable_low + p[P_CELL_VOLUME])
        switch_radiation = p[P_SWITCH_RADIATION_KILL]
        radiation_kill = switch_radiation * (p[q + Q_ALPHA] * rate + 2.0 * p[q + Q_BETA] * rate * damage) * viable
        radiation_kill_low = switch_radiation * (p[q + Q_ALPHA] * low_fraction * rate + 2.0 * p[q + Q_BETA]
                                                 * low_fraction * low_fraction * rate * damage) * viable_low
        irradiated += radiation_kill + radiation_kill_low
        radiation_signal = _saturation(signal, p[P_RADIATION_SIGNAL_HALF_SATURATION])
        mhc = 1.0 + p[P_SWITCH_MHC_UPREGULATION] * p[P_MHC_GAIN] * radiation_signal
        suppression = 1.0 / (1.0 + p[P_PDL1_SUPPRESSION] * max(pdl1, 0.0) * (1.0 - relief) + systemic_suppression)
        immune_rate = p[P_KILL_RATE] * max(effector, 0.0) * mhc * suppression
        baseline_kill = p[q + Q_BASELINE_IMMUNE_KILL]
        dydt[s + L_IMMUNE_SELECTION] = max(immune_rate - baseline_kill, 0.0)
        immune_rate = _escaped_kill(immune_rate, baseline_kill, y[s + L_IMMUNE_SELECTION], p)

        dydt[s + L_VIABLE] = growth - radiation_kill - immune_rate * viable
        dydt[s + L_VIABLE_LOW] = growth_low - radiation_kill_low - immune_rate * viable_low
        dydt[s + L_DOOMED] = radiation_kill + radiation_kill_low - death_rate * doomed
        dydt[s + L_REPAIR_RESIDUAL] = forcing - repair * residual
        dydt[s + L_DOSE] = rate
        dydt[s + L_QUADRATIC] = rate * damage

        infiltration = p[P_SWITCH_TRAFFICKING_LIMIT] * p[q + Q_INFILTRATION] + (1.0 - p[P_SWITCH_TRAFFICKING_LIMIT])
        share = 0.0
        if largest_dose > 0.0:
            share = y[s + L_DOSE] / largest_dose
        reach = p[P_SWITCH_ABSCOPAL] + (1.0 - p[P_SWITCH_ABSCOPAL]) * share
        turnover = p[P_EFFECTOR_TUMOUR_TURNOVER_RATE]
        local_kill = switch_lymphocyte_kill * (p[P_LYMPHOCYTE_ALPHA] * rate
                                               + 2.0 * p[P_LYMPHOCYTE_BETA] * rate * damage)
        present += 1
        mean_rate += rate
        mean_damage += damage
        mean_alpha += p[q + Q_ALPHA]
        mean_beta += p[q + Q_BETA]
        mean_infiltration += infiltration
        capacity = p[q + Q_CARRYING_CAPACITY]
        dydt[s + L_EFFECTOR] = (turnover * infiltration * (1.0 + (functional_blood - 1.0) * reach) * trafficking_boost
                                - turnover * effector - local_kill * effector)
        target = (p[q + Q_PDL1_BASE]
                  + p[P_SWITCH_PDL1_IFN] * p[P_PDL1_IFN_GAIN]
                  * _saturation(effector, p[P_PDL1_EFFECTOR_HALF_SATURATION])
                  + p[P_SWITCH_PDL1_RADIATION] * p[P_PDL1_RADIATION_GAIN] * radiation_signal)
        dydt[s + L_PDL1] = p[P_PDL1_RATE] * (target - pdl1)
        dydt[s + L_RADIATION_SIGNAL] = rate - p[P_RADIATION_SIGNAL_DECAY_RATE] * signal

    # occult micrometastatic disease (module docstring, "Occult disease")
    occult = y[S_OCCULT]
    occult_low = y[S_OCCULT_LOW]
    occult_total = max(occult, 0.0) + max(occult_low, 0.0)
    dydt[S_OCCULT] = 0.0
    dydt[S_OCCULT_LOW] = 0.0
    dydt[S_OCCULT_IMMUNE_SELECTION] = 0.0
    if present > 0 and occult_total > 0.0:
        scale = p[P_OCCULT_DOSE_FRACTION] / present
        occult_rate = scale * mean_rate
        occult_damage = scale * mean_damage
        alpha = mean_alpha / present
        beta = mean_beta / present
        mean_pdl1 = engaged / burden if burden > 0.0 else 0.0
        occult_kill = (p[P_KILL_RATE] * mean_infiltration / present * functional_blood * trafficking_boost
                       / (1.0 + p[P_PDL1_SUPPRESSION] * mean_pdl1 * (1.0 - relief) + systemic_suppression))
        occult_baseline = p[P_OCCULT_BASELINE_IMMUNE_KILL]
        dydt[S_OCCULT_IMMUNE_SELECTION] = p[P_SWITCH_OCCULT_DISEASE] * max(occult_kill - occult_baseline, 0.0)
        occult_kill = _escaped_kill(occult_kill, occult_baseline, y[S_OCCULT_IMMUNE_SELECTION], p)
        if p[P_SWITCH_GOMPERTZ] != 0.0:
            shape = math.log(capacity / occult_total)
        else:
            shape = 1.0 - occult_total / capacity
        per_cell = p[P_SWITCH_GROWTH] * p[P_OCCULT_GROWTH_RATE if on_care else P_OCCULT_GROWTH_RATE_AFTER_CARE] * shape
        switch = p[P_SWITCH_OCCULT_DISEASE]
        kill = p[P_SWITCH_RADIATION_KILL] * (alpha * occult_rate + 2.0 * beta * occult_rate * occult_damage)
        kill_low = p[P_SWITCH_RADIATION_KILL] * (alpha * low_fraction * occult_rate + 2.0 * beta * low_fraction
                                                 * low_fraction * occult_rate * occult_damage)
        if occult > 0.0:
            dydt[S_OCCULT] = switch * (per_cell * occult * occult / (occult + p[P_CELL_VOLUME])
                                       - (kill + occult_kill) * occult)
        if occult_low > 0.0:
            dydt[S_OCCULT_LOW] = switch * (per_cell * occult_low * occult_low / (occult_low + p[P_CELL_VOLUME])
                                           - (kill_low + occult_kill) * occult_low)
        volume += switch * occult_total

    # systemic immunity
    dydt[S_ANTIGEN] = (p[P_SWITCH_IMMUNOGENIC_CELL_DEATH] * p[P_ANTIGEN_YIELD] * dying
                       - p[P_ANTIGEN_CLEARANCE_RATE] * antigen)
    dydt[S_INTERFERON] = p[P_SWITCH_STING] * p[P_STING_YIELD] * irradiated - p[P_INTERFERON_CLEARANCE_RATE] * interferon
    antigen_signal = _saturation(antigen, p[P_ANTIGEN_HALF_SATURATION])
    sting = p[P_STING_DEPENDENCE]
    dydt[S_DENDRITIC_CELLS] = (p[P_DC_MATURATION_RATE] * dendritic_signal(antigen, p)
                               * ((1.0 - sting) + sting * interferon_signal)
                               - p[P_DC_DEATH_RATE] * dendritic)
    baseline_lymphocytes = p[P_LYMPHOCYTE_BASELINE]
    treg_priming = switch_regulatory * p[P_TREG_SUPPRESSION]
    priming = (p[P_SWITCH_PRIMING] * p[P_PRIMING_RATE] * max(dendritic, 0.0) * max(lymphocytes, 0.0)
               / baseline_lymphocytes
               * (1.0 + p[P_SWITCH_CTLA4_PRIMING] * p[P_CTLA4_PRIMING_GAIN] * occupancy_ctla4)
               * (1.0 + p[P_ICI_PRIMING_GAIN] * relief)
               * (1.0 + treg_priming) / (1.0 + treg_priming * max(regulatory, 0.0)))
    antigen_present = _saturation(burden, p[P_MEMORY_RECALL_HALF_SATURATION])  # recall needs it, memory forms without
    recall = p[P_SWITCH_MEMORY] * p[P_MEMORY_RECALL_RATE] * max(memory, 0.0) * antigen_present
    lymphoid_rate = p[P_LYMPHOID_DOSE_FACTOR] * blood_rate
    lymphoid_damage = p[P_LYMPHOID_DOSE_FACTOR] * blood_damage
    lymphocyte_kill = switch_lymphocyte_kill * (p[P_LYMPHOCYTE_ALPHA] * lymphoid_rate
                                                + 2.0 * p[P_LYMPHOCYTE_BETA] * lymphoid_rate * lymphoid_damage)
    # exhaustion: cells primed while tumour PD-L1 meets PD-1 unblocked, under persistent antigen, are exhausted
    engagement = 0.0
    if burden > 0.0:
        engagement = (p[P_PDL1_SUPPRESSION] * (engaged / burden) * (1.0 - relief)
                      * _saturation(burden, p[P_EXHAUSTION_BURDEN_HALF_SATURATION]))
    exhausted_share = p[P_SWITCH_EXHAUSTION] * p[P_EXHAUSTION_GAIN] * engagement
    exhausted_share = exhausted_share / (1.0 + exhausted_share)
    set_point = 1.0 + p[P_SWITCH_CTLA4_EXPANSION] * p[P_CTLA4_EXPANSION_GAIN] * occupancy_ctla4
    dydt[S_EFFECTOR_BLOOD] = (p[P_EFFECTOR_BLOOD_DEATH_RATE] * (set_point - effector_blood)
                              + (1.0 - exhausted_share) * priming
                              + recall - lymphocyte_kill * effector_blood)
    dydt[S_EXHAUSTED] = exhausted_share * priming - (p[P_EXHAUSTED_DEATH_RATE] + lymphocyte_kill) * exhausted
    dydt[S_REGULATORY] = (p[P_TREG_TURNOVER_RATE] * (1.0 + p[P_TREG_EXPANSION_GAIN] * dendritic - regulatory)
                          - (p[P_SWITCH_CTLA4_TREG_DEPLETION] * p[P_CTLA4_TREG_DEPLETION_RATE] * occupancy_ctla4
                             + p[P_TREG_DEPLETION_RATE])
                          * regulatory
                          - switch_lymphocyte_kill * p[P_TREG_RADIOSENSITIVITY] * lymphoid_rate * regulatory)
    dydt[S_SUPPRESSOR] = p[P_MDSC_TURNOVER_RATE] * (1.0 + p[P_MDSC_RECRUITMENT_GAIN] * antigen_signal - suppressor)
    contraction = p[P_EFFECTOR_BLOOD_DEATH_RATE] * max(effector_blood - set_point, 0.0)
    # memory forms as antigen wanes, not under persistent antigen (module docstring, "Memory")
    dydt[S_MEMORY] = (p[P_SWITCH_MEMORY] * p[P_MEMORY_FRACTION] * contraction * (1.0 - antigen_present)
                      - p[P_MEMORY_DECAY_RATE] * memory)
    dydt[S_LYMPHOCYTES] = (p[P_LYMPHOCYTE_RECOVERY_RATE] * (baseline_lymphocytes - lymphocytes)
                           - lymphocyte_kill * lymphocytes)
    dydt[S_PSA] = p[P_SWITCH_PSA] * p[P_PSA_PRODUCTION] * volume - p[P_PSA_CLEARANCE_RATE] * y[S_PSA]
    dydt[S_MARROW_DOSE] = blood_rate
    dydt[S_MARROW_REPAIR_RESIDUAL] = blood_forcing - marrow_repair * y[S_MARROW_REPAIR_RESIDUAL]
    dydt[S_MARROW_QUADRATIC] = blood_rate * blood_damage


#: The jitted functions of this module, compiled again by :func:`equations_for` against another table.
_COMPILED = ("_saturation", "dendritic_signal", "_antibody", "_dose_rate_and_damage", "_doomed_death_rate",
             "_escaped_kill", "rhs")


_EQUATIONS: dict[tuple, Callable] = {}


def equations_for(model_table: table.ModelTable) -> Callable:
    """:func:`rhs` compiled against the indices of ``model_table`` (e.g. the table with a new mechanism).

    The source stays this module's; only the index constants it reads change. With numba, the equations come
    from a copy of this module's source with the table's constants written at its end, generated in the cache
    folder (:func:`rptici.utils.codecache.generated_module`, named by a hash of that text), whose machine code
    numba caches on disk: a new process loads it instead of compiling, and another table or an edit of this
    file gives another copy. Without a writable cache folder they are compiled in memory (not cached).
    """
    key = tuple(sorted(model_table.constants.items()))
    if key in _EQUATIONS:
        return _EQUATIONS[key]
    if _njit is None:
        return rhs if model_table == table.TABLE else _in_memory(model_table)
    module = codecache.generated_module("equations", generated_source(model_table), package=__package__)
    if module is not None:
        equations = module.rhs
    else:
        equations = rhs if model_table == table.TABLE else _in_memory(model_table)
    _EQUATIONS[key] = equations
    return equations


def generated_source(model_table: table.ModelTable) -> str:
    """This module's source with the index constants of ``model_table`` assigned at its end (they replace the
    imported ones before anything is compiled: numba reads globals when it compiles)."""
    constants = "\n".join(f"{name} = {value}" for name, value in sorted(model_table.constants.items()))
    source = Path(__file__).read_text(encoding="utf-8")
    return (f"{source}\n\n# --- generated by equations_for: the index constants of the model table ---\n"
            f"{constants}\n")


def _in_memory(model_table: table.ModelTable) -> Callable:
    """The compiled functions of this module against ``model_table``'s constants, not cached on disk."""
    namespace = dict(globals())
    namespace.update(model_table.constants)
    for name in _COMPILED:
        plain = globals()[name].py_func
        copy = types.FunctionType(plain.__code__, namespace, plain.__name__, plain.__defaults__, plain.__closure__)
        namespace[name] = jit(copy, cache=False)
    return namespace["rhs"]
