"""Reference-phantom S-values against OpenDose (Lu-177, ICRP 110 adult male) and a few I-131 / Y-90 values.

Prints the table of docs/dosimetry.md. Reference values: tests/reference/organ_s_values.yaml (sources there).

    PYTHONPATH=src python benchmarks/phantom_s_values.py
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from rptici.dosimetry import phantom
from rptici.dosimetry.sphere import organ_self_s_value

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    reference = yaml.safe_load((ROOT / "tests/reference/organ_s_values.yaml").read_text())
    opendose = reference["opendose_icrp110_adult_male_lu177"]
    print("| S (mGy/(MBq s)), Lu-177 | rptici | OpenDose ICRP 110 AM | ratio |")
    print("|---|---|---|---|")
    for organ, entry in opendose["self"].items():
        ours = float(organ_self_s_value("Lu-177", entry["mass_g"]).total) / 3600
        print(f"| {organ} ← {organ} ({entry['mass_g']:.0f} g) | {ours:.3e} | {entry['value']:.3e} | "
              f"{ours / entry['value']:.3f} |")
    for pair in opendose["cross"]:
        ours = phantom.photon_cross_s_value("Lu-177", pair["target"], pair["source"]) / 3600
        print(f"| {pair['target']} ← {pair['source']} | {ours:.3e} | {pair['value']:.3e} | {ours / pair['value']:.2f} |")
    print()
    print("| photon cross S (mGy/(MBq h)), adult male | Lu-177 | I-131 | Y-90 |")
    print("|---|---|---|---|")
    for target, source in (("kidneys", "liver"), ("kidneys", "spleen"), ("red_marrow", "remainder"),
                           ("red_marrow", "kidneys"), ("red_marrow", "liver"), ("salivary_glands", "remainder"),
                           ("total_body", "total_body")):
        values = [phantom.photon_cross_s_value(nuclide, target, source) for nuclide in ("Lu-177", "I-131", "Y-90")]
        print(f"| {target} ← {source} | " + " | ".join(f"{value:.3e}" for value in values) + " |")
    print()
    print("| photon absorbed fraction φ(total body ← total body) | " + " | ".join(
        f"{energy:g} MeV: {phantom.photon_saf('total_body', 'total_body', energy) * phantom.region_mass_g('total_body') / 1000:.3f}"
        for energy in (0.03, 0.1, 0.2, 0.5, 1.0)) + " |")
    start = time.perf_counter()
    phantom.compute_saf("red_marrow", "remainder", "male")
    print(f"\none overlapping region pair computed afresh: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
