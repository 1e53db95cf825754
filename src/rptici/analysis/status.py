"""The model's validation status, in words a clinician can act on, for every output that shows predictions.

The numbers come from ``data/model_status.yaml``: how many reported endpoints of the calibration (monotherapy)
and validation (combination) trials the model reproduces within the trial-level tolerance, for one
calibration. A run made with another calibration gets "not measured" rather than borrowed numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..data import load_yaml

#: Shares of endpoints within tolerance that the project requires before calling predictions credible
#: (issue 14: at least 80 % of calibration endpoints and 60 % of combination endpoints, and every direction check
#: of :func:`rptici.analysis.validation.direction_checks` passed).
CREDIBLE_CALIBRATION_SHARE = 0.8
CREDIBLE_VALIDATION_SHARE = 0.6
STATUS_FILE = "model_status.yaml"
#: How the counts are measured (written into the status file by ``rptici validate --write-status``).
MEASURED_BY = ("rptici validate --write-status (600 virtual patients per trial, seed 1): every reported numeric "
               "endpoint of the calibration and validation trials scored with the trial-level tolerance: a rate holds "
               "when the simulated value lies inside the reported value's Wilson 95 % interval at the trial's own n "
               "widened by 0.05; a median or hazard ratio holds within a factor 4/3; a median not reached fails.")


@dataclass(frozen=True)
class ModelStatus:
    """Endpoints within the trial-level tolerance for one calibration (None where not measured)."""

    calibration: str
    measured: str | None
    calibration_within: int | None
    calibration_total: int | None
    validation_within: int | None
    validation_total: int | None
    known_failures: tuple[str, ...] = ()
    #: Names of the direction checks that failed (issue 14: e.g. PRINCE's gain from pembrolizumab).
    failed_directions: tuple[str, ...] = ()

    @property
    def credible(self) -> bool:
        """Both shares at or above the project's thresholds and no direction check failed."""
        if self.calibration_total is None or self.validation_total is None:
            return False
        return (self.calibration_within / self.calibration_total >= CREDIBLE_CALIBRATION_SHARE
                and self.validation_within / self.validation_total >= CREDIBLE_VALIDATION_SHARE
                and not self.failed_directions)

    @property
    def headline(self) -> str:
        """One sentence for the top of a report or under a table."""
        if self.measured is None:
            return (f"Research model; its agreement with clinical trials has not been measured for these parameters "
                    f"(calibration '{self.calibration}'). Do not use these predictions for treatment decisions.")
        agreement = (f"it reproduces {self.calibration_within} of {self.calibration_total} endpoints of the "
                     f"monotherapy trials it was calibrated on and {self.validation_within} of "
                     f"{self.validation_total} endpoints of the combination trials it predicts, within trial-level "
                     f"tolerance (measured {self.measured}, calibration '{self.calibration}'; docs/validation.md)")
        if self.failed_directions:
            agreement += "; it gets the direction wrong in " + "; ".join(self.failed_directions)
        if self.credible:
            return f"Research model: {agreement}."
        return (f"Research model, not yet credible: {agreement}. Do not use these predictions for treatment "
                f"decisions.")

    def as_dict(self) -> dict[str, object]:
        return {"calibration": self.calibration, "measured": self.measured,
                "calibration_endpoints_within_tolerance": self.calibration_within,
                "calibration_endpoints": self.calibration_total,
                "validation_endpoints_within_tolerance": self.validation_within,
                "validation_endpoints": self.validation_total, "credible": self.credible,
                "known_failures": list(self.known_failures), "failed_directions": list(self.failed_directions),
                "headline": self.headline}


def model_status(calibration: str | None = None) -> ModelStatus:
    """The status of the model with ``calibration``: the source a run records (``calibration/<name>.yaml`` for a
    packaged calibration, else its file), a packaged name, or None for the default."""
    document = load_yaml(STATUS_FILE)
    name = "default" if calibration is None else str(calibration)
    source = name if "/" in name or name.endswith(".yaml") else f"calibration/{name}.yaml"
    if source.startswith("calibration/") and source.count("/") == 1:  # a packaged calibration, by its name
        name = source.removeprefix("calibration/").removesuffix(".yaml")
    if source != document["calibration"]:
        return ModelStatus(name, None, None, None, None, None)
    fitted, predicted = document["calibration_endpoints"], document["validation_endpoints"]
    return ModelStatus(name, str(document["measured"]), int(fitted["within_tolerance"]), int(fitted["total"]),
                       int(predicted["within_tolerance"]), int(predicted["total"]),
                       tuple(document.get("known_failures", ())),
                       tuple(check["name"] for check in document.get("direction_checks", ()) if not check["passed"]))


def write_model_status(document: dict[str, object]) -> Path:
    """Write ``document`` (the counts of :func:`rptici.analysis.validation.status_document`) into the package's
    ``data/model_status.yaml``, keeping its leading comment and recording how it was measured."""
    path = Path(str(resources.files("rptici.data").joinpath(STATUS_FILE)))
    comment = "".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
                      if line.startswith("#")) if path.is_file() else ""
    document = {**document, "method": MEASURED_BY}
    path.write_text(comment + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120),
                    encoding="utf-8")
    return path
