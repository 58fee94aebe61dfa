"""Architecture search: random search plus successive halving (Jamieson & Talwalkar 2016; Li et al.
2017, Hyperband) over model families and shapes, on the same training engine.

    sample `trials` architectures at random → train each for `min_steps` → keep the best 1/η
    → train the survivors η× longer (from scratch, same seed) → … until one is left or the
    wall-clock budget is spent.

Every evaluated trial reports its held-out score, parameter count and time per step; the result
carries the Pareto fronts (no other trial is at least as good on both axes and better on one)
of score vs parameters and score vs time per step, and the best architecture found.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import RunConfig, describe_validation_error
from .errors import ConfigError, SeqlabError
from .models.registry import MODELS, incompatibility, model_class
from .tasks.base import LOWER_IS_BETTER
from .tasks.registry import make_task
from .train.engine import Trainer


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    families: list[str] = Field(default_factory=lambda: ["lstm", "gru", "gpt", "ssm"], min_length=1)
    hidden: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    layers: list[int] = Field(default_factory=lambda: [1, 2], min_length=1)
    heads: list[int] = Field(default_factory=lambda: [2, 4], min_length=1)

    @field_validator("families")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for name in v:
            try:
                model_class(name)
            except SeqlabError as e:  # the field is search.space.families, not model.name
                raise ValueError(str(e).removeprefix(f"{e.field}: ")) from None
        return v

    @field_validator("hidden", "layers", "heads")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x < 1 for x in v):
            raise ValueError("every value must be ≥ 1")
        return v


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    task: str = "reverse"
    seq_len: int | None = Field(None, ge=1, le=10_000)
    task_options: dict = Field(default_factory=dict)
    space: SearchSpace = Field(default_factory=SearchSpace)
    trials: int = Field(8, ge=1, le=256, description="architectures sampled at the first rung")
    min_steps: int = Field(100, ge=1, le=1_000_000, description="training steps at the first rung")
    eta: int = Field(2, ge=2, le=8, description="keep 1/eta per rung; survivors train eta× longer")
    budget: float = Field(60.0, gt=0, le=24 * 3600, description="wall-clock seconds for the whole search")
    seed: int = Field(0, ge=0)

    @classmethod
    def build(cls, data: dict) -> SearchConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            text = describe_validation_error(e, prefix="search")
            field, _, msg = text.partition(": ")
            raise ConfigError(msg or text, field if msg else None) from None
        except SeqlabError as e:
            raise ConfigError(str(e)) from None


def dominated(a: dict, b: dict, cost: str) -> bool:
    """True if trial ``b`` is at least as good as ``a`` on score and cost, and better on one."""
    return (b["score"] >= a["score"] and b[cost] <= a[cost]) and (b["score"] > a["score"] or b[cost] < a[cost])


def pareto(trials: list[dict], cost: str) -> list[dict]:
    return [t for t in trials if not any(dominated(t, o, cost) for o in trials if o is not t)]


class Search:
    """Run with ``run()`` (blocking, e.g. in a worker thread); ``snapshot()`` is safe from any thread.
    ``clock`` times the budget, for the search and its trainings (a test passes a fake one)."""

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
        self.trials: list[dict] = []
        self.status = "pending"
        self._lock = threading.Lock()
        self._stop = threading.Event()

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

    def evaluate(self, arch: dict, steps: int, rung: int, time_left: float) -> dict:
        flat = {
            **arch,
            "task": self.config.task,
            "seq_len": self.task.seq_len,
            **self.task.options.model_dump(),
            "steps": steps,
            "eval_every": steps,
            "seed": self.config.seed,
            "time_budget": max(0.5, time_left),
        }
        result = Trainer(RunConfig.from_flat(flat), clock=self.clock).run()
        return {
            "arch": arch,
            "label": _label(arch),
            "rung": rung,
            "steps": result.steps,
            "metric": result.metrics.get(self.metric),
            "score": self.sign * result.metrics.get(self.metric, 0.0),
            "params": result.params,
            "ms_per_step": 1000 * result.seconds / max(1, result.steps),
            "status": result.status,
        }

    def run(self) -> dict:
        c, rng, t0 = self.config, random.Random(self.config.seed), self.clock()
        self.status = "running"
        seen, population = set(), []
        for _ in range(c.trials * 10):
            if len(population) == c.trials:
                break
            arch = self.sample(rng)
            if _label(arch) not in seen:
                seen.add(_label(arch))
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
            population = [t["arch"] for t in sorted(results, key=lambda t: -t["score"])[:keep]]
            steps, rung = steps * c.eta, rung + 1
        self.status = "stopped" if self._stop.is_set() else "completed"
        return self.result(self.clock() - t0)

    def stop(self) -> None:
        self._stop.set()

    def result(self, seconds: float | None = None) -> dict:
        with self._lock:
            trials = list(self.trials)
        # each architecture counts with its longest-trained (latest-rung) evaluation
        final: dict[str, dict] = {}
        for t in trials:
            if t["label"] not in final or t["rung"] >= final[t["label"]]["rung"]:
                final[t["label"]] = t
        latest = list(final.values())
        best = max(latest, key=lambda t: (t["rung"], t["score"])) if latest else None
        return {
            "task": self.config.task,
            "metric": self.metric,
            "status": self.status,
            "seconds": seconds,
            "trials": trials,
            "pareto_params": pareto(latest, "params"),
            "pareto_time": pareto(latest, "ms_per_step"),
            "best": best,
        }

    snapshot = result


def _label(arch: dict) -> str:
    extra = f" h{arch['heads']}" if "heads" in arch else ""
    return f"{arch['model']} d{arch['hidden']} L{arch['layers']}{extra}"


def int_list(text: str, field: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}", field) from None


def trainings_total(config: SearchConfig) -> int:
    """How many trainings a search runs at most: trials + trials/η + … + 1."""
    n, total = config.trials, 0
    while True:
        total += n
        if n == 1:
            return total
        n = max(1, n // config.eta)
