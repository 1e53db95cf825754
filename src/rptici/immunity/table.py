"""The one definition of the tumour–immune model: every state, parameter, switch and observable.

Everything else is generated from :data:`TABLE`: the index constants the equations read (``S_*`` systemic
states, ``L_*`` lesion states, ``P_*`` global parameters, ``Q_*`` lesion parameters, ``PK_*`` offsets in an
antibody's block; numba reads module-level integers as compile-time constants), the parameter vector's
layout, the unit table of the parameter files (:data:`PARAMETER_UNITS`) and the switch table
(:data:`SWITCHES`). Values, units and sources of the ``file`` parameters are in the species' data files
(``data/immunity_<species>.yaml``); the other vector entries say where their value comes from.

Adding a mechanism with a new state and two parameters: one :class:`State`, two :class:`Parameter` and a
:class:`Switch` here, the term in :mod:`.equations` (``tests/immunity/test_model_table.py`` does it for a toy
mechanism).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

#: Most lesions one patient carries (the layout's and the population's limit).
MAX_LESIONS = 8
#: Most exponential components of one region's dose rate.
MAX_EXPONENTIALS = 6


@dataclass(frozen=True)
class State:
    """One state variable, systemic (one per patient) or per lesion."""

    name: str
    unit: str
    meaning: str
    lesion: bool = False


@dataclass(frozen=True)
class Parameter:
    """One parameter: ``file`` (value, unit and source from the species' data file) and/or ``vector`` (a
    column of the parameter vector the equations read; ``origin`` says where its value comes from when not
    the file). ``bounds``: plausible prior range in ``unit``, where known."""

    name: str
    unit: str
    origin: str = "file"
    lesion: bool = False
    file: bool = True
    vector: bool = True
    default: float | None = None
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class Switch:
    """A mechanism the model can switch off: the vector parameter ``switch_<mechanism>`` (1 on, 0 off).

    ``equivalent``: the parameter whose zero removes the same term (tests check that both agree)."""

    mechanism: str
    meaning: str
    equivalent: str | None = None

    @property
    def name(self) -> str:
        return f"switch_{self.mechanism}"


@dataclass(frozen=True)
class Observable:
    """A read-out: ``state`` is read as it is (no formula needed), or a formula of :mod:`.observables` reads
    ``lesion_states`` and ``systemic_states`` and the read-outs it ``needs``."""

    name: str
    unit: str
    lesion: bool = False
    state: str | None = None
    lesion_states: tuple[str, ...] = ()
    systemic_states: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    @property
    def states(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(lesion states, systemic states) this read-out reads."""
        if self.state is None:
            return self.lesion_states, self.systemic_states
        return ((self.state,), ()) if self.lesion else ((), (self.state,))


#: Fields of an antibody's parameter block, in order (``PK_*`` offsets from its first parameter).
PK_FIELDS = ("clearance", "central_volume", "intercompartmental_clearance", "peripheral_volume", "clearance_emax",
             "clearance_t50", "clearance_hill", "half_occupancy")
_PK_UNITS = ("L/day", "L", "L/day", "L", "", "day", "", "ug/mL")


def _antibody_block(prefix: str, what: str) -> tuple[Parameter, ...]:
    """The two-compartment PK and half-occupancy of one checkpoint antibody (kinetics.antibody per patient)."""
    return tuple(Parameter(f"{prefix}_{name}", unit, f"antibody: {what} population PK per patient", file=False)
                 for name, unit in zip(PK_FIELDS, _PK_UNITS))


