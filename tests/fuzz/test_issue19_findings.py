"""One test per input finding of issue 19 (items 10 and 11): silent wrong answers and tracebacks seen on main
before this branch. Each case was accepted (or crashed) there; here it converts correctly or is refused with an
InputError naming the field."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fuzz_inputs import EXAMPLES, refused_cleanly
from rptici.api import load_scenario
from rptici.cli import app
from rptici.errors import InputError

REGIMEN = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}}


def simulation(patient=None, regimen=None, **more):
    return {"regimen": regimen or REGIMEN, "patient": {"lesions": ["10 mL"], **(patient or {})}, **more}


def refused(document, field: str, kind: str = "simulation") -> InputError:
    with pytest.raises(InputError) as caught:
        load_scenario(document, kind)
    refused_cleanly(caught.value)
    assert caught.value.field == field, str(caught.value)
    return caught.value


# --- item 10: silent wrong answers ---------------------------------------------------------------------------------

def test_gfr_in_ml_per_second_is_converted():  # was read as 1.5 mL/min: kidney 495 Gy instead of 33.5
    assert load_scenario(simulation({"gfr": "1.5 mL/s"}), "simulation").patient.gfr == pytest.approx(90.0)


def test_bsa_in_square_centimetres_is_converted():  # was 19,000 m2
    assert load_scenario(simulation({"bsa": "19000 cm2"}), "simulation").patient.bsa == pytest.approx(1.9)


@pytest.mark.parametrize("field, value", [("gfr", "125 furlongs"), ("bsa", "1.9 kg"), ("psa", "40 mg")])
def test_a_covariate_of_the_wrong_dimension_is_refused(field, value):
    assert "quantity of" in refused(simulation({field: value}), f"patient.{field}").allowed


@pytest.mark.parametrize("field, value", [("gfr", 90), ("bsa", 1.9), ("weight", 80)])
def test_a_bare_number_for_a_dimensioned_covariate_is_refused(field, value):
    assert "unit" in refused(simulation({field: value}), f"patient.{field}").allowed


@pytest.mark.parametrize("path, value", [(("rpt", "activity"), 7.4), (("rpt", "activity_step"), -0.5),
                                         (("rpt", "interval"), 42), (("rpt", "start"), 3),
                                         (("ici", "dose"), 200), (("ici", "interval"), 21),
                                         (("ici", "infusion_time"), 30), (("ici", "duration"), 730)])
def test_a_bare_number_for_a_regimen_quantity_is_refused(path, value):  # activity: 7.4 was 7.4 MBq
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2},
               "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 3}}
    if path[1] == "duration":
        del regimen["ici"]["infusions"]
    regimen[path[0]][path[1]] = value
    refused(simulation(regimen=regimen), f"regimen.{path[0]}.{path[1]}")


def test_a_bare_zero_needs_no_unit():
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "start": 0}}
    assert load_scenario(simulation(regimen=regimen), "simulation").regimen.rpt.cycle_times()[0] == 0.0


@pytest.mark.parametrize("path, value", [(("rpt", "activity"), "1e400 GBq"), (("rpt", "activity"), float("inf")),
                                         (("rpt", "activity"), ".inf GBq"), (("ici", "dose"), "1e400 mg"),
                                         (("rpt", "start"), "1e400 d"), (("ici", "interval"), "inf d")])
def test_infinite_quantities_are_refused(path, value):  # trial summary could never read such a folder
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"},
               "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 3}}
    regimen[path[0]][path[1]] = value
    refused(simulation(regimen=regimen), f"regimen.{path[0]}.{path[1]}")


@pytest.mark.parametrize("command", [["dose", str(EXAMPLES / "lu177_dotatate_patient.yaml")],
                                     ["regimen", "dose", str(EXAMPLES / "scenarios" / "pluvicto.yaml")],
                                     ["sphere", "--nuclide", "Ac-225", "--mass", "10 g"]])
@pytest.mark.parametrize("rbe", ["nan", "inf", "0", "-5"])
def test_a_non_finite_or_non_positive_rbe_is_refused(command, rbe):  # --rbe nan exited 0 with every dose NaN
    result = CliRunner().invoke(app, [*command, "--rbe", rbe])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: rbe: got ") and result.stderr.count("\n") == 1, result.stderr


# --- item 11: tracebacks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("patient, field", [({"infiltration": ""}, "patient.infiltration"),
                                            ({"gfr": "abc"}, "patient.gfr"),
                                            ({"target_uptake": 10**400}, "patient.target_uptake")])
def test_bad_covariates_are_refused(patient, field):
    refused(simulation(patient), field)


def test_a_horizon_with_a_unit_is_read_and_a_bad_seed_refused():  # days: "1 year" and seed: abc were bare float()/int()
    assert load_scenario(simulation(days="1 year"), "simulation").days == pytest.approx(365.25)
    refused(simulation(seed="abc"), "seed")


PRESCRIBED = {"species": "mouse", "patient": {"lesions": ["0.1 mL"]},
              "prescribed_rpt": [{"day": 0, "tumour_dose": "12 Gy", "effective_half_life": "2.67 d"}]}


def test_an_empty_prescribed_administration_is_refused():
    assert "mapping" in refused({**PRESCRIBED, "prescribed_rpt": [None]}, "prescribed_rpt[0]").allowed


def test_a_prescribed_administration_without_its_dose_is_refused():
    refused({**PRESCRIBED, "prescribed_rpt": [{"effective_half_life": "2.67 d"}]}, "prescribed_rpt[0].tumour_dose")


@pytest.mark.parametrize("schedule, field", [("rpt", "regimen.rpt.cycles"), ("ici", "regimen.ici.infusions")])
@pytest.mark.parametrize("count", [float("inf"), 10**9, 2.5, True, 0])
def test_counts_of_administrations_are_whole_and_bounded(schedule, field, count):  # .inf raised OverflowError
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 2},
               "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 3}}
    regimen[schedule]["cycles" if schedule == "rpt" else "infusions"] = count
    refused(simulation(regimen=regimen), field)


@pytest.mark.parametrize("part", ["rpt", "ici", "sequence"])
def test_a_key_that_is_not_text_is_refused(part):  # TypeError: keywords must be strings
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"},
               "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 3},
               "sequence": {"order": "concurrent"}}
    regimen[part][1] = 2
    assert "field names" in refused(simulation(regimen=regimen), f"regimen.{part}").allowed


def test_a_binary_scenario_file_is_refused(tmp_path):  # UnicodeDecodeError
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    refused(str(path), "scenario", None)


def test_a_billion_patients_are_refused_before_the_run_folder_is_pinned(tmp_path):  # MemoryError, manifest pinned
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["trial", "run", str(EXAMPLES / "trials" / "prince_like.yaml"), "--out", str(out),
                                      "--patients", "1000000000"])
    assert result.exit_code == 2 and result.stderr.startswith("error: patients: got 1000000000"), result.output
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("out", ["file", "under_file"])
def test_an_output_folder_that_cannot_be_made_is_refused(tmp_path, out):  # FileExistsError / NotADirectoryError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker if out == "file" else blocker / "run"
    result = CliRunner().invoke(app, ["trial", "run", str(EXAMPLES / "trials" / "prince_like.yaml"), "--out",
                                      str(target), "--patients", "2"])
    assert result.exit_code == 2 and result.stderr.startswith("error: folder: got "), result.output


TRIAL = {"disease": "mcrpc", "patients": 10,
         "arms": [{"name": "Lu", "regimen": {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq"}}}]}


@pytest.mark.parametrize("change, field", [
    ({"dropout_per_year": -1}, "dropout_per_year"),  # was never validated
    ({"dropout_per_year": float("inf")}, "dropout_per_year"),
    ({"overrides": {"not_a_parameter": 1.0}}, "overrides"),  # was an error in every chunk: the run lost every patient
    ({"overrides": {"kill_rate": -1}}, "overrides"),  # was a run that exited with 100 % of patients failed
])
def test_trial_scenario_rates_and_overrides_are_checked_before_the_run(change, field):
    error = refused({**TRIAL, **change}, field, "trial")
    assert str(change[field] if field == "dropout_per_year" else next(iter(change[field]))) in str(error)


@pytest.mark.parametrize("path, value, field", [
    (("ici", "interval"), "1e308 d", "regimen.ici.interval"),  # found by the fuzz: 35 infusions overflowed to inf
    (("ici", "start"), "36526 d", "regimen.ici.start"),
    (("rpt", "interval"), "1e306 d", "regimen.rpt.interval"),
    (("rpt", "start"), "101 years", "regimen.rpt.start"),
    (("sequence", "lag"), "1e308 d", "regimen.sequence.lag"),
])
def test_a_schedule_beyond_a_century_is_refused(path, value, field):  # was a RuntimeWarning and infinite days
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "6 weeks", "cycles": 6},
               "ici": {"agent": "pembrolizumab", "dose": "200 mg", "interval": "q3w", "infusions": 35},
               "sequence": {"order": "rpt_first", "lag": "2 weeks"}}
    regimen[path[0]][path[1]] = value
    assert "within 36525 days (100 years)" in refused(simulation(regimen=regimen), field).allowed


def test_the_longest_schedule_within_a_century_loads():  # the bound is inclusive: 100 years exactly is allowed
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "7.4 GBq", "interval": "20 years", "cycles": 6}}
    times = load_scenario(simulation(regimen=regimen), "simulation").regimen.rpt.cycle_times()
    assert times[-1] == pytest.approx(100 * 365.25)


def test_an_activity_step_that_overflows_is_refused():  # 1e305 GBq stepped by 1e305 GBq reached inf
    regimen = {"rpt": {"agent": "Pluvicto", "activity": "1e305 GBq", "activity_step": "1e305 GBq",
                       "interval": "6 weeks", "cycles": 6}}
    assert "finite" in refused(simulation(regimen=regimen), "regimen.rpt.activity_step").allowed


def test_serve_refuses_a_run_root_it_cannot_create_before_it_says_it_is_serving(tmp_path, monkeypatch):
    # serve --run-root /etc/passwd printed "rptici dashboard on http://..." and then "error: '/etc/passwd': got File
    # exists", the field and the value the wrong way round
    pytest.importorskip("uvicorn")
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the server was started"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["serve", "--run-root", str(blocker)])
    assert result.exit_code == 2 and "dashboard on" not in result.output, result.output
    assert result.stderr.startswith(f"error: run_root: got '{blocker}'; expected a folder for the dashboard's runs")
