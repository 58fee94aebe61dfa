"""The one training loop, for every model, task, page and CLI command.

    for step in 1..S:  sample batch → forward → loss → backward → ‖∂L/∂x_t‖ → clip → optimizer step
                       every k steps: evaluate on the fixed held-out batch

It stops on the first of: ``steps`` done, the ``until`` target reached on held-out data, the
``time_budget`` spent (seconds on the trainer's ``clock``, the wall clock unless a test passes a fake),
a non-finite loss (status ``diverged``, history kept), or ``request_stop()`` from any thread (before
the next step). Same config and seed ⇒ the same loss curve, also while other runs train in other
threads of the process: a run draws only from its own generators (batches; init under
``global_rng``; dropout and teacher forcing through ``model.use_generator``) and never touches
process-global torch state (the seed; a live run's thread count is set on its own worker thread by
``train/live.py``; it changes a run's numbers at most in float rounding, see there).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

import torch

from ..config import RunConfig
from ..models.base import ModelOutput
from ..models.registry import build_model, model_class
from ..tasks.base import Batch
from .observers import Observer
from .records import EvalRecord, RunResult, StepRecord, detect_blowup, tail_mean_vectors

# The held-out batch comes from its own fixed stream, the same for every training seed, so runs
# with different seeds are scored on the same examples and never on their training batches.
EVAL_SEED = 2_147_483_629
# Dropout masks and teacher-forcing coins come from a stream of their own, so the batches a seed
# yields do not depend on whether the model draws (dropout 0 and 0.1 see the same data). XOR with a
# constant ≥ 2^31 never maps a seed (< 2^31) onto another seed's batch stream.
MODEL_STREAM = 0x9E37_79B9_7F4A_7C15


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from ..errors import ConfigError

        raise ConfigError("CUDA was requested but no CUDA device is available; use --device cpu", "train.device")
    return torch.device(name)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)


def training_loss(task, out: ModelOutput, batch: Batch) -> torch.Tensor:
    """What training minimises: the task's loss plus the model's own auxiliary loss, if it returned one
    (e.g. MoE load balancing)."""
    loss = task.loss(out.pred, batch)
    return loss if out.aux_loss is None else loss + out.aux_loss


def per_step_norms(grad: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂x_t‖ for each t: the per-example norm over the embedding, averaged over the batch.

    Written as sqrt(Σ g²) because that is the fastest form on CPU (~40 % quicker than
    ``linalg.vector_norm`` at B=32, T=50, E=64); in float32 norms below ~1e-19 read as 0.
    """
    return (grad * grad).sum(-1).sqrt_().mean(0)  # (B, T, E) -> (T,)


def watch_grad_by_time(x_t: torch.Tensor) -> dict:
    """Arrange for the backward pass to leave ‖∂L/∂x_t‖ in the returned dict under "norms".

    A tensor hook sees the gradient as it flows past, so nothing is copied; ``retain_grad()``
    would clone the whole (B, T, E) gradient first, which alone costs ~5 % of a small model's step.
    """
    box: dict = {}
    if x_t.requires_grad:
        x_t.register_hook(lambda g: box.__setitem__("norms", per_step_norms(g)))
    return box


