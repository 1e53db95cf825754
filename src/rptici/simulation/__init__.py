"""Simulation: the batched per-patient ODE solver and the engine that couples kinetics, dosimetry and immunity.

``solve_batched`` (solver.py) integrates any ``rhs(t, y, p, dydt)`` for many patients with an adaptive
Dormand–Prince step per patient; ``drivers.py`` turns a regimen and the biokinetics into dose-rate
exponentials and event lists; ``simulate`` (engine.py) runs the tumour–immune model and returns read-outs.
The engine is imported lazily (it needs rptici.immunity) so the solver stays usable on its own.
"""

from __future__ import annotations

from .solver import REASONS, BatchResult, batched_kernel, solve_batched

__all__ = ["REASONS", "BatchResult", "batched_kernel", "solve_batched", "simulate", "SimulationResult"]


def __getattr__(name: str):
    if name in ("simulate", "SimulationResult"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
