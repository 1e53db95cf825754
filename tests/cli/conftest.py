"""The CLI tests read a command's output, which includes its stderr: compile the engine before them, so that its
first-compilation notice (issue 19, item 3) never lands inside a JSON answer."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def compiled_engine() -> None:
    from rptici.api import engine_ready

    if not engine_ready():
        from rptici.kinetics import Regimen
        from rptici.simulation.engine import simulate

        regimen = Regimen.model_validate({"ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "3 weeks",
                                                  "infusions": 1}})
        simulate(regimen, {"lesion_volumes_mL": np.array([[10.0]])}, [0.0, 7.0], organs=())
