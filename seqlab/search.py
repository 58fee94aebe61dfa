"""Architecture search on an Optuna study: multi-objective, successive halving by rungs, on disk.

Every training is one Optuna trial with three objectives — the held-out metric (maximised, or
minimised for a loss), the parameter count and the milliseconds per training step (both minimised):

    rung 0: ask the sampler for `trials` distinct architectures, train each `min_steps` steps
    rung r: keep 1/η of rung r-1 by non-dominated sorting on the three objectives, ties broken by the
            score (NSGA-II's survivors, MO-ASHA's promotion; see ``promote``), train them η^r·min_steps steps
            (from scratch, same seed) … until one architecture is left or the budget is spent.

With ``brackets`` > 1 (or 0: until the budget is spent) the halving starts again with `trials`
architectures new to the study — Hyperband's outer loop, with one bracket shape — and from the second
bracket on the sampler proposes from everything told so far.

Pruning is successive halving done here, by rungs, with Optuna's ask/tell — not an Optuna pruner:
those read one intermediate value per step and refuse multi-objective studies (``Trial.report``
raises), and a pruner fed the metric alone would drop exactly the small, fast architectures the
parameter and speed fronts are about. A promoted architecture is asked again as an enqueued trial
with its ``rung`` in the trial's user attributes, so the study holds every evaluation, and the
sampler (multi-objective TPE, Ozaki et al. 2020; random for its first half of rung 0) learns from
each as soon as it is told.

The study lives in one journal file beside the run database, ``$SEQLAB_HOME/studies.journal``
(all studies in one file, as in a database), so a search can be resumed by name: the schedule is
recomputed from the stored evaluations and only the missing ones train. A journal and not SQLite:
on this machine creating a SQLite study took 1.5 s and each trial 90 ms (alembic, one transaction
per write), the journal 0.12 s for the study and its first ten trials.

Where the trainings run (``backend``, ``workers``): one at a time in a thread of this process
(``workers`` 1, the default and the Emerging page's way: the page's job reads each told trial live, and
each ask sees every earlier tell); ``workers`` > 1 on a local process pool (forkserver, one torch thread
per worker, as ``seqlab.sweep``); ``backend="ray"`` as Ray tasks (a local Ray, or a cluster at
``address``). Workers only train: each returns its run with its history, and this process replays it into
the observers (the run store) and tells Optuna, so ask/tell stays here and the journal has one writer.
Milliseconds per step are the training thread's CPU time at one torch thread (see ``train_trial``), so
neither the other workers nor the machine's other processes inflate them, wherever the training ran.
The result's Pareto fronts count each architecture once, at its longest training.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .complexity.cache import home
from .config import RunConfig, describe_validation_error
from .errors import ConfigError, SeqlabError
from .models.registry import MODELS, incompatibility, model_class
from .tasks.base import LOWER_IS_BETTER
from .tasks.registry import make_task
from .train.engine import Trainer

STUDIES_FILE = "studies.journal"
SESSION = ("budget", "workers", "backend", "address")  # a resumed study takes these from the new session
# a study name is a key in the journal, never a path; path characters would suggest otherwise
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


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
    study: str | None = Field(None, description="the study's name in the journal (default: a fresh one)")
    resume: bool = Field(False, description="continue the stored study `study` with its own settings")
    study_dir: str | None = Field(None, description="folder of the studies journal (default: $SEQLAB_HOME)")
    workers: int | None = Field(
        None, ge=1, le=64, description="trials trained at once (default: 1 here, on Ray the cluster's CPUs)"
    )
    backend: Literal["local", "ray"] = Field("local", description="local: this process or a process pool; ray")
    address: str | None = Field(None, description="the Ray cluster, auto or HOST:PORT (default: a local Ray)")
    brackets: int = Field(
        1, ge=0, le=1000, description="halving brackets of `trials` new architectures each; 0: until the budget ends"
    )

    @field_validator("study")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and not STUDY_NAME.fullmatch(v):
            raise ValueError(f"a study name is letters, digits, '.', '_' and '-' (at most 64), got {v!r}")
        return v

    @classmethod
    def build(cls, data: dict) -> SearchConfig:
        try:
            config = cls.model_validate(data)
        except ValidationError as e:
            text = describe_validation_error(e, prefix="search")
            field, _, msg = text.partition(": ")
            raise ConfigError(msg or text, field if msg else None) from None
        except SeqlabError as e:
            raise ConfigError(str(e)) from None
        if config.resume and config.study is None:
            raise ConfigError("resuming needs the name of the study to resume", "search.study")
        if config.address is not None and config.backend != "ray":
            raise ConfigError("is for the ray backend (--backend ray)", "search.address")
        return config


@dataclass(frozen=True)
class Trial:
    """One architecture trained at one rung; ``score`` is the metric signed so that higher is better;
    ``number`` is the Optuna trial's number in its study (-1 for the baseline search), ``bracket`` the
    successive-halving bracket it belongs to."""

    arch: dict
    label: str
    rung: int
    steps: int
    metric: float | None
    score: float
    params: int
    ms_per_step: float
    status: str
    number: int = -1
    bracket: int = 0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    task: str
    metric: str
    status: str
    seconds: float | None
    trials: list[Trial]
    pareto_params: list[Trial]
    pareto_time: list[Trial]
    best: Trial | None
    study: str | None = None
    storage: str | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["best"] = self.best.to_json() if self.best else None
        return out


def _get(t, key: str):
    return t[key] if isinstance(t, dict) else getattr(t, key)


def dominated(a, b, cost: str) -> bool:
    """True if trial ``b`` is at least as good as ``a`` on score and cost, and better on one (trials are
    ``Trial``s, or dicts with ``score`` and the cost)."""
    sa, sb, ca, cb = _get(a, "score"), _get(b, "score"), _get(a, cost), _get(b, cost)
    return (sb >= sa and cb <= ca) and (sb > sa or cb < ca)


def pareto(trials: list, cost: str) -> list:
    return [t for t in trials if not any(dominated(t, o, cost) for o in trials if o is not t)]


def latest_per_architecture(trials: Sequence[Trial]) -> list[Trial]:
    """Each architecture once, at its longest training: the most steps actually trained, then the latest
    rung. Not the latest rung alone: a training the budget cut short may have trained fewer steps than
    the rung before (the benchmark saw a final rung cut at a score of 0.135 after 1.0 one rung earlier),
    and an architecture is worth what its best-trained evaluation shows."""
    final: dict[str, Trial] = {}
    for t in trials:
        if t.label not in final or (t.steps, t.rung) >= (final[t.label].steps, final[t.label].rung):
            final[t.label] = t
    return list(final.values())


def best_of(latest: Sequence[Trial]) -> Trial | None:
    """The best-scoring architecture among the longest trained (each at its longest training)."""
    return max(latest, key=lambda t: (t.steps, t.score)) if latest else None


def hypervolume(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (score to maximise, cost to minimise) and bounded by ``ref`` (a score
    below and a cost above every point worth counting): the standard measure of a whole front (Zitzler &
    Thiele 1998) — larger when the front is higher, further left, or wider."""
    s_ref, c_ref = ref
    kept = sorted((c, s) for s, c in points if s > s_ref and c < c_ref)
    area, best = 0.0, s_ref
    # sweep costs from the cheapest; each strip up to the next point's cost is as high as the best score so far
    for i, (c, s) in enumerate(kept):
        best = max(best, s)
        nxt = kept[i + 1][0] if i + 1 < len(kept) else c_ref
        area += (nxt - c) * (best - s_ref)
    return area


