"""Command-line interface: a thin layer over the Python API. Every computing command has ``--json``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import RpticiError

app = typer.Typer(help="rptici: radiopharmaceutical therapy combined with immune checkpoint inhibitors.",
                  no_args_is_help=True, add_completion=False)
agents_app = typer.Typer(help="The catalogue of radiopharmaceuticals and checkpoint inhibitors.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

console = Console()
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _clean(value: Any) -> Any:
    """Make a result JSON-safe: NumPy scalars and arrays to Python, NaN to null."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(_clean(result), indent=2, ensure_ascii=False))
        return
    table = Table(title=title, show_header=False)
    for key, value in _clean(result).items():
        table.add_row(key, _display(value))
    console.print(table)


def _display(value: Any) -> str:
    """A short human reading of a JSON value: 4 significant digits, mappings as ``key=value``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_display(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(_display(item) for item in value) or "none"
    return str(value)


def _run(action: Callable[[], None]) -> None:
    """Run a command; a user error becomes one clear line on stderr and exit status 2."""
    try:
        action()
    except RpticiError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


@app.command()
def nuclide(name: str = typer.Argument(..., help="Radionuclide, e.g. Lu-177, 177Lu, Ac-225."),
            no_daughters: bool = typer.Option(False, "--no-daughters", help="Energy of the parent alone."),
            as_json: bool = JSON_OPTION) -> None:
    """Half-life, decay chain and mean energy per decay by radiation type (ICRP-107)."""
    from .physics import Nuclide

    _run(lambda: _emit(Nuclide(name, include_daughters=not no_daughters).summary(), as_json, name))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
