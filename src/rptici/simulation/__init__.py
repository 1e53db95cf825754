"""Simulation: the batched per-patient ODE solver and the engine that couples kinetics, dosimetry and immunity.

``solve`` (solver.py) integrates any ``rhs(t, y, p, dydt)`` for many patients with a solver object
(``Dopri5``, ``Radau`` or ``Auto``, each with its ``PIController``), an adaptive step per patient;
``drivers.py`` turns a regimen and the biokinetics into dose-rate exponentials and event lists; ``simulate``
(engine.py) runs a model object (default the tumour–immune model) and returns read-outs. The engine is
imported lazily (it needs rptici.immunity) so the solver stays usable on its own.
"""

from __future__ import annotations

from .solver import (DORMAND_PRINCE_54, REASONS, Auto, BatchResult, Dopri5, Flush, LinearSystem, PIController, Radau,
                     RungeKuttaTableau, batched_kernel, solve, solve_batched, solver_for)

__all__ = ["DORMAND_PRINCE_54", "REASONS", "Auto", "BatchResult", "Dopri5", "Flush", "LinearSystem", "PIController",
           "Radau", "RungeKuttaTableau", "batched_kernel", "solve", "solve_batched", "solver_for", "simulate",
           "SimulationResult"]


def __getattr__(name: str):
    if name in ("simulate", "SimulationResult"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
