"""Write a small SPECT/CT phantom study (NIfTI + study.yaml) for `rptici image-dose`.

    python examples/imaging/make_phantom_study.py OUT_FOLDER [--shape 64 64 48] [--voxel-mm 4.8] [--seed 1] [--moved]

A body (elliptic cylinder, 0–40 HU, with a spine at 700 HU) holds two kidneys (ellipsoids, about 150 mL) and two
spherical lesions (radius 18 and 11 mm). [177Lu]Lu-DOTATATE-like kinetics (assumptions, of the order reported by
Sandström et al. 2013 J Nucl Med 54:33): kidneys bi-exponential (1.2 % IA, T_eff 0.4 d; 1.5 % IA, T_eff 2.2 d each),
lesions mono-exponential (T_eff 3.5 d; 0.6 and 0.25 % IA), body fast clearance. Each scan: activity × physical
decay → Gaussian blur (12 mm FWHM, partial volume) → expected counts (10 cps/MBq × duration) → Poisson noise.
Deterministic for a given seed.

``--moved`` (``motions=MOTIONS``): the patient lies differently at each later scan — the phantom is moved by a known
rigid transform per time point (:data:`MOTIONS`, up to 6 mm and 4 degrees) before blurring, each scan gets its own
CT (``ct_t{i}.nii.gz``) and the study asks for ``registration: rigid``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import nibabel
import numpy as np
from scipy.ndimage import gaussian_filter

TEMPLATE = Path(__file__).with_name("study_template.yaml")
TIMES_H = (4.0, 24.0, 96.0, 168.0)
DURATION_S = (1200.0, 1200.0, 1800.0, 2400.0)
SENSITIVITY_CPS_PER_MBQ = 10.0
ADMINISTERED_MBQ = 7400.0
FWHM_MM = 12.0
#: (fraction of injected activity, effective half-life in days) of each exponential term, per region.
KINETICS = {"kidney": [(0.012, 0.4), (0.015, 2.2)], "lesion_1": [(0.006, 3.5)], "lesion_2": [(0.0025, 3.5)],
            "body": [(0.25, 0.15), (0.08, 1.5)]}


#: Rigid motion of each later scan (rotation about x, y, z in degrees, translation in mm; about the grid centre):
#: a reference point x of the first scan is found at R x + t in the later scan.
MOTIONS = (None, ((0.0, 0.0, 4.0), (6.0, 0.0, 0.0)), ((3.0, 0.0, -2.0), (-3.0, 4.0, 2.0)),
           ((0.0, -2.5, 3.0), (2.0, -5.0, -3.0)))


def rigid_matrix(rotation_deg=(0.0, 0.0, 0.0), translation_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4×4 matrix x → R x + t, R = Rz Ry Rx (degrees), about the origin (the grid centre)."""
    ax, ay, az = (math.radians(v) for v in rotation_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx
    matrix[:3, 3] = translation_mm
    return matrix


def phantom(shape=(64, 64, 48), voxel_mm=4.8, motion=None, kidney_shift_mm=(0.0, 0.0, 0.0)):
    """Label map (0 outside, 1/2 kidneys, 3/4 lesions, 5 body) and CT (HU) on a grid centred at 0.

    ``motion`` (4×4, mm): the phantom moved so that its point x is at ``motion`` · x (voxels take the label of
    the unmoved phantom at motion⁻¹ · centre). ``kidney_shift_mm``: the kidneys displaced inside the body (before
    the motion), as they slide with breathing — a deformation no rigid transform undoes.
    """
    axes = [(np.arange(n) - (n - 1) / 2) * voxel_mm for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    if motion is not None:
        inverse = np.linalg.inv(np.asarray(motion, float))
        x, y, z = (inverse[a, 0] * x + inverse[a, 1] * y + inverse[a, 2] * z + inverse[a, 3] for a in range(3))
    size = [n * voxel_mm for n in shape]
    labels = np.zeros(shape, np.int16)
    body = (x / (0.45 * size[0]))**2 + (y / (0.35 * size[1]))**2 <= 1
    labels[body] = 5
    kx, ky, kz = kidney_shift_mm
    for label, side in ((1, -1), (2, 1)):
        kidney = ((x - kx - side * 0.22 * size[0]) / 28)**2 + ((y - ky + 0.10 * size[1]) / 22)**2 \
            + ((z - kz) / 55)**2 <= 1
        labels[kidney & body] = label
    for label, centre, radius in ((3, (0.05 * size[0], 0.12 * size[1], 0.1 * size[2]), 18.0),
                                  (4, (-0.12 * size[0], 0.1 * size[1], -0.2 * size[2]), 11.0)):
        sphere = (x - centre[0])**2 + (y - centre[1])**2 + (z - centre[2])**2 <= radius**2
        labels[sphere] = label
    ct = np.where(body, 40.0 * (labels != 5) + 0.0, -1000.0)
    spine = (x / 15)**2 + ((y + 0.25 * size[1]) / 15)**2 <= 1
    ct[spine & body] = 700.0
    return labels, ct


def activity_at(labels, time_days, voxel_ml, physical_half_life_d=6.647):
    """True activity per voxel (MBq) at ``time_days``; every region uniform."""
    activity = np.zeros(labels.shape)
    regions = {1: "kidney", 2: "kidney", 3: "lesion_1", 4: "lesion_2", 5: "body"}
    for label, name in regions.items():
        inside = labels == label
        total = sum(fraction * ADMINISTERED_MBQ * math.exp(-math.log(2) / half_life * time_days)
                    for fraction, half_life in KINETICS[name])
        activity[inside] = total / inside.sum()
    return activity


def make_phantom_study(folder, shape=(64, 64, 48), voxel_mm=4.8, seed=1, noise=True, blur=True,
                       motions=None, kidney_shifts=None) -> Path:
    """Write the phantom's NIfTI files and study.yaml into ``folder``; returns the study file.

    ``motions``: one entry per scan, None or (rotation_deg, translation_mm) (see :data:`MOTIONS`); when given,
    every scan gets its own CT and the study asks for ``registration: rigid``. ``kidney_shifts``: one (x, y, z)
    displacement (mm) of the kidneys inside the body per scan (with ``motions``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [-(n - 1) / 2 * voxel_mm for n in shape]
    labels, ct = phantom(tuple(shape), voxel_mm)
    nibabel.save(nibabel.Nifti1Image(labels, affine), str(folder / "labels.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(ct.astype(np.float32), affine), str(folder / "ct_HU.nii.gz"))
    rng = np.random.default_rng(seed)
    voxel_ml = voxel_mm**3 / 1000
    for index, (hours, duration) in enumerate(zip(TIMES_H, DURATION_S), start=1):
        scan_labels = labels
        if motions is not None:
            motion = motions[index - 1]
            shift = (kidney_shifts or [None] * len(TIMES_H))[index - 1] or (0.0, 0.0, 0.0)
            scan_labels, scan_ct = phantom(tuple(shape), voxel_mm, None if motion is None else rigid_matrix(*motion),
                                           shift)
            nibabel.save(nibabel.Nifti1Image(scan_ct.astype(np.float32), affine), str(folder / f"ct_t{index}.nii.gz"))
        activity = activity_at(scan_labels, hours / 24.0, voxel_ml)
        if blur:
            activity = gaussian_filter(activity, FWHM_MM / voxel_mm / (2 * math.sqrt(2 * math.log(2))))
        expected = activity * SENSITIVITY_CPS_PER_MBQ * duration
        counts = rng.poisson(expected).astype(np.float32) if noise else expected.astype(np.float32)
        nibabel.save(nibabel.Nifti1Image(counts, affine), str(folder / f"spect_t{index}.nii.gz"))
    study = folder / "study.yaml"
    study.write_text(TEMPLATE.read_text())
    if motions is not None:
        import yaml

        document = yaml.safe_load(TEMPLATE.read_text())
        document["registration"] = "rigid"
        for index, image in enumerate(document["images"], start=1):
            image["ct"] = f"ct_t{index}.nii.gz"
        study.write_text(yaml.safe_dump(document, sort_keys=False))
    return study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    parser.add_argument("--voxel-mm", type=float, default=4.8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--moved", action="store_true", help="move the later scans by MOTIONS (registration: rigid)")
    arguments = parser.parse_args()
    print(make_phantom_study(arguments.out, tuple(arguments.shape), arguments.voxel_mm, arguments.seed,
                             motions=MOTIONS if arguments.moved else None))


if __name__ == "__main__":
    main()
