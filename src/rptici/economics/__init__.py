"""Cost-effectiveness from virtual trials: partitioned-survival and Markov cohort models, costs and QALYs,
ICER and net monetary benefit, probabilistic and one-way sensitivity analysis (issue 18)."""

from .cohort import Trace, cycle_grid, discount_factors, markov, partitioned_survival, transition_rates
from .evaluation import Evaluation, evaluate_curves, evaluate_patients, evaluate_run, icer, price
from .inputs import EconomicInputs, Parameter, load_inputs
from .sensitivity import CostEffectiveness, acceptability, cost_effectiveness, probabilistic, tornado
from .survival import curve_from_mapping, digitised, exponential, loglogistic, trial_curve, weibull

__all__ = ["CostEffectiveness", "EconomicInputs", "Evaluation", "Parameter", "Trace", "acceptability", "cost_effectiveness", "curve_from_mapping",
           "cycle_grid", "digitised", "discount_factors", "evaluate_curves", "evaluate_patients", "evaluate_run",
           "exponential", "icer", "load_inputs", "loglogistic", "markov", "partitioned_survival", "price",
           "probabilistic", "tornado", "transition_rates", "trial_curve", "weibull"]
