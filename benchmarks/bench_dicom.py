"""Benchmark: reading the phantom study as DICOM vs NIfTI (``rptici.imaging.load_study``).

    python benchmarks/bench_dicom.py [--shape 128 128 100] [--repeat 3]

Writes the example phantom (examples/imaging/dicom_phantom.py) three ways — NIfTI; DICOM with the label map as
DICOM-SEG; DICOM with the label map as RTSTRUCT (one rectangle contour per run of voxels, the worst case for the
rasteriser) — and prints the median wall time of ``load_study`` (4 NM multi-frame SPECT, CT slices, labels) for
each, and that the three loaded studies hold the same voxels.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(128, 128, 100))
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    spec = importlib.util.spec_from_file_location("dicom_phantom", ROOT / "examples/imaging/dicom_phantom.py")
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    from rptici.imaging import load_study

    shape = tuple(arguments.shape)
    with tempfile.TemporaryDirectory() as folder:
        seg = writer.make_dicom_study(Path(folder) / "seg", shape, 4.8, labels="seg")
        rtstruct = writer.make_dicom_study(Path(folder) / "rt", shape, 4.8, labels="rtstruct")
        studies = {"NIfTI": seg.with_name("study.yaml"), "DICOM + SEG": seg, "DICOM + RTSTRUCT": rtstruct}
        loaded = {}
        print(f"grid {shape[0]}x{shape[1]}x{shape[2]} ({np.prod(shape) / 1e6:.2f} M voxels), 4 SPECT + CT + labels; "
              f"median of {arguments.repeat}")
        for name, path in studies.items():
            times = []
            for _ in range(arguments.repeat):
                start = time.perf_counter()
                loaded[name] = load_study(path)
                times.append(time.perf_counter() - start)
            print(f"  {name:18s} load_study {statistics.median(times):6.2f} s")
        reference = loaded["NIfTI"]
        for name, study in loaded.items():
            same = (np.array_equal(study.activities, reference.activities) and np.array_equal(study.labels, reference.labels)
                    and np.array_equal(study.density, reference.density))
            print(f"  {name:18s} same voxels as NIfTI: {same}")


if __name__ == "__main__":
    main()
