"""A quick measured-vs-theory sweep over sequence length, for every page's complexity panel.

For each model and length n: the median time of one training step (1 thread; the thread's CPU time,
``clock``) and the bytes autograd saves for backward (counted with saved-tensor hooks), next to the
model's declared cost curve (``ModelInfo.time`` and ``ModelInfo.train_memory``) scaled to pass through
the measurement at the largest n (where fixed per-step overheads matter least), so the *shapes* of the
curves can be compared on log–log axes.
"""

from __future__ import annotations

import functools
import statistics

import torch

from ..config import RunConfig
from ..models.registry import model_class
from ..train.bare import bare_step
from ..train.engine import Trainer
from . import cache, clock


def saved_activation_bytes(trainer: Trainer) -> int:
    """Bytes of the tensors autograd keeps for backward in one training step (parameters excluded,
    each storage counted once)."""
    params = {p.data_ptr() for p in trainer.model.parameters()}
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        ptr = t.data_ptr()
        if ptr not in params:
            seen[(ptr, tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        bare_step(trainer)
    return sum(seen.values())


def measurement_settings(model: str, n: int, task: str | None = None) -> dict:
    """Flat task settings to time ``model`` at length n: ``task`` if given, else parity when the model
    can train on it, else the first task it can (encoder–decoders: seq-reverse) with every example
    exactly n long, so a step's cost depends on n alone."""
    from ..models.registry import incompatibility
    from ..tasks.registry import TASKS, make_task

    if task is None:
        cls = model_class(model)
        task = next(t for t in ("parity", *TASKS) if incompatibility(cls, make_task(t)) is None)
    flat = {"task": task, "seq_len": n}
    if "min_len" in TASKS[task].Options.model_fields:
        flat["min_len"] = n
    return flat


def model_point_key(model: str, n: int, d: int, batch_size: int, task: str | None = None) -> str:
    """The disk-cache key of one measurement (``cache.point_key``): the model's options as configured by
    default and the task ``measurement_settings`` chooses."""
    flat = measurement_settings(model, n, task)
    options = model_class(model).Options().model_dump(mode="json")
    return cache.point_key(model, options, flat["task"], n, d, batch_size)


KEPT = ("ms", "activation_bytes", "params")
STAMP = ("ms_clock", "ms_load")  # what the time was measured with (``clock.stamp``)


def _kept(point: dict) -> bool:
    return clock.time_kept(point) and all(k in point for k in KEPT)


def all_kept(models, lengths, d: int, batch_size: int = 8) -> bool:
    """True if ``quick_sweep`` would read every point from the disk cache instead of training."""
    points = cache.load()
    keys = [model_point_key(m, n, d, batch_size) for m in models for n in lengths]
    return all(_kept(points.get(key, {})) for key in keys)


def measure(model: str, n: int, d: int, batch_size: int = 8, repeats: int = 3, task: str | None = None) -> dict:
    """Time per step and saved activation bytes at one n, read from the disk cache when they are there."""
    key = model_point_key(model, n, d, batch_size, task)
    known = cache.get(key)
    if not _kept(known):
        cfg = RunConfig.from_flat(
            {
                "model": model,
                **measurement_settings(model, n, task),
                "hidden": d,
                "batch_size": batch_size,
                "device": "cpu",
            }
        )
        trainer = Trainer(cfg)
        act = saved_activation_bytes(trainer)  # also warms up
        timer = clock.timer()
        ms = statistics.median(timer.ms(lambda: bare_step(trainer)) for _ in range(repeats))
        known = {"ms": ms, **clock.stamp(timer), "activation_bytes": act, "params": trainer.model.param_count()}
        cache.store({key: known})
    return {"model": model, "n": n, "d": d, **{k: known[k] for k in (*KEPT, *STAMP)}}


@functools.lru_cache(maxsize=64)
def quick_sweep(
    models: tuple[str, ...],
    lengths: tuple[int, ...] = (16, 32, 64, 128),
    d: int = 64,
    batch_size: int = 8,
    repeats: int = 3,
) -> list[dict]:
    """Rows: model, n, d, ms, ms_clock, ms_load, activation_bytes, params, theory_ms, theory_bytes (cached in
    the process and on disk; ``forget`` measures again)."""
    return measured_rows(models, lengths, d, batch_size, repeats)


def measured_rows(models, lengths, d: int = 64, batch_size: int = 8, repeats: int = 3, before=None) -> list[dict]:
    """``quick_sweep``'s rows, without its process cache; ``before(i, total, model, n)`` is called before each
    point (a page's job checks Stop and reports progress there, so Stop takes effect at the next length)."""
    rows, lengths = [], sorted(lengths)
    for m, name in enumerate(models):
        own = []
        for j, n in enumerate(lengths):
            if before is not None:
                before(m * len(lengths) + j, len(models) * len(lengths), name, n)
            own.append(measure(name, n, d, batch_size, repeats))
        rows += with_theory(own)
    return rows


def forget(models, lengths, d: int = 64, batch_size: int = 8) -> None:
    """Drop these points from both caches, so the next ``quick_sweep`` measures them again."""
    cache.forget([model_point_key(m, n, d, batch_size) for m in models for n in lengths])
    quick_sweep.cache_clear()


def with_theory(measured: list[dict], info=None) -> list[dict]:
    """Add each model's declared cost curves, scaled through the measurement at the largest n
    (time and FLOPs follow ``info.time``, saved activations ``info.train_memory``)."""
    info = info or model_class(measured[0]["model"]).info
    ref = measured[-1]
    d = ref["d"]
    for row in measured:
        t_scale = info.time(row["n"], d) / info.time(ref["n"], d)
        m_scale = info.train_memory(row["n"], d) / info.train_memory(ref["n"], d)
        row["theory_ms"] = None if ref.get("ms") is None else ref["ms"] * t_scale
        if ref.get("flops") is not None:
            row["theory_flops"] = ref["flops"] * t_scale
        if ref.get("activation_bytes") is not None:
            row["theory_bytes"] = ref["activation_bytes"] * m_scale
        if ref.get("peak_bytes") is not None:
            row["theory_peak"] = ref["peak_bytes"] * m_scale
        s_scale = info.sequential(row["n"], d) / info.sequential(ref["n"], d)
        for key, theory in (("max_path_length", "theory_path"), ("sequential_depth", "theory_depth")):
            if ref.get(key) is not None:
                row[theory] = ref[key] * s_scale
        row["theory_path_text"] = info.sequential.text
        row["theory_time"] = info.time.text
        row["theory_memory"] = info.train_memory.text
    return measured
