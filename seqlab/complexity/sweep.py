"""Measured scaling in sequence length n, with log–log fits next to the declared exponents.

    seqlab complexity --models rnn,lstm,gpt --lengths 64,128,256,512 [--d 64] [--json]

Per (model, n): wall time of one training step (median of repeats, 1 thread), the bytes autograd
saves for backward, and the FLOPs of forward + backward counted by ``torch.utils.flop_counter``
plus, for kernels that counter cannot see (PyTorch's fused RNN/LSTM/GRU on CPU), the model's own
analytic count (``SeqModel.uncounted_flops``). Each metric gets a slope of log(metric) against
log(n) with its standard error, next to the theory exponent the model declares.
"""

from __future__ import annotations

import math

from torch.utils.flop_counter import FlopCounterMode

from ..bench import bare_step
from ..config import RunConfig
from ..errors import ConfigError
from ..models.registry import model_class
from ..train.engine import Trainer
from .quick import measure, measurement_settings, with_theory


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


def flops(model: str, n: int, d: int, batch_size: int, task: str | None = None) -> float:
    cfg = RunConfig.from_flat(
        {"model": model, **measurement_settings(model, n, task), "hidden": d, "batch_size": batch_size, "device": "cpu"}
    )
    trainer = Trainer(cfg)
    with FlopCounterMode(display=False) as counter:
        bare_step(trainer)
    extra = trainer.model.uncounted_flops(batch_size)
    return float(counter.get_total_flops() + extra)


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


def sweep(models: list[str], lengths: list[int], d: int = 64, batch_size: int = 8, repeats: int = 3) -> dict:
    rows, fits = [], []
    for name in models:
        info = model_class(name).info
        measured = []
        for n in lengths:
            row = measure(name, n, d, batch_size, repeats)
            row["flops"] = flops(name, n, d, batch_size)
            measured.append(row)
        rows += with_theory(measured)
        ns = [r["n"] for r in measured]
        for metric, theory in (("ms", info.time.n), ("flops", info.time.n), ("activation_bytes", info.train_memory.n)):
            slope, err = fit_slope(ns, [r[metric] for r in measured])
            fits.append({"model": name, "metric": metric, "exponent": slope, "stderr": err, "theory": theory})
    return {"rows": rows, "fits": fits}


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
