"""Cycle-2+ prediction from a cycle-1 image-dose result, against a synthetic second cycle run through image-dose."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rptici.cli import app
from rptici.errors import InputError
from rptici.imaging import image_dose, predict_cycles
from rptici.radiobiology import tissue

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
phantom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phantom)
SHAPE = (40, 40, 30)
#: Cycle 2 of the synthetic patient: 5.0 GBq instead of 7.4, lesions clear faster (T_eff 3.5 -> 2.8 d).
CYCLE_2_MBQ = 5000.0
LESION_HALF_LIFE_FACTOR = 0.8


def _local(study: Path, activity: str) -> Path:
    """The study with local deposition (each region's dose depends on its own activity only) and ``activity``."""
    document = yaml.safe_load(study.read_text())
    document.update(method="local", administered_activity=activity)
    target = study.with_name("local.yaml")
    target.write_text(yaml.safe_dump(document))
    return target


@pytest.fixture(scope="module")
def two_cycles(tmp_path_factory):
    """(cycle-1 summary, measured cycle-2 summary) of a noise-free, unblurred phantom, local deposition."""
    first = phantom.make_phantom_study(tmp_path_factory.mktemp("cycle1"), SHAPE, 4.8, noise=False, blur=False)
    kinetics, activity = dict(phantom.KINETICS), phantom.ADMINISTERED_MBQ
    try:
        phantom.ADMINISTERED_MBQ = CYCLE_2_MBQ
        for lesion in ("lesion_1", "lesion_2"):
            phantom.KINETICS[lesion] = [(share, half_life * LESION_HALF_LIFE_FACTOR)
                                        for share, half_life in kinetics[lesion]]
        second = phantom.make_phantom_study(tmp_path_factory.mktemp("cycle2"), SHAPE, 4.8, noise=False, blur=False)
    finally:
        phantom.KINETICS.clear()
        phantom.KINETICS.update(kinetics)
        phantom.ADMINISTERED_MBQ = activity
    return image_dose(_local(first, "7.4 GBq")), image_dose(_local(second, "5 GBq"))


def test_predicted_cycle_2_equals_the_imaged_cycle_2(two_cycles):
    # Synthetic truth: cycle 2 imaged and run through image-dose. Local deposition and noise-free data make the
    # prediction exact (dose linear in activity; mono-exponential lesion TIA = A0 T_eff/ln 2): tolerance 1e-4.
    first, second = two_cycles
    factors = {"lesion_1": LESION_HALF_LIFE_FACTOR, "lesion_2": LESION_HALF_LIFE_FACTOR}
    predicted = predict_cycles(first, 2, CYCLE_2_MBQ, half_life_factor=factors)
    for name, region in second["regions"].items():
        assert predicted["regions"][name]["dose_Gy"][1] == pytest.approx(region["mean_Gy"], rel=1e-4), name
    lesion = predicted["regions"]["lesion_1"]
    assert lesion["effective_half_life_d"] == pytest.approx([3.5, 2.8], rel=1e-4)
    assert second["regions"]["lesion_1"]["effective_half_life_d"] == pytest.approx(2.8, rel=1e-4)


def test_uncertainty_is_carried_and_bed_adds_over_cycles(two_cycles):
    first, _ = two_cycles
    predicted = predict_cycles(first, 4, 7400.0)
    kidney = predicted["regions"]["kidney_left"]
    fit = first["regions"]["kidney_left"]["fit"]
    relative = fit["tia_standard_error_MBq_h"] / fit["tia_MBq_h"]
    assert kidney["tia_relative_standard_error"] == pytest.approx(relative)
    dose = first["regions"]["kidney_left"]["mean_Gy"]
    assert kidney["dose_Gy"] == pytest.approx([dose] * 4)
    assert kidney["cumulative_dose_Gy"] == pytest.approx(4 * dose)
    assert kidney["cumulative_dose_standard_error_Gy"] == pytest.approx(4 * relative * dose)  # fully correlated
    # BED per cycle D(1 + G D/(a/b)), G = T_rep/(T_rep + T_eff) (Dale 1985), summed over cycles weeks apart
    params = tissue("kidney")
    half_life = first["regions"]["kidney_left"]["effective_half_life_d"]
    g = params.repair_half_time / (params.repair_half_time + half_life)
    assert kidney["cumulative_bed_Gy"] == pytest.approx(4 * dose * (1 + g * dose / params.alpha_beta), rel=1e-12)
    assert "bed_Gy" not in predicted["regions"]["body_remainder"]  # no tissue: dose only


def test_shrinkage_scales_lesion_dose_only():
    summary = {"administered_activity_MBq": 7400.0,
               "regions": {"lesion": {"tissue": "tumour", "mean_Gy": 20.0, "effective_half_life_d": 3.0},
                           "kidney": {"tissue": "kidney", "mean_Gy": 4.0, "effective_half_life_d": 2.0}}}
    total = predict_cycles(summary, 3, 3700.0, volume_factor=[0.8, 0.5])
    assert total["regions"]["lesion"]["dose_Gy"] == pytest.approx([20.0, 20.0 * 0.5 / 0.8, 20.0 * 0.5 / 0.5])
    assert total["regions"]["kidney"]["dose_Gy"] == pytest.approx([4.0, 2.0, 2.0])
    assert total["regions"]["lesion"]["dose_standard_error_Gy"] is None  # no region fit: unknown
    same = predict_cycles(summary, 3, 3700.0, volume_factor=[0.8, 0.5], uptake="concentration")
    assert same["regions"]["lesion"]["dose_Gy"] == pytest.approx([20.0, 10.0, 10.0])


@pytest.mark.parametrize("change, field", [
    (dict(cycles=0), "cycles"), (dict(activity_MBq=-1.0), "activity"), (dict(activity_MBq=[1.0]), "activity"),
    (dict(half_life_factor={"liver": 0.5}), "half_life_factor"), (dict(uptake="mass"), "uptake"),
    (dict(volume_factor=0.0), "volume_factor")])
def test_bad_prediction_inputs_name_the_field(change, field):
    summary = {"administered_activity_MBq": 7400.0,
               "regions": {"lesion": {"tissue": "tumour", "mean_Gy": 20.0, "effective_half_life_d": 3.0}}}
    arguments = {"cycles": 3, "activity_MBq": 7400.0, **change}
    cycles, activity = arguments.pop("cycles"), arguments.pop("activity_MBq")
    with pytest.raises(InputError) as error:
        predict_cycles(summary, cycles, activity, **arguments)
    assert error.value.field == field
    with pytest.raises(InputError, match="administered_activity"):
        predict_cycles({"regions": summary["regions"]}, 2, 7400.0)


def test_cli_predict_cycles_writes_cycles_json(two_cycles, tmp_path):
    study = phantom.make_phantom_study(tmp_path / "study", SHAPE, 4.8, noise=False, blur=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["image-dose", str(study), "--out", str(out), "--predict-cycles", "3",
                                      "--activity", "3.7 GBq", "--json"])
    assert result.exit_code == 0, result.output
    cycles = json.loads((out / "cycles.json").read_text())
    lesion = cycles["regions"]["lesion_1"]
    assert lesion["activity_MBq"] == [7400.0, 3700.0, 3700.0]
    assert lesion["dose_Gy"][1] == pytest.approx(lesion["dose_Gy"][0] / 2)
    assert math.isclose(json.loads(result.output)["cycles"]["cycles"], 3)
    refused = CliRunner().invoke(app, ["image-dose", str(study), "--out", str(out), "--activity", "3.7 GBq"])
    assert refused.exit_code == 2 and "--predict-cycles" in refused.output
