"""Property-based fuzz of the command line (issue 19, item 11): every command with fuzzed options and files (valid
examples, binary, empty, truncated and mutated files, folders, missing paths, paths under a file, /proc) through
typer's CliRunner. A command either succeeds, reaches the computation it was asked for (stopped there: no
simulation runs in the fuzz), or exits with a status != 0 and, for rptici's own refusals, one line ``error: field:
got value; expected what``; never a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from fuzz_inputs import EXAMPLES, example, fuzz_settings, mutated, yaml_text
from rptici.cli import app


class Reached(Exception):
    """A fuzzed command got past every check to the computation it asks for; the fuzz stops it there."""


def reached(*args, **kwargs):
    raise Reached


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Input files and folders of every kind a user might give, valid and not."""
    folder = tmp_path_factory.mktemp("cli_inputs")
    paths = {}
    for name, source in (("trial.yaml", "trials/prince_like.yaml"), ("simulation.yaml", "simulate/mouse_nm600_like.yaml"),
                         ("dose.yaml", "scenarios/pluvicto_pembrolizumab.yaml"), ("patient.yaml", "lu177_dotatate_patient.yaml"),
                         ("lu177_dotatate_patient.csv", "lu177_dotatate_patient.csv"), ("s_values.csv", "s_values_example.csv")):
        shutil.copy(EXAMPLES / source, folder / name)
        paths[name] = folder / name
    paths["trial_mutated.yaml"] = folder / "trial_mutated.yaml"
    paths["trial_mutated.yaml"].write_text(yaml_text({**example("trials/prince_like.yaml"), "patients": "1e9"}))
    for name, content in (("binary.yaml", b"\xff\xfe\x00\x01binary"), ("empty.yaml", b""), ("list.yaml", b"- 1\n- 2\n"),
                          ("broken.yaml", b"arms: [\n"), ("nul.csv", b"region,time [h],activity [MBq]\nkidneys\x00,1,2\n"),
                          ("text.png", b"not an image")):
        (folder / name).write_bytes(content)
        paths[name] = folder / name
    (folder / "a_folder").mkdir()
    paths["a_folder"] = folder / "a_folder"
    run = folder / "run_without_chunks"
    run.mkdir()
    (run / "manifest.json").write_text('{"scenario_hash": "x", "seed": 1, "patients": 10, "chunk_size": 0}')
    paths["run_without_chunks"] = run
    garbage = folder / "run_with_garbage"
    garbage.mkdir()
    (garbage / "manifest.json").write_bytes(b"\x00garbage")
    paths["run_with_garbage"] = garbage
    paths["missing"] = folder / "missing.yaml"
    paths["under_a_file"] = paths["empty.yaml"] / "x"
    paths["proc"] = Path("/proc/rptici-fuzz")
    paths["long"] = folder / ("x" * 300)
    return paths


@pytest.fixture()
def no_computation(monkeypatch):
    """Stop each command at its computation: simulations, trials, replays, curve fits, plots and the web server."""
    import importlib

    module = importlib.import_module  # by module path: rptici.analysis.replay is also a function's name
    monkeypatch.setattr(module("rptici.api"), "run_scenario", reached)
    monkeypatch.setattr(module("rptici.trials.run"), "chunk_tasks", reached)
    monkeypatch.setattr(module("rptici.analysis.replay"), "simulate_trial", reached)
    monkeypatch.setattr(module("rptici.report.regimen"), "write_regimen_plot", reached)
    monkeypatch.setattr(module("uvicorn"), "run", reached)
    monkeypatch.setattr(module("rptici.dosimetry.tac"), "_fit_one", reached)  # a curve fit, after its data are read


NAMES = st.one_of(st.sampled_from(["Lu-177", "177Lu", "Ac-225", "Ra-223", "Xx-999", "", " ", "lu-177", "Pluvicto",
                                   "pembrolizumab", "PRINCE", "NCT03658447", "NCT03215095", "VISION", "../etc", "\x00"]),
                  st.text(max_size=10))
NUMBERS = st.one_of(st.sampled_from(["0", "-1", "1", "2", "3", "1000000000", "1e3", "nan", "inf", "-inf", "abc", "",
                                     "2.7", "99999999999999999999999", "0x10"]),
                    st.integers(-10, 10**7).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str))
QUANTITIES = st.one_of(st.sampled_from(["10 g", "20 Gy", "2.6 Gy", "2.8 h", "50 h", "1 h", "10", "-1 g", "0 g", "1e400 g",
                                        "nan Gy", "abc", "", "10 mL", "7.4 GBq", "1 furlong", "inf h"]),
                       st.text(max_size=8))


def option(name: str, values) -> st.SearchStrategy[list[str]]:
    """``[name, value]`` or nothing."""
    return st.one_of(st.just([]), values.map(lambda value: [name, value]))


class FileRef(str):
    """A file or folder of the ``files`` fixture by its key, or ``new/<name>``: a path in an empty scratch folder."""


def path_of(*names: str):
    return st.sampled_from(names)


