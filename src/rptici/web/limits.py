"""Per-request limits of the dashboard, in one place.

The dashboard runs virtual trials on the user's own machine; these caps keep one request from taking it
over. Every value can be changed by passing a :class:`WebLimits` to :func:`rptici.web.create_app`
(``rptici serve`` uses the defaults).

=====================  =======  ======================================================================
limit                  default  what it bounds
=====================  =======  ======================================================================
max_patients           2000     virtual patients per arm in one run
max_arms               3        arms per run (two regimens and a control)
max_follow_up_months   60       follow-up of a run
max_run_seconds        300      wall time of one run; a run past it stops after its current chunk
max_active_runs        4        runs queued or running at the same time (more are refused, HTTP 429)
workers                1        runs executed at the same time (the rest wait in the queue)
max_upload_bytes       65536    size of a scenario file loaded back
max_runs_listed        50       runs shown on the runs page
=====================  =======  ======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from rptici.errors import InputError


@dataclass(frozen=True)
class WebLimits:
    """Caps applied to every request (see the module docstring for the table of defaults)."""

    max_patients: int = 2000
    max_arms: int = 3
    max_follow_up_months: float = 60.0
    max_run_seconds: float = 300.0
    max_active_runs: int = 4
    workers: int = 1
    max_upload_bytes: int = 64 * 1024
    max_runs_listed: int = 50

    def __post_init__(self) -> None:
        for name in ("max_patients", "max_arms", "max_active_runs", "workers", "max_upload_bytes", "max_runs_listed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"limits.{name}", value, "a whole number, at least 1")
        for name in ("max_follow_up_months", "max_run_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"limits.{name}", value, "a positive number")
