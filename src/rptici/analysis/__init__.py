"""Analysis of virtual-trial results: survival (Kaplan–Meier, Cox, log-rank via lifelines) and response rates."""

from .response import response_rate, waterfall
from .survival import KaplanMeier, cox_hazard_ratio, kaplan_meier, logrank

__all__ = ["KaplanMeier", "cox_hazard_ratio", "kaplan_meier", "logrank", "response_rate", "waterfall"]
from .summary import summarize, summarize_tables
from .replay import replay
from .calibration import calibrate
