"""Quantitative SPECT/CT to voxel dose: images in, TIA, dose and BED maps and DVHs out.

Layer: ``imaging`` sits above ``radiobiology`` and below ``immunity`` in ``/work/shared/tools/check_layers.py``
(DESIGN.md lists it beside dosimetry). It needs the layers under it — ``physics`` (ICRP-107 emissions),
``dosimetry`` (TAC fitting with model selection, single-time-point TIA, electron ranges and photon coefficients of
the sphere S-values) and ``radiobiology`` (G factor, BED, tissues) — and nothing above; dosimetry's patient
assessment does not import it, so imports flow one way. What a physicist would do with a series of quantitative
SPECT/CT scans (EANM/MIRD guidance: Ljungberg et al. 2016 J Nucl Med 57:151, MIRD Pamphlet 26; Sjögreen Gleisner
et al. 2022 EJNMMI Phys 9:2):

* :mod:`.volume` — NIfTI images (nibabel), grid checks, counts → MBq with the calibration factor;
* :mod:`.dicom` — DICOM series (pydicom: NM/PT/CT, LPS → RAS), DICOM-SEG and RTSTRUCT label maps;
* :mod:`.kinetics` — voxel mono-exponential TIA, region TACs by :func:`rptici.dosimetry.tac.fit_tac`, Hänscheid STP;
* :mod:`.kernel` — dose-voxel kernels (MIRD Pamphlet 17; Bolch et al. 1999 J Nucl Med 40:11S);
* :mod:`.dose` — dose maps (kernel by FFT, or local deposition), CT density, BED maps;
* :mod:`.dvh` — D2/D50/D98, cumulative DVHs;
* :mod:`.pvc` — partial-volume correction: Gaussian PSF, geometric transfer matrix (Rousset et al. 1998), sphere
  recovery coefficients;
* :mod:`.uncertainty` — region-TIA Monte Carlo from the TAC-fit covariance → mean-dose and D_x intervals, DVH bands;
* :mod:`.register` — rigid (and masked deformable) registration of later scans to the first, activity-conserving
  resampling onto its grid (SimpleITK);
* :mod:`.study` — the study file, the run, the output folder (``rptici image-dose``; its HTML report is
  :mod:`rptici.report.imaging`, a layer above);
* :mod:`.cycles` — dose and BED of cycles 2…N predicted from cycle 1 (``--predict-cycles``).

With ``registration: none`` (the default) the scans must already share one grid and be aligned.
"""

from .cycles import predict_cycles
from .dicom import read_dicom_labels, read_dicom_series
from .dose import bed_map, density_from_hu, dose_map
from .dvh import cumulative_dvh, dose_at_volume, dvh_table, region_statistics
from .kernel import VoxelKernel, voxel_kernel
from .pvc import correct_activities, sphere_recovery_coefficient, transfer_matrix
from .kinetics import VoxelTia, check_times, region_fits, voxel_monoexponential, voxel_single_time_point
from .study import ImageDoseResult, Study, image_dose, load_study, run_study, write_outputs
from .volume import Volume, activity_mbq, check_same_grid, read_image, read_labels, read_nifti, write_nifti

__all__ = ["ImageDoseResult", "Study", "Volume", "VoxelKernel", "VoxelTia", "activity_mbq", "bed_map",
           "check_same_grid", "check_times", "correct_activities", "cumulative_dvh", "density_from_hu",
           "dose_at_volume", "dose_map", "dvh_table", "image_dose", "load_study", "predict_cycles",
           "read_dicom_labels", "read_dicom_series", "read_image", "read_labels", "read_nifti", "region_fits",
           "region_statistics", "run_study", "sphere_recovery_coefficient", "transfer_matrix", "voxel_kernel",
           "voxel_monoexponential", "voxel_single_time_point", "write_nifti", "write_outputs"]
