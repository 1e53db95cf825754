"""rptici: radiopharmaceutical therapy combined with immune checkpoint inhibitors, in silico.

The public API (:mod:`rptici.api`) is imported on first use, so ``import rptici`` stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["load_scenario", "simulate", "regimen_dose", "run_trial", "summarize", "replay", "__version__"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'rptici' has no attribute {name!r}")