@dataclass(frozen=True)
class ModelTable:
    """States, parameters (switches among them, in vector order) and observables of one model."""

    states: tuple[State, ...]
    parameters: tuple[Parameter | Switch, ...]
    observables: tuple[Observable, ...]
    compartments: tuple[str, ...] = field(default=("antibody", "ctla4"))

    # --- names -------------------------------------------------------------------------------------------
    @cached_property
    def systemic_states(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states if not state.lesion)

    @cached_property
    def lesion_states(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states if state.lesion)

    @cached_property
    def global_parameters(self) -> tuple[str, ...]:
        """Names of the global block of the parameter vector, in order."""
        return tuple(entry.name for entry in self.parameters
                     if isinstance(entry, Switch) or (entry.vector and not entry.lesion))

    @cached_property
    def lesion_parameters(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.parameters
                     if isinstance(entry, Parameter) and entry.vector and entry.lesion)

    @cached_property
    def switches(self) -> tuple[str, ...]:
        return tuple(entry.mechanism for entry in self.parameters if isinstance(entry, Switch))

    @cached_property
    def units(self) -> dict[str, str]:
        """Internal unit of every parameter a species file defines (its ``parameters`` section)."""
        return {entry.name: entry.unit for entry in self.parameters if isinstance(entry, Parameter) and entry.file}

    @cached_property
    def defaults(self) -> dict[str, float]:
        """Values used where a parameter set lacks a vector parameter: each parameter's ``default`` and 1 (on)
        for every switch."""
        return {entry.name: 1.0 if isinstance(entry, Switch) else entry.default for entry in self.parameters
                if isinstance(entry, Switch) or entry.default is not None}

    @cached_property
    def switch_equivalents(self) -> dict[str, tuple[str, bool]]:
        """Switch → (parameter whose zero removes the same term, is it a lesion parameter?)."""
        return {entry.mechanism: (entry.equivalent, entry.equivalent in self.lesion_parameters)
                for entry in self.parameters if isinstance(entry, Switch) and entry.equivalent}

    def observable(self, name: str) -> Observable:
        for entry in self.observables:
            if entry.name == name:
                return entry
        raise KeyError(name)

    # --- generated indices ---------------------------------------------------------------------------------
    @cached_property
    def constants(self) -> dict[str, int]:
        """Index constants: S_/L_ states, P_/Q_ parameters, PK_ block offsets and the block sizes N_*."""
        names: dict[str, int] = {}
        groups = (("S_", self.systemic_states), ("L_", self.lesion_states), ("P_", self.global_parameters),
                  ("Q_", self.lesion_parameters), ("PK_", PK_FIELDS))
        for prefix, members in groups:
            for index, name in enumerate(members):
                names[prefix + name.upper()] = index
        names.update(N_SYSTEMIC_STATES=len(self.systemic_states), N_LESION_STATES=len(self.lesion_states),
                     N_GLOBAL_PARAMETERS=len(self.global_parameters), N_LESION_PARAMETERS=len(self.lesion_parameters))
        return names

    def extended(self, states: tuple[State, ...] = (), parameters: tuple[Parameter | Switch, ...] = (),
                 observables: tuple[Observable, ...] = ()) -> ModelTable:
        """A table with more entries: systemic states and global parameters go after the existing ones (so
        every existing index but the lesion blocks' starts stays)."""
        return replace(self, states=self.states + tuple(states), parameters=self.parameters + tuple(parameters),
                       observables=self.observables + tuple(observables))


def _p(name: str, unit: str, **options) -> Parameter:
    return Parameter(name, unit, **options)


def _file_only(name: str, unit: str) -> Parameter:
    """A file value used only to build the vector (a covariate default or a derived column's input)."""
    return Parameter(name, unit, vector=False)


def _derived(name: str, unit: str, origin: str, lesion: bool = False) -> Parameter:
    return Parameter(name, unit, origin, lesion=lesion, file=False)


_MEASURED = ("viable", "viable_low", "doomed")

