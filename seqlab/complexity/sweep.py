"""Measured scaling in sequence length n, with log–log fits next to the declared exponents.

    seqlab complexity --models rnn,lstm,gpt --lengths 64,128,256,512 [--d 64] [--json]

Per (model, n): time of one training step (median of a few, 1 thread: the thread's CPU time, which
other processes' load does not inflate, ``clock``), the bytes autograd saves for backward, the step's
peak memory (``memory.PeakMemory``), the FLOPs of forward + backward counted by
``torch.utils.flop_counter`` plus, for kernels that counter cannot see (PyTorch's fused RNN/LSTM/GRU and
attention on CPU), the model's own analytic count (``SeqModel.uncounted_flops``), and the sequential
depth and maximum path length of its graph (``graph``). Each metric gets a slope of log(metric) against
log(n) with its standard error, next to the exponent the model declares.
``attention-op`` measures scaled dot-product attention alone, without a model around it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..errors import ConfigError
from ..models.base import Cost, ModelInfo
from ..models.registry import model_class
from ..models.transformer import attention_flops
from ..tasks.base import Batch
from ..train.bare import bare_step
from ..train.engine import Trainer, training_loss
from . import cache, clock
from .counters import StepCounter
from .graph import sequential_depth, structure
from .quick import measurement_settings, model_point_key, with_theory


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers such as 64,128,256, got {text!r}", "lengths") from None
    if len(lengths) < 2:
        raise ConfigError("needs at least two lengths to fit a slope", "lengths")
    if any(b <= a for a, b in zip(lengths, lengths[1:], strict=False)) or lengths[0] < 1:
        raise ConfigError(f"lengths must be positive and strictly increasing, got {lengths}", "lengths")
    return lengths


def _trainer(model: str, n: int, d: int, batch_size: int, task: str | None = None) -> Trainer:
    return Trainer(
        RunConfig.from_flat(
            {
                "model": model,
                **measurement_settings(model, n, task),
                "hidden": d,
                "batch_size": batch_size,
                "device": "cpu",
            }
        )
    )


def flops(model: str, n: int, d: int, batch_size: int, task: str | None = None) -> float:
    """FLOPs of one training step's forward + backward (counted, plus the model's fused-kernel formula)."""
    return instrumented_step(_trainer(model, n, d, batch_size, task))["flops"]


def instrumented_step(trainer: Trainer, memory: bool = True, batch: Batch | None = None) -> dict:
    """One forward + backward under every counter at once: FLOPs and the step's peak memory
    (``StepCounter``; plus the model's formula for fused kernels the counter cannot see) and bytes saved
    for backward (saved-tensor hooks, each storage once). The optimizer update is left out: its cost
    does not depend on n.

    Without ``memory`` only FLOPs are wanted, so what a formula counts is not run at all: within the
    model's ``formula_counted`` a recurrent kernel returns zeros and is counted by its formula, and fused
    attention returns zeros (``StepCounter``'s skip) and is counted by ``uncounted_flops`` — the formulas
    the tests check against the count of the explicit computation. No count depends on values, so the
    total is unchanged, and the pass costs a small fraction of a step. ``batch``: another than the trainer's
    (``counted_flops`` counts one example)."""
    params = {p.data_ptr() for p in trainer.model.parameters()}
    saved: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        if t.data_ptr() not in params:
            saved[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    batch = trainer.sample() if batch is None else batch
    trainer.optimizer.zero_grad(set_to_none=True)
    model = trainer.model
    formulas = (
        contextlib.nullcontext(model.uncounted_flops(len(batch))) if memory else model.formula_counted(len(batch))
    )
    with StepCounter(memory=memory, skip_counted_by_formula=not memory) as counter, formulas as formula:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(batch)
            loss = training_loss(trainer.task, out, batch)
        loss.backward()
        del out, loss
    trainer.optimizer.zero_grad(set_to_none=True)
    return {
        "flops": float(counter.flops + formula),
        "activation_bytes": sum(saved.values()),
        "peak_bytes": counter.peak,
    }


STABLE = 0.1  # two steps within 10 % of each other: a third would not move the estimate by more
ONE_STEP_S = 0.1  # a step this long is timed once: scheduler noise is a small part of it, and it is most of the sweep


def timed_steps(
    trainer: Trainer, repeats: int, budget_s: float = ONE_STEP_S, warm_up: bool = True, timer: clock.Timer | None = None
) -> float:
    """Median ms of up to ``repeats`` full training steps on ``timer`` (default ``clock.timer()``: the thread's
    CPU time): at least one; fewer once their sum exceeds ``budget_s`` or two agree within ``STABLE``. (When
    steps were timed by the wall clock, the fastest step resisted other processes' load better than the
    median, but moved the recurrent models' time exponents up by 0.05–0.2 from the median's, the numbers
    the pages and the issue quote; CPU time does not count that load at all, so the median stays.)

    ``warm_up`` runs an untimed step first: the first step at a length larger than any before it pays
    one-off costs (fresh memory, kernel set-up: measured here, an LSTM's first step at n = 1024 took 1.7×
    its next). At a length no larger than one already stepped in this process it is not needed (``sweep``
    measures each model's lengths largest first for this)."""
    if warm_up:
        bare_step(trainer)
    timer = timer or clock.timer()
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget_s * 1000):
        times.append(timer.ms(lambda: bare_step(trainer)))
        if len(times) == 2 and abs(times[0] - times[1]) <= STABLE * min(times):
            break
    return statistics.median(times)


STRUCTURE_D = 8  # depth and path length do not depend on d or the batch: traced small


@functools.lru_cache(maxsize=256)
def structure_at(model: str, n: int, task: str | None = None) -> dict:
    """Sequential depth and maximum path length of ``model`` at length n (one example, d = 8; cached)."""
    trainer = _trainer(model, n, STRUCTURE_D, 1, task)
    return structure(trainer.model, trainer.sample())


# what ``--metrics`` can choose, and the row keys each one fills (the others stay None)
METRIC_GROUPS = {
    "time": ("ms", "ms_clock", "ms_load"),  # the time, and what it was measured with (``clock.stamp``)
    "flops": ("flops",),
    "memory": ("activation_bytes", "peak_bytes"),
    "graph": ("sequential_depth", "max_path_length"),
}


def parse_metrics(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in chosen if m not in METRIC_GROUPS]
    if unknown or not chosen:
        raise ConfigError(f"choose from {', '.join(METRIC_GROUPS)} (comma-separated), got {text!r}", "metrics")
    return chosen


def point_key(model: str, n: int, d: int, batch_size: int, task: str | None = None) -> str:
    """The cache key of one point: the model with its (default) options, the task, n, d, batch, torch, machine."""
    if model in OPS:
        return cache.point_key(model, {}, None, n, d, batch_size)
    return model_point_key(model, n, d, batch_size, task)


def measure_point(
    model: str,
    n: int,
    d: int,
    batch_size: int = 8,
    repeats: int = 3,
    task: str | None = None,
    metrics: tuple[str, ...] = tuple(METRIC_GROUPS),
    fresh: bool = False,
    warm_up: bool = True,
) -> dict:
    """The chosen metrics of one (model, n, d): a row of ``sweep`` (unmeasured metrics are None). Metrics
    already in the disk cache (``cache``) are read from it unless ``fresh``; what is measured is stored.
    ``row["cached"]`` says whether nothing had to be measured. ``warm_up``: see ``timed_steps``."""
    key = point_key(model, n, d, batch_size, task)
    known = {} if fresh else cache.get(key)
    missing = tuple(
        m
        for m in metrics
        if any(k not in known for k in METRIC_GROUPS[m]) or m == "time" and not clock.time_kept(known)
    )
    row = {"model": model, "n": n, "d": d, **known}
    if missing:
        measured = _measure(model, n, d, batch_size, repeats, task, missing, warm_up)
        new = {k: measured[k] for m in missing for k in METRIC_GROUPS[m]} | {"params": measured["params"]}
        cache.store({key: new})
        row.update(new)
    for group, keys in METRIC_GROUPS.items():
        for k in keys:
            row[k] = row.get(k) if group in metrics else None
    row["cached"] = not missing
    return row


def counted_flops(trainer: Trainer) -> float:
    """FLOPs of one training step (the fast pass: no memory counters). Where the model declares its FLOPs
    linear in the batch (``SeqModel.batch_linear_flops``), one example is counted and multiplied: the same
    number (tested), for a fraction of the cost, since the pass still runs every matrix product (a GPT layer
    at n = 2048, batch 8: 14× less)."""
    batch_size = trainer.config.train.batch_size
    if batch_size > 1 and trainer.model.batch_linear_flops:
        one = trainer.task.sample(1, trainer.generator).to(trainer.device)
        return batch_size * instrumented_step(trainer, memory=False, batch=one)["flops"]
    return instrumented_step(trainer, memory=False)["flops"]


def _measure(model, n, d, batch_size, repeats, task, metrics, warm_up=True) -> dict:
    if model in OPS:
        return OPS[model].measure(n, d, batch_size, repeats)
    trainer = _trainer(model, n, d, batch_size, task)
    row = {"params": trainer.model.param_count()}
    if "memory" in metrics:  # counts the FLOPs too, and runs every kernel: a warm-up
        row.update(instrumented_step(trainer, memory=True))
    elif "flops" in metrics:
        row["flops"] = counted_flops(trainer)
    if "time" in metrics:
        timer = clock.timer()
        row["ms"] = timed_steps(trainer, repeats, warm_up=warm_up and "memory" not in metrics, timer=timer)
        row.update(clock.stamp(timer))
    if "graph" in metrics:
        row.update(structure_at(model, n, task))
    return row


class AttentionOp:
    """Scaled dot-product attention alone — softmax(QKᵀ/√d)V over n positions, forward + backward through
    ``F.scaled_dot_product_attention`` — so its n² can be fitted without a model's n·d² projections
    around it. Path length and sequential depth: one operation, whatever n."""

    name = "attention-op"
    info = ModelInfo(
        title="Self-attention (the operation alone)",
        year=2017,
        paper="Vaswani et al. (2017), Attention Is All You Need, NeurIPS",
        summary="softmax(QKᵀ/√d)·V for n queries and n keys: n² scores of d multiply-adds each.",
        equation=r"\mathrm{softmax}(QK^\top/\sqrt{d})\,V",
        time=Cost(2, 1, "O(n²·d)"),
        space=Cost(2, 0, "O(n²)"),
        train_memory=Cost(2, 0, "O(n²)"),
        parallel="full",
    )
    heads = 4

    @classmethod
    def measure(cls, n: int, d: int, batch_size: int, repeats: int) -> dict:
        g = torch.Generator().manual_seed(0)  # never the global generator: runs may train beside this
        h = cls.heads if d % cls.heads == 0 else 1
        q, k, v = (torch.randn(batch_size, h, n, d // h, requires_grad=True, generator=g) for _ in range(3))

        def step():
            out = F.scaled_dot_product_attention(q, k, v)
            out.sum().backward()
            return out

        saved: dict[tuple, int] = {}
        inputs = {t.data_ptr() for t in (q, k, v)}

        def pack(t):
            if t.data_ptr() not in inputs:
                saved[(t.data_ptr(), tuple(t.shape))] = t.numel() * t.element_size()
            return t

        with StepCounter() as memory, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = step()
        depth = sequential_depth(out)
        del out
        timer, times = clock.timer(), []
        while len(times) < repeats and (not times or sum(times) < 500):
            times.append(timer.ms(step))
        # QKᵀ and αV: 2·n²·d FLOPs each forward; backward twice that (the fused CPU kernel is not counted
        # by torch's FLOP counter; the same formula is tested against the explicit computation)
        return {
            "model": cls.name,
            "n": n,
            "d": d,
            "ms": statistics.median(times),
            **clock.stamp(timer),
            "flops": attention_flops(batch_size, n, n, d),
            "activation_bytes": sum(saved.values()),
            "peak_bytes": memory.peak,
            "sequential_depth": depth,
            "max_path_length": 1,
            "params": 0,
        }


OPS = {AttentionOp.name: AttentionOp}


def info_of(name: str) -> ModelInfo:
    return OPS[name].info if name in OPS else model_class(name).info


def validate(models: list[str], lengths: list[int], d: int, batch_size: int) -> None:
    """Refuse (ConfigError naming the field) what cannot be measured, before measuring anything: unknown
    names, and a largest n whose activations would not fit in memory."""
    if not models:
        raise ConfigError("name at least one model", "models")
    for m in models:
        if m in OPS:
            if batch_size * lengths[-1] ** 2 * 4 * 4 > 2**31:
                raise ConfigError(f"n={lengths[-1]} needs over 2 GB for the n × n attention scores", "lengths")
            continue
        try:
            model_class(m)
            RunConfig.from_flat(
                {"model": m, **measurement_settings(m, lengths[-1]), "hidden": d, "batch_size": batch_size}
            )
        except ConfigError as e:  # name the flag the user gave (--d, --lengths), not the run setting behind it
            field = _FLAGS.get(e.field, e.field)
            raise ConfigError(str(e).removeprefix(f"{e.field}: "), field) from None


_FLAGS = {"model.name": "models", "model.hidden": "d", "task.seq_len": "lengths", "train.batch_size": "batch_size"}


def fit_slope(ns: list[int], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of log y on log n and its standard error."""
    pts = [(math.log(n), math.log(y)) for n, y in zip(ns, ys, strict=True) if y and y > 0]
    k = len(pts)
    if k < 2:
        return float("nan"), float("nan")
    mx, my = sum(p[0] for p in pts) / k, sum(p[1] for p in pts) / k
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    if k == 2:
        return slope, 0.0
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in pts)
    return slope, math.sqrt(resid / (k - 2) / sxx)


FITTED = (
    # metric, the ModelInfo cost it is compared with
    ("ms", "time"),
    ("flops", "time"),
    ("activation_bytes", "train_memory"),
    ("peak_bytes", "train_memory"),
    ("sequential_depth", "sequential"),
    ("max_path_length", "sequential"),
)


@dataclass(frozen=True)
class Fit:
    """The exponent of n fitted to one model's metric on log–log axes, next to the declared one."""

    model: str
    metric: str
    exponent: float
    stderr: float
    theory: float


@dataclass(frozen=True)
class SweepResult:
    """``rows``: one per (model, n), a table of measurements. They stay dicts: which metrics a row has
    depends on the ``metrics`` asked for, and the pages hand them to pandas as they are."""

    rows: list[dict]
    fits: list[Fit]
    seconds: float

    def fit(self, model: str, metric: str) -> Fit | None:
        return next((f for f in self.fits if f.model == model and f.metric == metric), None)

    def to_json(self) -> dict:
        return {
            "rows": self.rows,
            "fits": [asdict(f) for f in self.fits],
            "seconds": self.seconds,
            "table1": table1(self.rows, self.fits),
        }


def sweep(
    models: list[str],
    lengths: list[int],
    d: int = 64,
    batch_size: int = 8,
    repeats: int = 3,
    progress=None,
    metrics: tuple[str, ...] = tuple(METRIC_GROUPS),
    fresh: bool = False,
) -> SweepResult:
    """Rows (one per model and n) and fits (one per model and measured metric: the exponent of n with its
    standard error, next to the declared one). ``progress(done, total, label)`` is called per point. Points
    in the disk cache are read from it unless ``fresh`` (then measured again and stored)."""
    rows, fits = [], []
    total, done, t0 = len(models) * len(lengths), 0, time.perf_counter()
    for name in models:
        info = info_of(name)
        by_n: dict[int, dict] = {}
        # largest n first: its warm-up step grows the process's memory to what every smaller n needs, so a
        # model pays one warm-up, not one per length
        warm_up = True
        for n in sorted(lengths, reverse=True):
            if progress:
                progress(done, total, f"{name} n={n}")
            by_n[n] = measure_point(name, n, d, batch_size, repeats, metrics=metrics, fresh=fresh, warm_up=warm_up)
            # a point read from the cache ran nothing, so the next one measured still needs the warm-up
            warm_up = warm_up and by_n[n]["cached"]
            done += 1
        measured = [by_n[n] for n in lengths]
        rows += with_theory(measured, info)
        ns = [r["n"] for r in measured]
        for metric, cost in FITTED:
            values = [r[metric] for r in measured]
            if any(v is None for v in values) or len(set(values)) == 1 and values[0] == 0:
                continue
            slope, err = fit_slope(ns, values)
            theory = getattr(info, cost).n
            fits.append(Fit(name, metric, slope, err, theory))
    if progress:
        progress(total, total, "done")
    return SweepResult(rows, fits, time.perf_counter() - t0)


def table1(rows: list[dict], fits: list[Fit]) -> list[dict]:
    """Vaswani et al. (2017), Table 1, measured: per model, the fitted exponent of n of the FLOPs per layer,
    the sequential depth and the maximum path length, with the values at the largest n and the declared forms."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        info = info_of(name)
        last = [r for r in rows if r["model"] == name][-1]
        fit = {f.metric: f for f in fits if f.model == name}

        def exp(metric, fit=fit):
            f = fit.get(metric)
            return None if f is None else round(f.exponent, 2)

        out.append(
            {
                "model": name,
                "layer type": info.title,
                "complexity (declared)": info.time.text,
                "FLOPs ∝ n^": exp("flops"),
                "sequential ops (declared)": info.sequential.text,
                "sequential depth ∝ n^": exp("sequential_depth"),
                f"sequential depth at n={last['n']}": last["sequential_depth"],
                "max path (declared)": info.sequential.text,
                "max path ∝ n^": exp("max_path_length"),
                f"max path at n={last['n']}": last["max_path_length"],
            }
        )
    return out


def crossover(rows: list[dict], fast: str, slow: str, metric: str = "flops") -> float | None:
    """The n at which ``slow``'s metric overtakes ``fast``'s (log–log interpolation between the
    measured lengths), or None if it does not within the sweep."""
    a = {r["n"]: r[metric] for r in rows if r["model"] == fast}
    b = {r["n"]: r[metric] for r in rows if r["model"] == slow}
    ns = sorted(set(a) & set(b))
    for lo, hi in zip(ns, ns[1:], strict=False):
        g_lo, g_hi = math.log(b[lo] / a[lo]), math.log(b[hi] / a[hi])
        if g_lo < 0 <= g_hi:
            frac = -g_lo / (g_hi - g_lo)
            return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
    if ns and b[ns[0]] >= a[ns[0]]:
        return float(ns[0])
    return None
