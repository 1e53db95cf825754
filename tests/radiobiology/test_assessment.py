"""Patient dosimetry chain: fitted curve → TIA → S-value → dose → BED, and its options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rptici.dosimetry import SValueTable, organ_self_s_value, read_measurements
from rptici.errors import InputError
from rptici.radiobiology import g_factor_monoexponential
from rptici.radiobiology.assessment import assess_patient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write_patient(folder: Path, nuclide: str, half_life_h: float, regions: str, activity: str = "7.4 GBq") -> Path:
    """A mono-exponential patient (exact data) so that TIA, dose and BED have closed forms."""
    times_h = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    rows = [f"kidneys,{t},{100.0 * np.exp(-np.log(2) * t / half_life_h)}" for t in times_h]
    (folder / "curve.csv").write_text("region,time [h],activity [MBq]\n" + "\n".join(rows) + "\n")
    (folder / "patient.yaml").write_text(
        f"nuclide: {nuclide}\nadministered_activity: {activity}\nmeasurements: curve.csv\nregions:\n{regions}")
    return folder / "patient.yaml"


def test_mono_exponential_patient_matches_closed_forms(tmp_path, reference):
    # BED = D (1 + G D/(α/β)), G = T_rep/(T_rep + T_eff) (Dale 1985; dosimetry.yaml bed_cases); kidney α/β 2.6 Gy,
    # T_rep 2.8 h (Bodei 2008). Exact data, so the fit is exact to 1e-6.
    path = write_patient(tmp_path, "Lu-177", 50.0, "  kidneys: {mass: 300 g, tissue: kidney}\n")
    region = assess_patient(read_measurements(path), model="mono").regions["kidneys"]
    tia = 100.0 * 50.0 / np.log(2)  # A0 T_eff / ln 2, MBq h
    assert region.fit.tia == pytest.approx(tia, rel=1e-6)
    dose = tia * organ_self_s_value("Lu-177", 300.0).total / 1000.0
    assert region.dose_Gy == pytest.approx(dose, rel=1e-6)
    g = float(g_factor_monoexponential(50.0 / 24, 2.8 / 24))
    assert region.g_factor == pytest.approx(g, rel=1e-6)
    assert region.bed_Gy == pytest.approx(dose * (1 + g * dose / 2.6), rel=1e-6)
    assert region.dose_per_activity_Gy_per_GBq == pytest.approx(dose / 7.4, rel=1e-9)
    bed_limit = next(limit for limit in region.limits if limit.name == "bed")
    assert bed_limit.limit_Gy == 40 and bed_limit.margin_Gy == pytest.approx(40 - region.bed_Gy)


def test_alpha_emitter_dose_is_rbe_weighted(tmp_path):
    path = write_patient(tmp_path, "Ac-225", 100.0, "  kidneys: {mass: 300 g, tissue: kidney}\n", activity="8 MBq")
    default = assess_patient(read_measurements(path), model="mono").regions["kidneys"]
    unit = assess_patient(read_measurements(path), model="mono", rbe=1.0).regions["kidneys"]
    assert default.dose_alpha_Gy > 0.9 * default.dose_Gy  # Ac-225 chain: ~97 % of the energy is α
    assert default.rbe_weighted_dose_Gy == pytest.approx(
        5 * default.dose_alpha_Gy + default.dose_electron_Gy + default.dose_photon_Gy, rel=1e-12)
    assert unit.rbe_weighted_dose_Gy == pytest.approx(unit.dose_Gy, rel=1e-12)


def test_user_s_value_table_adds_cross_dose():
    measurements = read_measurements(EXAMPLES / "lu177_dotatate_patient.yaml")
    table = SValueTable.from_csv(EXAMPLES / "s_values_example.csv")
    self_only = assess_patient(measurements)
    with_table = assess_patient(measurements, s_values=table)
    fits = {name: region.fit.tia for name, region in self_only.regions.items()}
    expected = sum(fits[source] * table.s("kidneys", source) for source in ("kidneys", "liver", "spleen")) / 1000
    assert with_table.regions["kidneys"].dose_Gy == pytest.approx(expected, rel=1e-9)
    assert with_table.regions["lesion-1"].dose_Gy == pytest.approx(self_only.regions["lesion-1"].dose_Gy, rel=1e-12)


def test_missing_mass_and_bad_rbe_are_clear_errors(tmp_path):
    path = write_patient(tmp_path, "Lu-177", 50.0, "  kidneys: {tissue: kidney}\n")
    with pytest.raises(InputError, match="regions.kidneys.mass"):
        assess_patient(read_measurements(path))
    path = write_patient(tmp_path, "Lu-177", 50.0, "  kidneys: {mass: 300 g, tissue: kidney}\n")
    with pytest.raises(InputError, match="rbe"):
        assess_patient(read_measurements(path), rbe=-1)


def test_phantom_cross_dose_between_measured_regions():
    """Default: each region adds the photon cross-dose Σ_s Ã_s S_γ(T ← s) of the other measured regions in the
    adult male phantom (lesions anywhere in the body); phantom=None is self-dose only, for comparison."""
    from rptici.dosimetry.phantom import photon_cross_s_value

    measurements = read_measurements(EXAMPLES / "lu177_dotatate_patient.yaml")
    self_only = assess_patient(measurements, phantom=None)
    with_cross = assess_patient(measurements)
    tia = {name: region.fit.tia for name, region in self_only.regions.items()}
    where = {"kidneys": "kidneys", "liver": "liver", "spleen": "spleen", "lesion-1": "total_body",
             "lesion-2": "total_body"}
    expected = sum(tia[source] * photon_cross_s_value("Lu-177", "kidneys", where[source])
                   for source in tia if source != "kidneys") / 1000.0
    kidneys, kidneys_self = with_cross.regions["kidneys"], self_only.regions["kidneys"]
    assert kidneys.dose_Gy - kidneys_self.dose_Gy == pytest.approx(expected, rel=1e-9)
    assert kidneys.dose_photon_Gy - kidneys_self.dose_photon_Gy == pytest.approx(expected, rel=1e-9)
    assert kidneys.dose_electron_Gy == kidneys_self.dose_electron_Gy
    assert 0 < expected < 0.05 * kidneys_self.dose_Gy  # Lu-177: photons are 19 % of the energy, most escape
    assert "phantom" in with_cross.summary()["s_values"] and "phantom" not in self_only.summary()["s_values"]
    heavier = assess_patient(measurements, body_mass_kg=2 * 73.0).regions["kidneys"]
    assert heavier.dose_Gy - kidneys_self.dose_Gy == pytest.approx(expected * 2 ** (-2 / 3), rel=1e-9)
    with pytest.raises(InputError, match="phantom.*child"):
        assess_patient(measurements, phantom="child")
