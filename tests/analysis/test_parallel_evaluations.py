"""Calibration, sensitivity analysis and optimisation evaluate their candidates through the same executors as a
trial (issue 15, item 4): threads, worker processes or Dask give the serial numbers exactly, and a fit that evaluates
one generation at a time starts its worker processes once (``rptici.parallel.shared_executor``)."""

from __future__ import annotations

import numpy as np
import pytest

from rptici.analysis.calibration import PARAMETERS, _evaluate_all, calibration_targets, start_values
from rptici.decisions.search import nsga2_search
from rptici.parallel import EvaluationError, map_ordered, shared_executor

TRIALS = ("VISION",)
PATIENTS, SEED = 20, 1


def _points() -> list[dict[str, float]]:
    start = start_values()
    name = next(iter(PARAMETERS))
    return [start, {**start, name: float(np.sqrt(start[name] * PARAMETERS[name].upper))}]


def test_calibration_evaluations_are_the_same_on_every_executor():
    """The objective and every endpoint row of two calibration points (VISION, 20 patients), serially, on two
    worker processes (twice: the second call reuses the same pool) and on a LocalCluster of two processes."""
    points = _points()
    targets = calibration_targets(TRIALS, PATIENTS, SEED)
    serial = _evaluate_all(points, TRIALS, PATIENTS, SEED, targets, None)
    assert serial[0][0] != serial[1][0]  # the two points differ, so an exchange of results would show
    for executor in ("processes:2", "processes:2", "dask:2"):
        assert _evaluate_all(points, TRIALS, PATIENTS, SEED, targets, executor) == serial, executor
    assert shared_executor("processes:2") is shared_executor(" processes:2 ")


def _square(value: int) -> int:
    if value == 3:
        raise ValueError("three is refused")
    return value * value


def test_map_ordered_keeps_order_and_reports_the_failure():
    assert map_ordered(_square, [5, 1, 4], "threads:2") == [25, 1, 16]
    with pytest.raises(EvaluationError, match="1 of 4 evaluation.*evaluation 2.*three is refused"):
        map_ordered(_square, [0, 1, 3, 2], "threads:2")


def _sphere(key):
    return [(key[0] - 7) ** 2 + (key[1] - 2) ** 2], [], {}


def test_optimisation_search_is_the_same_on_worker_processes():
    """NSGA-II's evaluations of one generation on two worker processes equal the serial search's."""
    serial = nsga2_search([15, 9], _sphere, 1, 0, generations=4, population=8, seed=2)
    parallel = nsga2_search([15, 9], _sphere, 1, 0, generations=4, population=8, seed=2,
                            executor=shared_executor("processes:2"))
    assert {key: item.objectives for key, item in parallel.items()} == \
        {key: item.objectives for key, item in serial.items()}