def front_ranks(rows: Sequence[Sequence[float]]) -> list[int]:
    """Non-dominated sorting (Deb et al. 2002) of rows of objectives all to be minimised: 0 for the
    front, 1 for the front of the rest, …"""
    rest, ranks, r = set(range(len(rows))), [0] * len(rows), 0

    def beats(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))

    while rest:
        front = {i for i in rest if not any(beats(rows[j], rows[i]) for j in rest if j != i)}
        for i in front:
            ranks[i] = r
        rest -= front
        r += 1
    return ranks


def promote(results: list[Trial], keep: int) -> list[Trial]:
    """The ``keep`` trials that go on to the next rung: lowest non-dominated rank on (score, log params,
    log ms/step), as NSGA-II's survivors and MO-ASHA's promotion (Schmucker et al. 2021), then the highest
    score. A rule on the score alone would stop every small or fast architecture on the front at the first
    rung. Within a rank, not NSGA-II's crowding distance: it gives the extremes of every objective an
    infinite claim, and on three objectives most of a rung is one front, so it promoted the cheapest and
    the slowest architectures whatever they scored — yet their cost, the very thing that makes them
    extreme, is the same after training; only the score moves. Measured by ``seqlab bench --search``'s
    single bracket on 8 seeds (memoised trainings): hypervolume over params 0.826 against 0.801 with
    crowding, over ms/step 0.326 against 0.323."""
    rows = [(-t.score, math.log10(t.params), math.log10(max(t.ms_per_step, 1e-6))) for t in results]
    ranks = front_ranks(rows)
    order = sorted(range(len(results)), key=lambda i: (ranks[i], -results[i].score))
    return [results[i] for i in order[:keep]]


