"""Voxel and region time-integrated activity, and dose–volume statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rptici.dosimetry.single_time_point import hanscheid_tia
from rptici.errors import InputError
from rptici.imaging import (cumulative_dvh, dose_at_volume, region_fits, region_statistics, voxel_monoexponential,
                            voxel_single_time_point)
from rptici.physics import Nuclide

TIMES = np.array([0.1667, 1.0, 4.0, 7.0])  # days: 4 h, 24 h, 96 h, 168 h
LU177 = Nuclide("Lu-177").decay_constant_per_day


def test_noise_free_monoexponential_voxel_tia_is_a0_over_lambda():
    rng = np.random.default_rng(0)
    a0 = rng.uniform(0.01, 5.0, (6, 5, 4))                 # MBq
    rate = rng.uniform(LU177 * 1.01, 1.5, (6, 5, 4))       # 1/d, faster than physical decay
    activities = a0[None] * np.exp(-rate[None] * TIMES[:, None, None, None])
    result = voxel_monoexponential(TIMES, activities, LU177)
    np.testing.assert_allclose(result.tia_MBq_h, a0 / rate * 24.0, rtol=1e-9)   # analytic ∫ A0 e^(-λt) dt
    np.testing.assert_allclose(result.decay_constant_per_day, rate, rtol=1e-9)


def test_voxel_clearance_slower_than_decay_is_held_at_physical_decay():
    activities = 2.0 * np.exp(-0.02 * TIMES)[:, None, None, None] * np.ones((4, 2, 2, 2))
    result = voxel_monoexponential(TIMES, activities, LU177)
    np.testing.assert_allclose(result.decay_constant_per_day, LU177)


def test_empty_and_single_point_voxels():
    activities = np.zeros((4, 1, 1, 2))
    activities[1, 0, 0, 1] = 3.0  # one positive point: physical decay from it
    result = voxel_monoexponential(TIMES, activities, LU177)
    assert result.tia_MBq_h[0, 0, 0] == 0.0
    assert result.tia_MBq_h[0, 0, 1] == pytest.approx(3.0 * math.exp(LU177 * 1.0) / LU177 * 24.0)


def test_single_time_point_is_hanscheid():
    activity = np.full((2, 2, 2), 4.0)
    result = voxel_single_time_point(4.0, activity)
    np.testing.assert_allclose(result.tia_MBq_h, hanscheid_tia(4.0, 4.0))  # A·2t/ln2
    np.testing.assert_allclose(result.decay_constant_per_day, math.log(2) / 4.0)


def test_region_tac_uses_fit_tac_and_matches_analytic():
    labels = np.zeros((4, 4, 4), np.int32)
    labels[:2] = 1
    rate = 0.35
    activities = np.where(labels == 1, 0.5, 0.0)[None] * np.exp(-rate * TIMES)[:, None, None, None]
    fits = region_fits(TIMES, activities, labels, {1: "lesion"}, "Lu-177")
    total_a0 = 0.5 * 32
    assert fits["lesion"].model == "mono"
    assert fits["lesion"].tia == pytest.approx(total_a0 / rate * 24.0, rel=1e-6)


@pytest.mark.parametrize("times", [[1.0, 1.0, 4.0], [4.0, 1.0, 7.0], [0.0, 1.0, 2.0], [1.0, float("nan"), 3.0]])
def test_non_increasing_or_bad_times_are_rejected(times):
    with pytest.raises(InputError, match="images.time_days"):
        voxel_monoexponential(times, np.ones((3, 2, 2, 2)), LU177)


def test_dvh_is_monotone_and_d50_of_uniform_dose_is_that_dose():
    uniform = np.full(1000, 7.3)
    assert dose_at_volume(uniform, 50) == 7.3
    stats = region_statistics(uniform, 0.1)
    assert stats["D2_Gy"] == stats["D50_Gy"] == stats["D98_Gy"] == 7.3
    assert stats["mean_Gy"] == pytest.approx(7.3)
    doses = np.random.default_rng(1).gamma(3.0, 2.0, 5000)
    grid, fraction = cumulative_dvh(doses)
    assert fraction[0] == 1.0 and np.all(np.diff(fraction) <= 0)
    # D_x from its definition: 1..100 Gy in 100 voxels -> D2 = 99 Gy, D50 = 51 Gy, D98 = 3 Gy
    ramp = np.arange(1.0, 101.0)
    assert [dose_at_volume(ramp, x) for x in (2, 50, 98)] == [99.0, 51.0, 3.0]