class Trainer:
    def __init__(
        self, config: RunConfig, observers: Iterable[Observer] = (), clock: Callable[[], float] = time.perf_counter
    ):
        self.config = config
        self.clock = clock
        self.observers = list(observers)
        self._stop = threading.Event()
        tc = config.train
        self.device = resolve_device(tc.device)
        self.task = config.make_task()
        self.model = build_model(config.model, self.task, seed=tc.seed).to(self.device).train()
        self.model_generator = torch.Generator(device=self.device).manual_seed(tc.seed ^ MODEL_STREAM)
        self.model.use_generator(self.model_generator)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(tc.optimizer, self.params, tc.lr)
        self.generator = torch.Generator().manual_seed(tc.seed)
        self.eval_batch = self.task.sample_heldout(tc.eval_size, torch.Generator().manual_seed(EVAL_SEED)).to(
            self.device
        )
        self.baseline = self.task.baseline()
        self.target = tc.target
        self.max_norm = tc.clip if tc.clip > 0 else math.inf
        self.steps_done = 0
        self.train_history: list[StepRecord] = []
        self.eval_history: list[EvalRecord] = []

    # -- control ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Thread-safe: the loop stops before its next step."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- one step ------------------------------------------------------------------------------
    def sample(self) -> Batch:
        return self.task.sample(self.config.train.batch_size, self.generator).to(self.device)

    def step(self, log: bool = True, t0: float | None = None) -> StepRecord:
        """One optimizer step. With ``log`` the input-gradient norms are read off the same backward."""
        batch = self.sample()
        out = self.model(batch)
        box = watch_grad_by_time(out.embedded) if log else {}
        loss = training_loss(self.task, out, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        by_time = box["norms"].tolist() if "norms" in box else None
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        self.optimizer.step()
        self.steps_done += 1
        elapsed = self.clock() - t0 if t0 is not None else 0.0
        return StepRecord(self.steps_done, loss.item(), norm.item(), by_time, elapsed)

    @torch.no_grad()
    def evaluate(self, batch: Batch | None = None) -> tuple[float, dict[str, float]]:
        """Held-out loss and metrics (on the fixed held-out batch unless one is given)."""
        batch = self.eval_batch if batch is None else batch
        self.model.eval()
        try:
            out = self.model(batch)
        finally:
            self.model.train()  # steps assume train mode; setting it per step costs ~2 % on small models
        loss = self.task.loss(out.pred, batch).item()
        return loss, self.task.evaluate(out.pred, batch)

    def evaluate_at_length(self, seq_len: int, size: int | None = None) -> tuple[float, dict[str, float]]:
        """Score the trained model on the same task at another length (fixed-length models refuse)."""
        from ..tasks.registry import make_task

        task = make_task(self.task.name, seq_len, self.task.options.model_dump())
        batch = task.sample(size or self.config.train.eval_size, torch.Generator().manual_seed(EVAL_SEED))
        batch = batch.to(self.device)
        with torch.no_grad():
            self.model.eval()
            try:
                out = self.model(batch)
            finally:
                self.model.train()
            return task.loss(out.pred, batch).item(), task.evaluate(out.pred, batch)

    # -- the loop ------------------------------------------------------------------------------
    def advance(self, t0: float) -> StepRecord:
        """One step with the engine's bookkeeping: record and notify observers on logged steps
        (and always on a non-finite loss, so a divergence is on record)."""
        log = (self.steps_done + 1) % self.config.train.log_every == 0
        rec = self.step(log=log, t0=t0)
        if log or not math.isfinite(rec.loss):
            self.train_history.append(rec)
            self._emit("on_step", rec)
        return rec

    def _emit(self, method: str, record) -> None:
        for obs in self.observers:
            getattr(obs, method)(record)

    def _eval_record(self, t0: float) -> EvalRecord:
        loss, metrics = self.evaluate()
        rec = EvalRecord(self.steps_done, loss, metrics, self.clock() - t0)
        self.eval_history.append(rec)
        self._emit("on_eval", rec)
        return rec

    def run(self) -> RunResult:
        tc = self.config.train
        for obs in self.observers:
            obs.on_start(self)
        t0 = self.clock()
        status, to_target = "completed", None
        last_eval = -1
        while self.steps_done < tc.steps:
            if self._stop.is_set():
                status = "stopped"
                break
            rec = self.advance(t0)
            if not math.isfinite(rec.loss):
                status = "diverged"
                break
            if self.steps_done % tc.eval_every == 0:
                ev = self._eval_record(t0)
                last_eval = self.steps_done
                if self.target and self.target.reached({"loss": ev.loss, **ev.metrics}):
                    status, to_target = "target_reached", ev.elapsed
                    break
            if tc.time_budget is not None and self.clock() - t0 >= tc.time_budget:
                status = "time_budget"
                break
        if status != "diverged" and last_eval != self.steps_done and self.steps_done > 0:
            ev = self._eval_record(t0)
            if status != "target_reached" and self.target and self.target.reached({"loss": ev.loss, **ev.metrics}):
                status, to_target = "target_reached", ev.elapsed
        result = self.result(status, self.clock() - t0, to_target)
        for obs in self.observers:
            obs.on_end(result)
        return result

    def result(
        self, status: str, seconds: float, seconds_to_target: float | None = None, error: str | None = None
    ) -> RunResult:
        last = self.eval_history[-1] if self.eval_history else None
        k = max(1, math.ceil(len(self.train_history) * 0.1))
        tail = [r.loss for r in self.train_history[-k:]]
        vectors = [r.grad_by_time for r in self.train_history if r.grad_by_time is not None]
        return RunResult(
            model=self.config.model.name,
            task=self.config.task.name,
            status=status,
            steps=self.steps_done,
            seconds=seconds,
            params=self.model.param_count(),
            final_loss=last.loss if last else None,
            train_loss=sum(tail) / len(tail) if tail else None,
            baseline_loss=self.baseline.loss,
            baseline_metrics=dict(self.baseline.metrics),
            metrics=dict(last.metrics) if last else {},
            seconds_to_target=seconds_to_target,
            grad_norm_by_time=tail_mean_vectors(vectors),
            config=self.config.model_dump(),
            error=error,
            history={
                "train": [vars(r) for r in self.train_history],
                "eval": [vars(r) for r in self.eval_history],
            },
            blowup=detect_blowup(
                self.train_history,
                self.baseline.loss,
                self.config.train.lr,
                model_class(self.config.model.name).default_lr,
            ),
        )


def train(config: RunConfig, observers: Iterable[Observer] = ()) -> RunResult:
    """Build a trainer for ``config`` and run it to the end."""
    return Trainer(config, observers).run()
