"""rptici optimize: the NSGA-II search finds known fronts and optima, never returns a point over a limit, resumes
from its history to the same front, checks space files; one tiny end-to-end CLI run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rptici.cli import app
from rptici.decisions.search import nsga2_search, pareto_front
from rptici.decisions.space import load_space
from rptici.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "decisions" / "lu_psma_pembrolizumab_space.yaml"
GRID = np.linspace(-5.0, 5.0, 101)  # step 0.1


def schaffer(key):
    """Schaffer's problem N.1 (Deb 2001, Multi-objective optimization using evolutionary algorithms, p. 339):
    f1 = x², f2 = (x − 2)²; the Pareto set is 0 ≤ x ≤ 2."""
    x = GRID[key[0]]
    return [x ** 2, (x - 2.0) ** 2], [], {}


def test_finds_the_known_front_of_schaffer_n1():
    evaluations = nsga2_search([GRID.size], schaffer, 2, 0, generations=25, population=16, seed=3)
    front = sorted(GRID[item.key[0]] for item in pareto_front(evaluations.values()))
    assert min(front) == pytest.approx(0.0, abs=1e-9) and max(front) == pytest.approx(2.0, abs=1e-9)
    assert all(-1e-9 <= x <= 2.0 + 1e-9 for x in front)
    assert len(front) >= 15  # 21 grid points lie in [0, 2]; most of the front is found


def test_finds_the_optimum_of_a_two_variable_sphere():
    """Single objective (x − 0.7)² + (y + 1.2)² on a 0.1 grid: the optimum is the grid point (0.7, −1.2)."""
    def sphere(key):
        x, y = GRID[key[0]], GRID[key[1]]
        return [(x - 0.7) ** 2 + (y + 1.2) ** 2], [], {}

    evaluations = nsga2_search([GRID.size, GRID.size], sphere, 1, 0, generations=30, population=20, seed=1)
    best = min(evaluations.values(), key=lambda item: item.objectives[0])
    assert GRID[best.key[0]] == pytest.approx(0.7, abs=1e-9) and GRID[best.key[1]] == pytest.approx(-1.2, abs=1e-9)


def test_front_never_breaks_a_constraint_and_reaches_the_limit():
    """Schaffer N.1 with x ≤ 1.5 and x ≥ 0.3: the constrained front is 0.3 ≤ x ≤ 1.5."""
    def constrained(key):
        x = GRID[key[0]]
        return [x ** 2, (x - 2.0) ** 2], [x - 1.5, 0.3 - x], {}

    evaluations = nsga2_search([GRID.size], constrained, 2, 2, generations=25, population=16, seed=5)
    assert any(not item.feasible for item in evaluations.values())  # the search did meet the limits
    front = [GRID[item.key[0]] for item in pareto_front(evaluations.values())]
    assert all(0.3 - 1e-9 <= x <= 1.5 + 1e-9 for x in front)
    assert max(front) == pytest.approx(1.5, abs=1e-9) and min(front) == pytest.approx(0.3, abs=1e-9)


def test_same_seed_same_search_and_a_cache_is_used():
    first = nsga2_search([GRID.size], schaffer, 2, 0, generations=6, population=8, seed=11)
    second = nsga2_search([GRID.size], schaffer, 2, 0, generations=6, population=8, seed=11)
    assert list(first) == list(second)
    calls = []

    def counting(key):
        calls.append(key)
        return schaffer(key)

    resumed = nsga2_search([GRID.size], counting, 2, 0, generations=6, population=8, seed=11, cache=first)
    assert calls == [] and list(resumed) == list(first)


def _space(**changes):
    document = __import__("yaml").safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document.update(changes)
    return document


@pytest.mark.parametrize("changes, field", [
    ({"variables": {"rpt.activity": {"range": ["4 GBq", "10 GBq"]}}}, "variables.rpt.activity.step"),
    ({"variables": {"rpt.activity": {"range": ["4 GBq", "10 mg"], "step": "1 GBq"}}}, "variables.rpt.activity.range"),
    ({"variables": {"rpt.cycles": {"range": [2, 8], "choices": [1]}}}, "variables.rpt.cycles"),
    ({"variables": {"dose": {"choices": [1]}}}, "variables"),
    ({"variables": {"rpt.cycles": {"choices": [0, 2]}}}, "variables.rpt.cycles"),
    ({"objectives": [{"endpoint": "median_happiness", "goal": "maximize"}]}, "objectives[0].endpoint"),
    ({"objectives": [{"endpoint": "orr", "goal": "up"}]}, "objectives[0].goal"),
    ({"constraints": [{"region": "kidneys", "statistic": "p99"}]}, "constraints[0].statistic"),
    ({"constraints": [{"region": "kidneys", "quantity": "eqd2"}]}, "constraints[0].limit"),
    ({"trial": {"disease": "mcrpc", "arms": []}}, "trial.arms"),
    ({"patients": 3}, "patients"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_space_files_name_the_field(changes, field):
    with pytest.raises(InputError) as error:
        load_space(_space(**changes))
    assert error.value.field == field
    assert "expected" in str(error.value)


def test_the_example_space_and_its_limits():
    space = load_space(EXAMPLE)
    assert [item.limit_Gy for item in space.constraints] == [40.0, 2.0]  # data/tissues.yaml (Bodei et al. 2008)
    assert space.levels == [13, 7, 3, 2, 3]
    regimen = space.regimen_of([0, 0, 0, 0, 2])
    assert "ici" not in regimen and "sequence" not in regimen and regimen["rpt"]["activity"] == "4 GBq"
    assert space.values_of([0, 0, 0, 0, 2])["sequence"] is None


def test_tiny_cli_run_resumes_to_the_same_front(tmp_path):
    runner = CliRunner()
    arguments = ["optimize", str(EXAMPLE), "--out", str(tmp_path / "run"), "--generations", "2", "--population", "4",
                 "--patients", "30", "--json"]
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    document = json.loads(first.output)
    assert document["model_status"]["headline"]
    assert document["counts"]["new"] == document["counts"]["evaluated"] > 0
    for point in document["front"]:
        assert point["feasible"] and all(margin >= 0 for margin in point["constraint_margins_Gy"].values())
        assert point["doses_Gy"]["kidneys bed p90"] <= 40.0
        entry = point["endpoints"]["median_pfs_months"]
        low, high = entry["interval"]  # an upper limit not reached at this size is None (open interval)
        assert entry["not_reached"] or low <= entry["value"] <= (np.inf if high is None else high)
    assert (tmp_path / "run" / "front.parquet").is_file() and (tmp_path / "run" / "report.html").is_file()
    assert "not yet credible" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    again = json.loads(runner.invoke(app, arguments).output)
    assert again["counts"]["new"] == 0 and again["counts"]["from_history"] == document["counts"]["evaluated"]
    assert [point["key"] for point in again["front"]] == [point["key"] for point in document["front"]]
    assert [point["endpoints"] for point in again["front"]] == [point["endpoints"] for point in document["front"]]


def test_a_history_of_another_space_is_refused(tmp_path):
    runner = CliRunner()
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps({"space": "0000", "key": [0], "objectives": [0], "constraints": [],
                                   "record": {}}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--out", str(tmp_path / "run"), "--history", str(history),
                                 "--generations", "1", "--population", "2", "--patients", "20"])
    assert result.exit_code == 2 and "--history" in result.output
