"""Benchmark: 4 SPECT time points → voxel TIA, kernel dose map (electrons + photons, FFT), BED, region statistics, DVHs.

    python benchmarks/bench_imaging.py [--shapes 64x64x50 128x128x100 ...] [--json out.json] [--figure out.svg]

Each grid runs in its own process (so that the peak resident memory, ru_maxrss, is that grid's); the phantom of
``examples/imaging/make_phantom_study.py`` is scaled to the grid (4.8 mm voxels) and built before the clock starts.
Timed: :func:`rptici.imaging.run_study` (the work of ``rptici image-dose`` after reading the files). Memory: the
process peak (ru_maxrss: imports, phantom and run) and, from a second untimed run under tracemalloc, the peak of the
arrays that run_study allocates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _phantom_module():
    spec = importlib.util.spec_from_file_location("make_phantom_study", ROOT / "examples/imaging/make_phantom_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(shape: tuple[int, int, int], voxel_mm: float = 4.8, full: bool = False) -> dict:
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from rptici.imaging import Volume, run_study
    from rptici.imaging.kernel import voxel_kernel
    from rptici.imaging.study import Region, Study
    from rptici.physics import Nuclide

    phantom = _phantom_module()
    labels, _ = phantom.phantom(shape, voxel_mm)
    rng = np.random.default_rng(1)
    frames = []
    for hours, duration in zip(phantom.TIMES_H, phantom.DURATION_S):
        activity = gaussian_filter(phantom.activity_at(labels, hours / 24, voxel_mm**3 / 1000), 12 / voxel_mm / 2.3548)
        counts = rng.poisson(activity * 10.0 * duration).astype(np.float32)
        frames.append(counts / (10.0 * duration))
    activities = np.stack(frames)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    regions = [Region(1, "kidney_left", "kidney"), Region(2, "kidney_right", "kidney"), Region(3, "lesion_1", "tumour"),
               Region(4, "lesion_2", "tumour"), Region(5, "body_remainder", None)]
    study = Study(Nuclide("Lu-177"), 7400.0, np.array(phantom.TIMES_H) / 24, activities,
                  Volume(labels, affine, "images[0]"), labels.astype(np.int32), regions, 1.04,
                  psf_fwhm_mm=(12.0, 12.0, 12.0) if full else None, uncertainty={"draws": 200, "seed": 0} if full else None)
    start = time.perf_counter()
    voxel_kernel("Lu-177", study.reference.spacing_cm)  # kernel (cached per voxel size), timed separately
    kernel_s = time.perf_counter() - start
    start = time.perf_counter()
    result = run_study(study)
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()  # a second, untimed run: the arrays allocated by run_study alone (NumPy reports to tracemalloc)
    run_study(study)
    run_peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"shape": list(shape), "voxels": int(np.prod(shape)), "time_points": len(frames), "kernel_s": round(kernel_s, 3),
            "wall_s": round(wall, 3), "peak_rss_MiB": round(peak_mib, 1), "run_study_peak_MiB": round(run_peak_mib, 1),
            "input_MiB": round(activities.nbytes / 2**20, 1), "pvc_and_uncertainty": full,
            "kidney_left_mean_Gy": round(result.regions["kidney_left"]["mean_Gy"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["64x64x50", "96x96x75", "128x128x100"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--full", action="store_true", help="with the GTM partial-volume correction (12 mm) and the "
                                                                "200-draw dose/DVH uncertainty")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        print(json.dumps(run_one(tuple(int(v) for v in arguments.one.split("x")), full=arguments.full)))
        return
    rows = []
    for shape in arguments.shapes:
        output = subprocess.run([sys.executable, __file__, "--one", shape] + (["--full"] if arguments.full else []), check=True, capture_output=True, text=True)
        rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) >= 2:  # power-law fit of time and memory against voxel count
        import numpy as np

        n = np.log([row["voxels"] for row in rows])
        for key in ("wall_s", "peak_rss_MiB"):
            slope = np.polyfit(n, np.log([row[key] for row in rows]), 1)[0]
            print(f"{key} ∝ voxels^{slope:.2f}")
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))
    if arguments.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        voxels = [row["voxels"] / 1e6 for row in rows]
        axes[0].plot(voxels, [row["wall_s"] for row in rows], "o-")
        axes[0].set(xlabel="voxels (millions), 4 time points", ylabel="wall time (s)", title="TIA → dose → BED → DVH")
        axes[1].plot(voxels, [row["peak_rss_MiB"] for row in rows], "o-")
        axes[1].set(xlabel="voxels (millions)", ylabel="peak RSS (MiB)", title="peak resident memory")
        for axis in axes:
            axis.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(arguments.figure)
        print(f"figure: {arguments.figure}")


if __name__ == "__main__":
    main()
