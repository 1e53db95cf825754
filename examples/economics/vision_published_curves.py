"""VISION (Lu-PSMA-617 + SoC vs SoC) from published medians with the packaged US costs, 60-month horizon as in
the JNCCN 2023 analysis. Not a reproduction of that analysis: see docs/economics.md. Run from the repository root:
PYTHONPATH=src python examples/economics/vision_published_curves.py"""

import dataclasses
from pathlib import Path

import yaml

from rptici.economics import evaluate_curves, load_inputs

inputs = dataclasses.replace(load_inputs("lu_psma_pembrolizumab_us"), horizon_years=5.0)  # JNCCN 2023: 60 months
spec = yaml.safe_load(open(Path(__file__).with_suffix(".yaml"), encoding="utf-8"))
result = evaluate_curves(spec["arms"], inputs, spec["control"]).result()
for arm in result["arms"]:
    print(f"{arm['arm']}: cost {arm['cost']:,.0f} USD, life-years {arm['life_years']:.3f}, QALYs {arm['qalys']:.3f}")
row = result["comparisons"][0]
print(f"incremental cost {row['incremental_cost']:,.0f} USD, QALYs {row['incremental_qalys']:.3f}, ICER {row['icer']:,.0f} USD/QALY")
