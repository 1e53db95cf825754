"""Tables stay whole (issue 19, item 2): piped output is plain tab-separated text with nothing cut; in a narrow
terminal a wide table is shown one row at a time instead of being folded into slivers or ellipses."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from rptici import cli
from rptici.cli import app


def test_piped_registry_list_is_plain_and_complete():
    result = CliRunner().invoke(app, ["registry", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split("\t") == ["name", "disease", "phase", "rpt", "ici", "n", "role", "replayable"]
    assert "…" not in result.output and "[223Ra]RaCl2" in result.output and "atezolizumab" in result.output
    assert all(len(line.split("\t")) == 8 for line in lines[1:])


def test_a_wide_table_in_an_80_column_terminal_is_shown_row_by_row(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, width=80, force_terminal=True, color_system=None))
    columns = ["arm", "objective response rate (RECIST 1.1)", "hazard ratio PFS vs control", "median OS (months)",
               "grade ≥ 3 adverse events by attributed cause"]
    cells = ["Lu-PSMA-617 + pembrolizumab", "86 % (57 %–98 %)", "1.54 (0.34–6.87)", "not reached",
             "radiation 75 %; immune 55 %; both 0 %; any 80 %"]
    cli._print_table("PRINCE-like", columns, [cells])
    text = screen.getvalue()
    assert "…" not in text
    for column, cell in zip(columns, cells):
        assert f"{column}: {cell}" in text


def test_a_narrow_table_stays_a_table(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, width=80, force_terminal=True, color_system=None))
    cli._print_table("doses", ["organ", "dose (Gy)"], [["kidneys", "3.2"], ["red marrow", "0.21"]])
    text = screen.getvalue()
    assert "┃ organ" in text and "│ kidneys" in text and "kidneys: " not in text