def command_lines():
    """Strategies of argument lists; files and folders as :class:`FileRef` (resolved by :func:`resolve`)."""
    any_file = path_of("trial.yaml", "simulation.yaml", "dose.yaml", "patient.yaml", "trial_mutated.yaml", "binary.yaml",
                       "empty.yaml", "list.yaml", "broken.yaml", "a_folder", "missing", "under_a_file", "proc", "long",
                       "lu177_dotatate_patient.csv", "nul.csv")
    folders = path_of("a_folder", "run_without_chunks", "run_with_garbage", "missing", "trial.yaml", "under_a_file", "proc")
    outputs = st.one_of(path_of("empty.yaml", "under_a_file", "proc", "a_folder", "long"),
                        st.sampled_from(["new/out", "new/out.png", "new/out.html", "new/out.txt"]))
    json_flag = st.sampled_from([[], ["--json"]])
    join = lambda *parts: [item for part in parts for item in part]  # noqa: E731
    at = lambda strategy: strategy.map(FileRef)  # noqa: E731
    return st.one_of(
        st.tuples(NAMES, json_flag).map(lambda p: ["nuclide", p[0], *p[1]]),
        st.tuples(NAMES, QUANTITIES, option("--rbe", NUMBERS), json_flag).map(
            lambda p: join(["sphere", "--nuclide", p[0], "--mass", p[1]], p[2], p[3])),
        st.tuples(QUANTITIES, QUANTITIES, QUANTITIES, QUANTITIES, option("--uptake-half-life", QUANTITIES)).map(
            lambda p: join(["bed", "--dose", p[0], "--alpha-beta", p[1], "--repair-half-time", p[2],
                            "--effective-half-life", p[3]], p[4])),
        st.tuples(NAMES, json_flag).map(lambda p: ["agents", "show", p[0], *p[1]]),
        option("--kind", NAMES).map(lambda p: ["agents", "list", *p]),
        st.tuples(at(any_file), option("--model", NAMES), option("--monte-carlo", NUMBERS), json_flag).map(
            lambda p: join(["tia", p[0]], p[1], p[2], p[3])),
        st.tuples(at(any_file), option("--rbe", NUMBERS), option("--s-values", at(any_file)),
                  option("--out", at(outputs)), json_flag).map(lambda p: join(["dose", p[0]], p[1], p[2], p[3], p[4])),
        st.tuples(at(any_file), option("--rbe", NUMBERS), json_flag).map(lambda p: join(["regimen", "dose", p[0]], p[1], p[2])),
        st.tuples(at(any_file), at(outputs), option("--patient", NUMBERS)).map(
            lambda p: join(["regimen", "plot", p[0], "--out", p[1]], p[2])),
        st.tuples(option("--disease", NAMES), option("--phase", NAMES), option("--role", NAMES),
                  option("--import", at(any_file))).map(lambda p: join(["registry", "list"], *p)),
        st.tuples(NAMES, option("--import", at(any_file))).map(lambda p: join(["registry", "show", p[0]], p[1])),
        st.tuples(NAMES, option("--patients", NUMBERS), option("--seed", NUMBERS),
                  option("--calibration", st.one_of(NAMES, at(any_file)))).map(lambda p: join(["registry", "replay", p[0]], *p[1:])),
        st.tuples(at(any_file), option("--patients", NUMBERS), option("--seed", NUMBERS), option("--days", NUMBERS),
                  option("--plot", at(outputs))).map(lambda p: join(["simulate", p[0]], *p[1:])),
        st.tuples(at(any_file), at(outputs), option("--patients", NUMBERS), option("--seed", NUMBERS),
                  option("--chunk-size", NUMBERS), option("--executor", NAMES), json_flag).map(
            lambda p: join(["trial", "run", p[0], "--out", p[1]], *p[2:])),
        st.tuples(at(folders), option("--html", at(outputs)), json_flag).map(lambda p: join(["trial", "summary", p[0]], *p[1:])),
        st.tuples(at(folders), option("--out", at(outputs))).map(lambda p: join(["report", p[0]], p[1])),
        st.tuples(at(folders), option("--costs", st.one_of(NAMES, at(any_file))), option("--psa", NUMBERS),
                  option("--model", NAMES)).map(lambda p: join(["economics", p[0]], *p[1:])),
        st.tuples(option("--port", NUMBERS), option("--run-root", at(st.one_of(folders, outputs))),
                  option("--host", NAMES)).map(lambda p: join(["serve"], *p)),
    )


def resolve(arguments: list[str], files: dict[str, Path], scratch: Path) -> list[str]:
    """:class:`FileRef` arguments as paths: the fixture's file, or ``new/...`` in the empty scratch folder."""
    resolved = []
    for argument in arguments:
        if isinstance(argument, FileRef):
            resolved.append(str(scratch / argument[4:]) if argument.startswith("new/") else str(files[argument]))
        else:
            resolved.append(str(argument))
    return resolved


def ends_cleanly(result, arguments: list[str]) -> None:
    """Success, the computation reached, or an exit != 0 without a traceback; rptici's own refusal in one line."""
    if isinstance(result.exception, Reached):
        return
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"rptici {' '.join(arguments)} raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if result.exit_code != 0:
        assert errors or "Usage:" in result.stderr or "Error" in result.stderr, (arguments, result.output)
    for line in errors:
        assert len(line) <= 700, line
        assert ": got " in line or "needs the 'web' extra" in line or "every patient of arm" in line, line


@fuzz_settings(500)
@given(arguments=command_lines())
def test_fuzzed_command_lines_end_cleanly(files, no_computation, tmp_path_factory, arguments):
    scratch = tmp_path_factory.getbasetemp() / "cli_scratch"  # emptied for each input: outputs start afresh
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    resolved = resolve(arguments, files, scratch)
    result = CliRunner().invoke(app, resolved, catch_exceptions=True)
    ends_cleanly(result, resolved)
