"""The imaging kernel against published Monte Carlo voxel S-values of Lu-177 (4.80 mm, soft tissue).

Reference numbers and their source: ``lu177_voxel_s_values_4p8mm.yaml`` beside this file. The published values are
converted to energy per decay with a density of 1.00 g/mL (the density of the published material is not stated in
the file; at 1.03 g/mL every published value would be 3 % higher in energy, and every ratio below 3 % lower).
Measured ratios (ours / published) are in docs/imaging.md.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from rptici.imaging import voxel_kernel

REFERENCE = yaml.safe_load((Path(__file__).with_name("lu177_voxel_s_values_4p8mm.yaml")).read_text())
#: MeV per decay in a 4.8 mm voxel of 1.00 g/mL → mGy/(MBq s): 1.602e-13 J/MeV · 10⁶ /s · 10³ mGy/Gy / mass (kg).
MEV_TO_MGY_PER_MBQ_S = 1.602176634e-13 * 1e6 * 1e3 / (0.48**3 * 1e-3)


def _ours() -> dict[str, float]:
    kernel = voxel_kernel("Lu-177", (0.48, 0.48, 0.48), photons=True).total()
    centre = np.array(kernel.shape) // 2
    values = {}
    for key in REFERENCE["offsets"]:
        offset = [int(part) for part in key.split(",")]
        images = {tuple(sign * value for sign, value in zip(signs, order))
                  for order in itertools.permutations(offset) for signs in itertools.product((1, -1), repeat=3)}
        values[key] = float(np.mean([kernel[tuple(centre + np.array(image))] for image in images])) * MEV_TO_MGY_PER_MBQ_S
    return values


@pytest.fixture(scope="module")
def ratios() -> dict[str, float]:
    ours = _ours()
    return {key: ours[key] / entry["s"] for key, entry in REFERENCE["offsets"].items()}


def test_self_voxel_s_value_agrees(ratios):
    # the source voxel holds 96 % of the electron energy: measured ratio 0.963 (-3.7 %); tolerance 5 %
    assert ratios["0,0,0"] == pytest.approx(1.0, abs=0.05)


def test_photon_dominated_voxels_agree(ratios):
    # 2 to 5 voxels away only photons reach (the electron CSDA range of Lu-177 is < 2 mm): measured 0.96 to 1.11;
    # tolerance 12 % (the mu_en approximation has no scatter or build-up)
    for key in ("2,0,0", "2,1,0", "2,2,0", "3,0,0", "5,0,0"):
        assert ratios[key] == pytest.approx(1.0, abs=0.12), key


def test_known_disagreements_are_where_the_model_says(ratios):
    """Not a tolerance we meet: the straight-track electron model sends too much energy to the first neighbours
    (+17 % faces, +35 % edges, measured), and the photon kernel without scatter is low far away (-15 % at 48 mm).
    This test fails if either changes, so that docs/imaging.md is revisited."""
    assert 1.05 < ratios["1,0,0"] < 1.30
    assert 1.15 < ratios["1,1,0"] < 1.55
    assert 0.75 < ratios["10,0,0"] < 0.95
