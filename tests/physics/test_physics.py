"""Radionuclide physics against published decay data (tests/reference/dosimetry.yaml, ICRP-107, labels)."""

from __future__ import annotations

import math

import pytest

from rptici.errors import InputError, UnknownNameError
from rptici.physics import Nuclide, nuclide, radiation_classes

HOURS_PER_DAY = 24.0


def relative_error(value: float, expected: float) -> float:
    return abs(value - expected) / abs(expected)


@pytest.fixture(scope="module")
def nuclide_reference(reference):
    return reference("dosimetry.yaml")["nuclides"]


# --- Lu-177 ---------------------------------------------------------------------------------------

def test_lu177_half_life(nuclide_reference):
    # 6.647 d, ICRP Publication 107 (dosimetry.yaml); tolerance 0.5 %
    expected = nuclide_reference["Lu-177"]["half_life_d"]
    assert relative_error(Nuclide("Lu-177").half_life_days, expected) < 0.005


def test_lu177_decay_constant_is_ln2_over_half_life(nuclide_reference):
    # lambda = ln 2 / T1/2 = 0.10428 per day for T1/2 = 6.647 d (ICRP-107); tolerance 0.5 %
    expected = math.log(2.0) / nuclide_reference["Lu-177"]["half_life_d"]
    assert relative_error(Nuclide("Lu-177").decay_constant_per_day, expected) < 0.005


@pytest.mark.parametrize("kind", ["beta", "electron", "photon"])
def test_lu177_mean_energy_per_decay(nuclide_reference, kind):
    # beta 0.13327, electron 0.14792, photon 0.0351 MeV per decay, ICRP-107 (dosimetry.yaml); tolerance 0.5 %
    expected = nuclide_reference["Lu-177"]["mean_energy_MeV"][kind]
    energy = Nuclide("Lu-177").energy_per_decay
    assert relative_error(getattr(energy, kind), expected) < 0.005
    assert energy.alpha == 0.0  # a pure beta emitter


def test_lu177_local_energy_is_alpha_plus_electron(nuclide_reference):
    # electrons deposit locally: local = 0.14792 MeV for Lu-177 (ICRP-107, dosimetry.yaml); tolerance 0.5 %
    expected = nuclide_reference["Lu-177"]["mean_energy_MeV"]["electron"]
    assert relative_error(Nuclide("Lu-177").energy_per_decay.local, expected) < 0.005


@pytest.mark.parametrize("line_keV", [113, 208])
def test_lu177_imaging_photon_lines(nuclide_reference, line_keV):
    # 113 keV (6.4 %) and 208 keV (11 %), ICRP-107 (dosimetry.yaml; DESIGN.md); energy within 1 keV,
    # yield within 3 % relative
    expected_yield = nuclide_reference["Lu-177"]["photon_lines_keV"][line_keV]
    lines = Nuclide("Lu-177").photon_lines(minimum_yield=0.01)
    energy_MeV, yield_ = min(lines, key=lambda line: abs(line[0] * 1000 - line_keV))
    assert abs(energy_MeV * 1000 - line_keV) < 1.0
    assert relative_error(yield_, expected_yield) < 0.03


def test_lu177_has_only_two_imaging_lines_above_five_percent():
    # ICRP-107: Lu-177 gamma lines with yield >= 5 % are 113 and 208 keV only
    energies_keV = sorted(round(energy * 1000) for energy, _ in Nuclide("Lu-177").photon_lines(minimum_yield=0.05))
    assert energies_keV == [113, 208]


# --- Y-90 -----------------------------------------------------------------------------------------

def test_y90_half_life(nuclide_reference):
    # 64.1 h, ICRP Publication 107 (dosimetry.yaml); tolerance 1 %
    expected_hours = nuclide_reference["Y-90"]["half_life_h"]
    assert relative_error(Nuclide("Y-90").half_life_days * HOURS_PER_DAY, expected_hours) < 0.01


def test_y90_mean_beta_energy(nuclide_reference):
    # 0.93 MeV per decay; evaluations differ by about 1 % (0.9267 vs 0.9329), so tolerance 1.5 %
    # (dosimetry.yaml, Y-90 note)
    assert "0.93 MeV" in nuclide_reference["Y-90"]["note"]
    energy = Nuclide("Y-90").energy_per_decay
    assert relative_error(energy.beta, 0.93) < 0.015
    assert energy.photon < 0.001  # essentially no photons (bremsstrahlung is not an emission line)


# --- Ra-223 and its chain -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["alpha", "electron", "photon"])
def test_ra223_energy_split_with_daughters(reference, kind):
    # alpha 95.3 %, beta/electron 3.6 %, photon 1.1 % of the energy emitted by Ra-223 and daughters,
    # Xofigo prescribing information (dosimetry.yaml); tolerance 0.5 percentage points
    expected_percent = reference("dosimetry.yaml")["absorbed_dose_per_activity"]["Ra-223-dichloride"]["energy_split_percent"][kind]
    energy = Nuclide("Ra-223").energy_per_decay
    percent = 100.0 * getattr(energy, kind) / energy.total
    assert abs(percent - expected_percent) < 0.5


