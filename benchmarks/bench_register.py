"""Benchmark: register 3 later SPECT scans to the first (4 time points) and resample them onto its grid.

    python benchmarks/bench_register.py [--shapes 64x64x48 128x128x100] [--on spect|ct] [--deformable]

The phantom of ``examples/imaging/make_phantom_study.py`` scaled to each grid (4.8 mm voxels, blurred, Poisson
noise), scans 2–4 moved by its MOTIONS (up to 6 mm and 4 degrees). Timed: :func:`rptici.imaging.register.register_series`
(rigid registration of 3 scans and resampling of their activity; with ``--deformable`` also the B-spline refinement
restricted to the kidneys). Printed: wall time, the largest rotation and displacement error over the organs' voxels.
Each grid runs in its own process (peak RSS per grid).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from bench_imaging import _phantom_module  # noqa: E402  (the script's folder is on sys.path)


def run_one(shape: tuple[int, int, int], on: str, deformable: bool, voxel_mm: float = 4.8) -> dict:
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from rptici.imaging import Volume
    from rptici.imaging import register as reg

    phantom = _phantom_module()
    rng = np.random.default_rng(1)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [-(n - 1) / 2 * voxel_mm for n in shape]
    volumes, activities, cts = [], [], []
    reference_labels = None
    for index, (hours, duration) in enumerate(zip(phantom.TIMES_H, phantom.DURATION_S)):
        motion = phantom.MOTIONS[index]
        labels, ct = phantom.phantom(shape, voxel_mm, None if motion is None else phantom.rigid_matrix(*motion))
        reference_labels = labels if reference_labels is None else reference_labels
        activity = gaussian_filter(phantom.activity_at(labels, hours / 24, voxel_mm**3 / 1000), 12 / voxel_mm / 2.3548)
        counts = rng.poisson(activity * 10.0 * duration)
        activities.append(counts / (10.0 * duration))
        volumes.append(Volume(activities[-1], affine, f"images[{index}]"))
        cts.append(Volume(ct, affine, f"images[{index}].ct"))
    mode = "rigid+deformable" if deformable else "rigid"
    spec = reg.RegistrationSpec(mode, on, ("kidney_left", "kidney_right") if deformable else ())
    mask = None
    if deformable:
        mask = reg.region_mask(Volume(reference_labels, affine, "labels"), {"kidney_left": 1, "kidney_right": 2},
                               spec.mask_regions, spec.margin_mm)
    start = time.perf_counter()
    _, results = reg.register_series(volumes, activities, cts, spec, mask)
    wall = time.perf_counter() - start
    inside = np.argwhere(np.isin(reference_labels, [1, 2, 3, 4])).astype(float)
    points = inside @ affine[:3, :3].T + affine[:3, 3]
    rotation, displacement = [], []
    for index, result in enumerate(results, start=1):
        truth = phantom.rigid_matrix(*phantom.MOTIONS[index])
        found = reg.rigid_matrix_ras(result.rigid)
        rotation.append(reg.rotation_angle_deg(found @ np.linalg.inv(truth)))
        error = (points @ found[:3, :3].T + found[:3, 3]) - (points @ truth[:3, :3].T + truth[:3, 3])
        displacement.append(float(np.linalg.norm(error, axis=1).max()))
    return {"shape": list(shape), "voxels": int(np.prod(shape)), "on": on, "mode": mode, "wall_s": round(wall, 2),
            "per_scan_s": round(wall / len(results), 2), "max_rotation_error_deg": round(max(rotation), 3),
            "max_displacement_error_mm": round(max(displacement), 3),
            "activity_retained": [round(r.activity_retained, 4) for r in results],
            "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["64x64x48", "128x128x100"])
    parser.add_argument("--on", choices=["spect", "ct"], default="spect")
    parser.add_argument("--deformable", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        print(json.dumps(run_one(tuple(int(v) for v in arguments.one.split("x")), arguments.on, arguments.deformable)))
        return
    for shape in arguments.shapes:
        command = [sys.executable, __file__, "--one", shape, "--on", arguments.on]
        command += ["--deformable"] if arguments.deformable else []
        output = subprocess.run(command, check=True, capture_output=True, text=True)
        print(output.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
