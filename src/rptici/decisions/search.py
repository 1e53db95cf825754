"""Constrained multi-objective search over a discrete grid with NSGA-II (pymoo), resumable and parallel.

Why NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002, IEEE Trans Evol Comput 6:182): the decision has two or more
objectives in conflict (longer PFS against more grade ≥ 3 toxicity), so the answer is a Pareto front, which a
population-based method finds in one run; its constrained domination (a feasible point beats an infeasible one,
two infeasible ones compare by total violation) handles organ limits without penalty weights; it needs no
gradients of the Monte Carlo trial; and it is robust on small mixed-integer grids. pymoo (Blank & Deb 2020, IEEE
Access 8:89497) gives a tested implementation with an ask-and-tell interface, which is what makes the history
cache and the parallel evaluation below simple. (optuna's NSGA-II sampler would do too, but treats constraints
as an afterthought and keeps its state in a study database.)

Variables are level indices 0 … n−1 (integer SBX crossover and polynomial mutation with rounding, integer random
sampling). ``evaluate(key)`` returns the objectives to minimise, the constraint values (≤ 0 feasible) and a
record; evaluated keys are cached (and written to the history file by the caller), so a resumed search proposes
the same candidates from the same seed and finds them evaluated already: the same front, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

Key = tuple[int, ...]
#: Objective value given to candidates that were not simulated because they break a constraint: constrained
#: domination ranks them by violation only, so the value never decides anything; it must merely be finite.
NOT_SIMULATED = 1e12


@dataclass
class Evaluation:
    """One evaluated candidate: objectives to minimise, constraint values (≤ 0: within), a JSON-ready record."""

    key: Key
    objectives: list[float]
    constraints: list[float]
    record: dict[str, Any] = field(default_factory=dict)
    generation: int = 0

    @property
    def violation(self) -> float:
        return float(sum(max(value, 0.0) for value in self.constraints))

    @property
    def feasible(self) -> bool:
        return self.violation <= 0.0


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``points`` (to minimise) that no other row dominates (duplicates: the first kept)."""
    points = np.asarray(points, dtype=float)
    keep = []
    for index, point in enumerate(points):
        dominated = np.any(np.all(points <= point, axis=1) & np.any(points < point, axis=1))
        duplicate = any(np.array_equal(points[other], point) for other in keep)
        if not dominated and not duplicate:
            keep.append(index)
    return np.asarray(keep, dtype=int)


def pareto_front(evaluations: Iterable[Evaluation]) -> list[Evaluation]:
    """The feasible, non-dominated evaluations, sorted by the first objective."""
    feasible = [item for item in evaluations if item.feasible]
    if not feasible:
        return []
    points = np.array([item.objectives for item in feasible])
    front = [feasible[index] for index in non_dominated(points)]
    return sorted(front, key=lambda item: tuple(item.objectives))


def nsga2_search(levels: Sequence[int], evaluate: Callable[[Key], tuple[list[float], list[float], dict]],
                 objectives: int, constraints: int, generations: int, population: int, seed: int,
                 cache: Mapping[Key, Evaluation] | None = None, on_evaluated: Callable[[Evaluation], None] | None = None,
                 executor: Any = None, progress: Callable[[int, int], None] | None = None) -> dict[Key, Evaluation]:
    """Run NSGA-II for ``generations`` of ``population`` candidates over the grid ``levels`` (count per variable)
    and return every evaluation by key (those of ``cache`` included). Variables with one level stay at 0.
    ``executor`` (a :class:`concurrent.futures.Executor`, optional) evaluates one generation's new candidates in
    parallel; ``evaluate`` must then be picklable for a process pool."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    levels = [int(count) for count in levels]
    free = [index for index, count in enumerate(levels) if count > 1]
    evaluations: dict[Key, Evaluation] = dict(cache or {})
    if not free:  # a single candidate: nothing to search
        key = tuple(0 for _ in levels)
        if key not in evaluations:
            evaluations[key] = _evaluated(key, evaluate(key), 0, on_evaluated)
        return evaluations
    problem = Problem(n_var=len(free), n_obj=objectives, n_ieq_constr=constraints,
                      xl=np.zeros(len(free)), xu=np.array([levels[index] - 1 for index in free], dtype=float),
                      vtype=int)
    algorithm = NSGA2(pop_size=population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair()),
                      mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    algorithm.setup(problem, termination=("n_gen", generations), seed=seed, verbose=False)
    generation = 0
    while algorithm.has_next():
        offspring = algorithm.ask()
        matrix = np.rint(offspring.get("X")).astype(int)
        keys = []
        for row in matrix:
            key = [0] * len(levels)
            for column, index in enumerate(free):
                key[index] = int(np.clip(row[column], 0, levels[index] - 1))
            keys.append(tuple(key))
        missing = list(dict.fromkeys(key for key in keys if key not in evaluations))
        if executor is not None and len(missing) > 1:
            from ..parallel import map_ordered

            results = map_ordered(evaluate, missing, executor)
        else:
            results = [evaluate(key) for key in missing]
        for key, result in zip(missing, results):
            evaluations[key] = _evaluated(key, result, generation, on_evaluated)
        objective_values = np.array([evaluations[key].objectives for key in keys], dtype=float)
        offspring.set("F", objective_values)
        if constraints:
            offspring.set("G", np.array([evaluations[key].constraints for key in keys], dtype=float))
        algorithm.tell(infills=offspring)
        generation += 1
        if progress is not None:
            progress(generation, generations)
    return evaluations


def _evaluated(key: Key, result: tuple[list[float], list[float], dict], generation: int,
               on_evaluated: Callable[[Evaluation], None] | None) -> Evaluation:
    objectives, constraint_values, record = result
    item = Evaluation(key, [float(value) for value in objectives], [float(value) for value in constraint_values],
                      dict(record), generation)
    if on_evaluated is not None:
        on_evaluated(item)
    return item
