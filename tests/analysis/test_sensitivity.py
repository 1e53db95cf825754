"""Morris sensitivity of the calibration parameters: closed forms, verdicts, determinism, the CLI, bad input."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rptici.analysis.calibration import PARAMETERS, start_values
from rptici.analysis.sensitivity import (OBJECTIVE, identifiability, morris_design, morris_indices,
                                         morris_problem, output_matrix, packaged_sensitivity, sensitivity,
                                         window_bounds)
from rptici.cli import app
from rptici.data import load_yaml
from rptici.errors import InputError
from rptici.trials import load_calibration

runner = CliRunner()


def test_linear_model_in_log_space_gives_the_coefficient_times_the_window():
    """y = Σ c_i ln θ_i: every elementary effect of input i is c_i w_i (w_i the width of its log window), so
    μ* = |c_i| w_i, σ = 0 (Morris 1991); an input the model ignores has μ* = 0 exactly."""
    bounds = {"a": (math.log(0.5), math.log(2.0)), "b": (-1.0, 1.0), "c": (0.0, 3.0)}
    problem = morris_problem(bounds)
    design = morris_design(problem, trajectories=6, levels=4, seed=7)
    assert design.shape == (6 * 4, 3)
    coefficients = np.array([3.0, -0.5, 0.0])
    indices = morris_indices(problem, design, design @ coefficients, levels=4, seed=7)
    widths = np.array([high - low for low, high in bounds.values()])
    assert indices["mu_star"] == pytest.approx(np.abs(coefficients) * widths, abs=1e-9)
    assert indices["mu"] == pytest.approx(coefficients * widths, abs=1e-9)
    assert indices["sigma"] == pytest.approx(0.0, abs=1e-9)
    assert indices["normalised"] == pytest.approx([1.0, 1.0 / (3 * math.log(4.0)), 0.0], abs=1e-9)


def test_verdicts_identified_and_stays_at_its_prior():
    """An input with no effect stays at its prior; the largest on J is identified; an input small on J is still
    identified by an endpoint it moves by more than that endpoint's sd (lower end of μ*'s interval), and not by
    one it moves by less or whose interval reaches below the sd."""
    names = ["big", "small", "none"]
    index = lambda mu_star, conf=0.0: {"mu_star": np.array(mu_star), "mu_star_conf": np.full(3, conf),  # noqa: E731
                                       "normalised": np.array(mu_star) / max(mu_star)}
    indices = {OBJECTIVE: index([10.0, 0.5, 0.0]), "seen": index([0.1, 0.4, 0.0], 0.1),
               "unseen": index([0.0, 0.01, 0.0]), "unresolved": index([0.0, 0.4, 0.0], 0.3)}
    verdicts = identifiability(names, indices, {"seen": 0.2, "unseen": 0.2, "unresolved": 0.2}, threshold=0.1)
    assert verdicts["big"]["verdict"] == "identified" and verdicts["big"]["by_objective"]
    assert verdicts["small"]["verdict"] == "identified" and verdicts["small"]["endpoints"] == ["seen"]
    assert verdicts["none"]["verdict"] == "stays at its prior" and verdicts["none"]["endpoints"] == []


def test_window_is_clipped_to_the_bounds():
    """ln(centre) ± 1 inside the bounds; at a bound the window is one-sided; window 0 is the whole box."""
    centre = start_values("default")
    centre["death_hazard_exponent"] = 2.0  # its upper bound
    centre["alpha_scale"] = 1.5  # 1.5 × e > its upper bound 2
    bounds = window_bounds(centre, ["alpha_scale", "death_hazard_exponent", "immunity.pdl1_suppression"], 1.0)
    assert bounds["death_hazard_exponent"] == pytest.approx((math.log(2.0) - 1.0, math.log(2.0)))
    assert bounds["alpha_scale"][1] == pytest.approx(math.log(2.0))  # start × e > 2: clipped
    suppression = math.log(centre["immunity.pdl1_suppression"])  # well inside [0.5, 50]
    assert bounds["immunity.pdl1_suppression"] == pytest.approx((suppression - 1, suppression + 1))
    lower, upper, *_ = PARAMETERS["alpha_scale"]
    assert window_bounds(centre, ["alpha_scale"], 0)["alpha_scale"] == pytest.approx((math.log(lower), math.log(upper)))
    with pytest.raises(InputError, match="window"):
        window_bounds(centre, ["alpha_scale"], -1)


def test_centre_is_the_default_calibration(tmp_path):
    """The design's centre is the calibration file's values; a parameter the file lacks sits at the geometric mean
    of its bounds."""
    values = start_values("default")
    assert set(values) == set(PARAMETERS)
    assert all(PARAMETERS[name].lower <= value <= PARAMETERS[name].upper for name, value in values.items())
    assert values["alpha_scale"] == load_calibration("default").values["alpha_scale"]
    document = copy.deepcopy(load_yaml("calibration/default.yaml"))  # the cached document stays as it is
    del document["parameters"]["immunity.kill_rate"]
    (tmp_path / "lacking.yaml").write_text(yaml.safe_dump(document))
    lower, upper, *_ = PARAMETERS["immunity.kill_rate"]
    assert start_values(str(tmp_path / "lacking.yaml"))["immunity.kill_rate"] == pytest.approx(math.sqrt(lower * upper))


def test_output_matrix_takes_objective_and_log_values_and_drops_partial_endpoints():
    row = lambda endpoint, value: {"trial": "T", "arm": "A", "endpoint": endpoint, "reported": 0.5,  # noqa: E731
                                   "weight": 4.0, "scaled_simulated": value}
    evaluations = [(1.0, [row("orr", -1.0), row("psa50", -2.0)], []), (2.0, [row("orr", -0.5)], [])]
    names, matrix, described = output_matrix(evaluations)
    assert names == [OBJECTIVE, "T | A | orr"]
    assert matrix.tolist() == [[1.0, -1.0], [2.0, -0.5]]
    assert described["T | A | orr"]["sd"] == 0.5


def test_real_model_is_deterministic_and_a_gep_net_parameter_has_no_effect_on_vision():
    """Common random numbers and a seeded design: the same seed gives the same indices to the bit. VISION is a
    prostate trial, so the GEP-NET doubling time cannot move anything there: μ* = 0, stays at its prior."""
    settings = dict(trials=("VISION",), patients=10, trajectories=2, seed=3,
                    parameters=["alpha_scale", "doubling_time_days.gep_net"])
    first, second = sensitivity(**settings), sensitivity(**settings)
    assert first["indices"] == second["indices"]
    assert first["settings"]["evaluations"] == 2 * 3
    names = list(first["parameters"])
    gep_net = names.index("doubling_time_days.gep_net")
    assert all(index["mu_star"][gep_net] == 0.0 for index in first["indices"].values())
    assert first["identifiability"]["doubling_time_days.gep_net"]["verdict"] == "stays at its prior"
    assert first["indices"][OBJECTIVE]["mu_star"][names.index("alpha_scale")] > 0


def test_cli_end_to_end(tmp_path):
    """Two trials, 10 patients, r = 2: the JSON holds every parameter's indices and verdict, and the heat-map."""
    out, figure = tmp_path / "sensitivity.json", tmp_path / "sensitivity.svg"
    result = runner.invoke(app, ["sensitivity", "--trials", "VISION", "--trials", "KEYNOTE-017", "--patients", "10",
                                 "--trajectories", "2", "--out", str(out), "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    assert "stays at its prior" in result.output and "identified" in result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert set(document["parameters"]) == set(PARAMETERS)
    assert document["settings"]["evaluations"] == 2 * (len(PARAMETERS) + 1)
    assert document["outputs"][0]["name"] == OBJECTIVE and len(document["outputs"]) > 10
    assert set(document["identifiability"]) == set(PARAMETERS)
    assert figure.read_text(encoding="utf-8").lstrip().startswith("<?xml")


@pytest.mark.parametrize("arguments, field, value", [
    (["--parameter", "alpha_scal"], "parameters", "'alpha_scal'"),
    (["--trajectories", "1"], "trajectories", "1"),
    (["--levels", "3"], "levels", "3"),
    (["--window", "-0.5"], "window", "-0.5"),
    (["--figure", "map.pdf"], "--figure", "'map.pdf'"),
    (["--trials", "PRINCE"], "trials", "'PRINCE'"),
])
def test_bad_input_names_field_value_and_what_is_allowed(arguments, field, value):
    result = runner.invoke(app, ["sensitivity", "--patients", "5", *arguments])
    assert result.exit_code == 2, result.output
    assert f"error: {field}: got {value}; expected" in result.output
    assert "Traceback" not in result.output


def test_bad_input_in_the_api():
    with pytest.raises(InputError, match="parameters: got 'nope'; expected names among alpha_scale"):
        sensitivity(parameters=["nope"])
    with pytest.raises(InputError, match="trajectories: got 1"):
        sensitivity(trajectories=1)


def test_packaged_result():
    """The committed run: every parameter has its indices and a verdict consistent with the stated rule."""
    document = packaged_sensitivity()
    settings = document["settings"]
    assert settings["evaluations"] == settings["trajectories"] * (len(document["parameters"]) + 1)
    assert settings["seconds"] > 0
    assert set(document["parameters"]) == set(PARAMETERS)
    objective = document["indices"][OBJECTIVE]
    assert max(objective["normalised"]) == 1.0
    for position, name in enumerate(document["parameters"]):
        verdict = document["identifiability"][name]
        by_objective = objective["normalised"][position] >= settings["threshold"]
        assert verdict["verdict"] == ("identified" if by_objective or verdict["endpoints"] else "stays at its prior")
    assert document["ranking"][0] == list(document["parameters"])[int(np.argmax(objective["mu_star"]))]
    stored = {output: {field: np.array(values) for field, values in index.items()}
              for output, index in document["indices"].items()}
    resolution = {output["name"]: output["sd"] for output in document["outputs"] if output["name"] != OBJECTIVE}
    recomputed = identifiability(list(document["parameters"]), stored, resolution, settings["threshold"])
    for name, verdict in document["identifiability"].items():  # the stored indices are rounded: mu* to 1e-3
        assert recomputed[name]["normalised_mu_star_J"] == pytest.approx(verdict["normalised_mu_star_J"], abs=2e-4)
        # an endpoint may change sides only where mu* - half-width - sd is within the storage's rounding of the
        # three (indices to 4 significant digits, the sd to 1e-4): the verdict was taken on the unrounded values
        position = list(document["parameters"]).index(name)
        for output in set(recomputed[name]["endpoints"]) ^ set(verdict["endpoints"]):
            mu_star, half_width = stored[output]["mu_star"][position], stored[output]["mu_star_conf"][position]
            margin = mu_star - half_width - resolution[output]
            rounding = sum(0.5 * 10.0 ** (np.floor(np.log10(abs(value))) - 3) for value in (mu_star, half_width)) + 5e-5
            assert abs(margin) <= rounding, (name, output, margin, rounding)
        assert {**recomputed[name], "normalised_mu_star_J": 0, "endpoints": 0} == \
            {**verdict, "normalised_mu_star_J": 0, "endpoints": 0}
