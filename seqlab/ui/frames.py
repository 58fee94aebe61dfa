"""Snapshots → small pandas frames for the charts. Pure and cheap: the UI thread only
downsamples and copies, so watching a run does not slow it down."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# how often a page redraws a training run; `seqlab bench --live` measures the cost of exactly this
LIVE_POLL_SECONDS = 2.0
GRAD_FLOOR = 1e-12  # norms below this (float32 underflow included) are drawn at the floor


def _stride(n: int, max_points: int) -> int:
    return max(1, math.ceil(n / max_points))


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard's smoothing slider);
    non-finite values are skipped."""
    if smoothing <= 0 or len(values) == 0:
        return values
    clean = pd.Series(np.where(np.isfinite(values), values, np.nan))
    return clean.ewm(alpha=1 - smoothing, adjust=True, ignore_na=True).mean().to_numpy()


def loss_frame(snaps, smoothing: float = 0.9, max_points: int = 400) -> pd.DataFrame:
    """Columns: run, step, loss (raw), smoothed."""
    parts = []
    for s in snaps:
        if not s.train:
            continue
        steps = np.fromiter((r.step for r in s.train), dtype=float, count=len(s.train))
        loss = np.fromiter((r.loss for r in s.train), dtype=float, count=len(s.train))
        smooth = ema(loss, smoothing)
        k = _stride(len(steps), max_points)
        idx = np.unique(np.r_[np.arange(0, len(steps), k), len(steps) - 1])  # always keep the latest point
        parts.append(pd.DataFrame({"run": s.label, "step": steps[idx], "loss": loss[idx], "smoothed": smooth[idx]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "step", "loss", "smoothed"])


def eval_frame(snaps) -> pd.DataFrame:
    """Columns: run, step, held-out loss and each metric."""
    rows = [{"run": s.label, "step": r.step, "loss": r.loss, **r.metrics} for s in snaps for r in s.eval]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run", "step", "loss"])


def grad_frame(snap, max_rows: int = 60) -> pd.DataFrame:
    """Long form for the heatmap: run, step, t, norm, log10 — at most ``max_rows`` training steps."""
    recs = [r for r in snap.train if r.grad_by_time is not None]
    if not recs:
        return pd.DataFrame(columns=["run", "step", "t", "norm", "log10"])
    recs = recs[:: _stride(len(recs), max_rows)] + ([recs[-1]] if len(recs) > 1 else [])
    steps = np.repeat([r.step for r in recs], len(recs[0].grad_by_time))
    norms = np.concatenate([np.asarray(r.grad_by_time, dtype=float) for r in recs])
    t = np.tile(np.arange(1, len(recs[0].grad_by_time) + 1), len(recs))
    norms = np.where(np.isfinite(norms), norms, np.nan)
    return pd.DataFrame(
        {"run": snap.label, "step": steps, "t": t, "norm": norms, "log10": np.log10(np.maximum(norms, GRAD_FLOOR))}
    ).drop_duplicates(["step", "t"])


def latest_grad_frame(snaps) -> pd.DataFrame:
    """run, t, norm for each run's latest logged step."""
    parts = []
    for s in snaps:
        rec = next((r for r in reversed(s.train) if r.grad_by_time is not None), None)
        if rec is not None:
            g = np.maximum(np.asarray(rec.grad_by_time, dtype=float), GRAD_FLOOR)
            parts.append(pd.DataFrame({"run": s.label, "t": np.arange(1, len(g) + 1), "norm": g, "step": rec.step}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "t", "norm", "step"])


def band_frame(curves, log: bool = False) -> pd.DataFrame:
    """Seed bands, one per series: ``curves`` are (series, …, x, y) per run; columns run (the series), x,
    mean, std, lo, hi, n (``seqlab.bands``). With ``log`` the statistics are taken on log10 y and
    mapped back (a geometric mean, the band ×/÷ 10^std): on a log axis a linear mean − std goes below
    zero and cannot be drawn."""
    from ..bands import band

    parts = []
    for series in dict.fromkeys(c[0] for c in curves):
        runs = [(np.asarray(c[-2], float), np.asarray(c[-1], float)) for c in curves if c[0] == series]
        if log:
            runs = [(x, np.log10(np.maximum(y, GRAD_FLOOR))) for x, y in runs]
        b = band(runs)
        mean, lo, hi = (10**v for v in (b.mean, b.lo, b.hi)) if log else (b.mean, b.lo, b.hi)
        parts.append(
            pd.DataFrame({"run": series, "x": b.step, "mean": mean, "std": b.std, "lo": lo, "hi": hi, "n": b.n})
        )
    columns = ["run", "x", "mean", "std", "lo", "hi", "n"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