TABLE = ModelTable(
    states=(
        State("antigen", "mL", "antigen and danger signal from dying tumour cells (immunogenic cell death)"),
        State("interferon", "mL", "type I interferon from irradiated cells (cGAS–STING)"),
        State("dendritic_cells", "1", "mature dendritic cells, relative"),
        State("effector_blood", "1", "functional effector T-cell pool, relative to baseline"),
        State("regulatory", "1", "regulatory T cells, relative to baseline"),
        State("suppressor", "1", "myeloid-derived suppressor cells, relative to baseline"),
        State("memory", "1", "memory T cells, relative to the baseline effector pool"),
        State("lymphocytes", "10^9/L", "circulating lymphocytes"),
        State("psa", "ng/mL", "serum PSA"),
        State("antibody_central", "mg", "anti-PD-(L)1 antibody, central compartment"),
        State("antibody_peripheral", "mg", "anti-PD-(L)1 antibody, peripheral compartment"),
        State("ctla4_central", "mg", "anti-CTLA-4 antibody, central compartment"),
        State("ctla4_peripheral", "mg", "anti-CTLA-4 antibody, peripheral compartment"),
        State("marrow_dose", "Gy", "red-marrow RBE-weighted absorbed dose (α × RBE; β, photons × 1)"),
        State("marrow_repair_residual", "Gy", "fast part r of the marrow's sublethal damage Γ (repair split)"),
        State("marrow_quadratic", "Gy^2", "∫ḊΓ dt of the marrow (BED)"),
        State("exhausted", "1", "exhausted effector T cells, relative to the baseline effector pool"),
        # occult micrometastatic disease (issue 13 item 2): below the detection limit, surfaces as new lesions
        State("occult", "mL", "occult micrometastatic burden, target-positive cells"),
        State("occult_low", "mL", "occult micrometastatic burden, target-low/-negative cells"),
        # a standard of care given for a limited time (docetaxel's cycles): 1 while given, 0 after its last day
        State("standard_of_care", "1", "1 while the arm's standard of care slows growth, 0 after it ends (an event "
              "at care_end_time)"),
        # immune escape (issue 14, eleventh pass): immune kill above baseline selects variants it cannot see
        State("occult_immune_selection", "1", "log-kill of the occult burden's immune-visible cells by immune kill "
              "above its baseline (selects immune-escape variants)"),
        State("viable", "mL", "viable target-positive tumour cells", lesion=True),
        State("doomed", "mL", "lethally irradiated cells, dying over τ", lesion=True),
        State("repair_residual", "Gy", "fast part r of the lesion's sublethal damage Γ", lesion=True),
        State("dose", "Gy", "RBE-weighted absorbed dose (α × RBE; β, photons × 1)", lesion=True),
        State("quadratic", "Gy^2", "∫ḊΓ dt (BED)", lesion=True),
        State("effector", "1", "tumour-infiltrating effectors, relative", lesion=True),
        State("pdl1", "1", "fraction of PD-L1-positive tumour cells", lesion=True),
        State("radiation_signal", "Gy", "radiation signal driving MHC-I and PD-L1", lesion=True),
        State("viable_low", "mL", "viable target-low tumour cells (uptake heterogeneity)", lesion=True),
        State("immune_selection", "1", "log-kill of the lesion's immune-visible cells by immune kill above its "
              "baseline (selects immune-escape variants)", lesion=True),
    ),
    parameters=(
        _derived("n_lesions", "", "layout: lesions of the patient"),
        _derived("n_exponentials", "", "layout: exponential components of each dose rate"),
        _derived("antibody_first_dose_time", "day", "schedule: first anti-PD-(L)1 infusion"),
        _derived("ctla4_first_dose_time", "day", "schedule: first anti-CTLA-4 infusion"),
        Switch("growth", "tumour growth", equivalent="growth_rate"),
        Switch("gompertz", "Gompertz (1) or logistic (0) growth: a model choice"),
        Switch("radiation_kill", "LQ cell kill by the dose rate", equivalent="alpha"),
        Switch("immunogenic_cell_death", "antigen from dying cells", equivalent="antigen_yield"),
        Switch("sting", "cGAS–STING interferon", equivalent="sting_yield"),
        Switch("priming", "T-cell priming by dendritic cells", equivalent="priming_rate"),
        Switch("trafficking_limit", "lesion infiltration limits trafficking (hot/cold)"),
        Switch("mhc_upregulation", "radiation raises MHC-I", equivalent="mhc_gain"),
        Switch("pdl1_ifn", "effector-induced PD-L1", equivalent="pdl1_ifn_gain"),
        Switch("pdl1_radiation", "radiation-induced PD-L1", equivalent="pdl1_radiation_gain"),
        Switch("ici_suppression_relief", "PD-(L)1 blockade relieves suppression", equivalent="antibody_half_occupancy"),
        Switch("regulatory_suppression", "Tregs and MDSCs suppress"),
        Switch("ctla4_priming", "anti-CTLA-4 enhances priming", equivalent="ctla4_priming_gain"),
        Switch("ctla4_treg_depletion", "anti-CTLA-4 depletes Tregs", equivalent="ctla4_treg_depletion_rate"),
        Switch("ctla4_expansion", "anti-CTLA-4 expands the endogenous tumour-specific effector pool",
               equivalent="ctla4_expansion_gain"),
        Switch("lymphocyte_kill", "radiation kills lymphocytes"),
        Switch("memory", "immune memory", equivalent="memory_fraction"),
        Switch("abscopal", "every lesion reaches the systemic pool"),
        Switch("psa", "PSA production", equivalent="psa_production"),
        Switch("exhaustion", "T-cell exhaustion", equivalent="exhaustion_gain"),
        Switch("uptake_heterogeneity", "target-low cells get part of the dose rate"),
        # lesions differ (issue 13 item 1): read by the engine for the kinetics, not by the equations
        Switch("site_selective_uptake", "an agent reaches only the lesion sites its biokinetics file lists "
               "(radium-223: bone); off: every lesion takes it up"),
        _file_only("doomed_cell_lifetime", "day"),
        _derived("doomed_death_rate", "1/day", "derived: 1/doomed_cell_lifetime"),
        _p("cell_volume", "mL"),
        _p("antigen_yield", "", bounds=(0.0, 10.0)),
        _p("antigen_clearance_rate", "1/day"),
        _p("antigen_half_saturation", "mL"),
        _p("sting_yield", ""),
        _p("interferon_clearance_rate", "1/day"),
        _p("interferon_half_saturation", "mL"),
        _p("sting_dependence", "", bounds=(0.0, 1.0)),
        _p("dc_maturation_rate", "1/day"),
        _p("dc_death_rate", "1/day"),
        _p("priming_rate", "1/day"),
        _p("effector_blood_death_rate", "1/day"),
        _p("effector_tumour_turnover_rate", "1/day"),
        _p("trafficking_interferon_gain", ""),
        _p("kill_rate", "1/day"),
        _p("mhc_gain", ""),
        _p("radiation_signal_decay_rate", "1/day"),
        _p("radiation_signal_half_saturation", "Gy"),
        _p("pdl1_rate", "1/day"),
        _p("pdl1_ifn_gain", ""),
        _p("pdl1_effector_half_saturation", ""),
        _p("pdl1_radiation_gain", ""),
        _p("pdl1_suppression", ""),
        _p("treg_suppression", ""),
        _p("mdsc_suppression", ""),
        _p("treg_turnover_rate", "1/day"),
        _p("treg_expansion_gain", ""),
        _p("treg_depletion_rate", "1/day"),
        _p("treg_radiosensitivity", "1/Gy"),
        _p("mdsc_turnover_rate", "1/day"),
        _p("mdsc_recruitment_gain", ""),
        _p("ctla4_priming_gain", ""),
        _p("ctla4_treg_depletion_rate", "1/day"),
        _p("ctla4_expansion_gain", ""),
        _p("ici_priming_gain", ""),
        _p("lymphocyte_alpha", "1/Gy"),
        _file_only("lymphocyte_alpha_beta", "Gy"),
        _derived("lymphocyte_beta", "1/Gy^2", "derived: lymphocyte_alpha/lymphocyte_alpha_beta"),
        _p("lymphocyte_recovery_rate", "1/day"),
        Parameter("lymphocyte_baseline", "10^9/L", "covariate: lymphocytes (file value is the default)"),
        _p("lymphoid_dose_factor", ""),
        _p("marrow_lymphoid_fraction", "", bounds=(0.0, 1.0)),
        _file_only("marrow_repair_half_time", "day"),
        _derived("marrow_repair_rate", "1/day", "derived: ln 2/marrow_repair_half_time"),
        _p("marrow_alpha_beta", "Gy"),
        _p("memory_fraction", "", bounds=(0.0, 1.0)),
        _p("memory_decay_rate", "1/day"),
        _p("memory_recall_rate", "1/day"),
        _p("memory_recall_half_saturation", "mL"),
        _derived("psa_production", "ng/mL/day/mL", "derived: PSA covariate at steady state"),
        _file_only("psa_half_life", "day"),
        _derived("psa_clearance_rate", "1/day", "derived: ln 2/psa_half_life"),
        _p("exhaustion_gain", ""),
        _p("exhaustion_burden_half_saturation", "mL"),
        _p("exhausted_death_rate", "1/day"),
        _p("exhausted_function", "", bounds=(0.0, 1.0)),
        _p("exhausted_function_blocked", "", bounds=(0.0, 1.0)),
        _p("low_uptake_dose_fraction", "", bounds=(0.0, 1.0)),
        *_antibody_block("antibody", "anti-PD-(L)1"),
        *_antibody_block("ctla4", "anti-CTLA-4"),
        Switch("mitotic_death", "doomed cells die at mitosis (τ = max(τ0, k T_d))"),
        _p("stroma_share", "", bounds=(0.0, 0.343)),
        # graded immune priming (issue 13 item 3): switch priming_saturation off for a DC signal graded in antigen
        Switch("priming_saturation", "dendritic-cell signal saturates at about one cycle's antigen "
                                     "(off: graded priming, priming_strength × A/(A + antigen_graded_half_saturation))"),
        _p("priming_strength", "", bounds=(0.01, 1.0)),
        _p("antigen_graded_half_saturation", "mL", bounds=(5.0, 500.0)),
        # occult micrometastatic disease (issue 13 item 2)
        Switch("occult_disease", "occult micrometastases grow below the detection limit and surface as new lesions"),
        _derived("occult_growth_rate", "1/day", "derived: the patient's doubling time at the initial occult burden"),
        _p("occult_dose_fraction", "", bounds=(0.0, 1.0)),
        Parameter("occult_detection_volume", "mL", vector=False, bounds=(0.05, 5.0)),
        Parameter("occult_fraction", "", vector=False, bounds=(0.0, 100.0)),
        Parameter("occult_fraction_min", "", vector=False, bounds=(1e-4, 1.0)),
        Parameter("occult_fraction_max", "", vector=False, bounds=(1.0, 100.0)),
        Parameter("occult_bone_share", "", vector=False, bounds=(0.0, 1.0)),
        # a standard of care with a duration: growth at the untreated rate after its last day
        _derived("care_end_time", "day", "covariate: the day the arm's standard of care ends (inf: never)"),
        _derived("occult_growth_rate_after_care", "1/day", "derived: occult_growth_rate at the untreated doubling time"),
        # immune escape: variants the effectors cannot see (antigen or MHC-I loss) outgrow immune kill above baseline
        Switch("immune_escape", "immune kill above baseline selects immune-escape variants",
               equivalent="immune_escape_fraction"),
        _p("immune_escape_fraction", "", bounds=(0.0, 0.1)),
        _derived("occult_baseline_immune_kill", "1/day", "derived: the occult burden's untreated immune kill rate"),
        # per lesion
        _derived("present", "", "covariate: the lesion exists", lesion=True),
        _derived("growth_rate", "1/day", "derived: the stated doubling time at the initial volume", lesion=True),
        _derived("growth_rate_after_care", "1/day", "derived: growth_rate at the doubling time after the standard of "
                 "care ends (the untreated one; growth_rate where the care has no end)", lesion=True),
        Parameter("carrying_capacity", "mL", lesion=True),
        _derived("alpha", "1/Gy", "covariate: alpha (file tumour_alpha is the default)", lesion=True),
        _derived("beta", "1/Gy^2", "derived: alpha/tumour_alpha_beta", lesion=True),
        _derived("repair_rate", "1/day", "derived: ln 2/tumour_repair_half_time", lesion=True),
        _derived("infiltration", "", "covariate: infiltration (file value is the default)", lesion=True),
        _derived("pdl1_base", "", "covariate: pdl1 less the effector-induced part", lesion=True),
        _derived("doomed_death_rate", "1/day", "derived: 1/max(doomed_cell_lifetime, k T_d)", lesion=True),
        _derived("stroma_volume", "mL", "derived: stroma_share/(1 − stroma_share) × the initial volume", lesion=True),
        _derived("baseline_volume", "mL", "covariate: the measured initial volume (weights of the whole-body tumour "
                 "dose: mass-weighted at uniform density)", lesion=True),
        _derived("baseline_immune_kill", "1/day", "derived: the lesion's untreated immune kill rate κ₀", lesion=True),
        # file values that only build the vector or the initial state
        _file_only("doubling_time", "day"),
        _file_only("doomed_lifetime_doublings", ""),
        _file_only("tumour_alpha", "1/Gy"),
        _file_only("tumour_alpha_beta", "Gy"),
        _file_only("tumour_repair_half_time", "day"),
        _file_only("low_uptake_odds_scale", ""),
        _file_only("infiltration", ""),
        _file_only("pdl1_expression", ""),
        _file_only("low_uptake_fraction", ""),
        _file_only("body_weight", "kg"),
        _file_only("default_half_occupancy", "ug/mL"),
    ),
    observables=(
        Observable("volume", "mL", lesion=True, lesion_states=_MEASURED),
        Observable("diameter", "mm", lesion=True, lesion_states=_MEASURED, needs=("volume",)),
        Observable("volume_sum", "mL", lesion_states=_MEASURED, needs=("volume",)),
        Observable("diameter_sum", "mm", lesion_states=_MEASURED, needs=("diameter",)),
        Observable("dose", "Gy", lesion=True, state="dose"),
        Observable("tumour_dose", "Gy", lesion_states=("dose",), needs=("dose",)),
        Observable("bed", "Gy", lesion=True, lesion_states=("dose", "quadratic"), needs=("dose",)),
        Observable("effector_tumour", "1", lesion=True, state="effector"),
        Observable("pdl1", "1", lesion=True, state="pdl1"),
        Observable("psa", "ng/mL", state="psa"),
        Observable("effector_blood", "1", state="effector_blood"),
        Observable("regulatory", "1", state="regulatory"),
        Observable("cd8_treg_ratio", "1", systemic_states=("effector_blood", "regulatory")),
        Observable("memory", "1", state="memory"),
        Observable("exhausted", "1", state="exhausted"),
        Observable("lymphocytes", "10^9/L", state="lymphocytes"),
        Observable("concentration", "ug/mL", systemic_states=("antibody_central",)),
        Observable("occupancy", "1", systemic_states=("antibody_central",), needs=("concentration",)),
        Observable("ctla4_occupancy", "1", systemic_states=("ctla4_central",)),
        Observable("marrow_dose", "Gy", state="marrow_dose"),
        Observable("marrow_bed", "Gy", systemic_states=("marrow_dose", "marrow_quadratic"), needs=("marrow_dose",)),
        Observable("occult_volume", "mL", systemic_states=("occult", "occult_low")),
    ),
)

SYSTEMIC_STATES = TABLE.systemic_states
LESION_STATES = TABLE.lesion_states
GLOBAL_PARAMETERS = TABLE.global_parameters
LESION_PARAMETERS = TABLE.lesion_parameters
SWITCHES = TABLE.switches
SWITCH_EQUIVALENTS = TABLE.switch_equivalents
PARAMETER_UNITS = TABLE.units

# the index constants, as module globals (numba folds them into the compiled equations)
globals().update(TABLE.constants)
