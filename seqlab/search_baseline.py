"""Today's search before Optuna, kept only as the baseline ``seqlab bench --search`` measures the Optuna
search against (``seqlab.search``): random search plus successive halving (Jamieson & Talwalkar 2016),
keeping the best 1/η by held-out score alone at every rung.

    sample `trials` architectures at random → train each for `min_steps` → keep the best 1/η
    → train the survivors η× longer (from scratch, same seed) → … until one is left or the
    wall-clock budget is spent.

It shares the config, the result types and the Pareto fronts with ``seqlab.search``, so the two are
compared on the same terms.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from .errors import ConfigError
from .models.registry import MODELS, incompatibility, model_class
from .search import (
    Search,
    SearchConfig,
    SearchResult,
    Trial,
    best_of,
    label,
    latest_per_architecture,
    pareto,
)
from .tasks.base import LOWER_IS_BETTER
from .tasks.registry import make_task


class RandomSearch:
    """Run with ``run()`` (blocking, e.g. in a worker thread); ``snapshot()`` is safe from any thread.
    ``clock`` times the budget, for the search and its trainings (a test passes a fake one)."""

    observers = staticmethod(lambda label: [])  # the shared training step asks; nothing is recorded here

    def __init__(self, config: SearchConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.task = make_task(config.task, config.seq_len, config.task_options)
        families = [f for f in config.space.families if incompatibility(MODELS[f], self.task) is None]
        if not families:
            raise ConfigError(f"no family in the space can train on task '{config.task}'", "search.space.families")
        self.families = families
        self.metric = self.task.primary_metric
        self.sign = -1.0 if self.metric in LOWER_IS_BETTER else 1.0
        self.trials: list[Trial] = []
        self.status = "pending"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._training: set = set()

    def sample(self, rng: random.Random) -> dict:
        s = self.config.space
        family = rng.choice(self.families)
        arch = {"model": family, "hidden": rng.choice(s.hidden), "layers": rng.choice(s.layers)}
        if "heads" in model_class(family).Options.model_fields:
            heads = [h for h in s.heads if arch["hidden"] % h == 0]
            if not heads:
                return self.sample(rng)
            arch["heads"] = rng.choice(heads)
        return arch

    # trains and measures exactly as the Optuna search does, so the benchmark compares the searches alone
    evaluate, flat, _trial = Search.evaluate, Search.flat, Search._trial

    def run(self) -> SearchResult:
        c, rng, t0 = self.config, random.Random(self.config.seed), self.clock()
        self.status = "running"
        seen, population = set(), []
        for _ in range(c.trials * 10):
            if len(population) == c.trials:
                break
            arch = self.sample(rng)
            if label(arch) not in seen:
                seen.add(label(arch))
                population.append(arch)
        steps, rung = c.min_steps, 0
        while population and not self._stop.is_set():
            results = []
            for arch in population:
                left = c.budget - (self.clock() - t0)
                if left <= 0 or self._stop.is_set():
                    break
                trial = self.evaluate(arch, steps, rung, left)
                results.append(trial)
                with self._lock:
                    self.trials.append(trial)
            if len(population) == 1 or self.clock() - t0 >= c.budget or len(results) < len(population):
                break
            keep = max(1, len(population) // c.eta)
            population = [t.arch for t in sorted(results, key=lambda t: -t.score)[:keep]]
            steps, rung = steps * c.eta, rung + 1
        self.status = "stopped" if self._stop.is_set() else "completed"
        return self.result(self.clock() - t0)

    def stop(self) -> None:
        self._stop.set()

    def result(self, seconds: float | None = None) -> SearchResult:
        with self._lock:
            trials = list(self.trials)
        latest = latest_per_architecture(trials)  # each architecture at its longest training
        best = best_of(latest)
        return SearchResult(
            task=self.config.task,
            metric=self.metric,
            status=self.status,
            seconds=seconds,
            trials=trials,
            pareto_params=pareto(latest, "params"),
            pareto_time=pareto(latest, "ms_per_step"),
            best=best,
        )

    snapshot = result