def test_ra223_chain_members():
    # Ra-223 -> Rn-219 -> Po-215 -> Pb-211 -> Bi-211 -> Tl-207 (99.7 %) / Po-211 (0.3 %) -> Pb-207
    # (ICRP-107 decay data); one decay of each main-chain member per parent decay, within 1 %
    daughters = Nuclide("Ra-223").daughters_included
    for member in ("Rn-219", "Po-215", "Pb-211", "Bi-211"):
        assert daughters[member] == pytest.approx(1.0, rel=0.01)
    assert daughters["Tl-207"] + daughters["Po-211"] == pytest.approx(1.0, rel=0.01)


# --- Ac-225 and its chain -------------------------------------------------------------------------

def test_ac225_daughters_included_by_default():
    # Ac-225 -> Fr-221 -> At-217 -> Bi-213 -> Po-213 (97.8 % beta branch of Bi-213) -> Pb-209
    # (ICRP-107; Bi-213 branching 97.8 % beta-minus, 2.2 % alpha to Tl-209); tolerance 0.005 absolute
    daughters = Nuclide("Ac-225").daughters_included
    for member in ("Fr-221", "At-217", "Bi-213"):
        assert daughters[member] == pytest.approx(1.0, abs=0.005)
    assert daughters["Po-213"] == pytest.approx(0.978, abs=0.005)
    assert daughters["Tl-209"] == pytest.approx(0.022, abs=0.005)


def test_ac225_daughters_excluded_on_request():
    # without daughters only Ac-225's own alpha (5.8-5.9 MeV incl. recoil, ICRP-107) is counted;
    # the chain adds four more alpha emitters, so the alpha energy grows about fivefold
    alone = Nuclide("Ac-225", include_daughters=False)
    chain = nuclide("Ac-225")
    assert alone.daughters_included == {}
    assert 5.7 < alone.energy_per_decay.alpha < 6.0
    assert 4.0 < chain.energy_per_decay.alpha / alone.energy_per_decay.alpha < 5.5


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["Lu-177", "177Lu", "Lu177", "lu-177", "LU-177", "lu177", " Lu-177 "])
def test_nuclide_spellings_resolve(spelling):
    assert Nuclide(spelling).name == "Lu-177"


@pytest.mark.parametrize("spelling, canonical", [("225Ac", "Ac-225"), ("Ra223", "Ra-223"), ("i-131", "I-131"), ("90Y", "Y-90")])
def test_other_nuclide_spellings_resolve(spelling, canonical):
    assert Nuclide(spelling).name == canonical


def test_unknown_nuclide_names_field_and_close_matches():
    with pytest.raises(UnknownNameError) as caught:
        Nuclide("Lu-1777")
    error = caught.value
    assert isinstance(error, InputError)
    assert error.field == "nuclide"
    assert error.value == "Lu-1777"
    message = str(error)
    assert message.startswith("nuclide: got 'Lu-1777'")
    assert "closest" in message and "Lu-177" in message


@pytest.mark.parametrize("bad", ["", "Unobtainium-999", "Lu", "177"])
def test_nonsense_nuclide_rejected(bad):
    with pytest.raises(UnknownNameError):
        Nuclide(bad)


# --- radiation classes ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, let_keV_per_um, energy_MeV",
    [
        # DESIGN.md table; Sgouros et al. 2020 Nat Rev Drug Discov 19:589 (Table 1); Kassis 2008 J Nucl Med 49:75S
        ("beta", (0.1, 1.0), (0.0, 2.3)),
        ("alpha", (50.0, 230.0), (5.0, 9.0)),
        ("auger", (4.0, 26.0), (0.0, 0.001)),
    ],
)
def test_radiation_classes_table(name, let_keV_per_um, energy_MeV):
    row = radiation_classes()[name]
    assert row.let_keV_per_um == pytest.approx(let_keV_per_um)
    assert row.energy_MeV == pytest.approx(energy_MeV)
    assert row.source


def test_alpha_range_is_tens_of_micrometres():
    # 50-100 um in tissue (DESIGN.md; Sgouros et al. 2020), against beta up to about 12 mm (Y-90)
    classes = radiation_classes()
    assert classes["alpha"].range_mm == pytest.approx((0.05, 0.1))
    assert classes["beta"].range_mm[1] == pytest.approx(12.0)


def test_radiation_class_examples_emit_that_radiation():
    # the examples of each class are nuclides that emit it (ICRP-107): alpha examples emit alpha
    # particles, beta examples beta particles and no alphas
    classes = radiation_classes()
    for example in classes["alpha"].examples:
        assert Nuclide(example).energy_per_decay.alpha > 1.0, example
    for example in classes["beta"].examples:
        energy = Nuclide(example).energy_per_decay
        assert energy.beta > 0.05 and energy.alpha == 0.0, example