def storage_path(study_dir: str | None) -> Path:
    return (Path(study_dir).expanduser() if study_dir else home()) / STUDIES_FILE


def open_storage(path: Path):
    """The journal storage at ``path``, created if need be; an unwritable place is the setting's fault."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    field = "search.study_dir"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a"):
            pass
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as e:
        raise ConfigError(f"cannot write the studies journal {path}: {e.strerror or e}", field) from None


def study_names(study_dir: str | None = None) -> list[str]:
    import optuna

    path = storage_path(study_dir)
    if not path.exists():
        return []
    return [s.study_name for s in optuna.get_all_study_summaries(open_storage(path), include_best_trial=False)]


class Search:
    """Run with ``run()`` (blocking, e.g. in a worker thread); ``snapshot()`` reads the study and is safe
    from any thread. ``clock`` times the budget, for the search and its trainings (a test passes a fake
    one). With ``config.resume`` the stored study's own settings are used, except ``SESSION``'s, which
    belong to this session."""

    observers = staticmethod(lambda label: [])  # label -> [Observer] for each training (e.g. a recorder)

    def __init__(self, config: SearchConfig, clock: Callable[[], float] = time.monotonic, observers=None):
        import optuna

        if observers is not None:
            self.observers = observers

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the CLI's table
        self.clock = clock
        self.path = storage_path(config.study_dir)
        storage = open_storage(self.path)
        if config.resume:
            try:
                study = optuna.load_study(study_name=config.study, storage=storage)
            except KeyError:
                known = ", ".join(study_names(config.study_dir)) or "none"
                raise ConfigError(
                    f"no study {config.study!r} in {self.path} (stored: {known})", "search.study"
                ) from None
            session = {k: getattr(config, k) for k in SESSION} | {"resume": True}
            config = SearchConfig.build({**study.user_attrs["config"], **session, "study_dir": config.study_dir})
        self.config = config
        if config.backend == "ray" and config.address not in (None, "auto"):
            from .sweep import SweepError, probe_ray

            try:  # before the study is created, so a bad address leaves nothing behind
                probe_ray(config.address)
            except SweepError as e:
                raise ConfigError(str(e).removeprefix(f"{e.field}: "), "search.address") from None
        self.workers = config.workers or 1  # on Ray, the cluster's CPUs once joined (see _executor)
        self.task = make_task(config.task, config.seq_len, config.task_options)
        families = [f for f in config.space.families if incompatibility(MODELS[f], self.task) is None]
        if not families:
            raise ConfigError(f"no family in the space can train on task '{config.task}'", "search.space.families")
        self.families = families
        self.metric = self.task.primary_metric
        self.sign = -1.0 if self.metric in LOWER_IS_BETTER else 1.0
        sampler = optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=max(1, config.trials // 2))
        if config.resume:
            self.study = optuna.load_study(study_name=config.study, storage=storage, sampler=sampler)
            self._fail_stale()
        else:
            name = config.study or f"search-{time.strftime('%Y%m%d-%H%M%S')}-{config.task}-{_suffix()}"
            direction = "minimize" if self.sign < 0 else "maximize"
            try:
                self.study = optuna.create_study(
                    study_name=name,
                    storage=storage,
                    sampler=sampler,
                    directions=[direction, "minimize", "minimize"],
                )
            except optuna.exceptions.DuplicatedStudyError:
                raise ConfigError(
                    f"a study {name!r} exists already; resume it or choose another name", "search.study"
                ) from None
            with warnings.catch_warnings():  # experimental since Optuna 3.2, and only names the axes
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.set_metric_names([self.metric, "params", "ms_per_step"])
            self.study.set_user_attr("config", config.model_dump(exclude={"resume", "study_dir", *SESSION}))
        self.status = "pending"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._training: set[Trainer] = set()
        self._remote: dict[Future, tuple] = {}  # a worker's future -> (arch, rung, trial number, its settings)
        self._mp_stop = None
        self._ray_refs: list = []

    # -- the pieces -----------------------------------------------------------------------------
    def suggest(self, trial) -> dict | None:
        """The architecture a trial asks for, or None when it cannot be built (no head count divides hidden)."""
        s = self.config.space
        family = trial.suggest_categorical("model", self.families)
        arch = {
            "model": family,
            "hidden": trial.suggest_categorical("hidden", s.hidden),
            "layers": trial.suggest_categorical("layers", s.layers),
        }
        if "heads" in model_class(family).Options.model_fields:
            heads = [h for h in s.heads if arch["hidden"] % h == 0]
            if not heads:
                return None
            # one parameter per hidden size: Optuna fixes a parameter's choices for the whole study
            arch["heads"] = trial.suggest_categorical(f"heads_d{arch['hidden']}", heads)
        return arch

    def architectures(self) -> list[dict]:
        """Every architecture the space holds, in a fixed order."""
        s, out = self.config.space, []
        for family, hidden, layers in itertools.product(self.families, s.hidden, s.layers):
            arch = {"model": family, "hidden": hidden, "layers": layers}
            if "heads" not in model_class(family).Options.model_fields:
                out.append(arch)
                continue
            out += [{**arch, "heads": h} for h in s.heads if hidden % h == 0]
        return out

    def _enqueue(self, arch: dict, rung: int, bracket: int) -> None:
        """The next ``ask()`` returns a trial fixed to ``arch``."""
        params = {k: v for k, v in arch.items() if k != "heads"}
        if "heads" in arch:
            params[f"heads_d{arch['hidden']}"] = arch["heads"]
        self.study.enqueue_trial(params, user_attrs={"rung": rung, "bracket": bracket})

    def flat(self, arch: dict, steps: int, time_left: float) -> dict:
        """The run settings of one training of ``arch``: ``steps`` from scratch, evaluated once at the end."""
        return {
            **arch,
            "task": self.config.task,
            "seq_len": self.task.seq_len,
            **self.task.options.model_dump(),
            "steps": steps,
            "eval_every": steps,
            "seed": self.config.seed,
            "time_budget": max(0.5, time_left),
        }

    def evaluate(self, arch: dict, steps: int, rung: int, time_left: float, number: int = -1) -> Trial:
        """Train ``arch`` for ``steps`` from scratch in this thread. Its milliseconds per step are the
        thread's CPU time when torch computes on that one thread (the CLI's and the server's default): other
        processes and the other workers then cost it nothing, so two trainings compare on this shared
        machine; with more torch threads, the wall time."""
        import torch

        warm_up()
        config = RunConfig.from_flat(self.flat(arch, steps, time_left))
        trainer = Trainer(config, self.observers(f"{label(arch)} rung {rung}"), clock=self.clock)
        with self._lock:
            self._training.add(trainer)
        if self._stop.is_set():
            trainer.request_stop()
        cpu = time.thread_time()
        try:
            result = trainer.run()
            cpu = time.thread_time() - cpu
        finally:
            with self._lock:
                self._training.discard(trainer)
        seconds = cpu if torch.get_num_threads() == 1 else result.seconds
        return self._trial(arch, rung, number, result.metrics, result.steps, result.params, seconds, result.status)

    def _trial(self, arch, rung, number, metrics, steps, params, seconds, status) -> Trial:
        metric = metrics.get(self.metric)
        return Trial(
            arch=arch,
            label=label(arch),
            rung=rung,
            steps=steps,
            metric=metric,
            score=self.sign * metric if metric is not None else -math.inf,
            params=params,
            ms_per_step=1000 * seconds / max(1, steps),
            status=status,
            number=number,
        )

    # -- where trainings run ----------------------------------------------------------------------
    def _executor(self):
        """Threads (one: in this process), a forkserver process pool, or Ray; see the module docstring."""
        c = self.config
        if c.backend == "ray":
            return _RayTrainings(self, c.address, c.workers)
        if self.workers == 1:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqlab-trial")
        from .sweep import worker_context, worker_pool

        ctx = worker_context()
        self._mp_stop = ctx.Event()
        if self._stop.is_set():
            self._mp_stop.set()
        return worker_pool(ctx, self.workers, self._mp_stop)

    def _submit(self, pool, arch: dict, steps: int, rung: int, time_left: float, number: int) -> Future:
        if isinstance(pool, ThreadPoolExecutor):
            return pool.submit(self.evaluate, arch, steps, rung, time_left, number)
        flat = self.flat(arch, steps, time_left)
        future = pool.submit(train_trial, flat)
        self._remote[future] = (arch, rung, number, flat)
        return future

    def _collect(self, future: Future) -> Trial | None:
        """The trial a finished training gives; None for one Stop cancelled before it had a result. A run
        trained elsewhere is replayed into this process's observers (the run store) first."""
        if future not in self._remote:
            return future.result()
        arch, rung, number, flat = self._remote.pop(future)
        try:
            out = future.result()
        except _cancelled():
            return None
        except BrokenProcessPool:  # the pool cannot go on; the study keeps every told trial for a resume
            raise SeqlabError(
                "a trial's worker process died (killed, or crashed outside Python); continue with "
                f"seqlab search --study {self.study.study_name} --resume",
                "search.workers",
            ) from None
        observers = self.observers(f"{label(arch)} rung {rung}")
        if observers:
            replay(observers, RunConfig.from_flat(flat), out)
        return self._trial(
            arch, rung, number, out["metrics"], out["steps"], out["params"], out["cpu_seconds"], out["status"]
        )

    def _tell(self, trial, t: Trial | None) -> None:
        from optuna.trial import TrialState

        if t is None:  # cancelled: no status attribute, so a resumed search trains it again
            self.study.tell(trial, state=TrialState.FAIL)
            return
        for key in ("label", "rung", "steps", "status", "arch"):
            trial.set_user_attr(key, getattr(t, key))
        if t.metric is None or not math.isfinite(t.metric):  # a diverged run has no point on any front
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, [t.metric, t.params, t.ms_per_step])

    def _fail_stale(self) -> None:
        """Trials left running by a search that died cannot finish; they are marked failed and trained again."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(t.number, state=TrialState.FAIL)

    def _done(self) -> dict[tuple[str, int], Trial]:
        return {(t.label, t.rung): t for t in self._stored()}

    def _failed(self) -> set[tuple[str, int]]:
        """Evaluations that trained and failed (diverged): done, though on no front."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return {(t.user_attrs["label"], t.user_attrs["rung"]) for t in trials if "status" in t.user_attrs}

    def _stored(self) -> list[Trial]:
        from optuna.trial import TrialState

        out = []
        for ft in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            a = ft.user_attrs
            metric, params, ms = ft.values
            out.append(
                Trial(
                    a["arch"],
                    a["label"],
                    a["rung"],
                    a["steps"],
                    metric,
                    self.sign * metric,
                    int(params),
                    ms,
                    a["status"],
                    ft.number,
                    a.get("bracket", 0),
                )
            )
        return out

    # -- the schedule ---------------------------------------------------------------------------
    def run(self) -> SearchResult:
        c, t0 = self.config, self.clock()
        self.status = "running"

        def left() -> float:
            return c.budget - (self.clock() - t0)

        with self._executor() as pool:
            for bracket in itertools.count():
                if (c.brackets and bracket >= c.brackets) or left() <= 0 or self._stop.is_set():
                    break
                population = self._first_rung(pool, left, bracket)
                if not population:  # every architecture of the space is trained, or time is up
                    break
                self._halve(pool, left, bracket, population)
        self.status = "stopped" if self._stop.is_set() else "completed"
        return self.result(self.clock() - t0)

    def _halve(self, pool, left: Callable[[], float], bracket: int, population: list[str]) -> None:
        """Successive halving of one bracket's rung-0 architectures, skipping evaluations already stored."""
        c = self.config
        steps, rung = c.min_steps, 0
        while len(population) > 1 and left() > 0 and not self._stop.is_set():
            done = self._done()
            results = [done[(lab, rung)] for lab in population if (lab, rung) in done]
            tried = self._failed() | done.keys()
            if any((lab, rung) not in tried for lab in population) or not results:
                return  # the rung was cut short by the budget or Stop
            keep = promote(results, max(1, len(results) // c.eta))
            steps, rung = steps * c.eta, rung + 1
            todo = [t.arch for t in keep if (t.label, rung) not in done]
            self._train_all(pool, [(arch, steps, rung, bracket) for arch in todo], left)
            population = [t.label for t in keep]

    def _first_rung(self, pool, left: Callable[[], float], bracket: int) -> list[str]:
        """Ask the sampler until ``trials`` architectures new to the study are trained at rung 0 of
        ``bracket``; their labels. A repeat is told failed and a random unseen architecture asked instead
        (up to ten asks per trial): an architecture is trained once per rung in a study."""
        from optuna.trial import TrialState

        c = self.config
        stored = [t for t in self._stored() if t.rung == 0]
        seen = {t.label for t in stored}
        mine = [t.label for t in stored if t.bracket == bracket]
        rng = random.Random(c.seed + len(seen))
        running: dict[Future, object] = {}
        asks = 0
        while not self._stop.is_set() and left() > 0:
            while len(mine) < c.trials and len(running) < self.workers and asks < c.trials * 10:
                asks += 1
                trial = self.study.ask()
                arch = self.suggest(trial)
                if arch is None or label(arch) in seen:
                    trial.set_user_attr("skipped", "repeat" if arch else "no head count divides hidden")
                    self.study.tell(trial, state=TrialState.FAIL)
                    # TPE keeps proposing its favourite in a space this small; explore instead
                    unseen = [a for a in self.architectures() if label(a) not in seen]
                    if not unseen:
                        asks = c.trials * 10
                        break
                    self._enqueue(rng.choice(unseen), 0, bracket)
                    continue
                seen.add(label(arch))
                mine.append(label(arch))
                trial.set_user_attr("rung", 0)
                trial.set_user_attr("bracket", bracket)
                running[self._submit(pool, arch, c.min_steps, 0, left(), trial.number)] = trial
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                self._tell(running.pop(f), self._collect(f))
        for f, trial in running.items():  # stopped or out of time with trainings under way
            self._tell(trial, self._collect(f))
        done = self._done()
        return [lab for lab in mine if (lab, 0) in done]

    def _train_all(self, pool, jobs: list[tuple[dict, int, int, int]], left) -> None:
        """Train promoted architectures as enqueued trials (the study records them as asked, with their
        rung); each is enqueued just before it is asked, so a stopped rung leaves no waiting trial behind."""
        running: dict[Future, object] = {}
        for arch, steps, rung, bracket in jobs:
            if self._stop.is_set() or left() <= 0:
                break
            self._enqueue(arch, rung, bracket)
            trial = self.study.ask()
            self.suggest(trial)  # records the enqueued parameters on the trial
            running[self._submit(pool, arch, steps, rung, left(), trial.number)] = trial
            if len(running) >= self.workers:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    self._tell(running.pop(f), self._collect(f))
        for f, trial in running.items():
            self._tell(trial, self._collect(f))

    # -- control and reading --------------------------------------------------------------------
    def stop(self) -> None:
        from .sweep import stop_workers

        self._stop.set()
        stop_workers(self._mp_stop, self._ray_refs)
        with self._lock:
            trainers = list(self._training)
        for tr in trainers:
            tr.request_stop()

    @property
    def trials(self) -> list[Trial]:
        return self._stored()

    def result(self, seconds: float | None = None) -> SearchResult:
        trials = self._stored()
        latest = latest_per_architecture(trials)
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
            study=self.study.study_name,
            storage=str(self.path),
        )

    snapshot = result


# -- a training in a worker process or a Ray task -----------------------------------------------------
def warm_up() -> None:
    """Import what a process's first training would import while it is timed: the first optimizer step
    imports ``torch._dynamo`` (1.3 s of CPU measured), which made a fresh worker's first training 30×
    slower per step than its second."""
    import torch._dynamo  # noqa: F401


def train_trial(flat: dict, plugins: list[tuple[str, bytes]] = ()) -> dict:
    """One trial's training where a worker runs it: the run's summary with its history
    (``RunResult.to_json``) and ``cpu_seconds``, the training thread's CPU time at one torch thread.
    ``plugins``: the parent's (``plugins.shipped()``), for a Ray worker (a pool's initializer loads them)."""
    import torch

    from . import sweep

    sweep.load_plugins(plugins)
    # ms/step is the thread's CPU time, comparable at one thread only (a Ray worker has not been through
    # the pool's initializer, which sets it and the stop event: seqlab.sweep.worker_pool)
    torch.set_num_threads(1)
    observers = [sweep._StopOn(sweep._STOP)] if sweep._STOP is not None else []
    warm_up()
    cpu = time.thread_time()
    result = Trainer(RunConfig.from_flat(flat), observers).run()
    return result.to_json(history=True) | {"cpu_seconds": time.thread_time() - cpu}


def replay(observers, config: RunConfig, out: dict) -> None:
    """Feed a run that trained elsewhere to ``observers`` (e.g. a run-store writer) as if it ran here."""
    from .train.records import EvalRecord, RunResult, StepRecord

    history = out.get("history") or {"train": [], "eval": []}
    trainer = SimpleNamespace(config=config, device="cpu")
    for o in observers:
        o.on_start(trainer)
    for rec in history["train"]:
        for o in observers:
            o.on_step(StepRecord(**rec))
    for rec in history["eval"]:
        for o in observers:
            o.on_eval(EvalRecord(**rec))
    result = RunResult(**{k: v for k, v in out.items() if k in RunResult.__dataclass_fields__})
    for o in observers:
        o.on_end(result)


class _RayTrainings:
    """Ray tasks behind an executor's ``submit``: each returns a ``concurrent.futures.Future``."""

    def __init__(self, search: Search, address: str | None, workers: int | None):
        import ray

        from .plugins import shipped
        from .sweep import connect_ray

        self.search, self.owner = search, connect_ray(address)
        if workers is None:
            search.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        # no retries: a training whose worker dies fails, as on the local pool
        self.task = ray.remote(num_cpus=1, max_retries=0)(train_trial)
        self.plugins = shipped()  # a search's families may name plugin models

    def submit(self, fn, flat: dict) -> Future:
        ref = self.task.remote(flat, self.plugins)
        self.search._ray_refs.append(ref)
        if self.search._stop.is_set():
            self.search.stop()
        return ref.future()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        import ray

        self.search._ray_refs = []
        if self.owner:
            ray.shutdown()


def _cancelled() -> tuple[type[BaseException], ...]:
    """What a future's ``result()`` raises for a training Stop cancelled (only Ray cancels)."""
    ray = sys.modules.get("ray")  # only a search on Ray has imported it
    return (ray.exceptions.TaskCancelledError,) if ray else ()


def _suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:6]


def label(arch: dict) -> str:
    extra = f" h{arch['heads']}" if "heads" in arch else ""
    return f"{arch['model']} d{arch['hidden']} L{arch['layers']}{extra}"


def int_list(text: str, field: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}", field) from None


def trainings_total(config: SearchConfig) -> int:
    """How many trainings a search runs at most: trials + trials/η + … + 1 per bracket (one bracket's worth
    when the budget decides how many)."""
    n, total = config.trials, 0
    while True:
        total += n
        if n == 1:
            return total * max(1, config.brackets)
        n = max(1, n // config.eta)
